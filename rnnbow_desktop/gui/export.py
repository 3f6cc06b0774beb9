"""Writing a widget as it looks now to a PNG or SVG file: the one export path of the main views, the comparison and the renderers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView, QWidget

from ..core.errors import RnnbowError
from ..storage.paths import IMAGE_SUFFIXES, check_image_path
from .views import palette

EXPORT_SUFFIXES = IMAGE_SUFFIXES
EXPORT_FILTERS = {"PNG image (*.png)": "png", "SVG drawing (*.svg)": "svg"}  # save-dialog filter → suffix


@contextmanager
def vector_items(widget: QWidget) -> Iterator[None]:
    """Switch off pixel caches while painting an SVG, so cached items are written as vectors, not images."""
    saved = []
    for view in widget.findChildren(QGraphicsView):
        saved.append((view, view.cacheMode()))
        view.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        for item in view.scene().items():
            if item.cacheMode() != QGraphicsItem.CacheMode.NoCache:
                saved.append((item, item.cacheMode()))
                item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    try:
        yield
    finally:
        for obj, mode in saved:
            obj.setCacheMode(mode)


def export_widget(widget: QWidget, path, title: str, description: str) -> Path:
    """Paint `widget` as it looks now into a PNG (exactly its pixel size) or an SVG, chosen by the suffix."""
    path = check_image_path(path)
    size = widget.size()
    if path.suffix.lower() == ".png":
        # Paint into an image of exactly the widget's size: grab() would scale by the screen's
        # device pixel ratio, and the requested size is what the user asked for.
        image = QImage(size, QImage.Format.Format_ARGB32)
        image.fill(QColor(palette.BACKGROUND))
        painter = QPainter(image)
        try:
            widget.render(painter, QPoint(0, 0))
        finally:
            painter.end()  # an image destroyed mid-paint crashes Qt
        ok = image.save(str(path))
    else:
        from PySide6.QtSvg import QSvgGenerator

        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(size)
        generator.setResolution(96)  # CSS pixels: browsers then show it at the widget's pixel size
        generator.setViewBox(QRect(0, 0, size.width(), size.height()))
        generator.setTitle(title)
        generator.setDescription(description)
        painter = QPainter()
        ok = painter.begin(generator)
        if ok:
            try:
                with vector_items(widget):
                    widget.render(painter, QPoint(0, 0))
            finally:
                ok = painter.end()
    if not ok or not path.exists() or path.stat().st_size == 0:
        raise RnnbowError(f"{path}: could not write the image")
    return path
