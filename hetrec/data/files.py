"""Where data lives, checksums, downloads and archive extraction.

Every file a dataset reads is verified against its published digest before use
(:func:`verify_file`). Downloads go to a temporary ``.part`` file that is renamed only when
complete; archive members are checked against path traversal before extraction.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from .._io import atomic_write_bytes  # noqa: F401 - re-exported (historical home)
from .errors import ChecksumError, DataError

ENV_DATA = "HETREC_DATA"
ENV_CACHE = "HETREC_CACHE"


def data_root(root=None) -> Path:
    """``root`` if given, else ``$HETREC_DATA``, else ``~/.hetrec/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".hetrec" / "data"


def cache_root() -> Path:
    """Where processed graphs are cached: ``$HETREC_CACHE`` or ``~/.hetrec/cache``."""
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".hetrec" / "cache"


def file_digest(path, algorithm: str = "sha256", chunk_size: int = 1 << 20) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path, algorithm: str, expected: str, verify: bool = True) -> str:
    """Check ``path``'s digest. Returns the digest actually found.

    With ``verify=False`` a mismatch only warns (the caller chose to load unverified data).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    found = file_digest(path, algorithm)
    if found != expected:
        msg = (f"{algorithm} checksum mismatch: expected {expected}, found {found}. "
               "The file is not the published original (corrupted, partial or edited).")
        if verify:
            raise ChecksumError(msg + " Pass verify=False (--no-verify) to load it anyway, unverified.", path)
        warnings.warn(f"{path}: loading UNVERIFIED data: {msg}", stacklevel=3)
    return found


def download(url: str, path, *, algorithm: str | None = None, expected: str | None = None,
             progress: bool | None = None, timeout: float = 60.0) -> Path:
    """Download ``url`` (http, https or file) to ``path``.

    The bytes go to ``path + '.part'`` and are renamed only when the transfer is complete and,
    if ``expected`` is given, its digest matches. On any failure nothing is left at ``path``
    nor at the ``.part`` file. A progress bar is written to stderr when ``progress`` is true
    (default: when stderr is a terminal).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    if progress is None:
        progress = sys.stderr.isatty()
    h = hashlib.new(algorithm) if expected else None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            with tqdm(total=total or None, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=f"downloading {Path(url).name}", disable=not progress, file=sys.stderr) as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
                    if h is not None:
                        h.update(block)
                    done += len(block)
                    bar.update(len(block))
        if total and done != total:
            raise DataError(f"download of {url} incomplete: {done} of {total} bytes", path)
        if h is not None and h.hexdigest() != expected:
            raise ChecksumError(f"{algorithm} checksum mismatch for {url}: expected {expected}, "
                                f"found {h.hexdigest()}; the download was removed", path)
        os.replace(part, path)
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        if isinstance(err, DataError):
            raise
        raise DataError(f"could not download {url}: {err}", path) from err
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return path


def safe_member_path(name: str) -> PurePosixPath:
    """The archive member name as a relative path, or a ``DataError`` if it would escape the
    extraction folder (absolute path, ``..`` component, drive letter)."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise DataError(f"archive member {name!r} would be written outside the target folder; "
                        "refusing to extract")
    return p


def extract_members(archive, dest, members: list) -> None:
    """Extract ``members`` (names inside the zip) of ``archive`` into ``dest`` atomically.

    Every member of the archive is checked against path traversal first, then the wanted ones
    are written into a temporary folder next to ``dest`` which is renamed into place.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise DataError(f"not a valid zip archive ({err})", archive) from err
    with zf:
        names = zf.namelist()
        for name in names:
            safe_member_path(name)
        missing = [m for m in members if m not in names]
        if missing:
            raise DataError(f"archive lacks {missing}", archive)
        for m in members:  # a symbolic-link member could point anywhere: data files are plain files
            if stat.S_ISLNK(zf.getinfo(m).external_attr >> 16):
                raise DataError(f"archive member {m!r} is a symbolic link; refusing to extract", archive)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=dest.name + ".", suffix=".tmp"))
        try:
            for m in members:
                target = tmp / safe_member_path(m).name
                with zf.open(m) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
