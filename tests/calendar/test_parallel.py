"""Rendering on every core (``service/parallel.py``): the same bytes, sooner.

A large catalog's first build renders its entries in forked processes; the feeds must be
byte for byte what one process writes, or clients would see every entry change.
"""

from __future__ import annotations

import os
from functools import partial

import pytest
from conftest import EDGE, EDGE_PAIR, build, fixed_clock, write_edge_project
from parsers.oracle import ServedFeed

from service import parallel


def whoami(number: int) -> tuple[int, int]:
    return number, os.getpid()


@pytest.fixture
def two_cores_from_the_first_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    """Share out even a small catalog, on two processes whatever the machine has."""
    monkeypatch.setattr(parallel, "AT_LEAST", 1)
    monkeypatch.setattr(parallel, "processes_available", lambda: 2)


@pytest.mark.usefixtures("two_cores_from_the_first_piece")
def test_pieces_run_in_other_processes_and_come_back_in_order() -> None:
    results = parallel.run_all([partial(whoami, number) for number in range(50)])

    assert [number for number, _ in results] == list(range(50))
    workers = {pid for _, pid in results}
    assert os.getpid() not in workers
    # Two processes take slices as they come free: on a busy machine one may take them all.
    assert 1 <= len(workers) <= 2


def test_a_few_pieces_run_here_in_order() -> None:
    results = parallel.run_all([partial(whoami, number) for number in range(20)], processes=2)

    assert results == [(number, os.getpid()) for number in range(20)]


@pytest.mark.usefixtures("two_cores_from_the_first_piece")
def test_the_edge_catalog_rendered_on_two_cores_is_what_one_process_writes(
    tmp_path_factory: pytest.TempPathFactory, feed_sets: dict[str, dict[str, ServedFeed]]
) -> None:
    config = write_edge_project(tmp_path_factory.mktemp("edge-parallel"))

    shared_out = build(config, EDGE, EDGE_PAIR, fixed_clock())

    one_process = feed_sets["edge"]
    assert shared_out.keys() == one_process.keys()
    differ = [path for path in one_process if shared_out[path].body != one_process[path].body]
    assert differ == []
