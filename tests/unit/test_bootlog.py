from harness.bootlog import scan, unexpected

LOG = """Booting Linux on physical CPU 0x0
------------[ cut here ]------------
WARNING: CPU: 0 PID: 0 at ../src/arch/arm/kernel/devtree.c:130 arm_dt_init_cpu_maps+0xb4/0x110
DT /cpu 2 nodes greater than max cores 1, capping them
Modules linked in:
Run /init as init process
------------[ cut here ]------------
WARNING: CPU: 0 PID: 1 at drivers/vfio/platform/vfio_platform_common.c:99 foo+0x1/0x2
Modules linked in: vfio_platform
"""
KNOWN = [{"pattern": r"DT /cpu \d+ nodes greater than max cores \d+", "reason": "emulation"}]


def test_known_quirks_are_kept_but_not_failures():
    incidents = scan(LOG, KNOWN)
    assert [i.line_no for i in incidents] == [3, 8]
    assert incidents[0].known_reason == "emulation"
    (bad,) = unexpected(incidents)
    assert "vfio_platform_common.c" in bad.text


def test_without_known_list_every_warning_counts():
    assert len(unexpected(scan(LOG))) == 2


def test_oops_and_panic_are_found():
    text = "Unable to handle kernel NULL pointer dereference at virtual address 00000000\nKernel panic - not syncing: x\n"
    assert len(scan(text)) == 2


def test_clean_log_has_no_incidents():
    assert scan("Booting Linux\nRun /init as init process\nVFIO-HIL-READY\n") == []


def test_faults_during_a_test_include_failed_resets_and_unhandled_interrupts():
    """What the kernel prints when a reset fails or an interrupt goes unhandled (the handlers'
    and vfio-platform's own words) is a fault during a test, though not a boot marker."""
    from harness.bootlog import TEST_MARKERS

    lines = ["vfio-platform fff50000.ethernet: reset driver is required and reset call failed in release (-16)",
             "irq 80: nobody cared (try booting with the \"irqpoll\" option)",
             "vfio-platform 7e000000.xgmac: vfio_platform_amdxgbe_reset: XGBE PHY reset timeout",
             "vfio-platform 7e000000.xgmac: vfio_platform_amdxgbe_reset: MAC SW reset failed",
             "vfio-platform 7e000000.mailbox: FlexRM ring0 shutdown error -110",
             "INFO: task vfio-hil-agent:123 blocked for more than 120 seconds."]
    text = "\n".join(lines)
    assert not scan(text)                               # not boot markers
    assert [i.line_no for i in scan(text, markers=TEST_MARKERS)] == [1, 2, 3, 4, 5, 6]
    assert not scan("vfio-platform fff50000.ethernet: DEPRECATION: vfio reset handlers are deprecated",
                    markers=TEST_MARKERS)


def test_a_7x_warning_is_an_incident_too():
    """7.x prints a WARN as "WARNING: FILE:LINE at FUNC, CPU#0: COMM" (6.x: "WARNING: CPU: 0 PID: 0
    at ..."): both are incidents, and a known quirk still matches its context."""
    from harness.bootlog import TEST_MARKERS, scan
    log = ("------------[ cut here ]------------\n"
           "WARNING: ../src/kernel/irq/msi.c:1084 at msi_create_device_irq_domain+0x234/0x254, CPU#0: agent/131\n"
           "Modules linked in: vfio_fsl_mc\n")
    assert [i.line_no for i in scan(log)] == [2]
    quirk = ("WARNING: ../src/arch/arm/kernel/devtree.c:129 at arm_dt_init_cpu_maps+0xb4/0x10c, CPU#0: swapper/0\n"
             "DT /cpu 2 nodes greater than max cores 1, capping them\n")
    (inc,) = scan(quirk, [{"pattern": r"DT /cpu \d+ nodes greater than max cores \d+", "reason": "emulation"}])
    assert inc.known_reason == "emulation"
    assert scan("vfio-fsl-mc dprc.2: VFIO_FSL_MC: reset device has failed (-16)\n", markers=TEST_MARKERS)
