"""A session recorded from a PyTorch model (rnnbow_desktop.torch.Recorder) in the window: layers, word labels,
the views that need RNNbow's own model, and following a file the user's script is still writing."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from rnnbow_desktop.storage.reader import Session  # noqa: E402
from rnnbow_desktop.torch import Recorder  # noqa: E402
from rnnbow_desktop.gui.views.labels import TOKEN_HEIGHT, visible_label  # noqa: E402

# Tokens of every length: words, numbers, an operator, a newline, a long identifier.
WORDS = ["the", "x", "42", "->", "\n", "return", "0x7f", "interrupt_handler_for_the_device", "{", "1984"]
V = len(WORDS)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, 6)
        self.lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, V)


def record_batches(model, rec, count, seed=0, n=9):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(count):
        inputs, targets = torch.randint(0, V, (4, n), generator=g), torch.randint(0, V, (4, n), generator=g)
        out, _ = model.lstm(model.embed(inputs))
        logits = model.head(out)
        losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        rec.record(losses, inputs=inputs, targets=targets, predictions=logits.argmax(-1))
        losses.sum(1).mean().backward()
        opt.step()
        opt.zero_grad()


@pytest.fixture(scope="module")
def torch_session(tmp_path_factory):
    path = tmp_path_factory.mktemp("torch-session") / "words.h5"
    torch.manual_seed(0)
    model = Model()
    with Recorder(model.lstm, path, every=2, vocab=WORDS, checkpoint_every=5) as rec:
        record_batches(model, rec, 12)
    return path


def test_a_torch_session_opens_with_its_layers_and_words(window, qtbot, torch_session):
    assert window.open_session(torch_session)
    assert not window.errors
    assert "torch LSTM, 2 layers" in window.windowTitle()
    views = window.views
    assert views.layer_combo.isVisibleTo(window) and views.layer_combo.count() == 2
    assert views.gate_combo.isVisibleTo(window)
    assert views.labels.plot_widget.height() == TOKEN_HEIGHT
    with Session(torch_session) as s:
        last = s.record(s.n_records - 1)
    shown = [true for true, _predicted, _color in views.labels.cells()]
    assert shown == [visible_label(WORDS[t]) for t in last.targets]
    assert "↵" in visible_label("\n") and visible_label("interrupt_handler_for_the_device") == "interrupt_handler_for_the_device"
    views.labels.grab()  # words too long for their cells are drawn upright, elided: painting must work
    # What needs RNNbow's own model says so instead of failing.
    assert "not available for an external PyTorch model" in window.samples.placeholderText()
    assert "batch 10" in views.info_text() and "layer 0 of 2" in views.info_text()
    assert "nats/token" in views.info_text() and "nats/token" in window.status.text()  # words, not characters


def test_the_layer_selector_switches_every_view(window, qtbot, torch_session):
    assert window.open_session(torch_session)
    views, selection = window.views, window.selection
    with Session(torch_session) as s:
        top_max = s.column("max_gradient", layer=1)
        bottom_max = s.column("max_gradient", layer=0)
        index = s.n_records - 1
        top = s.record(index, layer=1)
    assert not np.allclose(top_max, bottom_max)
    views.layer_combo.setCurrentIndex(1)
    assert selection.layer == 1 and window.store.layer == 1
    np.testing.assert_allclose(views.overview.max_curve.getData()[1], top_max)
    np.testing.assert_allclose(views.bars.stack.values, np.tril(top.itemized.astype(float)))
    assert views.horizon.horizon_line.value() == top.horizon
    assert "layer 1 of 2" in views.info_text()


def test_a_session_of_rnnbow_after_a_torch_one_hides_the_layers(window, qtbot, torch_session, session_path):
    assert window.open_session(torch_session)
    window.selection.set_layer(1)
    assert window.open_session(session_path)
    assert window.selection.layer == 0 and window.store.layers == 1
    assert not window.views.layer_combo.isVisibleTo(window)
    assert "not available" not in window.samples.placeholderText()
    assert "nats/char" in window.views.info_text()
    assert not window.errors


def test_the_window_follows_a_session_a_script_is_writing(window, qtbot, tmp_path):
    path = tmp_path / "growing.h5"
    torch.manual_seed(1)
    model = Model()
    rec = Recorder(model.lstm, path, every=1, vocab=WORDS, flush_interval=0.0)
    try:
        record_batches(model, rec, 3, seed=1)
        rec.flush()
        assert window.open_session(path)
        assert len(window.store) == 3 and "Growing session" in window.status.text()
        record_batches(model, rec, 4, seed=2)
        rec.flush()
        qtbot.waitUntil(lambda: len(window.store) == 7, timeout=5000)
        qtbot.waitUntil(lambda: window.selection.selected == 6, timeout=3000)
    finally:
        rec.close()
    qtbot.waitUntil(lambda: window.store.session.refresh() or True, timeout=1000)
    assert not window.errors
