"""MTHGT, its ablations and the baselines, all behind one interface (:class:`Recommender`).

Models are looked up by name: ``create_model("lightgcn", embedding_size=64)``. The registry
maps a name to ``"module:Class"`` plus preset config overrides (the ablations of MTHGT are
presets of one class), and imports lazily so that a missing optional model never breaks the rest.
"""
from __future__ import annotations

import dataclasses
import importlib

from .base import COLD_START_MODELS, LossOutput, Recommender
from .validation import check_config

#: the paper's recipe for MTHGT (Luo et al. 2023) — HGT with every transform on projected ID
#: embeddings, last layer, one GNN per task, sampled subgraphs, one BPR negative, no L2
MTHGT_PAPER = dict(conv="hgt", projection=True, init_std=None, combine="last", num_layers=2,
                   dropout=0.2, multitask=True, shared_gnn=False, training="sampled", batch_size=1024,
                   num_negatives=1, loss="bpr", reg_weight=0.0, expert_activation="gelu",
                   expert_bias=True, mmoe_alpha=0.5, lp_loss="bpr", lp_negatives=1)

#: MTHGT's recommended settings, where the two ``hetrec tune`` studies (Last.FM, ML-1M) agree:
#: 128 wide (both chose it), softmax temperature 0.9 (0.94 and 0.87), L2 2.8e-3 (the geometric
#: mean of 1.4e-3 and 5.4e-3), with patience 10 (both) and lr 1e-2 (the geometric mean of 4.4e-3
#: and 2.6e-2, the recipe's). Fold-0 validation NDCG@10: 0.1744 on Last.FM and 0.1740 on ML-1M,
#: against 0.1632 and 0.1689 for the recipe, which MTHGTConfig's defaults keep (docs/mthgt.md,
#: "Recommended settings"). Used by ``mthgt`` and the presets trained exactly as it
#: (``mthgt-minibatch``, ``mthgt-coldmean``, ``mthgt-coldmap``, ``mthgt-coldmap2``); the other
#: presets (the ablations, ``mthgt-cl``, ``mthgt-cold``) build on the recipe, as they were measured.
MTHGT_RECOMMENDED = dict(hidden_size=128, temperature=0.9, reg_weight=2.8e-3)

#: the sampled (subgraph) training of the paper, with hetrec's layers — the setting of the Fig. 4
#: ablation presets, whose point is the sampler. Subgraphs are drawn around 2048 interactions
#: with one uniform negative each (many uniform negatives would pull most items into every
#: subgraph), so the loss is BPR.
SAMPLED = dict(training="sampled", batch_size=2048, loss="bpr", num_negatives=1, lp_loss="bpr",
               lp_negatives=1)

