"""The removal-impact matrix: rows are targets, columns kernels, and each cell answers the
questions a deprecation or removal patch has to: is the reset handler built, is it loaded
automatically, does it stop DMA and IRQs after every kind of abnormal teardown
(effective), does the device bleed without it (necessary), does the kernel print the
deprecation message, and what that adds up to.

Every answer comes from the run's own results, and an answer the run could not give is
"unknown", never "yes" or "no".

The overall verdict, first match wins:
- "removed": the kernel lacks the handler (its Kconfig symbol is not set) or the checks
  show vfio-platform refusing the device for want of one (bind.vfio left it unbound and
  reset.required_enforced passed), and it did not bind. The checks that then fail are the
  consequence of the removal, not a second finding.
- "BROKEN": some check failed, whichever, bar a null-reset control (a control that did not
  bleed is the lab failing to provoke bleed, which leaves the cell incomplete); the cell names
  them. A fail is a measured fact about the kernel, so it outranks errors or unreached checks
  elsewhere in the run.
- "incomplete": an error, an inconclusive check, a check never reached, or a run that did
  not finish: nothing decided.
- "needed and working": every check passed (a skip with a device reason, such as FlexRM's
  missing IRQ, is not applicable), the handler is effective and the null reset bleeds.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import attrs

from harness.report.html import css, template_env
from harness.report.runs import Run
from harness.results import Verdict, unfinished
from harness.suite.fslmc import NO_DMA, NO_DMA_YET, OBJECT as _FSLMC_DEVICE
from harness.vmm.check import reset_issued

QUESTIONS = [("built", "handler built?"), ("maintained", "maintained? (the tree's MAINTAINERS)"),
             ("autoloaded", "autoloaded on bind?"),
             ("effective", "effective? (no bleed after teardown, all variants)"),
             ("necessary", "necessary? (the device bleeds without it)"),
             ("next_guest", "next guest safe? (a VMM's guest after its VMM dies, exits or resets it)"),
             ("deprecation", "deprecation message?"), ("overall", "overall")]
# "effective" is judged on the gap checks (what the death left, before any open); a variant's
# control, not reset.ioctl's own, shows what the device does without the handler.
_BLEED = re.compile(r"^teardown\.[\w-]+\.(dma_bleed|irq_bleed|tx_leak)$")
_KIND = {"dma_bleed": "DMA", "irq_bleed": "IRQ", "tx_leak": "TX"}
_CONTROL = re.compile(r"^control\.null_reset\.(?!reset_ioctl$)([\w-]+)$")


@attrs.frozen
class Cell:
    text: str
    state: str    # good | bad | unknown | info: how the cell is coloured ("removed" is info)


def _not_proven(tests) -> str:
    parts = {}
    for t in tests:
        label = "not reached" if t.verdict is Verdict.SKIP and t.reason == "not reached" else t.verdict.value
        parts[label] = parts.get(label, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in parts.items())


def built(run: Run) -> Cell:
    h = (run.header.get("dut") or {}).get("handler_config")
    if not h:
        return Cell("unknown (the run did not record the handler's Kconfig symbol)", "unknown")
    if h["value"] in ("m", "y"):
        return Cell(f"yes ({h['symbol']}={h['value']})", "good")
    return Cell(f"no ({h['symbol']} {h['value']})", "bad")


def maintained(run: Run) -> Cell:
    e = (run.header.get("dut") or {}).get("maintainers")
    if not e:
        return Cell("unknown (not recorded: the run predates it, or the tree was not at hand)", "info")
    who = f": {', '.join(e['maintainers'])}" if e.get("maintainers") else ""
    return Cell(f"{e['status']}{who} ({e['section']})", "info")


# How a check that failed because the kernel refused the tenant begins its reason (fslmc.py, platform.py).
_REFUSED = ("the kernel refused", "refused:")


def _fslmc(run: Run) -> bool:
    """A run on an fsl-mc container (dprc.N), whose reset is vfio-fsl-mc's own."""
    return bool(_FSLMC_DEVICE.match((run.header.get("dut") or {}).get("device") or ""))


