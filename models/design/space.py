"""The search space of `edgeloop design`: which family, and that family's size knobs.

Each family is a function `suggest(trial, ctx) -> params` over an Optuna
trial; a family is offered when the training side can build and reproduce it
(adapter.FAMILIES_BY_KIND). Adding a family is adding one suggest function
here and its builder in the adapter: nothing else in the search changes.

Every knob a recipe has is searched: for time series the window and hop of
every family, the feature subset of feature MLPs (`edgeloop train
--features`), and each network's width and depth; for images the input side
and colour as well as width, depth and the channel cap.

Families with different knobs name their Optuna parameters apart
(`cnn1d_width`, `dense_width`, ...): one name keeps one distribution in a
study, which the samplers rely on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WINDOW_SECONDS = (0.5, 1.0, 1.5, 2.0, 2.56, 4.0)
HOP_FRACTIONS = (0.25, 0.5, 1.0)
# Dense nets on raw windows see every sample: short windows only (at most DENSE_MAX_INPUTS values, as
# `edgeloop train --family auto` requires too).
DENSE_WINDOW_SECONDS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
MIN_WINDOW = 4
# Feature subsets of feature MLPs, as `edgeloop train --features` spells them. Fewer features per channel mean
# fewer first-layer weights and fewer normalisation pairs in flash; spectral band energies add what the window
# statistics cannot see (the rhythm of walking vs running). Largest first.
FEATURE_SUBSETS = ("stats9", "stats9,bands4", "min,max,mean,rms,variance", "mean,rms,variance,bands4",
                   "mean,variance,bands4", "mean,rms,variance", "mean,variance", "variance,bands4", "bands4",
                   "variance")
IMAGE_SIDES = (16, 24, 32, 48, 64, 96)
# Dense nets on pixels see every pixel: small sides only (at most DENSE_MAX_INPUTS values per image).
DENSE_PIXEL_SIDES = (8, 12, 16, 24, 32)
IMAGE_CAP_GROWTH = (1, 1.5, 2, 4)


@dataclass(frozen=True)
class SpaceContext:
    """What a family's knobs depend on: the data kind, the sample rate, and size limits for tiny runs."""

    kind: str
    rate_hz: float = 0.0
    max_width: int = 64
    max_side: int = 96
    n_channels: int = 0


def feature_windows(ctx: SpaceContext) -> list[int]:
    """Window lengths (samples) searched for feature MLPs and 1-D CNNs: WINDOW_SECONDS at the data's rate."""
    return sorted({max(8, int(round(s * ctx.rate_hz))) for s in WINDOW_SECONDS})


def dense_windows(ctx: SpaceContext) -> list[int]:
    """Window lengths searched for dense nets on raw windows: short enough for at most DENSE_MAX_INPUTS inputs
    (the shortest one always, so the family is searchable at any rate and channel count)."""
    from edgeloop.models.design.adapter import DENSE_MAX_INPUTS

    sizes = sorted({max(MIN_WINDOW, int(round(s * ctx.rate_hz))) for s in DENSE_WINDOW_SECONDS})
    fit = [w for w in sizes if w * max(1, ctx.n_channels) <= DENSE_MAX_INPUTS]
    return fit or sizes[:1]


def _window_hop(trial: Any, name: str, windows: list[int]) -> dict[str, int]:
    window = int(trial.suggest_categorical(name, windows))
    hop_fraction = trial.suggest_categorical("hop_fraction", list(HOP_FRACTIONS))
    return {"window": window, "hop": max(1, int(window * hop_fraction))}


def _feature_mlp(trial: Any, ctx: SpaceContext) -> dict[str, Any]:
    return {**_window_hop(trial, "window", feature_windows(ctx)),
            "features": trial.suggest_categorical("features", list(FEATURE_SUBSETS)),
            "width": trial.suggest_int("width", 4, ctx.max_width, log=True),
            "depth": trial.suggest_int("depth", 1, 3)}


