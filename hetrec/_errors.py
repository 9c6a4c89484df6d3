"""Operating-system errors as one line: ``<path>: <reason>``.

Python's :class:`OSError` carries the reason (``strerror``) and the file (``filename``,
``filename2``) apart; DGL's C++ library raises its own error type whose text is a check that
failed followed by a C++ stack trace, and its file writer reports a full disk only as
``FileStream.Write incomplete``. :func:`error_line` turns both into the line a user can act on;
``hetrec``'s command line ends every such error with it (``hetrec.cli_common``), and the parts
that call DGL's writers find the reason from the folder they were writing (:func:`native_os_error`).
This module imports nothing of hetrec (every layer may use it).
"""
from __future__ import annotations

import errno
import os
import re

#: errors whose reason a DGL message may spell out, most specific first
_KNOWN = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG, errno.ENOTDIR,
          errno.EISDIR, errno.ENOENT, errno.EIO)
#: ``[12:00:00] /path/file.cc:38: `` before DGL's (dmlc's) messages
_NATIVE_PREFIX = re.compile(r"^\s*\[[0-9:]+\]\s+\S+:\d+:\s*")


def _name(value) -> str:
    return os.fsdecode(value) if isinstance(value, (str, bytes, os.PathLike)) else str(value)


def os_error_line(err: OSError) -> str:
    """``"<file>: <reason>"`` (``"<file> -> <other file>: <reason>"`` for a rename), or the
    reason alone when the error names no file. A file standing where a folder belongs
    (``ENOTDIR``, or ``EEXIST`` from making a folder) is named itself."""
    reason = err.strerror or (os.strerror(err.errno) if err.errno else "") or first_line(str(err)) or type(err).__name__
    names = [_name(n) for n in (err.filename, err.filename2) if n is not None]
    if err.errno in (errno.ENOTDIR, errno.EEXIST) and names:
        blocker = _file_in_the_way(names[0])
        if blocker is not None:
            return f"{blocker}: a file where a folder is needed"
    return f"{' -> '.join(names)}: {reason}" if names else reason


def _file_in_the_way(path: str) -> str | None:
    """The first of ``path`` and its parents that exists and is not a folder, if any."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(2, len(parts) + 1):
        here = os.sep.join(parts[:i])
        try:
            if os.path.exists(here) and not os.path.isdir(here):
                return here
        except (OSError, ValueError):
            return None
    return None


def first_line(text: str) -> str:
    """The first non-empty line of a message, without DGL's ``[time] file.cc:line:`` prefix
    (a C++ stack trace after it is dropped)."""
    for line in str(text).splitlines():
        if line.strip():
            return _NATIVE_PREFIX.sub("", line).strip()
    return ""


def is_native_error(err: BaseException) -> bool:
    """An error raised by DGL's C++ library (``dgl.DGLError``), recognised without importing DGL."""
    return any(c.__name__ == "DGLError" and c.__module__.startswith("dgl") for c in type(err).__mro__)


def _full(folder) -> bool:
    """Whether the file system holding ``folder`` (or its nearest existing parent) has no room."""
    path = os.path.abspath(_name(folder))
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024 or (st.f_files > 0 and st.f_favail == 0)


def native_os_error(err: BaseException, folder=None) -> OSError | None:
    """The :class:`OSError` behind an error of DGL's C++ library raised while it wrote into
    ``folder``, when its text or the file system tells it (a full disk shows only as
    ``FileStream.Write incomplete``); ``None`` when neither does."""
    text = str(err).lower()
    for code in _KNOWN:
        if os.strerror(code).lower() in text:
            return OSError(code, os.strerror(code), *([_name(folder)] if folder is not None else []))
    if folder is not None and _full(folder):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), _name(folder))
    return None


def error_line(err: BaseException) -> str | None:
    """One line for an operating-system error (:class:`OSError`, or DGL's C++ error type);
    ``None`` for anything else."""
    if isinstance(err, OSError):
        return os_error_line(err)
    if is_native_error(err):
        cause = native_os_error(err)
        return os_error_line(cause) if cause is not None else first_line(str(err))
    return None


__all__ = ["error_line", "first_line", "is_native_error", "native_os_error", "os_error_line"]
