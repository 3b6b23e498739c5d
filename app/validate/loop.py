"""The product's loop on a running board: train on recorded sessions, deploy over the link, validate. Qt-free.

The GUI calls these from a worker thread and stays thin over them::

    from edgeloop.app.validate.loop import RetrainLoop, RetrainPlan, deploy_model

    # "Deploy…": a container, a .tflite or an importable model onto the board the Session holds
    done = deploy_model(session, Path("m.tflite"), on_step=print)
    print(done.result.seconds, done.model.name, done.model_id)

    # "Train from selected sessions": train (child process) -> container -> deploy -> validate
    loop = RetrainLoop(session, RetrainPlan(sessions=[Path("sessions/a"), Path("sessions/b")],
                                            out=Path("trained/a"), reports=Path("validation")), on_step=print)
    outcome = loop.run()          # blocks; loop.cancel() from another thread stops it and kills the child

Training runs `edgeloop train` in a separate process (TensorFlow never loads in
the caller's process, so it never competes with a 30 fps display loop); its
epochs are read from the progress bar it draws on stderr, and its one-line
error ("need at least two classes ...") becomes the step's error. Models
that need an import (ONNX, Keras, float .tflite) are compiled the same way by
`edgeloop compile --container`. An int8 .tflite is compiled in-process: the
compiler is plain Python and takes a fraction of a second.

Every step reports `Step(stage, done, total, text)`; stages are "train",
"compile", "deploy", "validate". Failures raise `LoopError` (an EdgeloopError
whose message names the problem) and a cancel raises `LoopCancelled`; the
board's active model is whatever it was before a failed deploy.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgeloop import EdgeloopError, InputError, os_errors_explained
from edgeloop.app.link.child_process import popen_tied
from edgeloop.app.link.deploy import (CONTAINER_SUFFIX, DeployCancelled, DeployResult, deploy_over_session,
                                      load_container)
from edgeloop.app.sessions.library import load_session
from edgeloop.protocol import DescribeModel, Hello, Info, ModelDescription, ModelDescriptor
from edgeloop.protocol.upload import CAP_UPLOAD, SlotErase, UploadCommitted

STAGES = ("train", "compile", "deploy", "validate")
VALIDATE_LIMIT = 200  # samples validated after a retrain: enough to see agreement, seconds on a UART


@dataclass(frozen=True)
class Step:
    """Progress of one stage: `done` of `total` (total 0: no measure yet), and a line for the user."""

    stage: str
    done: float
    total: float
    text: str

    @property
    def fraction(self) -> float | None:
        """done/total in 0..1, or None while the stage has no measure."""
        return min(1.0, self.done / self.total) if self.total > 0 else None


OnStep = Callable[[Step], None]


class LoopError(EdgeloopError, RuntimeError):
    """A step of the loop failed; the message names the step, the problem and what to do."""


class LoopCancelled(LoopError):
    """The user cancelled; the child process (if any) was killed."""


# -- child processes ----------------------------------------------------------------------------------------
_TQDM = re.compile(r"(?P<desc>[^\r\n|]*?):\s+\d+%\|[^|]*\|\s*(?P<done>\d+)/(?P<total>\d+)")
_ERROR = re.compile(r"^edgeloop: error: (?P<text>.+)$")


def parse_progress(text: str) -> tuple[str, int, int] | None:
    """(description, done, total) of the last tqdm bar update in `text`, or None."""
    found = None
    for found in _TQDM.finditer(text):
        pass
    return (found["desc"].strip(), int(found["done"]), int(found["total"])) if found else None


class ChildRun:
    """One `python -m edgeloop ...` child: its stderr read line by line (tqdm's \\r updates included),
    killed with its process group on cancel, and tied to this process (it dies with it)."""

    def __init__(self, argv: Sequence[str], *, cwd: Path | None = None) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
        self.argv = [sys.executable, "-m", "edgeloop", *argv]
        self.proc = popen_tied(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                               start_new_session=True)
        self.output: list[str] = []
        self.killed = False

    def lines(self) -> Any:
        """Yield each output line (a tqdm redraw ends at \\r and counts as a line) until the child exits."""
        assert self.proc.stdout is not None
        buf = b""
        while True:
            data = self.proc.stdout.read1(4096)  # what has arrived, without waiting for 4096 bytes
            if not data:
                break
            buf += data
            *done, buf = re.split(rb"[\r\n]", buf)
            for raw in done:
                if raw.strip():
                    line = raw.decode("utf-8", "replace")
                    self.output.append(line)
                    yield line
        if buf.strip():
            self.output.append(buf.decode("utf-8", "replace"))
            yield self.output[-1]

    def wait(self) -> int:
        return self.proc.wait()

    def kill(self) -> None:
        """Kill the child and anything it started (its own process group)."""
        self.killed = True
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def failure(self, what: str) -> LoopError:
        """The child's own one-line error, else its last lines, as a LoopError about `what`."""
        for line in reversed(self.output):
            m = _ERROR.match(line.strip())
            if m:
                return LoopError(f"{what} failed: {m['text']}")
        tail = [line for line in self.output if line.strip()][-3:]
        return LoopError(f"{what} failed (exit code {self.proc.returncode})" + (f": {' | '.join(tail)}" if tail else ""))


class Canceller:
    """Shared between the worker and the GUI: cancel() stops the loop at the next step and kills a child."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._child: ChildRun | None = None
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            if self._child is not None:
                self._child.kill()

    def check(self) -> None:
        """Raise LoopCancelled once cancel() was called."""
        if self._event.is_set():
            raise LoopCancelled("cancelled: the board keeps its active model")

    def run(self, child_argv: Sequence[str], what: str, on_line: Callable[[str], None]) -> ChildRun:
        """Run a child to its end, passing each output line to `on_line`; LoopError if it fails."""
        self.check()
        child = ChildRun(child_argv)
        with self._lock:
            self._child = child
        if self._event.is_set():  # cancelled between check() and now
            child.kill()
        try:
            for line in child.lines():
                on_line(line)
            code = child.wait()
        finally:
            with self._lock:
                self._child = None
        self.check()
        if code != 0:
            raise child.failure(what)
        return child


# -- deploy ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deployed:
    """A model committed (and activated) on the board, and the board's INFO afterwards."""

    result: DeployResult
    info: Info

    @property
    def model_id(self) -> int:
        """The new model's stable id (SPEC §9.4): what every request and the GUI's model list name it by."""
        return self.result.model_id

    @property
    def model(self) -> ModelDescriptor:
        model = self.info.model_by_id(self.model_id)
        assert model is not None, "deploy_container checked that the board lists the committed model"
        return model


def needs_calibration(path: Path) -> bool:
    """True for a float model (ONNX, Keras, SavedModel, float .tflite): quantizing it needs calibration data."""
    from edgeloop.models.importers import detect_format
    from edgeloop.models.importers.detect import FLOAT_FORMATS

    path = Path(path)
    return path.suffix != CONTAINER_SUFFIX and detect_format(path) in FLOAT_FORMATS


def container_for(path: Path, canceller: Canceller | None = None, on_step: OnStep | None = None,
                  *, calib: Path | None = None, work_dir: Path | None = None) -> bytes:
    """The container of a model file: an .elmc as is, an int8 .tflite compiled here, anything else
    (ONNX, Keras, a float .tflite, quantized with `calib` data) imported and compiled by
    `edgeloop compile --container` in a child process."""
    canceller = canceller or Canceller()
    path = Path(path)
    if not path.exists():
        raise InputError(f"model {path} does not exist")
    say = on_step or (lambda step: None)
    if path.suffix == CONTAINER_SUFFIX:
        return load_container(path)
    if path.suffix == ".tflite" and calib is None:
        from edgeloop.models.importers import detect_format

        if detect_format(path) == "tflite-int8":
            say(Step("compile", 0, 0, f"compiling {path.name}"))
            return load_container(path)
    say(Step("compile", 0, 0, f"importing and compiling {path.name} in a child process"))
    with tempfile.TemporaryDirectory(prefix="edgeloop-deploy-", dir=work_dir) as tmp:
        out = Path(tmp) / f"{path.stem}{CONTAINER_SUFFIX}"
        argv = ["compile", str(path), "--container", str(out), *(["--calib", str(calib)] if calib else [])]
        try:
            canceller.run(argv, f"compiling {path.name}", lambda line: say(Step("compile", 0, 0, line[-160:])))
        except LoopCancelled:
            raise
        except LoopError as exc:
            if "--calib" not in str(exc):
                raise
            raise LoopError(f"{exc}; here, make its container with `edgeloop compile {path} --calib DATA "
                            f"--container {path.stem}{CONTAINER_SUFFIX}` and deploy that") from None
        with os_errors_explained(f"read the compiled container {out}"):
            return out.read_bytes()


def board_info_after(session: Any, committed: UploadCommitted | None = None) -> Info:
    """The board's INFO now (after a commit, a refused commit or an erase), with full descriptors: a
    committed one from its reply, the others from the INFO the session had or read with DESCRIBE_MODEL
    (an INFO copy may be abridged, SPEC 1.1 §5.3)."""
    fresh = session.request(Hello()).result().message
    if not isinstance(fresh, Info):
        raise LoopError(f"the board answered HELLO with {type(fresh).__name__}")
    old = session.info
    models = []
    for model_id, m in zip(fresh.model_ids, fresh.models):
        known = old.model_by_id(model_id) if old is not None else None
        if committed is not None and model_id == committed.model_id:
            m = committed.model
        elif m.abridged:
            m = known if known is not None and not known.abridged and known.hash == m.hash \
                else _describe(session, model_id)
        models.append(m)
    return replace(fresh, models=tuple(models))


def _describe(session: Any, model_id: int, page: int = 4096) -> ModelDescriptor:
    """A model's full descriptor read through the session with DESCRIBE_MODEL pages (SPEC §9.5)."""
    body, total = bytearray(), None
    while total is None or len(body) < total:
        reply = session.request(DescribeModel(model_id, len(body), page)).result().message
        if not isinstance(reply, ModelDescription) or (not reply.chunk and reply.offset < reply.total):
            raise LoopError(f"the board answered DESCRIBE_MODEL {model_id} with {type(reply).__name__}")
        body += reply.chunk
        total = reply.total
    return ModelDescriptor.decode_body(bytes(body), f"model {model_id} description")




def deploy_container(session: Any, container: bytes, *, on_step: OnStep | None = None,
                     slot: int | None = None, canceller: Canceller | None = None) -> Deployed:
    """Upload `container` over the open session, activate it, and adopt the board's new INFO into
    `session.info` (so the new model can be selected and fed like the compiled-in ones).

    A cancel during the upload stops queuing chunks and sends no commit: the slot never becomes a
    model. After a refused or cancelled upload the board's INFO is read again and adopted (UPLOAD_BEGIN
    empties the slot, a failed commit too, SPEC §9.8.2/§9.8.4), so no model list shows a model the
    board has emptied.
    """
    say = on_step or (lambda step: None)
    canceller = canceller or Canceller()

    def progress(done: int, total: int) -> None:
        say(Step("deploy", done, total, f"uploading {done}/{total} B"))

    canceller.check()
    progress(0, len(container))
    try:
        result = deploy_over_session(session, container, slot=slot, progress=progress,
                                     cancelled=lambda: canceller.cancelled)
    except EdgeloopError as exc:  # a refusal (DeviceError), a silent board, a cancel
        try:
            adopt_board_info(session, board_info_after(session))
        except EdgeloopError:
            pass  # the board is gone: the failure below says so, and a reconnect brings a fresh INFO
        if isinstance(exc, DeployCancelled):
            raise LoopCancelled(str(exc)) from None
        raise
    info = adopt_board_info(session, board_info_after(session, result.committed))
    if info.model_by_id(result.model_id) is None:
        raise LoopError(f"the board does not list model {result.model_id} after the commit")
    deployed = Deployed(result, info)
    say(Step("deploy", len(container), len(container),
             f"deployed {deployed.model.name} in {result.seconds:.2f} s (host clock)"))
    return deployed


def adopt_board_info(session: Any, info: Info) -> Info:
    """Make `info` the session's INFO and tell the session's `on_info` listener (the GUI's model list)."""
    session.info = info
    listener = getattr(session, "on_info", None)
    if listener is not None:
        listener(info)
    return info


def erase_slot(session: Any, slot: int) -> Info:
    """Empty upload slot `slot` (SPEC §9.8.5) and adopt the board's INFO afterwards (the slot's model
    has left the list; model 0 is active if it was); DeviceError names a bad slot."""
    session.call(SlotErase(slot), timeout=10.0)
    return adopt_board_info(session, board_info_after(session))


def deploy_model(session: Any, path: Path, *, on_step: OnStep | None = None, canceller: Canceller | None = None,
                 slot: int | None = None, calib: Path | None = None) -> Deployed:
    """The "Deploy…" action: a model file's container onto the board the session holds (`calib`: the
    calibration data a float model is quantized with)."""
    canceller = canceller or Canceller()
    container = container_for(path, canceller, on_step, calib=calib)
    return deploy_container(session, container, on_step=on_step, slot=slot, canceller=canceller)


def describe_deployed(done: Deployed) -> str:
    """One line for the message area: what was deployed where, how long it took, and its descriptor."""
    m, r = done.model, done.result
    shape = "x".join(map(str, m.input.dims)) + " → " + "x".join(map(str, m.output.dims))
    state = "active" if r.committed.active_model == r.model_id else "loaded, not active"
    labels = f"; labels {', '.join(m.labels)}" if m.labels else ""
    return (f"deployed {m.name} as model {r.model_id} (slot {r.committed.slot}, {state}): {r.container_bytes} B "
            f"in {r.seconds:.2f} s (host clock); {shape}, {m.macc} MACs, arena {m.ram_bytes} B, "
            f"sha256 {m.hash.hex()[:12]}…{labels}")


# -- retrain ----------------------------------------------------------------------------------------------------
TASK_OF_KIND = {"image": "images", "imu": "imu"}


@dataclass
class RetrainPlan:
    """What "Train from selected sessions" does: train on `sessions` into `out`, validate into `reports`.

    `options` are extra `edgeloop train` arguments (e.g. ["--epochs", "3", "--input-size", "16"]);
    `validate_limit` caps the samples validated on the board.
    """

    sessions: list[Path]
    out: Path
    reports: Path
    options: list[str] = field(default_factory=list)
    name: str | None = None
    validate_limit: int = VALIDATE_LIMIT

    @property
    def model_name(self) -> str:
        return self.name or self.out.name.replace("-", "_")

    def task(self) -> str:
        """The training task of the sessions' kind (image sessions: images; IMU sessions: imu)."""
        if not self.sessions:
            raise InputError("select the sessions to train on first")
        kinds = {load_session(p).kind for p in self.sessions}
        if len(kinds) > 1:
            raise InputError(f"the selected sessions mix {' and '.join(sorted(kinds))} data: select one kind")
        kind = kinds.pop()
        if kind not in TASK_OF_KIND:
            raise InputError(f"cannot train on {kind} sessions")
        return TASK_OF_KIND[kind]

    def train_argv(self) -> list[str]:
        """The `edgeloop train` arguments of this plan."""
        return ["train", "--task", self.task(), "--data", *map(str, self.sessions), "--out", str(self.out),
                "--name", self.model_name, *self.options]


@dataclass(frozen=True)
class RetrainOutcome:
    tflite: Path
    deployed: Deployed
    report_html: Path
    summary: dict[str, Any]  # the validation report's JSON


class RetrainLoop:
    """train (child) → container → deploy → validate, with `on_step` progress and `cancel()` from any thread."""

    def __init__(self, session: Any, plan: RetrainPlan, *, on_step: OnStep | None = None,
                 on_deployed: Callable[[Deployed], None] | None = None) -> None:
        """`on_deployed` is called (in the worker) once the new model is active, before validation."""
        self.session, self.plan = session, plan
        self.on_step = on_step or (lambda step: None)
        self.on_deployed = on_deployed or (lambda done: None)
        self.canceller = Canceller()

    def cancel(self) -> None:
        """Stop at the next step; a running training child is killed at once."""
        self.canceller.cancel()

    def run(self) -> RetrainOutcome:
        info = self.session.info
        if info is None or not info.has(CAP_UPLOAD):  # say so now, not after a minute of training
            board = f"the board ({info.board}, firmware {info.firmware})" if info is not None else "no board"
            raise LoopError(f"{board} has no upload slots: flash a firmware with upload support (protocol 1.1, "
                            "capability 'upload') to deploy what you train")
        tflite = self.train()
        self.canceller.check()
        self.on_step(Step("compile", 0, 0, f"compiling {tflite.name} into a container"))
        container = load_container(tflite)
        deployed = deploy_container(self.session, container, on_step=self.on_step, canceller=self.canceller)
        self.on_deployed(deployed)
        html, summary = self.validate(tflite, deployed)
        return RetrainOutcome(tflite, deployed, html, summary)

    def train(self) -> Path:
        """Run `edgeloop train` in a child process; the int8 .tflite it wrote."""
        plan = self.plan
        argv = plan.train_argv()
        epochs = _option(plan.options, "--epochs")
        self.on_step(Step("train", 0, epochs, f"training on {len(plan.sessions)} session(s) in a child process"))
        started = time.monotonic()

        def on_line(line: str) -> None:
            bar = parse_progress(line)
            if bar is not None:
                desc, done, total = bar
                then = "; quantizing and exporting" if done == total else ""  # seconds with no bar of their own
                self.on_step(Step("train", done, total, f"training {desc}: epoch {done}/{total}{then}"))

        self.canceller.run(argv, "training", on_line)
        tflite = plan.out / f"{plan.model_name}.tflite"
        if not tflite.is_file():
            raise LoopError(f"training wrote no {tflite}: see {plan.out}")
        self.on_step(Step("train", 1, 1, f"trained {tflite.name} in {time.monotonic() - started:.0f} s"))
        return tflite

    def validate(self, tflite: Path, deployed: Deployed) -> tuple[Path, dict[str, Any]]:
        """Validate the deployed model against the host reference on the sessions' samples."""
        from edgeloop.app.validate.report import write_report
        from edgeloop.app.validate.validator import load_validation_data, validate_on_board

        self.canceller.check()
        model = deployed.model
        data = _concat([load_validation_data(p, model, model_dirs=[tflite.parent]) for p in self.plan.sessions],
                       self.plan.validate_limit)
        self.on_step(Step("validate", 0, len(data), f"validating on {len(data)} samples"))
        with os_errors_explained(f"read {tflite}"):
            blob = tflite.read_bytes()
        result = validate_on_board(self.session, deployed.model_id, blob, data, tflite_path=str(tflite),
                                   progress=lambda d, t: self.on_step(Step("validate", d, t, f"validating {d}/{t}")))
        _, html = write_report(result, self.plan.reports / model.name)
        return html, result.to_json()


def _option(options: Sequence[str], name: str) -> int:
    """The integer value of `name` in an argument list (0 when absent)."""
    opts = list(options)
    if name in opts[:-1] and opts[opts.index(name) + 1].isdigit():
        return int(opts[opts.index(name) + 1])
    return 0


def _concat(parts: list[Any], limit: int) -> Any:
    """ValidationData of several sessions as one, evenly thinned to at most `limit` samples."""
    import numpy as np

    from edgeloop.app.validate.validator import ValidationData

    inputs = [x for p in parts for x in p.inputs]
    names = [n for p in parts for n in p.names]
    truth = np.concatenate([p.truth for p in parts]) if parts else np.zeros(0, np.int64)
    keep = np.unique(np.linspace(0, len(inputs) - 1, min(limit, len(inputs))).round().astype(int)) \
        if inputs else np.zeros(0, int)
    return ValidationData([inputs[i] for i in keep], truth[keep], [names[i] for i in keep],
                          ", ".join(p.source for p in parts))
