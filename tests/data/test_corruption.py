"""Property tests: corrupted copies of the real files and of user tables load into a correct
graph or fail with a DataError naming the file, never with another exception.

The base files are the first lines of the real MovieLens-1M and Last.FM files (a real sample,
small enough for many examples). A mutation changes one file: truncation, inserted bytes, one
field replaced by a hostile value, a field dropped or added, another encoding. When loading
succeeds, the interactions in the graph must equal a straightforward line-by-line parse of the
mutated file (so a silently wrong graph fails the test, not only a crash).
"""
import csv
import io
import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hetrec.data import INTERACTS, DataError, LastFM2K, MovieLens1M, from_tables

pytestmark = pytest.mark.realdata

HOSTILE = ["99999999999999999999", "9223372036854775808", "9223372036854775807", "-1", "-5", "0", "",
           "abc", "1.5", "1e3", "nan", "inf", "-inf", " 7 ", "\u0661\u0662", "\x00", "7\t8", "+3",
           "0x1F", "1,000", "١"]

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def head(path, n):
    data = path.read_bytes()
    lines = data.split(b"\n")
    return b"\n".join(lines[:n]) + b"\n"


@pytest.fixture(scope="module")
def ml_sample(ml1m_dir):
    return {"users.dat": head(ml1m_dir / "users.dat", 300), "movies.dat": head(ml1m_dir / "movies.dat", 600),
            "ratings.dat": head(ml1m_dir / "ratings.dat", 20000)}


@pytest.fixture(scope="module")
def lastfm_sample(lastfm_dir):
    return {"artists.dat": head(lastfm_dir / "artists.dat", 1500), "tags.dat": head(lastfm_dir / "tags.dat", 800),
            "user_artists.dat": head(lastfm_dir / "user_artists.dat", 3000),
            "user_friends.dat": head(lastfm_dir / "user_friends.dat", 1000),
            "user_taggedartists.dat": head(lastfm_dir / "user_taggedartists.dat", 3000)}


@st.composite
def mutations(draw, files: list, sep: bytes):
    name = draw(st.sampled_from(files))
    kind = draw(st.sampled_from(["truncate", "insert", "field", "drop_field", "extra_field", "encoding",
                                 "blank_line"]))
    return name, kind, draw(st.integers(0, 10**9)), draw(st.sampled_from(HOSTILE)), draw(
        st.binary(min_size=1, max_size=6)), sep


def mutate(data: bytes, kind, pos, value, junk, sep) -> bytes:
    lines = data.split(b"\n")
    i = pos % max(len(lines) - 1, 1)
    fields = lines[i].rstrip(b"\r").split(sep)
    if kind == "truncate":
        return data[: pos % (len(data) + 1)]
    if kind == "insert":
        p = pos % (len(data) + 1)
        return data[:p] + junk + data[p:]
    if kind == "field":
        fields[pos % len(fields)] = value.encode("utf-8")
    elif kind == "drop_field":
        fields = fields[:-1]
    elif kind == "extra_field":
        fields.append(b"1")
    elif kind == "encoding":
        return data.decode("latin-1").encode("utf-16")
    elif kind == "blank_line":
        lines.insert(i, b"")
        return b"\n".join(lines)
    lines[i] = sep.join(fields)
    return b"\n".join(lines)


