"""Errors calfeed reports to its users.

Every failure a user can act on is a :class:`CalfeedError`. Problems in the operator's files
are collected as :class:`Problem` values, each pointing at a file, a line and a field, and
raised together as one :class:`CatalogError` so that ``calfeed check`` can show them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class CalfeedError(Exception):
    """Base class of every error calfeed raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in an operator's file, at a line and a field."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class CatalogError(CalfeedError):
    """The configuration or the event files have problems; nothing was loaded."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
