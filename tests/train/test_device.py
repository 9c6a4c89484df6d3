"""Device: every model trains and scores on the device it is given, and hetrec code never
creates a tensor without saying where (that tensor would land on the CPU, or on whatever default
device the caller set, while the model is on a GPU).

The CPU-only development machines cannot run CUDA, so the audit is structural: a
``TorchFunctionMode`` records every tensor factory (``torch.zeros``, ``arange``, ``randint``,
...) called from hetrec's own code without a ``device=`` argument, while a model builds batches,
computes its loss, steps and scores. GPU runs: ``benchmarks/gpu_check.py`` and the ``gpu`` tests.
"""
import sys

import pytest
import torch
from torch.overrides import TorchFunctionMode

from hetrec.data import kfold_split, synthetic
from hetrec.models import MODELS, create_model
from hetrec.train import TrainConfig, Trainer, resolve_device, seed_everything, to_device

FACTORIES = {"zeros", "ones", "empty", "full", "arange", "rand", "randn", "randint", "randperm", "tensor",
             "eye", "linspace", "logspace", "normal", "as_tensor", "scalar_tensor", "sparse_coo_tensor",
             "sparse_csr_tensor"}
SMALL = {"mthgt": dict(hidden_size=8, num_heads=2, batch_size=128), "hgt": dict(hidden_size=8, num_heads=2, width=8),
         "hgt-d": dict(hidden_size=8, num_heads=2, width=8), "hgt-m": dict(hidden_size=8, num_heads=2, width=8),
         "mthgt-sampled": dict(hidden_size=8, num_heads=2, width=8), "mthgt-paper": dict(hidden_size=8, num_heads=2, width=8)}


class DeviceAudit(TorchFunctionMode):
    """Records tensor factories called from hetrec's package code without ``device=``."""

    def __init__(self):
        super().__init__()
        self.offenders = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in FACTORIES and "device" not in kwargs:
            frame = sys._getframe(1)
            path = frame.f_code.co_filename.replace("\\", "/")
            if "/hetrec/" in path and "/tests/" not in path:
                self.offenders.append(f"{path.split('/hetrec/')[-1]}:{frame.f_lineno} torch.{func.__name__}")
        return func(*args, **kwargs)


def tensors_in(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif hasattr(obj, "canonical_etypes"):
        yield torch.empty(0, device=obj.device)  # a graph: its device
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from tensors_in(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from tensors_in(v)


@pytest.fixture(scope="module")
def split():
    g = synthetic(num_users=40, num_items=50, num_interactions=500, num_tags=5, seed=0)
    return kfold_split(g, k=5, seed=0)[0]


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_says_where_its_tensors_go(name, split):
    if name.startswith("lightfm"):
        pytest.importorskip("lightfm")  # an optional extra (hetrec[lightfm])
    device = torch.device("cpu")
    gen = seed_everything(0)
    model = create_model(name, **SMALL.get(name, {}))
    model.setup(split)
    model.to(device)
    assert all(t.device == device for t in (*model.parameters(), *model.buffers()))
    audit = DeviceAudit()
    with audit:
        if model.trainable:
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            batch = to_device(next(iter(model.train_batches(gen))), device)
            assert all(t.device == device for t in tensors_in(batch))
            out = model.loss(batch)
            assert out.loss.device == device
            out.loss.backward()
            opt.step()
        model.eval()
        model.prepare_scoring()
        scores = model.scores(torch.arange(5, device=device))
    assert scores.shape == (5, split.num_items) and scores.device == device
    assert audit.offenders == [], f"{name}: tensors created without a device: {sorted(set(audit.offenders))}"


def test_the_audit_catches_a_factory_without_device():
    audit = DeviceAudit()
    from hetrec.sampling import negative

    with audit:
        negative.ComplementNegativeSampler.__init__.__globals__["torch"].zeros(3)  # called from this test: not counted
    assert audit.offenders == []
    code = compile("import torch\ndef f():\n    return torch.zeros(2)\n", "/x/hetrec/fake.py", "exec")
    ns = {}
    exec(code, ns)
    with audit:
        ns["f"]()
    assert audit.offenders == ["fake.py:3 torch.zeros"]


@pytest.mark.parametrize("name", ["bprmf", "lightgcn", "ngcf", "mthgt", "hgt-d", "pinsage", "hin2vec", "itemknn"])
def test_trainer_with_an_explicit_device_matches_the_default(name, split, tmp_path):
    """The whole pipeline (setup, batches moved to the device, loss, early stopping, checkpoint,
    evaluation) with ``device="cpu"`` given explicitly equals the default run, bit for bit."""
    cfg = TrainConfig(epochs=2, patience=5, max_batches=2, progress=False, seed=1)
    results = []
    for device in (None, "cpu"):
        model = create_model(name, **SMALL.get(name, {}))
        out = tmp_path / f"{device}"
        results.append(Trainer(cfg, out_dir=out, log=lambda m: None, device=device).fit(model, split))
    assert results[0].val == results[1].val and results[0].test == results[1].test
    assert [h.get("loss") for h in results[0].history] == [h.get("loss") for h in results[1].history]


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    with pytest.raises(ValueError, match="unsupported device 'meta'"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available here"):
            resolve_device("cuda:0")


def test_to_device_moves_nested_batches_and_keeps_named_tuples():
    from hetrec.batching import FullGraphBatch

    b = FullGraphBatch(torch.arange(3), torch.arange(3), torch.zeros(3, 2, dtype=torch.long), {},
                       {("user", "interacts", "item"): torch.arange(2)})
    moved = to_device(b, "cpu")
    assert isinstance(moved, FullGraphBatch) and moved.hidden[("user", "interacts", "item")].tolist() == [0, 1]
    assert to_device([1, "x", None], "cpu") == [1, "x", None]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["bprmf", "lightgcn", "ngcf", "mthgt", "hgt-d", "pinsage", "hin2vec"])
def test_gpu_step_matches_cpu(name, split):
    losses = {}
    for device in ("cpu", "cuda"):
        gen = seed_everything(0)
        model = create_model(name, **SMALL.get(name, {}))
        model.setup(split)
        model.to(device)
        batch = to_device(next(iter(model.train_batches(gen))), torch.device(device))
        losses[device] = float(model.loss(batch).loss)
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=1e-4, abs=1e-5)
