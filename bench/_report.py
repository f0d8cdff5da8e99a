"""Figures of a benchmark run: calfeed beside its peer, the ratio, the target, in one table.

Each figure is printed as soon as it is measured, and again at the end in a summary table of
every figure of the run. A ratio is always calfeed's figure divided by the peer's: above 1 a
time or a size is larger than the peer's, below 1 a rate is lower. A target bounds either the
ratio or calfeed's own figure, and the line says whether this run met it.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

# How each unit is printed: (scale from the unit given, unit shown, decimals).
_UNITS = {
    "s": (1.0, "s", 2),
    "ms": (1.0, "ms", 1),
    "MB": (1.0, "MB", 0),
    "req/s": (1.0, "req/s", 0),
    "mails/s": (1.0, "mails/s", 0),
    "x": (1.0, "×", 2),
}


def quantity(value: float | None, unit: str) -> str:
    """Return ``value`` written in ``unit``, or a dash when there is none."""
    if value is None:
        return "—"
    scale, shown, decimals = _UNITS[unit]
    return f"{value * scale:,.{decimals}f} {shown}"


@dataclass(frozen=True)
class Target:
    """A bound on the ratio (``on="ratio"``) or on calfeed's figure (``on="value"``)."""

    most: float | None = None
    least: float | None = None
    on: str = "ratio"
    note: str = ""  # e.g. "at 50,000 subscribers"

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        """Tell whether the figure meets the bound; None when it cannot be told."""
        measured = ratio if self.on == "ratio" else value
        if measured is None:
            return None
        if self.most is not None and measured > self.most:
            return False
        return not (self.least is not None and measured < self.least)

    def text(self, unit: str) -> str:
        """Write the bound as a person reads it."""
        subject = "ratio" if self.on == "ratio" else "calfeed"
        bound = (
            f"≤ {self._number(self.most, unit)}"
            if self.most is not None
            else f"≥ {self._number(self.least, unit)}"
        )
        return f"{subject} {bound}" + (f" ({self.note})" if self.note else "")

    def _number(self, number: float | None, unit: str) -> str:
        assert number is not None
        return f"{number:g}" if self.on == "ratio" else quantity(number, unit)


@dataclass(frozen=True)
class Figure:
    name: str
    ours: float | None
    unit: str
    peer: float | None
    peer_name: str
    target: Target | None
    applies: bool

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.peer:
            return None
        return self.ours / self.peer

    def cells(self) -> list[str]:
        ratio = "—" if self.ratio is None else f"{self.ratio:.3g}"
        peer = f"{self.peer_name} {quantity(self.peer, self.unit)}" if self.peer_name else "—"
        target, verdict = "—", ""
        if self.target is not None:
            target = self.target.text(self.unit)
            met = self.target.met(self.ours, self.ratio) if self.applies else None
            verdict = {True: "met", False: "MISSED", None: "not judged"}[met]
        return [self.name, quantity(self.ours, self.unit), peer, ratio, target, verdict]


class Report:
    """Collect and print the figures of one run."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.figures: list[Figure] = []
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        print(
            f"# {title}\n"
            f"cores: {os.cpu_count()}; load average: {load}; Python {platform.python_version()}"
            f" ({sys.executable}); {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
            "ratio = calfeed / peer: above 1, a time or size is larger; below 1, a rate is lower",
            flush=True,
        )

    def add(
        self,
        name: str,
        ours: float | None,
        unit: str,
        peer: float | None = None,
        peer_name: str = "",
        target: Target | None = None,
        *,
        applies: bool = True,
    ) -> Figure:
        """Record one figure and print its line; ``applies``: judge it against the target."""
        figure = Figure(name, ours, unit, peer, peer_name, target, applies)
        self.figures.append(figure)
        name, ours_text, peer_text, ratio, target_text, verdict = figure.cells()
        line = f"{name}: calfeed {ours_text}"
        if peer_name:
            line += f"; {peer_text}; ratio {ratio}"
        if figure.target is not None:
            line += f"  (target: {target_text}: {verdict})"
        print(line, flush=True)
        return figure

    def note(self, text: str) -> None:
        """Print a line that is no figure (what was measured, how, what was left out)."""
        print(text, flush=True)

    def summary(self) -> None:
        """Print every figure of the run as one table."""
        rows = [["figure", "calfeed", "peer", "ratio", "target", ""]]
        rows += [figure.cells() for figure in self.figures]
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        print(f"\n## {self.title}: summary")
        for number, row in enumerate(rows):
            print(
                "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
            )
            if number == 0:
                print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        sys.stdout.flush()
