"""File › Compare Sessions… in the main window, and the cell named wherever the main window names a session."""

from __future__ import annotations

import pytest
from rnnbow_desktop.gui import mainwindow
from rnnbow_desktop.gui.compare.window import CompareWindow
from rnnbow_desktop.gui.mainwindow import MainWindow

CELLS = ("rnn", "lstm", "gru")
LABELS = [f"tiny-{cell}.h5 ({cell})" for cell in CELLS]


@pytest.fixture(scope="module")
def paths(cell_sessions):
    """Three real sessions of the same corpus, one per cell (tests/conftest.py)."""
    return cell_sessions


def file_menu_action(window: MainWindow, text: str):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    return next(a for a in menu.actions() if a.text().replace("&", "") == text)


def test_compare_sessions_opens_the_chosen_sessions_side_by_side(window, qtbot, paths, monkeypatch):
    asked = []

    def choose(caption, file_filter):
        asked.append((caption, file_filter))
        return list(paths)

    monkeypatch.setattr(window, "ask_open_paths", choose)
    file_menu_action(window, "Compare Sessions…").trigger()

    assert len(asked) == 1 and "*.h5" in asked[0][1]
    assert len(window.compare_windows) == 1
    compare = window.compare_windows[0]
    assert isinstance(compare, CompareWindow)
    qtbot.waitExposed(compare)
    assert not compare.errors and not window.errors
    # What it shows: one column, one profile curve and one horizon curve per chosen session, each named
    # by file and cell in the title, the legend and its column.
    assert compare.windowTitle() == f"Compare: {', '.join(LABELS)} — RNNbow"
    assert [column.session.label for column in compare.columns] == LABELS
    for label, column in zip(LABELS, compare.columns):
        assert label in compare.legend.text() and label in column.header.text()
    assert [curve.name() for curve in compare.profile_plot.curves] == LABELS
    assert [curve.name() for curve in compare.horizon_plot.curves] == LABELS
    assert all(len(curve.xData) == 10 for curve in compare.profile_plot.curves)  # distances 0…n−1
    assert all(len(curve.xData) == 15 for curve in compare.horizon_plot.curves)  # 30 batches, every 2nd
    assert compare.link.selected_batch == 28

    # Closing the main window closes (and releases) the comparison too.
    window.close()
    qtbot.waitUntil(lambda: not window.compare_windows, timeout=2000)
    assert window.settings.value("paths/last_dir", "", type=str) == str(paths[0].parent)


def test_closing_the_comparison_drops_it(window, qtbot, paths, monkeypatch):
    monkeypatch.setattr(window, "ask_open_paths", lambda caption, file_filter: paths[:2])
    window.compare_action.trigger()
    compare = window.compare_windows[0]
    assert len(compare.columns) == 2
    compare.close()
    qtbot.waitUntil(lambda: not window.compare_windows, timeout=2000)


def test_fewer_than_two_sessions_is_said_plainly(window, paths, monkeypatch):
    monkeypatch.setattr(window, "ask_open_paths", lambda caption, file_filter: [])
    window.compare_action.trigger()  # cancelled: nothing happens
    assert not window.errors and not window.compare_windows

    monkeypatch.setattr(window, "ask_open_paths", lambda caption, file_filter: [paths[1]])
    window.compare_action.trigger()
    assert not window.compare_windows
    [(title, message, _)] = window.errors
    assert title == "Choose at least two sessions"
    assert "two or more" in message and "tiny-lstm.h5" in message


def test_the_picker_starts_in_the_current_sessions_folder(window, paths, tmp_path, monkeypatch):
    seen = []

    def fake_dialog(parent, caption, folder, file_filter):
        seen.append(folder)
        return [], ""

    monkeypatch.setattr(mainwindow.QFileDialog, "getOpenFileNames", staticmethod(fake_dialog))
    window.settings.setValue("paths/last_dir", str(tmp_path))
    assert window.ask_open_paths("Compare", "*.h5") == []
    assert window.open_session(paths[2])
    window.ask_open_paths("Compare", "*.h5")
    assert seen == [str(tmp_path), str(paths[2].parent)]


def test_title_status_bar_and_recent_menu_name_the_cell(window, paths):
    assert window.open_session(paths[1])
    assert window.windowTitle() == "tiny-lstm.h5 (lstm) — RNNbow"
    assert f"{paths[1]} (lstm)" in window.status.text()
    assert window.open_session(paths[2])
    assert f"{paths[2]} (gru)" in window.status.text()
    window.recent_menu.aboutToShow.emit()
    names = [a.text() for a in window.recent_menu.actions() if a.text() and a.text() != "Clear Menu"]
    assert names == ["&1 tiny-gru.h5 (gru)", "&2 tiny-lstm.h5 (lstm)"]
