"""The next guest (issue 14): a VMM on the target with the device assigned. The VMM's bundle
(bundle.py), the bare-metal guest (guest/, built by guest_build.py), one VMM process on the target
(target_vmm.py) and the experiment with its variants (check.py); the suite's checks are
testsuites/test_vmm_reset.py."""
