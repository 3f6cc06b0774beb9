"""Replay: checked against the trainer's own forward pass, torch.nn with the same weights, and finite differences."""

import numpy as np
import pytest

import textbook
from rnnbow_desktop.analysis import replay as replay_mod
from rnnbow_desktop.analysis.replay import encode, replay
from rnnbow_desktop.core.cells import make_cell
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.errors import ConfigError
from rnnbow_desktop.core.training import Trainer, batch_gradients

CELLS = ["rnn", "lstm", "gru"]
H, V, T = 5, 7, 40


def random_model(cell_name, seed=3):
    """Parameters of scale ~0.5 (gates well away from 0.5 and from saturation), a nonzero state, ids."""
    cell = make_cell(cell_name)
    params, ids, _, state0 = textbook.random_model(cell, H, V, T, seed)
    return cell, params, state0, ids


@pytest.mark.parametrize("cell_name", CELLS)
def test_loss_equals_batch_gradients(cell_name):
    cell, params, state0, ids = random_model(cell_name)
    r = replay(cell_name, params, state0, ids)
    expected = batch_gradients(cell, params, ids[:-1], ids[1:], state0, itemize=False).loss
    assert r.loss.shape == (T,) and np.isnan(r.loss[-1])
    np.testing.assert_allclose(r.loss[:-1], expected, rtol=0, atol=1e-12)
    assert r.mean_loss == pytest.approx(expected.mean(), abs=1e-12)


