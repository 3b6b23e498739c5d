"""`edgeloop firmware build|flash`: build a board image, and flash it onto a NUCLEO-H743ZI2."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from pathlib import Path

from edgeloop import EdgeloopError, InputError, MissingFileError, os_errors_explained
from edgeloop.app.commands._slots import FLASH_SLOT_BOARD, add_flash_slot_options, add_slot_options, flash_slot_flags

FLASH_BOARD = FLASH_SLOT_BOARD  # the board flashed over its ST-LINK is the one with a flash slot
FLASH_ADDRESS = "0x08000000"
FLASH_METHODS = ("auto", "drag", "st-flash", "openocd")


class FlashError(EdgeloopError, RuntimeError):
    """No way to flash was found, or the flashing tool failed."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `firmware` subcommand with its `build` and `flash` actions."""
    from edgeloop.app.link.firmware_build import BOARDS

    p = subparsers.add_parser("firmware", help="build firmware images and flash the NUCLEO board",
                              description="Build a firmware image for a board, or flash the NUCLEO-H743ZI2.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = actions.add_parser("build", help="build a board image (cached; rebuilt when sources change)")
    b.add_argument("--board", choices=BOARDS, default=FLASH_BOARD, help=f"target board (default {FLASH_BOARD})")
    _add_models(b)
    add_slot_options(b)
    add_flash_slot_options(b)
    b.set_defaults(func=run_build)
    f = actions.add_parser(
        "flash", help=f"build and flash the {FLASH_BOARD} image",
        description="Flash the NUCLEO-H743ZI2: 'drag' copies the .bin onto the ST-LINK USB drive (NOD_H743ZI2), "
                    "'st-flash' and 'openocd' use those tools over the ST-LINK; 'auto' tries them in that order.")
    f.add_argument("--method", choices=FLASH_METHODS, default="auto", help="how to flash (default auto)")
    f.add_argument("--image", type=Path, help="flash this .elf/.bin instead of building one")
    _add_models(f)
    add_slot_options(f)
    add_flash_slot_options(f)
    f.set_defaults(func=run_flash)


def _add_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="models to link in, in index order: compiled NAME.c files, their folders, or names "
                        "(default: every zoo model)")


def run_build(args: argparse.Namespace) -> int:
    """Build the image and print where it is and how big it is."""
    from edgeloop.app.link.firmware_build import build_firmware

    image = build_firmware(args.board, args.models, extra_cflags=flash_slot_flags(args, args.board))
    print(f"{args.board}: {image.elf}")
    if image.bin is not None:
        print(f"{args.board}: {image.bin} ({image.bin.stat().st_size} bytes)")
    print("models: " + ", ".join(m.stem for m in image.models))
    return 0


def find_stlink_drive(roots: tuple[str, ...] = ("/media", "/run/media", "/mnt", "/Volumes")) -> Path | None:
    """Return the mount point of an ST-LINK mass-storage drive (it holds DETAILS.TXT), or None."""
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        for details in sorted(root.glob("**/DETAILS.TXT")):
            if len(details.relative_to(root).parts) <= 3 and details.parent.is_dir():
                text = details.read_text(errors="replace")
                if "ST-LINK" in text.upper() or "STLINK" in text.upper() or "NUCLEO" in details.parent.name.upper() \
                        or details.parent.name.upper().startswith("NOD_"):
                    return details.parent
    return None


def tcl_word(text: str) -> str:
    """`text` as one word of an openocd (Tcl) command: double-quoted, with the characters Tcl
    substitutes inside quotes escaped, so paths with spaces, brackets or dollars stay one word."""
    return '"' + re.sub(r'([\\"$\[\]{}])', r"\\\1", text) + '"'


def flash(elf: Path, binary: Path, method: str = "auto") -> str:
    """Flash the image with ``method``; return a line describing what was done."""
    if method not in FLASH_METHODS:
        raise InputError(f"unknown flash method {method!r}; choose one of {', '.join(FLASH_METHODS)}")
    drive = find_stlink_drive() if method in ("auto", "drag") else None
    if method == "drag" or (method == "auto" and drive is not None):
        if drive is None:
            raise FlashError("no ST-LINK drive is mounted (look for NOD_H743ZI2): plug the board's ST-LINK USB "
                             "port in and mount the drive, or use --method st-flash/openocd")
        target = drive / binary.name
        with os_errors_explained(f"copy {binary} onto the ST-LINK drive {drive}"):
            shutil.copyfile(binary, target)
            os.sync()
        return f"copied {binary} to {target}; the ST-LINK programs the board and resets it"
    if method in ("auto", "st-flash") and shutil.which("st-flash"):
        cmd = ["st-flash", "--reset", "write", str(binary), FLASH_ADDRESS]
    elif method in ("auto", "openocd") and shutil.which("openocd"):
        cmd = ["openocd", "-f", "interface/stlink.cfg", "-f", "target/stm32h7x.cfg",
               "-c", f"program {tcl_word(elf.as_posix())} verify reset exit"]
    else:
        wanted = {"st-flash": "st-flash (Debian package stlink-tools)", "openocd": "openocd (Debian package openocd)",
                  "auto": "an ST-LINK drive, st-flash (stlink-tools) or openocd"}[method]
        raise FlashError(f"cannot flash: {wanted} was not found. Plug the board in (its ST-LINK USB port) and "
                         "install stlink-tools or openocd, or copy the .bin onto the NOD_H743ZI2 drive by hand")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
        raise FlashError(f"{cmd[0]} failed (exit {done.returncode}); is the board connected?\n{tail}")
    return f"flashed {binary if cmd[0] == 'st-flash' else elf} with {cmd[0]}"


def run_flash(args: argparse.Namespace) -> int:
    """Build (unless --image) and flash."""
    if args.image is not None:
        image = args.image
        if not image.is_file():
            raise MissingFileError(f"--image {image} does not exist")
        elf, binary = image.with_suffix(".elf"), image.with_suffix(".bin")
        if not binary.is_file() and args.method in ("drag", "st-flash"):
            raise FlashError(f"{binary} is missing: --method {args.method} needs the .bin beside the .elf")
    else:
        from edgeloop.app.link.firmware_build import build_firmware

        built = build_firmware(FLASH_BOARD, args.models, extra_cflags=flash_slot_flags(args, FLASH_BOARD))
        assert built.bin is not None
        elf, binary = built.elf, built.bin
    print(flash(elf, binary, args.method))
    return 0
