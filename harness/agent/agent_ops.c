// SPDX-License-Identifier: GPL-2.0-only
/*
 * Registry of per-device ops tables. Device files (one per device, e.g. the
 * Calxeda XGMAC) describe a device; agent_core.c enforces the order of ops.
 */
#include "agent.h"

extern const struct agent_device_ops agent_xgmac_ops;
extern const struct agent_device_ops agent_xgbe_ops;
extern const struct agent_device_ops agent_flexrm_ops;
extern const struct agent_device_ops agent_qdma_ops;      /* canary only: its tenant is fslmc-tenant */

static const struct agent_device_ops *agent_ops_table[] = {
	&agent_xgmac_ops,
	&agent_xgbe_ops,
	&agent_flexrm_ops,
	&agent_qdma_ops,
	NULL,
};

const struct agent_device_ops *agent_ops_find(const char *compatible)
{
	const struct agent_device_ops *const *ops;

	for (ops = agent_ops_table; *ops; ops++)
		if (!strcmp((*ops)->compatible, compatible))
			return *ops;
	return NULL;
}

void agent_ops_list(void)
{
	const struct agent_device_ops *const *ops;
	struct agent_json j;
	int n = 0;

	for (ops = agent_ops_table; *ops; ops++, n++) {
		agent_json_begin(&j, "device_ops");
		agent_json_str(&j, "name", (*ops)->name);
		agent_json_str(&j, "compatible", (*ops)->compatible);
		agent_json_end(&j);
	}
	agent_json_begin(&j, "device_ops_count");
	agent_json_int(&j, "count", n);
	agent_json_end(&j);
}
