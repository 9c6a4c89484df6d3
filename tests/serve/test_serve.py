"""Serving (hetrec.serve, hetrec recommend / export): batch top-k against the single-user
reference, folding in against numpy, atomic files, bad input as one line with a non-zero exit."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from click.testing import CliRunner

import hetrec
from hetrec.cli import main
from hetrec.eval import recommend as recommend_one
from hetrec.serve import ServeError, read_user_ids, top_k_unseen, write_table


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def tables_dir(tmp_path_factory):
    from hetrec.data import synthetic

    d = tmp_path_factory.mktemp("tables")
    g = synthetic(num_users=40, num_items=60, num_interactions=600, seed=3)
    u, i = g.edges(etype="interacts")
    pd.DataFrame({"user": u.numpy() + 100, "item": i.numpy() + 1000}).to_csv(d / "interactions.csv", index=False)
    pd.DataFrame({"item": range(1000, 1060), "name": [f"song {j}" for j in range(60)]}).to_csv(d / "items.csv", index=False)
    return d


@pytest.fixture(scope="module")
def runs(tables_dir, tmp_path_factory):
    """One trained run folder per model (two epochs for the trained ones)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for model in ("bprmf", "ease", "itemknn", "mostpop", "pinsage"):
        extra = ["--epochs", "2", "--set", "batch_size=128"] if model in ("bprmf", "pinsage") else []
        r = run("train", "--tables", tables_dir, "--model", model, "--fold", "0", "--out", root / model, *extra)
        assert r.exit_code == 0, r.output
        out[model] = root / model
    return out


# -- the vectorised core --------------------------------------------------------------------------

def test_top_k_unseen_matches_a_per_row_sort():
    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.standard_normal((23, 17)).astype(np.float32))
    exclude = sp.random(23, 17, density=0.4, format="lil", random_state=1)
    exclude[5, :] = 1.0  # a user with nothing left
    exclude[6, :] = 0.0
    exclude[6, :14] = 1.0  # three left, fewer than k
    exclude = sp.csr_matrix(exclude)
    pos, rank, item, score = top_k_unseen(lambda p: scores[p].clone(), np.arange(23), 5, exclude, chunk_size=4)
    for u in range(23):
        s = scores[u].numpy().copy()
        s[exclude[u].indices] = -np.inf
        order = [j for j in np.argsort(-s, kind="stable") if np.isfinite(s[j])][:5]
        assert item[pos == u].tolist() == order
        assert rank[pos == u].tolist() == list(range(1, len(order) + 1))
        np.testing.assert_allclose(score[pos == u], s[order])
    assert (pos == 5).sum() == 0 and (pos == 6).sum() == 3


# -- batch recommend against the single-user reference ---------------------------------------------

@pytest.mark.parametrize("model", ["bprmf", "ease", "itemknn"])
def test_batch_recommend_matches_single_user_recommend(runs, model):
    served = hetrec.load_run(runs[model])
    users = served.user_ids[::3]
    table = served.recommend(users, k=7, chunk_size=4)  # several chunks
    assert list(table.columns) == ["user", "rank", "item", "item_name", "score"]
    assert table["user"].drop_duplicates().tolist() == users.tolist()
    for u in users:
        ref = recommend_one(served.model, served.dataset, int(u), 7)
        got = table[table["user"] == u]
        assert got["rank"].tolist() == [r[0] for r in ref]
        np.testing.assert_allclose(got["score"], [r[3] for r in ref], rtol=1e-5, atol=1e-8)
        if not _near_ties([r[3] for r in ref]):
            assert got["item"].tolist() == [r[1] for r in ref]
            assert got["item_name"].tolist() == [r[2] for r in ref]
    everyone = served.recommend(None, k=7)
    assert everyone["user"].nunique() == len(served.user_ids)
    lists = served.recommend(users[:2], k=3, lists=True)
    assert list(lists) == users[:2].tolist() and all(len(v) == 3 for v in lists.values())


