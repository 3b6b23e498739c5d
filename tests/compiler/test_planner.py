"""The arena planner: no live buffers overlap, in-place reuse happens, and the arena beats TFLite Micro's."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES

from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.planner import ARENA
from edgeloop.models.reference import tflm_arena_bytes

CORPUS = sorted(FIXTURES.glob("random_*.tflite"))


def _check_no_overlap(result) -> None:
    groups = [g for g in result.plan.groups if g.kind == ARENA]
    for i, a in enumerate(groups):
        assert a.offset % 4 == 0 and a.offset + a.size <= result.arena_bytes
        for b in groups[i + 1:]:
            live_together = a.start <= b.end and b.start <= a.end
            disjoint = a.offset + a.size <= b.offset or b.offset + b.size <= a.offset
            assert not live_together or disjoint, (a, b)


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_plan_is_sound_and_not_larger_than_tflm(path) -> None:
    data = path.read_bytes()
    result = compile_bytes(data, name="m")
    _check_no_overlap(result)
    assert result.plan.lower_bound <= result.arena_bytes
    assert result.arena_bytes <= tflm_arena_bytes(data)
    assert result.const_bytes <= len(data)


def test_elementwise_ops_run_in_place_and_reshape_shares_storage() -> None:
    from edgeloop.models.compiler.tflite_writer import ModelBuilder

    b = ModelBuilder()
    x = b.tensor((1, 64), scale=0.1, zero_point=0)
    w = b.tensor((64, 64), scale=[0.01], data=np.ones((64, 64), np.int8))
    h = b.tensor((1, 64), scale=0.5, zero_point=0)
    b.op("FULLY_CONNECTED", [x, w, -1], [h], "FullyConnectedOptions")
    shape = b.tensor((2,), "int32", data=np.array([1, 64], np.int32))
    r = b.tensor((1, 64), scale=0.5, zero_point=0)
    b.op("RESHAPE", [h, shape], [r])
    s = b.tensor((1, 64), scale=1 / 256, zero_point=-128)
    b.op("LOGISTIC", [r], [s])
    y = b.tensor((1, 64), scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", [s], [y], "SoftmaxOptions", beta=1.0)
    result = compile_bytes(b.build([x], [y]), name="inplace")
    plan = result.plan
    assert plan.location(h) == plan.location(r) == plan.location(s)   # one buffer for three tensors
    assert plan.location(y)[0] == "output"
    assert "(shares storage)" in result.c_source
    # the FC output buffer plus the FC scratch (128 B) is all the arena needs
    assert result.arena_bytes == 64 + 128


@pytest.mark.skipif(__import__("shutil").which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("stem", ["random_04", "random_16", "random_20", "random_03"])
def test_code_size_estimate_tracks_the_linked_cortex_m7_image(stem: str) -> None:
    """flash_bytes in the descriptor = constants (exact) + a code estimate within 35% of the real code."""
    from edgeloop.models.compiler.analyze import arm_sizes

    result = compile_bytes((FIXTURES / f"{stem}.tflite").read_bytes(), name="m")
    arm = arm_sizes(result)
    real_code = arm["flash"] - result.const_bytes - result.label_bytes
    assert real_code > 0
    assert abs(result.code_bytes - real_code) <= 0.35 * real_code, (result.code_bytes, real_code)


ZOO = Path(__file__).resolve().parents[2] / "models" / "zoo"


@pytest.mark.parametrize("model", [ZOO / "bottles_tiny" / "bottles_tiny.tflite", ZOO / "bottles_demo" / "bottles_demo.tflite",
                                   FIXTURES / "random_20.tflite", FIXTURES / "random_04.tflite"])
def test_wide_weights_policies(model: Path) -> None:
    """"free" widens only where the arena stays as small as with "none"; "all" widens every layer that can."""
    from edgeloop.models.compiler.scratch import conv_wide_applies

    data = model.read_bytes()
    by_policy = {p: compile_bytes(data, name="m", wide_weights=p) for p in ("none", "free", "all")}

    def wide(r):
        return [s.index for s in r.graph.steps if s.params.get("wide_weights")]

    eligible = [s.index for s in by_policy["none"].graph.steps if s.kernel == "nn_conv2d_s8"
                and conv_wide_applies(s.params, s.consts["shift"].tolist())]
    assert wide(by_policy["none"]) == []
    assert by_policy["free"].arena_bytes == by_policy["none"].arena_bytes
    assert set(wide(by_policy["free"])) <= set(eligible)
    assert wide(by_policy["all"]) == eligible
    assert by_policy["all"].arena_bytes >= by_policy["free"].arena_bytes
    for r in by_policy.values():   # the flag reaches the generated parameters
        assert len(re.findall(r"\.wide_weights = [1-9]", r.c_source)) == len(wide(r))


def test_free_wide_weights_cover_the_tiny_bottle_model_inner_layers() -> None:
    r = compile_bytes((ZOO / "bottles_tiny" / "bottles_tiny.tflite").read_bytes(), name="m")
    assert [s.params["wide_weights"] for s in r.graph.steps if s.kernel == "nn_conv2d_s8"] == [0, 1, 1, 1]


def test_unknown_wide_weights_policy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="wide_weights must be one of free, tflm, all, none"):
        compile_bytes((FIXTURES / "random_04.tflite").read_bytes(), name="m", wide_weights="some")


def test_tflm_policy_widens_within_the_limit_in_blocks_where_needed() -> None:
    """"tflm" lets the arena grow up to the given limit (TFLite Micro's arena), never beyond, and splits a
    layer's wide records into blocks of channel pairs when a single block would not fit."""
    from edgeloop.models.compiler.lower import lower
    from edgeloop.models.compiler.planner import plan_with_wide_weights, wide_block_counts
    from edgeloop.models.compiler.tflite_reader import read_tflite

    data = (FIXTURES / "random_20.tflite").read_bytes()

    def planned(policy: str, limit: int | None = None):
        graph = lower(read_tflite(data))
        return graph, plan_with_wide_weights(graph, policy, arena_limit=limit)

    _, free = planned("free")
    all_graph, every = planned("all")
    assert every.arena_bytes > free.arena_bytes   # the fixture has a layer whose full records grow the arena
    _, same = planned("tflm", every.arena_bytes)
    assert same.arena_bytes == every.arena_bytes
    for limit in range(free.arena_bytes, every.arena_bytes, max((every.arena_bytes - free.arena_bytes) // 7, 16)):
        graph, p = planned("tflm", limit)
        assert free.arena_bytes <= p.arena_bytes <= limit
        blocks = [s.params["wide_weights"] for s in graph.steps if s.kernel == "nn_conv2d_s8"]
        assert all(b in [0, *wide_block_counts(int(s.params["out_c"]))]
                   for b, s in zip(blocks, (s for s in graph.steps if s.kernel == "nn_conv2d_s8")))
    with pytest.raises(ValueError, match="arena_limit"):
        planned("tflm")


def test_wide_block_counts_keep_four_pairs_a_block() -> None:
    from edgeloop.models.compiler.planner import wide_block_counts

    assert wide_block_counts(64) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert wide_block_counts(16) == [1, 2]
    assert wide_block_counts(15) == [1]   # 7 pairs: two blocks would hold 4 and 3
    assert wide_block_counts(2) == [1]
