// SPDX-License-Identifier: GPL-2.0-only
/*
 * fsl-mc (DPAA2) tenants: a userspace driver of a child container bound to vfio-fsl-mc, as
 * DPDK's fslmc bus is one. Everything on DPAA2 is done with Management Complex commands: 64
 * bytes, 8 little-endian words (a header: status in byte 2, token in bytes 4-5, cmd_id =
 * id << 4 | version in bytes 6-7; then 7 parameters).
 *
 * Two ways to send one, both the kernel's own:
 * - the container's DPRC region through its VFIO device fd: one write() of the 64 bytes (the
 *   kernel copies it into the container's portal and polls for the answer, vfio_fsl_mc_write()),
 *   then one read() of the answer; the region cannot be mmapped;
 * - a DPMCP's portal, mmapped from its VFIO device: parameters, a barrier, the header, then
 *   polling the status, as mc_send_command() does.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "agent.h"

#define MC_STATUS_READY 1
#define MC_DEADLINE_MS 5000
#define MC_CLOSE 0x800
#define MC_ENABLE 0x002
#define MC_IS_ENABLED 0x006
#define MC_SET_IRQ_ENABLE 0x012
#define MC_GET_IRQ_ENABLE 0x013
#define MC_GET_CONTAINER_ID 0x830
#define MC_DPDMAI_GET_TX_QUEUE 0x1a2
#define QDMA_JOBS_PER_TICK 1     /* one job per 10 ms tick: the pace the engine runs them (harness/twins/qdma.py) */
#define QDMA_BACKLOG 300         /* jobs queued before the tenant reports itself armed: 3 s of work */

struct mc_portal {
	int fd;                  /* the VFIO device fd */
	uint64_t offset;         /* region 0's offset in it (write()/read() transport) */
	volatile uint64_t *map;  /* region 0 mmapped (DPMCP transport), or NULL */
};

struct mc_answer {
	int status;              /* the MC's status, or -errno when the kernel refused the transfer */
	uint16_t token;
	uint64_t p[7];
};

/* The open command's id of each object type (drivers/bus/fsl-mc/fsl-mc-private.h). */
static int open_id(const char *type)
{
	static const char *const types[] = { "dpni", "dpsw", "dpio", "dpbp", "dprc", "dpdmux", "dpci",
					     "dpcon", "dpseci", "dpaiop", "dpmcp", "dpmac", "dpdcei", "dpdmai" };

	for (unsigned int i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(types[i], type))
			return 0x801 + (int)i;
	return -1;
}

static uint64_t mc_header(unsigned int id, uint16_t token)
{
	return (uint64_t)MC_STATUS_READY << 16 | (uint64_t)token << 32 | (uint64_t)((id << 4) | 1) << 48;
}

/* One MC command; the answer's status is the MC's, or -errno if the kernel refused it. */
static struct mc_answer mc_send(struct mc_portal *pt, unsigned int id, uint16_t token, const uint64_t *params, int n)
{
	struct mc_answer a = { .status = -EIO };
	uint64_t cmd[8] = { mc_header(id, token) };
	uint64_t t0 = agent_now_ms();

	for (int i = 0; i < n && i < 7; i++)
		cmd[1 + i] = params[i];
	if (pt->map) {
		for (int i = 7; i >= 1; i--)
			pt->map[i] = cmd[i];
		__sync_synchronize();          /* the header last: it hands the command to the MC */
		pt->map[0] = cmd[0];
		while (((pt->map[0] >> 16) & 0xff) == MC_STATUS_READY) {
			if (agent_now_ms() - t0 > MC_DEADLINE_MS) {
				a.status = -ETIMEDOUT;
				return a;
			}
			usleep(100);
		}
		__sync_synchronize();
		for (int i = 0; i < 8; i++)
			cmd[i] = pt->map[i];
	} else {
		if (pwrite(pt->fd, cmd, 64, (off_t)pt->offset) != 64 ||
		    pread(pt->fd, cmd, 64, (off_t)pt->offset) != 64) {
			a.status = -errno;
			return a;
		}
	}
	a.status = (int)((cmd[0] >> 16) & 0xff);
	a.token = (uint16_t)(cmd[0] >> 32);
	for (int i = 0; i < 7; i++)
		a.p[i] = cmd[1 + i];
	return a;
}

static int portal_open(const char *name, bool map, struct agent_vfio_device *dev, struct mc_portal *pt)
{
	struct vfio_region_info r = { .argsz = sizeof(r), .index = 0 };

	if (agent_vfio_open(name, dev))
		return -1;
	AGENT_CHECK_IOCTL(dev->device_fd, VFIO_DEVICE_GET_REGION_INFO, &r);
	pt->fd = dev->device_fd;
	pt->offset = r.offset;
	pt->map = NULL;
	if (map) {
		void *p = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->device_fd, (off_t)r.offset);

		if (p == MAP_FAILED) {
			agent_json_errno("mmap region 0", name, errno);
			return -1;
		}
		pt->map = p;
	}
	return 0;
}

/*
 * The harness's probe portal (fslmc-query, fslmc-reset --portal): a DPMCP bound to vfio-fsl-mc
 * (portal_open), or, written "phys:ADDR", an MC portal no driver holds, mapped through /dev/mem.
 * The second is for type1: there the root container's objects are one IOMMU group with dprc.1,
 * which the kernel's own driver holds, so VFIO cannot take a DPMCP of the root (the group is not
 * viable), and a container of its own could not see the tenant's objects (a container sees only
 * its own and its children's). The portal is the MC's; the commands are the same.
 */
static int probe_open(const char *name, struct agent_vfio_device *dev, struct mc_portal *pt)
{
	uint64_t phys;
	void *p;
	int fd;

	if (strncmp(name, "phys:", 5))
		return portal_open(name, true, dev, pt);
	agent_vfio_init(dev, name);
	phys = strtoull(name + 5, NULL, 0);
	fd = open("/dev/mem", O_RDWR | O_SYNC);
	if (fd < 0) {
		agent_json_errno("open /dev/mem", name, errno);
		return -1;
	}
	p = mmap(NULL, 0x40, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)phys);
	close(fd);
	if (p == MAP_FAILED) {
		agent_json_errno("mmap MC portal through /dev/mem", name, errno);
		return -1;
	}
	pt->fd = -1;
	pt->offset = 0;
	pt->map = p;
	return 0;
}

/* "type.id" into its open command id and object id. */
static int parse_object(const char *name, int *id_out, int *obj_out)
{
	char type[16];
	const char *dot = name ? strchr(name, '.') : NULL;

	if (!dot || dot - name >= (long)sizeof(type))
		return -1;
	memcpy(type, name, (size_t)(dot - name));
	type[dot - name] = '\0';
	*id_out = open_id(type);
	*obj_out = atoi(dot + 1);
	return *id_out < 0 ? -1 : 0;
}

static void print_answer(const char *event, const char *what, struct mc_answer a)
{
	struct agent_json j;

	agent_json_begin(&j, event);
	agent_json_str(&j, "command", what);
	agent_json_int(&j, "status", a.status);
	agent_json_end(&j);
}

/* Open `object` through `pt` and report it; returns the token, or 0 with a line printed. */
static uint16_t mc_open(struct mc_portal *pt, const char *object)
{
	int id, obj;
	uint64_t p = 0;
	struct mc_answer a;

	if (parse_object(object, &id, &obj))
		return 0;
	p = (uint64_t)obj;
	a = mc_send(pt, (unsigned int)id, 0, &p, 1);
	if (a.status) {
		print_answer("mc_refused", "open", a);
		return 0;
	}
	return a.token;
}

/* The object's state as its firmware reports it: one line `event`. With `held` (a token the
 * caller already holds on this portal: one open per object per portal) it asks through that. */
static int report_state(struct mc_portal *pt, const char *object, const char *event, uint16_t held)
{
	uint16_t token = held ? held : mc_open(pt, object);
	uint64_t irq0 = 0;
	struct mc_answer en, irq;
	struct agent_json j;

	if (!token)
		return -1;
	en = mc_send(pt, MC_IS_ENABLED, token, NULL, 0);
	irq = mc_send(pt, MC_GET_IRQ_ENABLE, token, &irq0, 1);
	if (!held)
		mc_send(pt, MC_CLOSE, token, NULL, 0);
	agent_json_begin(&j, event);
	agent_json_str(&j, "object", object);
	agent_json_int(&j, "mono_ms", (long long)agent_now_ms());
	agent_json_int(&j, "status", en.status ? en.status : irq.status);
	agent_json_bool(&j, "enabled", !en.status && (en.p[0] & 1));
	agent_json_bool(&j, "irq_enabled", !irq.status && (irq.p[0] & 1));
	agent_json_end(&j);
	return en.status || irq.status ? -1 : 0;
}

/*
 * fslmc-query --portal dpmcp.N|phys:ADDR --object TYPE.ID [--event NAME]: the object's enable and IRQ-enable
 * state, asked of the firmware through a DPMCP of the root container (the harness's own portal),
 * never through the container under test.
 */