def _cnn1d(trial: Any, ctx: SpaceContext) -> dict[str, Any]:
    from edgeloop.models.design.adapter import max_cnn1d_depth

    wh = _window_hop(trial, "window", feature_windows(ctx))
    width = trial.suggest_int("cnn1d_width", 2, min(16, ctx.max_width), log=True)
    # fixed distribution (the samplers need that); a depth the window cannot hold is clamped
    depth = min(trial.suggest_int("cnn1d_depth", 1, 3), max_cnn1d_depth(wh["window"]))
    return {**wh, "width": int(width), "depth": int(depth)}


def _dense_raw(trial: Any, ctx: SpaceContext) -> dict[str, Any]:
    return {**_window_hop(trial, "dense_window", dense_windows(ctx)),
            "width": trial.suggest_int("dense_width", min(4, ctx.max_width), min(32, ctx.max_width), log=True),
            "depth": trial.suggest_int("dense_depth", 1, 2)}


def dense_pixel_sides(ctx: SpaceContext) -> list[int]:
    """Image sides searched for dense nets on pixels: gray images of at most DENSE_MAX_INPUTS pixels, up to
    --max-side (the smallest side always, so the family is searchable under any --max-side)."""
    from edgeloop.models.design.adapter import DENSE_MAX_INPUTS

    fit = [s for s in DENSE_PIXEL_SIDES if s * s <= DENSE_MAX_INPUTS and s <= ctx.max_side]
    return fit or list(DENSE_PIXEL_SIDES[:1])


def dense_pixel_color(side: int, color: str) -> str:
    """The colour a dense net on pixels of this side gets: RGB only where its 3 values per pixel stay within
    DENSE_MAX_INPUTS (the colour's distribution stays fixed for the samplers; a side too large for RGB is gray)."""
    from edgeloop.models.design.adapter import DENSE_MAX_INPUTS

    return color if color == "gray" or 3 * side * side <= DENSE_MAX_INPUTS else "gray"


def _dense_pixels(trial: Any, ctx: SpaceContext) -> dict[str, Any]:
    side = int(trial.suggest_categorical("dense_input_size", dense_pixel_sides(ctx)))
    return {"input_size": side,
            "color": dense_pixel_color(side, trial.suggest_categorical("dense_color", ["gray", "rgb"])),
            "width": trial.suggest_int("dense_width", min(4, ctx.max_width), min(32, ctx.max_width), log=True),
            "depth": trial.suggest_int("dense_depth", 1, 2)}


def max_image_depth(side: int, stem_stride: int = 2) -> int:
    """Deepest image CNN for this side and stem stride (every halving divides the side, the last map is >= 2)."""
    from edgeloop.models.design.adapter import image_cnn_max_depth

    return image_cnn_max_depth(side, stem_stride)


def _image_cnn(trial: Any, ctx: SpaceContext) -> dict[str, Any]:
    from edgeloop.models.design.adapter import IMAGE_BLOCKS, IMAGE_HEADS, IMAGE_POOLS

    sides = [s for s in IMAGE_SIDES if s <= ctx.max_side and max_image_depth(s) >= 1]
    side = int(trial.suggest_categorical("input_size", sides))
    width = trial.suggest_int("width", 2, min(16, ctx.max_width), log=True)
    # a stride-1 stem keeps the full resolution for the first block (4x the MACs of the stem's output, same weights)
    stem_stride = int(trial.suggest_categorical("stem_stride", [2, 1]))
    # The distribution stays fixed (Optuna's samplers need that); a depth the side cannot hold is clamped.
    depth = min(trial.suggest_int("depth", 1, 4), max_image_depth(side, stem_stride))
    # the channel cap as a multiple of the stem width; 1.5 and 4 are the zoo presets' (tiny 8->12, demo 12->48).
    # (Named apart from the earlier [1, 2, 4] "channel_growth": one name keeps one distribution in a study.)
    mult = trial.suggest_categorical("cap_growth", list(IMAGE_CAP_GROWTH))
    return {"input_size": side, "color": trial.suggest_categorical("color", ["gray", "rgb"]),
            "width": int(width), "depth": int(depth), "max_channels": max(int(width), int(width * mult)),
            "stem_stride": stem_stride,
            "pool": trial.suggest_categorical("pool", list(IMAGE_POOLS)),
            "head": trial.suggest_categorical("head", list(IMAGE_HEADS)),
            "block": trial.suggest_categorical("block", list(IMAGE_BLOCKS))}