#: name -> (module path, class name, preset overrides of the class's Config)
MODELS = {
    "mthgt": ("hetrec.models.mthgt", "MTHGT", MTHGT_RECOMMENDED),
    # paper Fig. 4 ablation, sampled training: single/multi task x uniform/dense sampling
    "hgt": ("hetrec.models.mthgt", "MTHGT", {**SAMPLED, "multitask": False, "sampler": "uniform"}),
    "hgt-d": ("hetrec.models.mthgt", "MTHGT", {**SAMPLED, "multitask": False, "sampler": "dense"}),
    "hgt-m": ("hetrec.models.mthgt", "MTHGT", {**SAMPLED, "multitask": True, "sampler": "uniform"}),
    "mthgt-sampled": ("hetrec.models.mthgt", "MTHGT", {**SAMPLED, "multitask": True, "sampler": "dense"}),
    "mthgt-paper": ("hetrec.models.mthgt", "MTHGT", MTHGT_PAPER),
    # the recipe plus XSimGCL's contrastive term at XSimGCL's paper settings (eps, weight and
    # temperature 0.2, first layer), not tuned on hetrec's data (docs/mthgt.md)
    "mthgt-cl": ("hetrec.models.mthgt", "MTHGT", dict(cl_weight=0.2, cl_eps=0.2, cl_temperature=0.2, cl_layer=1)),
    # the recipe trained for cold start: each step zeroes the ID embedding of 20 % of the users and
    # items, so the layers learn to embed a node from its edges alone (docs/coldstart.md)
    "mthgt-cold": ("hetrec.models.mthgt", "MTHGT", dict(id_dropout=0.2)),
    # mthgt with an imputed layer 0 for nodes it has no embedding of (the mean of their known
    # neighbours'); trained exactly as mthgt, it differs at inference only (docs/coldstart.md)
    "mthgt-coldmean": ("hetrec.models.mthgt", "MTHGT", dict(MTHGT_RECOMMENDED, cold_init="mean")),
    # mthgt with an attribute map for nodes it has no embedding of: a ridge regression from
    # attribute values (and, for coldmap2, pairs of values) to the warm nodes' representations,
    # fitted at inference (Gantner et al., ICDM 2010); trained exactly as mthgt (docs/coldstart.md)
    "mthgt-coldmap": ("hetrec.models.mthgt", "MTHGT", dict(MTHGT_RECOMMENDED, cold_init="map")),
    "mthgt-coldmap2": ("hetrec.models.mthgt", "MTHGT", dict(MTHGT_RECOMMENDED, cold_init="map",
                                                            cold_map_degree=2)),
    # mthgt's recommended settings in the mini-batch mode that training="auto" picks above
    # full_graph_max_edges: each step computes only its batch's nodes, from historical embeddings
    # refreshed once per epoch and control variates over 8 in-edges per node and layer, 64
    # negatives per interaction from a pool of 65,536 items per batch; the mode's settings chosen
    # on Last.FM fold-0 validation (docs/scale.md)
    "mthgt-minibatch": ("hetrec.models.mthgt", "MTHGT", dict(MTHGT_RECOMMENDED, training="minibatch")),
    # mthgt's recommended settings trained with the iALS objective instead of the sampled softmax
    # (hetrec.nn.losses.ials_loss; full-graph training); alpha 0.3 from the MF's grid, L2 chosen on
    # ML-1M fold-0 validation among 0.003 / 0.01 / 0.03: 0.1774 / 0.1770 / 0.1552 (docs/mthgt.md)
    "mthgt-ials": ("hetrec.models.mthgt", "MTHGT", dict(MTHGT_RECOMMENDED, loss="ials", ials_alpha=0.3,
                                                        reg_weight=0.003)),
    # the Fig. 4 ablation in the mini-batch mode (issue #25): the mthgt-minibatch recipe with the
    # in-edges of a step drawn uniformly or by the source's squared degree (the paper's Eq. 2,
    # "dense"), one task or two (link prediction through MMoE over the one GNN stack)
    "hgt-mb": ("hetrec.models.mthgt", "MTHGT", dict(training="minibatch", history_draw="uniform")),
    "hgt-d-mb": ("hetrec.models.mthgt", "MTHGT", dict(training="minibatch", history_draw="dense")),
    "hgt-m-mb": ("hetrec.models.mthgt", "MTHGT", dict(training="minibatch", history_draw="uniform",
                                                      multitask=True)),
    "mthgt-dm-mb": ("hetrec.models.mthgt", "MTHGT", dict(training="minibatch", history_draw="dense",
                                                         multitask=True)),
    "mostpop": ("hetrec.models.classic", "MostPop", {}),
    "itemknn": ("hetrec.models.classic", "ItemKNN", {}),
    "rp3beta": ("hetrec.models.classic", "RP3beta", {}),
    "ease": ("hetrec.models.ease", "EASE", {}),
    "gfcf": ("hetrec.models.gfcf", "GFCF", {}),
    "bprmf": ("hetrec.models.bprmf", "BPRMF", {}),
    # matrix factorisation with the iALS objective (Hu et al. 2008; Rendle et al. 2022: squared loss
    # to 1 on every training pair, alpha x the squared score of every item, hetrec.nn.losses.ials_loss)
    # trained by Adam on mini-batches, not by alternating least squares; settings chosen on ML-1M
    # fold-0 validation (L2 0.03 / 0.1 / 0.3 at alpha 0.3, 128 wide: 0.1754 / 0.1794 / 0.1386; docs/baselines.md)
    "ials": ("hetrec.models.bprmf", "BPRMF", dict(loss="ials", ials_alpha=0.3, reg_weight=0.1, embedding_size=128)),
    "lightgcn": ("hetrec.models.lightgcn", "LightGCN", {}),
    # LightGCN trained with MTHGT's loss (fairness: a training change that is not model-specific);
    # temperature chosen on Last.FM fold-0 validation among 0.1 / 0.2 / 0.5 (docs/mthgt.md)
    "lightgcn-softmax": ("hetrec.models.lightgcn", "LightGCN", dict(num_negatives=64, loss="softmax",
                                                                     temperature=0.5)),
    "ngcf": ("hetrec.models.ngcf", "NGCF", {}),
    "pinsage": ("hetrec.models.pinsage", "PinSage", {}),
    "pinsage-ui": ("hetrec.models.pinsage_ui", "PinSageUI", {}),
    "hin2vec": ("hetrec.models.hin2vec", "HIN2Vec", {}),
    # RecBole 1.2.1's MultiVAE settings (2048 users per batch, 64-wide z, noise N(0, 0.01²)): fold-0
    # validation NDCG@10 0.1402 vs 0.1365 (Last.FM) and 0.1552 vs 0.1501 (ML-1M) with the paper's
    # (500, 200, N(0, 1)), which MultVAEConfig keeps as its defaults (docs/baselines.md)
    "multvae": ("hetrec.models.vae", "MultVAE", dict(batch_size=2048, latent_size=64, noise_std=0.01)),
    "xsimgcl": ("hetrec.models.simgcl", "XSimGCL", {}),
    # cold-start baselines (docs/coldstart.md); lightfm needs the optional extra hetrec[lightfm]
    "attr-mostpop": ("hetrec.models.coldstart", "AttributeMostPop", {}),
    "attr-profile": ("hetrec.models.coldstart", "AttributeProfile", {}),
    "lightfm": ("hetrec.models.lightfm", "LightFM", {}),
    # Kula's cold-start setting: the cold node type described by its attribute values only (its
    # feature rows normalised to sum 1, or binary: -raw); the warm type keeps identity features
    # (rows normalised)
    "lightfm-attr": ("hetrec.models.lightfm", "LightFM", dict(identity="warm-types")),  # normalize="all"
    "lightfm-attr-raw": ("hetrec.models.lightfm", "LightFM", dict(identity="warm-types", normalize="identity-types")),
}


