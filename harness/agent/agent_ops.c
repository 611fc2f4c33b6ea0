// SPDX-License-Identifier: GPL-2.0-only
/*
 * Registry of per-device ops tables. Device files (one per device, e.g. the
 * Calxeda XGMAC) add themselves to agent_ops_table; they arrive with the
 * suites that drive them, so the table may be empty.
 */
#include "agent.h"

static const struct agent_device_ops *agent_ops_table[] = {
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
