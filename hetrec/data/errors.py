"""Errors raised for bad input data: each names the file (and line, field) at fault."""
from __future__ import annotations


class DataError(ValueError):
    """Input data is missing, malformed or fails verification.

    The message is meant for a user: it names the file, and the line and field when known.
    """

    def __init__(self, message: str, path=None, line: int | None = None, field: str | None = None):
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f", line {line}"
            if field is not None:
                where += f", field {field!r}"
            where += ": "
        super().__init__(where + message)
        self.path, self.line, self.field = path, line, field


class ChecksumError(DataError):
    """A file's digest differs from the published one."""
