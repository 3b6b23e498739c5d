# board.mk - qemu-mps2-an500: the firmware for QEMU's MPS2 AN500 (Cortex-M7).
# Included by firmware/Makefile (BOARD=qemu-mps2-an500) and by baremetal.mk.
# Run the image with edgeloop.app.qemu.start_qemu_board() / run_bare_metal().

MPS2_PORT_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
include $(MPS2_PORT_DIR)/../cortex-m/cortex-m.mk

LINKER_SCRIPT := $(MPS2_PORT_DIR)/mps2_an500.ld

PORT_SRCS := $(MPS2_PORT_DIR)/port_qemu.c $(CM_SRCS) $(CM_DIR)/cm_semihost.c

# The RX ring is sized from the core (EL_PORT_RX_RING_BYTES in core/el_config.h).
# Two upload slots of 128 KB with 128 KB executor arenas (SPEC 9.8) in the 4 MB of SSRAM.
PORT_CFLAGS := $(CM_CFLAGS) -DPORT_TX_RING_BYTES=8192u \
	-DEL_UPLOAD_SLOTS=2 -DEL_SLOT_BYTES='(128u * 1024u)' -DEL_SLOT_ARENA_BYTES='(128u * 1024u)'

PORT_LDFLAGS := $(CM_LDFLAGS) -T$(LINKER_SCRIPT)
PORT_LDLIBS := -lm