int agent_cmd_fslmc_query(int argc, char **argv)
{
	const char *portal = agent_arg(argc, argv, "--portal", NULL), *object = agent_arg(argc, argv, "--object", NULL);
	struct agent_vfio_device dev;
	struct mc_portal pt;
	int rc;

	if (!portal || !object) {
		fprintf(stderr, "fslmc-query: --portal and --object are required\n");
		return 2;
	}
	if (probe_open(portal, &dev, &pt))
		return 1;
	rc = report_state(&pt, object, agent_arg(argc, argv, "--event", "state"), 0);
	agent_vfio_close(&dev);
	return rc ? 1 : 0;
}

/* Through the container's portal: open `object`, enable it and its IRQ 0; the token, or 0. */
static uint16_t arm_object(struct mc_portal *pt, const char *object)
{
	uint16_t token = mc_open(pt, object);
	uint64_t irq_on = 1;              /* enable = 1, irq_index = 0 */
	struct mc_answer a;

	if (!token)
		return 0;
	a = mc_send(pt, MC_ENABLE, token, NULL, 0);
	if (!a.status)
		a = mc_send(pt, MC_SET_IRQ_ENABLE, token, &irq_on, 1);
	if (a.status) {
		print_answer("mc_refused", "enable", a);
		return 0;
	}
	return token;
}

/*
 * The object's VFIO device with an eventfd on its IRQ 0, as DPDK's fslmc bus does: vfio-fsl-mc
 * allocates an MSI from the container's pool and tells the MC where the object must write it
 * (DPRC_SET_OBJ_IRQ); the MSI reaches the eventfd through the GIC ITS. Returns the eventfd; -2
 * when the kernel refused the eventfd (an "irq_refused" line says how: the tenant goes on without
 * MSIs, so that what does not depend on them is still measured); -1 on any other failure.
 */
static int object_irq(const char *object, struct agent_vfio_device *obj)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int32_t efd;

	if (agent_vfio_open(object, obj))
		return -1;
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		agent_json_errno("eventfd", object, errno);
		return -1;
	}
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = 0;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &efd, sizeof(efd));
	if (ioctl(obj->device_fd, VFIO_DEVICE_SET_IRQS, set) < 0) {
		struct agent_json j;

		agent_json_begin(&j, "irq_refused");
		agent_json_str(&j, "object", object);
		agent_json_str(&j, "op", "VFIO_DEVICE_SET_IRQS");
		agent_json_int(&j, "errno", errno);
		agent_json_str(&j, "strerror", strerror(errno));
		agent_json_end(&j);
		close(efd);
		return -2;
	}
	return efd;
}

/* MSIs counted on `efd` within `timeout_ms` (0: none waiting). */
static uint64_t take_irqs(int efd, int timeout_ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t n = 0;

	if (efd < 0) {                  /* no eventfd (the kernel refused it): just wait */
		if (timeout_ms > 0)
			usleep((useconds_t)timeout_ms * 1000);
		return 0;
	}
	if (poll(&p, 1, timeout_ms) > 0 && read(efd, &n, sizeof(n)) != sizeof(n))
		n = 0;
	return n;
}

/*
 * Copy jobs on the DPDMAI (already enabled through `pt`, `token`) through `dpio`'s QBMan portal
 * into `window` (PHYS:SIZE): the DPIO opened and enabled through the same portal, the DPDMAI's
 * request queue asked of the firmware, QDMA_BACKLOG jobs queued before anything is reported
 * (an engine with a backlog when its owner dies, as a busy DPDK application leaves it).
 */
static int arm_qdma(struct mc_portal *pt, uint16_t dpdmai, const char *dpio, const char *window,
		    const char *dma_file, struct agent_qdma *q)
{
	uint64_t prio0 = 0, phys, size;
	uint16_t token;
	struct mc_answer a;
	struct agent_json j;
	uint64_t deadline;

	if (!window || agent_parse_window(window, &phys, &size)) {
		fprintf(stderr, "fslmc-tenant: --qdma-dpio needs --window PHYS:SIZE\n");
		return -1;
	}
	token = mc_open(pt, dpio);
	if (!token)
		return -1;
	a = mc_send(pt, MC_ENABLE, token, NULL, 0);
	if (!a.status)
		a = mc_send(pt, MC_DPDMAI_GET_TX_QUEUE, dpdmai, &prio0, 1);
	if (a.status) {
		print_answer("mc_refused", "dpio enable, dpdmai get_tx_queue", a);
		return -1;
	}
	if (agent_qdma_open(q, dpio, (uint32_t)a.p[1], phys, size, dma_file))
		return -1;
	deadline = agent_now_ms() + MC_DEADLINE_MS;
	while (q->enqueued < QDMA_BACKLOG && agent_now_ms() < deadline)
		if (!agent_qdma_enqueue(q))
			usleep(200);
	agent_json_begin(&j, "qdma");
	agent_json_str(&j, "dpio", dpio);
	agent_json_hex(&j, "fqid", a.p[1] & 0xffffffff);
	agent_json_int(&j, "backlog", (long long)q->enqueued);
	agent_json_end(&j);
	if (q->enqueued < QDMA_BACKLOG) {
		agent_json_errno("qdma backlog: the portal consumed no entries", dpio, ETIMEDOUT);
		return -1;
	}
	return 0;
}

