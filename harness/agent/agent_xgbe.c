// SPDX-License-Identifier: GPL-2.0-only
/*
 * AMD XGBE (amd,xgbe-seattle-v1a) device ops: every DMA channel receiving into
 * its own ring in the window, their per-channel interrupts (VFIO IRQ index 1
 * is channel 0's: index 0 is the device interrupt, 1-4 the channels, 5 the
 * auto-negotiation interrupt, as amd,per-channel-interrupt lays them out; the
 * core listens on channel 0's), channel 0 transmitting a ring of frames from
 * the window, and the non-default settings a driver makes
 * (amd-xgbe's per-channel interrupt mode DMA_MR.INTM, a PCS loopback, an AN
 * restart with the AN interrupts unmasked). Registers and descriptors from
 * drivers/net/ethernet/amd/xgbe/xgbe-common.h; the XPCS MMD window as
 * vfio_platform_amdxgbe.c's xmdio_read/xmdio_write use it.
 *
 * What must read its reset value after a reset comes from the device (the
 * target profile's dut_quiescence), not from what the handler writes.
 */
#include <unistd.h>
#include "agent.h"

#define MAC_VR                  0x0110
#define DMA_MR                  0x3000
#define CH_BASE(c)              (0x3100 + 0x80 * (c))
#define CH_TCR                  0x04
#define CH_TDLR_HI              0x10
#define CH_TDLR_LO              0x14
#define CH_TDTR_LO              0x24
#define CH_TDRLR                0x30
#define CH_RCR                  0x08
#define CH_RDLR_HI              0x18
#define CH_RDLR_LO              0x1c
#define CH_RDTR_LO              0x2c
#define CH_RDRLR                0x34
#define CH_IER                  0x38
#define CH_SR                   0x60
#define CHANNELS                4       /* the tree's four channel interrupts */

#define DMA_MR_INTM_1           (1u << 12)   /* DMA_MR.INTM (bits 13:12) = 1, as amd-xgbe sets it */
#define TCR_ST                  0x00000001
#define RCR_SR                  0x00000001
#define RCR_RBSZ_2048           (2048u << 1)
#define IER_RIE                 0x00000040
#define IER_NIE                 0x00008000
#define SR_DEFINED              0x003fffff   /* an ack writes back only the defined status bits */

#define PCS_MMD_SELECT          (0xff << 2)
#define MMD_PCS                 3
#define MMD_AN                  7
#define MDIO_CTRL1              0x0000
#define CTRL1_LOOPBACK          0x4000
#define AN_CTRL1_RESTART        0x0200
#define MDIO_AN_INTMASK         0x8001
#define MDIO_AN_INT             0x8002
#define AN_INT_ALL              0x7          /* AN complete, incompatible link, page received */

#define RDES3_OWN               0x80000000u
#define RDES3_INTE              0x40000000u
#define TDES3_OWN               0x80000000u
#define TDES3_FD                0x20000000u
#define TDES3_LD                0x10000000u
#define RING_ENTRIES            16
#define BUF_SIZE                2048
#define BUFFERS_OFFSET          4096
#define TX_RING_OFFSET          0x800
#define TX_BUFFERS_OFFSET       (BUFFERS_OFFSET + CHANNELS * RING_ENTRIES * BUF_SIZE)
#define TX_FRAME_LEN            600

struct xgbe_desc {                      /* struct xgbe_ring_desc */
	uint32_t desc0, desc1, desc2, desc3;
};

/* Channel c's descriptors at 0x100 * c, its buffers after BUFFERS_OFFSET. */
static volatile struct xgbe_desc *ring(struct agent_dma_window *win, unsigned int c)
{
	return (volatile struct xgbe_desc *)(win->va + 0x100 * c);
}

