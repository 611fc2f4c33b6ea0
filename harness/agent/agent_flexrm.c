// SPDX-License-Identifier: GPL-2.0-only
/*
 * Broadcom FlexRM ring manager (brcm,iproc-flexrm-mbox) device ops: ring 0 and
 * the last live ring of the 0x200000 window (the rings that read RING_VER
 * "v001"; the reset handler shuts down exactly those), each started as
 * flexrm_startup() in drivers/mailbox/bcm-flexrm-mailbox.c starts a ring (BD
 * ring, completion ring, MSI address and data, then ACTIVE). FlexRM has no
 * wired interrupt: an MSI is a 32-bit DMA write to RING_MSI_ADDR, so the ops aim
 * it into the window and the DMA canary sees it; irq_index is AGENT_NO_IRQ.
 *
 * Window layout (all in the canary but the BD rings):
 *   0x0000  ring 0's BD ring (4 KiB aligned, RING_BD_START_ADDR = pa >> 12)
 *   0x1000  the last ring's BD ring
 *   0x2000  ring 0's completion ring, 1024 x 8 bytes (8 KiB aligned, RING_CMPL_START_ADDR = pa >> 13)
 *   0x4000  the MSI targets (RING_MSI_ADDR_MS:LS), ring 0 at +0, the last ring at +4
 *   0x6000  the last ring's completion ring
 */
#include "agent.h"

#define RING_VER                0x000
#define RING_BD_START_ADDR      0x004
#define RING_CMPL_START_ADDR    0x018
#define RING_CMPL_WRITE_PTR     0x01c   /* in descriptors */
#define RING_CONTROL            0x034
#define RING_FLUSH_DONE         0x038
#define RING_MSI_ADDR_LS        0x03c
#define RING_MSI_ADDR_MS        0x040
#define RING_MSI_CONTROL        0x048
#define RING_MSI_DATA_VALUE     0x064

#define RING_VER_MAGIC          0x76303031
#define CONTROL_ACTIVE          (1u << 4)
#define CONTROL_FLUSH           (1u << 5)
#define MSI_ENABLE              (1u << 15)
#define MSI_COUNT_1             1u      /* an MSI per completion */
#define CMPL_DESC_COUNT         1024

#define RING_REGS_SIZE          0x10000
#define WINDOW_SIZE             0x200000
#define MAX_RINGS               (WINDOW_SIZE / RING_REGS_SIZE)
#define CANARY_OFFSET           0x2000
#define MSI_DATA                0x00f1e4e1u

/* Where each used ring's BD ring, completion ring and MSI target sit in the window. */
static const struct { uint64_t bd, cmpl, msi; } slot[2] = {
	{ 0x0000, 0x2000, 0x4000 },
	{ 0x1000, 0x6000, 0x4004 },
};

/* The rings the ops use (0 and the last live one) and the completion write pointer
 * service() last saw on each; one tenant per process. */
static unsigned int used[2], n_used;
static uint32_t seen_wptr[2];

static unsigned int rreg(unsigned int ring, unsigned int reg)
{
	return ring * RING_REGS_SIZE + reg;
}

static int flexrm_probe(struct agent_vfio_device *dev)
{
	unsigned int ring, last = 0;

	if (agent_rd(dev, RING_VER) != RING_VER_MAGIC)
		return -1;
	for (ring = 1; ring < MAX_RINGS; ring++)
		if (agent_rd(dev, rreg(ring, RING_VER)) == RING_VER_MAGIC)
			last = ring;
	used[0] = 0;
	used[1] = last;
	n_used = last ? 2 : 1;
	return 0;
}

static int flexrm_init(struct agent_vfio_device *dev)
{
	unsigned int i;

	for (i = 0; i < n_used; i++) {
		agent_wr(dev, rreg(used[i], RING_CONTROL), 0);      /* inactive, as flexrm_startup() begins */
		agent_wr(dev, rreg(used[i], RING_MSI_CONTROL), 0);
	}
	return 0;
}

static void flexrm_rearm_window(struct agent_dma_window *win)
{
	(void)win;      /* completions need no ownership handed back: the ring writes while ACTIVE */
}

