"""The search space of every model, in one place: what ``hetrec tune`` samples.

:data:`SPACES` maps a model name to ``{setting: spec}``. A setting named ``train.<field>`` is a
field of :class:`hetrec.train.TrainConfig` (``train.lr``, ``train.epochs``, ``train.patience``:
learning rate, epoch limit and early stopping are tuned like any other setting); any other name
is a field of the model's ``Config`` (applied on top of the registry preset, as ``--set`` is).
Settings a space leaves out keep the registry's values (:data:`hetrec.models.TRAINING`, the
model's ``Config``). A spec is one of:

* ``("log", low, high)`` — a float, uniform on a log scale;
* ``("uniform", low, high)`` — a float, uniform;
* ``("int", low, high)`` — an integer, both ends included;
* ``("log-int", low, high)`` — an integer on a log scale;
* ``("choice", [a, b, ...])`` — one of the values (one value: fixed, not searched).

Every registered model has a space (``tests/tune/test_tune.py`` checks it, and that every
setting is a field of the model's ``Config`` or of ``TrainConfig``); an empty space (MostPop)
means there is nothing to tune. Spaces of models not registered in this version of
:data:`hetrec.models.MODELS` are kept for when they are. ``docs/tuning.md`` shows these spaces
as the table ``python -m hetrec.tune.spaces`` prints.
"""
from __future__ import annotations

import dataclasses
import math

KINDS = ("log", "uniform", "int", "log-int", "choice")

#: the training settings searched for BPR-trained embedding models
_BPR = {
    "train.lr": ("log", 1e-4, 1e-2),
    "train.epochs": ("choice", [100, 300]),
    # 20 reaches past the plateaus of the lr 1e-3 runs (docs/baselines.md, "Patience of the lr 1e-3 models")
    "train.patience": ("choice", [5, 10, 20]),
    "embedding_size": ("choice", [64, 128]),
    "reg_weight": ("log", 1e-6, 1e-2),
    "num_negatives": ("choice", [1, 4, 16]),
}
_GRAPH = {**_BPR, "num_layers": ("int", 1, 4)}


def _mthgt(epochs: int, lr_high: float, **extra) -> dict:
    """MTHGT and its presets: learning rate, depth, width and L2; the epoch limit stays the
    preset's. The width choices are the BPR-trained baselines' ``embedding_size`` choices, so no
    model is tuned with more capacity than another."""
    return {"train.lr": ("log", 1e-3, lr_high), "train.epochs": ("choice", [epochs]),
            "train.patience": ("choice", [5, 10, 20]), "num_layers": ("int", 1, 3),
            "hidden_size": ("choice", [64, 128]), "reg_weight": ("log", 1e-6, 1e-2), **extra}


