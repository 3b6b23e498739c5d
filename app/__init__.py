"""edgeloop.app: sensor sources, preprocessing, link session, recording, runners, GUI and CLI.

Only the `edgeloop.app.gui` subpackage may import Qt (PySide6, pyqtgraph);
everything else here is plain Python so it runs headless and in tests.
"""
