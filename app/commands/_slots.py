"""The upload-slot size options shared by `board` and `firmware` (SPEC.md §9.8, `edgeloop deploy`)."""

from __future__ import annotations

import argparse


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
