// The guest's entry: a Linux arm64 Image header (so QEMU's -kernel loads it at RAM base +
// text_offset and hands it the tree in x0, as it would a kernel: Documentation/arch/arm64/booting.rst),
// a stack, the exception vectors, then guest_main(dtb). Runs at EL1 with the MMU off.
    .section .text.head, "ax"
    .globl _start
_start:
    b       start               // code0/code1
    .long   0
    .quad   0x80000             // text_offset
    .quad   _end - _start       // image_size
    .quad   0                   // flags
    .quad   0, 0, 0
    .ascii  "ARM\x64"           // magic
    .long   0
start:
    ldr     x1, =stack_top
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el1, x1
    isb
    bl      guest_main          // x0: the tree
1:  wfi
    b       1b

// Every exception but an IRQ taken at EL1 on SP_ELx ends the guest (guest_exception reports it).
.macro  entry, kind
    .balign 0x80
    stp     x29, x30, [sp, #-16]!
    stp     x0, x1, [sp, #-16]!             // before x0 carries the vector's number
    mov     x0, #\kind
    b       common
.endm
    .balign 0x800
vectors:
    entry 0; entry 1; entry 2; entry 3      // current EL, SP_EL0
    entry 4; entry 5; entry 6; entry 7      // current EL, SP_ELx: 5 is the IRQ
    entry 8; entry 9; entry 10; entry 11    // lower EL, AArch64
    entry 12; entry 13; entry 14; entry 15  // lower EL, AArch32
common:
    cmp     x0, #5
    b.ne    fatal
    stp     x2, x3, [sp, #-16]!             // the rest of the caller-saved registers around the C handler
    stp     x4, x5, [sp, #-16]!
    stp     x6, x7, [sp, #-16]!
    stp     x8, x9, [sp, #-16]!
    stp     x10, x11, [sp, #-16]!
    stp     x12, x13, [sp, #-16]!
    stp     x14, x15, [sp, #-16]!
    stp     x16, x17, [sp, #-16]!
    stp     x18, x19, [sp, #-16]!
    mrs     x2, elr_el1                     // kept across the handler, as is SPSR: no nesting (IRQs masked)
    mrs     x3, spsr_el1
    stp     x2, x3, [sp, #-16]!
    bl      guest_irq
    ldp     x2, x3, [sp], #16
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x18, x19, [sp], #16
    ldp     x16, x17, [sp], #16
    ldp     x14, x15, [sp], #16
    ldp     x12, x13, [sp], #16
    ldp     x10, x11, [sp], #16
    ldp     x8, x9, [sp], #16
    ldp     x6, x7, [sp], #16
    ldp     x4, x5, [sp], #16
    ldp     x2, x3, [sp], #16
    ldp     x0, x1, [sp], #16
    ldp     x29, x30, [sp], #16
    eret
fatal:
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    bl      guest_exception
2:  wfi
    b       2b
    .ltorg