/* The XPCS window shows the page of the last select. A device model polled from outside (the
 * twin) shows it one engine step later, and a step under load takes longer than any fixed wait
 * (a 3 ms wait read the PCS page for AN_INTMASK in a loaded run: a false "armed"). So the agent
 * writes its selects with SELECT_SHOWN_MARK, a bit the select does not implement (on the device
 * it reads back 0 at once); the twin clears it once the page is shown. If the mark is still there
 * after MARK_DEADLINE_US the device keeps unimplemented bits: the agent falls back to a plain
 * select and a fixed wait from then on, and says so once on stderr. */
#define SELECT_SHOWN_MARK       (1u << 31)
#define MARK_DEADLINE_US        2000000
#define MARK_POLL_US            200
#define FALLBACK_WAIT_US        3000

static int mark_sticks;

static void mmd_select(struct agent_vfio_device *dev, unsigned int mmd, unsigned int reg)
{
	uint32_t sel = (mmd << 8) | (reg >> 8);
	long waited;

	if (!mark_sticks) {
		agent_wr1(dev, PCS_MMD_SELECT, sel | SELECT_SHOWN_MARK);
		for (waited = 0; agent_rd1(dev, PCS_MMD_SELECT) & SELECT_SHOWN_MARK; waited += MARK_POLL_US) {
			if (waited >= MARK_DEADLINE_US) {
				fprintf(stderr, "vfio-hil-agent: the XPCS select kept bit 31 for %d ms: "
					"plain selects with a %d us wait from now on\n",
					MARK_DEADLINE_US / 1000, FALLBACK_WAIT_US);
				mark_sticks = 1;
				break;
			}
			usleep(MARK_POLL_US);
		}
		if (!mark_sticks)
			return;
	}
	agent_wr1(dev, PCS_MMD_SELECT, sel);
	usleep(FALLBACK_WAIT_US);
}

static uint32_t mmd_read(struct agent_vfio_device *dev, unsigned int mmd, unsigned int reg)
{
	mmd_select(dev, mmd, reg);
	return agent_rd1(dev, (reg & 0xff) << 2);
}

/* The select again after the data write: the twin sees the write no later than the mark, with
 * the same page selected, so the write lands on that page before the next select can move it. */
static void mmd_write(struct agent_vfio_device *dev, unsigned int mmd, unsigned int reg, uint32_t val)
{
	mmd_select(dev, mmd, reg);
	agent_wr1(dev, (reg & 0xff) << 2, val);
	mmd_select(dev, mmd, reg);
}

static int xgbe_probe(struct agent_vfio_device *dev)
{
	uint32_t snps = agent_rd(dev, MAC_VR) & 0xff;

	return (snps == 0 || snps == 0xff) ? -1 : 0;
}

static int xgbe_init(struct agent_vfio_device *dev)
{
	unsigned int c;

	for (c = 0; c < CHANNELS; c++) {
		agent_wr(dev, CH_BASE(c) + CH_IER, 0);
		agent_wr(dev, CH_BASE(c) + CH_RCR, 0);
		agent_wr(dev, CH_BASE(c) + CH_SR, SR_DEFINED);   /* write-one-to-clear */
	}
	return 0;
}

/* Hands entry i of channel c back to the device in read format (its buffer address),
 * whatever the device's write-back left in it. */
static void xgbe_give(struct agent_dma_window *win, unsigned int c, unsigned int i)
{
	volatile struct xgbe_desc *d = &ring(win, c)[i];
	uint64_t buf = win->phys + BUFFERS_OFFSET + ((uint64_t)c * RING_ENTRIES + i) * BUF_SIZE;

	d->desc0 = (uint32_t)buf;
	d->desc1 = (uint32_t)(buf >> 32);
	d->desc2 = 0;
	d->desc3 = RDES3_OWN | RDES3_INTE;
}

/* Hands TX entry i to the device: one TX_FRAME_LEN frame from its buffer in the window
 * (whatever the buffer holds: after a canary fill, the canary, i.e. the next user's memory). */