#: training-loop settings each model is meant to be trained with (chosen on Last.FM fold-0
#: validation; docs/results.md, docs/mthgt.md). The CLI uses them where no flag is given, and
#: ``benchmarks/accuracy.py`` uses them for its tables.
TRAINING = {
    # lr, patience and the model's initialisation chosen on Last.FM fold-0 validation (docs/results.md)
    # patience 20 (was RecBole's 10): Last.FM fold-0 validation NDCG@10 0.1320 (best epoch 138)
    # against 0.1269 (106), the curve has plateaus longer than 10 epochs at lr 1e-3 (docs/baselines.md)
    "bprmf": dict(lr=1e-3, epochs=300, patience=20),
    "ials": dict(lr=1e-3, epochs=300, patience=10),
    # patience 20 and up to 300 epochs (were 5 and 100), offered as to bprmf: Last.FM fold-0
    # validation NDCG@10 0.1513 (best epoch 122) against 0.1451 (78); patience 20 alone ran into
    # the 100-epoch cap (0.1480 at epoch 100) (docs/baselines.md)
    "lightgcn": dict(lr=5e-3, epochs=300, patience=20),
    "lightgcn-softmax": dict(lr=5e-3, epochs=100, patience=5),
    # RecBole 1.2.1's NGCF training (lr 1e-3, up to 300 epochs): Last.FM fold-0 validation NDCG@10
    # 0.1336 against 0.1260 with lr 5e-3 / patience 5; patience 20 instead of RecBole's 10, as
    # bprmf: 0.1446 (best epoch 176) against 0.1336 (89) (docs/baselines.md)
    "ngcf": dict(lr=1e-3, epochs=300, patience=20),
    "hin2vec": dict(lr=5e-3, epochs=30, patience=3),
    "pinsage": dict(lr=1e-2, epochs=30, patience=3),
    # patience 20, as bprmf: Last.FM fold-0 validation NDCG@10 0.1211 (best epoch 173) against
    # 0.1144 (103) with 10 (docs/baselines_pinsage_hin2vec.md)
    "pinsage-ui": dict(lr=1e-3, epochs=200, patience=20),
    # patience 10, as both mthgt studies chose (the recipe's was 5; docs/mthgt.md)
    "mthgt": dict(lr=1e-2, epochs=200, patience=10),
    "mthgt-cl": dict(lr=1e-2, epochs=200, patience=5),
    "mthgt-cold": dict(lr=1e-2, epochs=200, patience=5),
    "mthgt-coldmean": dict(lr=1e-2, epochs=200, patience=10),
    "mthgt-coldmap": dict(lr=1e-2, epochs=200, patience=10),
    "mthgt-coldmap2": dict(lr=1e-2, epochs=200, patience=10),
    "mthgt-minibatch": dict(lr=1e-2, epochs=200, patience=10),
    "mthgt-ials": dict(lr=1e-2, epochs=200, patience=10),
    "hgt-mb": dict(lr=1e-2, epochs=200, patience=5),
    "hgt-d-mb": dict(lr=1e-2, epochs=200, patience=5),
    "hgt-m-mb": dict(lr=1e-2, epochs=200, patience=5),
    "mthgt-dm-mb": dict(lr=1e-2, epochs=200, patience=5),
    "hgt": dict(lr=5e-3, epochs=40, patience=5),
    "hgt-d": dict(lr=5e-3, epochs=40, patience=5),
    "hgt-m": dict(lr=5e-3, epochs=40, patience=5),
    "mthgt-sampled": dict(lr=5e-3, epochs=40, patience=5),
    "mthgt-paper": dict(lr=5e-3, epochs=20, patience=3),
    # no early stop before epoch 50: on Last.FM an epoch is one step of 2,048 users, and a seed can
    # dip below its first validation score for more than 10 steps before it learns (docs/baselines.md)
    # patience 20 instead of RecBole's 10, as bprmf: Last.FM fold-0 validation NDCG@10 0.1416 (best
    # epoch 165) against 0.1402 (122) (docs/baselines.md)
    "multvae": dict(lr=1e-3, epochs=300, patience=20, min_epochs=50),
    # patience 20: on Last.FM validation NDCG@10 dips for ~11 epochs after epoch 3 (the noise and
    # the contrastive term dominate while the Xavier-initialised embeddings are small), then
    # rises to its best at epoch 51; patience 10 stopped the run in the dip (docs/baselines.md)
    "xsimgcl": dict(lr=1e-3, epochs=200, patience=20),
}


