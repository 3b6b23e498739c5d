"""Which source suits which model: what a model switch brings along, and why a source cannot feed a model.

A model takes images, IMU windows (raw or as statistics) or a raw tensor
(INFO ``input_kind``); a source gives images or IMU samples (``Source.kind``).
The window asks `source_fits` before it switches, and `matching_source` for
a source that fits when the running one does not, so picking an IMU model
while a camera runs brings the synthetic IMU stream of the right task (and
says so) instead of failing inside the pipeline.

Example::

    choice = matching_source(model)          # None: no source the window can make fits this model
    if choice is not None:
        print(choice.spec, choice.description)
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeloop.protocol import Info, InputKind, ModelDescriptor

_IMAGE_KINDS = {int(InputKind.IMAGE)}
# IMU windows and window statistics; SPEC 1.1 adds time-series windows (4) and features (5).
_IMU_KINDS = {int(InputKind.IMU_WINDOW), int(InputKind.IMU_FEATURES), 4, 5}


@dataclass(frozen=True)
class SourceChoice:
    """A source spec for `open_source`, with the words the window shows for it."""

    spec: str
    description: str


def model_source_kind(model: ModelDescriptor) -> str | None:
    """"image" or "imu": what a model needs from a source; None for a raw tensor model."""
    kind = int(model.input_kind)
    if kind in _IMAGE_KINDS:
        return "image"
    if kind in _IMU_KINDS:
        return "imu"
    return None


def source_fits(source_kind: str | None, model: ModelDescriptor) -> bool:
    """True when a source of `source_kind` ("image"/"imu") can feed `model`."""
    if source_kind is None:
        return True  # nothing runs yet: any model may start
    return model_source_kind(model) == source_kind  # a raw-tensor model takes no camera or IMU stream


def matching_source(model: ModelDescriptor) -> SourceChoice | None:
    """A synthetic source that feeds `model` (the fall task for fall detectors), or None when none can."""
    needed = model_source_kind(model)
    if needed == "image":
        return SourceChoice("synthetic:bottles?seed=3", "synthetic IV bottles")
    if needed == "imu":
        labels = {label.lower() for label in model.labels}
        task = "fall" if "fall" in model.name.lower() or any("fall" in label for label in labels) else "activity"
        return SourceChoice(f"synthetic:imu?task={task}", f"synthetic IMU ({task})")
    return None


def mismatch_hint(source_kind: str | None, model: ModelDescriptor) -> str:
    """One line for a source that cannot feed `model`: the problem and what to do."""
    needed = model_source_kind(model)
    if needed is None:
        return (f"model {model.name!r} takes a raw tensor of {model.input.size} values, which no camera or "
                f"IMU source gives: pick another model")
    gives = {"image": "images", "imu": "IMU samples"}.get(source_kind or "", "nothing")
    wants = {"image": "images", "imu": "IMU windows"}[needed]
    pick = "a camera, video, image folder or synthetic bottles" if needed == "image" else \
        "an IMU stream (serial, UDP), an IMU replay or the synthetic IMU"
    return f"model {model.name!r} takes {wants} but the source gives {gives}: pick {pick} as the source"


def model_for_source(info: Info, source_kind: str | None) -> int:
    """The stable id (SPEC §9.4) of the model to run when none was asked for: the board's active one if
    the source can feed it, else the first that the source can feed (a bottle camera on a board whose
    active model is the IMU one); the active one when none fits (the pipeline then says what to do)."""
    active = info.model_by_id(info.active_model)
    if active is not None and source_fits(source_kind, active):
        return info.active_model
    for model_id, model in zip(info.model_ids, info.models):
        if source_fits(source_kind, model):
            return model_id
    return info.active_model
