"""The next guest (issue 14): a VMM on the target with the device assigned. Groundwork so far:
the VMM's bundle (bundle.py), a bare-metal guest (guest.S) and the probe that starts the VMM with
the twin's device assigned inside a type1 target (probe.py). No verdict comes from here yet."""
