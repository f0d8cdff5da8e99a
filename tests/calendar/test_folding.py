"""Fast folding (``service/calendar/folding.py``): the very bytes icalendar writes.

Feeds are serialised by calfeed's own folding for speed; a reader must never see the
difference. Every entry of the seed and edge catalogs, and generated lines of escapes,
multi-octet characters and lengths around each fold, are compared with icalendar's output.
"""

from __future__ import annotations

from pathlib import Path

from conftest import REPO, write_edge_project
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar.parser.string import _foldline

from service.calendar.entries import event_entry, session_entry
from service.calendar.folding import fold, serialise
from service.calendar.zones import catalog_zones
from service.catalog import load_catalog


def test_every_entry_of_the_seed_and_edge_catalogs_is_written_as_icalendar_writes_it(
    tmp_path: Path,
) -> None:
    compared = 0
    for config in (REPO / "config.yaml", write_edge_project(tmp_path)):
        catalog = load_catalog(config)
        zones = catalog_zones(catalog)
        for event in catalog.events:
            entries = [event_entry(event, catalog.config, zones)]
            entries += [session_entry(event, s, catalog.config, zones) for s in event.sessions]
            for entry in entries:
                assert serialise(entry) == entry.to_ical(), event.id
                compared += 1
    assert compared > 200


# Characters where folding can go wrong: escapes, one to four octets, and plain text.
TRICKY = "a\\^;,: é–€😀\t"


@settings(max_examples=1000, deadline=None)
@given(st.text(TRICKY, min_size=70, max_size=400))
def test_a_line_folds_as_icalendar_folds_it(line: str) -> None:
    assert fold(line.encode("utf-8")) == _foldline(line).encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"),
        min_size=60,
        max_size=300,
    )
)
def test_any_unicode_line_folds_as_icalendar_folds_it(line: str) -> None:
    assert fold(line.encode("utf-8")) == _foldline(line).encode("utf-8")


def test_no_folded_line_is_longer_than_75_octets() -> None:
    line = ("x" * 73 + "😀\\" + "é" * 50 + "^") * 3
    for part in fold(line.encode("utf-8")).split(b"\r\n"):
        assert len(part) <= 75
        part.decode("utf-8")  # never splits a character
