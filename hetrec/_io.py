"""File-writing primitives shared by the data, training and benchmark code.

* atomic writes: the bytes go to a temporary file in the target's folder, which is renamed over
  the target only when complete; on any failure (a full disk, an interrupt) the temporary file
  is removed and the target is left as it was;
* :func:`exclusive_lock`: an advisory lock (``flock``) on a lock file, released by the kernel
  when the holder exits, even on ``kill -9``, so a crashed run never leaves a stale lock.
"""
from __future__ import annotations

import errno
import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX; elsewhere folders are not locked (documented in docs/reliability.md)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        named = _naming(err, path)
        if named is err:
            raise
        raise named from None


def temporary_prefix(name: str, lead: str = "") -> str:
    """``lead + name + "."`` cut so that a temporary name made from it (a random part and a
    suffix added) stays within the 255 bytes a file name may have when ``name`` does."""
    cut = os.fsencode(name)[:200]
    return lead + os.fsdecode(cut.decode("utf-8", "ignore").encode()) + "."


def _naming(err: BaseException, path) -> BaseException:
    """``err``, with ``path`` as its file when it is an :class:`OSError` of a write through a
    descriptor, which names none (a full disk: ``[Errno 28] No space left on device``)."""
    if isinstance(err, OSError) and err.filename is None and err.errno is not None:
        return OSError(err.errno, err.strerror, str(path))
    return err


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj, path) -> None:
    """``torch.save`` into ``path`` atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


class LockedError(RuntimeError):
    """Another process holds the lock."""


@contextmanager
def exclusive_lock(path, what: str, wait: bool = False):
    """Hold an exclusive lock on the file ``path`` for the ``with`` block. When another
    process holds it: wait for it (``wait=True``, for short critical sections) or raise
    :class:`LockedError` at once. ``what`` names the locked thing in the message."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    raise LockedError(f"{what} is in use by another process"
                                      f"{f' (pid {holder})' if holder else ''}; wait for it to finish "
                                      "or use another folder") from None
                raise _naming(err, path) from None
            try:  # the holder's pid, for the message above (a full disk refuses even these bytes)
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            except OSError as err:
                raise _naming(err, path) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_torch_save", "exclusive_lock", "LockedError",
           "temporary_prefix"]
