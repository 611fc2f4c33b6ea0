// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest of the VMM check (harness/vmm/check.py): one image, two roles, told by the tree's
 * /chosen bootargs ("vfiohil.role=drive" or "vfiohil.role=watch").
 *
 * drive: the tenant. Finds the assigned AMD XGBE in its tree, starts RX DMA on its four channels
 *   into rings in its own RAM (at DMA_BASE, the same guest-physical addresses in every guest, as
 *   the same driver in the same image would place them) and TX on channel 0, unmasks their
 *   interrupts, and keeps servicing them (acking each interrupt at the device, handing consumed
 *   descriptors back), printing its progress. Registers and descriptors as the vfio-hil agent's
 *   XGBE ops (harness/agent/agent_xgbe.c), from drivers/net/ethernet/amd/xgbe/xgbe-common.h.
 *   It leaves a marker in RAM (MARK_ADDR), so that after a guest reset (QMP system_reset keeps
 *   RAM; only the image and tree are loaded again) the same VM boots as the next guest: watch.
 *
 * watch: the next guest. From its first instructions it takes every SPI the GIC has (level,
 *   enabled, routed to this CPU) and counts what arrives; an interrupt is masked in the GIC after
 *   it is counted, never acked at the device (this guest does not drive the device: a level line
 *   the device holds high would otherwise storm). It reads the device's version register once, as
 *   a driver's probe would (see run_watch), and otherwise never touches it. It lays a canary (CANARY) over the buffers
 *   where the previous guest's DMA went and hands those rings back as the previous guest's driver
 *   would (descriptors owned by the device, pointing at the canary: the worst case a next guest
 *   booting the same image meets), watches WATCH_MS, reports, and idles until the VMM is ended.
 *
 * Every line for the harness is "VFIO-HIL-GUEST {json}" on virt's PL011.
 */
#include "guest.h"

#define UART            0x09000000ul    /* virt's PL011 (hw/arm/virt.c VIRT_UART): before the tree is read */
#define PSCI_SYSTEM_OFF 0x84000008u     /* PSCI 0.2 SYSTEM_OFF; virt's conduit at EL1 is HVC */

/* The guest's DMA memory: the same addresses in every guest (one image). */
#define DMA_BASE        0x41000000ul
#define CHANNELS        4
#define RING_ENTRIES    16
#define BUF_SIZE        2048
#define RX_RING(c)      (DMA_BASE + 0x100ul * (c))
#define TX_RING         (DMA_BASE + 0x800ul)
#define BUFFERS         (DMA_BASE + 0x1000ul)
#define TX_BUFFERS      (BUFFERS + (uint64_t)CHANNELS * RING_ENTRIES * BUF_SIZE)
#define DMA_END         (TX_BUFFERS + (uint64_t)RING_ENTRIES * BUF_SIZE)
#define TX_FRAME_LEN    600
#define MARK_ADDR       0x40f00000ul    /* "a drive guest ran in this RAM" */
#define MARK            0x56484d44u
#define CANARY          0xa5
#define WATCH_MS        1000
#define SAMPLE_MS       100
#define PROGRESS_MS     200

/* AMD XGBE registers (xgbe-common.h), offsets in the XGMAC window. */
#define MAC_VR          0x0110
#define DMA_MR          0x3000
#define DMA_MR_INTM_1   (1u << 12)
#define CH_BASE(c)      (0x3100 + 0x80 * (c))
#define CH_TCR          0x04
#define CH_RCR          0x08
#define CH_TDLR_HI      0x10
#define CH_TDLR_LO      0x14
#define CH_RDLR_HI      0x18
#define CH_RDLR_LO      0x1c
#define CH_TDTR_LO      0x24
#define CH_RDTR_LO      0x2c
#define CH_TDRLR        0x30
#define CH_RDRLR        0x34
#define CH_IER          0x38
#define CH_SR           0x60
#define RCR_SR_RBSZ     ((2048u << 1) | 1u)
#define IER_RIE_NIE     0x00008040u
#define SR_DEFINED      0x003fffffu
#define DES3_OWN        0x80000000u
#define RDES3_INTE      0x40000000u
#define TDES3_FD_LD     0x30000000u