def _image_cnn_trial_values(params: dict[str, Any]) -> dict[str, Any] | None:
    """The Optuna values `_image_cnn` turns into `params`, or None when the space cannot express them."""
    values = {"input_size": params["input_size"], "color": params["color"], "width": params["width"],
              "stem_stride": params.get("stem_stride", 2), "depth": params["depth"],
              "cap_growth": next((g for g in IMAGE_CAP_GROWTH if int(params["width"] * g) == params["max_channels"]),
                                 None),
              "pool": params.get("pool", "max"), "head": params.get("head", "flatten"),
              "block": params.get("block", "plain")}
    if values["cap_growth"] is None or params["input_size"] not in IMAGE_SIDES or not 2 <= params["width"] <= 16:
        return None
    return values


def _window_hop_values(params: dict[str, Any], window_name: str) -> dict[str, Any] | None:
    """The window and hop_fraction values of a time-series recipe (None if its hop is no searched fraction)."""
    window, hop = int(params["window"]), int(params["hop"])
    fraction = next((f for f in HOP_FRACTIONS if max(1, int(window * f)) == hop), None)
    return None if fraction is None else {window_name: window, "hop_fraction": fraction}


def _feature_mlp_trial_values(params: dict[str, Any]) -> dict[str, Any] | None:
    wh = _window_hop_values(params, "window")
    if wh is None or params.get("features", "stats9") not in FEATURE_SUBSETS:
        return None
    return {**wh, "features": params.get("features", "stats9"), "width": params["width"], "depth": params["depth"]}


def _cnn1d_trial_values(params: dict[str, Any]) -> dict[str, Any] | None:
    wh = _window_hop_values(params, "window")
    return None if wh is None else {**wh, "cnn1d_width": params["width"], "cnn1d_depth": params["depth"]}


def _dense_raw_trial_values(params: dict[str, Any]) -> dict[str, Any] | None:
    wh = _window_hop_values(params, "dense_window")
    return None if wh is None else {**wh, "dense_width": params["width"], "dense_depth": params["depth"]}


def _dense_pixels_trial_values(params: dict[str, Any]) -> dict[str, Any] | None:
    if params["input_size"] not in DENSE_PIXEL_SIDES:
        return None
    return {"dense_input_size": params["input_size"], "dense_color": params["color"],
            "dense_width": params["width"], "dense_depth": params["depth"]}


# Inverse of each family's suggest function, for seeding a study with known recipes (search.enqueue_presets).
FAMILY_TRIAL_VALUES: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    "feature_mlp": _feature_mlp_trial_values,
    "cnn1d": _cnn1d_trial_values,
    "dense_raw": _dense_raw_trial_values,
    "image_cnn": _image_cnn_trial_values,
    "dense_pixels": _dense_pixels_trial_values,
}


def trial_values(family: str, params: dict[str, Any], families: tuple[str, ...]) -> dict[str, Any] | None:
    """Optuna parameter values that make `suggest` return exactly (family, params), or None if it cannot."""
    inverse = FAMILY_TRIAL_VALUES.get(family)
    values = inverse(params) if inverse else None
    if values is None:
        return None
    offered = [f for f in families if f in FAMILY_SPACES]
    return {**values, family_param(offered): family} if len(offered) > 1 else values


FAMILY_SPACES: dict[str, Callable[[Any, SpaceContext], dict[str, Any]]] = {
    "feature_mlp": _feature_mlp,
    "cnn1d": _cnn1d,
    "dense_raw": _dense_raw,
    "image_cnn": _image_cnn,
    "dense_pixels": _dense_pixels,
}