def test_cli_all_users_and_users_file_write_csv_and_parquet(runs, tmp_path):
    served = hetrec.load_run(runs["bprmf"])
    ref = served.recommend(None, k=5)
    r = run("recommend", "--run", runs["bprmf"], "--all-users", "-k", 5, "--output", tmp_path / "all.csv")
    assert r.exit_code == 0, r.output
    got = pd.read_csv(tmp_path / "all.csv")
    assert got[["user", "rank", "item", "item_name"]].equals(ref[["user", "rank", "item", "item_name"]])
    np.testing.assert_allclose(got["score"], ref["score"], rtol=1e-5)
    (tmp_path / "users.txt").write_text("\n".join(map(str, served.user_ids[[4, 1, 9]])) + "\n\n")
    r = run("recommend", "--run", runs["bprmf"], "--users", tmp_path / "users.txt", "-k", 5,
            "--output", tmp_path / "some.parquet")
    assert r.exit_code == 0, r.output
    got = pd.read_parquet(tmp_path / "some.parquet")
    assert got["user"].drop_duplicates().tolist() == served.user_ids[[4, 1, 9]].tolist()
    pd.DataFrame({"name": ["a", "b"], "uid": served.user_ids[[2, 3]]}).to_csv(tmp_path / "users.csv", index=False)
    r = run("recommend", "--run", runs["bprmf"], "--users", tmp_path / "users.csv", "--users-column", "uid",
            "--output", tmp_path / "csvcol.csv")
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "csvcol.csv")["user"].drop_duplicates().tolist() == served.user_ids[[2, 3]].tolist()


def test_cli_single_user_still_prints(runs):
    served = hetrec.load_run(runs["ease"])
    u = int(served.user_ids[0])
    r = run("recommend", "--run", runs["ease"], "--user", u, "-k", 4)
    assert r.exit_code == 0, r.output
    assert f"top 4 items for user {u}" in r.output
    ref = recommend_one(served.model, served.dataset, u, 4)
    assert [int(ln.split()[1]) for ln in r.output.splitlines()[1:]] == [x[1] for x in ref]


# -- new users given by items (folding in) --------------------------------------------------------

def _near_ties(scores) -> bool:
    """Whether two neighbours in a top list have (nearly) the same score: their order may then
    differ between two float computations."""
    scores = np.asarray(scores, dtype=np.float64)
    return bool(np.any(np.abs(np.diff(scores)) <= 1e-5 * np.abs(scores).max()))


def _history(served, raw_items):
    cols = served.item_index(raw_items)
    return sp.csr_matrix((np.ones(len(cols)), (np.zeros(len(cols), dtype=int), cols)), shape=(1, len(served.item_ids)))


def _trained_items(served, n, seed=0):
    trained = np.flatnonzero(np.diff(sp.csc_matrix(served.split.train).indptr) > 0)
    return served.item_ids[np.random.default_rng(seed).choice(trained, n, replace=False)]


def test_fold_in_item_item_models_is_history_times_matrix(runs):
    for model in ("ease", "itemknn"):
        served = hetrec.load_run(runs[model])
        items = _trained_items(served, 4)
        x = _history(served, items).toarray()[0]
        if model == "ease":
            b = np.zeros((len(x), len(x)), dtype=np.float64)
            a = served.model.active_items
            b[np.ix_(a, a)] = served.model.weights.numpy()
        else:
            b = served.model.similarity.toarray()
        expected = x @ b
        expected[x > 0] = -np.inf
        table = served.recommend_items(items.tolist(), k=5)
        top = np.argsort(-expected, kind="stable")[:5]
        np.testing.assert_allclose(table["score"], expected[top], rtol=1e-4, atol=1e-5)
        assert not set(table["item"]) & set(items.tolist())
        # a known user's own training row folded in gives that user's scores
        u = 3
        row = served.split.train[u]
        np.testing.assert_allclose(served.model.scores_from_history(row).numpy(),
                                   served.model.scores(torch.tensor([u])).numpy(), rtol=1e-5, atol=1e-7)


