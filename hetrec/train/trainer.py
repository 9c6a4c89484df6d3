"""One training loop for every model: seeded, early-stopped, checkpointed, resumable.

Reproducibility and resume: every epoch starts by re-seeding all generators (torch, numpy,
Python, DGL and the epoch's ``torch.Generator``) from ``(seed, epoch)``. An epoch's result thus
depends only on the parameters and optimizer state it starts from, and a run resumed from the
checkpoint written after epoch ``e`` continues exactly as the uninterrupted run would have.
An interrupted epoch is redone from its start.

Files under ``out_dir``:

* ``checkpoint.pt`` — written atomically after every epoch: parameters, optimizer, early-stopping
  state, best parameters and the history (read back with ``torch.load(weights_only=True)``);
* ``model.pt`` — the best parameters (by validation ``metric``) with the model's name and config;
* ``log.jsonl`` — one JSON object per epoch: losses, task weights, validation metrics, timings;
* ``metrics.json`` — validation and test metrics of the best epoch.

``checkpoint.pt``, ``model.pt`` and ``metrics.json`` carry an integrity record
(:mod:`hetrec._integrity`): what they belong to (the model, its settings, the fold's split and
whatever ``identity`` the caller gives, e.g. a run and fold) and a digest of their content.
``metrics.json`` also records the digest of ``model.pt``, the model it measured. A resume
refuses a checkpoint that is damaged or belongs to anything else.
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import _schemas
from .._integrity import IntegrityError, content_digest, load_pt, save_pt, write_json
from .._io import LockedError, atomic_write_text, exclusive_lock
from .._random import seed_everything  # noqa: F401 - re-exported (hetrec.train.seed_everything)
from ..eval import topn_metrics
from .device import resolve_device, to_device
from .distributed import rank_and_world
from .errors import TrainingError
from .optim import clip_grad_norm, make_optimizer, sparse_parameters


@dataclass
class TrainConfig:
    """Settings of the training loop (model hyper-parameters live in each model's ``Config``)."""

    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    #: early stopping — stop after this many evaluations without improvement of ``metric``
    patience: int = 5
    #: early stopping never stops before this epoch (a model whose epoch is one step, such as
    #: Mult-VAE on a small dataset, can dip below its first validation score for more than
    #: ``patience`` steps before it learns); the best epoch is still chosen over every epoch
    min_epochs: int = 0
    metric: str = "NDCG@10"
    ns: tuple = (5, 10, 20)
    seed: int = 0
    #: cap on batches per epoch (None = all); for quick runs and benchmarks
    max_batches: int | None = None
    #: torch intra-op threads (None leaves torch's default)
    num_threads: int | None = None
    progress: bool | None = None  # None: a progress bar when stderr is a terminal
    grad_clip: float | None = None

    def __post_init__(self):
        """Every setting checked on construction: a bad value is one ``ValueError`` naming it."""
        self.ns = tuple(self.ns)

        def integer(name, low, optional=False):
            v = getattr(self, name)
            if v is None and optional:
                return
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"training setting {name} must be an integer of at least {low}, got {v!r}")

        def number(name, low, strict, optional=False):
            v = getattr(self, name)
            if v is None and optional:
                return
            if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                    or (v <= low if strict else v < low)):
                raise ValueError(f"training setting {name} must be a finite number "
                                 f"{'above' if strict else 'of at least'} {low}, got {v!r}")

        integer("epochs", 1)
        integer("patience", 1)
        integer("min_epochs", 0)
        integer("seed", 0)
        integer("max_batches", 1, optional=True)
        integer("num_threads", 1, optional=True)
        number("lr", 0, strict=True)
        number("weight_decay", 0, strict=False)
        number("grad_clip", 0, strict=True, optional=True)
        if not self.ns or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.ns):
            raise ValueError(f"training setting ns must be positive integers, got {self.ns!r}")
        kind, _, n = str(self.metric).partition("@")
        if kind not in ("P", "R", "HR", "NDCG") or not n.isdigit() or int(n) not in self.ns:
            raise ValueError(f"training setting metric must be P, R, HR or NDCG @ one of ns {self.ns}, "
                             f"got {self.metric!r}")


@dataclass
class FitResult:
    best_epoch: int
    val: dict
    test: dict | None
    history: list = field(default_factory=list)
    train_seconds: float = 0.0


