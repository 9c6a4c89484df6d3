"""Up-front checks of the paths a command is given: before anything is read or written, a path
that cannot serve is named with its problem in one line.

:func:`path_problem` looks at a path as the command will use it — a folder or a file, read or
written — without creating anything: names over the file system's limit, symbolic links that
loop or point nowhere, a file where a folder is needed (the path itself or any folder above it),
a folder where a file is needed, and, for what will be written, whether the nearest existing
folder can take it (permissions, a read-only or full file system). The CLI runs it on every path
option (``hetrec.cli_common.CheckedPath``); what strikes later (a disk that fills mid-run) is
caught where it happens (``hetrec.cli_common.CommandGroup``).
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

KINDS = ("dir", "file")
ROLES = ("read", "write")


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _stat_problem(path: Path) -> tuple | None:
    """``(path, reason)`` when ``os.stat`` cannot look at ``path`` for a reason other than its
    absence, else None."""
    try:
        os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return path, "a symbolic link to a missing target"
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            return path, "a loop of symbolic links"
        if err.errno == errno.ENOTDIR:
            return _file_in_the_way(path), "a file where a folder is needed"
        if err.errno == errno.ENAMETOOLONG:
            return path, "File name too long"
        return path, err.strerror or str(err)
    return None


def _file_in_the_way(path: Path) -> Path:
    """The first ancestor of ``path`` that exists and is not a folder (``path``'s parent if none)."""
    for a in reversed(path.parents):
        try:
            if a.exists() and not a.is_dir():
                return a
        except OSError:
            break
    return path.parent


def _writable(folder: Path) -> str | None:
    """Why ``folder`` (an existing folder) cannot take a new file, or None."""
    try:
        st = os.statvfs(folder)
    except OSError as err:
        return err.strerror or str(err)
    if st.f_flag & os.ST_RDONLY:
        return "Read-only file system"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "Permission denied"
    if st.f_bavail == 0 and os.geteuid() != 0 or st.f_bfree == 0:
        return "No space left on device"
    return None


def path_problem(path, kind: str = "dir", role: str = "read") -> tuple | None:
    """``(offending path, reason)`` when ``path`` cannot serve as a ``kind`` ("dir" or "file")
    that the command will ``role`` ("read": it must exist; "write": it may exist or be created,
    with its missing folders), else None. Nothing is created."""
    if kind not in KINDS or role not in ROLES:
        raise ValueError(f"kind must be one of {KINDS} and role one of {ROLES}, got {kind!r}, {role!r}")
    path = Path(os.path.abspath(os.fsdecode(path)))
    # every name within the limit of the folder it would live in
    for part in path.parts[1:]:
        if len(os.fsencode(part)) > _name_max(path.anchor):
            return path, "does not exist (File name too long)" if role == "read" else "File name too long"
    found = _stat_problem(path)
    if found:
        return found
    exists = os.path.lexists(path) and os.path.exists(path)
    if role == "read":
        if not exists:
            return path, "does not exist"
        if kind == "dir" and not path.is_dir():
            return path, "not a folder"
        if kind == "file" and path.is_dir():
            return path, "Is a directory"
        if not os.access(path, os.R_OK | (os.X_OK if kind == "dir" else 0)):
            return path, "Permission denied"
        return None
    if exists:
        if kind == "dir" and not path.is_dir():
            return path, "a file where a folder is needed"
        if kind == "file" and path.is_dir():
            return path, "Is a directory"
        reason = _writable(path if kind == "dir" else path.parent)
        return (path, reason) if reason else None
    # to be created: the nearest existing folder above must be a folder that can take it
    for a in path.parents:
        found = _stat_problem(a)
        if found:
            return found
        if os.path.exists(a):
            if not a.is_dir():
                return a, "a file where a folder is needed"
            reason = _writable(a)
            return (a, reason) if reason else None
    return None


__all__ = ["path_problem", "KINDS", "ROLES"]
