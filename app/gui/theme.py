"""Dark theme for the demonstrator: a Qt palette, a stylesheet and pyqtgraph defaults."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtGui, QtWidgets

BACKGROUND = "#14171c"
PANEL = "#1c2028"
TEXT = "#e6e9ef"
MUTED = "#8b93a3"
ACCENT = "#4fc3f7"
GOOD = "#66bb6a"
WARN = "#ffb74d"
BAD = "#ef5350"
BANNER_PX = 44
"""Pixel size of the class banner's bold text (its confidence is half that)."""
SERIES = ("#4fc3f7", "#ffb74d", "#ba68c8", "#66bb6a", "#f06292", "#fff176")
"""Line colours for plots, in order (ax, ay, az, gx, gy, gz use them too)."""

STATE_COLOURS = {"connected": GOOD, "connecting": WARN, "reconnecting": WARN, "failed": BAD,
                 "disconnected": MUTED}

STYLESHEET = f"""
QWidget {{ background: {BACKGROUND}; color: {TEXT}; font-size: 13px; }}
QFrame#panel, QGroupBox {{ background: {PANEL}; border: 1px solid #2a303b; border-radius: 8px; }}
QGroupBox {{ margin-top: 18px; padding: 8px; }}
QGroupBox QLabel, QGroupBox QCheckBox {{ background: transparent; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {MUTED}; }}
QLabel#key {{ color: {MUTED}; }}
QLabel#state {{ font-weight: 700; }}
QPushButton, QComboBox, QSpinBox {{ background: #262c36; border: 1px solid #343c49; border-radius: 6px;
    padding: 5px 10px; }}
QPushButton:hover {{ background: #2f3743; }}
QPushButton:checked {{ background: {ACCENT}; color: {BACKGROUND}; }}
QToolBar {{ border: none; spacing: 6px; padding: 4px; }}
QStatusBar {{ color: {MUTED}; }}
"""


def apply_theme(app: QtWidgets.QApplication) -> None:
    """Dark palette and stylesheet on the whole application, dark pyqtgraph defaults."""
    app.setStyle("Fusion")
    palette = QtGui.QPalette()
    for role, colour in ((QtGui.QPalette.Window, BACKGROUND), (QtGui.QPalette.Base, PANEL),
                         (QtGui.QPalette.Text, TEXT), (QtGui.QPalette.WindowText, TEXT),
                         (QtGui.QPalette.Button, PANEL), (QtGui.QPalette.ButtonText, TEXT),
                         (QtGui.QPalette.Highlight, ACCENT)):
        palette.setColor(role, QtGui.QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(STYLESHEET)
    # Antialiased curves cost several times more to stroke; at 2 px width they read fine without.
    pg.setConfigOptions(antialias=False, background=PANEL, foreground=MUTED, imageAxisOrder="row-major")
