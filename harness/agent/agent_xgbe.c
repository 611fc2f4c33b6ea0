// SPDX-License-Identifier: GPL-2.0-only
/*
 * AMD XGBE (amd,xgbe-seattle-v1a) device ops: DMA channel 0 receiving into a
 * ring in the window, its per-channel interrupt (VFIO IRQ index 1: index 0 is
 * the device interrupt, 1-4 the channels, as amd,per-channel-interrupt lays
 * them out). Registers and descriptors from drivers/net/ethernet/amd/xgbe/
 * xgbe-common.h; what must read zero after a reset from the DMA_MR.SWR that
 * drivers/vfio/platform/reset/vfio_platform_amdxgbe.c issues.
 */
#include "agent.h"

#define MAC_VR                  0x0110
#define DMA_MR                  0x3000
#define CH0                     0x3100
#define CH_RCR                  0x08
#define CH_RDLR_HI              0x18
#define CH_RDLR_LO              0x1c
#define CH_RDTR_LO              0x2c
#define CH_RDRLR                0x34
#define CH_IER                  0x38
#define CH_SR                   0x60

#define RCR_SR                  0x00000001
#define RCR_RBSZ_2048           (2048u << 1)
#define IER_RIE                 0x00000040
#define IER_NIE                 0x00008000
#define SR_DEFINED              0x003fffff   /* an ack writes back only the defined status bits */

#define RDES3_OWN               0x80000000u
#define RDES3_INTE              0x40000000u
#define RING_ENTRIES            16
#define BUF_SIZE                2048
#define BUFFERS_OFFSET          4096

struct xgbe_desc {                      /* struct xgbe_ring_desc */
	uint32_t desc0, desc1, desc2, desc3;
};

static volatile struct xgbe_desc *ring(struct agent_dma_window *win)
{
	return (volatile struct xgbe_desc *)win->va;
}

static int xgbe_probe(struct agent_vfio_device *dev)
{
	uint32_t snps = agent_rd(dev, MAC_VR) & 0xff;

	return (snps == 0 || snps == 0xff) ? -1 : 0;
}

static int xgbe_init(struct agent_vfio_device *dev)
{
	agent_wr(dev, CH0 + CH_IER, 0);
	agent_wr(dev, CH0 + CH_RCR, 0);
	agent_wr(dev, CH0 + CH_SR, SR_DEFINED);       /* write-one-to-clear */
	return 0;
}

/* Hands entry i back to the device in read format (its buffer address), whatever the
 * device's write-back left in it. */
static void xgbe_give(struct agent_dma_window *win, unsigned int i)
{
	volatile struct xgbe_desc *d = &ring(win)[i];
	uint64_t buf = win->phys + BUFFERS_OFFSET + (uint64_t)i * BUF_SIZE;

	d->desc0 = (uint32_t)buf;
	d->desc1 = (uint32_t)(buf >> 32);
	d->desc2 = 0;
	d->desc3 = RDES3_OWN | RDES3_INTE;
}

static void xgbe_rearm_window(struct agent_dma_window *win)
{
	unsigned int i;

	for (i = 0; i < RING_ENTRIES; i++)
		xgbe_give(win, i);
}

static int xgbe_arm_dma(struct agent_vfio_device *dev, struct agent_dma_window *win)
{
	if (win->size < BUFFERS_OFFSET + RING_ENTRIES * BUF_SIZE)
		return -1;
	xgbe_rearm_window(win);
	agent_wr(dev, CH0 + CH_RDLR_HI, (uint32_t)(win->phys >> 32));
	agent_wr(dev, CH0 + CH_RDLR_LO, (uint32_t)win->phys);
	agent_wr(dev, CH0 + CH_RDRLR, RING_ENTRIES - 1);
	agent_wr(dev, CH0 + CH_RDTR_LO, (uint32_t)(win->phys + (RING_ENTRIES - 1) * sizeof(struct xgbe_desc)));
	agent_wr(dev, CH0 + CH_RCR, RCR_RBSZ_2048 | RCR_SR);
	return 0;
}

static int xgbe_arm_irq(struct agent_vfio_device *dev)
{
	agent_wr(dev, CH0 + CH_IER, IER_RIE | IER_NIE);
	return 0;
}

static int xgbe_service(struct agent_vfio_device *dev, struct agent_dma_window *win)
{
	uint32_t status = agent_rd(dev, CH0 + CH_SR);
	unsigned int i;
	int frames = 0;

	agent_wr(dev, CH0 + CH_SR, status & SR_DEFINED);
	for (i = 0; i < RING_ENTRIES; i++) {
		if (!(ring(win)[i].desc3 & RDES3_OWN)) {
			frames++;
			xgbe_give(win, i);
		}
	}
	return frames;
}

static uint64_t xgbe_buffers_offset(void)
{
	return BUFFERS_OFFSET;
}

static int xgbe_read_quiescence(struct agent_vfio_device *dev, struct agent_json *j)
{
	uint32_t mr = agent_rd(dev, DMA_MR), rcr = agent_rd(dev, CH0 + CH_RCR), ier = agent_rd(dev, CH0 + CH_IER);
	uint32_t sr = agent_rd(dev, CH0 + CH_SR);
	int busy = !!(mr & 1) + !!(rcr & RCR_SR) + !!ier;

	agent_json_hex(j, "DMA_MR", mr);
	agent_json_hex(j, "CH0_RCR", rcr);
	agent_json_hex(j, "CH0_IER", ier);
	agent_json_hex(j, "CH0_SR", sr);
	agent_json_int(j, "nonzero", busy);
	agent_json_bool(j, "irq_armed", ier != 0);
	agent_json_bool(j, "irq_pending", (sr & ier & SR_DEFINED) != 0);
	agent_json_bool(j, "dma_running", (rcr & RCR_SR) != 0);
	return busy;
}

const struct agent_device_ops agent_xgbe_ops = {
	.name = "xgbe",
	.compatible = "amd,xgbe-seattle-v1a",
	.regs_size = 0x4000,
	.irq_index = 1,
	.probe = xgbe_probe,
	.init = xgbe_init,
	.arm_dma = xgbe_arm_dma,
	.arm_irq = xgbe_arm_irq,
	.service = xgbe_service,
	.rearm_window = xgbe_rearm_window,
	.buffers_offset = xgbe_buffers_offset,
	.read_quiescence = xgbe_read_quiescence,
};