/* GICv2 (virt with gic-version=2; a Seattle's GIC-400 under KVM). */
#define GICD_CTLR       0x000
#define GICD_TYPER      0x004
#define GICD_ISENABLER  0x100
#define GICD_ICENABLER  0x180
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR  0x800
#define GICC_CTLR       0x000
#define GICC_PMR        0x004
#define GICC_IAR        0x00c
#define GICC_EOIR       0x010
#define MAX_INTIDS      1020
#define DEVICE_IRQS     8

struct desc { uint32_t d0, d1, d2, d3; };

extern char __bss_start[], __bss_end[];

static uint64_t gicd, gicc, xgmac, t0, freq;
static int drive;
static volatile long first_irq_ms = -1;
/* Counted by INTID, told apart once the tree is read: an interrupt the device holds pending comes
 * the moment the GIC is enabled, before the device's node has been found. */
static volatile uint32_t irq_count[MAX_INTIDS];
static uint32_t device_intid[DEVICE_IRQS], device_irqs;

static inline void wr32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint32_t rd32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void wr8(uint64_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline uint8_t rd8(uint64_t a) { return *(volatile uint8_t *)a; }

static long now_ms(void)
{
	uint64_t c;

	__asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(c));
	return (long)((c - t0) * 1000 / freq);
}

/* -- output: one JSON object a line */
static void putc_(char c) { wr32(UART, (uint8_t)c); }
static void puts_(const char *s) { while (*s) putc_(*s++); }

static void put_dec(long v)
{
	char b[24];
	int n = 0;

	if (v < 0) {
		putc_('-');
		v = -v;
	}
	do b[n++] = '0' + v % 10; while ((v /= 10) && n < 23);
	while (n)
		putc_(b[--n]);
}

static void put_hex(uint64_t v)
{
	int s;

	puts_("\"0x");
	for (s = 60; s > 0 && !(v >> s); s -= 4)
		;
	for (; s >= 0; s -= 4)
		putc_("0123456789abcdef"[(v >> s) & 0xf]);
	putc_('"');
}

static void j_begin(const char *event) { puts_("VFIO-HIL-GUEST {\"event\":\""); puts_(event); puts_("\",\"t_ms\":"); put_dec(now_ms()); }
static void j_key(const char *k) { puts_(",\""); puts_(k); puts_("\":"); }
static void j_int(const char *k, long v) { j_key(k); put_dec(v); }
static void j_hex(const char *k, uint64_t v) { j_key(k); put_hex(v); }
static void j_str(const char *k, const char *v) { j_key(k); putc_('"'); puts_(v); putc_('"'); }
static void j_end(void) { puts_("}\r\n"); }

static void power_off(void)
{
	register uint64_t x0 __asm__("x0") = PSCI_SYSTEM_OFF;

	__asm__ volatile("hvc #0" : "+r"(x0) : : "memory");
	for (;;)
		__asm__ volatile("wfi");
}

static void fail(const char *why)
{
	j_begin("error");
	j_str("why", why);
	j_end();
	power_off();
}

void guest_exception(uint64_t kind, uint64_t esr, uint64_t elr, uint64_t far)
{
	j_begin("exception");
	j_int("vector", (long)kind);
	j_hex("esr", esr);
	j_hex("elr", elr);
	j_hex("far", far);
	j_end();
	power_off();
}

/* -- the GIC: every SPI on, so that nothing the device raises goes uncounted */
static void gic_init(void)
{
	uint32_t lines = 32 * ((rd32(gicd + GICD_TYPER) & 0x1f) + 1), i;

	wr32(gicd + GICD_CTLR, 0);
	for (i = 32; i < lines && i < MAX_INTIDS; i++) {
		wr8(gicd + GICD_IPRIORITYR + i, 0xa0);
		wr8(gicd + GICD_ITARGETSR + i, 0x01);
	}
	for (i = 32; i < lines && i < MAX_INTIDS; i += 32)
		wr32(gicd + GICD_ISENABLER + i / 8, 0xffffffffu);
	wr32(gicd + GICD_CTLR, 1);
	wr32(gicc + GICC_PMR, 0xff);
	wr32(gicc + GICC_CTLR, 1);
	__asm__ volatile("msr daifclr, #2" ::: "memory");
}