#: the search space of each model, by name (the spec format is in the module docstring)
SPACES = {
    "mthgt": _mthgt(200, 3e-2, num_layers=("int", 1, 4), temperature=("uniform", 0.1, 1.0)),
    "mthgt-cl": _mthgt(200, 3e-2, num_layers=("int", 1, 4), temperature=("uniform", 0.1, 1.0),
                       cl_weight=("log", 0.01, 1.0), cl_eps=("uniform", 0.01, 0.5),
                       cl_temperature=("uniform", 0.1, 0.5)),
    "mthgt-cold": _mthgt(200, 3e-2, num_layers=("int", 1, 4), temperature=("uniform", 0.1, 1.0),
                         id_dropout=("uniform", 0.0, 0.6)),
    "mthgt-coldmean": _mthgt(200, 3e-2, num_layers=("int", 1, 4), temperature=("uniform", 0.1, 1.0)),
    # trained as mthgt; the map's settings act on cold nodes only, which warm validation never sees
    "mthgt-coldmap": _mthgt(200, 3e-2, num_layers=("int", 1, 4), temperature=("uniform", 0.1, 1.0)),
    "mthgt-coldmap2": _mthgt(200, 3e-2, num_layers=("int", 1, 4), temperature=("uniform", 0.1, 1.0)),
    "mthgt-ials": _mthgt(200, 3e-2, num_layers=("int", 1, 4), reg_weight=("log", 1e-4, 0.1),
                         ials_alpha=("log", 0.01, 3.0)),
    "mthgt-minibatch": _mthgt(200, 3e-2, num_layers=("int", 1, 4), temperature=("uniform", 0.1, 1.0),
                              history_fanout=("choice", [2, 4, 8])),
    **{name: _mthgt(200, 3e-2, num_layers=("int", 1, 4), temperature=("uniform", 0.1, 1.0),
                    history_fanout=("choice", [2, 4, 8])) for name in ("hgt-mb", "hgt-d-mb", "hgt-m-mb", "mthgt-dm-mb")},
    "hgt": _mthgt(40, 2e-2, dropout=("uniform", 0.0, 0.3)),
    "hgt-d": _mthgt(40, 2e-2, dropout=("uniform", 0.0, 0.3)),
    "hgt-m": _mthgt(40, 2e-2, dropout=("uniform", 0.0, 0.3)),
    "mthgt-sampled": _mthgt(40, 2e-2, dropout=("uniform", 0.0, 0.3)),
    "mthgt-paper": {**_mthgt(20, 2e-2, dropout=("uniform", 0.0, 0.5)), "train.patience": ("choice", [3, 5])},
    "mostpop": {},
    "attr-mostpop": {},
    "attr-profile": {},
    "lightfm": {"no_components": ("choice", [32, 64, 128]), "learning_rate": ("log", 1e-3, 1e-1),
                "item_alpha": ("log", 1e-8, 1e-4), "user_alpha": ("log", 1e-8, 1e-4),
                "epochs": ("choice", [10, 30, 60]), "loss": ("choice", ["warp", "bpr"])},
    "lightfm-attr": {"no_components": ("choice", [32, 64, 128]), "learning_rate": ("log", 1e-3, 1e-1),
                "item_alpha": ("log", 1e-8, 1e-4), "user_alpha": ("log", 1e-8, 1e-4),
                "epochs": ("choice", [10, 30, 60]), "loss": ("choice", ["warp", "bpr"])},
    "lightfm-attr-raw": {"no_components": ("choice", [32, 64, 128]), "learning_rate": ("log", 1e-3, 1e-1),
                "item_alpha": ("log", 1e-8, 1e-4), "user_alpha": ("log", 1e-8, 1e-4),
                "epochs": ("choice", [10, 30, 60]), "loss": ("choice", ["warp", "bpr"])},
    "itemknn": {
        "k": ("log-int", 5, 1000),
        "shrink": ("uniform", 0.0, 1000.0),
        "similarity": ("choice", ["cosine", "asymmetric", "jaccard"]),
        "asymmetric_alpha": ("uniform", 0.0, 1.0),
        "weighting": ("choice", ["none", "tfidf", "bm25"]),
    },
    "rp3beta": {"alpha": ("uniform", 0.0, 2.0), "beta": ("uniform", 0.0, 1.0), "k": ("log-int", 10, 1000),
                "normalize": ("choice", [False, True])},
    "ease": {"reg_weight": ("log", 1.0, 10000.0)},
    "gfcf": {"alpha": ("uniform", 0.0, 1.0), "num_factors": ("choice", [64, 128, 256, 512])},
    "bprmf": dict(_BPR),
    # the iALS objective: its L2 weight is on another scale than BPR's (a squared loss to 1 per pair)
    # and the all-item weight alpha is searched; no sampled negatives (they only enter the L2 term)
    "ials": {**{k: v for k, v in _BPR.items() if k != "num_negatives"}, "reg_weight": ("log", 1e-3, 1.0),
             "ials_alpha": ("log", 0.01, 3.0)},
    "lightgcn": dict(_GRAPH),
    # sampled softmax: many negatives and a temperature instead of BPR's few negatives
    "lightgcn-softmax": {**_GRAPH, "num_negatives": ("choice", [16, 64, 128]),
                         "temperature": ("uniform", 0.1, 1.0)},
    "ngcf": {**_GRAPH, "node_dropout": ("uniform", 0.0, 0.5), "message_dropout": ("uniform", 0.0, 0.5)},
    "pinsage": {
        "train.lr": ("log", 1e-3, 3e-2),
        "train.epochs": ("choice", [30]),
        "train.patience": ("choice", [3, 5]),
        "embedding_size": ("choice", [64, 128]),
        "num_layers": ("int", 1, 3),
        "margin": ("uniform", 0.1, 1.0),
        "dropout": ("uniform", 0.0, 0.5),
    },
    # PinSage on the user-item graph, BPR-trained (NGCF's setting)
    "pinsage-ui": {
        "train.lr": ("log", 1e-4, 1e-2),
        "train.epochs": ("choice", [200]),
        "train.patience": ("choice", [5, 10, 20]),
        "embedding_size": ("choice", [64, 128]),
        "reg_weight": ("log", 1e-6, 1e-2),
        "num_negatives": ("choice", [1, 4, 16]),  # as the other BPR-trained models
        "num_layers": ("int", 1, 3),
        "num_neighbors": ("choice", [5, 10, 20]),
    },
    "hin2vec": {
        "train.lr": ("log", 1e-3, 3e-2),
        "train.epochs": ("choice", [30]),
        "train.patience": ("choice", [3, 5]),
        "embedding_size": ("choice", [64, 128]),
        "window": ("int", 2, 4),
        "num_negatives": ("choice", [1, 5, 10]),
        "regularization": ("choice", ["step", "sigmoid"]),
    },
    "multvae": {
        "train.lr": ("log", 1e-4, 1e-2),
        "train.epochs": ("choice", [300]),
        "train.patience": ("choice", [5, 10, 20]),
        "dropout": ("uniform", 0.0, 0.7),
        "anneal_cap": ("uniform", 0.0, 1.0),
        "hidden_size": ("choice", [200, 600]),
        "latent_size": ("choice", [64, 200]),
        "batch_size": ("choice", [500, 2048]),
        "noise_std": ("choice", [0.01, 1.0]),
    },
    "xsimgcl": {
        "train.lr": ("log", 1e-4, 1e-2),
        "train.epochs": ("choice", [200]),
        "train.patience": ("choice", [10, 20, 30]),  # validation dips for ~10 epochs early on (docs/baselines.md)
        # width and negatives as LightGCN, whose propagation and BPR loss XSimGCL shares
        "embedding_size": ("choice", [64, 128]),
        "reg_weight": ("log", 1e-6, 1e-2),
        "num_negatives": ("choice", [1, 4, 16]),
        "eps": ("uniform", 0.01, 0.5),
        "cl_weight": ("log", 0.01, 1.0),
        "cl_temperature": ("uniform", 0.1, 0.5),
        "num_layers": ("int", 1, 3),
    },
}


