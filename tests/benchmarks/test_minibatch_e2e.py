"""benchmarks/minibatch_e2e.py: its evaluation against a by-hand count, and a tiny run end to end."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def e2e(load_benchmark):
    return load_benchmark("minibatch_e2e", "minibatch_e2e")


@pytest.fixture(scope="module")
def small():
    from hetrec.data import ITEM, USER, kfold_split, synthetic

    g = synthetic(num_users=60, num_items=80, num_interactions=900, seed=3)
    split = kfold_split(g, k=5, seed=0)[0]
    return split, g.nodes[ITEM].data["category"].numpy(), g.nodes[USER].data["cluster"].numpy()


def test_cluster_share_and_ndcg_against_a_by_hand_count(e2e, small):
    split, item_cluster, user_cluster = small
    users = np.flatnonzero(np.diff(split.test.indptr) > 0)[:25]
    scores = torch.as_tensor(np.random.default_rng(0).random((split.train.shape[0], len(item_cluster))),
                             dtype=torch.float32)
    got = e2e.evaluate(lambda ids: scores[ids], split, users, item_cluster, user_cluster, chunk=7)
    shares, ndcgs = [], []
    seen = (split.train + split.val).tolil()
    for u in users:
        s = scores[u].numpy().copy()
        s[seen.rows[u]] = -np.inf
        top = np.argsort(-s, kind="stable")[:10]
        shares.append(np.mean(item_cluster[top] == user_cluster[u]))
        rel = set(split.test[u].indices)
        dcg = sum(1 / np.log2(r + 2) for r, i in enumerate(top) if i in rel)
        ndcgs.append(dcg / sum(1 / np.log2(r + 2) for r in range(min(len(rel), 10))))
    assert got["users"] == len(users)
    assert got["cluster_share@10"] == pytest.approx(np.mean(shares))
    assert got["NDCG@10"] == pytest.approx(np.mean(ndcgs), rel=1e-5)
    # an oracle that ranks the user's planted cluster first fills the top 10 with its unseen items
    oracle = torch.as_tensor(item_cluster[None, :] == user_cluster[:, None], dtype=torch.float32)
    best = [min(10, np.sum(item_cluster == user_cluster[u]) - np.sum(item_cluster[seen.rows[u]] == user_cluster[u])) / 10
            for u in users]
    got = e2e.evaluate(lambda ids: oracle[ids], split, users, item_cluster, user_cluster)
    assert got["cluster_share@10"] == pytest.approx(np.mean(best))


def test_a_tiny_run_learns_the_planted_clusters_and_refuses_a_used_folder(e2e, tmp_path):
    args = ["--interactions", "6000", "--steps", "40", "--batch", "256", "--pool", "256", "--refresh", "10",
            "--eval-users", "200", "--log-every", "10", "--out", str(tmp_path)]
    e2e.main(args)
    row = json.loads((tmp_path / "e2e.json").read_text())
    assert row["steps"] == 40 and row["steps_with_refresh"] == 4
    assert row["trained"]["cluster_share@10"] > row["untrained"]["cluster_share@10"] + 0.1
    assert row["loss_first_last"][1] < row["loss_first_last"][0]
    assert len((tmp_path / "progress.jsonl").read_text().splitlines()) == 4
    with pytest.raises(SystemExit, match="one run per folder"):
        e2e.main(args)


def test_a_stopped_run_resumes_to_the_numbers_of_a_run_never_stopped(e2e, tmp_path):
    """Checkpoints at refresh steps, the epoch's generator state and the skipped batches make a
    resumed run train exactly the steps an uninterrupted one does (losses, metrics, evaluations)."""
    args = ["--interactions", "3000", "--epochs", "2.5", "--batch", "256", "--pool", "256", "--refresh", "5",
            "--checkpoint-every", "5", "--eval-every", "10", "--eval-users", "100", "--log-every", "5",
            "--set", "hidden_size=16"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    e2e.main(args + ["--out", str(whole)])
    e2e.main(args + ["--out", str(parts), "--stop-after", "0"])  # stops at the first checkpoint (step 5)
    assert not (parts / "e2e.json").exists() and (parts / "checkpoint.pt").exists()
    e2e.main(args + ["--out", str(parts), "--stop-after", "0"])  # one more segment, ends at step 10
    e2e.main(args + ["--out", str(parts)])
    a, b = (json.loads((d / "e2e.json").read_text()) for d in (whole, parts))
    assert a["steps"] == b["steps"] == round(2.5 * a["steps_per_epoch"]) and a["steps_per_epoch"] > 5
    assert [s["from_step"] for s in b["segments"]] == [0, 5, 10] and len(a["segments"]) == 1
    assert b["trained"] == a["trained"] and b["loss_first_last"] == a["loss_first_last"]
    assert b["trained"] != a["untrained"]

    def lines(d):
        return [{k: v for k, v in json.loads(x).items() if k not in ("s", "rss_mib", "eval_s")}
                for x in (d / "progress.jsonl").read_text().splitlines()]

    assert lines(parts) == lines(whole) and sum("eval" in x for x in lines(whole)) >= 2
    assert not (parts / "checkpoint.pt").exists()  # a finished run keeps only its record


def test_resume_refuses_other_settings_and_a_foreign_checkpoint(e2e, tmp_path):
    args = ["--interactions", "3000", "--steps", "12", "--batch", "256", "--pool", "256", "--refresh", "5",
            "--checkpoint-every", "5", "--eval-users", "50", "--set", "hidden_size=16", "--out", str(tmp_path)]
    e2e.main(args + ["--stop-after", "0"])
    with pytest.raises(SystemExit, match=r"other settings \(lr: 0.01 -> 0.02\)"):
        e2e.main(args + ["--lr", "0.02"])
    torch.save({"weights": torch.zeros(2)}, tmp_path / "checkpoint.pt")
    with pytest.raises(SystemExit, match="not a checkpoint this script wrote"):
        e2e.main(args)
    with pytest.raises(SystemExit, match="multiple of --refresh"):
        e2e.main(args[:-2] + ["--checkpoint-every", "7", "--out", str(tmp_path / "x")])
