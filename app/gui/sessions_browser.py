"""The session browser: recorded sessions under a folder, their counts, replay and merge.

API for the main window::

    browser = QtSessionsBrowser(Path("sessions"))
    browser.replay_requested.connect(lambda path: window.use_source(SessionReplaySource(path)))
    browser.merge_into(Path("datasets/new"))     # merges the selected sessions

Signals: `replay_requested(Path)` (double-click or Replay) and
`merged(str)` (the new data set folder). `refresh()` rescans the folder.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from edgeloop import EdgeloopError, InputError
from edgeloop.app.sessions.library import find_sessions, load_session, merge_sessions

COLUMNS = ("session", "kind", "samples", "duration", "status", "labels")


class QtSessionsBrowser(QtWidgets.QWidget):
    """A table of the sessions under `root`, with details of the selected one."""

    replay_requested = QtCore.Signal(Path)
    merged = QtCore.Signal(str)

    def __init__(self, root: Path, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.root = Path(root)
        self.paths: list[Path] = []
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        # Names are what a user picks a session by: their column is as wide as the longest one.
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeToContents)
        for column in range(1, len(COLUMNS) - 1):
            header.setSectionResizeMode(column, QtWidgets.QHeaderView.ResizeToContents)
        self.table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAsNeeded)
        self.table.setWordWrap(False)
        self.details = QtWidgets.QLabel("")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        self.replay_button = QtWidgets.QPushButton("Replay")
        self.merge_button = QtWidgets.QPushButton("Merge selected…")
        buttons = QtWidgets.QHBoxLayout()
        for button in (self.refresh_button, self.replay_button, self.merge_button):
            buttons.addWidget(button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        self.refresh_button.clicked.connect(self.refresh)
        self.replay_button.clicked.connect(self._on_replay)
        self.merge_button.clicked.connect(self._on_merge_clicked)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.replay_requested.emit(self.paths[row]))
        self.refresh()

    @QtCore.Slot()
    def refresh(self) -> None:
        """Rescan the root folder and redraw the table."""
        self.paths = find_sessions([self.root]) if self.root.exists() else []
        self.table.setRowCount(len(self.paths))
        for row, path in enumerate(self.paths):
            try:
                s = load_session(path).summary()
                cells = (s["name"], s["kind"], str(s["samples"]), f"{s['duration_s']:.1f} s", s["status"],
                         " ".join(f"{k}:{v}" for k, v in s["counts"].items()))
            except EdgeloopError as exc:
                cells = (path.name, "?", "", "", "unreadable", str(exc))
            for col, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(str(path) if col == 0 else text)
                self.table.setItem(row, col, item)
        self.details.setText(f"{len(self.paths)} session(s) in {self.root}")

    def selected_paths(self) -> list[Path]:
        """The sessions whose rows are selected, in table order."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.paths[r] for r in rows]

    def merge_into(self, out: Path) -> str:
        """Merge the selected sessions into `out`; returns a one-line summary (also emitted as `merged`)."""
        paths = self.selected_paths()
        if not paths:
            raise InputError("select the sessions to merge first")
        m = merge_sessions(paths, out)
        text = (f"merged {len(m.sessions)} session(s) into {m.out}: "
                + ", ".join(f"{k} {v}" for k, v in m.counts.items()))
        self.details.setText(text)
        self.merged.emit(str(m.out))
        return text

    def _on_selection(self) -> None:
        paths = self.selected_paths()
        if len(paths) != 1:
            return
        try:
            s = load_session(paths[0]).summary()
        except EdgeloopError as exc:
            self.details.setText(str(exc))
            return
        board = (s.get("board") or {}).get("board") or "no board"
        self.details.setText(f"{s['path']}\n{s['kind']}, {s['samples']} samples, {s['duration_s']:.1f} s, "
                             f"{s['status']}; source {s['source']}; {board}; "
                             f"{s['predictions']} with predictions; started {s['started']}")

    def _on_replay(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.replay_requested.emit(paths[0])

    def _on_merge_clicked(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Merge into an empty folder", str(self.root))
        if not folder:
            return
        try:
            self.merge_into(Path(folder))
        except EdgeloopError as exc:
            QtWidgets.QMessageBox.warning(self, "Merge failed", str(exc))