/*
 * fslmc-tenant --container dprc.N --object TYPE.ID [--report-ms 100] [--die-after-ms N
 * --die-how segv|exit|kill] [--fork-holder] [--ioctl-loop] [--info-only] [--portal dpmcp.N]: open the
 * container through VFIO (--info-only: print its VFIO_DEVICE_GET_INFO and leave), open
 * the object through the container's own portal (or, with --portal, through that DPMCP of the
 * container, mmapped, as DPDK does) and enable it and its IRQ, then hold until killed. With
 * --qdma-dpio dpio.N --window PHYS:SIZE [--dma-file PATH] (the object being a DPDMAI) it keeps copy jobs flowing
 * through that DPIO's portal into the window (agent_qdma.c), a backlog queued before "armed";
 * in type1 the window is IOVA:SIZE and --dma-file PATH the tmpfs file whose pages back it. --ioctl-loop keeps MC commands going through the container's region, so that a kill
 * lands inside vfio_fsl_mc_write() while the kernel polls the portal.
 */
int agent_cmd_fslmc_tenant(int argc, char **argv)
{
	const char *container = agent_arg(argc, argv, "--container", NULL);
	const char *object = agent_arg(argc, argv, "--object", NULL);
	int report_ms = atoi(agent_arg(argc, argv, "--report-ms", "100"));
	long die_after = atol(agent_arg(argc, argv, "--die-after-ms", "-1"));
	const char *die_how = agent_arg(argc, argv, "--die-how", "kill");
	bool ioctl_loop = agent_has_flag(argc, argv, "--ioctl-loop");
	const char *via = agent_arg(argc, argv, "--portal", NULL);
	const char *dpio = agent_arg(argc, argv, "--qdma-dpio", NULL), *window = agent_arg(argc, argv, "--window", NULL);
	struct agent_qdma qdma;
	struct agent_vfio_device dev, obj, mcp;
	struct mc_portal cpt, pt;        /* the container's region; the portal the tenant works through */
	struct agent_json j;
	uint64_t t0, last = 0, commands = 0, irqs = 0;
	uint16_t token;
	int efd;

	if (!container || !object) {
		fprintf(stderr, "fslmc-tenant: --container and --object are required\n");
		return 2;
	}
	if (portal_open(container, false, &dev, &cpt) || agent_vfio_describe(&dev))
		return 1;
	pt = cpt;
	if (agent_has_flag(argc, argv, "--info-only")) {
		agent_vfio_close(&dev);
		return 0;
	}
	if (via && portal_open(via, true, &mcp, &pt))   /* MC commands through the tenant's own DPMCP */
		return 1;
	efd = object_irq(object, &obj);
	if (efd == -1)
		return 1;
	token = arm_object(&pt, object);
	if (!token)
		return 1;
	if (dpio && arm_qdma(&pt, token, dpio, window, agent_arg(argc, argv, "--dma-file", NULL), &qdma))
		return 1;
	t0 = agent_now_ms();
	agent_json_begin(&j, "armed");
	agent_json_int(&j, "pid", getpid());
	agent_json_str(&j, "object", object);
	agent_json_int(&j, "token", token);
	agent_json_int(&j, "mono_ms", (long long)t0);
	agent_json_end(&j);
	if (report_state(&pt, object, "live", token))
		return 1;
	if (agent_has_flag(argc, argv, "--fork-holder") && agent_fork_holder())
		return 1;
	for (;;) {
		if (ioctl_loop) {       /* through the container's region: a write() the kernel serves */
			struct mc_answer a = mc_send(&cpt, MC_GET_CONTAINER_ID, 0, NULL, 0);

			if (a.status < 0) {
				print_answer("error", "get_container_id", a);
				return 1;
			}
			commands++;
			irqs += take_irqs(efd, 0);
		} else {
			irqs += take_irqs(efd, 10);
		}
		for (int i = 0; dpio && i < QDMA_JOBS_PER_TICK; i++)
			agent_qdma_enqueue(&qdma);
		if (agent_now_ms() - last >= (uint64_t)report_ms) {
			last = agent_now_ms();
			agent_json_begin(&j, "progress");
			agent_json_int(&j, "t_ms", (long long)(last - t0));
			agent_json_int(&j, "mono_ms", (long long)last);
			agent_json_int(&j, "mc_commands", (long long)commands);
			agent_json_int(&j, "irqs", (long long)irqs);
			agent_json_int(&j, "jobs", (long long)(dpio ? qdma.enqueued : 0));
			agent_json_end(&j);
		}
		if (die_after >= 0 && agent_now_ms() - t0 >= (uint64_t)die_after)
			agent_die_as(die_how);
	}
}

