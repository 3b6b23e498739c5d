"""Procedural images of saline (IV) bottles and bags at a known fill level.

A scene is fully described by a `SceneParams` (container shape, material,
print, pose, background, camera); `render_bottle(fill, params, rng)` draws one
RGB frame of it, and only per-frame noise comes from `rng`, so a fixed
`params` with a slowly falling `fill` animates a draining bottle.

How a frame is made (all in numpy + OpenCV, at twice the output size, then
downsampled):

1. Background: a wall, curtain, tiled or cabinet scene with a lighting
   gradient, a patient monitor, random clutter and an IV pole with a hook.
2. Container: an analytic profile (neck, shoulder, body, rounded base; or a
   pillow-shaped bag with a seal strip and ports) in the container's own
   (u, v) frame, so every pixel knows where it lies on the container. Through
   the walls the background is refracted (squeezed and, under liquid,
   mirrored about the axis) and blurred; liquid adds a tint; frosted plastic
   adds haze. The liquid surface is horizontal in the world whatever the
   tilt, seen as a thin ellipse with a meniscus climbing the walls.
   Printed labels and graduation marks are drawn on a flat texture and
   wrapped around the body; edges darken, specular strips shine.
3. Foreground: hands or other objects may occlude part of the container.
4. Camera: tone and white balance, blur, sensor noise and JPEG artefacts.

The fill level is where the liquid surface crosses the container's axis,
as a fraction of the way from its empty line (fill 0) to its full line
(fill 1), see `level_lines()`: hanging cap-down, the neck stays full until
the container runs dry and the full line leaves 8 % headspace; standing, the
full line is the shoulder. `fill_class()` bins it into FILL_LABELS.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import InputError, ResourceError, require

cv2 = require("cv2", needed_for="the synthetic bottle images")

NO_BOTTLE = "no_bottle"
FILL_LABELS: tuple[str, ...] = ("no_bottle", "empty", "low", "half", "full")
"""Class names in output-index order. Fill bins: empty [0, 0.25), low [0.25, 0.5), half [0.5, 0.75), full [0.75, 1]."""
FILL_EDGES: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)

SPLITS = ("train", "val", "test")
# Shape and background prototypes are numbered; the test split draws from its own numbers, so every
# test image shows a container shape and a background that no training image shows.
SHAPE_POOLS = {"train": range(0, 400), "val": range(0, 400), "test": range(10_000, 10_400)}
BACKGROUND_POOLS = {"train": range(0, 600), "val": range(0, 600), "test": range(20_000, 20_600)}

CONTAINERS = ("bottle", "bag")
MATERIALS = ("glass", "clear_plastic", "frosted", "pvc")
BACKGROUND_STYLES = ("wall", "curtain", "tiles", "cabinet")


def fill_class(fill: float | None) -> str:
    """Name of the class of a fill level in [0, 1]; None means no container in view."""
    if fill is None:
        return NO_BOTTLE
    if not 0.0 <= fill <= 1.0:
        raise InputError(f"fill level {fill} is outside [0, 1]")
    for i in range(1, len(FILL_EDGES) - 1):
        if fill < FILL_EDGES[i]:
            return FILL_LABELS[i]
    return FILL_LABELS[-1]


def fill_range(label: str) -> tuple[float, float]:
    """The [low, high) fill interval of a fill class (high is 1.0 inclusive for the last class)."""
    if label not in FILL_LABELS[1:]:
        raise InputError(f"{label!r} is not a fill class; choose one of {', '.join(FILL_LABELS[1:])}")
    i = FILL_LABELS.index(label)
    return FILL_EDGES[i - 1], FILL_EDGES[i]


LABEL_MARGIN = 0.04
"""Default guard band of the generated sets: no fill level closer than this to a boundary between two fill
classes. A frame whose surface sits on a boundary has no right answer (a person labelling real recordings
skips it too); drawing levels clear of the boundaries keeps the labels honest. Live frames still sweep the
whole range, so a classifier is uncertain near a boundary, as it should be."""


def label_range(label: str, margin: float = LABEL_MARGIN) -> tuple[float, float]:
    """The interval a generated fill level of class `label` is drawn from: `fill_range` shrunk by
    `margin` at each boundary it shares with another fill class (0 and 1 border no other class)."""
    if not 0.0 <= margin < (FILL_EDGES[1] - FILL_EDGES[0]) / 2:
        raise InputError(f"label margin {margin} must be in [0, {(FILL_EDGES[1] - FILL_EDGES[0]) / 2}) "
                         "(half a fill class)")
    low, high = fill_range(label)
    return (low + margin if low > FILL_EDGES[0] else low), (high - margin if high < FILL_EDGES[-1] else high)


# --------------------------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class ContainerShape:
    """Geometry of a container in its own frame: v runs 0..1 from the neck tip to the base, u across.

    Widths are half-widths in units of the container length.
    """

    kind: str = "bottle"            # "bottle" or "bag"
    shape_id: int = 0
    body_half_width: float = 0.25
    neck_half_width: float = 0.07
    neck_length: float = 0.08
    shoulder_length: float = 0.14
    taper: float = 0.0              # body widens (+) or narrows (-) toward the base
    corner: float = 0.05            # base corner radius
    ribs: int = 0                   # grip rings on plastic bottles
    bag_power: float = 4.0          # superellipse exponent of a bag's outline
    wall: float = 0.008             # wall thickness


@dataclass(frozen=True)
class Appearance:
    """Material, colours and print of a container (colours are RGB 0..255)."""

    material: str = "clear_plastic"
    liquid_tint: tuple[int, int, int] = (225, 235, 245)
    liquid_opacity: float = 0.15
    liquid_shade: float = 0.85
    haze: float = 0.1
    cap_color: tuple[int, int, int] = (40, 90, 200)
    print_color: tuple[int, int, int] = (30, 60, 150)
    paper_label: bool = False
    label_color: tuple[int, int, int] = (245, 245, 240)
    graduations: int = 10
    graduation_side: int = 1        # +1 right, -1 left
    text: str = "0.9% NaCl"
    volume_ml: int = 500


@dataclass(frozen=True)
class Pose:
    """Where the container is: centre (fractions of the frame), length (fraction of frame height), tilt."""

    hanging: bool = True            # cap down, hung from the pole's hook; else standing cap up
    cx: float = 0.5
    cy: float = 0.5
    length: float = 0.7
    tilt_deg: float = 0.0
    view_elevation: float = 0.06    # how open the liquid-surface ellipse looks


@dataclass(frozen=True)
class Background:
    """A numbered background prototype: style, palette and clutter layout all follow from `bg_id`."""

    bg_id: int = 0
    style: str = "wall"
    pole: bool = True
    pole_x: float = 0.3
    monitor: bool = False
    clutter: int = 4


@dataclass(frozen=True)
class Camera:
    """Global image effects."""

    light_angle_deg: float = 0.0
    light_strength: float = 0.3
    gain: float = 1.0
    gamma: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    blur_sigma: float = 0.0
    motion_blur: int = 0
    noise_sigma: float = 3.0
    jpeg_quality: int = 85


@dataclass(frozen=True)
class SceneParams:
    """Everything that defines a scene except the fill level and the per-frame noise."""

    container: str = "bottle"       # "bottle", "bag" or "none"
    shape: ContainerShape = field(default_factory=ContainerShape)
    look: Appearance = field(default_factory=Appearance)
    pose: Pose = field(default_factory=Pose)
    background: Background = field(default_factory=Background)
    camera: Camera = field(default_factory=Camera)
    occluder: str = "none"          # "none", "hand", "box"
    occluder_seed: int = 0
    size: int = 96

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form of all parameters (what manifest.jsonl stores)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SceneParams":
        """Inverse of to_json()."""
        def tup(d: dict[str, Any]) -> dict[str, Any]:
            return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

        return cls(container=data["container"], shape=ContainerShape(**tup(data["shape"])),
                   look=Appearance(**tup(data["look"])), pose=Pose(**data["pose"]),
                   background=Background(**data["background"]), camera=Camera(**tup(data["camera"])),
                   occluder=data["occluder"], occluder_seed=int(data["occluder_seed"]), size=int(data["size"]))


def _rng_for(kind: str, number: int) -> np.random.Generator:
    salt = {"shape": 0x5A1E, "background": 0xB6B6}[kind]
    return np.random.default_rng([salt, number])


def shape_prototype(shape_id: int) -> tuple[ContainerShape, Appearance]:
    """The container shape and look numbered `shape_id` (a pure function of the number)."""
    r = _rng_for("shape", shape_id)
    kind = "bag" if r.random() < 0.35 else "bottle"
    if kind == "bottle":
        shape = ContainerShape(
            kind=kind, shape_id=shape_id,
            body_half_width=float(r.uniform(0.17, 0.3)), neck_half_width=float(r.uniform(0.05, 0.09)),
            neck_length=float(r.uniform(0.05, 0.12)), shoulder_length=float(r.uniform(0.06, 0.2)),
            taper=float(r.uniform(-0.12, 0.12)), corner=float(r.uniform(0.02, 0.08)),
            ribs=int(r.choice([0, 0, 2, 3])), wall=float(r.uniform(0.006, 0.014)))
        material = str(r.choice(["glass", "clear_plastic", "frosted"], p=[0.3, 0.4, 0.3]))
    else:
        shape = ContainerShape(
            kind=kind, shape_id=shape_id, body_half_width=float(r.uniform(0.26, 0.36)),
            neck_half_width=float(r.uniform(0.025, 0.04)), neck_length=float(r.uniform(0.05, 0.09)),
            shoulder_length=0.0, taper=float(r.uniform(-0.06, 0.06)), corner=0.0,
            bag_power=float(r.uniform(2.5, 6.0)), wall=float(r.uniform(0.004, 0.008)))
        material = "pvc"
    tints = [(228, 238, 246), (238, 236, 214), (222, 240, 226), (240, 232, 236), (230, 230, 230)]
    tint = tints[int(r.integers(len(tints)))]
    caps = [(40, 90, 200), (220, 60, 50), (40, 160, 90), (235, 235, 235), (250, 200, 40), (120, 60, 170)]
    prints = [(30, 60, 150), (20, 20, 20), (160, 30, 40), (20, 110, 60)]
    texts = ["0.9% NaCl", "NaCl 0.9%", "Saline", "Glucose 5%", "Ringer", "Dextrose 5%", "Sodium Chloride"]
    look = Appearance(
        material=material, liquid_tint=tint,
        liquid_opacity=float(r.uniform(0.08, 0.3)), liquid_shade=float(r.choice([r.uniform(0.62, 0.82), r.uniform(1.15, 1.3)], p=[0.75, 0.25])),
        haze={"glass": 0.04, "clear_plastic": 0.12, "frosted": 0.3, "pvc": 0.16}[material] * float(r.uniform(0.7, 1.3)),
        cap_color=caps[int(r.integers(len(caps)))], print_color=prints[int(r.integers(len(prints)))],
        paper_label=bool(kind == "bottle" and r.random() < 0.25),
        label_color=tuple(int(c) for c in r.integers(215, 256, 3)),
        graduations=int(r.choice([5, 8, 10])), graduation_side=int(r.choice([-1, 1])),
        text=str(r.choice(texts)), volume_ml=int(r.choice([100, 250, 500, 1000])))
    return shape, look


def background_prototype(bg_id: int) -> Background:
    """The background numbered `bg_id`."""
    r = _rng_for("background", bg_id)
    return Background(bg_id=bg_id, style=str(r.choice(BACKGROUND_STYLES)), pole=bool(r.random() < 0.75),
                      pole_x=float(r.uniform(0.15, 0.85)), monitor=bool(r.random() < 0.4),
                      clutter=int(r.integers(0, 6)))


def sample_scene(rng: np.random.Generator, split: str = "train", container: str | None = None,
                 size: int = 96) -> SceneParams:
    """Draw a random scene for `split` ("train", "val" or "test"); container "none" gives an empty scene."""
    if split not in SPLITS:
        raise InputError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    shapes, bgs = SHAPE_POOLS[split], BACKGROUND_POOLS[split]
    shape, look = shape_prototype(int(rng.integers(shapes.start, shapes.stop)))
    kind = container if container is not None else shape.kind
    if kind not in (*CONTAINERS, "none"):
        raise InputError(f"container {kind!r} is not one of bottle, bag, none")
    if kind in CONTAINERS and kind != shape.kind:  # keep drawing until the prototype is of the asked kind
        while shape.kind != kind:
            shape, look = shape_prototype(int(rng.integers(shapes.start, shapes.stop)))
    bg = background_prototype(int(rng.integers(bgs.start, bgs.stop)))
    hanging = bool(kind == "bag" or rng.random() < 0.75)
    length = float(rng.uniform(0.55, 0.85))
    pose = Pose(hanging=hanging, cx=float(rng.uniform(0.32, 0.68)), cy=float(rng.uniform(0.44, 0.56)),
                length=length, tilt_deg=float(rng.normal(0, 4.0)),
                view_elevation=float(rng.uniform(0.02, 0.12)))
    if hanging and bg.pole:
        bg = replace(bg, pole_x=float(np.clip(pose.cx + rng.choice([-1, 1]) * rng.uniform(0.0, 0.04), 0.1, 0.9)))
    camera = Camera(
        light_angle_deg=float(rng.uniform(0, 360)), light_strength=float(rng.uniform(0.0, 0.5)),
        gain=float(rng.uniform(0.7, 1.25)), gamma=float(rng.uniform(0.8, 1.25)),
        white_balance=tuple(float(x) for x in rng.uniform(0.88, 1.12, 3)),
        blur_sigma=float(rng.choice([0.0, rng.uniform(0.3, 1.2)], p=[0.5, 0.5])),
        motion_blur=int(rng.choice([0, 0, 0, 3, 5])), noise_sigma=float(rng.uniform(1.0, 7.0)),
        jpeg_quality=int(rng.integers(30, 96)))
    occluder = str(rng.choice(["none", "hand", "box"], p=[0.7, 0.2, 0.1]))
    return SceneParams(container=kind, shape=shape, look=look, pose=pose, background=bg, camera=camera,
                       occluder=occluder, occluder_seed=int(rng.integers(0, 2**31)), size=size)


# ------------------------------------------------------------------------------------------ background


def _vertical_gradient(h: int, w: int, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).astype(np.float32).copy()


def _palette(r: np.random.Generator, lo: int, hi: int) -> np.ndarray:
    return r.uniform(lo, hi, 3).astype(np.float32)


def _draw_background(bg: Background, s: int) -> np.ndarray:
    """RGB float32 [0, 255] background of side `s`, a pure function of `bg`."""
    r = _rng_for("background", bg.bg_id + 7_777_777)
    base = _palette(r, 120, 235)
    img = _vertical_gradient(s, s, base * r.uniform(0.95, 1.1), base * r.uniform(0.7, 0.95))
    if bg.style == "curtain":
        folds = r.uniform(4, 12)
        x = np.linspace(0, folds * 2 * np.pi, s, dtype=np.float32)
        shade = 1.0 + 0.16 * np.sin(x + r.uniform(0, 6))[None, :, None]
        cur = _palette(r, 110, 230)
        top = int(s * r.uniform(0.0, 0.15))
        img[top:] = (cur * shade)[:, :, :] * np.ones((s - top, 1, 1), np.float32)
        cv2.line(img, (0, top), (s, top), tuple(float(c) for c in _palette(r, 80, 180)), max(1, s // 60))
    elif bg.style == "tiles":
        step = int(s * r.uniform(0.08, 0.2))
        grout = tuple(float(c) for c in base * 0.75)
        off = int(r.integers(0, step))
        for p in range(off, s, step):
            cv2.line(img, (p, 0), (p, s), grout, 1)
            cv2.line(img, (0, p), (s, p), grout, 1)
    elif bg.style == "cabinet":
        for _ in range(int(r.integers(2, 5))):
            x0, y0 = int(r.uniform(-0.1, 0.8) * s), int(r.uniform(0.3, 0.8) * s)
            w, h = int(r.uniform(0.2, 0.6) * s), int(r.uniform(0.2, 0.6) * s)
            col = _palette(r, 90, 230)
            cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), tuple(float(c) for c in col), -1)
            cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), tuple(float(c) for c in col * 0.7), max(1, s // 90))
            hx = x0 + int(w * r.uniform(0.1, 0.9))
            cv2.line(img, (hx, y0 + h // 3), (hx, y0 + h // 3 + s // 20), (70.0, 70.0, 75.0), max(1, s // 70))
    else:  # wall with a floor band and a window or a poster
        floor = int(s * r.uniform(0.75, 1.05))
        if floor < s:
            img[floor:] = _palette(r, 60, 170)
        if r.random() < 0.5:
            x0, y0 = int(r.uniform(0, 0.7) * s), int(r.uniform(0, 0.3) * s)
            w, h = int(r.uniform(0.2, 0.4) * s), int(r.uniform(0.2, 0.4) * s)
            cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), (245.0, 248.0, 250.0), -1)
            cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), (150.0, 150.0, 150.0), max(1, s // 60))
            cv2.line(img, (x0 + w // 2, y0), (x0 + w // 2, y0 + h), (150.0, 150.0, 150.0), max(1, s // 90))
    for _ in range(bg.clutter):  # clutter: blobs, boxes and cables, far away so slightly soft
        col = tuple(float(c) for c in _palette(r, 20, 250))
        kind = r.integers(0, 3)
        cx, cy = int(r.uniform(0, 1) * s), int(r.uniform(0.2, 1.0) * s)
        if kind == 0:
            cv2.ellipse(img, (cx, cy), (int(r.uniform(0.03, 0.12) * s), int(r.uniform(0.03, 0.12) * s)),
                        float(r.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
        elif kind == 1:
            w, h = int(r.uniform(0.04, 0.2) * s), int(r.uniform(0.04, 0.2) * s)
            cv2.rectangle(img, (cx, cy), (cx + w, cy + h), col, -1)
        else:
            pts = (r.uniform(0, 1, (4, 2)) * s).astype(np.int32)
            cv2.polylines(img, [pts[:3]], False, col, max(1, s // 120), cv2.LINE_AA)
    if bg.monitor:  # a patient monitor: dark screen with green and yellow traces
        x0, y0 = int(r.uniform(0.0, 0.75) * s), int(r.uniform(0.05, 0.5) * s)
        w, h = int(0.24 * s), int(0.17 * s)
        cv2.rectangle(img, (x0 - 3, y0 - 3), (x0 + w + 3, y0 + h + 3), (180.0, 180.0, 185.0), -1)
        cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), (15.0, 20.0, 25.0), -1)
        xs = np.arange(w)
        for k, col in enumerate(((60.0, 230.0, 80.0), (240.0, 220.0, 60.0))):
            ys = y0 + h * (0.3 + 0.35 * k) + h * 0.1 * np.sin(xs * r.uniform(0.2, 0.5)) * (xs % 17 < 4)
            pts = np.stack([x0 + xs, ys], 1).astype(np.int32)
            cv2.polylines(img, [pts], False, col, 1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), 0.6 + 0.8 * float(r.random()))


def _draw_pole(img: np.ndarray, bg: Background, hook_y: float) -> None:
    """A chrome IV pole at pole_x, with an arm reaching to the hook at (pole_x, hook_y)."""
    s = img.shape[0]
    x = int(bg.pole_x * s)
    half = max(2, s // 60)
    xs = np.arange(-half, half + 1)
    shade = 150 + 90 * np.cos(xs / half * 1.4 - 0.5)
    for dx, v in zip(xs, shade):
        img[:, np.clip(x + dx, 0, s - 1)] = (v * 0.95, v * 0.97, v)
    arm_y = int(max(1, hook_y * s - s * 0.04))
    cv2.line(img, (x - s // 8, arm_y), (x + s // 8, arm_y), (190.0, 192.0, 196.0), max(1, s // 80), cv2.LINE_AA)
    cv2.circle(img, (x, arm_y), max(2, s // 50), (120.0, 120.0, 125.0), -1, cv2.LINE_AA)


# ------------------------------------------------------------------------------------------- container


class _Frame:
    """Pixel ↔ container-frame mapping: u across, v along (0 = neck tip, 1 = base), in container lengths."""

    def __init__(self, shape: ContainerShape, pose: Pose, s: int):
        self.s = s
        self.length_px = pose.length * s
        # hanging: neck tip down (larger y); standing: neck tip up
        self.down = 1.0 if pose.hanging else -1.0
        t = math.radians(pose.tilt_deg)
        self.axis = np.array([math.sin(t), math.cos(t)]) * (-self.down)  # image-space direction of +v
        self.across = np.array([self.axis[1], -self.axis[0]])
        centre = np.array([pose.cx * s, pose.cy * s])
        self.origin = centre - self.axis * self.length_px * 0.5  # where v = 0 (neck tip) lies
        # Only the container's bounding box (plus a margin) is computed: the rest of the frame is untouched.
        reach = (shape.body_half_width * (1 + abs(shape.taper)) + shape.wall) * self.length_px + 4
        ends = np.array([self.origin, self.origin + self.axis * self.length_px])
        lo = np.floor(ends.min(axis=0) - reach).astype(int)
        hi = np.ceil(ends.max(axis=0) + reach).astype(int)
        self.x0, self.y0 = (int(v) for v in np.clip(lo, 0, s))
        self.x1, self.y1 = (int(v) for v in np.clip(hi, 0, s))
        ys, xs = np.mgrid[self.y0 : self.y1, self.x0 : self.x1].astype(np.float32) + 0.5
        self.xs, self.ys = xs, ys
        dx, dy = xs - self.origin[0], ys - self.origin[1]
        self.u = ((dx * self.across[0] + dy * self.across[1]) / self.length_px).astype(np.float32)
        self.v = ((dx * self.axis[0] + dy * self.axis[1]) / self.length_px).astype(np.float32)
        self.px = 1.0 / self.length_px

    def to_image(self, u: float, v: float) -> tuple[float, float]:
        p = self.origin + self.axis * v * self.length_px + self.across * u * self.length_px
        return float(p[0]), float(p[1])


def _half_width(shape: ContainerShape, v: np.ndarray) -> np.ndarray:
    """Outer half-width of the container at axial position v (0 outside the container)."""
    rb, rn = shape.body_half_width, shape.neck_half_width
    w = np.zeros_like(v)
    if shape.kind == "bag":
        top = shape.neck_length
        t = np.clip((v - top) / (1 - top), 0, 1)
        body = rb * (1 + shape.taper * (t - 0.5)) * np.clip(1 - np.abs(2 * t - 1) ** shape.bag_power, 0, 1) ** (1 / shape.bag_power)
        body = np.maximum(body, np.where((t > 0.9) & (t <= 1), rb * 0.98, 0))  # flat seal strip at the base end
        w = np.where((v >= top) & (v <= 1), body, w)
        w = np.where((v >= 0) & (v < top), rn, w)  # the port tube
        return w.astype(np.float32)
    n_end = shape.neck_length
    s_end = n_end + shape.shoulder_length
    c0 = 1 - shape.corner
    t = np.clip((v - s_end) / max(1e-6, c0 - s_end), 0, 1)
    body = rb * (1 + shape.taper * (t - 0.5))
    if shape.ribs:
        body = body * (1 - 0.025 * (np.cos(2 * np.pi * shape.ribs * t) > 0.85))
    sh = np.clip((v - n_end) / max(1e-6, shape.shoulder_length), 0, 1)
    shoulder = rn + (rb * (1 - shape.taper * 0.5) - rn) * np.sin(sh * np.pi / 2) ** 0.7
    rb_end = rb * (1 + shape.taper * 0.5)
    dc = np.clip((v - c0) / max(shape.corner, 1e-6), 0, 1)
    corner = rb_end - shape.corner + shape.corner * np.sqrt(np.clip(1 - dc**2, 0, 1))
    w = np.where((v >= 0) & (v < n_end), rn, w)
    w = np.where((v >= n_end) & (v < s_end), shoulder, w)
    w = np.where((v >= s_end) & (v < c0), body, w)
    w = np.where((v >= c0) & (v <= 1), corner, w)
    return w.astype(np.float32)


HEADSPACE = 0.08
"""Share of the interior above the full line: IV containers are never filled to the brim."""


def level_lines(shape: ContainerShape, hanging: bool) -> tuple[float, float]:
    """Axial positions v (0 = neck tip, 1 = base) of the liquid surface at fill 0 and at fill 1.

    Hanging cap-down, the neck and port stay full until the container has run dry, so "empty" is
    the surface at the top of the neck; standing, it is a thin residue on the base. "Full" leaves
    HEADSPACE of the interior as air at the top (hanging) or fills up to the shoulder (standing),
    as the nominal-volume line of real containers does. The surface is therefore always visible.
    """
    v_a, v_b = shape.wall, 1.0 - shape.wall
    if hanging:
        return v_a + shape.neck_length, v_b - HEADSPACE * (v_b - v_a)
    return v_b - 0.02, v_a + shape.neck_length + shape.shoulder_length


def _print_texture(shape: ContainerShape, look: Appearance, hanging: bool, tex: int = 256) -> np.ndarray:
    """RGBA float texture of everything printed on the container, in the (u, v) frame.

    Rows are v in [0, 1], columns u in [-0.5, 0.5]. Graduations are printed
    so that they read upright when the container hangs, as on real IV
    containers, and count the volume from the neck end.
    """
    img = np.zeros((tex, tex, 4), np.uint8)  # OpenCV draws text on 8-bit images only
    col = (*[int(c) for c in look.print_color], 255)
    rb = shape.body_half_width

    def ux(u: float) -> int:
        return int((u + 0.5) * tex)

    body0 = shape.neck_length + shape.shoulder_length + 0.04
    body1 = 1 - max(shape.corner, 0.1 if shape.kind == "bag" else 0.0) - 0.04
    if look.paper_label:
        lu0, lu1 = -rb * 0.85, rb * 0.15
        lv0, lv1 = body0 + 0.1 * (body1 - body0), body0 + 0.55 * (body1 - body0)
        cv2.rectangle(img, (ux(lu0), int(lv0 * tex)), (ux(lu1), int(lv1 * tex)),
                      (*[int(c) for c in look.label_color], 255), -1)
        cv2.rectangle(img, (ux(lu0), int(lv0 * tex)), (ux(lu1), int((lv0 + 0.04) * tex)), col, -1)
    # text lines, rendered upright then flipped for hanging containers (read upright when hung)
    text_img = np.zeros((tex, tex, 4), np.uint8)
    scale = 0.32 * rb / 0.25
    mid_v = body0 + 0.3 * (body1 - body0)
    cv2.putText(text_img, look.text, (ux(-rb * 0.85), int(mid_v * tex)), cv2.FONT_HERSHEY_SIMPLEX, scale, col, 1,
                cv2.LINE_AA)
    cv2.putText(text_img, f"{look.volume_ml} ml", (ux(-rb * 0.6), int((mid_v + 0.08) * tex)),
                cv2.FONT_HERSHEY_SIMPLEX, scale * 0.9, col, 1, cv2.LINE_AA)
    if hanging:
        text_img = text_img[::-1, ::-1].copy()
        text_img = np.roll(text_img, int((body0 + body1 - 1) * tex), axis=0)  # keep it on the body
    img = np.where(text_img[..., 3:4] > 0, text_img, img)
    # graduation scale along one side
    n = look.graduations
    side = look.graduation_side
    for i in range(n + 1):
        v = body0 + (body1 - body0) * i / n
        long_mark = i % (n // 2 if n % 2 == 0 else n) == 0
        u_in = side * rb * (0.35 if long_mark else 0.5)
        u_out = side * rb * 0.72
        cv2.line(img, (ux(u_in), int(v * tex)), (ux(u_out), int(v * tex)), col, 1, cv2.LINE_AA)
    out = img.astype(np.float32)
    out[..., 3] /= 255.0
    return out


def _remap(img: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    return cv2.remap(img, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT101)


def _smooth(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 0.5, 0.0, 1.0)


def _draw_container(img: np.ndarray, fill: float, p: SceneParams, rng: np.random.Generator) -> None:
    """Composite the container over `img` (float RGB, modified in place)."""
    s = img.shape[0]
    shape, look, pose = p.shape, p.look, p.pose
    fr = _Frame(shape, pose, s)
    if fr.x1 - fr.x0 < 2 or fr.y1 - fr.y0 < 2:
        return  # entirely outside the frame
    u, v = fr.u, fr.v
    hw = _half_width(shape, v)
    outer = _smooth((hw - np.abs(u)) / fr.px) * (hw > 0)
    inner_hw = np.maximum(hw - shape.wall, 0)
    inner = _smooth((inner_hw - np.abs(u)) / fr.px) * (inner_hw > 0)
    if not outer.any():
        return
    rel = np.clip(np.abs(u) / np.maximum(hw, 1e-6), 0, 1)  # 0 on the axis, 1 at the silhouette

    # Liquid: its surface is horizontal in the image and crosses the axis `fill` of the way from the
    # container's empty line to its full line.
    v_empty, v_full = level_lines(shape, pose.hanging)
    v_surface = v_empty + fill * (v_full - v_empty)
    sx, sy = fr.to_image(0.0, v_surface)
    ys, xs = fr.ys, fr.xs
    half = float(_half_width(shape, np.array([v_surface], np.float32))[0] - shape.wall) * fr.length_px
    half = max(half, 1.0)
    t = np.clip((xs - sx) / half, -1, 1)
    ell = pose.view_elevation * half * np.sqrt(1 - t**2)
    meniscus = 0.05 * half * (np.exp(-(1 - np.abs(t)) * 8))
    surf_y = sy - meniscus
    liquid = inner * _smooth((ys - surf_y) * 1.0) if fill > 0 else np.zeros_like(inner)
    back_rim = inner * np.exp(-((ys - (surf_y - ell)) ** 2) / 2.5) * (fill > 0)
    front_rim = inner * np.exp(-((ys - (surf_y + ell * 0.6)) ** 2) / 1.2) * (fill > 0)

    # Refraction: sample the background squeezed toward the axis; under liquid mirrored.
    ax_x = fr.origin[0] + fr.axis[0] * v * fr.length_px
    ax_y = fr.origin[1] + fr.axis[1] * v * fr.length_px
    k_air, k_liq = 0.85, -0.55
    du = u * fr.length_px
    air_img = _remap(img, ax_x + du * k_air * fr.across[0], ax_y + du * k_air * fr.across[1])
    liq_img = _remap(img, ax_x + du * k_liq * fr.across[0], ax_y + du * k_liq * fr.across[1])
    blur = 0.6 + 4.0 * look.haze
    air_img = cv2.GaussianBlur(air_img, (0, 0), blur)
    liq_img = cv2.GaussianBlur(liq_img, (0, 0), blur * 1.3)
    tint = np.array(look.liquid_tint, np.float32)
    haze_col = np.array([236.0, 238.0, 240.0], np.float32)
    air_img = air_img * (1 - look.haze) + haze_col * look.haze
    liq_img = liq_img * (1 - look.liquid_opacity) + tint * look.liquid_opacity
    liq_img = liq_img * (1 - 0.4 * look.haze) + haze_col * 0.4 * look.haze * 0.8
    liq_img *= look.liquid_shade  # liquid passes less (or focuses more) light than air
    body = air_img * (1 - liquid[..., None]) + liq_img * liquid[..., None]
    body = body * (1 - 0.65 * back_rim[..., None]) + 255.0 * 0.3 * front_rim[..., None]

    # Walls: Fresnel darkening toward the silhouette, a thin outline, specular strips.
    edge = rel**6
    body = body * (1 - 0.45 * edge[..., None])
    wall_ring = np.clip(outer - inner, 0, 1)
    body = body * (1 - 0.35 * wall_ring[..., None])
    lx = float(np.clip(np.cos(math.radians(p.camera.light_angle_deg)), -0.7, 0.7))
    spec = np.exp(-((u / np.maximum(hw, 1e-6) + 0.45 * lx - 0.1) ** 2) / 0.004) * 0.45
    spec += np.exp(-((u / np.maximum(hw, 1e-6) - 0.62) ** 2) / 0.002) * 0.2
    spec *= (1 - look.haze)
    body = body + (255.0 - body) * spec[..., None] * (outer > 0.5)[..., None]

    # Print: wrap the flat texture around the body (columns compress toward the edges).
    tex = _print_texture(shape, look, pose.hanging)
    n = tex.shape[0]
    wrap_u = np.arcsin(np.clip(u / np.maximum(hw, 1e-6), -1, 1)) * (2 / np.pi) * shape.body_half_width
    ptex = _remap(tex, (wrap_u + 0.5) * n, v * n)
    alpha = ptex[..., 3:4] * outer[..., None] * (0.9 if look.paper_label else 0.8)
    body = body * (1 - alpha) + ptex[..., :3] * alpha

    # Cap (or the port of a bag) at the neck tip, and for hanging containers the spike, drip chamber
    # and the line leaving the frame; for bottles, the hanger at the base.
    region = img[fr.y0 : fr.y1, fr.x0 : fr.x1]
    region[:] = region * (1 - outer[..., None]) + body * outer[..., None]
    out = img  # the cap, drip chamber and line are drawn on the whole frame
    rn_px = shape.neck_half_width * fr.length_px
    cap_len = (0.06 if shape.kind == "bottle" else 0.04) * fr.length_px
    tip = np.array(fr.to_image(0.0, 0.0))
    back = -fr.axis  # beyond the neck tip
    cap_w = rn_px * (1.35 if shape.kind == "bottle" else 1.1)
    corners = np.array([tip + fr.across * cap_w, tip - fr.across * cap_w,
                        tip - fr.across * cap_w + back * cap_len, tip + fr.across * cap_w + back * cap_len])
    cap_col = np.array(look.cap_color, np.float32)
    cv2.fillConvexPoly(out, np.round(corners * 16).astype(np.int32), tuple(float(c) for c in cap_col),
                       cv2.LINE_AA, 4)
    hl = tip + back * cap_len * 0.5 - fr.across * cap_w * 0.45
    cv2.line(out, tuple(np.round(hl + back * cap_len * 0.4).astype(int)),
             tuple(np.round(hl - back * cap_len * 0.4).astype(int)),
             tuple(float(min(255, c + 70)) for c in cap_col), max(1, s // 100), cv2.LINE_AA)
    if pose.hanging:
        chamber0 = tip + back * cap_len
        chamber1 = chamber0 + back * 0.12 * fr.length_px
        cw = rn_px * 0.9
        poly = np.array([chamber0 + fr.across * cw, chamber0 - fr.across * cw,
                         chamber1 - fr.across * cw, chamber1 + fr.across * cw])
        mask = np.zeros((s, s), np.float32)
        cv2.fillConvexPoly(mask, np.round(poly * 16).astype(np.int32), 1.0, cv2.LINE_AA, 4)
        m = mask[..., None] * 0.55
        out = out * (1 - m) + (out * 0.7 + 255 * 0.3) * m
        end = chamber1 + back * 2 * s
        cv2.line(out, tuple(np.round(chamber1).astype(int)), tuple(np.round(end).astype(int)),
                 (225.0, 228.0, 232.0), max(1, int(s / 90)), cv2.LINE_AA)
        base = np.array(fr.to_image(0.0, 1.0))
        hook = base + fr.axis * 0.07 * fr.length_px
        if shape.kind == "bottle":
            cv2.line(out, tuple(np.round(base).astype(int)), tuple(np.round(hook).astype(int)),
                     (90.0, 90.0, 95.0), max(1, s // 100), cv2.LINE_AA)
            cv2.circle(out, tuple(np.round(hook).astype(int)), max(2, s // 60), (90.0, 90.0, 95.0), 1, cv2.LINE_AA)
        else:
            hole = np.array(fr.to_image(0.0, 0.965))
            cv2.ellipse(out, tuple(np.round(hole).astype(int)), (max(2, s // 30), max(1, s // 70)),
                        float(pose.tilt_deg), 0, 360, (70.0, 70.0, 70.0), -1, cv2.LINE_AA)


def _draw_occluder(img: np.ndarray, p: SceneParams) -> None:
    """A hand or a box in front of the scene, reaching in from a side, never hiding the whole container."""
    if p.occluder == "none":
        return
    s = img.shape[0]
    r = np.random.default_rng(p.occluder_seed)
    cx = p.pose.cx * s if p.container != "none" else r.uniform(0.3, 0.7) * s
    side = r.choice([-1, 1])
    half_w = p.shape.body_half_width * p.pose.length * s if p.container != "none" else 0.15 * s
    x_edge = cx + side * half_w * r.uniform(0.35, 1.0)  # how far in it reaches
    y = r.uniform(0.2, 0.85) * s
    if p.occluder == "hand":
        skin = np.array([r.uniform(150, 235), r.uniform(105, 180), r.uniform(80, 150)], np.float32)
        glove = r.random() < 0.35
        col = np.array([150.0, 190.0, 235.0] if glove else skin, np.float32) * r.uniform(0.85, 1.1)
        palm_c = (int(x_edge + side * 0.16 * s), int(y))
        cv2.ellipse(img, palm_c, (int(0.13 * s), int(0.09 * s)), float(r.uniform(-20, 20)), 0, 360,
                    tuple(float(c) for c in col), -1, cv2.LINE_AA)
        for k in range(4):
            fy = int(y - 0.06 * s + k * 0.04 * s)
            cv2.line(img, (palm_c[0], fy), (int(x_edge + side * 0.01 * s), fy), tuple(float(c) for c in col * 0.97),
                     max(2, int(0.035 * s)), cv2.LINE_AA)
            cv2.line(img, (int(x_edge + side * 0.02 * s), fy), (int(x_edge + side * 0.04 * s), fy),
                     tuple(float(c) for c in col * 0.8), 1, cv2.LINE_AA)
        cv2.rectangle(img, (int(palm_c[0] + side * 0.08 * s), int(y - 0.08 * s)),
                      (int(palm_c[0] + side * 0.5 * s), int(y + 0.08 * s)),
                      tuple(float(c) for c in r.uniform(30, 220, 3)), -1)  # the sleeve
    else:
        col = tuple(float(c) for c in r.uniform(40, 230, 3))
        h = r.uniform(0.1, 0.25) * s
        x1 = x_edge + side * r.uniform(0.2, 0.4) * s
        cv2.rectangle(img, (int(min(x_edge, x1)), int(y - h / 2)), (int(max(x_edge, x1)), int(y + h / 2)), col, -1)


def _camera(img: np.ndarray, cam: Camera, size: int, rng: np.random.Generator) -> np.ndarray:
    """Lighting, tone, blur, downsampling to `size`, noise and JPEG: returns uint8 RGB."""
    s = img.shape[0]
    a = math.radians(cam.light_angle_deg)
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float32) / s - 0.5
    light = 1.0 + cam.light_strength * (xs * math.cos(a) + ys * math.sin(a)) * 1.6
    img = img * light[..., None] * cam.gain * np.array(cam.white_balance, np.float32)
    img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** cam.gamma
    if cam.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), cam.blur_sigma * s / size)
    if cam.motion_blur:
        k = np.zeros((cam.motion_blur, cam.motion_blur), np.float32)
        k[cam.motion_blur // 2, :] = 1.0 / cam.motion_blur
        img = cv2.filter2D(img, -1, k)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    shot = np.sqrt(np.clip(img, 0, 255) / 255.0)
    img = img + rng.normal(0.0, 1.0, img.shape).astype(np.float32) * cam.noise_sigma * (0.5 + shot)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if cam.jpeg_quality < 100:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(cam.jpeg_quality)])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)


def render_bottle(fill: float | None, params: SceneParams, rng: np.random.Generator | None = None) -> np.ndarray:
    """Render one frame: an RGB uint8 array of shape (params.size, params.size, 3).

    `fill` in [0, 1] is the liquid level (ignored, and may be None, when
    params.container is "none"). `rng` supplies the per-frame sensor noise
    only; the scene itself is fixed by `params`, so successive frames of a
    draining bottle differ only in fill level and noise.
    """
    if params.container != "none":
        if fill is None or not 0.0 <= float(fill) <= 1.0:
            raise InputError(f"fill level must be in [0, 1] for a {params.container}, got {fill}")
    if params.size < 16:
        raise InputError(f"image size {params.size} is too small; use at least 16 pixels")
    rng = rng if rng is not None else np.random.default_rng()
    s = params.size * 2
    img = _draw_background(params.background, s)
    hook_y = params.pose.cy - params.pose.length * 0.55 if params.pose.hanging else 0.12
    if params.background.pole:
        _draw_pole(img, params.background, hook_y)
    if params.container != "none":
        _draw_container(img, float(fill), params, rng)
    _draw_occluder(img, params)
    return _camera(img, params.camera, params.size, rng)


# --------------------------------------------------------------------------------------------- data set

SPLIT_SHARES = {"train": 0.7, "val": 0.1, "test": 0.2}


def _split_counts(n: int) -> dict[str, int]:
    counts = {s: int(n * f) for s, f in SPLIT_SHARES.items()}
    counts["train"] += n - sum(counts.values())
    return counts


def generate_bottle_set(out: Path | str, n: int, seed: int = 0, size: int = 96, progress: bool = True,
                        margin: float = LABEL_MARGIN) -> dict[str, int]:
    """Write `n` images (70 % train, 10 % val, 20 % test) as folder-per-class PNGs plus manifest.jsonl.

    Classes are balanced within each split; fill levels are uniform inside
    each class's bin, at least `margin` away from a boundary with another
    fill class (see LABEL_MARGIN; 0 draws the whole bin). Image i depends only on (seed, i), so a set is
    reproducible and any image can be regenerated from its manifest record.
    Returns the image count per split.
    """
    from tqdm.auto import tqdm

    from edgeloop.models.data.imagesets import ImageRecord, write_manifest
    from edgeloop.models.data.folders import require_empty_folder

    if n < len(FILL_LABELS) * 3:
        raise InputError(f"--n {n} is too small: need at least {len(FILL_LABELS) * 3} images "
                         "(every class in every split)")
    if size < 16:
        raise InputError(f"--size {size} is too small; use at least 16 pixels")
    label_range(FILL_LABELS[1], margin)  # validates the margin before anything is written
    root = Path(out)
    require_empty_folder(root)
    counts = _split_counts(n)
    records: list[ImageRecord] = []
    index = 0
    with tqdm(total=n, desc="bottles", unit="img", disable=not progress) as bar:
        for split in SPLITS:
            for k in range(counts[split]):
                rng = np.random.default_rng([seed, index])
                label = FILL_LABELS[k % len(FILL_LABELS)]
                params = sample_scene(rng, split, container="none" if label == NO_BOTTLE else None, size=size)
                fill = None if label == NO_BOTTLE else float(rng.uniform(*label_range(label, margin)))
                img = render_bottle(fill, params, rng)
                rel = f"{split}/{label}/{split}_{index:06d}.png"
                (root / split / label).mkdir(parents=True, exist_ok=True)
                if not cv2.imwrite(str(root / rel), img[..., ::-1]):
                    raise ResourceError(f"could not write {root / rel}")
                records.append(ImageRecord(rel, label, split, {
                    "fill": None if fill is None else round(fill, 6), "index": index,
                    "shape_id": params.shape.shape_id if params.container != "none" else None,
                    "background_id": params.background.bg_id, "params": params.to_json()}))
                index += 1
                bar.update(1)
    write_manifest(root, records, FILL_LABELS, task="bottles", generator="edgeloop.models.data.bottles",
                   seed=seed, size=size, counts=counts,
                   fill_bins={lab: list(fill_range(lab)) for lab in FILL_LABELS[1:]}, label_margin=margin)
    return counts
