"""YAML documents that remember lines: what an operator's file becomes before validation."""

from __future__ import annotations

import textwrap
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from service.catalog.source import dotted, parse_document, read_document
from service.errors import CatalogError

AGENDA = textwrap.dedent(
    """\
    id: webinar
    title: Webinar
    sessions:
      - start: "14:00"
        end: "14:30"
        title: Introduction
      - start: 14:30
        end: 15:10
        title: Best practice
    """
)


def problems_of(text: str, shown_as: str = "feeds/x.yaml") -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse_document(text, shown_as)
    return [str(problem) for problem in caught.value.problems]


def test_every_key_and_item_remembers_its_line() -> None:
    doc = parse_document(AGENDA, "feeds/x.yaml")

    assert doc.line(("id",)) == 1
    assert doc.line(("sessions",)) == 3
    assert doc.line(("sessions", 0)) == 4
    assert doc.line(("sessions", 1)) == 7
    assert doc.line(("sessions", 1, "end")) == 8
    assert doc.line(("sessions", 1, "title")) == 9


def test_a_missing_location_falls_back_to_the_closest_enclosing_one() -> None:
    doc = parse_document(AGENDA, "feeds/x.yaml")

    assert doc.line(("sessions", 1, "speakers")) == 7
    assert doc.line(("end",)) == 1


def test_a_problem_names_path_line_and_dotted_field() -> None:
    doc = parse_document(AGENDA, "feeds/x.yaml")

    problem = doc.problem(("sessions", 1, "end"), "ends after the event")

    assert str(problem) == "feeds/x.yaml:8: sessions[1].end: ends after the event"


@pytest.mark.parametrize(
    ("loc", "shown"),
    [
        (("end",), "end"),
        (("sessions", 2, "end"), "sessions[2].end"),
        (("events", 0, "sessions", 1, "start"), "events[0].sessions[1].start"),
        (("topics", 0), "topics[0]"),
        ((), ""),
    ],
)
def test_locations_read_the_way_an_operator_writes_them(
    loc: tuple[str | int, ...], shown: str
) -> None:
    assert dotted(loc) == shown


def test_clock_times_stay_the_text_written_quoted_or_not() -> None:
    doc = parse_document(AGENDA, "feeds/x.yaml")

    # YAML 1.1 reads an unquoted 14:30 as the base-60 number 870.
    assert [s["start"] for s in doc.data["sessions"]] == ["14:00", "14:30"]
    assert [s["end"] for s in doc.data["sessions"]] == ["14:30", "15:10"]


def test_other_scalars_keep_their_yaml_types() -> None:
    text = """\
        day: 2020-12-07
        stamp: 2020-12-07 14:00:00
        with_offset: 2026-10-25T02:30:00+01:00
        utc: 2020-12-07T13:00:00Z
        quoted_day: "2020-12-07"
        count: 3
        port: 0x19
        flag: yes
        nothing: null
        text: Online
    """
    doc = parse_document(textwrap.dedent(text), "f.yaml")

    assert doc.data["day"] == date(2020, 12, 7)
    assert doc.data["stamp"] == datetime(2020, 12, 7, 14, 0)
    assert doc.data["stamp"].tzinfo is None
    assert doc.data["with_offset"] == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert doc.data["with_offset"].utcoffset() == timedelta(hours=1)
    assert doc.data["utc"] == datetime(2020, 12, 7, 13, 0, tzinfo=UTC)
    assert doc.data["quoted_day"] == "2020-12-07"
    assert doc.data["count"] == 3
    assert doc.data["port"] == 25
    assert doc.data["flag"] is True
    assert doc.data["nothing"] is None
    assert doc.data["text"] == "Online"


def test_merge_keys_are_resolved_and_keep_lines() -> None:
    text = """\
        defaults: &defaults
          status: confirmed
          location: Online
        event:
          <<: *defaults
          title: Webinar
    """
    doc = parse_document(textwrap.dedent(text), "f.yaml")

    assert doc.data["event"] == {"status": "confirmed", "location": "Online", "title": "Webinar"}
    assert doc.line(("event", "title")) == 6


def test_a_duplicate_key_names_both_lines() -> None:
    text = """\
        id: webinar
        title: First title
        topics: [procurement]
        title: Second title
    """
    assert problems_of(textwrap.dedent(text)) == [
        "feeds/x.yaml:4: title: duplicate key 'title' (first at line 2)"
    ]


def test_a_nested_duplicate_key_names_its_field() -> None:
    text = """\
        id: webinar
        sessions:
          - start: "14:00"
            end: "14:30"
            start: "15:00"
    """
    assert problems_of(textwrap.dedent(text)) == [
        "feeds/x.yaml:5: sessions[0].start: duplicate key 'start' (first at line 3)"
    ]


def test_every_duplicate_key_is_reported_at_once() -> None:
    text = "id: a\nid: b\ntitle: x\ntitle: y\n"

    assert problems_of(text) == [
        "feeds/x.yaml:2: id: duplicate key 'id' (first at line 1)",
        "feeds/x.yaml:4: title: duplicate key 'title' (first at line 3)",
    ]


