"""The arena picture of `analyze`: buffers at their planned offsets and lifetimes, peak and bound marked."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.memory_map import arena_map, format_memory_map, svg_memory_map


@pytest.mark.parametrize("stem", ["random_04", "random_05", "random_20"])
def test_map_matches_the_plan(stem):
    compiled = compile_bytes((FIXTURES / f"{stem}.tflite").read_bytes(), name="m")
    amap = arena_map(compiled)
    buffers = amap["buffers"]
    assert buffers and all(b["offset"] + b["size"] <= amap["arena_bytes"] for b in buffers)
    for i, a in enumerate(buffers):  # buffers alive at the same step never overlap in the arena
        for b in buffers[i + 1:]:
            if a["start"] <= b["end"] and b["start"] <= a["end"]:
                assert a["offset"] + a["size"] <= b["offset"] or b["offset"] + b["size"] <= a["offset"], (a, b)
    assert max(amap["live_bytes_per_step"]) == amap["peak_live_bytes"] == compiled.plan.peak_bytes
    assert amap["single_op_lower_bound_bytes"] <= amap["peak_live_bytes"] <= amap["arena_bytes"]
    assert any(b["scratch"] for b in buffers) == any(s.scratch_bytes for s in compiled.graph.steps)


def test_text_and_svg_pictures_mark_peak_bound_and_tflm():
    compiled = compile_bytes((FIXTURES / "random_04.tflite").read_bytes(), name="m")
    amap = arena_map(compiled)
    text = format_memory_map(amap, tflm_arena_bytes=9000)
    assert f"<- peak live {amap['peak_live_bytes']:,} B" in text
    assert f"single-op bound {amap['single_op_lower_bound_bytes']:,} B" in text
    assert "TFLite Micro arena: 9,000 B" in text
    rows = [line for line in text.splitlines() if "|" in line]
    assert len(rows) == 16 and all(len(r.split("|")[1]) == 2 * len(amap["steps"]) for r in rows)
    for b in amap["buffers"]:  # every buffer is drawn and listed
        assert any(b["letter"] in r.split("|")[1] for r in rows) or b["size"] < amap["arena_bytes"] / 16
        assert f"  {b['letter']}  @" in text
    svg = svg_memory_map(amap, 9000)
    assert svg.count("<rect") == len(amap["buffers"]) + 2 and "TFLM" in svg and "peak live" in svg
