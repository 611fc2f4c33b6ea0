// SPDX-License-Identifier: GPL-2.0-only
/*
 * fslmc-restool: make (and unmake) a child container the way NXP's restool does, through the
 * root container's uapi device (/dev/dprc.1, CONFIG_FSL_MC_UAPI_SUPPORT): each MC command is one
 * FSL_MC_SEND_MC_COMMAND ioctl, which the kernel checks against its whitelist
 * (drivers/bus/fsl-mc/fsl-mc-uapi.c: open, close, DPRC create/destroy container, assign,
 * unassign, all needing CAP_NET_ADMIN) and sends through a DPMCP of the root's pool. Layouts as
 * NXP's fsl_dprc_cmd.h. The kernel learns of the change when the parent is rescanned
 * (/sys/bus/fsl-mc/devices/<parent>/rescan); the MC's own "container changed" interrupt is
 * not relied on.
 *
 *   fslmc-restool create --parent dprc.1 --assign dpmcp.3,dpio.1,...  -> {"event": "created", ...}
 *   fslmc-restool destroy --parent dprc.1 --container dprc.2          -> {"event": "destroyed", ...}
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/fsl_mc.h>

#include "agent.h"

#define MC_STATUS_READY 1
#define DPRC_OPEN 0x805
#define MC_CLOSE 0x800
#define DPRC_CREATE_CONT 0x151
#define DPRC_DESTROY_CONT 0x152
#define DPRC_ASSIGN 0x157
/* DPRC_CFG_OPT_SPAWN_ALLOWED | _ALLOC_ALLOWED | _OBJ_CREATE_ALLOWED, as DPDK's dynamic_dpl.sh asks */
#define CONT_OPTIONS 0x7
#define ICID_FROM_POOL 0xffffu
#define PORTAL_FROM_POOL 0xffffffffu
#define RES_REQ_EXPLICIT 0x1

/* One command through the uapi: -errno if the kernel refused it, else the MC's status; the
 * answer's parameters into `out` and its token (an open's new handle) into `token_out`. */
static int send_cmd(int fd, unsigned int id, uint16_t token, const uint64_t *params, int n, uint64_t *out,
		    uint16_t *token_out)
{
	struct fsl_mc_command cmd = { .header = (uint64_t)MC_STATUS_READY << 16 | (uint64_t)token << 32 |
						(uint64_t)((id << 4) | 1) << 48 };

	for (int i = 0; i < n && i < 7; i++)
		cmd.params[i] = params[i];
	if (ioctl(fd, FSL_MC_SEND_MC_COMMAND, &cmd) < 0)
		return -errno;
	if (out)
		memcpy(out, cmd.params, sizeof(cmd.params));
	if (token_out)
		*token_out = (uint16_t)(cmd.header >> 32);
	return (int)((cmd.header >> 16) & 0xff);
}

static int report(const char *what, const char *object, int rc)
{
	struct agent_json j;

	agent_json_begin(&j, rc < 0 ? "refused" : "mc_refused");
	agent_json_str(&j, "command", what);
	agent_json_str(&j, "object", object);
	agent_json_int(&j, rc < 0 ? "errno" : "status", rc < 0 ? -rc : rc);
	if (rc < 0)
		agent_json_str(&j, "strerror", strerror(-rc));
	agent_json_end(&j);
	return 1;
}

/* "type.id" into the type's 16 bytes and the id. */
static int split(const char *name, uint64_t type[2], unsigned int *id)
{
	const char *dot = strchr(name, '.');

	memset(type, 0, 2 * sizeof(type[0]));
	if (!dot || dot == name || (size_t)(dot - name) >= 16)
		return -1;
	memcpy(type, name, (size_t)(dot - name));
	*id = (unsigned int)strtoul(dot + 1, NULL, 10);
	return 0;
}

static int assign_all(int fd, uint16_t token, unsigned int child, const char *list)
{
	char *copy = strdup(list), *save = NULL;

	for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		uint64_t type[2], p[4];
		unsigned int id;
		int rc;

		if (split(name, type, &id)) {
			fprintf(stderr, "fslmc-restool: %s is not TYPE.ID\n", name);
			free(copy);
			return 2;
		}
		p[0] = child | (uint64_t)RES_REQ_EXPLICIT << 32;
		p[1] = 1 | (uint64_t)id << 32;       /* num, id_base_align */
		p[2] = type[0];
		p[3] = type[1];
		rc = send_cmd(fd, DPRC_ASSIGN, token, p, 4, NULL, NULL);
		if (rc) {
			free(copy);
			return report("assign", name, rc);
		}
	}
	free(copy);
	return 0;
}

int agent_cmd_fslmc_restool(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *parent = agent_arg(argc, argv, "--parent", "dprc.1");
	const char *assign = agent_arg(argc, argv, "--assign", NULL), *container = agent_arg(argc, argv, "--container", NULL);
	uint64_t type[2], p[7] = { 0 }, out[7];
	unsigned int parent_id, child = 0;
	char path[64];
	uint16_t token;
	struct agent_json j;
	int first, fd, rc;

	if (split(parent, type, &parent_id) || ((strcmp(mode, "create") || !assign) &&
	    (strcmp(mode, "destroy") || !container || split(container, type, &child)))) {
		fprintf(stderr, "fslmc-restool create --parent dprc.N --assign TYPE.ID,... | "
			"destroy --parent dprc.N --container dprc.M\n");
		return 2;
	}
	/*
	 * The first opener of /dev/dprc.1 talks through the root container's own portal, on which
	 * the kernel's DPRC driver holds dprc.1 open, and the kernel notes that the MC allows one open
	 * of an object per portal (drivers/bus/fsl-mc/fsl-mc-bus.c:858). A second opener gets a DPMCP
	 * of the root's pool (fsl_mc_uapi_dev_open()): hold the first, talk through the second.
	 */
	snprintf(path, sizeof(path), "/dev/%s", parent);
	first = open(path, O_RDWR);
	fd = first < 0 ? -1 : open(path, O_RDWR);
	if (fd < 0) {
		agent_json_errno("open", path, errno);
		return 1;
	}
	p[0] = parent_id;
	rc = send_cmd(fd, DPRC_OPEN, 0, p, 1, NULL, &token);
	if (rc)
		return report("open", parent, rc);
	if (!strcmp(mode, "create")) {
		p[0] = CONT_OPTIONS | (uint64_t)ICID_FROM_POOL << 32;
		p[1] = (uint64_t)PORTAL_FROM_POOL << 32;
		memcpy(&p[2], "vfio-hil", 8);
		rc = send_cmd(fd, DPRC_CREATE_CONT, token, p, 4, out, NULL);
		if (rc)
			return report("create_container", parent, rc);
		child = (unsigned int)out[1];
		rc = assign_all(fd, token, child, assign);
	} else {
		memset(p, 0, sizeof(p));
		p[0] = child;
		rc = send_cmd(fd, DPRC_DESTROY_CONT, token, p, 1, NULL, NULL);
		if (rc)
			rc = report("destroy_container", container, rc);
	}
	send_cmd(fd, MC_CLOSE, token, NULL, 0, NULL, NULL);
	close(fd);
	close(first);
	if (rc)
		return rc;
	agent_json_begin(&j, !strcmp(mode, "create") ? "created" : "destroyed");
	agent_json_int(&j, "container_id", child);
	agent_json_str(&j, "parent", parent);
	if (assign)
		agent_json_str(&j, "assigned", assign);
	agent_json_end(&j);
	return 0;
}