def check_space(model: str, space: dict) -> None:
    """Raise ``ValueError`` naming the first malformed spec of ``space``, or a setting that is
    neither a field of ``TrainConfig`` (``train.<field>``) nor of model ``model``'s ``Config``."""
    from ..models import model_class
    from ..train import TrainConfig

    fields = {f.name for f in dataclasses.fields(model_class(model).Config)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, spec in space.items():
        where = f"search space of {model!r}, setting {name!r}"
        known = name[len("train."):] in train_fields if name.startswith("train.") else name in fields
        if not known:
            raise ValueError(f"{where}: no such setting (model settings: {', '.join(sorted(fields)) or 'none'}; "
                             f"training settings: {', '.join(f'train.{f}' for f in sorted(train_fields))})")
        if not isinstance(spec, (tuple, list)) or not spec or spec[0] not in KINDS:
            raise ValueError(f"{where}: a spec is (kind, ...) with kind one of {', '.join(KINDS)}, got {spec!r}")
        kind = spec[0]
        if kind == "choice":
            if len(spec) != 2 or not isinstance(spec[1], (list, tuple)) or not spec[1]:
                raise ValueError(f"{where}: expected ('choice', [values...]), got {spec!r}")
            continue
        if len(spec) != 3 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in spec[1:]):
            raise ValueError(f"{where}: expected ({kind!r}, low, high), got {spec!r}")
        low, high = spec[1], spec[2]
        if not low < high or (kind in ("log", "log-int") and low <= 0):
            raise ValueError(f"{where}: needs low < high{' and low > 0' if kind.startswith('log') else ''}, "
                             f"got {spec!r}")
        if kind in ("int", "log-int") and not (float(low).is_integer() and float(high).is_integer()):
            raise ValueError(f"{where}: integer ends expected, got {spec!r}")


def contains(spec, value) -> bool:
    """Whether ``value`` is a point of ``spec`` (a value the sampler could have drawn)."""
    kind = spec[0]
    if kind == "choice":
        return any(value == v and type(value) is type(v) or (isinstance(v, float) and value == v) for v in spec[1])
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if kind in ("int", "log-int") and not float(value).is_integer():
        return False
    return spec[1] <= value <= spec[2]


def registry_point(model: str, space: dict) -> tuple:
    """The registry's own settings of ``model`` as a point of ``space``: ``(point, outside)``,
    ``point`` mapping every setting of the space to the value ``hetrec train --model model``
    uses without ``--set`` (:data:`hetrec.models.TRAINING`, then ``TrainConfig``'s defaults,
    for ``train.*``; the model's preset ``Config`` otherwise), ``outside`` naming the settings
    whose registry value the space does not contain (``{}`` when the registry's settings are a
    point of the space, the case ``hetrec tune`` starts every study from)."""
    from ..models import model_config, training_settings
    from ..train import TrainConfig

    cfg, train = model_config(model), {**dataclasses.asdict(TrainConfig()), **training_settings(model)}
    point = {name: train[name[len("train."):]] if name.startswith("train.") else getattr(cfg, name)
             for name in space}
    outside = {name: value for name, value in point.items() if not contains(space[name], value)}
    return point, outside


def describe(spec) -> str:
    """A spec in words: ``log-uniform 0.0001 – 0.01``, ``one of 64, 128``, ``fixed: 200``."""
    kind = spec[0]
    if kind == "choice":
        values = ", ".join(f"`{v}`" if isinstance(v, str) else f"{v:g}" if isinstance(v, float) else str(v)
                           for v in spec[1])
        return f"fixed: {values}" if len(spec[1]) == 1 else f"one of {values}"
    words = {"log": "log-uniform", "uniform": "uniform", "int": "integer", "log-int": "integer, log scale"}[kind]
    return f"{words} {spec[1]:g} – {spec[2]:g}"


def spaces_markdown(spaces: dict | None = None) -> str:
    """The table of ``docs/tuning.md``: one row per (model, setting), in :data:`SPACES` order."""
    lines = ["| model | setting | searched over |", "|---|---|---|"]
    for model, space in (SPACES if spaces is None else spaces).items():
        if not space:
            lines.append(f"| `{model}` | – | nothing to tune |")
        for i, (name, spec) in enumerate(space.items()):
            lines.append(f"| {f'`{model}`' if i == 0 else ''} | `{name}` | {describe(spec)} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - prints the table of docs/tuning.md
    print(spaces_markdown())
