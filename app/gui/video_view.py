"""The live video view: the frame, the class caption over it and a draggable, resizable ROI box.

A plain QWidget painted with one QPainter pass (frame, box, handles,
caption): no graphics scene. At 30 frames a second a scene's per-paint
bookkeeping cost more than drawing the frame itself, and it made the paint
that shows a result the largest part of the app's overhead per frame.

The ROI is kept as fractions of the image (`Roi`), the form the
preprocessing uses, so it survives frame size changes. The user drags inside
the box to move it, drags a corner handle to resize it, or drags on the image
outside the box to draw a new one; `roi_changed` is emitted once, on release.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from edgeloop.app.gui import theme
from edgeloop.app.live.frame_buffer import FrameBuffer
from edgeloop.app.live.preprocess import Roi

MIN_ROI = 0.01  # smallest ROI side, as a fraction of the image
HANDLE_PX = 10  # corner handle size on screen; also the grab tolerance


class QtFrameImage(FrameBuffer):
    """A FrameBuffer wrapped by a QImage that shares its pixels, so painting is one `drawImage`."""

    qimage: QtGui.QImage | None = None

    def set_image(self, image: np.ndarray, scale: int = 1) -> bool:
        """Hold `image` (see FrameBuffer.set_image); re-wrap the buffer when it was reallocated."""
        reallocated = super().set_image(image, scale)
        if reallocated:
            buffer = self.image
            height, width = buffer.shape[:2]
            self.qimage = QtGui.QImage(buffer.data, width, height, width * 4, QtGui.QImage.Format_RGB32)
        return reallocated


class Caption:
    """The class caption drawn over the video: plain text on a translucent plate, pre-rendered on change.

    The text changes a few times a second at most while frames arrive 30
    times, so it is drawn once into a pixmap and blitted with each frame.
    """

    PAD = 6

    def __init__(self) -> None:
        self.font = QtGui.QFont()
        self.font.setPointSize(20)
        self.font.setBold(True)
        self._metrics = QtGui.QFontMetrics(self.font)
        self._plate = QtGui.QColor(20, 23, 28, 190)
        self._text = ""
        self._colour = QtGui.QColor(theme.TEXT)
        self.pixmap: QtGui.QPixmap | None = None

    @property
    def text(self) -> str:
        """The caption shown (empty: nothing drawn)."""
        return self._text

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - mirrors Qt's name for an item's extent
        """The caption's extent in pixels at the view's top-left (empty when no text)."""
        if self.pixmap is None:
            return QtCore.QRectF()
        return QtCore.QRectF(0, 0, self.pixmap.width(), self.pixmap.height())

    def set_text(self, text: str, colour: str) -> bool:
        """Show `text` in `colour`; returns whether anything changed (and needs a repaint)."""
        colour_q = QtGui.QColor(colour)
        if text == self._text and colour_q == self._colour:
            return False
        self._text, self._colour = text, colour_q
        if not text:
            self.pixmap = None
            return True
        rect = QtCore.QRect(0, 0, self._metrics.horizontalAdvance(text) + 2 * self.PAD,
                            self._metrics.height() + self.PAD)
        pixmap = QtGui.QPixmap(rect.size())
        pixmap.fill(QtCore.Qt.transparent)
        painter = QtGui.QPainter(pixmap)
        painter.fillRect(rect, self._plate)
        painter.setFont(self.font)
        painter.setPen(self._colour)
        painter.drawText(rect, QtCore.Qt.AlignCenter, text)
        painter.end()
        self.pixmap = pixmap
        return True


class QtVideoView(QtWidgets.QWidget):
    """Live video with the class overlaid and a draggable, resizable ROI (emitted as fractions).

    Every `set_frame()` numbers the frame; `painted_frame` and `painted_at`
    (time.monotonic) say which frame the last completed paint showed and when,
    so the window can time a result up to the paint that really shows it.
    """

    roi_changed = QtCore.Signal(object)  # Roi
    SMOOTH_BELOW = 360  # frames smaller than this (pixels) are upscaled with cubic interpolation

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setAttribute(QtCore.Qt.WA_OpaquePaintEvent)  # paints every pixel: Qt need not paint the parents
        self.setMouseTracking(True)  # hover feedback on the box and handles
        self.image = QtFrameImage()
        self.overlay = Caption()
        self._background = QtGui.QColor(theme.BACKGROUND)
        self._box_pen = QtGui.QPen(QtGui.QColor(theme.ACCENT), 2)
        self._hover_pen = QtGui.QPen(QtGui.QColor(theme.WARN), 2)
        self._roi = Roi()
        self._draft: Roi | None = None  # the box while the user drags it
        self._drag: tuple[str, QtCore.QPointF, Roi] | None = None  # (part, press point, ROI at press)
        self._hovering = False  # the pointer is on the box or a handle: drawn highlighted
        self.frame_number = 0  # frames given to set_frame()
        self.painted_frame = 0  # the frame number the last completed paint showed
        self.painted_at = 0.0

    # -- model → view -------------------------------------------------------------------------
    @property
    def roi(self) -> Roi:
        """The ROI as fractions of the image."""
        return self._roi

    def set_frame(self, image: np.ndarray) -> None:
        """Show an H×W×C uint8 image (RGB or gray)."""
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        # Small frames (a 96 px synthetic scene) would show as blocks: upscale smoothly for display only.
        longest = max(image.shape[:2])
        scale = -(-self.SMOOTH_BELOW // longest) if longest < self.SMOOTH_BELOW else 1
        self.image.set_image(image, scale)
        self.frame_number += 1
        self.update()

    def set_overlay(self, label: str, confidence: float, colour: str = theme.TEXT) -> None:
        """Class and confidence drawn on the video."""
        conf = "" if math.isnan(confidence) else f"  {confidence * 100:.0f}%"
        if self.overlay.set_text(f"{label.replace('_', ' ')}{conf}", colour):
            self.update()

    def set_roi(self, roi: Roi) -> None:
        """Move the ROI box (model → view); emits nothing."""
        self._roi = roi
        self._draft = None
        self.update()

    # -- geometry -------------------------------------------------------------------------------
    def image_rect(self) -> QtCore.QRectF:
        """Where the frame is drawn: centred and scaled to fit the widget, aspect kept (empty before a frame)."""
        shown = self.image.image
        if shown is None:
            return QtCore.QRectF()
        height, width = shown.shape[:2]
        zoom = min(self.width() / width, self.height() / height)
        w, h = width * zoom, height * zoom
        return QtCore.QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def roi_rect(self) -> QtCore.QRectF:
        """The ROI box on screen (widget coordinates), following a drag in progress."""
        frame, roi = self.image_rect(), self._draft or self._roi
        return QtCore.QRectF(frame.x() + roi.x * frame.width(), frame.y() + roi.y * frame.height(),
                             roi.w * frame.width(), roi.h * frame.height())

    def _corners(self) -> dict[str, QtCore.QPointF]:
        box = self.roi_rect()
        return {"tl": box.topLeft(), "tr": box.topRight(), "bl": box.bottomLeft(), "br": box.bottomRight()}

    def _part_at(self, pos: QtCore.QPointF) -> str:
        """What a press at `pos` grabs: a corner ('tl', 'tr', 'bl', 'br'), the box ('move'), the image ('new')."""
        for name, corner in self._corners().items():
            if abs(pos.x() - corner.x()) <= HANDLE_PX and abs(pos.y() - corner.y()) <= HANDLE_PX:
                return name
        if self.roi_rect().contains(pos):
            return "move"
        return "new" if self.image_rect().contains(pos) else ""

    def _fraction(self, pos: QtCore.QPointF) -> tuple[float, float]:
        frame = self.image_rect()
        return ((pos.x() - frame.x()) / frame.width(), (pos.y() - frame.y()) / frame.height())

    def _dragged(self, part: str, start: Roi, pressed: QtCore.QPointF, pos: QtCore.QPointF) -> Roi:
        """The ROI after dragging `part` of `start` from `pressed` to `pos`, kept inside the image."""
        (x0, y0), (x1, y1) = self._fraction(pressed), self._fraction(pos)
        if part == "move":
            x = min(max(start.x + x1 - x0, 0.0), 1.0 - start.w)
            y = min(max(start.y + y1 - y0, 0.0), 1.0 - start.h)
            return Roi(x, y, start.w, start.h)
        if part == "new":
            left, right = sorted((x0, x1))
            top, bottom = sorted((y0, y1))
        else:  # a corner: the opposite corner stays put
            left, top, right, bottom = start.x, start.y, start.x + start.w, start.y + start.h
            left, right = (x1, right) if part[1] == "l" else (left, x1)
            top, bottom = (y1, bottom) if part[0] == "t" else (top, y1)
            left, right = sorted((left, right))
            top, bottom = sorted((top, bottom))
        left, top = min(max(left, 0.0), 1.0 - MIN_ROI), min(max(top, 0.0), 1.0 - MIN_ROI)
        right, bottom = min(max(right, left + MIN_ROI), 1.0), min(max(bottom, top + MIN_ROI), 1.0)
        return Roi(left, top, right - left, bottom - top)

    # -- view → model: mouse ----------------------------------------------------------------------
    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt naming
        part = self._part_at(event.position()) if event.button() == QtCore.Qt.LeftButton else ""
        if not part:
            super().mousePressEvent(event)
            return
        self._drag = (part, event.position(), self._roi)
        self._draft = self._roi
        event.accept()

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt naming
        if self._drag is not None:
            part, pressed, start = self._drag
            self._draft = self._dragged(part, start, pressed, event.position())
            self.update()
            return
        hover = self._part_at(event.position())
        if hover in ("tl", "br"):
            self.setCursor(QtCore.Qt.SizeFDiagCursor)
        elif hover in ("tr", "bl"):
            self.setCursor(QtCore.Qt.SizeBDiagCursor)
        elif hover == "move":
            self.setCursor(QtCore.Qt.SizeAllCursor)
        else:
            self.setCursor(QtCore.Qt.CrossCursor if hover == "new" else QtCore.Qt.ArrowCursor)
        on_box = hover not in ("", "new")
        if on_box != self._hovering:
            self._hovering = on_box
            self.update()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt naming
        if self._drag is None or event.button() != QtCore.Qt.LeftButton:
            super().mouseReleaseEvent(event)
            return
        part, pressed, start = self._drag
        roi = self._dragged(part, start, pressed, event.position())
        self._drag, self._draft = None, None
        if part == "new" and (event.position() - pressed).manhattanLength() < QtWidgets.QApplication.startDragDistance():
            roi = self._roi  # a click, not a drag: keep the box
        if roi != self._roi:
            self._roi = roi
            self.roi_changed.emit(roi)
        self.update()

    def leaveEvent(self, event: QtCore.QEvent) -> None:  # noqa: N802 - Qt naming
        if self._hovering:
            self._hovering = False
            self.update()
        super().leaveEvent(event)

    # -- painting -------------------------------------------------------------------------------
    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt naming
        painter = QtGui.QPainter(self)
        frame = self.image_rect()
        painter.fillRect(self.rect(), self._background)  # the letterbox bars (the frame covers the rest)
        if self.image.qimage is not None:
            painter.drawImage(frame, self.image.qimage)
            box = self.roi_rect()
            painter.setPen(self._hover_pen if (self._hovering or self._drag) else self._box_pen)
            painter.drawRect(box)
            half = HANDLE_PX / 2
            colour = painter.pen().color()
            for corner in self._corners().values():
                painter.fillRect(QtCore.QRectF(corner.x() - half, corner.y() - half, HANDLE_PX, HANDLE_PX), colour)
        if self.overlay.pixmap is not None:  # at the frame's top-left corner
            painter.drawPixmap(max(0, int(frame.x())), max(0, int(frame.y())), self.overlay.pixmap)
        painter.end()
        self.painted_frame = self.frame_number
        self.painted_at = time.monotonic()
