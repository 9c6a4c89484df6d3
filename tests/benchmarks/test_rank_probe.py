"""benchmarks/rank_probe.py: a full-rank truncation is EASE itself; a rank-1 one is not."""
import pytest


@pytest.fixture(scope="module")
def probe(load_benchmark):
    return load_benchmark("rank_probe", "rank_probe")


def test_truncations_at_full_rank_reproduce_ease_and_low_ranks_differ(probe):
    from hetrec.data import kfold_split, synthetic

    split = kfold_split(synthetic(num_users=40, num_items=30, num_interactions=500, seed=2), k=5, seed=0)[0]
    rows = probe.probe(split, reg=5.0, ranks=[1, 30])
    ease = rows[0]
    assert ease["model"] == "ease" and ease["share_of_ease"] == 1.0
    full = next(r for r in rows if r["model"] == "ease-svd" and r["rank"] == 30)
    assert full["NDCG@10"] == pytest.approx(ease["NDCG@10"], abs=1e-6)
    assert full["R@10"] == pytest.approx(ease["R@10"], abs=1e-6)
    one = next(r for r in rows if r["model"] == "ease-svd" and r["rank"] == 1)
    assert one["NDCG@10"] != pytest.approx(ease["NDCG@10"], abs=1e-6)
    assert {r["model"] for r in rows} == {"ease", "ease-svd", "puresvd"} and len(rows) == 5
