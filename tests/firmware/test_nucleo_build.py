"""The NUCLEO-H743ZI2 image: it builds, fits the STM32H743ZI, and is laid out as the port intends.

There is no board here, so these tests check what can be checked without one:
the memory use of every region against the part (2 MB flash, 128 KB DTCM,
512 KB AXI SRAM), the vector table the core boots from, where the large
buffers landed, and the floating-point ABI of the image.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeloop.app.link.firmware_build import FirmwareBuildError, FirmwareImage, build_firmware

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None,
    reason="arm-none-eabi-gcc missing (Debian packages gcc-arm-none-eabi libnewlib-arm-none-eabi)",
)

BOARD = "nucleo-h743zi2"


@dataclass(frozen=True)
class Region:
    """One memory of the STM32H743ZI (RM0433 memory map)."""

    name: str
    origin: int
    length: int

    def holds(self, address: int) -> bool:
        return self.origin <= address < self.origin + self.length


REGIONS = (
    Region("FLASH", 0x0800_0000, 2 * 1024 * 1024),
    Region("DTCM", 0x2000_0000, 128 * 1024),
    Region("AXISRAM", 0x2400_0000, 512 * 1024),
)
USART3_IRQ = 39


@dataclass(frozen=True)
class Section:
    name: str
    size: int
    vma: int
    lma: int
    flags: frozenset[str]


def read_sections(elf: Path) -> list[Section]:
    """Allocated sections of an ELF, from `arm-none-eabi-objdump -h`."""
    text = subprocess.run(["arm-none-eabi-objdump", "-h", str(elf)], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    rows = re.findall(r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+\S+\n\s+(.+)$",
                      text, re.MULTILINE)
    sections = [Section(name, int(size, 16), int(vma, 16), int(lma, 16),
                        frozenset(flag.strip() for flag in flags.split(",")))
                for name, size, vma, lma, flags in rows]
    return [s for s in sections if "ALLOC" in s.flags and s.size > 0]


def region_usage(sections: list[Section]) -> dict[str, int]:
    """Bytes used per region: run-time addresses, plus flash for everything loaded from it (.data)."""
    usage = {region.name: 0 for region in REGIONS}
    for section in sections:
        for region in REGIONS:
            if region.holds(section.vma):
                usage[region.name] += section.size
            if "LOAD" in section.flags and section.lma != section.vma and region.holds(section.lma):
                usage[region.name] += section.size
    return usage


def size_problems(sections: list[Section]) -> list[str]:
    """Every way the image does not fit the part; empty when it fits."""
    problems = [f"{s.name} at {s.vma:#010x} is outside every memory of the part" for s in sections
                if not any(r.holds(s.vma) for r in REGIONS)]
    usage = region_usage(sections)
    problems += [f"{r.name}: {usage[r.name]} bytes used, {r.length} available" for r in REGIONS
                 if usage[r.name] > r.length]
    return problems


def symbols(elf: Path) -> dict[str, int]:
    text = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    return {name: int(addr, 16) for addr, _kind, name in re.findall(r"^([0-9a-f]+) (\w) (\S+)$", text, re.M)}


@pytest.fixture(scope="module")
def image() -> FirmwareImage:
    return build_firmware(BOARD)


def test_image_fits_the_stm32h743zi(image: FirmwareImage) -> None:
    sections = read_sections(image.elf)
    assert not size_problems(sections), size_problems(sections)
    usage = region_usage(sections)
    assert usage["FLASH"] > 1024 and usage["DTCM"] > 0 and usage["AXISRAM"] > 0
    size_report = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(image.elf)], capture_output=True,
                                 text=True, check=True, timeout=60).stdout
    reported = {m[0]: int(m[1]) for m in re.findall(r"^(\.\S+)\s+(\d+)\s+\d+$", size_report, re.M)}
    for section in sections:  # the objdump reading agrees with arm-none-eabi-size
        assert reported[section.name] == section.size


def test_size_check_rejects_what_does_not_fit() -> None:
    too_big = [
        Section(".text", 2 * 1024 * 1024 + 4, 0x0800_0000, 0x0800_0000, frozenset({"ALLOC", "LOAD", "CODE"})),
        Section(".bss", 129 * 1024, 0x2000_0000, 0x2000_0000, frozenset({"ALLOC"})),
        Section(".sram4", 16, 0x3800_0000, 0x3800_0000, frozenset({"ALLOC"})),
    ]
    problems = size_problems(too_big)
    assert any(p.startswith("FLASH:") for p in problems)
    assert any(p.startswith("DTCM:") for p in problems)
    assert any(".sram4" in p for p in problems)
    # .data counts twice: in RAM where it runs, and in flash where its initial values live.
    data = Section(".data", 100, 0x2000_4000, 0x0800_2000, frozenset({"ALLOC", "LOAD", "DATA"}))
    assert region_usage([data]) == {"FLASH": 100, "DTCM": 100, "AXISRAM": 0}


@pytest.mark.slow
def test_linker_refuses_an_image_over_the_part(tmp_path: Path) -> None:
    # A 600 KB I/O pool cannot fit the 512 KB AXI SRAM: the build must fail, not truncate.
    with pytest.raises(FirmwareBuildError, match="AXISRAM' overflowed"):
        build_firmware(BOARD, models=["sine"], extra_cflags=["-DEL_IO_POOL_BYTES=614400u"],
                       build_root=tmp_path)


def test_vector_table_boots_into_the_port(image: FirmwareImage) -> None:
    assert image.bin is not None
    binary = image.bin.read_bytes()
    table = struct.unpack_from(f"<{16 + USART3_IRQ + 1}I", binary, 0)
    sym = symbols(image.elf)
    dtcm = REGIONS[1]
    assert table[0] == sym["__stack_top"] and dtcm.holds(table[0] - 4)
    assert sym["__stack_bottom"] == dtcm.origin  # stack at the bottom: an overflow faults, not corrupts
    assert table[1] == sym["port_cm_reset_isr"] | 1  # Thumb bit set
    assert table[3] == sym["port_cm_fault_isr"] | 1  # HardFault
    assert table[15] == sym["port_cm_clock_isr"] | 1  # SysTick
    assert table[16 + USART3_IRQ] == sym["usart3_isr"] | 1
    flash = REGIONS[0]
    assert all(flash.holds(entry & ~1) for entry in table[1:] if entry)
    # The .bin is the flash image from 0x08000000: small, with no gap up to RAM addresses.
    assert len(binary) <= flash.length
    loaded_end = max(s.lma + s.size for s in read_sections(image.elf) if "LOAD" in s.flags)
    assert len(binary) == loaded_end - flash.origin


def test_large_buffers_live_in_axi_sram_and_state_in_dtcm(image: FirmwareImage) -> None:
    sym = symbols(image.elf)
    axi, dtcm = REGIONS[2], REGIONS[1]
    for name in ("el_arena", "el_slots", "el_io_pool", "port_rx_mem", "el_slot_mem", "el_slot_arena", "el_flash_arena",
                 "el_flash_io"):
        assert axi.holds(sym[name]), f"{name} at {sym[name]:#x} is not in AXI SRAM"
    for name in ("port_tx_mem", "__bss_start", "__data_start"):
        assert dtcm.holds(sym[name]), f"{name} at {sym[name]:#x} is not in DTCM"


def test_image_is_built_for_the_cortex_m7_fpu(image: FirmwareImage) -> None:
    attributes = subprocess.run(["arm-none-eabi-readelf", "-A", str(image.elf)], capture_output=True,
                                text=True, check=True, timeout=60).stdout
    assert 'Tag_CPU_name: "7E-M"' in attributes
    assert "Tag_FP_arch: FPv5/FP-D16 for ARMv8" in attributes
    assert "Tag_ABI_VFP_args: VFP registers" in attributes


@pytest.mark.parametrize("define,message", [
    ("-DPORT_NUCLEO_BAUD=13000000u", "BAUD is too high for USART3"),
    ("-DPORT_NUCLEO_BAUD=1200u", "BAUD is too low for USART3"),
    ("-DPORT_NUCLEO_WATCHDOG_MS=16384u", "WATCHDOG_MS must be 4 .. 16380"),
    ("-DPORT_NUCLEO_WATCHDOG_MS=2u", "WATCHDOG_MS must be 4 .. 16380"),
    ("-DPORT_NUCLEO_BAUD=12500000u", None),
    ("-DPORT_NUCLEO_WATCHDOG_MS=16380u", None),
])
def test_baud_and_watchdog_out_of_range_stop_the_build(define: str, message: str | None, tmp_path: Path) -> None:
    """BRR must be at least 16 and fit 16 bits; the IWDG1 reload must be 1 .. 4095 ticks of 4 ms."""
    import edgeloop

    fw = edgeloop.FIRMWARE_DIR
    proc = subprocess.run(["arm-none-eabi-gcc", "-std=c11", "-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16",
                           "-mfloat-abi=hard", define, "-I", str(fw / "core"), "-I", str(fw / "ports"),
                           "-I", str(fw / "ports" / BOARD), "-c", str(fw / "ports" / BOARD / "port_nucleo.c"),
                           "-o", str(tmp_path / "port.o")], capture_output=True, text=True, timeout=120)
    if message is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr


@pytest.mark.parametrize("level", ["-O0", "-Og"])
def test_a_debug_build_of_the_optimized_kernels_compiles(level: str, tmp_path: Path) -> None:
    """A user debugging the port builds without optimization: at -O0 GCC keeps the frame pointer in r7 and
    cannot give the kernels' assembly blocks their registers ('impossible constraints'), so the portable C
    twins run there instead."""
    import edgeloop

    nn = edgeloop.FIRMWARE_DIR / "nn"
    for source in sorted(nn.glob("nn_opt_*.c")):
        proc = subprocess.run(["arm-none-eabi-gcc", "-std=c11", "-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16",
                               "-mfloat-abi=hard", level, "-Wall", "-Werror", "-I", str(nn),
                               "-I", str(edgeloop.FIRMWARE_DIR / "core"), "-c", str(source),
                               "-o", str(tmp_path / f"{source.stem}.o")], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{source.name} at {level}:\n{proc.stderr}"


ITCM = Region("ITCM", 0x0000_0000, 64 * 1024)


@pytest.mark.slow
def test_tcm_option_puts_kernels_in_itcm_and_the_arena_in_dtcm(tmp_path: Path) -> None:
    """make TCM=1: the optimized kernels run from ITCM (loaded from flash after the vector table),
    the model arena lives in DTCM above the stack, and the link buffers stay in AXI SRAM."""
    import edgeloop

    fw = edgeloop.FIRMWARE_DIR
    model = fw.parent / "models" / "zoo" / "bottles_tiny" / "c" / "bottles_tiny.c"
    proc = subprocess.run(["make", "-s", "-C", str(fw), f"BOARD={BOARD}", "TCM=1", f"BUILD={tmp_path}",
                           f"MODELS={model}", "-j2"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    elf = tmp_path / "edgeloop.elf"
    syms = symbols(elf)
    assert syms["port_vectors"] == 0x0800_0000
    for kernel in ("nn_opt_conv2d_s8", "nn_opt_max_pool_s8", "nn_conv2d_s8_path"):
        assert ITCM.holds(syms[kernel]), (kernel, hex(syms[kernel]))
    assert REGIONS[0].holds(syms["__ramcode_load"]) and syms["__ramcode_load"] > 0x0800_0000
    dtcm, axi = REGIONS[1], REGIONS[2]
    assert dtcm.holds(syms["el_arena"]) and syms["el_arena"] >= syms["__stack_top"]
    for buffer in ("el_io_pool", "el_slots", "port_rx_mem"):
        assert axi.holds(syms[buffer]), buffer
    sections = {s.name: s for s in read_sections(elf)}
    assert sections[".itcm"].lma >= sections[".isr_vector"].lma + sections[".isr_vector"].size
    bad = subprocess.run(["make", "-s", "-C", str(fw), f"BOARD={BOARD}", "TCM=yes", f"BUILD={tmp_path / 'bad'}"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "TCM=yes: use TCM=1" in bad.stderr


def _flash_driver(elf: Path) -> tuple[int, int, int]:
    """base, sectors and sector_bytes of the flash slot driver (port_flash.c's `port_flash`) in the image."""
    at = symbols(elf)["port_flash"]
    dump = subprocess.run(["arm-none-eabi-objdump", "-s", f"--start-address={at:#x}", f"--stop-address={at + 12:#x}",
                           str(elf)], capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [line.split(" ", 2)[2][:35] for line in dump.splitlines() if re.match(r"^ [0-9a-f]+ ", line)]
    raw = bytes.fromhex("".join(row.replace(" ", "") for row in rows))   # 4 words of hex, then the ASCII
    return struct.unpack_from("<3I", raw)


def test_the_flash_slot_size_option_places_the_slot_at_the_end_of_bank_2_after_the_image(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`firmware build --flash-slot-kb 256 --flash-slot-arena-kb 16`: the driver erases the last two 128 KB
    sectors of bank 2, the image ends before them (erasing the slot never erases code), and the flash
    slot's arena has the size asked; a size that is not whole sectors, or a board without flash slot,
    is one clear line."""
    from edgeloop.app.cli import main

    assert main(["firmware", "build", "--board", BOARD, "--models", "sine", "--flash-slot-kb", "256",
                 "--flash-slot-arena-kb", "16"]) == 0
    elf = Path(capsys.readouterr().out.split(f"{BOARD}: ", 1)[1].split()[0])
    base, sectors, sector_bytes = _flash_driver(elf)
    assert (sectors, sector_bytes) == (2, 128 * 1024) and base + sectors * sector_bytes == 0x0820_0000
    flash_end = max(s.lma + s.size for s in read_sections(elf) if "LOAD" in s.flags and REGIONS[0].holds(s.lma))
    assert flash_end <= base == 0x081C_0000, f"the image ends at {flash_end:#x}, inside the flash slot at {base:#x}"
    sizes = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^[0-9a-f]+ 00004000 \w el_flash_arena$", sizes, re.M), "flash slot arena is not 16 KB"
    assert _flash_driver(build_firmware(BOARD).elf)[:2] == (0x081E_0000, 1)     # the default: one sector
    assert main(["firmware", "build", "--board", BOARD, "--flash-slot-kb", "200"]) == 2
    assert "--flash-slot-kb 200 must be 0 (no flash slot) or a multiple of 128" in capsys.readouterr().err
    assert main(["firmware", "build", "--board", "host", "--flash-slot-kb", "128"]) == 2
    assert "apply to nucleo-h743zi2" in capsys.readouterr().err