def _unmeasured(run: Run) -> list:
    """Checks skipped because the harness cannot measure them on this target (fsl-mc's DMA with no
    copy jobs, and in runs recorded before the tenant ran qDMA): not "not applicable", and named
    in every cell they touch."""
    return [t for t in run.tests if t.verdict is Verdict.SKIP and t.reason in (NO_DMA, NO_DMA_YET)]


def autoloaded(run: Run) -> Cell:
    t = run.test("reset.module_autoload")
    if t is None and _fslmc(run):
        return Cell("not applicable: the reset is vfio-fsl-mc's own (no handler module)", "info")
    if t is None:
        return Cell("unknown (not tested)", "unknown")
    if t.verdict is Verdict.PASS:
        return Cell("yes", "good")
    if t.verdict is Verdict.FAIL:
        return Cell(f"no: {t.reason}", "bad")
    return Cell(f"unknown ({_not_proven([t])})", "unknown")


def _not_applicable(t) -> bool:
    """Skipped for a stated reason of the device's (FlexRM has no wired IRQ), not left unreached."""
    return t.verdict is Verdict.SKIP and t.reason not in (None, "", "not reached")


def effective(run: Run) -> Cell:
    if _fslmc(run) and _unmeasured(run):
        return _effective_state_only(run)
    bleed = [t for t in run.tests if _BLEED.match(t.id)]
    if not bleed:
        return Cell("unknown (no teardown tests)", "unknown")
    failed = [t.id for t in bleed if t.verdict is Verdict.FAIL]
    if failed:
        return Cell(f"no: bleed in {len(failed)} of {len(bleed)} checks ({', '.join(failed)})", "bad")
    checked = [t for t in bleed if not _not_applicable(t)]
    if checked and all(t.verdict is Verdict.PASS for t in checked):
        kinds = [k for m, k in _KIND.items() if any(_BLEED.match(t.id).group(1) == m for t in checked)]
        kinds = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
        variants = len({t.id.split(".")[1] for t in checked})
        na = sorted({t.reason for t in bleed if _not_applicable(t)})
        why = f"; {len(bleed) - len(checked)} checks not applicable: {'; '.join(na)}" if na else ""
        return Cell(f"yes: no {kinds} after teardown in all {variants} variants{why}", "good")
    return Cell(f"unknown ({_not_proven([t for t in bleed if t.verdict is not Verdict.PASS])})", "unknown")


def _effective_state_only(run: Run) -> Cell:
    """fsl-mc before qDMA: what the teardowns left is the firmware state of the tenant's object and
    the MSIs it sent while nobody had it open."""
    checks = [t for t in run.tests if re.match(r"^teardown\.[\w-]+\.(reset_state|irq_bleed)$", t.id)]
    # A check the kernel failed by refusing the tenant (its eventfd, its open) measured no bleed.
    refused = [t.id for t in checks if t.verdict is Verdict.FAIL and (t.reason or "").startswith(_REFUSED)]
    failed = [t.id for t in checks if t.verdict is Verdict.FAIL and t.id not in refused]
    if failed:
        return Cell(f"no: left after teardown in {len(failed)} of {len(checks)} checks ({', '.join(failed)})", "bad")
    if refused:
        return Cell(f"not measured: the kernel refused the tenant in {len(refused)} of {len(checks)} checks "
                    f"({', '.join(refused)}); no bleed was seen in the others", "bad")
    if checks and all(t.verdict is Verdict.PASS for t in checks):
        variants = len({t.id.split(".")[1] for t in checks})
        what = "object state and MSIs" if any(t.id.endswith("irq_bleed") for t in checks) else "object state"
        return Cell(f"{what} only: the object the tenant enabled read reset and sent no MSI after teardown in all "
                    f"{variants} variants; DMA not measured yet ({len(_unmeasured(run))} checks)", "unknown")
    return Cell(f"unknown ({_not_proven([t for t in checks if t.verdict is not Verdict.PASS]) or 'no checks'})",
                "unknown")


