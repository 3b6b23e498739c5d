"""The JSON sidecar of a model: labels, input kind, windowing, input standardisation, decision rule.

``decision`` (edgeloop.models.decision) is validated here but is host-side: the
descriptor does not carry it. ``feature_set``, the exact fractional rate
(``sample_rate_mhz``) and ``norm_mode`` are the SPEC.md §9.3 (1.1) fields.

Input standardisation (``input_norm``: per-element mean and std, SPEC.md 5.3)
comes from the sidecar's ``input_norm`` key or, when absent, from the
``feature_norm`` of a ``NAME.preprocess.json`` beside ``NAME.meta.json`` (what
``edgeloop train`` writes for IMU feature models).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from edgeloop.models.compiler.errors import CompileError

INPUT_KINDS = {"tensor": 0, "image": 1, "imu-window": 2, "imu-features": 3,
               "timeseries-window": 4, "timeseries-features": 5}  # 4, 5: SPEC.md §9.3
WINDOWED_KINDS = ("imu-window", "imu-features", "timeseries-window", "timeseries-features")
NORM_MODES = {"element": 0, "channel": 1}  # SPEC.md §9.3 norm_mode
_KEYS = {"labels", "input_kind", "sample_rate_hz", "window", "hop", "input_norm", "decision", "feature_set",
         "norm_mode"}
_MAX_NORMS = 4096  # keeps a model descriptor within its u16 length


@dataclass(frozen=True)
class ModelMeta:
    """What the firmware descriptor carries beyond the tensors themselves."""

    labels: tuple[str, ...] | None = None   # None: default ("class0".. or none)
    input_kind: str = "tensor"
    sample_rate_hz: int = 0
    window: int = 0
    hop: int = 0
    input_norm: tuple[tuple[float, float], ...] = ()  # (mean, std) per input element (or per channel)
    sample_rate_mhz: int = 0   # exact rate in millihertz (SPEC.md §9.3); sample_rate_hz is it rounded
    feature_set: int = 0       # SPEC.md §9.3: 0 none, 1 edgeloop-stats9, ... (features.FEATURE_SET_IDS)
    norm_mode: int = 0         # 0 per element, 1 per channel

    @property
    def input_kind_code(self) -> int:
        return INPUT_KINDS[self.input_kind]


def parse_meta(obj: object, source: str = "metadata") -> ModelMeta:
    """Validate a decoded sidecar object; errors name the field and the fix."""
    if not isinstance(obj, dict):
        raise CompileError(f"{source}: expected a JSON object, got {type(obj).__name__}")
    unknown = set(obj) - _KEYS
    if unknown:
        raise CompileError(f"{source}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    labels = obj.get("labels")
    if labels is not None:
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise CompileError(f"{source}: 'labels' must be a list of strings")
        if len(labels) > 255:
            raise CompileError(f"{source}: {len(labels)} labels; at most 255 are supported")
        for lab in labels:
            if not lab or len(lab.encode("utf-8")) > 255:
                raise CompileError(f"{source}: label {lab!r} must be 1-255 bytes of UTF-8")
        labels = tuple(labels)
    kind = obj.get("input_kind", "tensor")
    if kind not in INPUT_KINDS:
        raise CompileError(f"{source}: input_kind {kind!r} is not one of {sorted(INPUT_KINDS)}")
    ints = {}
    for key in ("window", "hop"):
        v = obj.get(key, 0)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 65535:
            raise CompileError(f"{source}: {key} must be an integer 0..65535, got {v!r}")
        ints[key] = v
    rate = obj.get("sample_rate_hz", 0)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 65535 \
            or not math.isfinite(rate):
        raise CompileError(f"{source}: sample_rate_hz must be a number 0..65535 (fractions allowed), got {rate!r}")
    if kind not in WINDOWED_KINDS and (rate or any(ints.values())):
        raise CompileError(f"{source}: sample_rate_hz/window/hop apply to time-series input kinds only "
                           f"(input_kind is {kind!r})")
    if "decision" in obj:
        from edgeloop.models.decision import DecisionRule, DecisionRuleError

        try:
            DecisionRule.from_json(obj["decision"], f"{source}: decision")
        except DecisionRuleError as exc:
            raise CompileError(str(exc)) from None
    feature_set = obj.get("feature_set", 0)
    if not isinstance(feature_set, int) or isinstance(feature_set, bool) or not 0 <= feature_set <= 255:
        raise CompileError(f"{source}: feature_set must be an integer 0..255 (SPEC.md §9.3), got {feature_set!r}")
    norm_mode = obj.get("norm_mode", "element")
    if norm_mode not in NORM_MODES:
        raise CompileError(f"{source}: norm_mode must be one of {sorted(NORM_MODES)}, got {norm_mode!r}")
    norm = parse_norm(obj["input_norm"], f"{source}: input_norm") if "input_norm" in obj else ()
    return ModelMeta(labels, kind, sample_rate_hz=int(round(rate)), **ints, input_norm=norm,
                     sample_rate_mhz=int(round(rate * 1000)), feature_set=feature_set,
                     norm_mode=NORM_MODES[norm_mode])


def parse_norm(obj: object, source: str) -> tuple[tuple[float, float], ...]:
    """Validate ``{"mean": [...], "std": [...]}`` into (mean, std) pairs."""
    if not isinstance(obj, dict) or set(obj) != {"mean", "std"}:
        raise CompileError(f"{source}: expected an object with 'mean' and 'std' lists")
    mean, std = obj["mean"], obj["std"]
    if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) <= _MAX_NORMS):
        raise CompileError(f"{source}: 'mean' and 'std' must be lists of equal length (at most {_MAX_NORMS})")
    pairs = []
    for m, s in zip(mean, std):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (m, s)) \
                or s <= 0:
            raise CompileError(f"{source}: every mean must be a finite number and every std a positive one")
        pairs.append((float(m), float(s)))
    return tuple(pairs)


def load_meta(path: Path) -> ModelMeta:
    """Read and validate a sidecar file."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CompileError(f"{path}: not valid JSON ({exc}); fix the metadata sidecar") from None
    meta = parse_meta(obj, str(path))
    preprocess = Path(path).with_name(Path(path).name.removesuffix(".meta.json") + ".preprocess.json")
    if not meta.input_norm and str(path).endswith(".meta.json") and preprocess.is_file():
        try:
            extra = json.loads(preprocess.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CompileError(f"{preprocess}: not valid JSON ({exc})") from None
        if isinstance(extra, dict) and meta.feature_set == 0 and isinstance(extra.get("feature_set_id"), int):
            meta = replace(meta, feature_set=extra["feature_set_id"])  # host-computed feature set (§9.3)
        if isinstance(extra, dict) and "feature_norm" in extra:
            norm = parse_norm(extra["feature_norm"], f"{preprocess}: feature_norm")
            meta = replace(meta, input_norm=norm)
        elif isinstance(extra, dict) and "channel_norm" in extra:
            # raw-window models standardise each channel (SPEC.md §9.3 norm_mode 1)
            norm = parse_norm(extra["channel_norm"], f"{preprocess}: channel_norm")
            meta = replace(meta, input_norm=norm, norm_mode=NORM_MODES["channel"])
    return meta