static void ack_device(void)
{
	int c;

	for (c = 0; c < CHANNELS; c++)
		wr32(xgmac + CH_BASE(c) + CH_SR, rd32(xgmac + CH_BASE(c) + CH_SR) & SR_DEFINED);
}

void guest_irq(void)
{
	uint32_t iar = rd32(gicc + GICC_IAR), id = iar & 0x3ff;

	if (id >= MAX_INTIDS)
		return;                                         /* spurious */
	if (first_irq_ms < 0)
		first_irq_ms = now_ms();
	irq_count[id]++;
	if (drive && xgmac)
		ack_device();
	else                    /* never touches the device: mask the line, or a held level storms */
		wr32(gicd + GICD_ICENABLER + (id / 32) * 4, 1u << (id % 32));
	wr32(gicc + GICC_EOIR, iar);
}

static long device_irq_total(void)
{
	long n = 0;
	uint32_t k;

	for (k = 0; k < device_irqs; k++)
		n += irq_count[device_intid[k]];
	return n;
}

static long other_irq_total(void)
{
	long n = 0;
	uint32_t i;

	for (i = 0; i < MAX_INTIDS; i++)
		n += irq_count[i];
	return n - device_irq_total();
}

/* -- the device's rings */
static void give_rx(int c, int i)
{
	uint64_t d = RX_RING(c) + 16ul * i;
	uint64_t buf = BUFFERS + ((uint64_t)c * RING_ENTRIES + i) * BUF_SIZE;

	wr32(d, (uint32_t)buf);
	wr32(d + 4, (uint32_t)(buf >> 32));
	wr32(d + 8, 0);
	wr32(d + 12, DES3_OWN | RDES3_INTE);
}

static void give_tx(int i)
{
	uint64_t d = TX_RING + 16ul * i, buf = TX_BUFFERS + (uint64_t)i * BUF_SIZE;

	wr32(d, (uint32_t)buf);
	wr32(d + 4, (uint32_t)(buf >> 32));
	wr32(d + 8, TX_FRAME_LEN);
	wr32(d + 12, DES3_OWN | TDES3_FD_LD | TX_FRAME_LEN);
}

static void give_all(void)
{
	int c, i;

	for (c = 0; c < CHANNELS; c++)
		for (i = 0; i < RING_ENTRIES; i++)
			give_rx(c, i);
	for (i = 0; i < RING_ENTRIES; i++)
		give_tx(i);
}

static void arm_device(void)
{
	uint32_t snps = rd32(xgmac + MAC_VR) & 0xff;
	uint64_t a;
	int c;

	if (snps == 0 || snps == 0xff)
		fail("MAC_VR reads no Synopsys version: not an XGBE");
	for (c = 0; c < CHANNELS; c++) {
		wr32(xgmac + CH_BASE(c) + CH_IER, 0);
		wr32(xgmac + CH_BASE(c) + CH_RCR, 0);
		wr32(xgmac + CH_BASE(c) + CH_SR, SR_DEFINED);
	}
	for (a = TX_BUFFERS; a < DMA_END; a += 4)       /* the guest's own frames */
		wr32(a, 0x47474747u);
	give_all();
	wr32(xgmac + DMA_MR, rd32(xgmac + DMA_MR) | DMA_MR_INTM_1);
	for (c = 0; c < CHANNELS; c++) {
		wr32(xgmac + CH_BASE(c) + CH_RDLR_HI, (uint32_t)(RX_RING(c) >> 32));
		wr32(xgmac + CH_BASE(c) + CH_RDLR_LO, (uint32_t)RX_RING(c));
		wr32(xgmac + CH_BASE(c) + CH_RDRLR, RING_ENTRIES - 1);
		wr32(xgmac + CH_BASE(c) + CH_RDTR_LO, (uint32_t)(RX_RING(c) + 16ul * (RING_ENTRIES - 1)));
		wr32(xgmac + CH_BASE(c) + CH_RCR, RCR_SR_RBSZ);
	}
	wr32(xgmac + CH_BASE(0) + CH_TDLR_HI, (uint32_t)(TX_RING >> 32));
	wr32(xgmac + CH_BASE(0) + CH_TDLR_LO, (uint32_t)TX_RING);
	wr32(xgmac + CH_BASE(0) + CH_TDRLR, RING_ENTRIES - 1);
	wr32(xgmac + CH_BASE(0) + CH_TDTR_LO, (uint32_t)(TX_RING + 16ul * (RING_ENTRIES - 1)));
	wr32(xgmac + CH_BASE(0) + CH_TCR, 1);
	for (c = 0; c < CHANNELS; c++)
		wr32(xgmac + CH_BASE(c) + CH_IER, IER_RIE_NIE);
}

