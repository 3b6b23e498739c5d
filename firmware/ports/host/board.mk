# board.mk - the host virtual board: the firmware core as a Linux process.
# Included by firmware/Makefile (BOARD=host). Serves the link on TCP and/or a pty.

HOST_PORT_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

CC := gcc
SIZE := size
OBJCOPY :=

PORT_SRCS := $(HOST_PORT_DIR)/port_host.c $(HOST_PORT_DIR)/main_host.c
# EL_NO_MAIN: main_host.c parses the command line instead of el_main.c.
# A desktop has memory to spare: keep the last input of many large models.
# Two upload slots of 256 KB with 256 KB executor arenas each (SPEC 9.8): room for any zoo model.
PORT_CFLAGS := -DEL_NO_MAIN -D_GNU_SOURCE -pthread -DEL_IO_POOL_BYTES='(1024u * 1024u)' \
	-DEL_UPLOAD_SLOTS=2 -DEL_SLOT_BYTES='(256u * 1024u)' -DEL_SLOT_ARENA_BYTES='(256u * 1024u)' \
	-ffunction-sections -fdata-sections '-DEL_AFTER_INVOKE(t0)=port_host_stretch(t0)'
PORT_LDFLAGS := -pthread -Wl,--gc-sections
PORT_LDLIBS := -lm
# The host image is an executable, not an MCU image: no .bin.
PORT_IMAGE_BIN :=
