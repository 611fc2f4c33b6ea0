// SPDX-License-Identifier: GPL-2.0-only
/*
 * Just enough of a flattened device tree reader for the guest: the first node whose
 * "compatible" lists a string, with its "reg" (translated through its parent's "ranges") and
 * "interrupts", and /chosen's "bootargs". The structure block is walked token by token
 * (Documentation/devicetree/booting-without-of.rst, "Device tree structure block"); every
 * access is 4-byte aligned (the guest runs with the MMU off, where unaligned loads fault).
 */
#include "guest.h"

#define FDT_MAGIC       0xd00dfeed
#define FDT_BEGIN_NODE  1
#define FDT_END_NODE    2
#define FDT_PROP        3
#define FDT_NOP         4
#define FDT_END         9
#define MAX_DEPTH       16

uint32_t be32(const void *p)
{
	const uint8_t *b = p;

	return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* Whether the "compatible" string list (len bytes) has `want`. */
static int lists(const char *list, uint32_t len, const char *want)
{
	uint32_t i = 0;

	while (i < len) {
		if (streq(list + i, want))
			return 1;
		while (i < len && list[i])
			i++;
		i++;
	}
	return 0;
}

static uint64_t cells(const uint8_t *p, uint32_t n)
{
	uint64_t v = 0;

	while (n--) {
		v = (v << 32) | be32(p);
		p += 4;
	}
	return v;
}

/* A node as the walk sees it: the cells its children's addresses use, its ranges. */
struct level {
	uint32_t acells, scells;
	const uint8_t *ranges;
	uint32_t ranges_len;
	int matched;
	const uint8_t *reg, *irqs;
	uint32_t reg_len, irqs_len;
};

/* Entry i of the node at `d`'s reg, as an address of the root's space (one level of ranges:
 * the trees QEMU makes for virt have no deeper bus than the platform bus). */
static int translate(struct level *lv, int d, uint32_t i, struct fdt_node *out)
{
	uint32_t ac = lv[d - 1].acells, sc = lv[d - 1].scells, stride = 4 * (ac + sc);
	uint64_t addr, size;

	if ((i + 1) * stride > lv[d].reg_len)
		return -1;
	addr = cells(lv[d].reg + i * stride, ac);
	size = cells(lv[d].reg + i * stride + 4 * ac, sc);
	if (d >= 2 && lv[d - 1].ranges_len) {
		uint32_t pac = lv[d - 2].acells, rstride = 4 * (ac + pac + sc), k;

		for (k = 0; (k + 1) * rstride <= lv[d - 1].ranges_len; k++) {
			const uint8_t *r = lv[d - 1].ranges + k * rstride;
			uint64_t child = cells(r, ac), parent = cells(r + 4 * ac, pac), len = cells(r + 4 * (ac + pac), sc);

			if (addr >= child && addr - child < len) {
				addr = parent + (addr - child);
				break;
			}
		}
	}
	out->addr[i] = addr;
	out->size[i] = size;
	return 0;
}

int fdt_find(const void *fdt, const char *compatible, struct fdt_node *out)
{
	const uint8_t *base = fdt;
	const uint8_t *p, *strings;
	const char *names[MAX_DEPTH];
	struct level lv[MAX_DEPTH];
	int depth = -1, found = 0;
	uint32_t i;

	if (be32(base) != FDT_MAGIC)
		return -1;
	p = base + be32(base + 8);
	strings = base + be32(base + 12);
	for (;;) {
		uint32_t tok = be32(p);

		p += 4;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)p;
			uint32_t n = 0;

			while (name[n])
				n++;
			p += (n + 4) & ~3u;
			if (++depth >= MAX_DEPTH)
				return -1;
			names[depth] = name;
			lv[depth] = (struct level){ .acells = 2, .scells = 1 };
		} else if (tok == FDT_PROP) {
			uint32_t len = be32(p), nameoff = be32(p + 4);
			const char *pname = (const char *)strings + nameoff;
			const uint8_t *val = p + 8;

			p += 8 + ((len + 3) & ~3u);
			if (depth < 0)
				return -1;
			if (streq(pname, "compatible") && lists((const char *)val, len, compatible))
				lv[depth].matched = 1;
			else if (streq(pname, "reg"))
				lv[depth].reg = val, lv[depth].reg_len = len;
			else if (streq(pname, "interrupts"))
				lv[depth].irqs = val, lv[depth].irqs_len = len;
			else if (streq(pname, "ranges"))
				lv[depth].ranges = val, lv[depth].ranges_len = len;
			else if (streq(pname, "#address-cells"))
				lv[depth].acells = be32(val);
			else if (streq(pname, "#size-cells"))
				lv[depth].scells = be32(val);
			else if (streq(pname, "bootargs") && depth == 1 && streq(names[1], "chosen"))
				out->bootargs = (const char *)val;
		} else if (tok == FDT_END_NODE) {
			if (depth < 0)
				return -1;
			if (lv[depth].matched && !found && depth >= 1 && lv[depth].reg) {
				found = 1;
				for (i = 0; i < FDT_MAX_REGS && translate(lv, depth, i, out) == 0; i++)
					out->regs = i + 1;
				out->irqs = lv[depth].irqs;
				out->irqs_len = lv[depth].irqs_len;
			}
			depth--;
		} else if (tok == FDT_END) {
			return found ? 0 : -1;
		} else if (tok != FDT_NOP) {
			return -1;
		}
	}
}

/* The compiler may call these for structure copies and initialisers, even freestanding. */
void *memset(void *d, int c, unsigned long n)
{
	uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	uint8_t *p = d;
	const uint8_t *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}