/* Descriptors the device wrote back (OWN clear) are frames; each goes back to the device. */
static long service(void)
{
	long frames = 0;
	int c, i;

	for (c = 0; c < CHANNELS; c++)
		for (i = 0; i < RING_ENTRIES; i++)
			if (!(rd32(RX_RING(c) + 16ul * i + 12) & DES3_OWN)) {
				frames++;
				give_rx(c, i);
			}
	for (i = 0; i < RING_ENTRIES; i++)
		if (!(rd32(TX_RING + 16ul * i + 12) & DES3_OWN)) {
			frames++;
			give_tx(i);
		}
	return frames;
}

/* "device_intids": [[INTID, interrupts counted], ...] for the device's lines, from its tree node. */
static void j_intids(void)
{
	uint32_t k;

	j_key("device_intids");
	putc_('[');
	for (k = 0; k < device_irqs; k++) {
		if (k)
			putc_(',');
		putc_('[');
		put_dec(device_intid[k]);
		putc_(',');
		put_dec(irq_count[device_intid[k]]);
		putc_(']');
	}
	putc_(']');
}

static void run_drive(void)
{
	long frames = 0, next = 0;

	wr32(MARK_ADDR, MARK);
	arm_device();
	j_begin("armed");
	j_hex("xgmac", xgmac);
	j_hex("dma_base", DMA_BASE);
	j_intids();
	j_end();
	for (;;) {
		frames += service();
		if (now_ms() >= next) {
			next = now_ms() + PROGRESS_MS;
			j_begin("progress");
			j_int("frames", frames);
			j_int("irqs", device_irq_total());
			j_int("other_irqs", other_irq_total());
			j_end();
		}
	}
}

/* "other_intids": [[INTID, interrupts counted], ...] for every other line that fired. */
static void j_other_intids(void)
{
	uint32_t i, k;
	int any = 0;

	j_key("other_intids");
	putc_('[');
	for (i = 0; i < MAX_INTIDS; i++) {
		for (k = 0; k < device_irqs && device_intid[k] != i; k++)
			;
		if (!irq_count[i] || k < device_irqs)
			continue;
		if (any++)
			putc_(',');
		putc_('[');
		put_dec(i);
		putc_(',');
		put_dec(irq_count[i]);
		putc_(']');
	}
	putc_(']');
}

static long canary_changed(long *first)
{
	long changed = 0;
	uint64_t a;

	*first = -1;
	for (a = BUFFERS; a < DMA_END; a++)
		if (rd8(a) != CANARY) {
			if (!changed)
				*first = (long)(a - BUFFERS);
			changed++;
		}
	return changed;
}

