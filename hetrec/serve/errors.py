"""The error of serving."""
from __future__ import annotations


class ServeError(ValueError):
    """A serving request that cannot be answered: an unknown user or item, a model that cannot do
    what was asked, a bad output file. The message is one line meant for a user."""


__all__ = ["ServeError"]
