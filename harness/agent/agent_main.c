// SPDX-License-Identifier: GPL-2.0-only
/* vfio-hil-agent SUBCOMMAND [ARGS]: one subcommand per action, JSON lines out. */
#include <stdlib.h>

#include "agent.h"

struct agent_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct agent_cmd cmds[] = {
	{ "info", agent_cmd_info, "VFIO state: /dev/vfio, container extensions, bound devices" },
	{ "selftest", agent_cmd_selftest, "check the VFIO uAPI basics on this kernel" },
	{ "tenant", agent_cmd_tenant, "arm RX DMA + IRQ and hold until killed (--device --compat --window)" },
	{ "next-tenant", agent_cmd_next_tenant, "open, count IRQs from the first moment, read quiescence" },
	{ "canary", agent_cmd_canary, "fill|check|watch the DMA window through /dev/mem, never opening the device" },
	{ "iommu-attach", agent_cmd_iommu_attach, "attach a device's group to a new container (type1 or no-IOMMU), no open" },
	{ "clock", agent_cmd_clock, "print CLOCK_MONOTONIC ms, the clock every timeline event carries" },
	{ "reset-check", agent_cmd_reset_check, "arm, VFIO_DEVICE_RESET, quiescence, watch for DMA" },
	{ "fslmc-tenant", agent_cmd_fslmc_tenant, "fsl-mc: open a container, enable an object through its portal, hold" },
	{ "fslmc-query", agent_cmd_fslmc_query, "fsl-mc: an object's enable/IRQ state from the harness's DPMCP" },
	{ "fslmc-next-tenant", agent_cmd_fslmc_next_tenant, "fsl-mc: open, count MSIs before enabling anything, then enable" },
	{ "fslmc-restool", agent_cmd_fslmc_restool, "fsl-mc: create|destroy a child container through /dev/dprc.N, as restool" },
	{ "fslmc-reset", agent_cmd_fslmc_reset, "fsl-mc: arm, VFIO_DEVICE_RESET on the container, state after" },
};

int main(int argc, char **argv)
{
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2)
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (!strcmp(argv[1], cmds[i].name))
				return cmds[i].fn(argc - 1, argv + 1) ? 1 : 0;
	fprintf(stderr, "usage: %s SUBCOMMAND\n", argv[0]);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(stderr, "  %-10s %s\n", cmds[i].name, cmds[i].help);
	return 2;
}
