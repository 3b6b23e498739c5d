"""Start board processes that die with the Python process that started them, whatever kills it.

A virtual board (the host board process, qemu-system-arm) must not outlive
the tool that started it: a GUI that aborts, a SIGKILL or an OOM kill would
otherwise leave it running, holding its TCP port. On Linux the child asks the
kernel for a signal when its parent dies (``prctl(PR_SET_PDEATHSIG,
SIGKILL)``, set between fork and exec).

The kernel sends that signal when the *thread* that forked the child ends,
not only the process. GUI and test code start boards from short-lived worker
threads, so every start goes through one launcher thread that lives as long
as the interpreter: the children then die exactly when the process does.

Example::

    from edgeloop.app.link.child_process import popen_tied
    proc = popen_tied(["sleep", "100"])   # killed if this Python process dies
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import signal
import subprocess
import sys
import threading
from typing import Any

_PR_SET_PDEATHSIG = 1
# Loaded before any fork: the child must not import or dlopen between fork and exec.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_launcher: concurrent.futures.ThreadPoolExecutor | None = None
_launcher_lock = threading.Lock()


def _die_with_parent(parent_pid: int) -> None:
    """preexec_fn: SIGKILL this child when its parent thread ends; exit at once if the parent already died."""
    if _libc is None:
        return
    if _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        os._exit(127)  # cannot promise to die with the parent: refuse to start rather than leak
    if os.getppid() != parent_pid:  # the parent died between fork and prctl
        os._exit(127)


def _launch(args: Any, kwargs: dict[str, Any]) -> subprocess.Popen[Any]:
    parent = os.getpid()
    return subprocess.Popen(args, preexec_fn=lambda: _die_with_parent(parent), **kwargs)


def popen_tied(args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
    """`subprocess.Popen(args, **kwargs)` for a child that is killed when this process dies.

    Same arguments and return value as Popen (``preexec_fn`` is taken); the
    fork happens in the process-long launcher thread, so the calling thread
    may end while the child keeps running.
    """
    if "preexec_fn" in kwargs:
        raise TypeError("popen_tied sets preexec_fn itself")
    global _launcher
    with _launcher_lock:
        if _launcher is None:
            _launcher = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgeloop-launcher")
    return _launcher.submit(_launch, args, kwargs).result()