@pytest.mark.parametrize("cell_name", CELLS)
def test_replay_of_checkpoints_reproduces_the_trainers_records(cell_name):
    """From each batch's checkpoint (params and state before the update), replaying the batch's
    characters gives the recorded per-step losses and the state the trainer carries on with."""
    text = "if (x) { y = x->next; }\n\telse { y = 0; return buf[n]; }\n" * 5
    config = TrainConfig(cell=cell_name, hidden_size=6, seq_length=8, record_every=1, checkpoint_every=1,
                         sample_every=0, seed=2)
    trainer = Trainer(Corpus("t", text), config)
    for _ in range(4):
        step = trainer.step()
        cp, rec = step.checkpoint, step.record
        ids = np.append(rec.inputs, rec.targets[-1])
        r = replay(cell_name, cp.params, cp.state, ids)
        np.testing.assert_allclose(r.loss[:-1], rec.loss, rtol=0, atol=1e-12)
        np.testing.assert_allclose(r.h[config.seq_length - 1], trainer.state[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell_name", CELLS)
def test_probabilities_are_distributions_and_arrays_are_frozen(cell_name):
    _, params, state0, ids = random_model(cell_name)
    r = replay(cell_name, params, state0, ids)
    assert r.probs.shape == (T, V) and (r.probs > 0).all()
    np.testing.assert_allclose(r.probs.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(r.loss[:-1], -np.log(r.probs[np.arange(T - 1), ids[1:]]), rtol=0, atol=0)
    arrays = [r.ids, r.h, r.probs, r.loss, *r.gates.values(), *r.state_out] + ([r.c] if r.c is not None else [])
    for a in arrays:
        with pytest.raises(ValueError):
            a[0] = 0
    with pytest.raises(TypeError):
        r.gates["extra"] = r.h  # type: ignore[index]


@pytest.mark.parametrize("cell_name", CELLS)
def test_gates_reproduce_the_cells_own_hidden_states(cell_name):
    """The gates are recomputed here; the h they imply must be the cell's h (from its forward pass)."""
    cell, params, state0, ids = random_model(cell_name)
    r = replay(cell_name, params, state0, ids)
    assert tuple(r.gates) == cell.gate_names
    assert all(g.shape == (T, H) for g in r.gates.values())
    h_prev = np.vstack([state0[0], r.h[:-1]])  # (T, H)  h_{k-1}
    if cell_name == "rnn":
        np.testing.assert_allclose(r.gates["hidden"], r.h, rtol=0, atol=1e-12)
        assert r.c is None
    elif cell_name == "lstm":
        i, f, g, o = (r.gates[name] for name in cell.gate_names)
        c_prev = np.vstack([state0[1], r.c[:-1]])
        np.testing.assert_allclose(r.c, f * c_prev + i * g, rtol=0, atol=1e-15)
        np.testing.assert_allclose(o * np.tanh(r.c), r.h, rtol=0, atol=1e-12)
        np.testing.assert_allclose(r.c[-1], r.state_out[1], rtol=0, atol=1e-12)  # the cell's own c
        for name in ("input", "forget", "output"):
            assert ((r.gates[name] > 0) & (r.gates[name] < 1)).all()
    else:
        rz, z, n = (r.gates[name] for name in cell.gate_names)
        np.testing.assert_allclose((1 - z) * n + z * h_prev, r.h, rtol=0, atol=1e-12)
        assert r.c is None
        # r enters h only through n; n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) pins it down.
        hidden_n = h_prev @ params["weight_hh"][2 * H :].T + params["bias_hh"][2 * H :]
        input_n = params["weight_ih"][2 * H :, ids].T + params["bias_ih"][2 * H :]
        np.testing.assert_allclose(np.arctanh(n), input_n + rz * hidden_n, rtol=0, atol=1e-10)
    np.testing.assert_allclose(r.h[-1], r.state_out[0], rtol=0, atol=0)


@pytest.mark.parametrize("cell_name", CELLS)
def test_chunked_forward_is_bit_identical(cell_name, monkeypatch):
    _, params, state0, ids = random_model(cell_name)
    whole = replay(cell_name, params, state0, ids)
    monkeypatch.setattr(replay_mod, "CHUNK", 7)  # T = 40: five full chunks and a short one
    chunked = replay(cell_name, params, state0, ids)
    for a, b in [(whole.h, chunked.h), (whole.probs, chunked.probs), (whole.loss, chunked.loss),
                 *zip(whole.gates.values(), chunked.gates.values()), *zip(whole.state_out, chunked.state_out)]:
        np.testing.assert_array_equal(a, b)
    if whole.c is not None:
        np.testing.assert_array_equal(whole.c, chunked.c)


def test_no_state_means_zero_state():
    cell, params, _, ids = random_model("lstm")
    a = replay("lstm", params, None, ids)
    b = replay("lstm", params, cell.zero_state(H), ids)
    np.testing.assert_array_equal(a.h, b.h)
    np.testing.assert_array_equal(a.c, b.c)


def test_single_character():
    _, params, state0, _ = random_model("gru")
    r = replay("gru", params, state0, np.array([3]))
    assert r.h.shape == (1, H) and np.isnan(r.loss).all() and np.isnan(r.mean_loss)


def test_bad_ids_and_cells_raise_config_errors():
    _, params, state0, _ = random_model("rnn")
    with pytest.raises(ConfigError, match="empty"):
        replay("rnn", params, state0, np.array([], dtype=int))
    with pytest.raises(ConfigError, match="0 … 6"):
        replay("rnn", params, state0, np.array([1, V]))
    with pytest.raises(ConfigError, match="0 … 6"):
        replay("rnn", params, state0, np.array([1.0, 2.0]))
    with pytest.raises(ConfigError, match="unknown cell"):
        replay("transformer", params, state0, np.array([1, 2]))


def test_encode_matches_the_corpus_tokenization():
    corpus = Corpus("c", "hello, world {x[1]}\n")
    ids = encode("world {hello}\n", corpus.vocab)
    assert corpus.decode(ids) == "world {hello}\n"
    np.testing.assert_array_equal(encode(corpus.text, corpus.vocab), corpus.ids)
    assert encode("", corpus.vocab).shape == (0,)


def test_encode_names_the_characters_outside_the_vocabulary_in_order():
    with pytest.raises(ConfigError) as err:
        encode("abé\tba\té", ("a", "b"))
    assert str(err.value) == "text has characters outside the session's vocabulary: 'é', '\\t'"
    with pytest.raises(ConfigError, match=r"'c', .*, 'l' and 4 more$"):
        encode("a" + "cdefghijklmnop", ("a",))


def layer_params(layer, params):
    import torch

    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(layer, name if isinstance(layer, torch.nn.RNNCellBase) else f"{name}_l0").copy_(
                torch.from_numpy(params[name]))
    return layer


@pytest.mark.parametrize("cell_name", CELLS)
def test_replay_equals_torch_nn_with_the_same_weights(cell_name):
    torch = pytest.importorskip("torch")
    _, params, state0, ids = random_model(cell_name)
    r = replay(cell_name, params, state0, ids)
    layer_type = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell_name]
    step_type = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[cell_name]
    layer = layer_params(layer_type(V, H).double(), params)
    step = layer_params(step_type(V, H).double(), params)
    x = torch.nn.functional.one_hot(torch.from_numpy(ids), V).double()  # (T, V)
    state = tuple(torch.from_numpy(s).reshape(1, H) for s in state0)
    with torch.no_grad():
        out, _ = layer(x, state if cell_name == "lstm" else state[0])  # unbatched: (T, H)
        # The step-by-step cell exposes the LSTM's c at every character, which the layer does not.
        hs, cs = [], []
        carried = state if cell_name == "lstm" else state[0]
        for k in range(T):
            carried = step(x[k : k + 1], carried)
            hs.append(carried[0] if cell_name == "lstm" else carried)
            if cell_name == "lstm":
                cs.append(carried[1])
        logits = out @ torch.from_numpy(params["decoder_weight"]).T + torch.from_numpy(params["decoder_bias"])
        probs = torch.softmax(logits, dim=1)
        loss = torch.nn.functional.cross_entropy(logits[:-1], torch.from_numpy(ids[1:]), reduction="none")
    np.testing.assert_allclose(r.h, out.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(r.h, torch.cat(hs).numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(r.probs, probs.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(r.loss[:-1], loss.numpy(), rtol=0, atol=1e-10)
    if cell_name == "lstm":
        np.testing.assert_allclose(r.c, torch.cat(cs).numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("cell_name", CELLS)
def test_trainers_gradient_is_the_gradient_of_the_replayed_loss(cell_name):
    """Central differences of Σ replay.loss match batch_gradients' gradient: the replay computes the
    very function the trainer descends."""
    cell, params, state0, ids = random_model(cell_name)
    ids = ids[:12]
    grads = batch_gradients(cell, params, ids[:-1], ids[1:], state0, itemize=False).grads
    rng = np.random.default_rng(0)
    eps = 1e-6
    for name, value in params.items():
        for flat in rng.choice(value.size, 3, replace=False):
            index = np.unravel_index(flat, value.shape)
            total = []
            for sign in (1, -1):
                shifted = {k: v.copy() for k, v in params.items()}
                shifted[name][index] += sign * eps
                total.append(np.nansum(replay(cell_name, shifted, state0, ids).loss))
            fd = (total[0] - total[1]) / (2 * eps)
            assert grads[name][index] == pytest.approx(fd, rel=1e-6, abs=1e-8), (name, index)
