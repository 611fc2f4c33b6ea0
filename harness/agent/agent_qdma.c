// SPDX-License-Identifier: GPL-2.0-only
/*
 * qDMA copy jobs through a DPIO's QBMan software portal, as a DPDK qDMA application keeps
 * them flowing: the DPIO's two regions mmapped from its VFIO device (region 0 cache-enabled,
 * with the enqueue ring; region 1 cache-inhibited, with the ring's consumer index), frame
 * lists and the source in the DMA window, one enqueue per job to the DPDMAI's request queue.
 *
 * The portal protocol is QMan 4.1's ring mode (drivers/soc/fsl/dpio/qbman-portal.c,
 * qbman_swp_enqueue_direct()): 8 entries of 64 bytes; write bytes 1..63, a barrier, then the
 * verb with the lap's valid bit; the portal's consumer index (mod 16) is at 0x840 of region 1.
 * LX2160A's QMan 5.0 memory-backed mode is not spoken (harness/twins/README.md, approximation 13).
 *
 * Type1 (an IOMMU, `dma_file` given): the window is that tmpfs file's pages, mapped with
 * VFIO_IOMMU_MAP_DMA at IOVA `phys` in the container's group (the DPIO's group is the DPDMAI's:
 * one per container, by ICID), and every address in a job is an IOVA.
 *
 * Window layout (phys, size): the first PRIVATE bytes are the tenant's own (frame lists,
 * FL_SLOTS of 128 bytes, and the source buffer); the rest takes the jobs' destinations, which
 * the canary covers (agent_qdma_ops): what lands there after the owner died is bleed.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include "agent.h"

#define EQCR_ENTRIES 8
#define EQCR_CI 0x840
#define EQ_VALID 0x80
#define EQ_CMD_RESPOND_ALWAYS 0x01
#define JOB_BYTES 1024
#define FL_SLOTS 256
#define FL_SLOT 128
#define FD_FORMAT_LIST (1u << 12)
#define FLE_FINAL (1u << 15)
#define SOURCE_PATTERN 0x3c
#define PRIVATE 0x10000          /* frame lists (32 KiB) and the source (1 KiB), page-aligned */

/* struct dpaa2_fd and struct dpaa2_fl_entry have one layout (include/soc/fsl/dpaa2-fd.h) */
struct qdma_fle {
	uint64_t addr;
	uint32_t len;
	uint16_t bpid;
	uint16_t format_offset;
	uint32_t frc;
	uint32_t ctrl;
	uint64_t flc;
};

static volatile uint8_t *map_region(struct agent_vfio_device *dev, unsigned int index)
{
	struct vfio_region_info r = { .argsz = sizeof(r), .index = index };
	void *p;

	if (ioctl(dev->device_fd, VFIO_DEVICE_GET_REGION_INFO, &r) < 0) {
		agent_json_errno("VFIO_DEVICE_GET_REGION_INFO", dev->name, errno);
		return NULL;
	}
	p = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->device_fd, (off_t)r.offset);
	if (p == MAP_FAILED) {
		agent_json_errno("mmap QBMan portal region", dev->name, errno);
		return NULL;
	}
	return p;
}

int agent_qdma_open(struct agent_qdma *q, const char *dpio, uint32_t fqid, uint64_t phys, uint64_t size,
		    const char *dma_file)
{
	memset(q, 0, sizeof(*q));
	q->fqid = fqid;
	if (size < PRIVATE + JOB_BYTES || agent_vfio_open(dpio, &q->dpio))
		return -1;
	q->cena = map_region(&q->dpio, 0);
	q->cinh = map_region(&q->dpio, 1);
	if (!q->cena || !q->cinh || agent_device_window(&q->dpio, &q->win, dma_file, phys, size))
		return -1;
	/* where the portal stands: a portal another user left keeps its index (qbman_swp_init() reads it too) */
	q->pi = *(volatile uint32_t *)(q->cinh + EQCR_CI) & (2 * EQCR_ENTRIES - 1);
	memset((void *)(q->win.va + FL_SLOTS * FL_SLOT), SOURCE_PATTERN, JOB_BYTES);
	return 0;
}

