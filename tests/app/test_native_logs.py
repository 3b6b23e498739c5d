"""TensorFlow's routine native log lines stay out of the terminal; everything else on stderr gets through."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796573589.063393   22150 port.cc:153] oneDNN custom operations are on.",
    "W0000 00:00:1796573604.512945   22150 tf_tfl_flatbuffer_helpers.cc:364] Ignored output_format.",
    "E0000 00:00:1796573596.889472   22150 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool "
    "which is not in the op definition",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.",
    "fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8",
]
KEPT = ["E0000 00:00:1.5 22150 allocator.cc:12] out of memory", "F0000 00:00:1.5 1 check.cc:3] Check failed: x",
        "a child process's line"]


def _run(body: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(f"""
        import os, subprocess, sys
        from edgeloop.app.native_logs import filtered_native_stderr
        NOISE, KEPT = {NOISE!r}, {KEPT!r}
        """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env=env)


def test_native_noise_is_dropped_and_every_other_line_kept() -> None:
    proc = _run("""
        with filtered_native_stderr():
            for line in NOISE + KEPT[:2]:
                os.write(2, (line + "\\n").encode())  # as native code writes: straight to descriptor 2
            subprocess.run([sys.executable, "-c", f"import sys; print({KEPT[2]!r}, file=sys.stderr)"], check=True)
            print("python's own stderr", file=sys.stderr)
        os.write(2, (NOISE[1] + "\\n").encode())  # after the block, nothing is filtered
        raise SystemExit(3)
        """)
    assert proc.returncode == 3
    lines = proc.stderr.splitlines()
    assert [line for line in lines if line in KEPT] == KEPT
    assert "python's own stderr" in lines
    assert lines.count(NOISE[1]) == 1 and not set(NOISE) - {NOISE[1]} & set(lines)


def test_a_traceback_inside_the_block_reaches_the_terminal_and_the_switch_turns_it_off() -> None:
    proc = _run("""
        with filtered_native_stderr():
            os.write(2, (NOISE[1] + "\\n").encode())
            raise ValueError("a defect")
        """)
    assert "ValueError: a defect" in proc.stderr and NOISE[1] not in proc.stderr
    shown = _run("""
        with filtered_native_stderr():
            os.write(2, (NOISE[1] + "\\n").encode())
        """, env=dict(os.environ, EDGELOOP_NATIVE_LOGS="1"))
    assert NOISE[1] in shown.stderr


def test_a_python_stderr_that_is_not_descriptor_2_is_left_alone(capsys) -> None:  # noqa: ANN001
    """In process, under a capture (pytest's capsys, a GUI log pane), Python's stderr stays what it was."""
    import edgeloop.app.native_logs as native_logs

    captured = sys.stderr
    with native_logs.filtered_native_stderr():
        assert sys.stderr is captured
        print("progress 1/2", file=sys.stderr)
    assert "progress 1/2" in capsys.readouterr().err
