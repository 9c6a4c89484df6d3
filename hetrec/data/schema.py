"""The common heterograph schema shared by every hetrec dataset (docs/index.md, "Datasets").

* Node types ``user`` and ``item`` always exist; attributes are node types of their own.
* The interaction relation is :data:`INTERACTS` with reverse :data:`INTERACTED_BY`.
* Every relation has a reverse, so messages flow both ways. Edge ``i`` of a relation and edge
  ``i`` of its reverse are the same fact: the builder adds both in the same order, so one edge-id
  array removes a fact in both directions.
* Each node type carries ``raw_id`` (int64), the id used in the source files.

Reverse names follow one rule (:func:`reverse_name`), so the reverse of any relation can be found
from the graph alone with :func:`reverse_etypes`.
"""
from __future__ import annotations

USER = "user"
ITEM = "item"
INTERACTS = ("user", "interacts", "item")
INTERACTED_BY = ("item", "interacted_by", "user")
#: item-item neighbours computed from a fold's training interactions (MTHGT's ``item_neighbors``)
SIMILAR_TO = ("item", "similar_to", "item")

#: Relation names whose reverse is not derived by the ``has_X`` / ``X_of`` rule.
_EXPLICIT_REVERSE = {
    "interacts": "interacted_by",
    "friend": "friend",  # symmetric: stored in both directions within one relation
    "tagged_with": "tag_of",
    "uses_tag": "tag_used_by",
    "similar_to": "similar_to",  # symmetric: item-item neighbours derived from training data
}
_EXPLICIT_REVERSE.update({v: k for k, v in list(_EXPLICIT_REVERSE.items())})


def reverse_name(rel: str) -> str:
    """Name of the reverse of relation ``rel`` (``has_genre`` <-> ``genre_of``)."""
    if rel in _EXPLICIT_REVERSE:
        return _EXPLICIT_REVERSE[rel]
    if rel.startswith("has_"):
        return rel[len("has_"):] + "_of"
    if rel.endswith("_of"):
        return "has_" + rel[: -len("_of")]
    raise KeyError(f"relation {rel!r} has no reverse under the hetrec naming rule")


def reverse_etypes(g) -> dict:
    """Map every canonical edge type of ``g`` to its reverse canonical edge type.

    Raises ``ValueError`` naming the relation when a reverse is missing from ``g``.
    Usable directly as ``reverse_etypes=`` of ``dgl.dataloading.as_edge_prediction_sampler``.
    """
    canon = set(g.canonical_etypes)
    out = {}
    for src, rel, dst in g.canonical_etypes:
        try:
            rev = (dst, reverse_name(rel), src)
        except KeyError as err:
            raise ValueError(str(err)) from None
        if rev not in canon:
            raise ValueError(f"relation {(src, rel, dst)} has no reverse {rev} in the graph")
        out[(src, rel, dst)] = rev
    return out


def attribute_ntypes(g) -> list:
    """Node types other than ``user`` and ``item``."""
    return [t for t in g.ntypes if t not in (USER, ITEM)]