/* Lays job n's frame list into its slot of `win` (the source/destination descriptor, unused
 * here; the source; the destination); returns the list's device address. */
static uint64_t lay_frame_list(struct agent_dma_window *win, uint64_t n)
{
	uint64_t fl_off = (n % FL_SLOTS) * FL_SLOT, src = win->phys + FL_SLOTS * FL_SLOT;
	uint64_t dst = win->phys + PRIVATE + (n % ((win->size - PRIVATE) / JOB_BYTES)) * JOB_BYTES;
	volatile struct qdma_fle *fl = (volatile struct qdma_fle *)(win->va + fl_off);

	fl[0] = (struct qdma_fle){ .addr = win->phys + fl_off + 3 * sizeof(*fl), .len = 32 };
	fl[1] = (struct qdma_fle){ .addr = src, .len = JOB_BYTES };
	fl[2] = (struct qdma_fle){ .addr = dst, .len = JOB_BYTES, .format_offset = FLE_FINAL };
	return win->phys + fl_off;
}

/* Enqueues the next copy job; 1 when it was handed to the portal, 0 when the ring is full. */
int agent_qdma_enqueue(struct agent_qdma *q)
{
	unsigned int ci = *(volatile uint32_t *)(q->cinh + EQCR_CI) & (2 * EQCR_ENTRIES - 1);
	volatile uint8_t *entry = q->cena + (q->pi % EQCR_ENTRIES) * 64;
	uint8_t vb = (q->pi & EQCR_ENTRIES) ? 0 : EQ_VALID;
	struct qdma_fle fd = { .len = JOB_BYTES, .format_offset = FD_FORMAT_LIST };

	if (((q->pi - ci) & (2 * EQCR_ENTRIES - 1)) >= EQCR_ENTRIES)
		return 0;
	fd.addr = lay_frame_list(&q->win, q->enqueued);
	for (int i = 1; i < 64; i++)
		entry[i] = 0;
	*(volatile uint32_t *)(entry + 8) = q->fqid;
	memcpy((void *)(entry + 32), &fd, sizeof(fd));
	__sync_synchronize();           /* the verb last: it hands the entry to the portal */
	entry[0] = EQ_CMD_RESPOND_ALWAYS | vb;
	q->pi = (q->pi + 1) & (2 * EQCR_ENTRIES - 1);
	q->enqueued++;
	return 1;
}

/* The canary's view of the window (agent canary --compat fsl-mc,dpdmai): the destinations only.
 * The tenant's frame lists and source are not the next user's memory here; the twin counts the
 * engine's reads of them (frame list and source fetches) as DMA reads after the owner died. */
static uint64_t qdma_buffers_offset(void)
{
	return PRIVATE;
}

/*
 * No ring in the window: the jobs live in the DPDMAI's queue, and each names a frame list in the
 * window. No-IOMMU: the window is the dead tenant's own memory, its frame lists still there.
 * Type1: the canary is the next tenant's fresh memory at the same IOVAs, laid out as the same
 * application lays it when it is restarted after the crash (frame lists in their slots, its
 * source): what a stale job then finds there is the next tenant's, and where it copies, too.
 */
static void qdma_rearm_window(struct agent_dma_window *win)
{
	if (!win->iova)
		return;
	for (uint64_t n = 0; n < FL_SLOTS; n++)
		lay_frame_list(win, n);
	memset((void *)(win->va + FL_SLOTS * FL_SLOT), SOURCE_PATTERN, JOB_BYTES);
}

const struct agent_device_ops agent_qdma_ops = {
	.name = "dpaa2-qdma",
	.compatible = "fsl-mc,dpdmai",   /* no device tree node: the fsl-mc bus's object type */
	.irq_index = AGENT_NO_IRQ,
	.buffers_offset = qdma_buffers_offset,
	.rearm_window = qdma_rearm_window,
};
