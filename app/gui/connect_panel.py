"""Connect and feed from the window: the board picker (ports, baud, virtual boards) and the source picker.

`QtBoardPicker` lists the serial ports found (the ST-LINK virtual COM port of
a Nucleo first), "virtual board: host" and "virtual board: QEMU Cortex-M7",
and takes any pyserial URL typed in; *Connect* / *Disconnect* work without a
restart. `QtSourcePicker` lists what can feed the board: cameras found,
synthetic bottles and IMU, and the entries that need a file, folder or
port (video file, image folder, IMU replay, recorded session, IMU over
serial or UDP) ask for it. Both only emit what the user chose; the window acts.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from edgeloop.app.link.ports import list_serial_ports

BAUD_RATES = (115200, 230400, 460800, 921600, 1000000, 2000000)
VIRTUAL_TARGETS = (("host", "virtual board: host (firmware as a Linux process)"),
                   ("qemu", "virtual board: QEMU Cortex-M7 (the ARM image, emulated)"))


class QtBoardPicker(QtWidgets.QWidget):
    """Port (auto-detected, ST-LINK first), baud, virtual boards; Connect / Disconnect."""

    connect_requested = QtCore.Signal(str, str, int)  # kind ("port" | "virtual"), port URL or target, baud
    disconnect_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.port_combo = QtWidgets.QComboBox()
        self.port_combo.setEditable(True)  # any pyserial URL: socket://127.0.0.1:PORT, rfc2217://...
        self.port_combo.setInsertPolicy(QtWidgets.QComboBox.NoInsert)
        self.port_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.port_combo.setMinimumContentsLength(12)
        self.port_combo.setToolTip("serial port, pyserial URL, or a virtual board the window starts")
        self.port_combo.currentIndexChanged.connect(self._on_port_changed)
        self.baud_combo = QtWidgets.QComboBox()
        self.baud_combo.setEditable(True)
        for rate in BAUD_RATES:
            self.baud_combo.addItem(str(rate))
        self.baud_combo.setCurrentText("921600")
        self.baud_combo.setToolTip("baud rate of a real serial port (the ST-LINK VCP: 921600)")
        self.refresh_button = QtWidgets.QToolButton()
        self.refresh_button.setText("⟳")
        self.refresh_button.setToolTip("look for serial ports again")
        self.refresh_button.clicked.connect(self.refresh)
        self.connect_button = QtWidgets.QPushButton("Connect")
        self.connect_button.clicked.connect(self._on_connect_clicked)
        self.connected = False
        layout = QtWidgets.QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.port_combo, 0, 0, 1, 3)
        layout.addWidget(self.refresh_button, 0, 3)
        layout.addWidget(QtWidgets.QLabel("baud"), 1, 0)
        layout.addWidget(self.baud_combo, 1, 1)
        layout.addWidget(self.connect_button, 1, 2, 1, 2)
        layout.setColumnStretch(1, 1)
        self.refresh()

    def refresh(self) -> None:
        """List the ports found now (ST-LINK first), then the virtual boards; keep the current choice."""
        current = self.choice()
        self.port_combo.blockSignals(True)
        self.port_combo.clear()
        for port in list_serial_ports():
            self.port_combo.addItem(port.label(), ("port", port.device))
        for target, text in VIRTUAL_TARGETS:
            self.port_combo.addItem(text, ("virtual", target))
        self.port_combo.blockSignals(False)
        self.select(*current) if current[1] else self._on_port_changed()

    def choice(self) -> tuple[str, str]:
        """("port", URL) or ("virtual", "host" | "qemu") as picked or typed."""
        data = self.port_combo.currentData()
        text = self.port_combo.currentText().strip()
        if data is not None and self.port_combo.itemText(self.port_combo.currentIndex()) == text:
            return tuple(data)  # type: ignore[return-value]
        return ("port", text)

    def select(self, kind: str, value: str) -> None:
        """Show a port or virtual board as the choice (an unknown port is typed in as a URL)."""
        for i in range(self.port_combo.count()):
            if self.port_combo.itemData(i) == (kind, value):
                self.port_combo.setCurrentIndex(i)
                self._on_port_changed()
                return
        self.port_combo.setEditText(value)
        self._on_port_changed()

    def baud(self) -> int:
        """The baud rate typed or picked (0 when it is not a number)."""
        text = self.baud_combo.currentText().strip()
        return int(text) if text.isdigit() else 0

    def set_connected(self, connected: bool) -> None:
        """Connect becomes Disconnect while a board is connected or being connected (model → view)."""
        self.connected = connected
        self.connect_button.setText("Disconnect" if connected else "Connect")

    def _on_port_changed(self, *_: object) -> None:
        self.baud_combo.setEnabled(self.choice()[0] == "port")

    def _on_connect_clicked(self) -> None:
        if self.connected:
            self.disconnect_requested.emit()
            return
        kind, value = self.choice()
        self.connect_requested.emit(kind, value, self.baud())


def cameras() -> list[tuple[str, str]]:
    """(spec, name) of the video devices found (Linux: /dev/video*, named from sysfs); else camera 0."""
    found = []
    for device in sorted(glob.glob("/dev/video*"), key=lambda d: int(d[10:]) if d[10:].isdigit() else 0):
        index = device[len("/dev/video"):]
        if not index.isdigit():
            continue
        name_file = Path(f"/sys/class/video4linux/video{index}/name")
        name = name_file.read_text().strip() if name_file.is_file() else device
        found.append((f"camera:{index}", f"camera {index}: {name}"))
    if not found and os.name != "posix":
        found.append(("camera:0", "camera 0"))
    return found


class QtSourcePicker(QtWidgets.QWidget):
    """What feeds the board: cameras, synthetic scenes, files, IMU streams, recorded sessions."""

    source_requested = QtCore.Signal(str)  # an `open_source` spec

    ASK = "ask"  # item data of entries that ask for a path or a port first

    def __init__(self, sessions_dir: Path | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.sessions_dir = sessions_dir or Path.cwd() / "sessions"
        self.combo = QtWidgets.QComboBox()
        self.combo.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        self.combo.setToolTip("what feeds the board")
        self.combo.activated.connect(self._on_activated)
        self.current = QtWidgets.QLabel("")
        self.current.setObjectName("key")
        self.current.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        layout.addWidget(self.current)
        self.refresh()

    def refresh(self) -> None:
        """List the sources (cameras as found now)."""
        self.combo.clear()
        self.combo.addItem("— pick a source —", None)
        for spec, name in cameras():
            self.combo.addItem(name, spec)
        for spec, name in (("synthetic:bottles?seed=3", "synthetic IV bottles"),
                           ("synthetic:imu?task=activity", "synthetic IMU (activity)"),
                           ("synthetic:imu?task=fall", "synthetic IMU (fall)")):
            self.combo.addItem(name, spec)
        for key, name in (("video", "video file…"), ("images", "image folder…"), ("imu-csv", "IMU replay (CSV)…"),
                          ("session", "recorded session…"), ("imu-serial", "IMU over serial…"),
                          ("udp", "IMU over UDP…")):
            self.combo.addItem(name, (self.ASK, key))

    def show_current(self, name: str) -> None:
        """Say which source feeds the board now (model → view)."""
        self.current.setText(f"now: {name}")
        self.combo.setCurrentIndex(0)

    def _on_activated(self, index: int) -> None:
        data = self.combo.itemData(index)
        if data is None:
            return
        spec = self.ask(data[1]) if isinstance(data, tuple) else data
        if spec:
            self.source_requested.emit(spec)

    def ask(self, key: str) -> str | None:
        """Ask for the file, folder or port an entry needs; the spec, or None when cancelled."""
        parent = self.window()
        if key == "video":
            path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, "Video file", "",
                                                            "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All files (*)")
            return f"video:{path}" if path else None
        if key == "imu-csv":
            path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, "IMU recording", "", "CSV (*.csv);;All files (*)")
            return f"imu-csv:{path}" if path else None
        if key in ("images", "session"):
            start = str(self.sessions_dir) if key == "session" and self.sessions_dir.is_dir() else ""
            title = "Image folder (folder-per-class gives ground truth)" if key == "images" else "Session folder"
            path = QtWidgets.QFileDialog.getExistingDirectory(parent, title, start)
            return f"{key}:{path}" if path else None
        if key == "imu-serial":
            ports = [p.device for p in list_serial_ports()] or ["/dev/ttyUSB0"]
            port, ok = QtWidgets.QInputDialog.getItem(parent, "IMU over serial",
                                                      "port (one sample per line; ?baud=115200&rate=100):",
                                                      ports, 0, True)
            return f"imu-serial:{port}" if ok and port else None
        if key == "udp":
            port, ok = QtWidgets.QInputDialog.getText(parent, "IMU over UDP",
                                                      "UDP port (phone sensor apps; ?accel_scale=0.10197 for m/s²):",
                                                      text="5555")
            return f"udp:{port}" if ok and port else None
        raise ValueError(f"unknown source entry {key!r}")