def test_a_key_that_is_not_text_is_a_problem_on_its_line() -> None:
    assert problems_of("id: a\n[x, y]: z\n") == ["feeds/x.yaml:2: a key must be plain text"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("id: a\ntopics: [procurement\nstart: 2020-12-07\n", 3, "expected ',' or ']'"),
        ("id: a\n\ttitle: x\n", 2, "tab"),
        ("id: a\ntitle: *missing\n", 2, "undefined alias"),
        ("id: a\ntitle: 'unclosed\n", 3, "end of stream"),
        ("id: a\n---\nid: b\n", 2, "another document"),
    ],
)
def test_a_syntax_error_names_its_line(text: str, line: int, reason: str) -> None:
    [problem] = problems_of(text)

    assert problem.startswith(f"feeds/x.yaml:{line}: YAML syntax error: ")
    assert reason in problem


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_document_has_no_data(text: str) -> None:
    doc = parse_document(text, "feeds/x.yaml")

    assert doc.data is None
    assert doc.line(()) == 1


def test_a_file_that_is_not_utf8_is_a_problem_on_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: a\ntitle: Umeå\n".encode("latin-1"))

    with pytest.raises(CatalogError) as caught:
        read_document(path, "feeds/latin1.yaml")

    assert [str(p) for p in caught.value.problems] == [
        "feeds/latin1.yaml:2: not UTF-8: byte 0xE5 at column 11; save it as UTF-8"
    ]


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as caught:
        read_document(tmp_path / "gone.yaml", "feeds/gone.yaml")

    [problem] = [str(p) for p in caught.value.problems]
    assert problem.startswith("feeds/gone.yaml: cannot read file: ")


def test_read_document_reads_unicode_text(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("title: Liv Öberg, Umeå – Håkon\n", encoding="utf-8")

    doc = read_document(path, "feeds/x.yaml")

    assert doc.data == {"title": "Liv Öberg, Umeå – Håkon"}
    assert doc.path == "feeds/x.yaml"


# Values the YAML parser recognises but cannot build. Each is a typo an operator can make;
# each must come back as a problem on its line, never as an exception with a stack trace.
@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("id: a\ntitle: A\nstart: 2020-02-30\n", 3, id="day-out-of-range"),
        pytest.param("id: a\nstart: 2020-13-01 10:00:00\n", 2, id="month-out-of-range"),
        pytest.param("id: a\nstart: !!python/object:os.system x\n", 2, id="python-tag"),
        pytest.param("id: a\ntitle: !custom x\n", 2, id="unknown-local-tag"),
        pytest.param("id: a\nport: !!int abc\n", 2, id="bad-int-tag"),
        pytest.param("id: a\nflag: !!bool maybe\n", 2, id="bad-bool-tag"),
        pytest.param("id: a\nstart: !!timestamp '2020-01-01 00:00:00+01:00:30'\n", 2, id="ts"),
        pytest.param("id: a\n<<: [1]\n", 2, id="bad-merge"),
        pytest.param("id: a\nspeakers: &a [*a]\n", 2, id="recursive-alias"),
    ],
)
def test_a_value_yaml_cannot_build_is_a_problem_on_its_line(text: str, line: int) -> None:
    try:
        parse_document(text, "feeds/x.yaml")
    except CatalogError as err:
        assert [p.line for p in err.problems] == [line], err
        assert all(p.path == "feeds/x.yaml" for p in err.problems)
    else:
        pytest.fail("the document was accepted")


# Limits: a file is measured before anything is built from it


def billion_laughs(levels: int) -> str:
    """Return the classic alias bomb: each level holds nine aliases of the one before."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{','.join([f'*a{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def cost(action: Callable[[], object]) -> tuple[float, int]:
    """Return the seconds one run of ``action`` takes, and the peak bytes another allocates.

    Two runs: tracing every allocation slows a run down several times.
    """
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        action()
        return seconds, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_alias_bomb_is_refused_at_once_in_little_memory() -> None:
    text = billion_laughs(9)  # 9**9 = 387,420,489 values from 420 bytes

    assert problems_of(text) == ["feeds/x.yaml:5: its aliases expand to more than 50,000 values"]
    seconds, peak = cost(lambda: problems_of(text))
    assert seconds < 0.5
    assert peak < 5 * 2**20


def test_aliases_that_stay_small_are_read() -> None:
    doc = parse_document(billion_laughs(4), "feeds/x.yaml")  # 9**4 = 6,561 values

    assert len(doc.data["a3"]) == 9
    assert doc.data["a3"][8][8][8] == ["lol"] * 9


def test_more_than_a_hundred_aliases_are_refused_on_the_line_of_the_first_too_many() -> None:
    text = "a: &a x\nb:\n" + "".join("  - *a\n" for _ in range(101))

    assert problems_of(text) == ["feeds/x.yaml:103: more than 100 aliases in one file"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("[" * 5000 + "]" * 5000, 1, id="flow"),
        pytest.param("".join(" " * i + "a:\n" for i in range(900)), 21, id="block"),
        pytest.param("".join("  " * i + "-\n" for i in range(30)), 21, id="block-list"),
    ],
)
def test_nesting_deeper_than_twenty_levels_is_refused_on_its_line(text: str, line: int) -> None:
    assert problems_of(text) == [f"feeds/x.yaml:{line}: nested more than 20 levels deep"]


def test_aliases_that_nest_deeper_than_twenty_levels_are_refused() -> None:
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [[[*a{i - 1}]]]" for i in range(1, 9)]

    assert problems_of("\n".join(lines)) == [
        "feeds/x.yaml:8: its aliases nest more than 20 levels deep"
    ]


def test_more_than_fifty_thousand_values_are_refused_before_they_are_built() -> None:
    text = "topics: [" + "a," * 50_001 + "]\n"

    assert problems_of(text) == ["feeds/x.yaml:1: more than 50,000 values in one file"]
    seconds, peak = cost(lambda: problems_of(text))
    assert seconds < 2  # 0.1 s on a quiet machine
    assert peak < 5 * 2**20