def evaluate(model, exclude, target, ns=(5, 10, 20)) -> dict:
    """Full-ranking metrics of ``model`` for the users with items in ``target``."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model.prepare_scoring()
        out = topn_metrics(exclude=exclude, test=target, ns=ns, score_fn=model.scores)
    model.train(was_training)
    return {k: (int(v) if k == "num_users" else float(v)) for k, v in out.items() if np.isscalar(v)}


def load_checkpoint(path) -> dict:
    """Read a checkpoint safely (tensors and plain containers only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:  # a folder in its place, an unreadable disk: one line, the file named
        raise TrainingError(f"{path}: not a readable hetrec checkpoint ({err.strerror or err})") from err
    except Exception as err:  # noqa: BLE001 - any unreadable file gets one clear message
        raise TrainingError(f"{path}: not a readable hetrec checkpoint ({err})") from err


#: training settings that change neither the trajectory nor the result of an epoch (a resume may
#: run more epochs or wait longer than the run it continues)
_RESUMABLE_TRAIN = ("num_threads", "progress", "epochs", "patience", "min_epochs")


def split_fingerprint(split) -> str:
    """sha256 of which interactions a fold trains, validates and tests on."""
    h = hashlib.sha256(f"{split.num_users}|{split.num_items}|".encode())
    for eids in (split.train_eids, split.val_eids, split.test_eids):
        a = np.ascontiguousarray(np.asarray(eids, dtype=np.int64))
        h.update(len(a).to_bytes(8, "little") + a.tobytes())
    return h.hexdigest()


def model_identity(model, train_config, split) -> dict:
    """What a fold's files belong to at the trainer's level: the model, its settings and the
    training settings that change results, and the split it trains on."""
    train = {k: v for k, v in _plain(asdict(train_config)).items() if k not in _RESUMABLE_TRAIN}
    mcfg = _plain(asdict(model.config)) if model.config is not None else {}
    return {"model": model.name, "settings": content_digest({"train": train, "model": mcfg}),
            "fold_split": split_fingerprint(split)}


def _clone_state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Trainer:
    """Train a :class:`hetrec.models.Recommender` on one :class:`hetrec.data.Split`.

    >>> trainer = Trainer(TrainConfig(epochs=20), out_dir="runs/lastfm-f0")
    >>> result = trainer.fit(model, split)        # or fit(..., resume=True)
    >>> result.test["NDCG@10"]
    """

    def __init__(self, config: TrainConfig | None = None, out_dir=None, log=None, device=None,
                 on_epoch: Callable[[int, dict], None] | None = None, identity: dict | None = None):
        """``device``: where the model trains and scores (``"auto"``, ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or a ``torch.device``; default CPU). Batches are built on the CPU and moved
        there (:func:`hetrec.train.device.to_device`); checkpoints are device-independent.

        ``identity``: plain text / integer values recorded in every file written (see the module
        docstring) and required of a checkpoint to resume from.

        ``on_epoch(epoch, val)``: called (by rank 0) after each epoch's validation, and after its
        checkpoint is written, with the epoch number and its validation metrics. An exception it
        raises ends :meth:`fit` and propagates to the caller; :func:`hetrec.tune.tune` raises
        ``optuna.TrialPruned`` from it to prune a trial. Closed-form models have no epochs."""
        self.device = resolve_device(device or "cpu")
        self.config = config or TrainConfig()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.on_epoch = on_epoch
        #: what this fit's files belong to beyond the model, settings and split (a run and fold:
        #: hetrec.train.experiment); with a ``run``, checkpoints without an integrity record are refused
        self.identity = dict(identity or {})

    # ------------------------------------------------------------------------------------------
    #: the files a run writes into ``out_dir`` (a fresh fit removes a previous run's)
    RUN_FILES = ("checkpoint.pt", "model.pt", "log.jsonl", "metrics.json")

    def fit(self, model, split, resume: bool = False, evaluate_test: bool = True) -> FitResult:
        """Train ``model`` on ``split`` (see the class docstring). ``out_dir`` is locked for the
        whole fit, so two processes never write one folder; a fresh fit (``resume=False``) into
        a folder holding a previous run's files removes them first, and says so."""
        if self.out_dir is None or rank_and_world()[0] != 0:  # in data-parallel runs rank 0 writes
            return self._fit(model, split, resume, evaluate_test)
        try:
            with exclusive_lock(self.out_dir / ".lock", f"training folder {self.out_dir}"):
                if not resume:
                    old = [n for n in self.RUN_FILES if (self.out_dir / n).exists()]
                    if old:
                        self.log(f"{self.out_dir}: removing the previous run's {', '.join(old)} (not resuming)")
                        for n in old:
                            (self.out_dir / n).unlink()
                return self._fit(model, split, resume, evaluate_test)
        except LockedError as err:
            raise TrainingError(str(err)) from None
        except OSError as err:  # a full disk or a vanished folder while writing a checkpoint
            raise TrainingError(f"cannot write in {self.out_dir}: {err.strerror or err}"
                                f"{f' ({err.filename})' if err.filename else ''}; files written before "
                                "are intact") from None

    def _fit(self, model, split, resume: bool, evaluate_test: bool) -> FitResult:
        cfg = self.config
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        rank, world = rank_and_world()
        main = rank == 0
        seed_everything(cfg.seed, -1)
        model.setup(split)
        model.to(self.device)
        engine = model
        if world > 1 and sparse_parameters(model):
            raise TrainingError("sparse_embeddings is not supported with more than one process (DDP would "
                                "all-reduce sparse gradients densely): train with --nproc 1 or turn it off")
        if world > 1 and model.trainable:  # gradients averaged over the ranks in backward
            from torch.nn.parallel import DistributedDataParallel

            # buffers are constants every rank built identically in setup (adjacencies, some
            # sparse): not broadcast (DDP cannot broadcast sparse CSR tensors)
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
                model, [name for name, _ in model.named_buffers()])
            engine = DistributedDataParallel(model, device_ids=[self.device] if self.device.type == "cuda" else None,
                                             find_unused_parameters=model.ddp_find_unused_parameters)
        exclude_test = split.train + split.val
        ident = {**self.identity, **model_identity(model, cfg, split)} if self.out_dir is not None and main else {}
        if not model.trainable:
            val = evaluate(model, split.train, split.val, cfg.ns)
            test = evaluate(model, exclude_test, split.test, cfg.ns) if evaluate_test else None
            self._write_final(model, val, test, 0, [], ident)
            return FitResult(0, val, test, [])

        try:  # Adam; lazy Adam on sparse embedding tables
            opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
        except ValueError as err:
            raise TrainingError(str(err)) from None
        state = {"epoch": 0, "best_metric": -math.inf, "best_epoch": 0, "bad": 0,
                 "best_state": _clone_state(model), "history": [], "train_seconds": 0.0}
        ckpt_path = self.out_dir / "checkpoint.pt" if self.out_dir else None
        writes = ckpt_path is not None and main
        if resume:
            if ckpt_path is None or not ckpt_path.is_file():
                raise TrainingError(f"cannot resume: no checkpoint at {ckpt_path}")
            # any rank may resume: each checks the file against its own identity
            expected = {**self.identity, **model_identity(model, cfg, split)}
            try:
                ck, _ = load_pt(ckpt_path, _schemas.CHECKPOINT_FILE, expected, legacy="run" not in self.identity,
                                fix=f"delete it to train {self.out_dir} from the start, or resume with the model, "
                                    "settings and split it was written for")
            except IntegrityError as err:
                raise TrainingError(str(err)) from None
            if ck.get("model_name") != model.name:
                raise TrainingError(f"{ckpt_path} holds a {ck.get('model_name')!r} run, not {model.name!r}")
            try:
                model.load_state_dict(ck["model"])
                opt.load_state_dict(ck["optimizer"])
            except (RuntimeError, ValueError) as err:
                raise TrainingError(f"{ckpt_path} does not fit this model (written by another hetrec "
                                    f"version or settings?): {str(err).splitlines()[0]}") from None
            state = ck["state"]
            self.log(f"resuming after epoch {state['epoch']} (best {cfg.metric} "
                     f"{state['best_metric']:.4f} at epoch {state['best_epoch']})")

        while state["epoch"] < cfg.epochs and (state["bad"] < cfg.patience or state["epoch"] < cfg.min_epochs):
            epoch = state["epoch"] + 1
            record = self._train_epoch(model, opt, epoch, engine)
            t0 = time.perf_counter()
            val = evaluate(model, split.train, split.val, cfg.ns) if main else {}
            record["eval_seconds"] = time.perf_counter() - t0
            record["val"] = val
            score = _broadcast(val.get(cfg.metric, 0.0), self.device) if world > 1 else val[cfg.metric]
            if score > state["best_metric"]:
                state.update(best_metric=score, best_epoch=epoch, bad=0, best_state=_clone_state(model))
            else:
                state["bad"] += 1
            state["epoch"] = epoch
            state["train_seconds"] += record["train_seconds"]
            state["history"].append(record)
            if main:
                self.log(f"epoch {epoch:3d}  loss {record['loss']:.4f}  val {cfg.metric} {score:.4f}  "
                         f"best {state['best_metric']:.4f}@{state['best_epoch']}  "
                         f"{record['train_seconds']:.1f}s train, {record['eval_seconds']:.1f}s eval")
            if writes:
                save_pt(ckpt_path, {"model_name": model.name, "model": model.state_dict(),
                                    "optimizer": opt.state_dict(), "state": state,
                                    "train_config": _plain(asdict(cfg)),
                                    "model_config": _plain(asdict(model.config))}, ident)
                atomic_write_text(self.out_dir / "log.jsonl",
                                  "".join(json.dumps(r) + "\n" for r in state["history"]))
            if main and self.on_epoch is not None:
                self.on_epoch(epoch, val)

        model.load_state_dict(state["best_state"])
        if not main:  # rank 0 evaluates and writes
            return FitResult(state["best_epoch"], {}, None, state["history"], state["train_seconds"])
        val = state["history"][state["best_epoch"] - 1]["val"] if state["best_epoch"] else \
            evaluate(model, split.train, split.val, cfg.ns)
        test = evaluate(model, exclude_test, split.test, cfg.ns) if evaluate_test else None
        self._write_final(model, val, test, state["best_epoch"], state["history"], ident)
        return FitResult(state["best_epoch"], val, test, state["history"], state["train_seconds"])

    # ------------------------------------------------------------------------------------------
    def _train_epoch(self, model, opt, epoch: int, engine=None) -> dict:
        cfg = self.config
        engine = model if engine is None else engine
        rank, world = rank_and_world()
        generator = seed_everything(cfg.seed, epoch)
        model.train()
        sums, n, wait, step_times = {}, 0, 0.0, []
        show = (cfg.progress if cfg.progress is not None else sys.stderr.isatty()) and rank == 0
        t_epoch = time.perf_counter()
        batches = iter(model.distributed_batches(generator, rank, world) if world > 1
                       else model.train_batches(generator))
        while cfg.max_batches is None or n < cfg.max_batches:
            t0 = time.perf_counter()
            try:
                batch = to_device(next(batches), self.device)
            except StopIteration:
                break
            t1 = time.perf_counter()
            out = engine(batch) if engine is not model else model.loss(batch)
            if not torch.isfinite(out.loss):
                raise TrainingError(f"non-finite loss ({out.loss.item()}) at epoch {epoch}, batch {n + 1}; "
                                    f"parts: {_plain_logs(out.logs)}. Try a lower learning rate.")
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            if cfg.grad_clip:
                clip_grad_norm(model.parameters(), cfg.grad_clip)
            opt.step()
            t2 = time.perf_counter()
            wait += t1 - t0
            step_times.append(t2 - t0)
            n += 1
            sums["loss"] = sums.get("loss", 0.0) + out.loss.item()
            for k, v in out.logs.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            if show:
                rate = n / (t2 - t_epoch)
                sys.stderr.write(f"\repoch {epoch} batch {n}  loss {sums['loss'] / n:.4f}  {rate:.2f} batches/s")
                sys.stderr.flush()
        if show:
            sys.stderr.write("\n")
        if n == 0:
            raise TrainingError(f"epoch {epoch} produced no training batch (no training interactions?)")
        seconds = time.perf_counter() - t_epoch
        if world > 1:  # the epoch's mean losses over every rank's steps
            keys = sorted(sums)
            total = torch.tensor([sums[k] for k in keys] + [float(n)], dtype=torch.float64, device=self.device)
            torch.distributed.all_reduce(total)  # (on the training device: nccl reduces CUDA tensors)
            sums = dict(zip(keys, total[:-1].tolist()))
            n_all = float(total[-1])
            record = {k: v / n_all for k, v in sums.items()}
        else:
            record = {k: v / n for k, v in sums.items()}
        record.update(epoch=epoch, batches=n, train_seconds=seconds,
                      step_seconds_median=float(np.median(step_times)),
                      sampling_share=wait / max(sum(step_times), 1e-12))
        return record

    def _write_final(self, model, val, test, best_epoch, history, ident) -> None:
        if self.out_dir is None:
            return
        saved = save_pt(self.out_dir / "model.pt",
                        {"model_name": model.name, "model": model.state_dict(),
                         "model_config": _plain(asdict(model.config)) if model.config is not None else {},
                         "best_epoch": best_epoch}, ident)
        # the metrics name the model they measured (model.pt's digest)
        write_json(self.out_dir / "metrics.json", {"best_epoch": best_epoch, "val": val, "test": test,
                                                   "model_sha256": saved["integrity"]["sha256"]}, ident)
        if history:
            atomic_write_text(self.out_dir / "log.jsonl", "".join(json.dumps(r) + "\n" for r in history))


def _broadcast(value: float, device) -> float:
    """Rank 0's ``value`` on every rank (a tensor on ``device``: nccl broadcasts CUDA tensors)."""
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    torch.distributed.broadcast(t, 0)
    return float(t[0])


def _plain(d):
    """Config dicts with tuples turned into lists (JSON- and weights_only-safe)."""
    if isinstance(d, dict):
        return {k: _plain(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_plain(v) for v in d]
    return d


def _plain_logs(logs: dict) -> dict:
    return {k: float(v) for k, v in logs.items()}


__all__ = ["Trainer", "TrainConfig", "FitResult", "TrainingError", "evaluate", "seed_everything",
           "load_checkpoint", "model_identity", "split_fingerprint"]
