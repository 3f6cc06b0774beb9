"""Writing a widget as it looks now to a PNG or SVG file: the one export path of the main views, the comparison and the renderers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView, QWidget

from ..core.errors import RnnbowError
from .views import palette

EXPORT_SUFFIXES = (".png", ".svg")
EXPORT_FILTERS = {"PNG image (*.png)": "png", "SVG drawing (*.svg)": "svg"}  # save-dialog filter → suffix


def check_image_path(path, overwrite: bool = True) -> Path:
    """`path` as a Path if an image can be written there: a .png or .svg name in an existing folder
    (and, unless `overwrite`, no file of that name yet); RnnbowError saying why not otherwise."""
    path = Path(path)
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise RnnbowError(f"{path}: unknown image type {path.suffix or '(none)'!r}; use .png or .svg")
    if path.exists() and not overwrite:
        raise RnnbowError(f"{path}: already exists (use --force to overwrite it)")
    if not path.parent.is_dir():
        raise RnnbowError(f"{path}: folder {path.parent} does not exist")
    return path


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