static void run_watch(int after_reset)
{
	long laid, changed = 0, first, next;
	uint32_t version;
	uint64_t a;

	wr32(MARK_ADDR, 0);
	/* What any driver's probe does first: read the version register, changing nothing. QEMU 7.2
	 * holds the device's interrupt masked until the guest next touches the device after one was
	 * injected (hw/vfio/platform.c vfio_platform_eoi), a state a guest reset does not clear; a
	 * watcher that never touched the device could not see an interrupt left pending across it. */
	version = rd32(xgmac + MAC_VR);
	for (a = BUFFERS; a < DMA_END; a += 4)
		wr32(a, CANARY * 0x01010101u);
	give_all();
	laid = now_ms();
	j_begin("canary");
	j_hex("from", BUFFERS);
	j_int("bytes", (long)(DMA_END - BUFFERS));
	j_int("after_reset", after_reset);
	j_hex("mac_vr", version);
	j_int("irqs_before", device_irq_total());
	j_end();
	for (next = laid + SAMPLE_MS; now_ms() < laid + WATCH_MS; next += SAMPLE_MS) {
		while (now_ms() < next)
			;
		changed = canary_changed(&first);
		j_begin("sample");
		j_int("changed", changed);
		j_int("irqs", device_irq_total());
		j_end();
	}
	changed = canary_changed(&first);
	j_begin("watched");
	j_int("after_reset", after_reset);
	j_int("canary_bytes", (long)(DMA_END - BUFFERS));
	j_int("changed", changed);
	j_int("first_changed_offset", first);
	j_int("watch_ms", now_ms() - laid);
	j_int("irqs", device_irq_total());
	j_int("other_irqs", other_irq_total());
	j_int("first_irq_ms", first_irq_ms);
	j_intids();
	j_other_intids();
	j_end();
	/* Idle until the harness ends the VMM: powering off here would close the device (its reset
	 * handler runs at release) before the harness has closed the window it asks the twin about. */
	__asm__ volatile("msr daifset, #2" ::: "memory");
	for (;;)
		__asm__ volatile("wfi");
}

static int has(const char *s, const char *want)
{
	const char *p, *q;

	for (; s && *s; s++) {
		for (p = s, q = want; *q && *p == *q; p++, q++)
			;
		if (!*q)
			return 1;
	}
	return 0;
}

void guest_main(const void *fdt)
{
	struct fdt_node gic = { 0 }, dev = { 0 };
	char *b;
	uint32_t k;
	int after_reset;

	for (b = __bss_start; b < __bss_end; b++)       /* RAM survives a guest reset: .bss does not */
		*b = 0;
	__asm__ volatile("mrs %0, cntfrq_el0; mrs %1, cntvct_el0" : "=r"(freq), "=r"(t0));
	if (fdt_find(fdt, "arm,cortex-a15-gic", &gic) || gic.regs < 2)
		fail("no GICv2 (arm,cortex-a15-gic) in the tree: run the VMM with gic-version=2");
	gicd = gic.addr[0];
	gicc = gic.addr[1];
	gic_init();                     /* from here on every interrupt is counted */
	if (fdt_find(fdt, "amd,xgbe-seattle-v1a", &dev) || dev.regs < 1)
		fail("no amd,xgbe-seattle-v1a node in the tree: is the device assigned (-device vfio-amd-xgbe)?");
	xgmac = dev.addr[0];
	for (k = 0; k + 12 <= dev.irqs_len && device_irqs < DEVICE_IRQS; k += 12)
		device_intid[device_irqs++] = be32(dev.irqs + k + 4) + (be32(dev.irqs + k) == 0 ? 32 : 16);
	after_reset = rd32(MARK_ADDR) == MARK;
	drive = has(gic.bootargs, "vfiohil.role=drive") && !after_reset;
	puts_("\r\n");         /* ends a line a guest reset cut short */
	j_begin("up");
	j_str("role", drive ? "drive" : "watch");
	j_int("after_reset", after_reset);
	j_hex("dtb", (uint64_t)fdt);
	j_hex("gicd", gicd);
	j_hex("xgmac", xgmac);
	j_end();
	if (!drive && !has(gic.bootargs, "vfiohil.role=watch") && !after_reset)
		fail("bootargs name no role (vfiohil.role=drive or vfiohil.role=watch)");
	if (drive)
		run_drive();
	run_watch(after_reset);
}