def training_settings(name: str) -> dict:
    """The recommended ``TrainConfig`` settings (lr, epochs, patience) of model ``name``."""
    model_class(name)  # unknown names fail here
    return dict(TRAINING.get(name, {}))


def model_class(name: str):
    try:
        module, cls, _ = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}") from None
    return getattr(importlib.import_module(module), cls)


def model_config(name: str, **overrides):
    """The typed config of model ``name`` with its preset and ``overrides`` applied."""
    cls = model_class(name)
    preset = dict(MODELS[name][2])
    preset.update(overrides)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(preset) - fields)
    if unknown:
        raise ValueError(f"model {name!r} has no setting {', '.join(unknown)}; "
                         f"its settings are: {', '.join(sorted(fields))}")
    cfg = dataclasses.replace(cls.Config(), **preset)
    check_config(cfg, getattr(cls, "_CHOICES", None), name, getattr(cls, "_MINIMUMS", None))
    return cfg


def upgrade_config(name: str, saved: dict) -> dict:
    """Settings saved by an older hetrec, completed so that they rebuild the same model.

    MTHGT runs saved before hetrec's recipe (their settings have no ``conv``) were the paper's
    recipe: the settings they lack are taken from :data:`MTHGT_PAPER`, not from today's defaults.
    """
    saved = dict(saved)
    if MODELS.get(name, ("", ""))[1] == "MTHGT":
        if "conv" not in saved:
            saved = {**MTHGT_PAPER, **saved}
        if isinstance(saved.get("attention"), bool):  # True / False: edge attention / none
            saved["attention"] = "edge" if saved["attention"] else "none"
    return saved


def create_model(name: str, **overrides) -> Recommender:
    """A fresh, un-setup model by registry name."""
    model = model_class(name)(model_config(name, **overrides))
    model.name = name
    return model


__all__ = ["COLD_START_MODELS", "MODELS", "MTHGT_PAPER", "MTHGT_RECOMMENDED", "SAMPLED", "upgrade_config", "TRAINING",
           "LossOutput", "Recommender", "check_config", "create_model", "model_class", "model_config",
           "training_settings"]
