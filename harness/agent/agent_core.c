// SPDX-License-Identifier: GPL-2.0-only
/*
 * The core: sessions that enforce the order of device ops (open, probe, init,
 * arm), IRQ eventfds, the /dev/mem DMA window, and the commands built on them.
 * Device files only describe registers; everything a test relies on happens here.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "agent.h"

#define CANARY_DEFAULT 0xa5
#define LIVE_READ_MS 500        /* the tenant's one register read while it holds the device */

const char *agent_arg(int argc, char **argv, const char *key, const char *def)
{
	int i;

	for (i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], key))
			return argv[i + 1];
	return def;
}

bool agent_has_flag(int argc, char **argv, const char *flag)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], flag))
			return true;
	return false;
}

/* CLOCK_MONOTONIC in ms: every event of a timeline (tenant, death, canary,
 * next tenant) carries it as "mono_ms", so the host can line them up. */
uint64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One big-endian cell count file of a device-tree node (#address-cells, #size-cells). */
static int of_cells(const char *path, int def)
{
	unsigned char b[4];
	FILE *f = fopen(path, "rb");
	int n;

	if (!f)
		return def;
	n = (int)fread(b, 1, 4, f);
	fclose(f);
	return n == 4 ? (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) : def;
}

/* The base addresses of a platform device's register windows, in the order of its
 * device-tree "reg" (region 0, region 1, ...), as vfio-platform numbers its regions;
 * returns how many (at most max), or -1. */
static int of_reg_bases(const char *name, uint64_t *bases, int max)
{
	char path[256];
	unsigned char buf[512];
	int ac, sc, n, i, k, count = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/platform/devices/%s/of_node/../#address-cells", name);
	ac = of_cells(path, 2);
	snprintf(path, sizeof(path), "/sys/bus/platform/devices/%s/of_node/../#size-cells", name);
	sc = of_cells(path, 1);
	snprintf(path, sizeof(path), "/sys/bus/platform/devices/%s/of_node/reg", name);
	f = fopen(path, "rb");
	if (!f || ac < 1 || ac > 2) {
		if (f)
			fclose(f);
		agent_json_errno("open", path, errno);
		return -1;
	}
	n = (int)fread(buf, 1, sizeof(buf), f);
	fclose(f);
	for (i = 0; count < max && i + 4 * (ac + sc) <= n; i += 4 * (ac + sc), count++) {
		bases[count] = 0;
		for (k = 0; k < 4 * ac; k++)
			bases[count] = bases[count] << 8 | buf[i + k];
	}
	return count;
}

/* "PHYS:SIZE", e.g. 0x38000000:0x100000 */
int agent_parse_window(const char *text, uint64_t *phys, uint64_t *size)
{
	char *end;

	if (!text)
		return -1;
	*phys = strtoull(text, &end, 0);
	if (*end != ':')
		return -1;
	*size = strtoull(end + 1, &end, 0);
	return (*end || !*size) ? -1 : 0;
}

volatile uint32_t *agent_regs(struct agent_vfio_device *dev)
{
	return (volatile uint32_t *)dev->regs;
}

int agent_session_open(struct agent_session *s, const char *name, const char *compatible)
{
	struct vfio_region_info r = { .argsz = sizeof(r), .index = 0 };
	void *map;

	memset(s, 0, sizeof(*s));
	s->irq_fd = -1;
	s->ops = agent_ops_find(compatible);
	if (!s->ops || !s->ops->probe) {     /* no ops, or canary-only ops (qDMA: fslmc-tenant drives it) */
		agent_json_errno("ops", compatible, ENOENT);
		return -1;
	}
	if (agent_vfio_open(name, &s->dev))
		return -1;
	s->state = AGENT_OPENED;
	AGENT_CHECK_IOCTL(s->dev.device_fd, VFIO_DEVICE_GET_REGION_INFO, &r);
	if (r.size < s->ops->regs_size) {
		agent_check_failed(__FILE__, __LINE__, "region0.size >= ops->regs_size", r.size, s->ops->regs_size, 0);
		return -1;
	}
	map = mmap(NULL, s->ops->regs_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->dev.device_fd, (off_t)r.offset);
	if (map == MAP_FAILED) {
		agent_json_errno("mmap region 0", name, errno);
		return -1;
	}
	s->dev.regs = map;
	s->dev.regs_size = s->ops->regs_size;
	if (s->ops->regs1_size) {
		struct vfio_region_info r1 = { .argsz = sizeof(r1), .index = 1 };

		AGENT_CHECK_IOCTL(s->dev.device_fd, VFIO_DEVICE_GET_REGION_INFO, &r1);
		if (r1.size < s->ops->regs1_size) {
			agent_check_failed(__FILE__, __LINE__, "region1.size >= ops->regs1_size", r1.size,
					   s->ops->regs1_size, 0);
			return -1;
		}
		map = mmap(NULL, s->ops->regs1_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->dev.device_fd,
			   (off_t)r1.offset);
		if (map == MAP_FAILED) {
			agent_json_errno("mmap region 1", name, errno);
			return -1;
		}
		s->dev.regs1 = map;
	}
	return 0;
}

static int session_probe_init(struct agent_session *s, bool init)
{
	AGENT_CHECK_EQ(s->state, AGENT_OPENED);
	if (s->ops->probe(&s->dev)) {
		agent_json_errno("probe", s->ops->name, ENODEV);
		return -1;
	}
	s->state = AGENT_PROBED;
	if (init) {
		AGENT_CHECK_EQ(s->ops->init(&s->dev), 0);
		s->state = AGENT_INITED;
	}
	return 0;
}

static bool wired_irq(const struct agent_session *s)
{
	return s->ops->irq_index != AGENT_NO_IRQ;
}

int agent_session_irq_register(struct agent_session *s)
{
	AGENT_CHECK_EQ(s->state >= AGENT_OPENED, 1);
	if (!wired_irq(s))
		return 0;               /* nothing to hear: wait_irq() then only sleeps */
	s->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->irq_fd < 0) {
		agent_json_errno("eventfd", "irq 0", errno);
		return -1;
	}
	return agent_session_irq_register_again(s);
}

