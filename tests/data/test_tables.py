"""Bring-your-own tables."""
import pandas as pd
import pytest
import torch

from hetrec.data import INTERACTS, DataError, from_tables, load_tables_dir, reverse_etypes


def frames():
    inter = pd.DataFrame({"user": [10, 10, 20, 30], "item": [1, 2, 2, 3], "rating": [5.0, 3.0, 4.0, 1.0]})
    country = pd.DataFrame({"user": [10, 20, 30, 40], "country": ["fr", "de", "fr", "it"]})
    genre = pd.DataFrame({"item": [1, 1, 2, 3, 4], "genre": ["a", "b", "a", "c", "c"]})
    names = pd.DataFrame({"item": [1, 2, 3, 4], "title": ["one", "two", "three", "four"]})
    return inter, country, genre, names


def test_from_dataframes_builds_schema():
    inter, country, genre, names = frames()
    ds = from_tables(inter, {"country": country}, {"genre": genre}, item_names=names)
    g = ds.graph
    assert g.num_nodes("user") == 4  # user 40 appears only in an attribute table
    assert g.num_nodes("item") == 4 and g.num_nodes("country") == 3 and g.num_nodes("genre") == 3
    assert g.num_edges(INTERACTS) == 4
    assert g.edges[INTERACTS].data["rating"].tolist() == [5.0, 3.0, 4.0, 1.0]
    assert g.nodes["user"].data["raw_id"].tolist() == [10, 20, 30, 40]
    assert len(reverse_etypes(g)) == len(g.canonical_etypes) == 6
    s, d = g.edges(etype=("user", "has_country", "country"))
    assert [ds.names["country"][c] for c in d.tolist()] == ["fr", "de", "fr", "it"]
    assert ds.item_name(2) == "three"


def test_csv_and_folder_round_trip(tmp_path):
    inter, country, genre, names = frames()
    inter.to_csv(tmp_path / "interactions.csv", index=False)
    country.to_csv(tmp_path / "user_country.csv", index=False)
    genre.to_csv(tmp_path / "item_genre.csv", index=False)
    names.to_csv(tmp_path / "items.csv", index=False)
    a = load_tables_dir(tmp_path).graph
    b = from_tables(inter, {"country": country}, {"genre": genre}).graph
    for et in b.canonical_etypes:
        assert torch.equal(torch.stack(a.edges(etype=et)), torch.stack(b.edges(etype=et)))


def test_parquet(tmp_path):
    inter, *_ = frames()
    inter.to_parquet(tmp_path / "i.parquet")
    assert from_tables(tmp_path / "i.parquet").graph.num_edges(INTERACTS) == 4


def test_bad_tables(tmp_path):
    inter, country, *_ = frames()
    with pytest.raises(DataError, match="interaction table is empty"):
        from_tables(inter.iloc[:0])
    with pytest.raises(DataError, match="missing column 'user'"):
        from_tables(inter.rename(columns={"user": "uid"}))
    bad = inter.astype({"item": object})
    bad.loc[2, "item"] = "x7"
    bad.to_csv(tmp_path / "interactions.csv", index=False)
    with pytest.raises(DataError, match=r"interactions\.csv, line 4, field 'item': expected an integer id, found 'x7'"):
        from_tables(tmp_path / "interactions.csv")
    with pytest.raises(DataError, match="table not found"):
        from_tables(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="exactly one value column"):
        from_tables(inter, {"country": country.assign(extra=1)})
    with pytest.raises(DataError, match="no interactions.csv"):
        load_tables_dir(tmp_path / "..")


def test_duplicate_pairs_keep_last_with_warning():
    inter = pd.DataFrame({"user": [1, 1, 2], "item": [1, 1, 1], "rating": [1.0, 5.0, 3.0]})
    with pytest.warns(UserWarning, match="1 rows repeat"):
        g = from_tables(inter).graph
    assert g.edges[INTERACTS].data["rating"].tolist() == [5.0, 3.0]


@pytest.mark.parametrize("name, problem", [
    ("", "non-empty"), (" country", "whitespace"), ("country ", "whitespace"), ("a:b", "':'"),
    ("a\\b", "'\\\\\\\\'"), ("tab\tx", "control characters"), ("x" * 101, "at most 100"),
])
def test_attribute_names_are_validated(name, problem):
    """Names of attributes (node types) are checked where they are read: from the dict of
    tables, or from a file name ``user_<attr>.csv``."""
    inter, country, *_ = frames()
    with pytest.raises(DataError, match=f"attribute name .*{problem}"):
        from_tables(inter, {name: country.rename(columns={"country": "v"})})


@pytest.mark.parametrize("stem", ["user_ spaced", "user_a:b", "user_"])
def test_attribute_names_from_file_names_are_validated(tmp_path, stem):
    inter, country, *_ = frames()
    inter.to_csv(tmp_path / "interactions.csv", index=False)
    country.to_csv(tmp_path / f"{stem}.csv", index=False)
    with pytest.raises(DataError, match="attribute name"):
        load_tables_dir(tmp_path)


def test_unicode_and_dashes_are_fine():
    inter, country, *_ = frames()
    ds = from_tables(inter, {"pays-é": country.rename(columns={"country": "v"})})
    assert "pays-é" in ds.graph.ntypes
