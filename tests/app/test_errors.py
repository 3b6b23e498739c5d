"""One error root: the CLI prints EdgeloopErrors as one line and shows every other exception as a defect."""

from __future__ import annotations

import pytest

import edgeloop
from edgeloop import EdgeloopError, InputError, MissingFileError, ResourceError
from edgeloop.app import cli
from edgeloop.app.commands import ports as ports_command
from edgeloop.app.live.pipeline import Pipeline
from edgeloop.app.live.sources.base import Source
from edgeloop.app.link.session import Session

pytestmark = pytest.mark.timeout(60)


def _failing_command(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def run(args) -> int:
        raise exc

    monkeypatch.setattr(ports_command, "run", run)


def test_user_error_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _failing_command(monkeypatch, InputError("--labels names no labels; give them comma-separated"))
    assert cli.main(["ports"]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err == "edgeloop: error: --labels names no labels; give them comma-separated\n"


@pytest.mark.parametrize("exc", [KeyError("x"), ValueError("x"), RuntimeError("x"), OSError("x")],
                         ids=["KeyError", "ValueError", "RuntimeError", "OSError"])
def test_other_exceptions_are_defects_with_traceback(exc: Exception, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _failing_command(monkeypatch, exc)
    assert cli.main(["ports"]) == cli.EXIT_DEFECT
    err = capsys.readouterr().err
    assert "edgeloop: error:" not in err
    assert "Traceback (most recent call last)" in err and f"{type(exc).__name__}: " in err
    assert err.rstrip().endswith(cli.BUG_REPORT_LINE)


def test_debug_shows_a_user_errors_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_command(monkeypatch, InputError("bad"))
    with pytest.raises(InputError, match="bad"):
        cli.main(["--debug", "ports"])


def test_real_bad_input_is_a_user_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["record", "--source", "synthetic:bottles", "--out", str(tmp_path / "s"), "--seconds", "0"]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith("edgeloop: error: --seconds must be > 0")


def test_user_errors_keep_their_builtin_base() -> None:
    """Callers that catch ValueError / OSError / FileNotFoundError keep working."""
    assert issubclass(InputError, ValueError) and issubclass(ResourceError, OSError)
    assert issubclass(MissingFileError, FileNotFoundError) and issubclass(MissingFileError, EdgeloopError)
    assert MissingFileError("--tflite m.tflite does not exist").args == ("--tflite m.tflite does not exist",)


def test_every_user_error_class_derives_from_the_root() -> None:
    from edgeloop.app.link.boards import BoardStartError
    from edgeloop.app.link.firmware_build import FirmwareBuildError, ToolchainMissingError
    from edgeloop.app.link.qemu import QemuError, QemuNotFoundError
    from edgeloop.app.link.transport import LinkError, LinkLost, PortBusy, PortNotFound
    from edgeloop.app.live.preprocess import PreprocessError
    from edgeloop.app.live.sources.base import SourceError
    from edgeloop.app.sessions.library import SessionError
    from edgeloop.app.sessions.recording import RecordingError
    from edgeloop.app.validate.validator import ValidationError
    from edgeloop.models.compiler.errors import CompileError, TFLiteFormatError, UnsupportedError
    from edgeloop.models.data.imu_csv import ImuCsvError
    from edgeloop.models.quantize import ExportError
    from edgeloop.protocol.framing import CrcError, ProtocolError

    for cls in (BoardStartError, FirmwareBuildError, ToolchainMissingError, QemuError, QemuNotFoundError,
                LinkError, LinkLost, PortBusy, PortNotFound, PreprocessError, SourceError, SessionError,
                RecordingError, ValidationError, CompileError, TFLiteFormatError, UnsupportedError, ImuCsvError,
                ExportError, ProtocolError, CrcError):
        assert issubclass(cls, edgeloop.EdgeloopError), cls


class _BrokenSource(Source):
    """A source with a defect: reading it raises a KeyError."""

    kind = "image"

    def __init__(self) -> None:
        super().__init__(name="broken")

    def _read_internal(self, timeout):
        raise KeyError("x")


def test_pipeline_forwards_the_original_exception(kit) -> None:
    port = kit.ScriptedPort()
    with Session("scripted://", opener=kit.opener_for(port), base_timeout=0.2, retries=0) as session:
        session.connect()
        with pytest.raises(KeyError) as caught:
            list(Pipeline(_BrokenSource(), session).records(timeout=30))
    # The very exception of the capture thread, with the frame that raised it, not RuntimeError("'x'").
    assert caught.value.args == ("x",)
    frames = []
    tb = caught.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert "_read_internal" in frames


def test_os_refusals_become_one_line_that_says_what_to_do() -> None:
    from edgeloop import os_errors_explained

    with pytest.raises(ResourceError, match=r"^cannot write the log: the disk is full: free some space") as caught:
        with os_errors_explained("write the log"), open("/dev/full", "w") as fh:
            fh.write("x")
    assert caught.value.__cause__.errno == 28
    with pytest.raises(MissingFileError, match=r"cannot read the model /nonexistent/m\.tflite: it does not exist"):
        with os_errors_explained("read the model"):
            open("/nonexistent/m.tflite", "rb")


def test_compile_into_an_unusable_folder_is_a_user_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    model = edgeloop.PACKAGE_ROOT / "tests" / "compiler" / "fixtures" / "random_00.tflite"
    (tmp_path / "file").write_text("not a folder")
    assert cli.main(["compile", str(model), "--out", str(tmp_path / "file" / "out")]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"edgeloop: error: cannot write the C files to {tmp_path / 'file' / 'out'}: ")
    assert "is a file, not a folder" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["dataset", "synth", "imu", "--task", "fall", "--no-progress"],
                                  ["train", "--task", "imu", "--data", "missing", "--no-progress"]],
                         ids=["dataset", "train"])
def test_output_folder_under_a_file_is_a_user_error(argv: list[str], tmp_path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "out"
    assert cli.main([*argv, "--out", str(out)]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("edgeloop: error: cannot create ") and str(out) in err and "Traceback" not in err
    assert "is a file, not a folder" in err


def test_a_bad_option_value_keeps_its_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["run", "--port", "loop://", "--source", "synthetic:imu", "--roi", "1,2"])
    assert caught.value.code == 2
    assert "argument --roi: ROI '1,2' needs four numbers x,y,w,h" in capsys.readouterr().err
