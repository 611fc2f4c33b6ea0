/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vfio-hil agent: the on-target program that speaks the VFIO uAPI directly.
 * Every line it prints on stdout is one JSON object; the harness parses them.
 */
#ifndef AGENT_H
#define AGENT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- JSON lines (agent_json.c) ---------------------------------------- */
struct agent_json {
	char buf[8192];
	size_t len;
	bool first;
};

void agent_json_begin(struct agent_json *j, const char *event);
void agent_json_str(struct agent_json *j, const char *key, const char *val);
void agent_json_int(struct agent_json *j, const char *key, long long val);
void agent_json_hex(struct agent_json *j, const char *key, unsigned long long val);
void agent_json_bool(struct agent_json *j, const char *key, bool val);
void agent_json_end(struct agent_json *j);
void agent_json_errno(const char *op, const char *what, int err);

/*
 * AGENT_CHECK: like the kernel selftests' VFIO_ASSERT_*: on failure print the
 * file:line, the expression, both values in hex and errno, as one JSON line,
 * and return -1 from the calling function.
 */
void agent_check_failed(const char *file, int line, const char *expr,
			unsigned long long lhs, unsigned long long rhs, int err);

#define AGENT_CHECK_EQ(a, b) do {                                                 \
	unsigned long long __a = (unsigned long long)(a), __b = (unsigned long long)(b); \
	if (__a != __b) {                                                         \
		agent_check_failed(__FILE__, __LINE__, #a " == " #b, __a, __b, errno); \
		return -1;                                                        \
	}                                                                         \
} while (0)

#define AGENT_CHECK_IOCTL(fd, req, arg) do {                                      \
	if (ioctl((fd), (req), (arg)) < 0) {                                      \
		agent_check_failed(__FILE__, __LINE__, "ioctl(" #fd ", " #req ")", \
				   (unsigned long long)(req), 0, errno);          \
		return -1;                                                        \
	}                                                                         \
} while (0)

/* ---- generic VFIO (agent_vfio.c) -------------------------------------- */
struct agent_vfio_device {
	char name[128];        /* sysfs device name, e.g. fff50000.ethernet */
	volatile void *regs;   /* region 0, mapped by agent_session_open */
	uint64_t regs_size;
	volatile void *regs1;  /* region 1 when ops->regs1_size (XGBE's XPCS), else NULL */
	int container_fd;      /* -1 on the cdev path */
	int group_fd;          /* -1 on the cdev path */
	int device_fd;
	int iommufd;           /* -1 unless the cdev path bound one */
	bool noiommu;
	const char *path;      /* "group" or "cdev" */
};

/* Open `name` through its group (type1, else no-IOMMU) or, if the kernel offers
 * it, its /dev/vfio/devices cdev. Returns 0 and fills *dev, or -1 with a JSON
 * error line already printed. */
int agent_vfio_open(const char *name, struct agent_vfio_device *dev);
void agent_vfio_init(struct agent_vfio_device *dev, const char *name);
/* Only the group and its container (type1 or no-IOMMU), not the device: no reset runs. */
int agent_vfio_open_group(const char *name, struct agent_vfio_device *dev);
/* VFIO_IOMMU_MAP_DMA of [va, va+size) at iova in dev's container (type1 only). */
int agent_vfio_map_dma(struct agent_vfio_device *dev, volatile void *va, uint64_t iova, uint64_t size);
void agent_vfio_close(struct agent_vfio_device *dev);
/* Print the device's info, regions and IRQs as JSON lines. */
int agent_vfio_describe(struct agent_vfio_device *dev);

int agent_cmd_info(int argc, char **argv);
int agent_cmd_selftest(int argc, char **argv);

/* ---- per-device ops (agent_ops.c) -------------------------------------
 * One table per device, in the style of the kernel's
 * tools/testing/selftests/vfio drivers. Each op documents what it guarantees;
 * the core (not the device file) enforces the order: probe, then init, then
 * arm_*; read_quiescence is valid any time after probe.
 */
/* The DMA window: what the device is given as addresses (`phys`) and where the agent sees it
 * (`va`). No-IOMMU: physical memory outside Linux's, through /dev/mem, phys == the physical
 * address. Type1: the pages of a tmpfs file (--dma-file, so that another process, the canary,
 * can look at the tenant's memory) mapped at IOVA `phys` in the tenant's container. */
