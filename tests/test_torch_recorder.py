"""rnnbow_desktop.torch.Recorder in a user's training loop: what it writes, what it leaves alone, and how the
session it writes reads back (format version 2).

The itemized quantities themselves are checked against per-step weight copies in test_torch_itemized.py;
here the file's records are checked against that same reference, through the recorder and the reader.
"""

from __future__ import annotations

import gc
import os
import re
import socket
import weakref

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from rnnbow_desktop.core.errors import ConfigError, SessionFormatError, SessionWriteError, TrainingDiverged  # noqa: E402
from rnnbow_desktop.core.labels import IdLabels  # noqa: E402
from rnnbow_desktop.storage.reader import Session  # noqa: E402
from rnnbow_desktop.torch import Recorder  # noqa: E402
from test_torch_itemized import expected_quantities, make_module, reference  # noqa: E402

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA here: the recorder's GPU path is untested")
V = 7
WORDS = [f"word{i}" for i in range(V)]


class WordModel(nn.Module):
    """Embedding, a recurrent module, a per-step head: the shape of the README's example."""

    def __init__(self, kind="lstm", layers=2, E=5, H=6, batch_first=True, dtype=torch.float32):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        self.rnn = make_module(kind, E, H, layers, batch_first, dtype)
        self.head = nn.Linear(H, V)
        self.to(dtype)

    def forward(self, inputs, targets):
        return self.step_losses(inputs, targets)

    def step_losses(self, inputs, targets, h0=None):
        """(B, n) per-step losses; inputs and targets (B, n) token ids whatever the module's layout."""
        x = self.embed(inputs if self.rnn.batch_first else inputs.T)
        out, _ = self.rnn(x, h0)
        logits = self.head(out if self.rnn.batch_first else out.transpose(0, 1))  # (B, n, V)
        return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none"), logits


def batches(count, B=3, n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randint(0, V, (B, n), generator=g), torch.randint(0, V, (B, n), generator=g)) for _ in range(count)]


