"""Run many small pieces of work on every core: the first load and render of a large catalog.

Rendering entries is pure Python and holds the interpreter lock, so threads would not help;
processes do. The work is handed over by fork: each child starts with the parent's memory,
work included, so nothing but the results is pickled, and it runs its own slice of the
list. Below ``AT_LEAST`` pieces, or on one core, or where fork is not available, the work
runs here, in order, as it would without this module: the results are the same either way.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

AT_LEAST = 1000  # fewer pieces take less time than starting the processes
_MOST_PROCESSES = 8

# The work of the run in progress, for the children to find in the memory they inherit.
_work: Sequence[Callable[[], object]] = ()


def _run_slice(bounds: tuple[int, int]) -> list[object]:
    start, end = bounds
    return [piece() for piece in _work[start:end]]


def processes_available() -> int:
    """Return how many cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_all(
    work: Sequence[Callable[[], T]], processes: int | None = None, at_least: int | None = None
) -> list[T]:
    """Return the result of each piece of ``work``, in order, using up to ``processes`` cores.

    ``at_least``: the fewest pieces worth sharing out (``AT_LEAST`` unless said).
    """
    global _work
    count = min(processes or processes_available(), _MOST_PROCESSES)
    fewest = AT_LEAST if at_least is None else at_least
    if count < 2 or len(work) < fewest or "fork" not in multiprocessing.get_all_start_methods():
        return [piece() for piece in work]
    size = -(-len(work) // (count * 4))  # a few slices each: a slow one is shared out
    slices = [(start, min(start + size, len(work))) for start in range(0, len(work), size)]
    _work = work
    try:
        with multiprocessing.get_context("fork").Pool(count) as pool:
            done = pool.map(_run_slice, slices)
    finally:
        _work = ()
    return [result for part in done for result in part]  # type: ignore[misc]