/* Re-register the same eventfd as trigger (the ioctl a kill should land in). */
int agent_session_irq_register_again(struct agent_session *s)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;

	if (!wired_irq(s))
		return 0;
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = s->ops->irq_index;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &s->irq_fd, sizeof(int32_t));
	AGENT_CHECK_IOCTL(s->dev.device_fd, VFIO_DEVICE_SET_IRQS, set);
	return 0;
}

/* Level IRQs are masked by vfio when they fire; unmask to hear the next one. */
int agent_session_irq_unmask(struct agent_session *s)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
		.index = s->ops->irq_index, .start = 0, .count = 1,
	};

	if (!wired_irq(s))
		return 0;

	AGENT_CHECK_IOCTL(s->dev.device_fd, VFIO_DEVICE_SET_IRQS, &set);
	return 0;
}

int agent_session_map_window(struct agent_dma_window *win, uint64_t phys, uint64_t size)
{
	int fd = open("/dev/mem", O_RDWR | O_SYNC);
	void *va;

	if (fd < 0) {
		agent_json_errno("open", "/dev/mem", errno);
		return -1;
	}
	va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)phys);
	close(fd);
	if (va == MAP_FAILED) {
		agent_json_errno("mmap /dev/mem", "dma window", errno);
		return -1;
	}
	win->phys = phys;
	win->size = size;
	win->va = va;
	win->iova = false;
	return 0;
}