static int flexrm_arm_dma(struct agent_vfio_device *dev, struct agent_dma_window *win)
{
	unsigned int i;

	if (win->size < 0x8000 || win->phys & 0x1fff)
		return -1;
	for (i = 0; i < n_used; i++) {
		unsigned int r = used[i];
		uint64_t msi = win->phys + slot[i].msi;

		agent_wr(dev, rreg(r, RING_BD_START_ADDR), (uint32_t)(((win->phys + slot[i].bd) >> 12) & 0x0fffffff));
		agent_wr(dev, rreg(r, RING_CMPL_START_ADDR), (uint32_t)(((win->phys + slot[i].cmpl) >> 13) & 0x07ffffff));
		seen_wptr[i] = agent_rd(dev, rreg(r, RING_CMPL_WRITE_PTR));
		agent_wr(dev, rreg(r, RING_MSI_ADDR_LS), (uint32_t)msi);
		agent_wr(dev, rreg(r, RING_MSI_ADDR_MS), (uint32_t)(msi >> 32));
		agent_wr(dev, rreg(r, RING_MSI_DATA_VALUE), MSI_DATA + r);
		agent_wr(dev, rreg(r, RING_CONTROL), CONTROL_ACTIVE);
	}
	return 0;
}

static int flexrm_arm_irq(struct agent_vfio_device *dev)
{
	unsigned int i;

	for (i = 0; i < n_used; i++)
		agent_wr(dev, rreg(used[i], RING_MSI_CONTROL), MSI_ENABLE | MSI_COUNT_1);
	return 0;
}

/* Counts the completions on every used ring since the last call (the pointers wrap at 1024). */
static int flexrm_service(struct agent_vfio_device *dev, struct agent_dma_window *win)
{
	unsigned int i;
	int done = 0;

	(void)win;
	for (i = 0; i < n_used; i++) {
		uint32_t wptr = agent_rd(dev, rreg(used[i], RING_CMPL_WRITE_PTR)) % CMPL_DESC_COUNT;

		done += (int)((wptr + CMPL_DESC_COUNT - seen_wptr[i]) % CMPL_DESC_COUNT);
		seen_wptr[i] = wptr;
	}
	return done;
}

static uint64_t flexrm_buffers_offset(void)
{
	return CANARY_OFFSET;
}

/* Ring 0 as RING0_*, the last live ring as RINGLAST_* (with its number): the names a
 * profile can rely on whatever the SoC's ring count. Found from RING_VER, so it also
 * serves the gap reader, which never runs probe. */
static int flexrm_read_quiescence(struct agent_vfio_device *dev, struct agent_json *j)
{
	unsigned int ring, last = 0, i;
	bool armed = false, running = false;
	int busy = 0;

	for (ring = 1; ring < MAX_RINGS; ring++)
		if (agent_rd(dev, rreg(ring, RING_VER)) == RING_VER_MAGIC)
			last = ring;
	for (i = 0; i < 2; i++) {
		const char *p = i ? "RINGLAST_" : "RING0_";
		unsigned int r = i ? last : 0;
		uint32_t control = agent_rd(dev, rreg(r, RING_CONTROL)), msi = agent_rd(dev, rreg(r, RING_MSI_CONTROL));
		char key[40];

		snprintf(key, sizeof(key), "%sCONTROL", p);
		agent_json_hex(j, key, control);
		snprintf(key, sizeof(key), "%sMSI_CONTROL", p);
		agent_json_hex(j, key, msi);
		snprintf(key, sizeof(key), "%sFLUSH_DONE", p);
		agent_json_hex(j, key, agent_rd(dev, rreg(r, RING_FLUSH_DONE)));
		snprintf(key, sizeof(key), "%sCMPL_WRITE_PTR", p);
		agent_json_hex(j, key, agent_rd(dev, rreg(r, RING_CMPL_WRITE_PTR)));
		busy += !!(control & (CONTROL_ACTIVE | CONTROL_FLUSH));
		/* MSIs are sent only by an active ring: enabled-but-inactive sends nothing. */
		armed |= (control & CONTROL_ACTIVE) && (msi & MSI_ENABLE);
		running |= (control & CONTROL_ACTIVE) != 0;
	}
	agent_json_int(j, "last_ring", last);
	agent_json_int(j, "nonzero", busy);
	agent_json_bool(j, "irq_armed", armed);
	/* No wired line: its MSIs are DMA writes, counted by the canary. */
	agent_json_bool(j, "irq_pending", false);
	agent_json_bool(j, "dma_running", running);
	return busy;
}

const struct agent_device_ops agent_flexrm_ops = {
	.name = "flexrm",
	.compatible = "brcm,iproc-flexrm-mbox",
	.regs_size = WINDOW_SIZE,               /* every ring: the last live one is found by RING_VER */
	.irq_index = AGENT_NO_IRQ,
	.probe = flexrm_probe,
	.init = flexrm_init,
	.arm_dma = flexrm_arm_dma,
	.arm_irq = flexrm_arm_irq,
	.service = flexrm_service,
	.rearm_window = flexrm_rearm_window,
	.buffers_offset = flexrm_buffers_offset,
	.read_quiescence = flexrm_read_quiescence,
};
