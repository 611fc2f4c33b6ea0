"""kcidb.json: the run as KernelCI KCIDB I/O data (the latest schema of the kcidb-io package).

One checkout per kernel source (Debian package or tree, plus patches), one build
per artifact set (arch, compiler, config fragments), one test per vfio-hil test
under ``vfio.platform.reset.<device>.<test-id>``. Statuses are mapped honestly:

    pass -> PASS, fail -> FAIL,
    error -> ERROR          the harness broke; the tested code's status is unknown
    inconclusive -> DONE    ran, but proved nothing about the code (its control did not bleed)
    skip "not reached" -> MISS   never ran because the run ended early
    skip (other) -> SKIP    not applicable
The vfio-hil verdict itself is kept in each test's misc.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import kcidb_io

from harness.report.runs import Run
from harness.results import Verdict

ORIGIN = "vfio_hil"
SCHEMA = kcidb_io.schema.LATEST
LOG_EXCERPT_MAX = 16384


def kcidb_status(verdict: Verdict, reason: str) -> str:
    if verdict is Verdict.SKIP:
        return "MISS" if reason == "not reached" else "SKIP"
    return {Verdict.PASS: "PASS", Verdict.FAIL: "FAIL", Verdict.ERROR: "ERROR",
            Verdict.INCONCLUSIVE: "DONE"}[verdict]


def device_segment(compatible: str | None) -> str:
    """A compatible as one KCIDB path segment: "calxeda,hb-xgmac" -> "calxeda_hb-xgmac"."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", compatible or "unknown")


def _time(stamp: str | None) -> dict:
    return {"start_time": stamp.replace("Z", "+00:00")} if stamp else {}


def _checkout(run: Run) -> dict:
    k = run.kernel
    patches = k.get("patches") or []
    out = {"id": f"{ORIGIN}:{k['source_hash']}", "origin": ORIGIN, "valid": True,
           "tree_name": k["spec"].split(":", 1)[0],
           "comment": f"{k['spec']} -> {k['release']}",
           "misc": {"kernel_spec": k["spec"], "release": k["release"], "source": k.get("source", {}),
                    "source_hash": k["source_hash"]}}
    # KCIDB's definition: sha256 over the newline-terminated sha256 of each patch, in order.
    out["patchset_hash"] = (hashlib.sha256("".join(p["sha256"] + "\n" for p in patches).encode()).hexdigest()
                            if patches else "")
    if patches:
        out["patchset_files"] = [{"name": Path(p["path"]).name, "url": Path(p["path"]).as_uri()} for p in patches]
    return out


def _build(run: Run) -> dict:
    b = run.header.get("build", {})
    out = {"id": f"{ORIGIN}:{b.get('key', run.kernel['source_hash'])}", "origin": ORIGIN,
           "checkout_id": f"{ORIGIN}:{run.kernel['source_hash']}", "status": "PASS",
           "architecture": b.get("arch", "unknown"), "compiler": b.get("compiler", ""),
           "config_name": f"vfio-hil/{run.target}",
           "misc": {"fragment_hash": b.get("fragment_hash", ""), "fragments": b.get("fragments", []),
                    "kconfig_findings": b.get("kconfig_findings", []),
                    "handler_config": run.header.get("dut", {}).get("handler_config")}}
    if b.get("seconds") is not None:
        out["duration"] = float(b["seconds"])
    return out


def _tests(run: Run, build_id: str) -> list[dict]:
    dut = run.header.get("dut", {})
    stamp = re.sub(r"[^0-9TZ]", "", run.header.get("started", "unknown"))
    out = []
    for t in run.tests:
        evidence = {k: v for k, v in t.evidence.items() if k not in ("timeline", "dmesg_excerpt")}
        excerpt = "\n".join(t.evidence.get("dmesg_excerpt") or []) or t.reason
        test = {"id": f"{ORIGIN}:{run.target}:{stamp}:{t.id}", "origin": ORIGIN, "build_id": build_id,
                "path": f"vfio.platform.reset.{device_segment(dut.get('compatible'))}.{t.id}",
                "status": kcidb_status(t.verdict, t.reason), "duration": round(t.duration_s, 3),
                "environment": {"comment": run.header.get("description", run.target),
                                "misc": {"target": run.target, "dut_device": dut.get("device")}},
                "misc": {"vfio_hil_verdict": t.verdict.value, "evidence": evidence,
                         **({"reason": t.reason} if t.reason else {})},
                **_time(run.header.get("started"))}
        if t.reason:
            test["comment"] = t.reason[:1000]
        if excerpt:
            test["log_excerpt"] = excerpt[-LOG_EXCERPT_MAX:]
        if run.console_log.exists():
            test["log_url"] = run.console_log.resolve().as_uri()
        out.append(test)
    return out


def kcidb_data(runs: list[Run]) -> dict:
    data = SCHEMA.new()
    checkouts, builds = {}, {}
    tests = []
    for run in runs:
        c, b = _checkout(run), _build(run)
        checkouts.setdefault(c["id"], c)
        builds.setdefault(b["id"], b)
        tests += _tests(run, b["id"])
    data.update(checkouts=list(checkouts.values()), builds=list(builds.values()), tests=tests)
    return SCHEMA.validate(data)


def write_kcidb(runs: list[Run], path: Path) -> Path:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(kcidb_data(runs), indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path