def load_quietly(cls, folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(root=folder, verify=False, cache=False)


def load_mutated(cls, sample, m, folder):
    """Write ``sample`` with mutation ``m`` applied into ``folder`` and load it as ``cls``:
    ``(files, dataset)``, or ``(files, None)`` after checking the DataError names the folder."""
    name, kind, pos, value, junk, sep = m
    files = dict(sample)
    files[name] = mutate(files[name], kind, pos, value, junk, sep)
    for n, data in files.items():
        (folder / n).write_bytes(data)
    try:
        return files, load_quietly(cls, folder)
    except DataError as err:
        assert str(err).startswith(str(folder)), err  # names the file (folder/file, line, field)
        return files, None


def reference_pairs(data: bytes, sep: str, header: bool, encoding="utf-8"):
    """(user, item) raw id pairs, by a plain line loop (strict ASCII integers)."""
    text = data.decode(encoding)
    rows = text.splitlines()[1 if header else 0:]
    pairs = []
    for line in rows:
        if not line:
            continue
        f = line.split(sep)
        u, i = f[0].strip(), f[1].strip()
        assert all(c in "-0123456789" for c in u + i), (u, i)
        pairs.append((int(u), int(i)))
    return pairs


def graph_pairs(ds):
    g = ds.graph
    s, d = g.edges(etype=INTERACTS)
    ur, ir = g.nodes["user"].data["raw_id"], g.nodes["item"].data["raw_id"]
    return set(zip(ur[s].tolist(), ir[d].tolist()))


@SETTINGS
@given(m=mutations(["users.dat", "movies.dat", "ratings.dat"], b"::"))
def test_corrupted_movielens_loads_correctly_or_fails_cleanly(ml_sample, tmp_path_factory, m):
    files, ds = load_mutated(MovieLens1M, ml_sample, m, tmp_path_factory.mktemp("ml"))
    if ds is None:
        return
    movies = {int(line.split("::")[0]) for line in files["movies.dat"].decode("latin-1").splitlines() if line}
    users = {int(line.split("::")[0]) for line in files["users.dat"].decode("latin-1").splitlines() if line}
    expected = {(u, i) for u, i in reference_pairs(files["ratings.dat"], "::", header=False)
                if u in users and i in movies}
    assert graph_pairs(ds) == expected
    assert ds.graph.num_nodes("item") == len(movies) and ds.graph.num_nodes("user") == len(users)


@SETTINGS
@given(m=mutations(["artists.dat", "tags.dat", "user_artists.dat", "user_friends.dat", "user_taggedartists.dat"],
                   b"\t"))
def test_corrupted_lastfm_loads_correctly_or_fails_cleanly(lastfm_sample, tmp_path_factory, m):
    files, ds = load_mutated(LastFM2K, lastfm_sample, m, tmp_path_factory.mktemp("lfm"))
    if ds is None:
        return
    artists = {int(line.split("\t")[0]) for line in files["artists.dat"].decode("utf-8").splitlines()[1:] if line}
    expected = {(u, i) for u, i in reference_pairs(files["user_artists.dat"], "\t", header=True) if i in artists}
    assert graph_pairs(ds) == expected
    w = ds.graph.edges[INTERACTS].data["weight"]
    assert int(w.min()) >= 0


@SETTINGS
@given(row=st.integers(0, 199), column=st.sampled_from(["user", "item", "rating"]),
       value=st.sampled_from(HOSTILE + [None]), drop=st.sampled_from([None, "user", "item", "rating"]),
       extra=st.booleans())
def test_corrupted_tables_load_correctly_or_fail_cleanly(ml_sample, tmp_path, row, column, value, drop, extra):
    lines = ml_sample["ratings.dat"].decode().splitlines()[:200]
    buf = io.StringIO()
    w = csv.writer(buf)
    header = ["user", "item", "rating"] + (["note"] if extra else [])
    w.writerow([h for h in header if h != drop])
    for j, line in enumerate(lines):
        u, i, r, _ = line.split("::")
        cells = {"user": u, "item": i, "rating": r, "note": "x"}
        if j == row:
            cells[column] = "" if value is None else value
        w.writerow([cells[h] for h in header if h != drop])
    path = tmp_path / "interactions.csv"
    path.write_text(buf.getvalue())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = from_tables(path)
    except DataError as err:
        assert str(path) in str(err), err
        return
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    expected = set()
    for u, i in zip(df["user"], df["item"]):
        u, i = u.strip(), i.strip()
        assert u.lstrip("+-").isascii() and u.lstrip("+-").isdigit(), u
        assert i.lstrip("+-").isascii() and i.lstrip("+-").isdigit(), i
        expected.add((int(u), int(i)))
    assert graph_pairs(ds) == expected
    if "rating" in df:  # numbers everywhere (else the load had failed): kept as edge data, finite
        r = ds.graph.edges[INTERACTS].data["rating"]
        assert bool(r.double().isfinite().all()) and len(r) == len(expected)
