"""The upload-slot size options shared by `board` and `firmware` (SPEC.md §9.8, `edgeloop deploy`)."""

from __future__ import annotations

import argparse

FLASH_SLOT_BOARD = "nucleo-h743zi2"


def add_slot_options(p: argparse.ArgumentParser) -> None:
    """--slots, --slot-kb and --slot-arena-kb; absent options keep the board's defaults."""
    p.add_argument("--slots", type=int, metavar="N",
                   help="RAM upload slots for `edgeloop deploy` (0-4; default: the board's, "
                        "2 on host and QEMU, 1 on the Nucleo plus its flash slot; 0: no upload at all)")
    p.add_argument("--slot-kb", type=int, metavar="KB", help="bytes of each upload slot, in KB")
    p.add_argument("--slot-arena-kb", type=int, metavar="KB", help="executor arena of each upload slot, in KB")


def slot_flags(args: argparse.Namespace) -> list[str]:
    """Firmware compiler flags for the options of add_slot_options."""
    from edgeloop.app.link.deploy import slot_cflags

    return slot_cflags(args.slots, args.slot_kb, args.slot_arena_kb)


def add_flash_slot_options(p: argparse.ArgumentParser) -> None:
    """--flash-slot-kb and --flash-slot-arena-kb: the Nucleo's flash slot (survives a reset)."""
    p.add_argument("--flash-slot-kb", type=int, metavar="KB",
                   help="nucleo-h743zi2: bytes of the flash slot that survives a reset, whole 128 KB sectors at the "
                        "end of flash bank 2 (128-1024; default 128; 0: no flash slot)")
    p.add_argument("--flash-slot-arena-kb", type=int, metavar="KB",
                   help="nucleo-h743zi2: executor arena of the flash slot's model, in KB (default 32)")


def flash_slot_flags(args: argparse.Namespace, board: str) -> list[str]:
    """Firmware flags for the options of add_slot_options and add_flash_slot_options, for `board`."""
    from edgeloop import InputError
    from edgeloop.app.link.deploy import slot_cflags

    flash_kb, flash_arena_kb = args.flash_slot_kb, args.flash_slot_arena_kb
    if (flash_kb is not None or flash_arena_kb is not None) and board != FLASH_SLOT_BOARD:
        raise InputError(f"--flash-slot-kb and --flash-slot-arena-kb apply to {FLASH_SLOT_BOARD}, the board with a "
                         f"flash slot; {board} has RAM slots only (--slots, --slot-kb)")
    return slot_cflags(args.slots, args.slot_kb, args.slot_arena_kb, flash_kb=flash_kb, flash_arena_kb=flash_arena_kb)