struct agent_dma_window {
	uint64_t phys;         /* the device's address: physical (no-IOMMU) or IOVA (type1) */
	uint64_t size;
	volatile uint8_t *va;  /* uncached mapping of the whole window */
	bool iova;             /* type1: a tenant's own pages (agent_window_map_file), `phys` an IOVA */
};

#define AGENT_NO_IRQ (~0u)

struct agent_device_ops {
	const char *name;
	const char *compatible;
	/* Bytes of register space the ops need mapped from region 0. */
	uint64_t regs_size;
	/* Bytes the ops need mapped from region 1 (0: none). A device with registers in a
	 * second window (XGBE: the XPCS) reads and writes them through agent_rd1/agent_wr1. */
	uint64_t regs1_size;
	/* The VFIO IRQ index of the interrupt the ops arm (e.g. XGBE's channel 0 is index 1),
	 * or AGENT_NO_IRQ for a device with no wired interrupt (FlexRM: MSIs only, which are
	 * DMA writes into the window). The core then registers no eventfd: the tenant
	 * services the device every report period, and IRQ counts read 0 with
	 * "wired_irq": false so the harness can tell "none seen" from "none possible". */
	unsigned int irq_index;
	/* The ops also run a transmit path (arm_dma starts it, service and rearm_window hand its
	 * descriptors back): after its owner's death such a device can read memory and send it
	 * out, which the harness captures on the device's backend. */
	bool transmits;
	/* Returns 0 if `dev` is this kind of device (reads registers, writes none). */
	int (*probe)(struct agent_vfio_device *dev);
	/* Puts the device into a known idle state; raises no interrupt, does no DMA. */
	int (*init)(struct agent_vfio_device *dev);
	/* Lays a receive ring into `win` and starts DMA into it (and, with transmits, a
	 * transmit ring of frames in `win`, started); returns at once. */
	int (*arm_dma)(struct agent_vfio_device *dev, struct agent_dma_window *win);
	/* Enables the device's interrupt sources; interrupts arrive on the VFIO eventfds. */
	int (*arm_irq)(struct agent_vfio_device *dev);
	/* Acknowledges a pending interrupt and gives consumed buffers back to the
	 * device; returns how many frames had arrived (>= 0), or -1. */
	int (*service)(struct agent_vfio_device *dev, struct agent_dma_window *win);
	/* Hands every ring entry in `win` back to the device (memory only, no
	 * register access), so that a device still running after its owner died
	 * certainly writes into the window. */
	void (*rearm_window)(struct agent_dma_window *win);
	/* First byte of `win` that is frame buffer, not ring: the canary's start. */
	uint64_t (*buffers_offset)(void);
	/* Adds to `j` (a "quiescence" line the core has begun) the registers that
	 * must read zero once the device is reset, with "irq_armed" (an interrupt
	 * source is enabled), "irq_pending" (the device drives its interrupt line
	 * now, by its own logic: status & enable) and "dma_running" (a DMA engine
	 * is started); returns how many of the registers are non-zero. Reads
	 * registers only, so it also serves on a /dev/mem mapping while nobody
	 * owns the device. */
	int (*read_quiescence)(struct agent_vfio_device *dev, struct agent_json *j);
};

/* Core, enforcing the order of ops (agent_core.c). */
enum agent_state { AGENT_CLOSED, AGENT_OPENED, AGENT_PROBED, AGENT_INITED, AGENT_ARMED };
struct agent_session {
	struct agent_vfio_device dev;
	const struct agent_device_ops *ops;
	struct agent_dma_window win;
	enum agent_state state;
	int irq_fd;            /* eventfd for IRQ index 0, -1 until registered */
	const char *dma_file;  /* type1: the tmpfs file whose pages back the window (--dma-file) */
};
/* Type1: the tenant's DMA memory when no --dma-file names one. */
#define AGENT_DMA_FILE_DEFAULT "/tmp/vfio-hil-dma-tenant"
/* A window over a file's pages (created if missing, `size` bytes): type1's DMA memory. */
int agent_window_map_file(struct agent_dma_window *win, const char *path, uint64_t iova, uint64_t size);
/* The DMA window as `dev` sees it: physical (no-IOMMU) or dma_file's pages mapped at IOVA phys (type1). */
int agent_device_window(struct agent_vfio_device *dev, struct agent_dma_window *win, const char *dma_file,
			uint64_t phys, uint64_t size);
