"""Bad input: each error names the file (and line/field) and nothing is left half-written."""
import shutil

import pytest

from hetrec.data import ChecksumError, DataError, LastFM2K, MovieLens1M, load_dataset

ML_OK = {
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
    "movies.dat": "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure\n",
    "ratings.dat": "1::1::5::978300760\n2::1::3::978302109\n2::2::4::978301968\n",
}


def write_ml(tmp_path, **override):
    folder = tmp_path / "ml"
    folder.mkdir()
    for name, text in {**ML_OK, **override}.items():
        if text is not None:
            (folder / name).write_text(text, encoding="latin-1")
    return folder


def load_ml(folder):
    with pytest.warns(UserWarning, match="UNVERIFIED"):
        return MovieLens1M(root=folder, verify=False, cache=False)


def test_small_movielens_parses(tmp_path):
    ds = load_ml(write_ml(tmp_path))
    g = ds.graph
    assert g.num_nodes("user") == 2 and g.num_nodes("item") == 2
    assert g.edges["interacts"].data["rating"].tolist() == [5, 3, 4]
    assert sorted(ds.names["genre"]) == ["Adventure", "Animation", "Children's", "Comedy"]


def test_checksum_mismatch_names_file(tmp_path):
    folder = write_ml(tmp_path)
    with pytest.raises(ChecksumError, match=r"ratings\.dat.*md5 checksum mismatch"):
        MovieLens1M(root=folder, cache=False)


def test_missing_file_names_it_and_the_layout(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "users.dat").write_text(ML_OK["users.dat"])
    with pytest.raises(DataError, match=r"missing ratings\.dat, movies\.dat.*UserID::MovieID::Rating::Timestamp"):
        MovieLens1M(root=tmp_path, cache=False, verify=False)


def test_wrong_field_count_names_file_and_line(tmp_path):
    folder = write_ml(tmp_path, **{"ratings.dat": "1::1::5::978300760\n2::1::3\n"})
    with pytest.raises(DataError, match=r"ratings\.dat, line 2: expected 4 fields .* found 3"):
        load_ml(folder)


def test_non_integer_id_names_file_line_and_field(tmp_path):
    folder = write_ml(tmp_path, **{"ratings.dat": "1::1::5::978300760\n1::x2::3::978302109\n"})
    with pytest.raises(DataError, match=r"ratings\.dat, line 2, field 'item': expected an integer, found 'x2'"):
        load_ml(folder)


def test_rating_out_of_range(tmp_path):
    folder = write_ml(tmp_path, **{"ratings.dat": "1::1::5::978300760\n2::2::6::978302109\n"})
    with pytest.raises(DataError, match=r"ratings\.dat, line 2, field 'rating': value 6 outside .*1\.\.5"):
        load_ml(folder)


def test_empty_interaction_table(tmp_path):
    folder = write_ml(tmp_path, **{"ratings.dat": ""})
    with pytest.raises(DataError, match=r"ratings\.dat: no ratings"):
        load_ml(folder)


def test_duplicate_rating_is_reported(tmp_path):
    folder = write_ml(tmp_path, **{"ratings.dat": "1::1::5::978300760\n1::1::4::978300761\n"})
    with pytest.raises(DataError, match=r"ratings\.dat, line 2: duplicate entry"):
        load_ml(folder)


def test_unknown_ids_are_dropped_and_counted(tmp_path):
    folder = write_ml(tmp_path, **{"ratings.dat": "1::1::5::1\n1::99::3::2\n77::2::3::3\n2::2::1::4\n"})
    ds = load_ml(folder)
    assert ds.graph.num_edges("interacts") == 2
    assert ds.dropped == {"ratings with unknown user": 1, "ratings with unknown movie": 1}


def test_bad_encoding_names_line(tmp_path):
    folder = tmp_path / "ml"
    folder.mkdir()
    for n, t in ML_OK.items():
        (folder / n).write_text(t)
    (folder / "ratings.dat").write_bytes(b"1::1::5::1\n2::2::\xff::2\n")
    with pytest.raises(DataError, match=r"ratings\.dat, line 2: cannot decode"):
        load_ml(folder)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(DataError, match=r"unknown dataset 'movielens'; valid names: lastfm, ml-1m"):
        load_dataset("movielens")


@pytest.mark.realdata
def test_lastfm_bad_line_in_copy(lastfm_dir, tmp_path):
    folder = tmp_path / "hetrec2011-lastfm-2k"
    shutil.copytree(lastfm_dir, folder)
    p = folder / "user_artists.dat"
    p.chmod(0o644)
    lines = p.read_bytes().split(b"\r\n")
    lines[10] = b"2\tabc\t12"
    p.write_bytes(b"\r\n".join(lines))
    with pytest.raises(ChecksumError, match="user_artists.dat"):
        LastFM2K(root=tmp_path, cache=False)
    with pytest.warns(UserWarning), pytest.raises(DataError, match=r"user_artists\.dat, line 11, field 'item'"):
        LastFM2K(root=tmp_path, cache=False, verify=False)


def test_ratings_that_name_only_unknown_ids_are_refused(tmp_path):
    folder = write_ml(tmp_path, **{"ratings.dat": "7::1::5::978300760\n8::2::3::978302109\n"})
    with pytest.raises(DataError, match=r"no interactions left after loading \(ratings with unknown user: 2\)"):
        load_ml(folder)


@pytest.mark.parametrize("how, message", [("dangling", "a broken symbolic link"), ("folder", "a folder, not a file")])
def test_a_data_file_that_is_a_folder_or_a_broken_link_is_named(tmp_path, how, message):
    folder = write_ml(tmp_path, **{"ratings.dat": None})
    target = folder / "ratings.dat"
    if how == "dangling":
        target.symlink_to(tmp_path / "gone.dat")
    else:
        target.mkdir()
    with pytest.raises(DataError, match=f"ratings.dat: {message}"):
        MovieLens1M(root=folder, verify=False, cache=False, url="http://127.0.0.1:9/never-downloaded.zip")
    assert not (folder / "ml-1m.zip").exists() and not (folder / "ml-1m").exists()  # no download tried


@pytest.mark.realdata
def test_an_artists_file_that_drops_every_interaction(lastfm_dir, tmp_path):
    folder = tmp_path / "lfm"
    shutil.copytree(lastfm_dir, folder)
    (folder / "artists.dat").chmod(0o644)
    (folder / "artists.dat").write_text("id\tname\turl\tpictureURL\n999999\tnobody\thttp://x\thttp://y\n")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no interactions left after loading "
                                                                 r"\(interactions with unknown artist: 92,834"):
        LastFM2K(root=folder, cache=False, verify=False)
