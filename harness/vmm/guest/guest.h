/* SPDX-License-Identifier: GPL-2.0-only */
/* The bare-metal guest the VMM check runs (harness/vmm/guest/guest.c says what it does). */
#ifndef VFIO_HIL_GUEST_H
#define VFIO_HIL_GUEST_H

typedef unsigned char uint8_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;

#define FDT_MAX_REGS 8

/* A device tree node: its reg entries as root addresses, its raw "interrupts", and /chosen's bootargs. */
struct fdt_node {
	uint64_t addr[FDT_MAX_REGS], size[FDT_MAX_REGS];
	uint32_t regs;
	const uint8_t *irqs;
	uint32_t irqs_len;
	const char *bootargs;
};

uint32_t be32(const void *p);
/* The first node listing `compatible`; 0, or -1 when there is none (or the tree is not one). */
int fdt_find(const void *fdt, const char *compatible, struct fdt_node *out);

#endif
