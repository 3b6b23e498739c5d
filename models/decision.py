"""Decision rules: how a stream of per-window class probabilities becomes the class a user is shown.

A device classifies a stream window by window; one window is a noisy witness,
and public time-series benchmarks score whole recordings. A model's
``NAME.meta.json`` therefore holds a decision rule (key ``decision``,
docs/formats.md), and ONE class, `Decider`, applies it wherever a result is
shown: the training report, ``edgeloop run``, the GUI and ``validate``. Give it
the same probabilities and it gives the same answers everywhere.

A rule is three independent steps, applied in this order to each window:

1. **aggregate** (``mode``) the probability vectors:
   - ``none``: this window's probabilities;
   - ``mean``: moving average of the last ``k`` windows' probabilities;
   - ``vote``: majority vote of the last ``k`` windows' argmax (ties go to the
     class voted most recently), confidence = share of votes;
   - ``recording``: average of every window since the last `Decider.reset()`
     (one decision per recording or case: reset at each recording's start).
2. **threshold**: if the aggregated confidence is below ``threshold`` the
   decision is `UNCERTAIN` (-1).
3. **debounce**: the shown class changes only after ``debounce`` consecutive
   windows proposed the same new class (1 = at once). Events such as falls
   use it so that one wild window does not raise an alarm; an uncertain
   proposal resets the count but keeps the shown class.

Example::

    rule = DecisionRule(mode="mean", k=4, threshold=0.6)
    decider = Decider(rule, n_classes=3)
    for probs in stream:                       # one probability vector per window
        d = decider.update(probs)              # Decision(cls, confidence, raw_cls)
        print(d.raw_cls, d.cls)                # the raw and the decided class (-1: uncertain)
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeloop import InputError

UNCERTAIN = -1
UNCERTAIN_LABEL = "uncertain"
MODES = ("none", "mean", "vote", "recording")


class DecisionRuleError(InputError):
    """A decision rule in a meta.json or on the command line is not valid; the message names the fix."""


@dataclass(frozen=True)
class DecisionRule:
    """A serialisable decision rule (stored under ``decision`` in NAME.meta.json).

    mode: one of MODES; k: windows the ``mean``/``vote`` modes look back over;
    threshold: minimum aggregated confidence in [0, 1) (0 = never uncertain);
    debounce: consecutive windows a new class must win before it is shown (≥ 1).
    """

    mode: str = "none"
    k: int = 1
    threshold: float = 0.0
    debounce: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise DecisionRuleError(f"decision mode {self.mode!r} is not one of {', '.join(MODES)}")
        if not isinstance(self.k, int) or isinstance(self.k, bool) or not 1 <= self.k <= 65535:
            raise DecisionRuleError(f"decision k must be an integer 1..65535 windows, got {self.k!r}")
        if not isinstance(self.debounce, int) or isinstance(self.debounce, bool) or not 1 <= self.debounce <= 65535:
            raise DecisionRuleError(f"decision debounce must be an integer 1..65535 windows, got {self.debounce!r}")
        if not (isinstance(self.threshold, (int, float)) and 0.0 <= float(self.threshold) < 1.0):
            raise DecisionRuleError(f"decision threshold must be in [0, 1), got {self.threshold!r}")

    @property
    def is_identity(self) -> bool:
        """True when the decided class is always the window's argmax."""
        return self.mode == "none" and self.threshold == 0 and self.debounce == 1

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored under ``decision`` in NAME.meta.json."""
        return {"mode": self.mode, "k": int(self.k), "threshold": float(self.threshold),
                "debounce": int(self.debounce)}

    @classmethod
    def from_json(cls, obj: Any, source: str = "decision") -> "DecisionRule":
        """Validate a decoded ``decision`` object (missing keys take their defaults)."""
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise DecisionRuleError(f"{source}: expected an object like {json.dumps(cls().to_json())}")
        unknown = set(obj) - set(asdict(cls()))
        if unknown:
            raise DecisionRuleError(f"{source}: unknown keys {sorted(unknown)}; allowed: mode, k, threshold, debounce")
        return cls(**dict(obj))

    @classmethod
    def parse(cls, text: str) -> "DecisionRule":
        """Parse the command-line form ``MODE[:K][,threshold=T][,debounce=D]``, e.g. ``mean:4,threshold=0.6``."""
        head, *opts = [p.strip() for p in text.split(",") if p.strip()] or ["none"]
        mode, _, k = head.partition(":")
        kwargs: dict[str, Any] = {"mode": mode}
        try:
            if k:
                kwargs["k"] = int(k)
            for opt in opts:
                key, _, value = opt.partition("=")
                if key not in ("threshold", "debounce"):
                    raise DecisionRuleError(f"decision option {key!r}: use threshold=T or debounce=D")
                kwargs[key] = float(value) if key == "threshold" else int(value)
        except ValueError as exc:
            if isinstance(exc, DecisionRuleError):
                raise
            raise DecisionRuleError(f"decision rule {text!r}: {exc}; write e.g. mean:4,threshold=0.6") from None
        return cls(**kwargs)

    def describe(self) -> str:
        """One human line, e.g. 'mean of the last 4 windows, uncertain below 0.60'."""
        what = {"none": "each window on its own", "mean": f"mean of the last {self.k} windows' probabilities",
                "vote": f"majority vote of the last {self.k} windows",
                "recording": "mean over the whole recording"}[self.mode]
        if self.threshold:
            what += f", uncertain below {self.threshold:.2f}"
        if self.debounce > 1:
            what += f", a new class shown after {self.debounce} windows in a row"
        return what


@dataclass(frozen=True)
class Decision:
    """One decided window: the shown class (UNCERTAIN = -1), its aggregated confidence and the window's argmax."""

    cls: int
    confidence: float
    raw_cls: int