static void xgbe_give_tx(struct agent_dma_window *win, unsigned int i)
{
	volatile struct xgbe_desc *d = (volatile struct xgbe_desc *)(win->va + TX_RING_OFFSET) + i;
	uint64_t buf = win->phys + TX_BUFFERS_OFFSET + (uint64_t)i * BUF_SIZE;

	d->desc0 = (uint32_t)buf;
	d->desc1 = (uint32_t)(buf >> 32);
	d->desc2 = TX_FRAME_LEN;
	d->desc3 = TDES3_OWN | TDES3_FD | TDES3_LD | TX_FRAME_LEN;
}

static void xgbe_rearm_window(struct agent_dma_window *win)
{
	unsigned int c, i;

	for (c = 0; c < CHANNELS; c++)
		for (i = 0; i < RING_ENTRIES; i++)
			xgbe_give(win, c, i);
	for (i = 0; i < RING_ENTRIES; i++)
		xgbe_give_tx(win, i);
}

static int xgbe_arm_dma(struct agent_vfio_device *dev, struct agent_dma_window *win)
{
	uint64_t tphys = win->phys + TX_RING_OFFSET;
	unsigned int c, i;

	if (win->size < TX_BUFFERS_OFFSET + RING_ENTRIES * BUF_SIZE)
		return -1;
	for (i = 0; i < RING_ENTRIES; i++) {        /* the tenant's own frames: broadcast, its payload */
		volatile uint8_t *f = win->va + TX_BUFFERS_OFFSET + (uint64_t)i * BUF_SIZE;
		unsigned int k;

		for (k = 0; k < TX_FRAME_LEN; k++)
			f[k] = k < 6 ? 0xff : (uint8_t)('T' + i);
	}
	xgbe_rearm_window(win);
	agent_wr(dev, DMA_MR, agent_rd(dev, DMA_MR) | DMA_MR_INTM_1);
	for (c = 0; c < CHANNELS; c++) {
		uint64_t rphys = win->phys + 0x100 * c;

		agent_wr(dev, CH_BASE(c) + CH_RDLR_HI, (uint32_t)(rphys >> 32));
		agent_wr(dev, CH_BASE(c) + CH_RDLR_LO, (uint32_t)rphys);
		agent_wr(dev, CH_BASE(c) + CH_RDRLR, RING_ENTRIES - 1);
		agent_wr(dev, CH_BASE(c) + CH_RDTR_LO,
			 (uint32_t)(rphys + (RING_ENTRIES - 1) * sizeof(struct xgbe_desc)));
		agent_wr(dev, CH_BASE(c) + CH_RCR, RCR_RBSZ_2048 | RCR_SR);
	}
	agent_wr(dev, CH_BASE(0) + CH_TDLR_HI, (uint32_t)(tphys >> 32));
	agent_wr(dev, CH_BASE(0) + CH_TDLR_LO, (uint32_t)tphys);
	agent_wr(dev, CH_BASE(0) + CH_TDRLR, RING_ENTRIES - 1);
	agent_wr(dev, CH_BASE(0) + CH_TDTR_LO, (uint32_t)(tphys + (RING_ENTRIES - 1) * sizeof(struct xgbe_desc)));
	agent_wr(dev, CH_BASE(0) + CH_TCR, TCR_ST);
	/* A PCS loopback: a setting the next user must not inherit. */
	mmd_write(dev, MMD_PCS, MDIO_CTRL1, mmd_read(dev, MMD_PCS, MDIO_CTRL1) | CTRL1_LOOPBACK);
	return 0;
}

static int xgbe_arm_irq(struct agent_vfio_device *dev)
{
	unsigned int c;

	for (c = 0; c < CHANNELS; c++)
		agent_wr(dev, CH_BASE(c) + CH_IER, IER_RIE | IER_NIE);
	/* The AN interrupts unmasked and AN restarted: its completion latches AN_INT. */
	mmd_write(dev, MMD_AN, MDIO_AN_INTMASK, AN_INT_ALL);
	mmd_write(dev, MMD_AN, MDIO_CTRL1, mmd_read(dev, MMD_AN, MDIO_CTRL1) | AN_CTRL1_RESTART);
	return 0;
}

