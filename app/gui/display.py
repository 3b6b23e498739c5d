"""Whether Qt can open a window here (checked without importing Qt)."""

from __future__ import annotations

import os
import sys


def has_display() -> bool:
    """True when a window can be shown: a display server, or QT_QPA_PLATFORM set to offscreen or another platform.

    On Linux a display means DISPLAY (X11) or WAYLAND_DISPLAY; macOS and
    Windows always have one.
    """
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


NO_DISPLAY_HINT = ("no display: DISPLAY and WAYLAND_DISPLAY are unset and QT_QPA_PLATFORM is not set "
                   "(export QT_QPA_PLATFORM=offscreen to render without a screen)")