def necessary(run: Run) -> Cell:
    controls = [t for t in run.tests if _CONTROL.match(t.id)]
    if not controls:
        return Cell("unknown (no null-reset control ran)", "unknown")
    if _fslmc(run) and all(t.verdict is Verdict.PASS for t in controls):
        left = sorted({k for t in controls for k in t.evidence.get("reset_state", {}).get("left_set", [])})
        msis = [t.evidence.get("gap_msis") or 0 for t in controls]
        sent = f" and sent {_span_n(min(msis), max(msis))} MSIs in the 1 s gap" if any(msis) else ""
        copied = [t.evidence["gap_check"]["changed"] for t in controls if "gap_check" in t.evidence]
        dma = (f"; its queued qDMA jobs wrote {_span_n(min(copied), max(copied))} canary bytes"
               if len(copied) == len(controls) else " (DMA not measured: the tenant ran no copy jobs)")
        return Cell(f"yes: with the firmware ignoring the reset, the object kept {', '.join(left)}{sent} in all "
                    f"{len(controls)} variants{dma}", "good")
    if all(t.verdict is Verdict.PASS for t in controls):
        bytes_ = [t.evidence.get("gap_check", {}).get("changed", 0) for t in controls]
        firsts = [t.evidence.get("next_tenant", {}).get("first_irq_ms", -1) for t in controls]
        firsts = [f for f in firsts if f is not None and f >= 0]
        first = f", the next tenant got an IRQ within {max(firsts)} ms" if firsts else ""
        span = f"{min(bytes_)}" if min(bytes_) == max(bytes_) else f"{min(bytes_)}-{max(bytes_)}"
        where = ("the next tenant's own memory at the dead tenant's IOVAs" if run.header.get("iommu") == "type1"
                 else "freed memory")
        return Cell(f"yes: without it {span} DMA bytes hit {where}{_rate(controls)}{first}", "good")
    failed = [_CONTROL.match(t.id).group(1) for t in controls if t.verdict is Verdict.FAIL]
    if failed:
        return Cell(f"not shown: no bleed without the handler in {', '.join(failed)}", "unknown")
    return Cell(f"unknown ({_not_proven([t for t in controls if t.verdict is not Verdict.PASS])})", "unknown")


