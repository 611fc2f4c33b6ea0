// SPDX-License-Identifier: GPL-2.0-only
/*
 * Broadcom FlexRM ring manager (brcm,iproc-flexrm-mbox) device ops: ring 0 of
 * the 0x200000 window, started as flexrm_startup() in
 * drivers/mailbox/bcm-flexrm-mailbox.c starts a ring (BD ring, completion ring,
 * MSI address and data, then ACTIVE). FlexRM has no wired interrupt: an MSI is
 * a 32-bit DMA write to RING_MSI_ADDR, so the ops aim it into the window and
 * the DMA canary sees it; irq_index is AGENT_NO_IRQ.
 *
 * Window layout (all in the canary but the BD ring):
 *   0x0000  BD ring (4 KiB aligned, RING_BD_START_ADDR = pa >> 12)
 *   0x2000  completion ring, 1024 x 8 bytes (8 KiB aligned, RING_CMPL_START_ADDR = pa >> 13)
 *   0x4000  MSI target (RING_MSI_ADDR_MS:LS), written RING_MSI_DATA_VALUE
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

#define BD_OFFSET               0x0000
#define CMPL_OFFSET             0x2000
#define MSI_OFFSET              0x4000
#define CANARY_OFFSET           CMPL_OFFSET
#define MSI_DATA                0x00f1e4e1u

/* The completion write pointer service() last saw; one ring, one tenant per process. */
static uint32_t seen_wptr;

static int flexrm_probe(struct agent_vfio_device *dev)
{
	return agent_rd(dev, RING_VER) == RING_VER_MAGIC ? 0 : -1;
}

static int flexrm_init(struct agent_vfio_device *dev)
{
	agent_wr(dev, RING_CONTROL, 0);         /* inactive, as flexrm_startup() begins */
	agent_wr(dev, RING_MSI_CONTROL, 0);
	return 0;
}

static void flexrm_rearm_window(struct agent_dma_window *win)
{
	(void)win;      /* completions need no ownership handed back: the ring writes while ACTIVE */
}

static int flexrm_arm_dma(struct agent_vfio_device *dev, struct agent_dma_window *win)
{
	if (win->size < MSI_OFFSET + 4 || win->phys & 0x1fff)
		return -1;
	agent_wr(dev, RING_BD_START_ADDR, (uint32_t)(((win->phys + BD_OFFSET) >> 12) & 0x0fffffff));
	agent_wr(dev, RING_CMPL_START_ADDR, (uint32_t)(((win->phys + CMPL_OFFSET) >> 13) & 0x07ffffff));
	seen_wptr = agent_rd(dev, RING_CMPL_WRITE_PTR);
	agent_wr(dev, RING_MSI_ADDR_LS, (uint32_t)(win->phys + MSI_OFFSET));
	agent_wr(dev, RING_MSI_ADDR_MS, (uint32_t)((win->phys + MSI_OFFSET) >> 32));
	agent_wr(dev, RING_MSI_DATA_VALUE, MSI_DATA);
	agent_wr(dev, RING_CONTROL, CONTROL_ACTIVE);
	return 0;
}

static int flexrm_arm_irq(struct agent_vfio_device *dev)
{
	agent_wr(dev, RING_MSI_CONTROL, MSI_ENABLE | MSI_COUNT_1);
	return 0;
}

/* Counts the completions since the last call (the pointer wraps at 1024). */
static int flexrm_service(struct agent_vfio_device *dev, struct agent_dma_window *win)
{
	uint32_t wptr = agent_rd(dev, RING_CMPL_WRITE_PTR) % CMPL_DESC_COUNT;
	int done = (int)((wptr + CMPL_DESC_COUNT - seen_wptr) % CMPL_DESC_COUNT);

	(void)win;
	seen_wptr = wptr;
	return done;
}

static uint64_t flexrm_buffers_offset(void)
{
	return CANARY_OFFSET;
}

static int flexrm_read_quiescence(struct agent_vfio_device *dev, struct agent_json *j)
{
	uint32_t control = agent_rd(dev, RING_CONTROL), msi = agent_rd(dev, RING_MSI_CONTROL);
	int busy = !!(control & (CONTROL_ACTIVE | CONTROL_FLUSH));

	agent_json_hex(j, "RING0_CONTROL", control);
	agent_json_hex(j, "RING0_MSI_CONTROL", msi);
	agent_json_hex(j, "RING0_FLUSH_DONE", agent_rd(dev, RING_FLUSH_DONE));
	agent_json_hex(j, "RING0_CMPL_WRITE_PTR", agent_rd(dev, RING_CMPL_WRITE_PTR));
	agent_json_int(j, "nonzero", busy);
	/* MSIs are sent only by an active ring: enabled-but-inactive sends nothing. */
	agent_json_bool(j, "irq_armed", (control & CONTROL_ACTIVE) && (msi & MSI_ENABLE));
	/* No wired line: its MSIs are DMA writes, counted by the canary. */
	agent_json_bool(j, "irq_pending", false);
	agent_json_bool(j, "dma_running", (control & CONTROL_ACTIVE) != 0);
	return busy;
}

const struct agent_device_ops agent_flexrm_ops = {
	.name = "flexrm",
	.compatible = "brcm,iproc-flexrm-mbox",
	.regs_size = 0x10000,                   /* ring 0's 64 KiB */
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
