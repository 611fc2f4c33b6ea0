"""A small result directory written the way `vfio-hil run` writes one (pure data, no QEMU)."""

import json
from pathlib import Path

from harness.results import ResultsWriter, TestResult

HEADER = {"target": "qemu-highbank", "description": "Calxeda Highbank on QEMU",
          "dut": {"device": "fff50000.ethernet", "compatible": "calxeda,hb-xgmac",
                  "reset_module": "vfio_platform_calxedaxgmac",
                  "handler_config": {"symbol": "CONFIG_VFIO_PLATFORM_CALXEDAXGMAC_RESET", "value": "m"}},
          "kernel": {"spec": "debian:6.1", "release": "6.1.192", "patches": [], "source_hash": "ab" * 32},
          "build": {"key": "k1", "arch": "arm", "compiler": "gcc 12", "fragment_hash": "cd" * 32, "seconds": 272.0},
          "started": "2026-11-21T17:00:00Z"}

TIMELINE = {"tenant": [[-200, 10, 10], [-100, 20, 20]], "canary_laid_ms": 150, "canary": [[250, 0], [350, 0]],
            "next_open_ms": 400, "next_irqs": [[400, 0], [1400, 0]]}
BLED = {"tenant": [[-200, 10, 10], [-100, 20, 20]], "canary_laid_ms": 150, "canary": [[250, 9560], [350, 9560]],
        "next_open_ms": 400, "next_irqs": [[400, 0], [403, 1000]]}


def result_dir(tmp: Path, results: list[TestResult], planned: list[str] | None = None, header=None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "run.json").write_text(json.dumps(header or HEADER))
    w = ResultsWriter(tmp)
    for r in results:
        w.add(r)
    if planned is not None:
        (tmp / "planned.json").write_text(json.dumps(planned))
    return tmp


def full_run(tmp: Path, bleed="pass", control="pass") -> Path:
    """boot, the sigkill variant with its control, and an infrastructure error."""
    return result_dir(tmp, [
        TestResult("boot", "pass", 4.0, {"boot_s": 4.0}),
        TestResult("reset.module_autoload", "pass", 0.1),
        TestResult("teardown.sigkill.dma_bleed", bleed, 3.0,
                   {"gap_check": {"changed": 0 if bleed == "pass" else 9560}, "timeline": TIMELINE,
                    "dmesg_excerpt": ["vfio-platform fff50000.ethernet: VFIO: reset"]},
                   "" if bleed == "pass" else "9560 canary bytes written after the tenant died"),
        TestResult("teardown.sigkill.irq_bleed", "pass", 0.0, {"next_tenant": {"irqs": 0}, "timeline": TIMELINE}),
        TestResult("deprecation.message", "pass", 0.1, {"printed": False}),
        TestResult("reset.ioctl", "error", 1.0, {}, "call: SSH connection lost"),
        TestResult("control.null_reset.sigkill", control, 3.0,
                   {"gap_check": {"changed": 9560 if control == "pass" else 0},
                    "next_tenant": {"irqs": 1000, "first_irq_ms": 0}, "timeline": BLED}),
    ], planned=["boot", "reset.module_autoload", "teardown.sigkill.dma_bleed", "teardown.sigkill.irq_bleed",
                "deprecation.message", "reset.ioctl", "control.null_reset.sigkill", "reset.required_enforced"])
