// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio-hil negative control: a VFIO platform reset handler that does nothing.
 *
 * Loaded in place of the real handler for NULL_RESET_COMPAT, it lets
 * vfio-platform bind (its reset_required check is satisfied) while leaving the
 * device running after a tenant dies. A bleed test that sees no bleed with this
 * module loaded proves nothing: the environment could not provoke DMA.
 *
 * The compatible is fixed at build time (-DNULL_RESET_COMPAT="...") because
 * module_vfio_reset_handler() builds a MODULE_ALIAS from a string literal.
 */
#include <linux/module.h>
#include "vfio_platform_private.h"

#ifndef NULL_RESET_COMPAT
#error "build with NULL_RESET_COMPAT=<compatible>"
#endif

static int vfio_hil_null_reset(struct vfio_platform_device *vdev)
{
	pr_info("vfio-hil: null reset for %s (negative control: the device is NOT reset)\n", NULL_RESET_COMPAT);
	return 0;
}

module_vfio_reset_handler(NULL_RESET_COMPAT, vfio_hil_null_reset);

MODULE_LICENSE("GPL v2");
MODULE_DESCRIPTION("vfio-hil null reset (negative control) for " NULL_RESET_COMPAT);