static int xgbe_service(struct agent_vfio_device *dev, struct agent_dma_window *win)
{
	unsigned int c, i;
	int frames = 0;

	for (c = 0; c < CHANNELS; c++) {
		uint32_t status = agent_rd(dev, CH_BASE(c) + CH_SR);

		agent_wr(dev, CH_BASE(c) + CH_SR, status & SR_DEFINED);
		for (i = 0; i < RING_ENTRIES; i++) {
			if (!(ring(win, c)[i].desc3 & RDES3_OWN)) {
				frames++;
				xgbe_give(win, c, i);
			}
		}
	}
	for (i = 0; i < RING_ENTRIES; i++) {         /* sent frames go out again: TX never runs dry */
		volatile struct xgbe_desc *d = (volatile struct xgbe_desc *)(win->va + TX_RING_OFFSET) + i;

		if (!(d->desc3 & TDES3_OWN)) {
			frames++;
			xgbe_give_tx(win, i);
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
	uint32_t mr = agent_rd(dev, DMA_MR), pcs, an_mask, an_int;
	bool armed = false, pending = false, running = false;
	int busy = !!(mr & 1), c;
	char key[16];

	agent_json_hex(j, "DMA_MR", mr);
	for (c = 0; c < CHANNELS; c++) {
		uint32_t rcr = agent_rd(dev, CH_BASE(c) + CH_RCR), ier = agent_rd(dev, CH_BASE(c) + CH_IER);
		uint32_t sr = agent_rd(dev, CH_BASE(c) + CH_SR);

		snprintf(key, sizeof(key), "CH%d_RCR", c);
		agent_json_hex(j, key, rcr);
		snprintf(key, sizeof(key), "CH%d_IER", c);
		agent_json_hex(j, key, ier);
		snprintf(key, sizeof(key), "CH%d_SR", c);
		agent_json_hex(j, key, sr);
		if (c == 0) {
			uint32_t tcr = agent_rd(dev, CH_BASE(0) + CH_TCR);

			agent_json_hex(j, "CH0_TCR", tcr);
			busy += !!(tcr & TCR_ST);
			running |= (tcr & TCR_ST) != 0;
		}
		busy += !!(rcr & RCR_SR) + !!ier;
		armed |= ier != 0;
		pending |= (sr & ier & SR_DEFINED) != 0;
		running |= (rcr & RCR_SR) != 0;
	}
	pcs = mmd_read(dev, MMD_PCS, MDIO_CTRL1);
	an_mask = mmd_read(dev, MMD_AN, MDIO_AN_INTMASK);
	an_int = mmd_read(dev, MMD_AN, MDIO_AN_INT);
	agent_json_hex(j, "PCS_CTRL1", pcs);
	agent_json_hex(j, "AN_CTRL1", mmd_read(dev, MMD_AN, MDIO_CTRL1));
	agent_json_hex(j, "AN_INTMASK", an_mask);
	agent_json_hex(j, "AN_INT", an_int);
	busy += !!(pcs & CTRL1_LOOPBACK) + !!(an_mask & AN_INT_ALL);
	agent_json_int(j, "nonzero", busy);
	agent_json_bool(j, "irq_armed", armed || (an_mask & AN_INT_ALL));
	agent_json_bool(j, "irq_pending", pending || (an_int & an_mask & AN_INT_ALL));
	agent_json_bool(j, "dma_running", running);
	return busy;
}

const struct agent_device_ops agent_xgbe_ops = {
	.name = "xgbe",
	.compatible = "amd,xgbe-seattle-v1a",
	.regs_size = 0x4000,
	.regs1_size = 0x400,                    /* the XPCS MMD window */
	.irq_index = 1,
	.transmits = true,
	.probe = xgbe_probe,
	.init = xgbe_init,
	.arm_dma = xgbe_arm_dma,
	.arm_irq = xgbe_arm_irq,
	.service = xgbe_service,
	.rearm_window = xgbe_rearm_window,
	.buffers_offset = xgbe_buffers_offset,
	.read_quiescence = xgbe_read_quiescence,
};