def _span_n(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def _rate(controls) -> str:
    """The controls' bleed rate and when their ring ran dry, where the run measured them."""
    profiles = [t.evidence["bleed"] for t in controls if t.evidence.get("bleed", {}).get("bytes")]
    if not profiles:
        return ""
    rates = [b["rate_bytes_per_s"] for b in profiles]
    dry = [b["ran_dry_ms"] for b in profiles if b["ran_dry_ms"] is not None]
    when = (f", until the ring ran dry {min(dry)}-{max(dry)} ms after death" if len(dry) == len(profiles)
            else " (still growing when the gap ended)" if not dry else "")
    return f" at {_span(min(rates), max(rates))}{when}"


def _span(lo: int, hi: int) -> str:
    """A rate range in a unit that shows its spread: KiB/s from 10 KiB/s up, else B/s."""
    if lo >= 10 * 1024:
        lo_s, hi_s, unit = f"{lo / 1024:.0f}", f"{hi / 1024:.0f}", "KiB/s"
    else:
        lo_s, hi_s, unit = f"{lo:,}", f"{hi:,}", "B/s"
    return f"{lo_s} {unit}" if lo_s == hi_s else f"{lo_s}-{hi_s} {unit}"


def _vmm_unreset(t) -> bool:
    """A next-guest fail during which the twin logged no reset at all: the handler was never asked
    (QEMU 7.2 across a guest reset), so it is the VMM's, not the handler's."""
    return t.verdict is Verdict.FAIL and t.id.startswith("vmm.") and reset_issued(t.evidence) is False


def next_guest(run: Run) -> Cell:
    checks = [t for t in run.tests if t.id.startswith("vmm.")]
    if not checks:
        return Cell("not measured (the VMM checks run in type1 on a profile with a vmm_device)", "unknown")
    if all(_not_applicable(t) for t in checks):
        return Cell(f"not measured ({checks[0].reason})", "unknown")
    parts, states = [], set()
    for variant in dict.fromkeys(t.id.split(".")[1] for t in checks):
        mine = [t for t in checks if t.id.split(".")[1] == variant]
        if all(t.verdict is Verdict.PASS for t in mine):
            parts.append(f"{variant}: nothing reached it")
            states.add("good")
        elif any(t.verdict is Verdict.FAIL for t in mine):
            bled = "/".join(t.id.split(".")[2].split("_")[1] for t in mine if t.verdict is Verdict.FAIL)
            unreset = all(_vmm_unreset(t) for t in mine if t.verdict is Verdict.FAIL)
            parts.append(f"{variant}: {bled} reached it" + (", the device never reset (the VMM asked for no reset)"
                                                              if unreset else ""))
            states.add("info" if unreset else "bad")
        else:
            parts.append(f"{variant}: {_not_proven([t for t in mine if t.verdict is not Verdict.PASS])}")
            states.add("unknown")
    state = "bad" if "bad" in states else "unknown" if "unknown" in states else "info" if "info" in states else "good"
    return Cell("; ".join(parts), state)


def deprecation(run: Run) -> Cell:
    t = run.test("deprecation.message")
    if t is None or t.verdict is not Verdict.PASS:
        why = "not tested" if t is None else (t.reason or t.verdict.value)
        return Cell(f"unknown ({why})", "info")
    return Cell("printed" if t.evidence.get("printed") else "not printed", "info")


def removed(run: Run) -> str | None:
    """What shows that vfio-platform refuses the device for want of a handler, or None.
    A device that bound to vfio-platform was not refused, whatever the config says."""
    bind, enforced = run.test("bind.vfio"), run.test("reset.required_enforced")
    if bind is not None and bind.verdict is Verdict.PASS:
        return None
    h = (run.header.get("dut") or {}).get("handler_config") or {}
    not_built = bool(h) and h.get("value") not in ("m", "y")
    left_unbound = (bind is not None and bind.verdict is Verdict.FAIL
                    and "driver" in bind.evidence and bind.evidence["driver"] is None)
    enforced_seen = enforced is not None and enforced.verdict is Verdict.PASS
    if not (not_built or (left_unbound and enforced_seen)):
        return None
    basis = [f"{h['symbol']} {h['value']}"] if not_built else []
    if left_unbound:
        basis.append("bind.vfio left the device unbound")
    if enforced_seen:
        basis.append("reset.required_enforced passed")
    return ", ".join(basis)


def _settled(t) -> bool:
    return t.verdict is Verdict.PASS or _not_applicable(t)


def overall(run: Run, cells: dict[str, Cell]) -> Cell:
    counts = ", ".join(f"{n} {v}" for v, n in run.counts().items() if n)
    why_removed = removed(run)
    if why_removed:
        return Cell(f"removed: vfio-platform refuses the device (from {why_removed}; {counts})", "info")
    # A control's fail is the lab's inability to provoke bleed: it leaves the cell undecided
    # (below), it says nothing against the kernel.
    failed = [t.id for t in run.tests if t.verdict is Verdict.FAIL and not t.id.startswith("control.")
              and not _vmm_unreset(t)]
    if failed:
        return Cell(f"BROKEN: {', '.join(failed)} ({counts})", "bad")
    not_finished = unfinished({**run.header, "tests": [t.to_json() for t in run.tests]})
    unmeasured = _unmeasured(run)
    if unmeasured and not not_finished and cells["necessary"].state == "good":
        return Cell(f"working for what was measured (object state, MSIs, the reset command); DMA not "
                    f"measured yet ({counts})", "unknown")
    if (not_finished or not all(_settled(t) for t in run.tests)
            or cells["effective"].state != "good" or cells["necessary"].state != "good"):
        why = f"; {not_finished}" if not_finished else ""
        return Cell(f"incomplete: nothing decided ({counts}){why}", "unknown")
    return Cell(f"needed and working ({counts})", "good")


def cells_for(run: Run) -> dict[str, Cell]:
    cells = {"built": built(run), "maintained": maintained(run), "autoloaded": autoloaded(run),
             "effective": effective(run),
             "necessary": necessary(run), "next_guest": next_guest(run), "deprecation": deprecation(run)}
    cells["overall"] = overall(run, cells)
    return cells


def _release_key(label: str):
    return [int(x) if x.isdigit() else x for x in re.split(r"[.\s()+-]", label) if x]


@attrs.frozen
class Matrix:
    targets: list[str]
    kernels: list[str]
    cells: dict          # (target, kernel) -> {question: Cell}
    runs: dict           # (target, kernel) -> Run
    superseded: list     # older runs of the same (target, kernel), not shown


def build_matrix(runs: list[Run]) -> Matrix:
    chosen: dict = {}
    superseded = []
    for r in sorted(runs, key=lambda r: r.header.get("started", "")):
        key = (r.target, r.kernel_label)
        if key in chosen:
            superseded.append(chosen[key])
        chosen[key] = r
    targets = sorted({t for t, _ in chosen})
    kernels = sorted({k for _, k in chosen}, key=_release_key)
    return Matrix(targets, kernels, {k: cells_for(r) for k, r in chosen.items()}, chosen, superseded)


def render_markdown(m: Matrix) -> str:
    out = ["# vfio-hil removal-impact matrix", "",
           "Rows: targets; columns: kernels. Each answer comes from that run's results; "
           "\"unknown\" means the run could not decide it.", "",
           "Overall, first match wins: **removed** (the handler is not built, or vfio-platform was seen "
           "refusing the device without one), **BROKEN** (a check failed; the failed ids are named), "
           "**incomplete** (an error, inconclusive check, unreached check or unfinished run), "
           "**needed and working** (every check passed or did not apply to the device).", "",
           "| target | question | " + " | ".join(m.kernels) + " |",
           "|---|---|" + "---|" * len(m.kernels)]
    for target in m.targets:
        for key, question in QUESTIONS:
            row = []
            for k in m.kernels:
                c = m.cells.get((target, k))
                text = c[key].text if c else "not run"
                row.append(f"**{text}**" if c and c[key].state == "bad" else text)
            out.append(f"| {target} | {question} | " + " | ".join(x.replace("|", "\\|") for x in row) + " |")
    out += ["", "Result directories:", ""]
    out += [f"- {t} / {k}: `{r.dir}`" for (t, k), r in sorted(m.runs.items())]
    if m.superseded:
        out += ["", "Older runs of the same target and kernel, not shown: "
                + ", ".join(f"`{r.dir}`" for r in m.superseded)]
    return "\n".join(out) + "\n"


def render_html(m: Matrix, out: Path) -> str:
    # Links relative to the matrix, so the directory can be moved or attached whole.
    links = {k: os.path.relpath(r.dir.resolve() / "report.html", out.resolve()) for k, r in m.runs.items()}
    return template_env().get_template("matrix.html.j2").render(
        m=m, links=links, questions=QUESTIONS, css=css(),
        generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))


def write_matrix(runs: list[Run], out: Path) -> list[Path]:
    m = build_matrix(runs)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("matrix.md", render_markdown(m)), ("matrix.html", render_html(m, out))):
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out / name)
        paths.append(out / name)
    return paths