def train(model, data, recorder=None, lr=0.05):
    """The user's loop; returns every batch's gradients (after backward) of every parameter."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    grads = []
    for inputs, targets in data:
        losses, logits = model.step_losses(inputs, targets)
        if recorder is not None:
            recorder.record(losses, inputs=inputs, targets=targets, predictions=logits.argmax(-1))
        losses.sum(1).mean().backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters()})
        opt.step()
        opt.zero_grad()
    return grads


# -- what the file holds ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,layers,batch_first,B", [
    ("lstm", 2, True, 3), ("gru", 3, False, 1), ("rnn_tanh", 1, True, 4), ("rnn_relu", 2, False, 2),
])
def test_records_match_per_step_weight_copies(tmp_path, kind, layers, batch_first, B):
    torch.manual_seed(0)
    model = WordModel(kind, layers, batch_first=batch_first, dtype=torch.float64)
    data = batches(5, B=B)
    snapshots = []  # the model before each recorded batch, for the reference
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with Recorder(model.rnn, tmp_path / "s.h5", every=2, vocab=WORDS, checkpoint_every=3) as rec:
        for b, (inputs, targets) in enumerate(data):
            if b % 2 == 0:
                snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
            losses, logits = model.step_losses(inputs, targets)
            assert rec.record(losses, inputs=inputs, targets=targets, predictions=logits.argmax(-1)) == (b % 2 == 0)
            losses.sum(1).mean().backward()
            opt.step()
            opt.zero_grad()
    n_gates = {"lstm": 4, "gru": 3}.get(kind, 1)
    with Session(tmp_path / "s.h5") as s:
        assert (s.info.format_version, s.info.source, s.info.layers) == (2, "torch", layers)
        assert list(s.batches()) == [0, 2, 4] and s.batches_trained == 5
        assert list(s.module_checkpoint_batches()) == [0, 3]
        for i, snapshot in enumerate(snapshots):
            reference_model = WordModel(kind, layers, batch_first=batch_first, dtype=torch.float64)
            reference_model.load_state_dict(snapshot)
            inputs, targets = data[2 * i]
            x = reference_model.embed(inputs if batch_first else inputs.T)
            state0 = tuple(torch.zeros(layers, B, 6, dtype=torch.float64) for _ in range(2 if kind == "lstm" else 1))
            G, _ = reference(reference_model.rnn, reference_model.head, x, targets, state0, "mean")
            for k in range(layers):
                want = expected_quantities(G[k], n_gates)
                got = s.record(i, layer=k)
                scale = float(want["itemized"].max())
                np.testing.assert_allclose(got.itemized, want["itemized"].numpy(), rtol=0, atol=1e-6 * scale)
                np.testing.assert_allclose(got.contribution, want["contribution"].numpy(), rtol=0, atol=1e-6 * scale)
                np.testing.assert_allclose(got.step_gradient, want["step_gradient"].numpy(), rtol=0, atol=1e-6 * scale)
                np.testing.assert_allclose(got.truncation_error[:-1], want["truncation_error"].numpy()[:-1], atol=1e-5)
                assert got.max_gradient == pytest.approx(float(want["step_gradient"].max()), rel=1e-6)
                if n_gates > 1:
                    np.testing.assert_allclose(got.itemized_gate, want["itemized_gate"].numpy(), rtol=0, atol=1e-6 * scale)
                else:
                    assert got.itemized_gate is None
            record = s.record(i)
            np.testing.assert_array_equal(record.targets, targets[0].numpy())
            np.testing.assert_array_equal(record.inputs, inputs[0].numpy())
            assert s.decode(record.targets) == " ".join(WORDS[t] for t in targets[0])
        # A module checkpoint is the state_dict before that batch's update, under the module's own names.
        checkpoint = s.module_checkpoint(0)
        assert checkpoint.batch == 0 and set(checkpoint.params) == set(model.rnn.state_dict())
        np.testing.assert_array_equal(checkpoint.params["weight_hh_l0"], snapshots[0]["rnn.weight_hh_l0"].numpy())


def test_losses_of_every_batch_and_per_step_loss(tmp_path):
    torch.manual_seed(0)
    model = WordModel()
    data = batches(7)
    expected = []
    with Recorder(model.rnn, tmp_path / "s.h5", every=3, reduction="mean", checkpoint_every=0) as rec:
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for inputs, targets in data:
            losses, _ = model.step_losses(inputs, targets)
            expected.append((float(losses.detach().sum(1).mean()), losses.detach().mean(0).numpy()))
            rec.record(losses)
            losses.sum(1).mean().backward()
            opt.step()
            opt.zero_grad()
    with Session(tmp_path / "s.h5") as s:
        np.testing.assert_allclose(s.training_loss(), [e[0] for e in expected], rtol=1e-6)
        np.testing.assert_allclose(s.record(1).loss, expected[3][1], rtol=1e-6)  # batch 3, mean over the batch
        assert s.n_module_checkpoints == 0
        # Tokens not given: -1, shown as nothing; without a vocabulary the labels are the ids.
        assert (s.record(0).targets == -1).all() and isinstance(s.info.vocab, IdLabels)
        assert s.info.vocab[42] == "42"


def test_sum_reduction_is_batch_size_times_mean(tmp_path):
    results = {}
    for reduction in ("mean", "sum"):
        torch.manual_seed(0)
        model = WordModel()
        with Recorder(model.rnn, tmp_path / f"{reduction}.h5", reduction=reduction) as rec:
            train(model, batches(1, B=4), rec)
        with Session(tmp_path / f"{reduction}.h5") as s:
            results[reduction] = (s.record(0), s.training_loss()[0])
    mean, summed = results["mean"], results["sum"]
    np.testing.assert_allclose(summed[0].itemized, 4 * mean[0].itemized, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(summed[0].loss, 4 * mean[0].loss, rtol=1e-6)
    assert summed[1] == pytest.approx(4 * mean[1], rel=1e-6)


# -- what it leaves alone ----------------------------------------------------------------------------------
def test_user_gradients_and_weights_are_bit_identical(tmp_path):
    data = batches(6)
    torch.manual_seed(0)
    plain = WordModel()
    recorded = WordModel()
    recorded.load_state_dict(plain.state_dict())
    plain_grads = train(plain, data)
    with Recorder(recorded.rnn, tmp_path / "s.h5", every=1, vocab=WORDS, checkpoint_every=2) as rec:
        recorded_grads = train(recorded, data, rec)
    for a, b in zip(plain_grads, recorded_grads):
        for name in a:
            assert torch.equal(a[name], b[name]), name
    for (name, p), q in zip(plain.named_parameters(), recorded.parameters()):
        assert torch.equal(p, q), name


def test_random_state_is_left_alone(tmp_path):
    torch.manual_seed(0)
    model = WordModel()
    (inputs, targets), = batches(1)
    with Recorder(model.rnn, tmp_path / "s.h5", checkpoint_every=1) as rec:
        losses, _ = model.step_losses(inputs, targets)
        before = torch.get_rng_state()
        np_before = np.random.get_state()[1].copy()
        assert rec.record(losses, inputs=inputs, targets=targets)
        assert torch.equal(before, torch.get_rng_state())
        assert np.array_equal(np_before, np.random.get_state()[1])


def test_no_graph_outlives_its_batch(tmp_path):
    torch.manual_seed(0)
    model = WordModel()
    data = batches(4)
    outputs = []
    model.rnn.register_forward_hook(lambda module, args, result: outputs.append(weakref.ref(result[0])))
    with Recorder(model.rnn, tmp_path / "s.h5", every=2) as rec:
        for b, (inputs, targets) in enumerate(data):
            losses, logits = model.step_losses(inputs, targets)
            output = outputs[-1]  # the module's output: its graph lives as long as it does
            # The hook keeps the module's output only on the batches that will be itemized.
            assert (rec._forward is not None) == (b % 2 == 0)
            rec.record(losses)
            assert rec._forward is None
            losses.sum(1).mean().backward()
            del losses, logits
            gc.collect()
            assert output() is None, f"batch {b}'s graph is still referenced"
        # A forward pass under no_grad (evaluation) is never kept.
        with torch.no_grad():
            model.step_losses(*data[0])
        assert rec._forward is None


def test_a_shorter_batch_defers_the_record(tmp_path):
    torch.manual_seed(0)
    model = WordModel()
    data = batches(2, n=8) + batches(1, n=5) + batches(2, n=8)  # batch 2 (due with every=2) is shorter
    with Recorder(model.rnn, tmp_path / "s.h5", every=2) as rec:
        train(model, data, rec)
    with Session(tmp_path / "s.h5") as s:
        assert list(s.batches()) == [0, 3, 4] and s.batches_trained == 5


def test_tokens_in_sequence_first_layout(tmp_path):
    torch.manual_seed(0)
    model = WordModel(batch_first=False)
    inputs, targets = batches(1, B=3, n=8)[0]
    with Recorder(model.rnn, tmp_path / "s.h5", vocab=WORDS) as rec:
        losses, logits = model.step_losses(inputs, targets)
        rec.record(losses, inputs=inputs.T, targets=targets.T, predictions=logits.argmax(-1).T)
    with Session(tmp_path / "s.h5") as s:
        np.testing.assert_array_equal(s.record(0).targets, targets[0].numpy())
        np.testing.assert_array_equal(s.record(0).predictions, logits.argmax(-1)[0].numpy())


def test_an_unbatched_real_valued_series(tmp_path):
    """A time series: real-valued inputs, one sequence without a batch axis, a squared error per step."""
    torch.manual_seed(0)
    gru, head = nn.GRU(3, 5, num_layers=2), nn.Linear(5, 1)
    series = torch.randn(10, 3)
    with Recorder(gru, tmp_path / "s.h5", reduction="sum") as rec:
        out, _ = gru(series[:-1])  # (9, 5): unbatched
        losses = (head(out)[:, 0] - series[1:, 0]) ** 2  # (9,)
        assert rec.record(losses)
        expected = float(losses.detach().sum())
    with Session(tmp_path / "s.h5") as s:
        assert s.info.config.seq_length == 9 and s.training_loss()[0] == pytest.approx(expected, rel=1e-6)
        record = s.record(0, layer=1)
        assert record.itemized.shape == (9, 9) and (record.targets == -1).all()
        np.testing.assert_allclose(record.loss, losses.detach().numpy(), rtol=1e-6)


# -- mistakes ------------------------------------------------------------------------------------------------
def test_modules_it_cannot_itemize_are_refused_at_construction(tmp_path):
    for module, words in ((nn.LSTM(3, 4, bidirectional=True), "bidirectional"), (nn.LSTM(3, 4, proj_size=2), "proj_size"),
                          (nn.Linear(3, 4), "not Linear")):
        with pytest.raises(ConfigError, match=words):
            Recorder(module, tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()


def test_mistakes_in_use_are_one_line_errors(tmp_path):
    torch.manual_seed(0)
    model = WordModel()
    (tmp_path / "taken.h5").write_bytes(b"precious")
    with pytest.raises(SessionWriteError, match="already exists"):
        Recorder(model.rnn, tmp_path / "taken.h5")
    assert (tmp_path / "taken.h5").read_bytes() == b"precious"
    with pytest.raises(ConfigError, match="every"):
        Recorder(model.rnn, tmp_path / "s.h5", every=0)
    with pytest.raises(ConfigError, match="vocab"):
        Recorder(model.rnn, tmp_path / "s.h5", vocab="abc")
    inputs, targets = batches(1)[0]
    with Recorder(model.rnn, tmp_path / "s.h5", vocab=WORDS[:3]) as rec:
        losses, logits = model.step_losses(inputs, targets)
        with pytest.raises(ConfigError, match="outside the vocabulary of 3"):
            rec.record(losses, targets=torch.full_like(targets, 5))
    with Recorder(model.rnn, tmp_path / "t.h5") as rec:
        losses, logits = model.step_losses(inputs, targets)
        with pytest.raises(ConfigError, match="integer token ids"):
            rec.record(losses, predictions=logits[..., 0])
    with Recorder(model.rnn, tmp_path / "u.h5") as rec:
        losses, _ = model.step_losses(inputs, targets)
        rec._forward = None  # as if record() came without a forward pass of the module
        with pytest.raises(ConfigError, match="no forward pass"):
            rec.record(losses)


def test_a_diverging_loss_stops_recording_and_keeps_the_batches_before(tmp_path):
    torch.manual_seed(0)
    model = WordModel()
    data = batches(4)
    rec = Recorder(model.rnn, tmp_path / "s.h5", every=1)
    with pytest.raises(TrainingDiverged, match="batch 2"):
        for b, (inputs, targets) in enumerate(data):
            losses, _ = model.step_losses(inputs, targets)
            if b == 2:
                losses = losses * float("nan")
            rec.record(losses)
            losses.sum(1).mean().backward()
    assert rec.closed
    with Session(tmp_path / "s.h5") as s:
        assert s.info.complete and s.batches_trained == 2 and s.n_records == 2


# -- reading while it writes -------------------------------------------------------------------------------
def test_a_reader_follows_the_file_while_it_is_written(tmp_path):
    torch.manual_seed(0)
    model = WordModel()
    data = batches(6)
    with Recorder(model.rnn, tmp_path / "s.h5", every=1, flush_interval=0.0) as rec:
        train(model, data[:2], rec)
        rec.flush()
        with Session(tmp_path / "s.h5") as s:
            assert s.n_records == 2 and not s.info.complete
            train(model, data[2:], rec)
            rec.flush()
            assert s.refresh() and s.n_records == 6 and s.batches_trained == 6
            assert s.layered_record(5).itemized.shape == (2, 8, 8)


def test_the_raw_file_layout(tmp_path):
    torch.manual_seed(0)
    model = WordModel(layers=3)
    with Recorder(model.rnn, tmp_path / "s.h5", vocab=WORDS, checkpoint_every=1) as rec:
        train(model, batches(2), rec)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f.attrs["format_version"] == 2 and f.attrs["source"] == "torch" and f.attrs["layers"] == 3
        assert f["records/itemized"].shape == (2, 3, 8, 8) and f["records/horizon"].shape == (2, 3)
        assert f["records/itemized_gate"].shape == (2, 3, 8, 8, 4) and f["records/targets"].shape == (2, 8)
        assert [label.decode() for label in f["labels"][:]] == WORDS
        assert f["module_checkpoints/weight_hh_l2"].shape == (2, 24, 6)
        assert f["module_checkpoints/weight_hh_l2"].dtype == np.float32
        assert "corpus" not in f and "checkpoints" not in f and "samples" not in f


# -- several processes ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        model = WordModel()
        ddp = nn.parallel.DistributedDataParallel(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
        returned = []
        # Every rank runs the same five lines; only rank 0 writes.
        with Recorder(model.rnn, os.path.join(folder, "ddp.h5"), every=1, vocab=WORDS, checkpoint_every=2) as rec:
            for inputs, targets in batches(4, seed=10 + rank):  # each rank its own data
                losses, _ = ddp(inputs, targets)  # DDP's forward: its backward averages the gradients
                returned.append(rec.record(losses, inputs=inputs, targets=targets))
                losses.sum(1).mean().backward()
                opt.step()
                opt.zero_grad()
        total = float(sum(p.detach().sum() for p in model.parameters()))
        with open(os.path.join(folder, f"rank{rank}.txt"), "w") as out_file:
            out_file.write(f"{rec.writing} {returned} {total!r}")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_processes_write_one_session(tmp_path):
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    rank0 = (tmp_path / "rank0.txt").read_text().split(" ", 1)
    rank1 = (tmp_path / "rank1.txt").read_text().split(" ", 1)
    assert rank0[0] == "True" and rank1[0] == "False"
    assert rank0[1].startswith("[True, True, True, True]") and rank1[1].startswith("[False, False, False, False]")
    assert rank0[1].rsplit(" ", 1)[1] == rank1[1].rsplit(" ", 1)[1]  # DDP kept the replicas in step
    with Session(tmp_path / "ddp.h5") as s:
        assert s.info.complete and s.n_records == 4 and s.batches_trained == 4 and s.n_module_checkpoints == 2


# -- the GPU ------------------------------------------------------------------------------------------------
@CUDA
def test_cuda_records_match_the_cpu(tmp_path):
    data = batches(2)
    results = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = WordModel(dtype=torch.float64).to(device)
        with Recorder(model.rnn, tmp_path / f"{device}.h5") as rec:
            train(model, [(x.to(device), y.to(device)) for x, y in data], rec)
        with Session(tmp_path / f"{device}.h5") as s:
            results.append(s.layered_record(1))
            assert s.info.module.device.startswith(device)
    np.testing.assert_allclose(results[1].itemized, results[0].itemized, rtol=1e-6, atol=1e-9)


# -- a damaged or hostile file ------------------------------------------------------------------------------
def _damage_module(f):
    f.attrs["module"] = "{not json"


def _damage_layers(f):
    f.attrs["layers"] = 3


def _damage_layer_axis(f):
    shape = f["records/horizon"].shape
    del f["records/horizon"]
    f.create_dataset("records/horizon", data=np.zeros((shape[0], 5), dtype=np.int32), maxshape=(None, 5))


def _damage_version(f):
    f.attrs["format_version"] = 1


def _damage_tokens(f):
    f["records/targets"][0, 0] = 999


@pytest.mark.parametrize("damage,words", [
    (_damage_module, "session header is invalid (the module description is not JSON)"),
    (_damage_layers, "does not match"),
    (_damage_layer_axis, "records/horizon has shape"),
    (_damage_version, "which format 1 does not have"),
    (_damage_tokens, "outside the vocabulary"),
])
def test_a_damaged_torch_session_is_one_line_error(tmp_path, damage, words):
    torch.manual_seed(0)
    model = WordModel()
    path = tmp_path / "s.h5"
    with Recorder(model.rnn, path, vocab=WORDS) as rec:
        train(model, batches(2), rec)
    with h5py.File(path, "r+") as f:
        damage(f)
    with pytest.raises(SessionFormatError, match=re.escape(words)):
        with Session(path, check=False) as s:
            s.record(0)