def test_fold_in_embedding_model_is_the_mean_of_item_vectors(runs):
    served = hetrec.load_run(runs["bprmf"])
    items = _trained_items(served, 3, seed=1)
    users, vectors = served.embeddings()
    idx = served.item_index(items)
    expected = vectors @ vectors[idx].mean(0)
    expected[idx] = -np.inf
    table = served.recommend_items(items.tolist(), k=6)
    top = np.argsort(-expected, kind="stable")[:6]
    np.testing.assert_allclose(table["score"], expected[top], rtol=1e-4, atol=1e-8)
    if not _near_ties(expected[top]):
        assert table["item"].tolist() == served.item_ids[top].tolist()
    # several new users at once: the same rows as one at a time
    many = served.recommend_items([items.tolist(), items[:1].tolist()], k=6)
    assert many[many["user"] == 0]["item"].tolist() == table["item"].tolist()
    np.testing.assert_allclose(users @ vectors.T, served.model.scores(torch.arange(len(users))).numpy(),
                               rtol=1e-4, atol=1e-8)


def test_fold_in_pinsage_uses_its_own_user_rule(runs):
    served = hetrec.load_run(runs["pinsage"])
    u = 2
    row = served.split.train[u]
    np.testing.assert_allclose(served.model.scores_from_history(row).numpy(),
                               served.model.scores(torch.tensor([u])).numpy(), rtol=1e-4, atol=1e-8)


def test_cli_items_prints_a_new_users_list(runs):
    served = hetrec.load_run(runs["itemknn"])
    items = _trained_items(served, 3)
    r = run("recommend", "--run", runs["itemknn"], "--items", ",".join(map(str, items)), "-k", 4)
    assert r.exit_code == 0, r.output
    assert "a new user with 3 item(s)" in r.output and len(r.output.strip().splitlines()) == 5


# -- export ----------------------------------------------------------------------------------------

def test_export_npz_and_parquet(runs, tmp_path):
    served = hetrec.load_run(runs["bprmf"])
    users, items = served.embeddings()
    r = run("export", "--run", runs["bprmf"], "--out", tmp_path / "emb.npz")
    assert r.exit_code == 0, r.output
    z = np.load(tmp_path / "emb.npz")
    assert z["user_ids"].tolist() == served.user_ids.tolist() and z["item_names"][0] == "song 0"
    np.testing.assert_array_equal(z["item_embeddings"], items)
    r = run("export", "--run", runs["bprmf"], "--out", tmp_path / "emb.parquet")
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(tmp_path / "emb.parquet")
    assert (df["kind"] == "user").sum() == len(users) and (df["kind"] == "item").sum() == len(items)
    np.testing.assert_array_equal(np.stack(df[df["kind"] == "user"]["embedding"].to_numpy()), users)


def test_export_faiss_index(runs, tmp_path):
    faiss = pytest.importorskip("faiss")
    served = hetrec.load_run(runs["bprmf"])
    users, items = served.embeddings()
    for kind in ("faiss", "faiss-flat"):
        r = run("export", "--run", runs["bprmf"], "--out", tmp_path / f"{kind}.npz", "--index", kind)
        assert r.exit_code == 0, r.output
        index = faiss.read_index(str(tmp_path / f"{kind}.faiss"))
        assert index.ntotal == len(items)
        _, got = index.search(users, 5)
        exact = np.argsort(-(users @ items.T), axis=1, kind="stable")[:, :5]
        recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(got, exact)])
        assert recall >= (0.999 if kind == "faiss-flat" else 0.95)


def test_export_refuses_a_model_without_embeddings(runs, tmp_path):
    r = run("export", "--run", runs["ease"], "--out", tmp_path / "e.npz")
    assert r.exit_code == 1 and "ease has no user and item embeddings" in r.output
    assert not (tmp_path / "e.npz").exists()


