"""Whatever an operator writes, loading reports problems (or succeeds); it never crashes.

Hypothesis writes random YAML documents, random text, and valid files with random values in
their fields, as event files and as config.yaml. Each example gets a fresh folder: function
fixtures are not reset between the examples of one test.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from service.catalog import load_catalog
from service.errors import CatalogError

CONFIG: dict[str, Any] = {
    "site": {
        "title": "Events",
        "base_url": "https://events.example.org",
        "timezone": "Europe/Brussels",
    },
    "feeds_dir": "feeds",
    "feed": {"refresh": "6h", "keep_past_days": None},
    "database": "sqlite:///var/calfeed.sqlite3",
    "topics": {
        "procurement": {"name": "Public procurement", "description": "Buying"},
        "circular-economy": {"name": "Circular economy"},
    },
    "reminders": {"before_start": ["7d", "1h"], "before_registration_deadline": ["1d"]},
    "mail": {
        "from": "Events <events@example.org>",
        "transport": "maildir",
        "maildir": "var/mail",
        "smtp": {"host": "localhost", "port": 25, "starttls": False, "password_env": None},
    },
    "subscribers": [
        {"email": "team@example.org", "topics": ["procurement"], "timezone": "Europe/Stockholm"}
    ],
}

EVENT: dict[str, Any] = {
    "id": "circular-cities-webinar",
    "title": "Circular Cities Declaration Webinar",
    "subtitle": "Introducing the Declaration",
    "topics": ["circular-economy", "procurement"],
    "timezone": "Europe/Brussels",
    "start": "2020-12-07T14:00",
    "end": "2020-12-07T16:00",
    "status": "confirmed",
    "location": "Online",
    "url": "https://example.org/more-info",
    "organizer": {"name": "ICLEI", "email": "info@example.org", "url": "https://iclei.org"},
    "contacts": [{"name": "Tom", "role": "Advisor", "email": "tom@example.org", "phone": "+46"}],
    "registration": {"url": "https://example.org/register", "deadline": "2020-12-06T23:59"},
    "description": "Free text.",
    "sessions": [
        {"start": "14:00", "end": "14:30", "title": "Introduction", "speakers": ["Simon"]},
        {"id": "talks", "start": "14:30", "end": "16:00", "title": "Talks"},
    ],
}

Path_ = tuple[str | int, ...]


def paths_in(data: Any, prefix: Path_ = ()) -> list[Path_]:
    """List every location in ``data``: each key of each mapping, each item of each list."""
    found: list[Path_] = []
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths_in(value, (*prefix, key)))
    return found


# feeds_dir is the one value that makes the loader walk the disk: keep it inside the example.
CONFIG_PATHS = [p for p in paths_in(CONFIG) if p[0] != "feeds_dir"]
EVENT_PATHS = paths_in(EVENT)
DELETE = object()

# Text an operator might plausibly write in any field, including the tricky ones.
TRICKY = st.sampled_from(
    [
        "14:00",
        "24:00",
        "9:30",
        "2020-12-07",
        "2020-12-07T14:00",
        "2020-02-30",
        "20201207",
        "2026-03-29T02:30",
        "2026-10-25T02:30",
        "2026-10-25T02:30+01:00",
        "2026-10-25T02:30+03:00",
        "9999-12-31",
        "0001-01-01",
        "9999-12-31T23:59",
        "CET",
        "MET",
        "Europe/Brusels",
        "localtime",
        "UTC",
        "7d",
        "0m",
        "P1M",
        "PT1H30M",
        "99999999999d",
        "https://",
        "ftp://x",
        "http://[::1",
        "a@b",
        "Events <events>",
        "",
        " ",
        "-",
        "x" * 300,
        "procurement",
        "mysql://h/db",
        "sqlite:///:memory:",
        "hunter2!",
        "confirmed",
        "Cancelled",
    ]
)
TIMEZONES = st.one_of(
    st.none(),
    st.integers(-23 * 60, 23 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
)
EDGES = st.sampled_from([date.min, date.max, datetime.min, datetime.max, 2**63, -(2**63), 0])
SCALARS = st.one_of(
    st.none(),
    EDGES,
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=40),
    TRICKY,
    st.dates(),
    st.datetimes(timezones=TIMEZONES),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(["id", "start", "end", "title"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
# Pieces of YAML syntax, to build text that is sometimes YAML and sometimes not.
YAML_BITS = st.sampled_from(
    [
        "\n",
        "  ",
        "- ",
        ": ",
        "id: a\n",
        "events:\n",
        "start: ",
        "end: ",
        "sessions:\n",
        "{",
        "}",
        "[",
        "]",
        ",",
        "&a ",
        "*a",
        "<<: ",
        "!!int ",
        "!!timestamp ",
        "!!python/object:os.system ",
        "!x ",
        "? ",
        "'",
        '"',
        "#",
        "|\n",
        ">\n",
        "---\n",
        "...\n",
        "%YAML 1.1\n",
        "\t",
        "\\",
        "2020-02-30",
        "2020-12-07 25:00:00",
        "14:00",
        "0x",
        "1e999",
        ".nan",
        "~",
        "null",
        "\x00",
        "\ufeff",
        "\u2028",
    ]
)
RANDOM_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(YAML_BITS, st.text(max_size=8)), max_size=40).map("".join),
)


@contextmanager
def project(config: str, events: dict[str, str]) -> Iterator[Path]:
    """Write a project into a fresh folder and yield its config.yaml."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "feeds").mkdir()
        (root / "config.yaml").write_text(config, encoding="utf-8", errors="surrogatepass")
        for name, text in events.items():
            (root / "feeds" / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        yield root / "config.yaml"


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def assert_loads_or_reports(config_path: Path, valid: Path | None = None) -> None:
    """Load the project: success, or a CatalogError whose every problem points into a file.

    Each problem names a file that exists and a line inside it (0: the file as a whole), and
    none is blamed on ``valid``, a file known to be right.
    """
    try:
        load_catalog(config_path)
    except CatalogError as err:
        assert err.problems, "a CatalogError without problems"
        for problem in err.problems:
            named = Path(problem.path)
            assert named.is_file(), problem
            # YAML breaks lines at fewer characters than splitlines; the end of the stream may
            # be on the line after the last break.
            lines = len(named.read_text("utf-8", errors="replace").splitlines()) + 1
            assert 0 <= problem.line <= lines, (problem, lines)
            assert problem.message.strip(), problem
            assert valid is None or not named.samefile(valid), problem


def substituted(base: dict[str, Any], changes: list[tuple[Path_, Any]]) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for path, value in changes:
        target: Any = data
        try:
            for part in path[:-1]:
                target = target[part]
            if value is DELETE:
                del target[path[-1]]
            else:
                target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced what this one would reach into
    return data


# Derandomized, so a run is repeatable; no shrinking, so a failing run stays short too (the
# report shows the example as generated and the traceback of the crash).
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@SETTINGS
@given(data=VALUES)
def test_any_yaml_document_as_an_event_file(data: Any) -> None:
    with project(dump(CONFIG), {"x.yaml": dump(data)}) as config:
        assert_loads_or_reports(config, valid=config)


@SETTINGS
@given(data=VALUES)
def test_any_yaml_document_as_the_config(data: Any) -> None:
    with project(dump(data), {"x.yaml": dump(EVENT)}) as config:
        assert_loads_or_reports(config)


@SETTINGS
@given(text=RANDOM_TEXT)
def test_any_text_as_an_event_file_and_as_the_config(text: str) -> None:
    with project(dump(CONFIG), {"x.yaml": text}) as config:
        assert_loads_or_reports(config, valid=config)
    with project(text, {"x.yaml": dump(EVENT)}) as config:
        assert_loads_or_reports(config)


@SETTINGS
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(EVENT_PATHS), st.one_of(VALUES, st.just(DELETE))),
        min_size=1,
        max_size=3,
    ),
    as_list=st.booleans(),
)
def test_any_value_in_any_field_of_an_event(
    changes: list[tuple[Path_, Any]], as_list: bool
) -> None:
    event = substituted(EVENT, changes)
    text = dump({"events": [event, {**EVENT, "id": "other"}]} if as_list else event)
    with project(dump(CONFIG), {"x.yaml": text}) as config:
        assert_loads_or_reports(config, valid=config)


