"""Synthetic 6-axis IMU recordings: activities (100 Hz) and falls vs daily activities (200 Hz).

The body frame has x forward, y left, z up. Each activity is a sum of
gait harmonics at the subject's cadence (with slow cadence and amplitude
drift), on top of gravity in the current posture. The sensor sees that
through a per-subject mounting rotation, then adds per-axis scale error,
bias and white noise, clips at its range and rounds to its resolution.
Accelerometer values are specific force in g (1 g up when still),
gyroscope values are in degrees per second.

Activities: still (standing, sitting or lying), walking, running, stairs
(up and down), cycling. Fall recordings are sequences of 8-second trials:
a fall (pre-fall walking or standing, loss of balance, near-0 g free fall
with rotation, an impact spike, lying still) or a daily activity, with hard
negatives: sitting down fast, jumping, stumbling and recovering, lying down
slowly. Per-sample labels name the activity or event; in fall recordings the
span from the loss of balance to one second after the impact is "fall".

Subjects are split into train/val/test by number, so the test split holds
only subjects never seen in training.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeloop import InputError
from edgeloop.models.data.folders import require_empty_folder
from edgeloop.models.data.imu_csv import ImuRecording, write_imu_csv

ACTIVITY_LABELS: tuple[str, ...] = ("still", "walking", "running", "stairs", "cycling")
FALL_LABELS: tuple[str, ...] = ("adl", "fall")
FALL_EVENT = "fall"
ADL_TRIALS: tuple[str, ...] = ("walking", "standing", "sitting", "sit_fast", "jump", "stumble", "lie_down")
RATES = {"activity": 100, "fall": 200}
TRIAL_SECONDS = 8.0
G = 1.0


@dataclass(frozen=True)
class Subject:
    """Everything that makes one synthetic person and their sensor different from another."""

    subject_id: int
    cadence_walk: float      # steps per second
    cadence_run: float
    cadence_stairs: float
    cadence_cycle: float     # pedal revolutions per second
    vigour: float            # amplitude multiplier of all motion
    harmonics: tuple[float, ...]  # relative strength of harmonics 1..4
    phases: tuple[float, ...]
    mount_rotation: tuple[float, ...]  # 3x3 row-major body→sensor rotation
    accel_bias: tuple[float, float, float]
    gyro_bias: tuple[float, float, float]
    accel_scale: tuple[float, float, float]
    gyro_scale: tuple[float, float, float]
    accel_noise: float
    gyro_noise: float
    accel_range: float       # ± g
    gyro_range: float        # ± dps


def _rotation(rng: np.random.Generator, max_tilt_deg: float) -> np.ndarray:
    """A random rotation: any heading, then a tilt of at most max_tilt_deg about a random horizontal axis."""
    yaw = rng.uniform(-np.pi, np.pi)
    cz, sz = np.cos(yaw), np.sin(yaw)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1.0]])
    return _axis_angle(rng.normal(size=3) * [1, 1, 0], np.radians(rng.uniform(0, max_tilt_deg))) @ rz


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = np.asarray(axis, float)
    norm = np.linalg.norm(axis)
    if norm < 1e-9 or abs(angle) < 1e-12:
        return np.eye(3)
    x, y, z = axis / norm
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def make_subject(subject_id: int, seed: int, accel_range: float = 8.0, gyro_range: float = 1000.0) -> Subject:
    """Subject number `subject_id` of a data set seeded with `seed`."""
    r = np.random.default_rng([seed, 0x1A2B, subject_id])
    return Subject(
        subject_id=subject_id,
        cadence_walk=float(r.uniform(1.7, 2.1)), cadence_run=float(r.uniform(2.5, 3.1)),
        cadence_stairs=float(r.uniform(1.0, 1.4)), cadence_cycle=float(r.uniform(0.9, 1.5)),
        vigour=float(r.uniform(0.85, 1.2)),
        harmonics=tuple(float(v) for v in [1.0, *r.uniform(0.2, 0.7, 3) / [1, 1.5, 2.5]]),
        phases=tuple(float(v) for v in r.uniform(0, 2 * np.pi, 6)),
        mount_rotation=tuple(float(v) for v in _rotation(r, 25.0).ravel()),
        accel_bias=tuple(float(v) for v in r.normal(0, 0.03, 3)),
        gyro_bias=tuple(float(v) for v in r.normal(0, 2.0, 3)),
        accel_scale=tuple(float(v) for v in 1 + r.normal(0, 0.02, 3)),
        gyro_scale=tuple(float(v) for v in 1 + r.normal(0, 0.02, 3)),
        accel_noise=float(r.uniform(0.004, 0.015)), gyro_noise=float(r.uniform(0.2, 0.8)),
        accel_range=accel_range, gyro_range=gyro_range)


# --------------------------------------------------------------------------------------- motion models


def _drift(rng: np.random.Generator, n: int, rate: float, rel: float, tau_s: float = 3.0) -> np.ndarray:
    """Slow multiplicative drift 1 + rel * (smoothed noise), correlation time tau_s."""
    k = max(1, int(tau_s * rate))
    noise = rng.normal(0, 1, n + 2 * k)
    kernel = np.hanning(2 * k + 1)
    smooth = np.convolve(noise, kernel / np.sqrt(np.sum(kernel**2)), mode="same")[k : k + n]
    return 1 + rel * smooth


def _phase(rng: np.random.Generator, n: int, rate: float, freq: float, rel: float = 0.04) -> np.ndarray:
    """Phase (rad) of an oscillator at `freq` Hz whose frequency drifts by ±rel."""
    f = freq * _drift(rng, n, rate, rel)
    return 2 * np.pi * np.cumsum(f) / rate + rng.uniform(0, 2 * np.pi)


def _harm(ph: np.ndarray, amps: tuple[float, ...], phases: tuple[float, ...]) -> np.ndarray:
    return sum(a * np.cos(k * ph + p) for k, (a, p) in enumerate(zip(amps, phases), start=1))


def _posture(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Body→world rotation of a posture (pitch forward about y, roll about x)."""
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    return ry @ rx


