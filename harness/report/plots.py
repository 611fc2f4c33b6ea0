"""Bleed over time: one figure per teardown variant, real handler beside the null-reset control.

x is milliseconds from the moment the device lost its last owner (t = 0). Top
row: canary bytes the device wrote into the freed DMA window, sampled from when
the canary was laid just after death. Bottom row: IRQs counted, by the tenant
while it lived and by the next tenant from the moment it opened the device. The
shaded span is the time nobody owned the device (no IRQ can be counted then).
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")   # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from harness.report.runs import Run  # noqa: E402

REAL_COLOR = "#2ca02c"      # the report's test looks for these colours in a screenshot
CONTROL_COLOR = "#d62728"
TENANT_COLOR = "#7f7f7f"
IRQ_COUNT_CAP = 1000        # the agent's next-tenant stops counting there (agent_core.c)


def teardown_timelines(run: Run, variant: str) -> tuple[dict | None, dict | None]:
    """(real handler timeline, control timeline) of one variant; None where the test did not measure one."""
    def tl(test_id):
        t = run.test(test_id)
        timeline = t.evidence.get("timeline") if t else None
        # Only a canary timeline can be drawn (an fsl-mc teardown's timeline has no canary yet).
        return timeline if timeline and "canary_laid_ms" in timeline else None
    return tl(f"teardown.{variant}.dma_bleed"), tl(f"control.null_reset.{variant}")


def wired_irq(run: Run, variant: str) -> bool:
    """False when the agent said the device has no wired interrupt (FlexRM: MSIs only)."""
    for test_id in (f"teardown.{variant}.dma_bleed", f"control.null_reset.{variant}"):
        t = run.test(test_id)
        if t and "wired_irq" in (t.evidence.get("next_tenant") or {}):
            return bool(t.evidence["next_tenant"]["wired_irq"])
    return True


def _panel(ax_dma, ax_irq, tl: dict | None, color: str, title: str, wired: bool = True) -> None:
    ax_dma.set_title(title, fontsize=10)
    if not tl:
        for ax in (ax_dma, ax_irq):
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes, color="#555")
        return
    nopen = tl.get("next_open_ms")
    for ax in (ax_dma, ax_irq):
        ax.axvline(0, color="black", lw=1)
        if nopen is not None:
            ax.axvspan(0, nopen, color="#eeeeee", zorder=0)
        ax.grid(alpha=0.3)
    canary = [[tl["canary_laid_ms"], 0], *tl.get("canary", [])]
    ax_dma.step([c[0] for c in canary], [c[1] for c in canary], where="post", color=color, lw=2,
                label="canary bytes changed")
    ax_dma.annotate("owner died", (0, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize=8)
    if not wired:       # a flat zero line would read as "no IRQ bleed", which nobody measured
        ax_irq.text(0.5, 0.5, "no wired IRQ: its MSIs are DMA writes,\ncounted in the panel above",
                    ha="center", va="center", transform=ax_irq.transAxes, color="#555", fontsize=9)
        ax_irq.set_yticks([])
        ax_irq.set_xlabel("ms from the moment of death")
        return
    tenant = tl.get("tenant", [])
    if tenant:
        ax_irq.step([p[0] for p in tenant], [p[1] for p in tenant], where="post", color=TENANT_COLOR, lw=1.5,
                    label="tenant's IRQs")
    nxt = tl.get("next_irqs", [])
    if nxt:
        ax_irq.step([p[0] for p in nxt], [p[1] for p in nxt], where="post", color=color, lw=2,
                    label="next tenant's IRQs")
        if nxt[-1][1] >= IRQ_COUNT_CAP:
            ax_irq.text(0.98, 0.45, f"IRQ storm:\ncounting stopped\nat {IRQ_COUNT_CAP}", transform=ax_irq.transAxes,
                        ha="right", va="center", fontsize=8, color=color)
    ax_irq.legend(fontsize=7, loc="upper left")
    ax_irq.set_xlabel("ms from the moment of death")


def bleed_figure(run: Run, variant: str) -> bytes | None:
    """PNG of the variant's figure, or None if neither side measured a timeline."""
    real, control = teardown_timelines(run, variant)
    if not real and not control:
        return None
    fig, axes = plt.subplots(2, 2, figsize=(9, 4.6), dpi=80, sharex="all")
    wired = wired_irq(run, variant)
    _panel(axes[0][0], axes[1][0], real, REAL_COLOR, "real reset handler", wired)
    _panel(axes[0][1], axes[1][1], control, CONTROL_COLOR, "null-reset control (no reset)", wired)
    axes[0][0].set_ylabel("DMA bytes\ninto freed window")
    axes[1][0].set_ylabel("IRQs (cumulative)")
    # The same y scale on both sides, so "nothing" next to "thousands" looks like it.
    for row in axes:
        top = max(ax.get_ylim()[1] for ax in row)
        for ax in row:
            ax.set_ylim(bottom=-0.05 * top, top=top)
    fig.suptitle(f"{run.target} {run.release}: {variant}", fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
