// A bare-metal arm64 guest with a Linux Image header so QEMU's -kernel loads it at
// RAM base + text_offset and passes the tree in x0. Prints one line on virt's PL011, then idles.
    .section .text
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
    ldr     x1, =0x09000000     // PL011 UARTDR
    adr     x2, msg
1:  ldrb    w3, [x2], #1
    cbz     w3, 2f
    str     w3, [x1]
    b       1b
2:  wfi
    b       2b
    .align 3
msg: .asciz "VFIO-HIL-GUEST up\r\n"
    .ltorg
_end:
