# baremetal.mk - build a bare-metal test image for qemu-mps2-an500 from any C sources.
#
#   make -f firmware/ports/qemu-mps2-an500/baremetal.mk O=out/test \
#        SRCS="tests/kernels/test_conv.c firmware/nn/nn_conv.c" \
#        INCLUDES="firmware/nn" [NAME=image] [OPT=-O2] [EXTRA_CFLAGS=-DFOO=1]
#
# gives out/test/image.elf: the sources, the QEMU port (port.h), the Cortex-M
# startup and bm_runtime.c (printf to UART0, exit status via semihosting).
# Run it with edgeloop.app.qemu.run_bare_metal(); build it from Python with
# edgeloop.app.qemu.build_bare_metal(). Rebuilds are incremental (-MMD).

BM_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
include $(BM_DIR)/board.mk

ifeq ($(strip $(SRCS)),)
$(error baremetal.mk: SRCS is empty; pass SRCS="test_main.c kernel.c ...")
endif
ifeq ($(strip $(O)),)
$(error baremetal.mk: O is empty; pass O=<output directory>)
endif

O := $(abspath $(O))
NAME ?= image
OPT ?= -O2
FIRMWARE_DIR := $(abspath $(BM_DIR)/../..)

ALL_SRCS := $(abspath $(SRCS)) $(PORT_SRCS) $(BM_DIR)/bm_runtime.c
OBJS := $(patsubst %.c,$(O)/obj%.o,$(ALL_SRCS))
CFLAGS := $(PORT_CFLAGS) $(OPT) -g3 -std=c11 -Wall -Wextra -MMD -MP \
	-I$(FIRMWARE_DIR)/core -I$(FIRMWARE_DIR)/nn -I$(BM_DIR) $(addprefix -I,$(abspath $(INCLUDES))) $(EXTRA_CFLAGS)
# _printf_float: test output may print floats (newlib-nano leaves them out by default).
LDFLAGS := $(PORT_LDFLAGS) -u _printf_float -Wl,-Map=$(O)/$(NAME).map

.PHONY: all
all: $(O)/$(NAME).elf

$(O)/$(NAME).elf: $(OBJS) $(LINKER_SCRIPT) $(CM_DIR)/cm_sections.ld
	$(CC) $(LDFLAGS) -o $@ $(OBJS) -lm
	$(SIZE) $@

$(O)/obj/%.o: /%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

-include $(OBJS:.o=.d)
