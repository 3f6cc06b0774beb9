"""Offscreen rendering of a recorded batch to PNG and SVG, and its one-line errors."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLabel, QWidget

from rnnbow_desktop import cli
from rnnbow_desktop.analysis.view_options import VIEW_SIZES
from rnnbow_desktop.core.errors import RnnbowError
from rnnbow_desktop.gui.gradient_views import GradientViews
from rnnbow_desktop.gui.render import render_session
from rnnbow_desktop.gui.views import palette


@pytest.fixture(scope="module")
def sparse_session(make_session):
    """Every fifth batch recorded (0, 5, …, 25), so some batch numbers have no record."""
    return make_session(batches=30, seed=1, record_every=5)


def highlight_pixels(path) -> int:
    image = QImage(str(path))
    return sum(
        image.pixelColor(x, y).name() == palette.HIGHLIGHT
        for x in range(0, image.width(), 2) for y in range(0, image.height(), 2)
    )


def test_png_has_the_requested_size_and_shows_the_hovered_loss(qapp, tmp_path, session_path):
    plain = render_session(session_path, tmp_path / "plain.png", batch=30, size=(1200, 800))
    hovered = render_session(session_path, tmp_path / "hover.png", batch=30, hover_step=9, size=(1200, 800))
    for path in (plain, hovered):
        image = QImage(str(path))
        assert (image.width(), image.height()) == (1200, 800)
    # The hovered loss's parts (area 2) and its horizon (area 3) are drawn in the highlight colour;
    # without a hover only the legend swatch has it.
    assert highlight_pixels(hovered) > 20 * max(1, highlight_pixels(plain))


def test_default_size_and_svg(qapp, tmp_path, session_path):
    png = render_session(session_path, tmp_path / "last.png", mode="contribution", horizon=3)
    image = QImage(str(png))
    assert image.width() >= 1200 and image.height() >= 800
    svg = render_session(session_path, tmp_path / "last.svg", size=(1300, 850))
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and 'viewBox="0 0 1300 850"' in text
    assert "batch 59" in text  # the info line, as SVG text


def test_unrecorded_batch_names_the_nearest(qapp, tmp_path, sparse_session):
    with pytest.raises(RnnbowError, match=r"^batch 7 was not recorded; nearest recorded batches: 5, 10$"):
        render_session(sparse_session, tmp_path / "x.png", batch=7)
    assert not (tmp_path / "x.png").exists()
    assert render_session(sparse_session, tmp_path / "x.png", batch=10).stat().st_size > 0


def test_refuses_to_overwrite_and_unknown_suffix(qapp, tmp_path, session_path):
    out = tmp_path / "once.png"
    render_session(session_path, out)
    with pytest.raises(RnnbowError, match="already exists"):
        render_session(session_path, out)
    before = out.stat().st_mtime_ns
    render_session(session_path, out, batch=3, force=True)
    assert out.stat().st_mtime_ns >= before
    with pytest.raises(RnnbowError, match="use .png or .svg"):
        render_session(session_path, tmp_path / "x.jpeg")


def test_hover_step_and_horizon_out_of_range(qapp, tmp_path, session_path):
    with pytest.raises(RnnbowError, match=r"hover step 12 is out of range: a batch has steps 0–11"):
        render_session(session_path, tmp_path / "x.png", hover_step=12)
    with pytest.raises(RnnbowError, match="horizon k = 13 is out of range"):
        render_session(session_path, tmp_path / "x.png", horizon=13)
    assert not (tmp_path / "x.png").exists()


def test_cli_render(qapp, tmp_path, session_path, capsys):
    out = tmp_path / "cli.png"
    assert cli.main(["render", str(session_path), "--batch", "12", "--hover-step", "4", "--out", str(out)]) == 0
    assert QImage(str(out)).width() == 1400
    assert cli.main(["render", str(session_path), "--batch", "12", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0]


# -- a rendered figure: views, titles and legends, no controls -------------------------------------------------

CONTROLS = (QAbstractButton, QComboBox, QAbstractSpinBox)


def visible_controls(widget) -> list[str]:
    return [f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}" for w in widget.findChildren(QWidget)
            if isinstance(w, CONTROLS) and w.isVisible()]


@pytest.fixture
def drawn(monkeypatch):
    """What GradientViews looks like at the moment a render exports it: {view: (visible, geometry)},
    its visible controls and its visible label texts; one dict per render."""
    seen = []
    original = GradientViews.export

    def export(self, path):
        seen.append({
            "parts": {name: (part.isVisible(), part.geometry()) for name, part in self.parts().items()},
            "controls": visible_controls(self),
            "labels": [label.text() for label in self.findChildren(QLabel) if label.isVisible()],
            "size": (self.width(), self.height()),
        })
        return original(self, path)

    monkeypatch.setattr(GradientViews, "export", export)
    return seen


def test_a_rendered_figure_holds_the_views_titles_and_legends_but_no_controls(qapp, tmp_path, session_path, drawn):
    out = render_session(session_path, tmp_path / "all.png", hover_step=4, size=(1200, 800))
    [shown] = drawn
    assert shown["controls"] == []  # no combo box, spin box or check box: not "show", "bar scale", "Follow live"
    labels = "\n".join(shown["labels"])
    for title in ("1 · Labels", "2 · Gradient per step", "3 · Horizon of loss t = 4", "Truncation error e(k)",
                  "4 · Overview"):
        assert title in labels
    assert "t − j = 0 (local loss)" in labels and "hovered loss" in labels  # the bars' legend stays
    assert "bar scale" not in labels and "separate offsets k" not in labels  # the controls' names go with them
    # Where the option bar was, the first view begins: nothing above it but the margin.
    assert all(visible for visible, _ in shown["parts"].values())
    assert shown["parts"]["labels"][1].top() <= 8
    assert QImage(str(out)).size().toTuple() == (1200, 800)


def test_render_leaves_an_open_windows_controls_alone(qapp, tmp_path, session_path, make_window):
    window = make_window()
    assert window.open_session(session_path)
    render_session(session_path, tmp_path / "x.png")
    views = window.views
    assert views.mode_combo.isVisible() and views.scale_combo.isVisible() and views.follow_box.isVisible()
    assert views.horizon.log_box.isVisible() and views.overview.log_box.isVisible()


@pytest.mark.parametrize("view", ["labels", "bars", "horizon", "overview"])
def test_one_view_alone_fills_the_picture(qapp, tmp_path, session_path, drawn, view):
    out = render_session(session_path, tmp_path / f"{view}.png", view=view)
    [shown] = drawn
    width, height = VIEW_SIZES[view]
    assert QImage(str(out)).size().toTuple() == (width, height) == shown["size"]
    assert [name for name, (visible, _) in shown["parts"].items() if visible] == [view]
    geometry = shown["parts"][view][1]
    # The view takes the whole picture but the margins (8 px at the sides, 6 px above and below).
    assert geometry.width() >= width - 16 and geometry.height() >= height - 12
    assert shown["controls"] == []


def test_overview_png_from_the_command_line(qapp, tmp_path, session_path, capsys):
    out = tmp_path / "overview.png"
    assert cli.main(["render", str(session_path), "--view", "overview", "--out", str(out)]) == 0
    assert QImage(str(out)).size().toTuple() == VIEW_SIZES["overview"]
    assert cli.main(["render", str(session_path), "--view", "overview", "--height", "300", "--out", str(out),
                     "--force"]) == 0
    assert QImage(str(out)).size().toTuple() == (VIEW_SIZES["overview"][0], 300)
    with pytest.raises(SystemExit):
        cli.main(["render", str(session_path), "--view", "everything", "--out", str(tmp_path / "y.png")])
    assert "invalid choice: 'everything'" in capsys.readouterr().err
    with pytest.raises(RnnbowError, match="unknown view 'sideways'"):
        render_session(session_path, tmp_path / "z.png", view="sideways")