def _gravity_in_body(rot_body_to_world: np.ndarray) -> np.ndarray:
    """What an accelerometer at rest reads (1 g up) in body coordinates."""
    return rot_body_to_world.T @ np.array([0, 0, G])


def _gait(rng: np.random.Generator, n: int, rate: float, subj: Subject, freq: float, acc_amp: tuple[float, float, float],
          gyro_amp: tuple[float, float, float], impact: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Periodic body-frame acceleration (g) and rotation rate (dps) of a gait at `freq` steps/s.

    Vertical and forward motion repeat every step; lateral sway and yaw every
    stride (half the step frequency). `impact` adds sharp heel-strike peaks.
    """
    ph = _phase(rng, n, rate, freq)
    amp = _drift(rng, n, rate, 0.12) * subj.vigour
    h, p = subj.harmonics, subj.phases
    acc = np.zeros((n, 3))
    acc[:, 2] = acc_amp[2] * _harm(ph, h, p)
    acc[:, 0] = acc_amp[0] * _harm(ph, h[:2], (p[1] + 1.2, p[2]))
    acc[:, 1] = acc_amp[1] * np.cos(ph / 2 + p[3])
    if impact:
        acc[:, 2] += impact * np.maximum(np.cos(ph + p[4]), 0) ** 12
        acc[:, 0] -= 0.4 * impact * np.maximum(np.cos(ph + p[4] + 0.2), 0) ** 12
    gyro = np.zeros((n, 3))
    gyro[:, 0] = gyro_amp[0] * np.cos(ph / 2 + p[5])
    gyro[:, 1] = gyro_amp[1] * _harm(ph, h[:2], (p[0] + 0.7, p[3]))
    gyro[:, 2] = gyro_amp[2] * np.cos(ph / 2 + p[2])
    return acc * amp[:, None], gyro * amp[:, None]


def _segment(kind: str, seconds: float, rate: float, subj: Subject, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Body-frame specific force (g) and rotation rate (dps) of `seconds` of one steady activity."""
    n = int(round(seconds * rate))
    tremor_a = rng.normal(0, 0.004, (n, 3))
    tremor_g = rng.normal(0, 0.3, (n, 3))
    if kind in ("still", "standing", "sitting", "lying"):
        posture = {"standing": (rng.uniform(-5, 8), rng.uniform(-5, 5)),
                   "sitting": (rng.uniform(-25, 10), rng.uniform(-8, 8)),
                   "lying": (rng.choice([-1, 1]) * rng.uniform(75, 95), rng.uniform(-30, 30))}
        name = kind if kind != "still" else str(rng.choice(["standing", "sitting", "lying"]))
        rot = _posture(*posture[name])
        sway = _drift(rng, n, rate, 0.6, 2.0) - 1
        acc = _gravity_in_body(rot)[None, :] + tremor_a + 0.01 * sway[:, None] * [1, 1, 0]
        return acc, tremor_g + 0.6 * sway[:, None] * [1, 1, 0.3]
    if kind == "walking":
        dyn, gyr = _gait(rng, n, rate, subj, subj.cadence_walk, (0.18, 0.1, 0.28), (12, 20, 10), impact=0.35)
        rot = _posture(rng.uniform(0, 8), 0)
    elif kind == "running":
        dyn, gyr = _gait(rng, n, rate, subj, subj.cadence_run, (0.45, 0.22, 0.9), (30, 60, 25), impact=1.6)
        rot = _posture(rng.uniform(5, 15), 0)
    elif kind == "stairs":
        up = rng.random() < 0.5
        dyn, gyr = _gait(rng, n, rate, subj, subj.cadence_stairs, (0.24, 0.14, 0.5), (18, 36, 12),
                         impact=0.2 if up else 0.9)
        ph = _phase(rng, n, rate, subj.cadence_stairs / 2)
        dyn[:, 2] += 0.35 * np.cos(ph) * subj.vigour  # the step up or down alternates legs: a stride rhythm
        rot = _posture(rng.uniform(8, 20) if up else rng.uniform(-2, 8), 0)
    elif kind == "cycling":
        ph = _phase(rng, n, rate, subj.cadence_cycle, 0.05)
        dyn = np.zeros((n, 3))
        dyn[:, 1] = 0.08 * np.cos(ph + subj.phases[0]) * subj.vigour
        dyn[:, 2] = 0.05 * np.cos(2 * ph + subj.phases[1]) * subj.vigour
        road = np.convolve(rng.normal(0, 1, n), np.ones(3) / 3, mode="same")
        dyn += road[:, None] * [0.05, 0.04, 0.1] * rng.uniform(0.8, 1.5)
        gyr = np.zeros((n, 3))
        gyr[:, 0] = 22 * np.cos(ph + subj.phases[2]) * subj.vigour
        gyr[:, 2] = 9 * np.cos(ph + subj.phases[3]) * subj.vigour
        gyr += road[:, None] * [4.0, 4.0, 2.0]
        rot = _posture(rng.uniform(25, 50), rng.uniform(-5, 5))
    else:
        raise InputError(f"unknown activity {kind!r}")
    return _gravity_in_body(rot)[None, :] + dyn + tremor_a, gyr + tremor_g


def _rotate_sequence(acc_world_dyn: np.ndarray, rots: np.ndarray) -> np.ndarray:
    """Specific force in body frame for a posture sequence rots (n, 3, 3) body→world and world acc (n, 3)."""
    f_world = acc_world_dyn + np.array([0, 0, G])
    return np.einsum("nji,nj->ni", rots, f_world)


def _slerp_pitch(n: int, start_deg: float, end_deg: float, roll_end: float = 0.0) -> np.ndarray:
    t = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))
    return np.stack([_posture(start_deg + (end_deg - start_deg) * s, roll_end * s) for s in t])


