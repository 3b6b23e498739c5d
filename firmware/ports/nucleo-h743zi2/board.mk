# board.mk - nucleo-h743zi2: the firmware for the NUCLEO-H743ZI2 (STM32H743ZI).
# Included by firmware/Makefile (BOARD=nucleo-h743zi2). Flash the .bin or the
# .elf as docs/flashing.md describes.
#   BAUD=921600        link rate of USART3 / the ST-LINK virtual COM port
#   WATCHDOG_MS=4000   IWDG1 timeout
#   TCM=1              the optimized kernels' code in ITCM and the model arena in DTCM
#                      (nucleo_h743zi2_tcm.ld; default 0: flash and AXI SRAM)

NUCLEO_PORT_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
include $(NUCLEO_PORT_DIR)/../cortex-m/cortex-m.mk

BAUD ?= 921600
WATCHDOG_MS ?= 4000

LINKER_SCRIPT := $(NUCLEO_PORT_DIR)/nucleo_h743zi2.ld

PORT_SRCS := $(NUCLEO_PORT_DIR)/port_nucleo.c $(CM_SRCS)

PORT_CFLAGS := $(CM_CFLAGS) -DPORT_NUCLEO_BAUD=$(BAUD)u -DPORT_NUCLEO_WATCHDOG_MS=$(WATCHDOG_MS)u

TCM ?= 0
PORT_LDFLAGS := $(CM_LDFLAGS) -T$(LINKER_SCRIPT)
ifeq ($(TCM),1)
# a second -T script whose sections are INSERTed into the main one
PORT_LDFLAGS += -Wl,-T,$(NUCLEO_PORT_DIR)/nucleo_h743zi2_tcm.ld
else ifneq ($(TCM),0)
$(error TCM=$(TCM): use TCM=1 (kernels in ITCM, arena in DTCM) or TCM=0)
endif
PORT_LDLIBS := -lm
