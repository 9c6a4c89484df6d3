"""MovieLens-1M and HetRec Last.FM 2K as ``dgl.data.DGLDataset`` subclasses.

Where the files come from, in order: the ``root`` argument, ``$HETREC_DATA``, ``~/.hetrec/data``.
Inside that root a dataset looks for its folder (``ml-1m`` / ``hetrec2011-lastfm-2k``); a root
that itself holds the extracted files is used as is. When neither exists the GroupLens archive
is downloaded, its members checked against path traversal, and the wanted files extracted.

Every file read is verified against its published digest; ``verify=False`` loads unverified data
with a warning. The processed graph is cached under ``$HETREC_CACHE`` (``~/.hetrec/cache``)
keyed by the digests of the raw files. The cache's ``.json`` records what it belongs to (the
dataset and the digests of its raw files) and the sha256 of its ``.bin``; a cache that is
damaged, edited or another dataset's is rebuilt from the files with a warning, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import dgl
import numpy as np
from dgl.data import DGLDataset

from .. import _schemas
from .._errors import first_line
from .._integrity import IntegrityError, parse_json, read_file_text, unseal, write_json
from .builder import Relation, SingleGraph, build_graph, count_pairs, encode_values, index_of
from .errors import ChecksumError, DataError
from .files import cache_root, data_root, download, extract_members, verify_file
from .parsing import check_range, check_unique, read_table
from .schema import INTERACTS, ITEM, USER

_CACHE_VERSION = 2  # 2: the .json records what the cache belongs to and the .bin's sha256


class HeteroRecDataset(SingleGraph, DGLDataset):
    """Base of the file-backed datasets: one heterograph plus names and load statistics.

    Attributes
    ----------
    graph : dgl.DGLGraph
        The heterograph in the hetrec schema (docs/index.md, "Datasets").
    names : dict[str, list[str]]
        Display names per node type where the source has them (item titles, tag values).
    dropped : dict[str, int]
        Rows dropped while loading because they name an id missing from the reference file.
    verified : bool
        Whether every file read matched its published digest.
    """

    #: folder name inside the data root and inside the archive
    folder: str = ""
    archive_url: str = ""
    #: file name -> (algorithm, digest)
    files: dict = {}
    layout: str = ""

    def __init__(self, root=None, verify: bool = True, url: str | None = None,
                 force_reload: bool = False, verbose: bool = False, cache: bool = True):
        self.root = data_root(root)
        self.verify = verify
        self.use_cache = cache
        self._digests: dict | None = None
        self.names: dict = {}
        self.dropped: dict = {}
        self.graph = None
        super().__init__(name=self.folder, url=url or self.archive_url, raw_dir=str(self.root),
                         save_dir=str(cache_root()), force_reload=force_reload, verbose=verbose)

    # -- where the files are --------------------------------------------------------------------
    @property
    def raw_path(self) -> str:
        """The folder holding the extracted files: ``root`` itself when it holds any of them
        (even a broken one: that is then reported by name, never "fixed" by a download),
        else ``root/<folder>``."""
        if any(_present(self.root / f) for f in self.files):
            return str(self.root)
        return str(self.root / self.folder)

    def download(self):
        """Fetch the GroupLens archive and extract the files this dataset reads."""
        archive = self.root / Path(self.url).name
        if not archive.is_file():
            try:
                download(self.url, archive, progress=self.verbose or None)
            except DataError as err:
                raise DataError(
                    f"{err}\nNo local copy either: put the extracted files ({', '.join(self.files)}) "
                    f"in {self.root / self.folder}, or point HETREC_DATA / --data-dir at a folder "
                    "that holds them.") from None
        dest = Path(self.raw_path)
        extract_members(archive, dest, [f"{self.folder}/{f}" for f in self.files])
        try:
            self._check_files()
        except ChecksumError:
            shutil.rmtree(dest, ignore_errors=True)  # never keep a download that failed verification
            archive.unlink(missing_ok=True)
            raise

    def _check_files(self) -> dict:
        """Verify every file (once per instance); returns name -> digest found."""
        if self._digests is None:
            folder = Path(self.raw_path)
            for f in self.files:
                problem = _file_problem(folder / f)
                if problem is not None and problem != "missing":
                    raise DataError(f"{problem}; expected the {self.folder} file {f} ({self.layout})", folder / f)
            missing = [f for f in self.files if not (folder / f).is_file()]
            if missing:
                raise DataError(f"missing {', '.join(missing)}; expected the extracted "
                                f"{self.folder} files: {self.layout}", folder)
            self._digests = {f: verify_file(folder / f, algo, digest, self.verify)
                             for f, (algo, digest) in self.files.items()}
            self.verified = all(self._digests[f] == d for f, (_, d) in self.files.items())
        return self._digests

    # -- cache -------------------------------------------------------------------------------
    def _cache_stem(self) -> Path:
        key = json.dumps([_CACHE_VERSION, self._check_files()], sort_keys=True).encode()
        return Path(self.save_dir) / f"{self.folder}-{hashlib.sha256(key).hexdigest()[:16]}"

    def has_cache(self) -> bool:
        if not self.use_cache or not Path(self.raw_path).is_dir():
            return False
        stem = self._cache_stem()
        try:
            return stem.with_suffix(".bin").is_file() and stem.with_suffix(".json").is_file()
        except OSError:  # a cache folder that cannot be looked at (a name too long, ...): no cache
            return False

    def save(self):
        """Write the processed graph to the cache; any failure (a read-only or full disk, an
        error inside DGL's writer) is a warning, leaves no partial file and keeps the loaded
        graph in use. The ``.bin`` is renamed into place before its ``.json``, and a cache
        counts only when both exist."""
        if not self.use_cache:
            return
        stem = self._cache_stem()
        tmp = None
        try:
            stem.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=stem.parent, prefix=stem.name + ".", suffix=".bin.tmp")
            os.close(fd)
            dgl.save_graphs(tmp, [self.graph])
            bin_sha256 = _file_sha256(tmp)
            os.replace(tmp, stem.with_suffix(".bin"))
            tmp = None
            info = {"names": self.names, "dropped": self.dropped, "bin_sha256": bin_sha256}
            write_json(stem.with_suffix(".json"), info, self._cache_identity())
        except Exception as err:  # noqa: BLE001 - DGL raises its own error types on a full disk
            _discard(stem.with_suffix(".bin"))  # never a .bin without its .json
            warnings.warn(f"could not write the dataset cache in {stem.parent} "
                          f"({type(err).__name__}: {first_line(str(err))}); "
                          "continuing without it", stacklevel=2)
        finally:
            if tmp is not None:
                _discard(Path(tmp))

    def _cache_identity(self) -> dict:
        return {"dataset": self.folder, "cache_version": _CACHE_VERSION,
                "files": hashlib.sha256(json.dumps(self._check_files(), sort_keys=True).encode()).hexdigest()}

    def load(self):
        """Read the cached graph after checking it: its ``.json`` (schema, digest, that it
        belongs to this dataset and these raw files) and the sha256 of its ``.bin``. A cache
        that fails any check (truncated, a flipped bit, edited, another dataset's) is rebuilt
        from the verified files with a warning, never trusted and never fatal."""
        stem = self._cache_stem()
        info_path, bin_path = stem.with_suffix(".json"), stem.with_suffix(".bin")
        try:
            doc = parse_json(read_file_text(info_path), info_path)
            _schemas.check(doc, _schemas.CACHE_INFO, info_path)
            info = unseal(doc, info_path, self._cache_identity())
            found = _file_sha256(bin_path)
            if found != info["bin_sha256"]:
                raise IntegrityError(f"{bin_path}: changed since it was written (sha256 {found[:12]}…, "
                                     f"{info_path.name} records {info['bin_sha256'][:12]}…)")
            graphs, _ = dgl.load_graphs(str(bin_path))
            self.graph = graphs[0]
            self.names, self.dropped = info["names"], info["dropped"]
        except Exception as err:  # noqa: BLE001 - any damage to the cache means: rebuild it
            why = str(err).splitlines()[0] if isinstance(err, ValueError) and str(err) else type(err).__name__
            warnings.warn(f"unreadable dataset cache {stem}.bin ({why}); rebuilding it from the files", stacklevel=2)
            self.process()
            self.save()

    # -- processing --------------------------------------------------------------------------
    def process(self):
        self._check_files()
        graph = self._build(Path(self.raw_path))
        if graph.num_edges(INTERACTS) == 0 or graph.num_nodes(ITEM) == 0:
            why = "; ".join(f"{k}: {v:,}" for k, v in self.dropped.items()) or "the files hold none"
            raise DataError(f"no interactions left after loading ({why}): the files do not fit together",
                            self.raw_path)
        self.graph = graph

    def _build(self, folder: Path) -> dgl.DGLGraph:
        raise NotImplementedError



def _file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
def _discard(path: Path) -> None:
    """Remove a cache file if there is one; the clean-up after a failed cache write never fails
    itself (a read-only file system refuses even to unlink a missing file)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _present(path: Path) -> bool:
    """Anything at ``path``: a file, a folder or a (possibly broken) symbolic link."""
    return path.exists() or path.is_symlink()


def _file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a data file (None when it can)."""
    if path.is_file():
        return None if os.access(path, os.R_OK) else "not readable (permissions)"
    if path.is_symlink() and not path.exists():
        return f"a broken symbolic link (to {os.readlink(path)})"
    if path.is_dir():
        return "a folder, not a file"
    if path.exists():
        return "not a regular file"
    return "missing"


def _drop_unknown(df, column, known, what, dropped):
    """Map raw ids of ``column`` to node indices; drop rows naming unknown ids, counting them."""
    idx = index_of(df[column].to_numpy(), known)
    keep = idx >= 0
    n_bad = int((~keep).sum())
    if n_bad:
        dropped[what] = dropped.get(what, 0) + n_bad
    return df.loc[keep].assign(**{column: idx[keep]})


class MovieLens1M(HeteroRecDataset):
    """GroupLens MovieLens-1M as a heterograph.

    Node types: ``user`` (6,040), ``item`` (3,883 movies, all of movies.dat), and the attribute
    types ``gender``, ``age``, ``occupation`` (users.dat) and ``genre`` (movies.dat).
    Relations: ``interacts`` (edge data ``rating``, ``timestamp``), ``has_gender``, ``has_age``,
    ``has_occupation``, ``has_genre``, each with its reverse. Zip codes are not used.

    The partial copy of ratings.dat in the development data fails verification; load it with
    ``verify=False`` and never report its accuracy as "MovieLens-1M".
    """

    folder = "ml-1m"
    archive_url = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
    files = {
        "ratings.dat": ("md5", "a89aa3591bc97d6d4e0c89459ff39362"),
        "users.dat": ("sha256", "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3"),
        "movies.dat": ("sha256", "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9"),
    }
    layout = ("ratings.dat (UserID::MovieID::Rating::Timestamp), users.dat "
              "(UserID::Gender::Age::Occupation::Zip-code), movies.dat (MovieID::Title::Genres, latin-1)")

    def _build(self, folder):
        sep = "::"
        users = read_table(folder / "users.dat", {"user": "int", "gender": "str", "age": "int",
                           "occupation": "int", "zip": "str"}, sep, encoding="latin-1",
                           layout="UserID::Gender::Age::Occupation::Zip-code")
        check_unique(users, ["user"], folder / "users.dat")
        movies = read_table(folder / "movies.dat", {"item": "int", "title": "str", "genres": "str"},
                            sep, encoding="latin-1", layout="MovieID::Title::Genres")
        check_unique(movies, ["item"], folder / "movies.dat")
        ratings = read_table(folder / "ratings.dat", {"user": "int", "item": "int", "rating": "int",
                             "timestamp": "int"}, sep, layout="UserID::MovieID::Rating::Timestamp")
        if len(ratings) == 0:
            raise DataError("no ratings: the interaction table is empty", folder / "ratings.dat")
        check_range(ratings, "rating", 1, 5, folder / "ratings.dat")
        for df, name in ((users, "users.dat"), (movies, "movies.dat"), (ratings, "ratings.dat")):
            for col in ("user", "item", "timestamp", "age", "occupation"):
                if col in df:  # GroupLens ids start at 1; times and codes are not negative
                    check_range(df, col, 1 if col in ("user", "item") else 0, 2**63 - 1, folder / name)
        check_unique(ratings, ["user", "item"], folder / "ratings.dat")

        users = users.sort_values("user")
        movies = movies.sort_values("item")
        user_ids = users["user"].to_numpy()
        item_ids = movies["item"].to_numpy()
        self.dropped = {}
        r = _drop_unknown(ratings, "user", user_ids, "ratings with unknown user", self.dropped)
        r = _drop_unknown(r, "item", item_ids, "ratings with unknown movie", self.dropped)

        rels = {INTERACTS: Relation(r["user"].to_numpy(), r["item"].to_numpy(),
                                    {"rating": r["rating"].to_numpy(), "timestamp": r["timestamp"].to_numpy()})}
        num_nodes = {USER: len(user_ids), ITEM: len(item_ids)}
        raw_ids = {USER: user_ids, ITEM: item_ids}
        names = {ITEM: movies["title"].tolist()}
        uidx = np.arange(len(user_ids))
        for attr in ("gender", "age", "occupation"):
            codes, raw, vals = encode_values(users[attr])
            rels[(USER, f"has_{attr}", attr)] = Relation(uidx, codes)
            num_nodes[attr], raw_ids[attr], names[attr] = len(raw), raw, vals
        genres = movies["genres"].str.split("|").explode()
        codes, raw, vals = encode_values(genres)
        item_pos = np.searchsorted(item_ids, movies["item"].to_numpy())
        owner = np.repeat(item_pos, movies["genres"].str.count(r"\|").to_numpy() + 1)
        rels[(ITEM, "has_genre", "genre")] = Relation(owner, codes)
        num_nodes["genre"], raw_ids["genre"], names["genre"] = len(raw), raw, vals
        self.names = names
        return build_graph(num_nodes, rels, raw_ids)


class LastFM2K(HeteroRecDataset):
    """HetRec 2011 Last.FM 2K as a heterograph.

    Node types: ``user`` (1,892), ``item`` (17,632 artists, all of artists.dat), ``tag``
    (11,946, all of tags.dat). Relations: ``interacts`` (edge data ``weight``, the play count),
    ``friend`` (user-user, stored in both directions, its own reverse), ``tagged_with``
    (item -> tag, ``count`` = users who gave that tag to that artist) and ``uses_tag``
    (user -> tag, ``count`` = assignments), each with its reverse. Tag assignments naming an
    artist missing from artists.dat are dropped and counted in :attr:`dropped`.
    """

    folder = "hetrec2011-lastfm-2k"
    archive_url = "https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip"
    files = {
        "user_artists.dat": ("sha256", "001400dc3c7d2667fca6e4ea6dc6acc31a9dd28ad5cd0f74cea988c019934d3b"),
        "user_friends.dat": ("sha256", "9a3a8f7fa5f5ec832335e5b58ed69a4cf27c6f6f6afcde62134810eea46445a7"),
        "user_taggedartists.dat": ("sha256", "d31fe938fcfeed6f0059f37a36b156f63674d073fc2553e5cc9dc1595e365bc7"),
        "tags.dat": ("sha256", "e95175f259be4c0c47644ae23d66131cd6d5767142a1405000e79f5584691d70"),
        "artists.dat": ("sha256", "c173881362c6b28551368fecb3c0be5a6a30a6cd859e1f5775413dfe46d48648"),
    }
    layout = ("tab-separated with a header line: user_artists.dat (userID, artistID, weight), "
              "user_friends.dat (userID, friendID), user_taggedartists.dat (userID, artistID, tagID, "
              "day, month, year), tags.dat (tagID, tagValue; latin-1), artists.dat (id, name, url, pictureURL)")

    def _build(self, folder):
        t = "\t"
        artists = read_table(folder / "artists.dat", {"item": "int", "name": "str", "url": "str",
                             "picture": "str"}, t, header=True, layout="id\tname\turl\tpictureURL")
        check_unique(artists, ["item"], folder / "artists.dat")
        tags = read_table(folder / "tags.dat", {"tag": "int", "value": "str"}, t, header=True,
                          encoding="latin-1", layout="tagID\ttagValue")
        check_unique(tags, ["tag"], folder / "tags.dat")
        ua = read_table(folder / "user_artists.dat", {"user": "int", "item": "int", "weight": "int"}, t,
                        header=True, layout="userID\tartistID\tweight")
        if len(ua) == 0:
            raise DataError("no interactions: the table is empty", folder / "user_artists.dat")
        check_range(ua, "weight", 0, 2**63 - 1, folder / "user_artists.dat")  # play counts
        check_unique(ua, ["user", "item"], folder / "user_artists.dat")
        uf = read_table(folder / "user_friends.dat", {"user": "int", "friend": "int"}, t, header=True,
                        layout="userID\tfriendID")
        uta = read_table(folder / "user_taggedartists.dat", {"user": "int", "item": "int", "tag": "int",
                         "day": "int", "month": "int", "year": "int"}, t, header=True,
                         layout="userID\tartistID\ttagID\tday\tmonth\tyear")

        for df, name in ((artists, "artists.dat"), (tags, "tags.dat"), (ua, "user_artists.dat"),
                         (uf, "user_friends.dat"), (uta, "user_taggedartists.dat")):
            for col in ("user", "item", "tag", "friend"):
                if col in df:  # the HetRec ids are positive
                    check_range(df, col, 1, 2**63 - 1, folder / name)
        artists = artists.sort_values("item")
        tags = tags.sort_values("tag")
        item_ids = artists["item"].to_numpy()
        tag_ids = tags["tag"].to_numpy()
        user_ids = np.unique(np.concatenate([ua["user"], uf["user"], uf["friend"], uta["user"]]))
        self.dropped = {}
        ua = _drop_unknown(ua, "item", item_ids, "interactions with unknown artist", self.dropped)
        ua = ua.assign(user=index_of(ua["user"].to_numpy(), user_ids))
        uf = uf.assign(user=index_of(uf["user"].to_numpy(), user_ids),
                       friend=index_of(uf["friend"].to_numpy(), user_ids))
        uta = _drop_unknown(uta, "item", item_ids, "tag assignments with unknown artist", self.dropped)
        uta = _drop_unknown(uta, "tag", tag_ids, "tag assignments with unknown tag", self.dropped)
        uta = uta.assign(user=index_of(uta["user"].to_numpy(), user_ids))

        it_i, it_t, it_c = count_pairs(uta["item"].to_numpy(), uta["tag"].to_numpy())
        ut_u, ut_t, ut_c = count_pairs(uta["user"].to_numpy(), uta["tag"].to_numpy())
        rels = {
            INTERACTS: Relation(ua["user"].to_numpy(), ua["item"].to_numpy(), {"weight": ua["weight"].to_numpy()}),
            (USER, "friend", USER): Relation(uf["user"].to_numpy(), uf["friend"].to_numpy(), symmetric=True),
            (ITEM, "tagged_with", "tag"): Relation(it_i, it_t, {"count": it_c}),
            (USER, "uses_tag", "tag"): Relation(ut_u, ut_t, {"count": ut_c}),
        }
        num_nodes = {USER: len(user_ids), ITEM: len(item_ids), "tag": len(tag_ids)}
        raw_ids = {USER: user_ids, ITEM: item_ids, "tag": tag_ids}
        self.names = {ITEM: artists["name"].tolist(), "tag": tags["value"].tolist()}
        return build_graph(num_nodes, rels, raw_ids)


DATASETS = {"lastfm": LastFM2K, "ml-1m": MovieLens1M}


def load_dataset(name: str, root=None, verify: bool = True, **kwargs) -> HeteroRecDataset:
    """A dataset by its short name (``lastfm``, ``ml-1m``)."""
    try:
        cls = DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}") from None
    return cls(root=root, verify=verify, **kwargs)
