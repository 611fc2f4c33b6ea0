// SPDX-License-Identifier: GPL-2.0-only
/*
 * Calxeda XGMAC (calxeda,hb-xgmac) device ops. Register and descriptor layout
 * from drivers/net/ethernet/calxeda/xgmac.c; what must read zero after a reset
 * from drivers/vfio/platform/reset/vfio_platform_calxedaxgmac.c.
 */
#include "agent.h"

#define XGMAC_CONTROL           0x0000  /* MAC configuration */
#define XGMAC_VERSION           0x0020
#define XGMAC_DMA_RX_BASE_ADDR  0x0f0c
#define XGMAC_DMA_STATUS        0x0f14
#define XGMAC_DMA_CONTROL       0x0f18
#define XGMAC_DMA_INTR_ENA      0x0f1c

#define MAC_ENABLE_TX           0x00000008
#define MAC_ENABLE_RX           0x00000004
#define DMA_CONTROL_ST          0x00002000
#define DMA_CONTROL_SR          0x00000002
#define DMA_INTR_ENA_NIE        0x00010000
#define DMA_INTR_ENA_RIE        0x00000040
/* DMA_STATUS bits 31:28 are reserved: an ack writes back only the defined bits
 * (the device twin marks its status with bit 31: harness/twins/README.md). */
#define DMA_STATUS_DEFINED      0x0fffffff

#define DESC_OWN                0x80000000u
#define RXDESC1_END_RING        0x00008000u
#define RING_ENTRIES            16
#define BUF_SIZE                2048    /* the model writes whole frames: >= 1518 */
#define BUFFERS_OFFSET          4096

struct xgmac_desc {                     /* struct xgmac_dma_desc */
	uint32_t flags;
	uint32_t buf_size;
	uint32_t buf1_addr;
	uint32_t buf2_addr;
	uint32_t ext_status;
	uint32_t res[3];
};

static volatile struct xgmac_desc *ring(struct agent_dma_window *win)
{
	return (volatile struct xgmac_desc *)win->va;
}

static int xgmac_probe(struct agent_vfio_device *dev)
{
	uint32_t ver = agent_rd(dev, XGMAC_VERSION);

	return (ver == 0 || ver == 0xffffffffu) ? -1 : 0;
}

static int xgmac_init(struct agent_vfio_device *dev)
{
	agent_wr(dev, XGMAC_DMA_INTR_ENA, 0);
	agent_wr(dev, XGMAC_DMA_CONTROL, 0);
	agent_wr(dev, XGMAC_DMA_STATUS, 0xffffffffu);   /* write-one-to-clear */
	return 0;
}

static void xgmac_rearm_window(struct agent_dma_window *win)
{
	unsigned int i;

	for (i = 0; i < RING_ENTRIES; i++) {
		volatile struct xgmac_desc *d = &ring(win)[i];

		d->buf1_addr = (uint32_t)(win->phys + BUFFERS_OFFSET + (uint64_t)i * BUF_SIZE);
		d->buf2_addr = 0;
		d->buf_size = BUF_SIZE | (i == RING_ENTRIES - 1 ? RXDESC1_END_RING : 0);
		d->flags = DESC_OWN;
	}
}

static int xgmac_arm_dma(struct agent_vfio_device *dev, struct agent_dma_window *win)
{
	if (win->size < BUFFERS_OFFSET + RING_ENTRIES * BUF_SIZE)
		return -1;
	xgmac_rearm_window(win);
	agent_wr(dev, XGMAC_DMA_RX_BASE_ADDR, (uint32_t)win->phys);
	agent_wr(dev, XGMAC_CONTROL, agent_rd(dev, XGMAC_CONTROL) | MAC_ENABLE_RX);
	agent_wr(dev, XGMAC_DMA_CONTROL, agent_rd(dev, XGMAC_DMA_CONTROL) | DMA_CONTROL_SR);
	return 0;
}

static int xgmac_arm_irq(struct agent_vfio_device *dev)
{
	agent_wr(dev, XGMAC_DMA_INTR_ENA, DMA_INTR_ENA_NIE | DMA_INTR_ENA_RIE);
	return 0;
}

static int xgmac_service(struct agent_vfio_device *dev, struct agent_dma_window *win)
{
	uint32_t status = agent_rd(dev, XGMAC_DMA_STATUS);
	unsigned int i;
	int frames = 0;

	agent_wr(dev, XGMAC_DMA_STATUS, status & DMA_STATUS_DEFINED);
	for (i = 0; i < RING_ENTRIES; i++) {
		volatile struct xgmac_desc *d = &ring(win)[i];

		if (!(d->flags & DESC_OWN)) {
			frames++;
			d->flags = DESC_OWN;
		}
	}
	return frames;
}

static uint64_t xgmac_buffers_offset(void)
{
	return BUFFERS_OFFSET;
}

static int xgmac_read_quiescence(struct agent_vfio_device *dev, struct agent_json *j)
{
	uint32_t mac = agent_rd(dev, XGMAC_CONTROL), ctl = agent_rd(dev, XGMAC_DMA_CONTROL);
	uint32_t ena = agent_rd(dev, XGMAC_DMA_INTR_ENA), st = agent_rd(dev, XGMAC_DMA_STATUS);
	int busy = !!(ctl & (DMA_CONTROL_SR | DMA_CONTROL_ST)) + !!ena + !!(mac & (MAC_ENABLE_TX | MAC_ENABLE_RX));

	agent_json_hex(j, "DMA_CONTROL", ctl);
	agent_json_hex(j, "DMA_INTR_ENA", ena);
	agent_json_hex(j, "XGMAC_CONTROL", mac);
	agent_json_hex(j, "DMA_STATUS", st);
	agent_json_int(j, "nonzero", busy);
	agent_json_bool(j, "irq_armed", ena != 0);
	agent_json_bool(j, "irq_pending", (st & ena & DMA_STATUS_DEFINED) != 0);
	agent_json_bool(j, "dma_running", (ctl & (DMA_CONTROL_SR | DMA_CONTROL_ST)) != 0);
	return busy;
}

const struct agent_device_ops agent_xgmac_ops = {
	.name = "xgmac",
	.compatible = "calxeda,hb-xgmac",
	.regs_size = 0x1000,
	.probe = xgmac_probe,
	.init = xgmac_init,
	.arm_dma = xgmac_arm_dma,
	.arm_irq = xgmac_arm_irq,
	.service = xgmac_service,
	.rearm_window = xgmac_rearm_window,
	.buffers_offset = xgmac_buffers_offset,
	.read_quiescence = xgmac_read_quiescence,
};