int agent_session_open(struct agent_session *s, const char *name, const char *compatible);
int agent_session_irq_register(struct agent_session *s);
int agent_session_irq_register_again(struct agent_session *s);
int agent_session_irq_unmask(struct agent_session *s);
int agent_session_map_window(struct agent_dma_window *win, uint64_t phys, uint64_t size);
int agent_parse_window(const char *text, uint64_t *phys, uint64_t *size);   /* "PHYS:SIZE" */
int agent_session_arm(struct agent_session *s, uint64_t phys, uint64_t size);
volatile uint32_t *agent_regs(struct agent_vfio_device *dev);

/* 32-bit register access at byte offset `off` of region 0, for the device files. */
static inline uint32_t agent_rd(struct agent_vfio_device *dev, unsigned int off)
{
	return ((volatile uint32_t *)dev->regs)[off / 4];
}

static inline void agent_wr(struct agent_vfio_device *dev, unsigned int off, uint32_t val)
{
	((volatile uint32_t *)dev->regs)[off / 4] = val;
}
static inline uint32_t agent_rd1(struct agent_vfio_device *dev, unsigned int off)
{
	return ((volatile uint32_t *)dev->regs1)[off / 4];
}

static inline void agent_wr1(struct agent_vfio_device *dev, unsigned int off, uint32_t val)
{
	((volatile uint32_t *)dev->regs1)[off / 4] = val;
}

/* One "quiescence" line (event name `event`, with "mono_ms") from ops->read_quiescence. */
int agent_quiescence(const struct agent_device_ops *ops, struct agent_vfio_device *dev, const char *event);
int agent_cmd_tenant(int argc, char **argv);
int agent_cmd_next_tenant(int argc, char **argv);
int agent_cmd_canary(int argc, char **argv);
int agent_cmd_reset_check(int argc, char **argv);
int agent_cmd_clock(int argc, char **argv);
int agent_cmd_iommu_attach(int argc, char **argv);
/* qDMA copy jobs through a DPIO's QBMan portal (agent_qdma.c) */
struct agent_qdma {
	struct agent_vfio_device dpio;
	volatile uint8_t *cena, *cinh;   /* the DPIO's regions 0 and 1, mmapped */
	struct agent_dma_window win;
	uint32_t fqid;                   /* the DPDMAI's request (TX) queue */
	unsigned int pi;                 /* producer index, mod 16 (the ring's 8 entries and the lap bit) */
	uint64_t enqueued;
};
/* No-IOMMU: the window is physical memory (/dev/mem); type1: dma_file's pages mapped at IOVA phys. */
int agent_qdma_open(struct agent_qdma *q, const char *dpio, uint32_t fqid, uint64_t phys, uint64_t size,
		    const char *dma_file);
int agent_qdma_enqueue(struct agent_qdma *q);

int agent_cmd_fslmc_tenant(int argc, char **argv);
int agent_cmd_fslmc_restool(int argc, char **argv);
int agent_cmd_fslmc_query(int argc, char **argv);
int agent_cmd_fslmc_reset(int argc, char **argv);
int agent_cmd_fslmc_next_tenant(int argc, char **argv);

/* Command-line and timing helpers every subcommand shares (agent_core.c). */
const char *agent_arg(int argc, char **argv, const char *key, const char *def);
bool agent_has_flag(int argc, char **argv, const char *flag);
/* CLOCK_MONOTONIC in ms: the clock every timeline event carries as "mono_ms". */
uint64_t agent_now_ms(void);
/* Print a "dying" line and die: "segv" crashes, "exit" leaves without cleanup, else SIGKILL. */
void agent_die_as(const char *how);
/* Fork a child that keeps copies of every fd and does nothing (a "holder" line gives its pid),
 * so that the device keeps an owner after the parent dies; 0, or -1 with an error line. */
int agent_fork_holder(void);

const struct agent_device_ops *agent_ops_find(const char *compatible);
void agent_ops_list(void);

#endif