def suggest(trial: Any, families: tuple[str, ...], ctx: SpaceContext) -> tuple[str, dict[str, Any]]:
    """Pick a family and its parameters for this trial (only families the training side offers)."""
    offered = [f for f in families if f in FAMILY_SPACES]
    if not offered:
        raise ValueError(f"no searchable family among {families}")
    family = offered[0] if len(offered) == 1 else trial.suggest_categorical(family_param(offered), offered)
    return family, FAMILY_SPACES[family](trial, ctx)


def family_param(offered: list[str]) -> str:
    """The Optuna parameter that picks the family among `offered`.

    Optuna refuses a categorical whose choices change within a study, and the families searched can change
    between runs of one study (`--families`, or a budget that rules a family out). Searching every family
    of the data kind uses `family`; a subset names its own parameter (`family_of_feature_mlp_dense_raw`), so
    each set of choices keeps one distribution.
    """
    from edgeloop.models.design.adapter import FAMILIES_BY_KIND

    for kind_families in FAMILIES_BY_KIND.values():
        full = [f for f in kind_families if f in FAMILY_SPACES]
        if set(offered) <= set(full):
            return "family" if list(offered) == full else "family_of_" + "_".join(offered)
    return "family_of_" + "_".join(offered)


def smallest_params(family: str, ctx: SpaceContext) -> dict[str, Any]:
    """The smallest candidate of a family: what an impossible budget is compared with."""
    if family == "feature_mlp":
        window = feature_windows(ctx)[0]
        from edgeloop.models.design.adapter import features_per_channel

        fewest = min(FEATURE_SUBSETS, key=features_per_channel)
        return {"window": window, "hop": window, "features": fewest, "width": 4, "depth": 1}
    if family == "cnn1d":
        window = feature_windows(ctx)[0]
        return {"window": window, "hop": window, "width": 2, "depth": 1}
    if family == "dense_raw":
        window = dense_windows(ctx)[0]
        return {"window": window, "hop": window, "width": 4, "depth": 1}
    if family == "dense_pixels":
        return {"input_size": dense_pixel_sides(ctx)[0], "color": "gray", "width": 4, "depth": 1}
    side = min(s for s in IMAGE_SIDES if max_image_depth(s) >= 1)
    # strided convs and a global average: no pooling kernel in flash, fewest head weights (whether plain or
    # separable blocks link less code depends on the kernel table: smallest_candidates sizes both)
    return {"input_size": side, "color": "gray", "width": 2, "depth": 1, "max_channels": 2, "stem_stride": 2,
            "pool": "stride", "head": "gap", "block": "plain"}


def smallest_candidates(family: str, ctx: SpaceContext) -> list[dict[str, Any]]:
    """The candidates that may be a family's smallest once compiled: the narrowest one and the one a channel
    wider, and for image CNNs each with plain and with separable blocks. A model links only the kernel paths
    its layers take (models/compiler/kernel_code_bytes.json): some paths need an even or an odd channel count,
    so one more channel can mean less code than the weights it adds, and a depthwise + pointwise pair can link
    less code than a plain convolution's paths; the smallest is whichever of these the compiler sizes smallest."""
    narrowest = smallest_params(family, ctx)
    wider = {**narrowest, "width": narrowest["width"] + 1}
    if "max_channels" in narrowest:
        wider["max_channels"] = max(narrowest["max_channels"], wider["width"])
    out = [narrowest, wider]
    if "block" in narrowest:
        out += [{**p, "block": "separable"} for p in out]
    return out


def arch_key(family: str, params: dict[str, Any]) -> tuple:
    """The parameters that change the compiled graph: never the hop; the window only for raw-window models
    (their input and arena grow with it; a feature model's input is its feature count whatever the window)."""
    skip = {"window", "hop"} if family == "feature_mlp" else {"hop"} if family in ("cnn1d", "dense_raw") else set()
    return (family, *sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items() if k not in skip))