def test_export_without_faiss_names_the_extra(runs, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    r = run("export", "--run", runs["bprmf"], "--out", tmp_path / "e.npz", "--index", "faiss")
    assert r.exit_code == 1 and "hetrec[serve]" in r.output and "Traceback" not in r.output


# -- bad input: one line, non-zero exit, no file ---------------------------------------------------

def _one_line_error(r, message):
    assert r.exit_code != 0, r.output
    assert message in r.output, r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_bad_input_is_one_line(runs, tables_dir, tmp_path):
    b = runs["bprmf"]
    out = tmp_path / "out.csv"
    (tmp_path / "empty.txt").write_text("\n \n")
    (tmp_path / "unknown.txt").write_text("100\n7\n")
    (tmp_path / "words.txt").write_text("100\nabc\n")
    cases = [
        (["--users", tmp_path / "unknown.txt", "--output", out], "unknown user 7"),
        (["--users", tmp_path / "empty.txt", "--output", out], "no user ids (the file is empty)"),
        (["--users", tmp_path / "words.txt", "--output", out], "line 2: 'abc' is not a user id"),
        (["--all-users", "--output", tmp_path / "nowhere" / "out.csv"], "does not exist"),
        (["--all-users", "--output", tmp_path / "out.txt"], "unsupported extension '.txt'"),
        (["--items", "1000,99999"], "unknown item 99999"),
        (["--attributes", "gender=F"], "unknown user attribute 'gender': users of this dataset have no attributes"),
        (["--user", 7], "unknown user 7"),
        (["--user", "99999999999999999999999"], "unknown user 99999999999999999999999"),
        (["--items", "1000,99999999999999999999999"], "unknown item 99999999999999999999999"),
        (["--all-users", "--output", out, "--fold", 3], "no trained model for fold 3"),
    ]
    for args, message in cases:
        _one_line_error(run("recommend", "--run", b, *args), message)
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_an_item_the_model_never_saw_in_a_history(runs):
    import dataclasses

    from hetrec.serve import ServedRun

    served = hetrec.load_run(runs["itemknn"])
    train = served.split.train.tolil()
    train[:, 7] = 0  # item 7 without a training interaction
    split = dataclasses.replace(served.split, train=sp.csr_matrix(train))
    other = ServedRun(served.model, served.dataset, split, fold=0)
    with pytest.raises(ServeError, match="no interaction in the training data of fold 0, so the model never saw it"):
        other.recommend_items([int(served.item_ids[7])])


def test_usage_errors_exit_2(runs, tmp_path):
    r = run("recommend", "--run", runs["bprmf"], "--all-users")
    assert r.exit_code == 2 and "--output" in r.output
    r = run("recommend", "--run", runs["bprmf"], "--all-users", "--user", 100)
    assert r.exit_code == 2 and "one of" in r.output
    r = run("recommend", "--run", runs["bprmf"], "--all-users", "--output", tmp_path / "x.csv", "--users-column", "u")
    assert r.exit_code == 2 and "--users-column goes with --users" in r.output


def test_write_table_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "t.csv"
    target.write_text("old\n")
    df = pd.DataFrame({"user": [1], "rank": [1], "item": [2], "item_name": ["x"], "score": [0.5]})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_table(df, target)
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_read_user_ids(tmp_path):
    (tmp_path / "a.txt").write_text("1\n\n 2 \n-3\n")
    assert read_user_ids(tmp_path / "a.txt").tolist() == [1, 2, -3]
    (tmp_path / "b.csv").write_text("user,x\n5,a\n6,b\n")
    assert read_user_ids(tmp_path / "b.csv", "user").tolist() == [5, 6]
    with pytest.raises(ServeError, match="--users-column"):
        read_user_ids(tmp_path / "b.csv")
    with pytest.raises(ServeError, match="no column 'uid'"):
        read_user_ids(tmp_path / "b.csv", "uid")
    (tmp_path / "c.txt").write_text("99999999999999999999999\n")
    with pytest.raises(ServeError, match="beyond 64 bits"):
        read_user_ids(tmp_path / "c.txt")


# -- a new user given by attribute values (cold start) ---------------------------------------------

@pytest.fixture(scope="module")
def attribute_run(tables_dir, tmp_path_factory):
    """A run on the tables plus a user attribute (country), trained as mthgt-coldmap (1 epoch)."""
    import shutil

    d = tmp_path_factory.mktemp("attr_tables")
    for f in tables_dir.iterdir():
        shutil.copy(f, d / f.name)
    users = pd.read_csv(d / "interactions.csv")["user"].drop_duplicates()
    pd.DataFrame({"user": users, "country": np.where(users % 3 == 0, "FR", np.where(users % 3 == 1, "DE", "IT"))}
                 ).to_csv(d / "user_country.csv", index=False)
    out = tmp_path_factory.mktemp("attr_runs") / "coldmap"
    r = run("train", "--tables", d, "--model", "mthgt-coldmap", "--fold", "0", "--epochs", "1", "--out", out)
    assert r.exit_code == 0, r.output
    return out


def test_a_new_user_from_attributes_is_the_models_cold_start_scorer(attribute_run):
    """recommend_new_user adds the user with her attribute (and item) edges and ranks with the
    model's cold_start_scorer: the same scores as a graph built by hand with DGL's add_nodes /
    add_edges; her given items are not recommended back."""
    from hetrec.data import INTERACTED_BY, INTERACTS, USER

    served = hetrec.load_run(attribute_run)
    g = served.split.train_graph.clone()
    new = g.num_nodes(USER)
    fr = served.dataset.names["country"].index("FR")
    g.add_nodes(1, ntype=USER)
    g.add_edges(torch.tensor([new]), torch.tensor([fr]), etype=("user", "has_country", "country"))
    g.add_edges(torch.tensor([fr]), torch.tensor([new]), etype=("country", "country_of", "user"))
    want = served.model.cold_start_scorer(g, {USER: torch.tensor([new])})(torch.tensor([new]))[0].detach().numpy()
    table = served.recommend_new_user({"country": "FR"}, k=5)
    assert table["item"].tolist() == served.item_ids[np.argsort(-want, kind="stable")[:5]].tolist()
    np.testing.assert_allclose(table["score"], np.sort(want)[::-1][:5], rtol=1e-5, atol=1e-6)
    # another country, another list; items given too: they are not recommended back
    assert served.recommend_new_user({"country": "DE"}, k=5)["score"].tolist() != table["score"].tolist()
    given = table["item"].tolist()[:2]
    with_items = served.recommend_new_user({"country": "FR"}, items=given, k=5)
    assert not set(given) & set(with_items["item"])
    g.add_edges(torch.tensor([new, new]), torch.from_numpy(served.item_index(given)), etype=INTERACTS)
    g.add_edges(torch.from_numpy(served.item_index(given)), torch.tensor([new, new]), etype=INTERACTED_BY)
    want = served.model.cold_start_scorer(g, {USER: torch.tensor([new])})(torch.tensor([new]))[0].detach().numpy()
    want[served.item_index(given)] = -np.inf
    assert with_items["item"].tolist() == served.item_ids[np.argsort(-want, kind="stable")[:5]].tolist()


def test_new_user_attributes_from_the_command_line(attribute_run, runs):
    r = run("recommend", "--run", attribute_run, "--attributes", "country=IT", "-k", "3")
    assert r.exit_code == 0, r.output
    assert "a new user with country=IT" in r.output and r.output.count("\n") == 4
    _one_line_error(run("recommend", "--run", attribute_run, "--attributes", "country=XX"), "unknown country value 'XX'")
    _one_line_error(run("recommend", "--run", attribute_run, "--attributes", "planet=Mars"), "unknown user attribute 'planet'")
    _one_line_error(run("recommend", "--run", runs["bprmf"], "--attributes", "country=IT"), "unknown user attribute")
    r = run("recommend", "--run", attribute_run, "--attributes", "country")
    assert r.exit_code == 2 and "KEY=VALUE" in r.output
