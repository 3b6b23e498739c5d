"""The Qt GUI (PySide6 + pyqtgraph): the only part of edgeloop that imports Qt."""