class Decider:
    """Applies a DecisionRule to a stream of probability vectors, one `update()` per window.

    State lives here (the last k windows, the running recording mean, the
    debounce count), so one Decider follows one stream; `reset()` at the start
    of each recording or case.
    """

    def __init__(self, rule: DecisionRule, n_classes: int) -> None:
        if n_classes < 1:
            raise ValueError(f"n_classes must be at least 1, got {n_classes}")
        self.rule = rule
        self.n_classes = n_classes
        self.reset()

    def reset(self) -> None:
        """Forget every window seen: the next update starts a new recording."""
        self._recent: deque[np.ndarray] = deque(maxlen=self.rule.k)
        self._votes: deque[int] = deque(maxlen=self.rule.k)
        self._sum = np.zeros(self.n_classes, np.float64)
        self._count = 0
        self._shown = UNCERTAIN
        self._candidate = UNCERTAIN
        self._streak = 0

    def _aggregate(self, p: np.ndarray, raw: int) -> tuple[int, float]:
        mode = self.rule.mode
        if mode == "none":
            return raw, float(p[raw])
        if mode == "vote":
            self._votes.append(raw)
            counts = np.bincount(np.asarray(self._votes), minlength=self.n_classes)
            best = counts.max()
            # ties: the tied class voted most recently wins (a stable, stream-friendly rule)
            winner = next(v for v in reversed(self._votes) if counts[v] == best)
            return int(winner), float(best / len(self._votes))
        if mode == "mean":
            self._recent.append(p)
            avg = np.mean(self._recent, axis=0)
        else:  # recording
            self._sum += p
            self._count += 1
            avg = self._sum / self._count
        cls = int(np.argmax(avg))
        return cls, float(avg[cls])

    def update(self, probs: Iterable[float]) -> Decision:
        """Feed one window's class probabilities (or scores) and return the decision after it."""
        p = np.asarray(list(probs) if not isinstance(probs, np.ndarray) else probs, np.float64).reshape(-1)
        if p.shape != (self.n_classes,):
            raise ValueError(f"expected {self.n_classes} probabilities, got shape {p.shape}")
        raw = int(np.argmax(p))
        proposed, confidence = self._aggregate(p, raw)
        if confidence < self.rule.threshold:
            proposed = UNCERTAIN
        if proposed == UNCERTAIN:
            self._candidate, self._streak = UNCERTAIN, 0
            shown = self._shown if self.rule.debounce > 1 else UNCERTAIN
        elif proposed == self._shown:
            self._candidate, self._streak = UNCERTAIN, 0
            shown = self._shown
        else:
            self._streak = self._streak + 1 if proposed == self._candidate else 1
            self._candidate = proposed
            shown = proposed if self._streak >= self.rule.debounce else self._shown
        self._shown = shown
        return Decision(shown, confidence, raw)


def decide(rule: DecisionRule, probs: np.ndarray) -> np.ndarray:
    """Decided classes (UNCERTAIN = -1) of one recording's windows (W, classes), from a fresh Decider."""
    p = np.asarray(probs, np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be (windows, classes), got shape {p.shape}")
    decider = Decider(rule, p.shape[1])
    return np.array([decider.update(row).cls for row in p], np.int64)


def decide_recording(rule: DecisionRule, probs: np.ndarray) -> int:
    """One class for a whole recording: the mean of all its windows' probabilities, or the majority of
    their votes for a ``vote`` rule, then the rule's threshold (UNCERTAIN = -1; -1 for no windows)."""
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or len(p) == 0:
        return UNCERTAIN
    whole = DecisionRule("vote" if rule.mode == "vote" else "recording", k=min(65535, max(1, len(p))),
                         threshold=rule.threshold)
    return int(decide(whole, p)[-1])


def rule_from_meta(meta: Mapping[str, Any] | Any) -> DecisionRule:
    """The decision rule of a model: from a meta.json dict or an object with a ``decision`` attribute
    (absent: the identity rule, each window on its own)."""
    obj = meta.get("decision") if isinstance(meta, Mapping) else getattr(meta, "decision", None)
    if isinstance(obj, DecisionRule):
        return obj
    return DecisionRule.from_json(obj or None, "meta.json decision")


def rule_for_model(sha256: bytes | str) -> DecisionRule:
    """The decision rule in the meta.json of the bundled model whose .tflite has this SHA-256 (a descriptor's
    `hash`), the identity rule when no bundled model matches: how run/validate find a board model's rule."""
    from edgeloop.models.quantize import find_model_by_hash, read_meta

    path = find_model_by_hash(sha256)
    return rule_from_meta(read_meta(path)) if path is not None else DecisionRule()


def class_name(labels: list[str] | tuple[str, ...], cls: int) -> str:
    """The label of a decided class index; UNCERTAIN_LABEL for -1."""
    return UNCERTAIN_LABEL if cls == UNCERTAIN else labels[cls]
