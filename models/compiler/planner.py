"""Static activation-arena planning by tensor liveness.

Tensors that are alive at the same step never overlap; a tensor whose last
reader is the step that produces another may hand its storage over (in place)
when the kernel allows it, and RESHAPE outputs share their input's storage.
Buffers are placed greedily, largest first, at the lowest offset that does not
collide with any already placed buffer of an overlapping lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeloop.models.compiler.errors import CompileError
from edgeloop.models.compiler.lower import LoweredGraph, Step
from edgeloop.models.compiler.scratch import conv_scratch_bytes, conv_wide_applies

ALIGN = 4            # every buffer starts 4-byte aligned (int16/float32 scratch, word loads)
ARENA_ALIGN = 16     # the arena size is rounded to this (nn_model.h asks for 16-byte alignment)

INPUT, OUTPUT, ARENA = "input", "output", "arena"


@dataclass
class Group:
    """Storage shared by one or more tensors (or one step's scratch)."""

    gid: int
    kind: str                 # INPUT, OUTPUT or ARENA
    size: int
    start: int                # first step that writes it (-1: before the first step)
    end: int                  # last step that reads it
    tensors: list[int] = field(default_factory=list)
    offset: int = 0


@dataclass
class Plan:
    """Where every tensor lives, and the arena that holds them."""

    groups: list[Group]
    tensor_group: dict[int, int]        # tensor index -> group id
    scratch_group: dict[int, int]       # step position -> group id
    arena_bytes: int
    peak_bytes: int                     # largest sum of live arena buffers at any step
    lower_bound: int                    # largest (inputs + output + scratch) of one step in the arena

    def location(self, tensor: int) -> tuple[str, int]:
        g = self.groups[self.tensor_group[tensor]]
        return g.kind, g.offset

    def scratch(self, step_pos: int) -> int | None:
        gid = self.scratch_group.get(step_pos)
        return None if gid is None else self.groups[gid].offset


def _align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def plan(graph: LoweredGraph) -> Plan:
    """Assign every activation tensor and scratch buffer an arena offset."""
    tensors = graph.model.tensors
    last_use: dict[int, int] = {}
    for pos, step in enumerate(graph.steps):
        for t in step.inputs:
            last_use[t] = pos
    last_use[graph.output] = len(graph.steps)   # the caller reads it after the last step

    groups: list[Group] = []
    tensor_group: dict[int, int] = {}

    def new_group(kind: str, size: int, start: int, tensor: int | None) -> Group:
        g = Group(len(groups), kind, size, start, start)
        groups.append(g)
        if tensor is not None:
            g.tensors.append(tensor)
            tensor_group[tensor] = g.gid
        return g

    new_group(INPUT, tensors[graph.input].nbytes, -1, graph.input)
    out_group = None
    scratch_group: dict[int, int] = {}
    for pos, step in enumerate(graph.steps):
        t_out = step.output
        size = tensors[t_out].nbytes
        target = None
        if t_out != graph.output:
            for t_in in step.in_place:
                g = groups[tensor_group[t_in]]
                dies_here = last_use.get(t_in) == pos and all(last_use.get(t, -1) <= pos for t in g.tensors)
                if step.alias and g.kind == INPUT:
                    target = g          # a reshape of the input is a read-only view of it
                    break
                if g.kind == ARENA and (step.alias or dies_here):
                    target = g          # a view of it, or the input's storage handed over in place
                    break
        if target is not None:
            target.tensors.append(t_out)
            target.size = max(target.size, size)
            tensor_group[t_out] = target.gid
        elif t_out == graph.output:
            if out_group is None:
                out_group = new_group(OUTPUT, size, pos, t_out)
            else:
                tensor_group[t_out] = out_group.gid
        else:
            new_group(ARENA, size, pos, t_out)
        if step.scratch_bytes:
            scratch_group[pos] = new_group(ARENA, step.scratch_bytes, pos, None).gid

    for g in groups:
        g.end = max([g.start] + [last_use.get(t, g.start) for t in g.tensors])

    arena = [g for g in groups if g.kind == ARENA]
    placed: list[Group] = []
    for g in sorted(arena, key=lambda g: (-g.size, g.start, g.gid)):
        collisions = sorted((p for p in placed if p.start <= g.end and g.start <= p.end),
                            key=lambda p: p.offset)
        offset = 0
        for p in collisions:
            if offset + g.size <= p.offset:
                break
            offset = max(offset, _align(p.offset + p.size))
        g.offset = offset
        placed.append(g)

    end = max((g.offset + g.size for g in arena), default=0)
    arena_bytes = max(_align(end, ARENA_ALIGN), ARENA_ALIGN)
    peak = 0
    bound = 0
    for pos, step in enumerate(graph.steps):
        live = sum(g.size for g in arena if g.start <= pos <= g.end)
        peak = max(peak, live)
        used = {tensor_group[t] for t in step.inputs} | {tensor_group[step.output]}
        if pos in scratch_group:
            used.add(scratch_group[pos])
        bound = max(bound, sum(groups[gid].size for gid in used if groups[gid].kind == ARENA))
    return Plan(groups, tensor_group, scratch_group, arena_bytes, peak, bound)


WIDE_POLICIES = ("free", "tflm", "all", "none")
"""How convolutions may widen their weights into scratch: where the arena does not grow, where it stays
within TFLite Micro's arena for the same model, always, never."""


def plan_with_wide_weights(graph: LoweredGraph, policy: str = "free", arena_limit: int | None = None) -> Plan:
    """Plan the arena, with convolutions widening their weights into scratch per `policy`.

    The optimized convolution runs inner layers about a quarter faster when its weights
    are widened to int16 once per call (nn_conv_params_t.wide_weights), at the cost of
    2 bytes of scratch per weight. "free" (the default) tries the layers largest MACC
    first and keeps the flag only where the arena does not grow, so the speed-up never
    costs RAM; "tflm" keeps it where the arena stays within `arena_limit` (TFLite Micro's
    arena for the same model: the headroom a TFLM user already budgets, never more) or
    does not grow; "all" sets it on every layer that can take it; "none" on none.
    """
    if policy not in WIDE_POLICIES:
        raise CompileError(f"wide_weights must be one of {', '.join(WIDE_POLICIES)}, not {policy!r}")
    if policy == "tflm" and arena_limit is None:
        raise ValueError("wide_weights='tflm' needs arena_limit (TFLite Micro's arena bytes)")
    best = plan(graph)
    if policy == "none":
        return best
    shifts = {id(s): s.consts["shift"].tolist() for s in graph.steps if s.kernel == "nn_conv2d_s8"}
    candidates = [s for s in graph.steps
                  if id(s) in shifts and conv_wide_applies(s.params, shifts[id(s)], s.consts.get("bias"))]
    limit = max(best.arena_bytes, arena_limit or 0) if policy == "tflm" else best.arena_bytes

    def fits(step: Step, blocks: int) -> Plan | None:
        """The plan with `step` widened in `blocks` blocks if it fits the limit (the flag stays set), else None
        (the step is left as it was)."""
        before = (step.params["wide_weights"], step.scratch_bytes)
        step.params["wide_weights"] = blocks
        step.scratch_bytes = conv_scratch_bytes(step.params, shifts[id(step)], step.consts.get("bias"))
        trial = plan(graph)
        if policy == "all" or trial.arena_bytes <= limit:
            return trial
        step.params["wide_weights"], step.scratch_bytes = before
        return None

    ordered = sorted(candidates, key=lambda s: -s.macc)
    # First every layer that can widen at all, in its smallest form (most blocks): widening is worth more
    # than the few percent each extra block costs; then, largest layer first, the fewest blocks that still fit.
    for step in ordered:
        for blocks in (1,) if policy == "all" else wide_block_counts(int(step.params["out_c"]))[::-1]:
            trial = fits(step, blocks)
            if trial is not None:
                best = trial
                break
    for step in ordered:
        current = int(step.params["wide_weights"])
        for blocks in [n for n in wide_block_counts(int(step.params["out_c"])) if 0 < n < current]:
            trial = fits(step, blocks)
            if trial is not None:
                best = trial
                break
    return best


WIDE_MIN_BLOCK_PAIRS = 4
"""Each block of wide records holds at least this many output channel pairs: the input is re-read once per
block, which costs a few percent of the block's MACs at 4 pairs, more below."""


def wide_block_counts(out_c: int) -> list[int]:
    """The wide_weights values to try for a convolution of `out_c` channels, least scratch last: one block of
    records, then 2, 3, ... blocks while each keeps WIDE_MIN_BLOCK_PAIRS channel pairs (nn_kernels.h)."""
    pairs = out_c // 2
    counts = [1]
    for n in range(2, pairs // WIDE_MIN_BLOCK_PAIRS + 1):
        per = -(-pairs // n)
        if per < -(-pairs // counts[-1]):   # a block count that does not shrink the block adds nothing
            counts.append(n)
    return counts