/*
 * fslmc-next-tenant --container dprc.N --object TYPE.ID [--watch-ms 1000]: the next user opens the
 * container and the object and registers its eventfd before anything else, counts the MSIs that
 * arrive for --watch-ms without enabling anything (what the last user left running), then opens
 * the object through the container's portal and enables it, as a user would, and leaves.
 */
int agent_cmd_fslmc_next_tenant(int argc, char **argv)
{
	const char *container = agent_arg(argc, argv, "--container", NULL);
	const char *object = agent_arg(argc, argv, "--object", NULL);
	long watch_ms = atol(agent_arg(argc, argv, "--watch-ms", "1000"));
	const char *via = agent_arg(argc, argv, "--portal", NULL);
	struct agent_vfio_device dev, obj, mcp;
	struct mc_portal pt;
	struct agent_json j;
	uint64_t t0, irqs = 0;
	long long first = -1;
	int efd;

	if (!container || !object) {
		fprintf(stderr, "fslmc-next-tenant: --container and --object are required\n");
		return 2;
	}
	if (portal_open(container, false, &dev, &pt) || (via && portal_open(via, true, &mcp, &pt)))
		return 1;
	efd = object_irq(object, &obj);
	if (efd == -1)
		return 1;
	t0 = agent_now_ms();
	while (agent_now_ms() - t0 < (uint64_t)watch_ms) {
		uint64_t n = take_irqs(efd, 10);

		if (n && first < 0)
			first = (long long)(agent_now_ms() - t0);
		irqs += n;
	}
	agent_json_begin(&j, "next_tenant");
	agent_json_int(&j, "mono_ms", (long long)t0);
	agent_json_int(&j, "irqs", (long long)irqs);
	agent_json_int(&j, "first_irq_ms", first);
	agent_json_int(&j, "watch_ms", watch_ms);
	agent_json_end(&j);
	if (!arm_object(&pt, object))
		return 1;
	agent_json_begin(&j, "armed");
	agent_json_str(&j, "object", object);
	agent_json_end(&j);
	return 0;
}

/*
 * fslmc-reset --container dprc.N --object TYPE.ID --portal dpmcp.M|phys:ADDR [--no-arm]: arm as a tenant
 * (unless --no-arm), then VFIO_DEVICE_RESET on the container, then the object's state from the
 * harness's portal.
 */
int agent_cmd_fslmc_reset(int argc, char **argv)
{
	const char *container = agent_arg(argc, argv, "--container", NULL);
	const char *object = agent_arg(argc, argv, "--object", NULL), *portal = agent_arg(argc, argv, "--portal", NULL);
	struct agent_vfio_device dev, probe;
	struct mc_portal pt, pp;
	struct agent_json j;
	int rc;

	if (!container || !object || !portal) {
		fprintf(stderr, "fslmc-reset: --container, --object and --portal are required\n");
		return 2;
	}
	if (portal_open(container, false, &dev, &pt) || probe_open(portal, &probe, &pp))
		return 1;
	if (!agent_has_flag(argc, argv, "--no-arm") && !arm_object(&pt, object))
		return 1;
	if (report_state(&pp, object, "before", 0))
		return 1;
	rc = ioctl(dev.device_fd, VFIO_DEVICE_RESET);
	agent_json_begin(&j, "reset");
	agent_json_int(&j, "rc", rc);
	agent_json_int(&j, "errno", rc ? errno : 0);
	agent_json_int(&j, "mono_ms", (long long)agent_now_ms());
	agent_json_end(&j);
	if (report_state(&pp, object, "after", 0))
		return 1;
	agent_vfio_close(&probe);
	agent_vfio_close(&dev);
	return rc ? 1 : 0;
}
