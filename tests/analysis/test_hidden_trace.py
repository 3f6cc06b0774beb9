"""The hidden-state trace: checked against each cell's own forward pass, window starts worked by hand, reuse and cancel."""

import numpy as np
import pytest

from rnnbow_desktop.analysis.hidden_trace import (
    HiddenTrace,
    build_trace,
    check_state,
    sample_starts,
)
from rnnbow_desktop.core.cells import make_cell
from rnnbow_desktop.core.errors import Cancelled, ConfigError
from rnnbow_desktop.core.records import Checkpoint

H, V = 4, 6


def checkpoints(cell_name: str, count: int = 3, seed: int = 0) -> list[Checkpoint]:
    """`count` checkpoints of random parameters and carried states, at batches 0, 100, 200, …"""
    cell = make_cell(cell_name)
    rng = np.random.default_rng(seed)
    found = []
    for i in range(count):
        params = cell.init_params(rng, H, V)
        params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in params.items()}
        state = tuple(0.5 * rng.standard_normal(H) for _ in range(cell.n_state))
        found.append(Checkpoint(batch=100 * i, params=params, state=state))
    return found


def forward_h(cell_name: str, checkpoint: Checkpoint, ids: np.ndarray) -> np.ndarray:
    """h after each character, from the cell's own forward pass (what training runs): (T, H)."""
    return make_cell(cell_name).forward(checkpoint.params, ids, checkpoint.state).hs[1:]


def lstm_c(checkpoint: Checkpoint, ids: np.ndarray) -> np.ndarray:
    """The LSTM's c after each character, written out step by step in PyTorch's gate order: (T, H)."""
    p = checkpoint.params
    h, c = checkpoint.state
    out = []
    for i in ids:
        a = p["weight_ih"][:, i] + p["bias_ih"] + p["weight_hh"] @ h + p["bias_hh"]
        gi, gf, gg, go = np.split(a, 4)
        c = 1 / (1 + np.exp(-gf)) * c + 1 / (1 + np.exp(-gi)) * np.tanh(gg)
        h = 1 / (1 + np.exp(-go)) * np.tanh(c)
        out.append(c)
    return np.array(out)


IDS = np.random.default_rng(5).integers(0, V, 30)


@pytest.mark.parametrize("cell_name", ["rnn", "lstm", "gru"])
def test_checkpoint_form_is_each_checkpoints_hidden_state_over_the_probe(cell_name):
    cps = checkpoints(cell_name)
    trace = build_trace(cell_name, cps, IDS)
    assert trace.trace.shape == (3, H, 30) and not trace.multiway and trace.units == H
    np.testing.assert_array_equal(trace.checkpoints, [0, 100, 200])
    for c, cp in enumerate(cps):
        np.testing.assert_allclose(trace.trace[c], forward_h(cell_name, cp, IDS).T, atol=1e-12)
    assert not trace.trace.flags.writeable


def test_lstm_cell_state():
    cps = checkpoints("lstm", 2)
    trace = build_trace("lstm", cps, IDS, state="c")
    for c, cp in enumerate(cps):
        np.testing.assert_allclose(trace.trace[c], lstm_c(cp, IDS).T, atol=1e-12)
    assert not np.allclose(trace.trace, build_trace("lstm", cps, IDS).trace)  # c is not h


@pytest.mark.parametrize("cell_name", ["rnn", "lstm"])
def test_multiway_form_reads_each_window_afresh_from_the_checkpoint_state(cell_name):
    cps = checkpoints(cell_name)
    trace = build_trace(cell_name, cps, IDS, multiway=True, steps=5, samples=4)
    np.testing.assert_array_equal(trace.starts, [0, 8, 17, 25])  # round(linspace(0, 25, 4))
    assert trace.trace.shape == (3, 5, H, 4) and trace.multiway and trace.steps == 5
    for c, cp in enumerate(cps):
        for k, start in enumerate(trace.starts):
            window = forward_h(cell_name, cp, IDS[start : start + 5])  # (5, H)
            np.testing.assert_allclose(trace.trace[c, :, :, k], window, atol=1e-12)
    # Step 0 of a window is not the state the whole-probe replay reached there: each window starts afresh.
    whole = forward_h(cell_name, cps[0], IDS)
    assert not np.allclose(trace.trace[0, 0, :, 1], whole[8])


@pytest.mark.parametrize(
    "length, steps, samples, expected",
    [
        (10, 3, 4, [0, 2, 5, 7]),  # linspace(0, 7, 4) = 0, 2.33, 4.67, 7
        (10, 3, 50, list(range(8))),  # more samples than starts: every start once
        (5, 5, 3, [0]),  # one window fills the text
        (12, 4, 1, [0]),
    ],
)
def test_sample_starts_by_hand(length, steps, samples, expected):
    np.testing.assert_array_equal(sample_starts(length, steps, samples), expected)


def test_sample_starts_refuses_a_text_shorter_than_a_window():
    with pytest.raises(ConfigError, match="at least 8"):
        sample_starts(5, 8)


def test_states_each_cell_has():
    check_state("lstm", "c")
    for cell_name in ("rnn", "gru"):
        check_state(cell_name, "h")
        with pytest.raises(ConfigError, match="no cell state"):
            check_state(cell_name, "c")
    with pytest.raises(ConfigError, match="unknown state"):
        check_state("lstm", "x")


def test_reuse_takes_known_slices_and_replays_only_new_checkpoints():
    cps = checkpoints("gru", 3)
    first = build_trace("gru", cps[:2], IDS)
    # Marked slices: if they come back, they were reused rather than replayed.
    marked = HiddenTrace(first.trace + 1000.0, first.checkpoints, "h", first.ids, None)
    replayed = []

    class Counting(list):
        def __getitem__(self, i):
            replayed.append(i)
            return list.__getitem__(self, i)

    grown = build_trace("gru", Counting(cps), IDS, reuse=marked)
    np.testing.assert_array_equal(grown.trace[:2], marked.trace)
    np.testing.assert_allclose(grown.trace[2], forward_h("gru", cps[2], IDS).T, atol=1e-12)
    assert sorted(replayed) == [0, 1, 2]  # every checkpoint is read (for its batch), only the new one replayed
    # A different probe, state or form is not reused.
    assert not np.allclose(build_trace("gru", cps, IDS[:-1], reuse=marked).trace[0, :, :5], marked.trace[0, :, :5])
    assert np.abs(build_trace("gru", cps, IDS, multiway=True, steps=3, samples=2, reuse=marked).trace).max() < 2


def test_progress_per_checkpoint_and_cancel():
    cps = checkpoints("rnn", 4)
    seen = []
    build_trace("rnn", cps, IDS, progress=lambda fraction, text: seen.append((fraction, text)))
    assert [f for f, _ in seen] == [0.25, 0.5, 0.75, 1.0]
    assert "batch 300" in seen[-1][1]

    def cancel(fraction, text):
        if fraction >= 0.5:
            raise Cancelled

    with pytest.raises(Cancelled):
        build_trace("rnn", cps, IDS, progress=cancel)


@pytest.mark.parametrize(
    "ids, cps, message",
    [
        (np.array([], dtype=int), None, "empty"),
        (IDS, [], "no checkpoints"),
    ],
)
def test_bad_input(ids, cps, message):
    with pytest.raises(ConfigError, match=message):
        build_trace("rnn", checkpoints("rnn") if cps is None else cps, ids)