int agent_window_map_file(struct agent_dma_window *win, const char *path, uint64_t iova, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	void *va;

	if (fd < 0 || ftruncate(fd, (off_t)size)) {
		agent_json_errno("open", path, errno);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (va == MAP_FAILED) {
		agent_json_errno("mmap", path, errno);
		return -1;
	}
	win->phys = iova;
	win->size = size;
	win->va = va;
	win->iova = true;
	return 0;
}


/* The window as `dev` will see it: no-IOMMU, physical memory through /dev/mem; type1, the pages
 * of dma_file (NULL: AGENT_DMA_FILE_DEFAULT) mapped at IOVA `phys` in dev's container before the
 * device runs. */
int agent_device_window(struct agent_vfio_device *dev, struct agent_dma_window *win, const char *dma_file,
			uint64_t phys, uint64_t size)
{
	if (dev->noiommu)
		return agent_session_map_window(win, phys, size);
	if (agent_window_map_file(win, dma_file ? dma_file : AGENT_DMA_FILE_DEFAULT, phys, size))
		return -1;
	return agent_vfio_map_dma(dev, win->va, phys, size);
}

int agent_session_arm(struct agent_session *s, uint64_t phys, uint64_t size)
{
	AGENT_CHECK_EQ(s->state, AGENT_INITED);
	if (agent_device_window(&s->dev, &s->win, s->dma_file, phys, size))
		return -1;
	AGENT_CHECK_EQ(s->ops->arm_dma(&s->dev, &s->win), 0);
	if (s->irq_fd < 0 && agent_session_irq_register(s))
		return -1;
	AGENT_CHECK_EQ(s->ops->arm_irq(&s->dev), 0);
	s->state = AGENT_ARMED;
	return 0;
}

int agent_quiescence(const struct agent_device_ops *ops, struct agent_vfio_device *dev, const char *event)
{
	struct agent_json j;
	int busy;

	agent_json_begin(&j, event);
	agent_json_int(&j, "mono_ms", (long long)agent_now_ms());
	busy = ops->read_quiescence(dev, &j);
	agent_json_end(&j);
	return busy;
}

/* Waits up to timeout_ms for the IRQ eventfd; returns interrupts seen (0 on timeout), -1 on error.
 * Without a wired IRQ there is no eventfd (-1, which poll() ignores): it just sleeps. */
static int wait_irq(struct agent_session *s, int timeout_ms)
{
	struct pollfd p = { .fd = s->irq_fd, .events = POLLIN };
	uint64_t n;
	int rc = poll(&p, 1, timeout_ms);

	if (rc <= 0)
		return rc < 0 && errno != EINTR ? -1 : 0;
	if (read(s->irq_fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return (int)n;
}

void agent_die_as(const char *how)
{
	struct agent_json j;

	agent_json_begin(&j, "dying");
	agent_json_str(&j, "how", how);
	agent_json_int(&j, "pid", getpid());
	agent_json_int(&j, "mono_ms", (long long)agent_now_ms());
	agent_json_end(&j);
	if (!strcmp(how, "segv"))
		*(volatile int *)0 = 0;         /* crash ourselves, as a buggy driver would */
	else if (!strcmp(how, "exit"))
		_exit(0);                       /* leave without any cleanup */
	raise(SIGKILL);
}

int agent_fork_holder(void)
{
	struct agent_json j;
	pid_t child = fork();

	if (child < 0) {
		agent_json_errno("fork", "holder", errno);
		return -1;
	}
	if (child == 0) {               /* the holder: owns copies of every fd, does nothing */
		for (;;)
			pause();
	}
	agent_json_begin(&j, "holder");
	agent_json_int(&j, "pid", child);
	agent_json_end(&j);
	return 0;
}

/*
 * tenant: arm RX DMA + IRQ and hold until killed, reporting progress.
 * --device NAME --compat C --window PHYS:SIZE [--report-ms 200] [--die-after-ms N --die-how segv|exit|kill]
 * [--fork-holder]  fork a child that keeps every fd open and sleeps (prints its pid)
 * [--ioctl-loop]   keep re-registering the IRQ eventfd and querying region 0, so a
 *                  kill lands inside VFIO_DEVICE_SET_IRQS / GET_REGION_INFO
 */
int agent_cmd_tenant(int argc, char **argv)
{
	const char *name = agent_arg(argc, argv, "--device", NULL), *compat = agent_arg(argc, argv, "--compat", NULL);
	int report_ms = atoi(agent_arg(argc, argv, "--report-ms", "200"));
	long die_after = atol(agent_arg(argc, argv, "--die-after-ms", "-1"));
	const char *die_how = agent_arg(argc, argv, "--die-how", "kill");
	bool ioctl_loop = agent_has_flag(argc, argv, "--ioctl-loop");
	uint64_t phys, size, t0, last = 0, irqs = 0, frames = 0, ioctls = 0;
	bool live_read = false;
	struct agent_session s;
	struct agent_json j;

	if (!name || !compat || agent_parse_window(agent_arg(argc, argv, "--window", NULL), &phys, &size)) {
		fprintf(stderr, "tenant: --device, --compat and --window PHYS:SIZE are required\n");
		return 2;
	}
	if (agent_session_open(&s, name, compat))
		return 1;
	s.dma_file = agent_arg(argc, argv, "--dma-file", NULL);
	if (session_probe_init(&s, true) || agent_session_arm(&s, phys, size))
		return 1;
	t0 = agent_now_ms();
	agent_json_begin(&j, "armed");
	agent_json_int(&j, "pid", getpid());
	agent_json_hex(&j, "window", phys);
	agent_json_bool(&j, "iova", !s.dev.noiommu);
	agent_json_bool(&j, "wired_irq", wired_irq(&s));
	agent_json_bool(&j, "transmits", s.ops->transmits);
	agent_json_end(&j);
	agent_quiescence(s.ops, &s.dev, "quiescence");
	if (agent_has_flag(argc, argv, "--fork-holder") && agent_fork_holder())
		return 1;
	for (;;) {
		int n = wait_irq(&s, ioctl_loop ? 0 : report_ms);

		if (ioctl_loop) {
			struct vfio_region_info r = { .argsz = sizeof(r), .index = 0 };

			if (ioctl(s.dev.device_fd, VFIO_DEVICE_GET_REGION_INFO, &r) || agent_session_irq_register_again(&s))
				return 1;
			ioctls += wired_irq(&s) ? 2 : 1;
		}

		if (n < 0)
			return 1;
		if (n > 0 || !wired_irq(&s)) {  /* no IRQ to wait for: service every period */
			int f = s.ops->service(&s.dev, &s.win);

			irqs += (uint64_t)n;
			frames += f > 0 ? (uint64_t)f : 0;
			if (n > 0 && agent_session_irq_unmask(&s))
				return 1;
		}
		if (agent_now_ms() - last >= (uint64_t)report_ms) {
			last = agent_now_ms();
			agent_json_begin(&j, "progress");
			agent_json_int(&j, "t_ms", (long long)(last - t0));
			agent_json_int(&j, "mono_ms", (long long)last);
			agent_json_int(&j, "irqs", (long long)irqs);
			agent_json_int(&j, "frames", (long long)frames);
			if (ioctl_loop)
				agent_json_int(&j, "ioctls", (long long)ioctls);
			agent_json_end(&j);
		}
		/* Once, half way through the hold: is the device still doing what it was armed to do?
		 * A device reset under its live owner (a handler that returned before its reset
		 * finished) reads idle here; that is the kernel's doing, not a lab without traffic. */
		if (!live_read && agent_now_ms() - t0 >= LIVE_READ_MS) {
			agent_quiescence(s.ops, &s.dev, "live");
			live_read = true;
		}
		if (die_after >= 0 && agent_now_ms() - t0 >= (uint64_t)die_after)
			agent_die_as(die_how);
	}
}

/* Timeline samples are at least this far apart, so an IRQ storm stays a few lines. */
#define SAMPLE_MIN_MS 10

/* One point of the next tenant's cumulative IRQ count; returns `mono`. */
static uint64_t irq_sample(uint64_t mono, long long irqs)
{
	struct agent_json j;

	agent_json_begin(&j, "irq_sample");
	agent_json_int(&j, "mono_ms", (long long)mono);
	agent_json_int(&j, "irqs", irqs);
	agent_json_end(&j);
	return mono;
}

/*
 * next-tenant: open, register the IRQ eventfd before touching anything, count
 * interrupts for --watch-ms, then read the quiescence registers.
 */
int agent_cmd_next_tenant(int argc, char **argv)
{
	const char *name = agent_arg(argc, argv, "--device", NULL), *compat = agent_arg(argc, argv, "--compat", NULL);
	int watch_ms = atoi(agent_arg(argc, argv, "--watch-ms", "2000"));
	long long first = -1, irqs = 0;
	struct agent_session s;
	struct agent_json j;
	uint64_t t0, sampled = 0;

	if (!name || !compat) {
		fprintf(stderr, "next-tenant: --device and --compat are required\n");
		return 2;
	}
	if (agent_session_open(&s, name, compat) || agent_session_irq_register(&s))
		return 1;
	t0 = agent_now_ms();
	irq_sample(t0, 0);
	while (agent_now_ms() - t0 < (uint64_t)watch_ms && irqs < 1000) {
		int n = wait_irq(&s, 50);

		if (n < 0)
			return 1;
		if (n > 0) {
			if (first < 0)
				first = (long long)(agent_now_ms() - t0);
			irqs += n;
			if (agent_now_ms() - sampled >= SAMPLE_MIN_MS)
				sampled = irq_sample(agent_now_ms(), irqs);
			if (agent_session_irq_unmask(&s))
				return 1;
		}
	}
	irq_sample(agent_now_ms(), irqs);
	if (session_probe_init(&s, false))
		return 1;
	agent_json_begin(&j, "next_tenant");
	agent_json_int(&j, "irqs", irqs);
	agent_json_int(&j, "first_irq_ms", first);
	agent_json_int(&j, "watch_ms", watch_ms);
	agent_json_bool(&j, "wired_irq", wired_irq(&s));
	agent_json_end(&j);
	agent_quiescence(s.ops, &s.dev, "quiescence");
	return 0;
}

/* Writes the canary over the window's buffers and hands the ring back to the device. */
static void canary_fill(const struct agent_device_ops *ops, struct agent_dma_window *win, uint8_t pattern)
{
	uint64_t off;

	for (off = ops->buffers_offset(); off < win->size; off++)
		win->va[off] = pattern;
	ops->rearm_window(win);
}

/* Counts canary bytes no longer equal to `pattern`; *first gets the first such offset (or UINT64_MAX). */
static uint64_t canary_changed(const struct agent_device_ops *ops, struct agent_dma_window *win, uint8_t pattern,
			       uint64_t *first)
{
	uint64_t off, changed = 0;

	*first = UINT64_MAX;
	for (off = ops->buffers_offset(); off < win->size; off++) {
		if (win->va[off] != pattern) {
			if (!changed)
				*first = off;
			changed++;
		}
	}
	return changed;
}

static void canary_report(const char *mode, const struct agent_device_ops *ops, struct agent_dma_window *win,
			  uint64_t changed, uint64_t first)
{
	struct agent_json j;

	agent_json_begin(&j, "canary");
	agent_json_str(&j, "mode", mode);
	agent_json_hex(&j, "window", win->phys);
	agent_json_int(&j, "bytes", (long long)(win->size - ops->buffers_offset()));
	agent_json_int(&j, "changed", (long long)changed);
	agent_json_int(&j, "first_changed_offset", first == UINT64_MAX ? -1 : (long long)first);
	agent_json_int(&j, "mono_ms", (long long)agent_now_ms());
	agent_json_end(&j);
}

/*
 * canary fill|check|watch --compat C --window PHYS:SIZE [--pattern 0xa5]
 * [--ms 1000 --every 100] [--regs-of DEVICE]: through /dev/mem only; the VFIO
 * device is never opened, so no reset is triggered. fill also hands the ring
 * back to the device (memory only). watch is fill, then a "canary_sample" line
 * (mono_ms, changed) every --every ms for --ms, then the final check line.
 * With --regs-of (the platform device, whose tree says where its registers are), watch also reads the device's
 * interrupt and DMA registers through /dev/mem at each sample ("gap_regs"
 * lines): what the device does while nobody owns it, before anyone opens it
 * (an open would run the reset handler again).
 * Type1 (--dma-file PATH, the window an IOVA:SIZE): the canary is a tenant's memory, PATH's pages;
 * with --iova-of DEVICE the next tenant's own, mapped at those IOVAs before it opens DEVICE.
 */
int agent_cmd_canary(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *compat = agent_arg(argc, argv, "--compat", NULL);
	unsigned int pattern = (unsigned int)strtoul(agent_arg(argc, argv, "--pattern", "0xa5"), NULL, 0) & 0xff;
	int watch_ms = atoi(agent_arg(argc, argv, "--ms", "1000")), every_ms = atoi(agent_arg(argc, argv, "--every", "100"));
	const struct agent_device_ops *ops = compat ? agent_ops_find(compat) : NULL;
	struct agent_dma_window win, regs_map;
	struct agent_vfio_device regs_dev = { .regs = NULL }, group;
	const char *dma_file = agent_arg(argc, argv, "--dma-file", NULL), *iova_of = agent_arg(argc, argv, "--iova-of", NULL);
	struct agent_json j;
	uint64_t phys, size, changed, first = UINT64_MAX, t0;

	if (!ops || agent_parse_window(agent_arg(argc, argv, "--window", NULL), &phys, &size) || every_ms <= 0 ||
	    (strcmp(mode, "fill") && strcmp(mode, "check") && strcmp(mode, "watch"))) {
		fprintf(stderr, "canary fill|check|watch --compat C --window PHYS:SIZE [--pattern 0xa5] "
			"[--ms 1000 --every 100] [--regs-of DEVICE] [--dma-file PATH [--iova-of DEVICE]]\n");
		return 2;
	}
	if (dma_file) {
		/* Type1: the window is a tenant's own memory, a tmpfs file. With --iova-of DEVICE it is a
		 * fresh one, the next tenant's, mapped at the dead tenant's IOVAs in a container of
		 * DEVICE's group before anyone opens the device (whose open would reset it). */
		if (iova_of) {
			agent_vfio_init(&group, iova_of);
			unlink(dma_file);
			if (agent_vfio_open_group(iova_of, &group))
				return 1;
		}
		if (agent_window_map_file(&win, dma_file, phys, size))
			return 1;
		if (iova_of && agent_vfio_map_dma(&group, win.va, phys, size))
			return 1;
	} else if (agent_session_map_window(&win, phys, size)) {
		return 1;
	}
	if (agent_arg(argc, argv, "--regs-of", NULL)) {
		uint64_t bases[2];
		int n = of_reg_bases(agent_arg(argc, argv, "--regs-of", NULL), bases, 2);

		if (n < 1 || (ops->regs1_size && n < 2)) {
			fprintf(stderr, "canary: %s has %d register windows in its device tree, %s needs %d\n",
				agent_arg(argc, argv, "--regs-of", NULL), n, ops->name, ops->regs1_size ? 2 : 1);
			return 1;
		}
		if (agent_session_map_window(&regs_map, bases[0], ops->regs_size))
			return 1;
		regs_dev.regs = regs_map.va;
		regs_dev.regs_size = ops->regs_size;
		if (ops->regs1_size) {
			if (agent_session_map_window(&regs_map, bases[1], ops->regs1_size))
				return 1;
			regs_dev.regs1 = regs_map.va;
		}
	}
	if (!strcmp(mode, "check")) {
		changed = canary_changed(ops, &win, (uint8_t)pattern, &first);
		canary_report("check", ops, &win, changed, first);
		return 0;
	}
	canary_fill(ops, &win, (uint8_t)pattern);
	canary_report("fill", ops, &win, 0, UINT64_MAX);
	if (!strcmp(mode, "fill"))
		return 0;
	t0 = agent_now_ms();
	while (agent_now_ms() - t0 < (uint64_t)watch_ms) {
		usleep((useconds_t)every_ms * 1000);
		changed = canary_changed(ops, &win, (uint8_t)pattern, &first);
		agent_json_begin(&j, "canary_sample");
		agent_json_int(&j, "mono_ms", (long long)agent_now_ms());
		agent_json_int(&j, "changed", (long long)changed);
		agent_json_end(&j);
		if (regs_dev.regs)
			agent_quiescence(ops, &regs_dev, "gap_regs");
	}
	changed = canary_changed(ops, &win, (uint8_t)pattern, &first);
	canary_report("check", ops, &win, changed, first);
	return 0;
}

/* clock: the CLOCK_MONOTONIC ms that timeline events carry (marks a kill the shell sent). */
int agent_cmd_clock(int argc, char **argv)
{
	struct agent_json j;

	(void)argc;
	(void)argv;
	agent_json_begin(&j, "clock");
	agent_json_int(&j, "mono_ms", (long long)agent_now_ms());
	agent_json_end(&j);
	return 0;
}

/*
 * reset-check: arm DMA+IRQ, issue VFIO_DEVICE_RESET, read the quiescence
 * registers, then refill the canary (ring handed back) and watch --watch-ms for
 * DMA while the device is still open.
 */
int agent_cmd_reset_check(int argc, char **argv)
{
	const char *name = agent_arg(argc, argv, "--device", NULL), *compat = agent_arg(argc, argv, "--compat", NULL);
	int watch_ms = atoi(agent_arg(argc, argv, "--watch-ms", "2000"));
	unsigned int pattern = CANARY_DEFAULT;
	struct agent_session s;
	struct agent_json j;
	uint64_t phys, size, changed, first, t0;
	long long irqs = 0;
	int rc;

	if (!name || !compat || agent_parse_window(agent_arg(argc, argv, "--window", NULL), &phys, &size)) {
		fprintf(stderr, "reset-check: --device, --compat and --window PHYS:SIZE are required\n");
		return 2;
	}
	if (agent_session_open(&s, name, compat))
		return 1;
	s.dma_file = agent_arg(argc, argv, "--dma-file", NULL);
	if (session_probe_init(&s, true) || agent_session_arm(&s, phys, size))
		return 1;
	agent_quiescence(s.ops, &s.dev, "quiescence");
	rc = ioctl(s.dev.device_fd, VFIO_DEVICE_RESET);
	agent_json_begin(&j, "reset");
	agent_json_int(&j, "rc", rc);
	agent_json_int(&j, "errno", rc ? errno : 0);
	agent_json_end(&j);
	if (rc)
		return 1;
	agent_quiescence(s.ops, &s.dev, "quiescence");
	canary_fill(s.ops, &s.win, (uint8_t)pattern);
	/* Interrupts from before the reset are still counted in the eventfd: drain
	 * them, then unmask. A line still asserted fires again on unmask, so an
	 * interrupt the reset failed to stop is still seen. */
	wait_irq(&s, 0);
	if (agent_session_irq_unmask(&s))
		return 1;
	t0 = agent_now_ms();
	while (agent_now_ms() - t0 < (uint64_t)watch_ms) {
		int n = wait_irq(&s, 50);

		if (n < 0)
			return 1;
		irqs += n;
	}
	changed = canary_changed(s.ops, &s.win, (uint8_t)pattern, &first);
	agent_json_begin(&j, "after_reset");
	agent_json_int(&j, "watch_ms", watch_ms);
	agent_json_int(&j, "canary_changed", (long long)changed);
	agent_json_int(&j, "irqs", irqs);
	agent_json_bool(&j, "wired_irq", wired_irq(&s));
	agent_json_end(&j);
	return 0;
}