@SETTINGS
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(CONFIG_PATHS), st.one_of(VALUES, st.just(DELETE))),
        min_size=1,
        max_size=3,
    ),
)
def test_any_value_in_any_field_of_the_config(changes: list[tuple[Path_, Any]]) -> None:
    with project(dump(substituted(CONFIG, changes)), {"x.yaml": dump(EVENT)}) as config:
        assert_loads_or_reports(config)


@SETTINGS
@given(
    start=st.one_of(st.dates(), st.datetimes(timezones=TIMEZONES), TRICKY, EDGES),
    end=st.one_of(st.none(), st.dates(), st.datetimes(timezones=TIMEZONES), TRICKY, EDGES),
    session_start=st.one_of(TRICKY, st.datetimes(timezones=TIMEZONES)),
    zone=st.sampled_from(["Europe/Brussels", "America/New_York", "Pacific/Apia", "CET", "UTC"]),
)
def test_any_times_in_an_event(
    start: date | datetime | str,
    end: date | datetime | str | None,
    session_start: datetime | str,
    zone: str,
) -> None:
    event = {
        **EVENT,
        "timezone": zone,
        "start": start,
        "end": end,
        "sessions": [{"start": session_start, "end": "23:59", "title": "Talk"}],
        "registration": {"deadline": end},
    }
    with project(dump(CONFIG), {"x.yaml": dump(event)}) as config:
        assert_loads_or_reports(config, valid=config)
