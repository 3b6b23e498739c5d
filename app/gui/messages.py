"""Where the window's messages are seen: a message area for the user, a console for the board and the link.

`QtMessageArea` sits under the toolbar. Information (a screenshot's path, a
session saved, a report written) shows for a few seconds; an error stays, in
red, until the user dismisses it with its ✕, so nothing that went wrong is
missed while looking at the video. Several errors stack (the newest on top,
at most MAX_ROWS; older ones are dropped from view but stay in the console).

`QtConsole` is a log of everything: the board's LOG messages, link events
(connecting, connected, reconnecting, failed) and every message the area showed,
each with its wall-clock time.
"""

from __future__ import annotations

import time

from PySide6 import QtCore, QtWidgets

from edgeloop.app.gui import theme

INFO_SECONDS = 8.0  # an information message disappears after this long
MAX_ROWS = 4  # messages shown at once; older ones leave the area (the console keeps them)


class _QtMessageRow(QtWidgets.QFrame):
    """One message: its text, and a ✕ that dismisses it."""

    dismissed = QtCore.Signal(object)

    def __init__(self, text: str, error: bool, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.error = error
        self.setObjectName("error" if error else "info")
        colour, background = (theme.BAD, "#3a1f22") if error else (theme.TEXT, "#1f2a36")
        self.setStyleSheet(f"QFrame#{self.objectName()} {{ background: {background}; border-radius: 6px; }}"
                           f"QLabel {{ background: transparent; color: {colour}; }}")
        self.label = QtWidgets.QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)  # paths can be copied
        close = QtWidgets.QToolButton()
        close.setText("✕")
        close.setToolTip("dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(lambda: self.dismissed.emit(self))
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 4, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, QtCore.Qt.AlignTop)


class QtMessageArea(QtWidgets.QWidget):
    """Messages for the user: information for a few seconds, errors in red until dismissed."""

    message_shown = QtCore.Signal(str, bool)  # text, is_error (the console listens)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self.setSizePolicy(QtWidgets.QSizePolicy.Preferred, QtWidgets.QSizePolicy.Maximum)
        self.hide()

    @property
    def rows(self) -> list[_QtMessageRow]:
        """The messages shown, newest first."""
        return [self._layout.itemAt(i).widget() for i in range(self._layout.count())]

    def texts(self) -> list[str]:
        """The texts shown, newest first."""
        return [row.label.text() for row in self.rows]

    def info(self, text: str, seconds: float = INFO_SECONDS) -> None:
        """Show an information message for `seconds`."""
        row = self._add(text, error=False)
        timer = QtCore.QTimer(row)  # owned by the row: gone with it when the row is dismissed first
        timer.setSingleShot(True)
        timer.timeout.connect(lambda: self._remove(row))
        timer.start(int(seconds * 1000))

    def error(self, text: str) -> None:
        """Show an error in red until the user dismisses it (the same text twice shows once)."""
        for row in self.rows:
            if row.error and row.label.text() == text:
                self._layout.removeWidget(row)
                self._layout.insertWidget(0, row)  # already there: bring it to the top
                return
        self._add(text, error=True)

    def clear_errors(self) -> None:
        """Dismiss every error (e.g. once the cause is gone: a board connected)."""
        for row in self.rows:
            if row.error:
                self._remove(row)

    def _add(self, text: str, error: bool) -> _QtMessageRow:
        row = _QtMessageRow(text, error)
        row.dismissed.connect(self._remove)
        self._layout.insertWidget(0, row)
        while self._layout.count() > MAX_ROWS:
            self._remove(self.rows[-1])
        self.show()
        row.show()  # at once: a layout would only show it a loop turn later
        self.message_shown.emit(text, error)
        return row

    def _remove(self, row: _QtMessageRow) -> None:
        if self._layout.indexOf(row) < 0:
            return  # dismissed already
        self._layout.removeWidget(row)
        row.deleteLater()
        if not self._layout.count():
            self.hide()


class QtConsole(QtWidgets.QPlainTextEdit):
    """The board's LOG lines, link events and every user message, time-stamped (newest at the bottom)."""

    MAX_LINES = 2000

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(self.MAX_LINES)
        self.setLineWrapMode(QtWidgets.QPlainTextEdit.NoWrap)
        self.setStyleSheet("font-family: monospace; font-size: 12px;")

    def add(self, kind: str, text: str) -> None:
        """Append a line: `kind` says where it comes from (board, link, error, info)."""
        stamp = time.strftime("%H:%M:%S")
        colour = {"error": theme.BAD, "board": theme.ACCENT, "link": theme.WARN}.get(kind, theme.MUTED)
        safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.appendHtml(f"<span style='color:{theme.MUTED}'>{stamp}</span> "
                        f"<span style='color:{colour}'>{kind:<5}</span> {safe}")

    def lines(self) -> list[str]:
        """The console's text, one entry per line."""
        return self.toPlainText().splitlines()
