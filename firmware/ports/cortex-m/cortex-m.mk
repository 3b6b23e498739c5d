# cortex-m.mk - toolchain, architecture flags and shared sources of the Cortex-M7 boards.
# Included by ports/<board>/board.mk; defines CM_DIR, CROSS, CC, OBJCOPY, SIZE,
# CM_ARCH_FLAGS, CM_SRCS, CM_CFLAGS and CM_LDFLAGS (LINKER_SCRIPT set by the board).

CM_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

CROSS ?= arm-none-eabi-
CC := $(CROSS)gcc
OBJCOPY := $(CROSS)objcopy
SIZE := $(CROSS)size

# Cortex-M7 with the double-precision FPv5 unit: the STM32H743 has it, and so
# does QEMU's cortex-m7 model used for mps2-an500 (MVFR0 reports double support;
# the QEMU test runs double arithmetic to prove it).
CM_ARCH_FLAGS := -mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard

CM_SRCS := $(CM_DIR)/cm_startup.c $(CM_DIR)/cm7.c $(CM_DIR)/cm_clock.c

CM_CFLAGS := $(CM_ARCH_FLAGS) -ffunction-sections -fdata-sections -fno-common

# newlib-nano provides memcpy/memset/snprintf; nosys stubs any system call we do not
# implement; the reset handler lives in cm_startup.c, so no C runtime start files.
CM_LDFLAGS := $(CM_ARCH_FLAGS) -nostartfiles --specs=nano.specs --specs=nosys.specs \
	-Wl,--gc-sections -Wl,--no-warn-rwx-segments -L$(CM_DIR)