def _trial(kind: str, rate: float, subj: Subject, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One 8-second fall-task trial: body-frame acc (g), gyro (dps) and per-sample labels."""
    n = int(TRIAL_SECONDS * rate)
    labels = np.full(n, kind if kind != "fall" else "walking", dtype=object)
    if kind in ("walking", "standing", "sitting"):
        acc, gyr = _segment(kind, TRIAL_SECONDS, rate, subj, rng)
        return acc, gyr, labels
    t0 = int(rng.uniform(2.0, 4.0) * rate)  # the event starts here
    pre_kind = "walking" if kind in ("stumble",) or rng.random() < 0.5 else "standing"
    acc, gyr = _segment(pre_kind, TRIAL_SECONDS, rate, subj, rng)
    labels[:] = pre_kind
    v = subj.vigour

    def put(start: int, a: np.ndarray, g: np.ndarray) -> int:
        end = min(n, start + len(a))
        acc[start:end], gyr[start:end] = a[: end - start], g[: end - start]
        return end

    def rest(start: int, posture: tuple[float, float], label: str) -> None:
        m = n - start
        if m <= 0:
            return
        a, g = _segment("standing", m / rate, rate, subj, rng)
        rot = _posture(*posture)
        a = a - _gravity_in_body(_posture(0, 0)) + _gravity_in_body(rot)  # same tremor, new posture
        put(start, a[:m], g[:m] * 0.8)
        labels[start:] = label

    def impact(peak: float, ms: float, axis_mix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = max(3, int(ms / 1000 * rate))
        t = np.arange(m) / rate
        ring = np.exp(-t / (ms / 3000)) * np.cos(2 * np.pi * rng.uniform(15, 30) * t)
        return peak * ring[:, None] * axis_mix, 8 * peak * ring[:, None] * rng.normal(0, 1, 3)

    if kind == "fall":
        direction = rng.choice(["forward", "backward", "left", "right"])
        pitch_end = {"forward": 90, "backward": -90, "left": 0, "right": 0}[direction] * rng.uniform(0.85, 1.0)
        roll_end = {"forward": 0, "backward": 0, "left": -85, "right": 85}[direction] * rng.uniform(0.85, 1.0)
        lob = int(rng.uniform(0.1, 0.3) * rate)  # loss of balance
        a, g = _segment("standing", lob / rate, rate, subj, rng)
        a += rng.normal(0, 0.35, (lob, 3)) * v
        g += rng.normal(0, 60, (lob, 3))
        k = put(t0, a, g)
        ff = int(rng.uniform(0.25, 0.5) * rate)  # free fall: the sensor reads little specific force
        rots = _slerp_pitch(ff, 0, pitch_end * 0.8, roll_end * 0.8)
        residual = rng.uniform(0.05, 0.35)
        f_body = np.einsum("nji,j->ni", rots, [0, 0, residual]) + rng.normal(0, 0.04, (ff, 3))
        axis = np.array([roll_end, pitch_end, rng.normal(0, 20)], float)
        spin = axis / (np.linalg.norm(axis) + 1e-9) * rng.uniform(120, 320)
        g = np.tile(spin, (ff, 1)) * np.sin(np.linspace(0.2, np.pi, ff))[:, None] + rng.normal(0, 8, (ff, 3))
        k = put(k, f_body, g)
        lying = (pitch_end, roll_end)
        mix = np.abs(_gravity_in_body(_posture(*lying))) + rng.uniform(0.2, 0.6, 3)
        a, g = impact(rng.uniform(3.0, 12.0), rng.uniform(40, 120), mix / np.linalg.norm(mix))
        a += _gravity_in_body(_posture(*lying))
        k_imp = put(k, a, g)
        labels[t0 : min(n, k + int(1.0 * rate))] = FALL_EVENT
        rest(k_imp, lying, "lying")
        labels[t0 : min(n, k + int(1.0 * rate))] = FALL_EVENT
    elif kind == "sit_fast":
        m = int(rng.uniform(0.35, 0.7) * rate)
        rots = _slerp_pitch(m, 0, rng.uniform(-25, 5))
        dip = 1 - rng.uniform(0.25, 0.55) * np.sin(np.linspace(0, np.pi, m))
        f = np.einsum("nji,j->ni", rots, [0, 0, 1.0]) * dip[:, None]
        k = put(t0, f + rng.normal(0, 0.03, (m, 3)), rng.normal(0, 25, (m, 3)) + [0, -60 * v, 0])
        a, g = impact(rng.uniform(1.2, 2.8), rng.uniform(60, 150), np.array([0.2, 0.1, 1.0]))
        k = put(k, a + _gravity_in_body(rots[-1]), g * 0.5)
        labels[t0:k] = "sit_fast"
        rest(k, (rng.uniform(-25, 5), rng.uniform(-6, 6)), "sitting")
        labels[t0:k] = "sit_fast"
    elif kind == "jump":
        crouch = int(0.35 * rate)
        cr = 1 + 0.9 * np.sin(np.linspace(-np.pi / 2, 1.5 * np.pi, crouch)) * v * [1] + 0.3
        k = put(t0, np.outer(np.clip(cr, 0.3, 3.2), [0, 0, 1.0]), rng.normal(0, 15, (crouch, 3)))
        flight = int(rng.uniform(0.2, 0.45) * rate)
        k2 = put(k, rng.normal(0, 0.05, (flight, 3)) + [0, 0, rng.uniform(0.0, 0.2)], rng.normal(0, 20, (flight, 3)))
        a, g = impact(rng.uniform(2.5, 6.0), rng.uniform(50, 120), np.array([0.15, 0.1, 1.0]))
        k3 = put(k2, a + [0, 0, 1.0], g)
        labels[t0:k3] = "jump"
        rest(k3, (rng.uniform(-3, 8), rng.uniform(-4, 4)), "standing")
        labels[t0:k3] = "jump"
    elif kind == "stumble":
        m = int(rng.uniform(0.3, 0.7) * rate)
        jerk = rng.normal(0, 0.6, (m, 3)) * v * np.hanning(m)[:, None] + [0, 0, 1.0]
        jerk[: m // 3, 2] -= rng.uniform(0.2, 0.5)
        gy = rng.normal(0, 80, (m, 3)) * np.hanning(m)[:, None]
        k = put(t0, jerk, gy)
        labels[t0:k] = "stumble"
        after, g_after = _segment("walking", (n - k) / rate + 0.1, rate, subj, rng)
        put(k, after, g_after)
        labels[k:] = "walking"
    elif kind == "lie_down":
        m = int(rng.uniform(1.5, 3.0) * rate)
        end = (rng.choice([-1, 1]) * rng.uniform(75, 95), rng.uniform(-20, 20))
        rots = _slerp_pitch(m, 0, end[0], end[1])
        f = np.einsum("nji,j->ni", rots, [0, 0, 1.0]) + rng.normal(0, 0.04, (m, 3))
        rate_pitch = np.gradient(np.linspace(0, end[0], m)) * rate
        k = put(t0, f, rng.normal(0, 6, (m, 3)) + np.outer(rate_pitch, [0, 1.0, 0]) * 1.3)
        labels[t0:k] = "lie_down"
        rest(k, end, "lying")
        labels[t0:k] = "lie_down"
    else:
        raise InputError(f"unknown trial kind {kind!r}")
    return acc, gyr, labels


def _sense(acc_body: np.ndarray, gyr_body: np.ndarray, subj: Subject, rng: np.random.Generator) -> np.ndarray:
    """Body-frame motion → 6-axis sensor readings with mounting, scale, bias, noise, clipping, resolution."""
    rot = np.asarray(subj.mount_rotation).reshape(3, 3)
    a = acc_body @ rot.T * subj.accel_scale + subj.accel_bias + rng.normal(0, subj.accel_noise, acc_body.shape)
    g = gyr_body @ rot.T * subj.gyro_scale + subj.gyro_bias + rng.normal(0, subj.gyro_noise, gyr_body.shape)
    a = np.clip(a, -subj.accel_range, subj.accel_range)
    g = np.clip(g, -subj.gyro_range, subj.gyro_range)
    a = np.round(a / (subj.accel_range / 32768)) * (subj.accel_range / 32768)  # 16-bit sensor resolution
    g = np.round(g / (subj.gyro_range / 32768)) * (subj.gyro_range / 32768)
    return np.concatenate([a, g], axis=1).astype(np.float32)


def activity_recording(subj: Subject, rng: np.random.Generator, seconds_per_activity: tuple[float, float] = (30, 50),
                       rounds: int = 1) -> ImuRecording:
    """One subject doing every activity `rounds` times, in random order, at 100 Hz."""
    rate = RATES["activity"]
    parts_a, parts_g, labels = [], [], []
    for _ in range(rounds):
        for kind in rng.permutation(ACTIVITY_LABELS):
            sec = float(rng.uniform(*seconds_per_activity))
            a, g = _segment(str(kind), sec, rate, subj, rng)
            parts_a.append(a)
            parts_g.append(g)
            labels.extend([str(kind)] * len(a))
    data = _sense(np.concatenate(parts_a), np.concatenate(parts_g), subj, rng)
    return ImuRecording(t=np.arange(len(data)) / rate, data=data, labels=np.array(labels, dtype=object),
                        rate_hz=rate, meta={"source": "synthetic", "task": "activity",
                                            "subject": f"s{subj.subject_id:03d}"})


def fall_recording(subj: Subject, rng: np.random.Generator, falls: int = 10, adl_each: int = 3) -> ImuRecording:
    """A subject's fall-task session at 200 Hz: `falls` falls and `adl_each` trials of every daily activity."""
    rate = RATES["fall"]
    kinds = ["fall"] * falls + [k for k in ADL_TRIALS for _ in range(adl_each)]
    parts_a, parts_g, labels = [], [], []
    for kind in rng.permutation(kinds):
        a, g, lab = _trial(str(kind), rate, subj, rng)
        parts_a.append(a)
        parts_g.append(g)
        labels.append(lab)
    data = _sense(np.concatenate(parts_a), np.concatenate(parts_g), subj, rng)
    return ImuRecording(t=np.arange(len(data)) / rate, data=data, labels=np.concatenate(labels),
                        rate_hz=rate, meta={"source": "synthetic", "task": "fall",
                                            "subject": f"s{subj.subject_id:03d}", "trial_seconds": "8"})


def subject_split(subject_index: int, n_subjects: int) -> str:
    """Split of a subject: the last 25 % are test, the 15 % before them val, the rest train."""
    n_test = max(1, int(round(n_subjects * 0.25)))
    n_val = max(1, int(round(n_subjects * 0.15)))
    if subject_index >= n_subjects - n_test:
        return "test"
    if subject_index >= n_subjects - n_test - n_val:
        return "val"
    return "train"


def generate_imu_set(out: Path | str, task: str, subjects: int = 20, seed: int = 0,
                     progress: bool = True) -> dict[str, int]:
    """Write one edgeloop-imu-csv v1 file per subject plus manifest.jsonl and dataset.json.

    Returns the number of subjects per split.
    """
    from tqdm.auto import tqdm

    if task not in RATES:
        raise InputError(f"IMU task must be activity or fall, not {task!r}")
    if subjects < 3:
        raise InputError(f"--subjects {subjects} is too few: need at least 3 (train, val and test subjects)")
    root = Path(out)
    require_empty_folder(root)
    counts = {"train": 0, "val": 0, "test": 0}
    make: Callable[[Subject, np.random.Generator], ImuRecording] = (
        activity_recording if task == "activity" else fall_recording)
    lines = []
    for i in tqdm(range(subjects), desc=f"imu {task}", unit="subject", disable=not progress):
        accel_range = 8.0 if task == "activity" else float(np.random.default_rng([seed, i, 9]).choice([8.0, 16.0]))
        subj = make_subject(i, seed, accel_range=accel_range, gyro_range=1000.0 if task == "activity" else 2000.0)
        rec = make(subj, np.random.default_rng([seed, 0xF00D, i]))
        split = subject_split(i, subjects)
        rec.meta["split"] = split
        name = f"{split}/s{i:03d}.csv"
        (root / split).mkdir(exist_ok=True)
        write_imu_csv(root / name, rec)
        counts[split] += 1
        values, n_per = np.unique(rec.labels.astype(str), return_counts=True)
        lines.append(json.dumps({"file": name, "subject": f"s{i:03d}", "split": split, "task": task,
                                 "rate_hz": rec.rate_hz, "samples": len(rec),
                                 "label_samples": dict(zip(values.tolist(), n_per.tolist())),
                                 "params": asdict(subj)}, separators=(",", ":")))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    labels = ACTIVITY_LABELS if task == "activity" else FALL_LABELS
    info = {"format": "edgeloop-imu-set v1", "task": task, "labels": list(labels), "rate_hz": RATES[task],
            "seed": seed, "subjects": subjects, "counts": counts, "generator": "edgeloop.models.data.imu"}
    if task == "fall":
        info["label_map"] = {FALL_EVENT: "fall", "*": "adl"}
    (root / "dataset.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return counts
