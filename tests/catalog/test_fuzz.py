"""The loader under mutated real catalogs: a catalog or a list of problems, nothing else.

Hypothesis starts from the project's own config.yaml and feeds/ and from the test catalogs,
and mutates one file of them: its bytes (flipped, inserted, deleted, cut short as a file
being written, repeated, hostile bytes such as NUL, 0xFF or a UTF-16 mark), its structure
(keys dropped or renamed, subtrees copied or nested deep, lists grown long, aliases that
expand) and its values (line breaks, control characters, long ids, far dates, huge numbers,
a header injected into the sender). Loading, as ``calfeed check`` does, must end in a
Catalog (exit 0) or a CatalogError (exit 1) whose every problem reads ``path:line: ...``
(only a problem of a whole file names the file alone), never another exception, each
example within a deadline and a bounded peak of memory.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from service.catalog import load_catalog
from service.errors import CatalogError

REPO = Path(__file__).resolve().parents[2]
REAL_EVENTS = {path.name: path.read_bytes() for path in sorted((REPO / "feeds").glob("*.yaml"))}
REAL_CONFIG = (REPO / "config.yaml").read_bytes()
TEST_EVENTS = {  # the test catalogs' own events, in the shapes the other tests use
    "series.yaml": b"""\
events:
  - id: session-1
    title: Session 1
    topics: [procurement]
    start: 2020-11-09T10:00
    end: 2020-11-09T11:30
  - &second
    id: session-2
    title: Session 2
    topics: [supply-chains]
    start: 2020-12-10
  - <<: *second
    id: session-3
""",
    "night.yaml": b"""\
id: night
title: >
  A night
  over the change
topics: [procurement]
timezone: America/New_York
start: 2026-11-01T01:30-04:00
end: 2026-11-01T03:00
registration: {deadline: 2026-10-31}
""",
}
FILES = {**{f"feeds/{name}": text for name, text in {**REAL_EVENTS, **TEST_EVENTS}.items()}}
FILES["config.yaml"] = REAL_CONFIG
# What each file holds, read once with libyaml: every example changes a copy.
DATA = {path: yaml.load(text, Loader=yaml.CSafeLoader) for path, text in FILES.items()}

MAX_PEAK = 64 * 2**20  # bytes Python may allocate while loading one example
SECONDS = 30  # the most this test runs; later examples are drawn but not loaded
# The only problems of a whole file that a readable, regular file can have.
WHOLE_FILE = re.compile(r"more than 100 problems|[\d,]+ bytes, more than")

# Bytes and values an attacker, or an accident, puts into a file.
HOSTILE_BYTES = [
    b"\x00",
    b"\xff",
    b"\xfe\xff",
    b"\xef\xbb\xbf",
    b"\r",
    b"\r\n",
    b"\x1b[2J",
    b"\x85",
    b"\xe2\x80\xa8",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\t",
    b": ",
    b"- ",
    b"&a ",
    b"*a",
    b"<<: ",
    b"!!python/object:os.system ",
    b"[" * 40,
    b"{" * 40,
    b"'",
    b'"',
    b"#",
    b"|\n",
    b">\n",
    b"---\n",
]
DEEP: list[Any] = ["deep"]
for _ in range(25):
    DEEP = [DEEP]
HOSTILE_VALUES: list[Any] = [
    "Line one\nLine two",
    "Title\r\nBcc: x@example.org",
    "Events <e@example.org>\r\nBcc: x@example.org",
    "A\x00B",
    "\x1b[2J",
    "A\u2028B",
    "   ",
    "",
    "x" * 300,
    "-".join(["event"] * 60),
    "é" * 100,
    "2020-02-30",
    "2026-03-29T02:30",
    "9999-12-31",
    "0001-01-01T00:00",
    date(9999, 12, 31),
    date(1, 1, 1),
    10**30,
    -1,
    0,
    1_000_000,
    float("nan"),
    float("inf"),
    True,
    None,
    "P99999D",
    "3661d",
    "99999999999d",
    "https://événements.example.org",
    "https://e.example.org/?a=1",
    "http://[::1",
    ["a"] * 200,
    {"<<": {"k": 1}},
    DEEP,
]
BOMB = "\n".join(
    ['bomb0: &b0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"bomb{n}: &b{n} [{','.join([f'*b{n - 1}'] * 9)}]" for n in range(1, 9)]
)


def paths_in(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """List every location in ``data``: each key of each mapping, each item of each list."""
    found: list[tuple[Any, ...]] = []
    items: Any = ()
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths_in(value, (*prefix, key)))
    return found


def mutate_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    """Apply one to four byte-level changes to ``raw``."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw)))
        kind = draw(
            st.sampled_from(["flip", "insert", "delete", "cut", "repeat", "utf-16", "random"])
        )
        if kind == "flip" and raw:
            at = min(at, len(raw) - 1)
            raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
        elif kind == "insert":
            raw = raw[:at] + draw(st.sampled_from(HOSTILE_BYTES)) + raw[at:]
        elif kind == "delete":
            raw = raw[:at] + raw[at + draw(st.integers(1, 64)) :]
        elif kind == "cut":  # what a reader sees of a file being written
            raw = raw[:at]
        elif kind == "repeat":
            chunk = raw[at : at + draw(st.integers(1, 200))]
            raw = raw[:at] + chunk * draw(st.integers(2, 300)) + raw[at:]
        elif kind == "utf-16":
            text = raw.decode("utf-8", "replace")
            raw = text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be"])))
        else:
            raw = raw[:at] + draw(st.binary(min_size=1, max_size=16)) + raw[at:]
    return raw


def mutate_structure(draw: st.DrawFn, name: str) -> bytes:
    """Change the YAML's shape or values: drop, rename, copy, nest, grow, or replace."""
    data = copy.deepcopy(DATA[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_in(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = data
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        kind = draw(st.sampled_from(["drop", "rename", "copy", "nest", "grow", "value"]))
        if kind == "drop":
            del parent[key]
        elif kind == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["tittle", "[key]", "\x1b", "<<", "id", "events"]))] = (
                parent.pop(key)
            )
        elif kind == "copy":
            parent[key] = copy.deepcopy(draw(st.sampled_from([data, parent, parent[key]])))
        elif kind == "nest":
            for _ in range(draw(st.integers(1, 30))):
                parent[key] = [parent[key]]
        elif kind == "grow":
            parent[key] = [parent[key]] * draw(st.integers(2, 1000))  # dumped as copies
        else:
            parent[key] = copy.deepcopy(draw(st.sampled_from(HOSTILE_VALUES)))
    text = yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)
    if draw(st.booleans()) and draw(st.booleans()):
        text += BOMB + "\n"
    return text.encode("utf-8", "surrogatepass")


@st.composite
def mutated_project(draw: st.DrawFn) -> tuple[str, bytes]:
    """Return which file of the project to replace, and its mutated bytes."""
    name = draw(st.sampled_from(sorted(FILES)))
    raw = FILES[name]
    if draw(st.booleans()):
        raw = mutate_structure(draw, name)
    if draw(st.booleans()):
        raw = mutate_bytes(draw, raw)
    return name, raw


def write_project(root: Path, name: str, raw: bytes) -> Path:
    """Write config.yaml and one event file (the real ones but where ``name`` replaces one)."""
    (root / "feeds").mkdir()
    other = "feeds/night.yaml" if name == "config.yaml" else name
    for path in ("config.yaml", other):
        (root / path).write_bytes(raw if path == name else FILES[path])
    return root / "config.yaml"


def assert_catalog_or_problems(config: Path, mutated: str) -> None:
    """Load as ``calfeed check`` does; every problem must point at a file and a line."""
    tracemalloc.reset_peak()
    try:
        load_catalog(config)
        event("loads")
    except CatalogError as err:
        event("refused")
        assert err.problems, "a CatalogError without problems"
        for problem in err.problems:
            text = str(problem)
            assert problem.path in FILES, text
            assert "\n" not in text and text.isprintable(), text
            if problem.line == 0:
                assert WHOLE_FILE.match(problem.message), f"no line: {text}"
                assert text.startswith(f"{problem.path}: "), text
            else:
                assert 1 <= problem.line <= 30_000, text
                assert text.startswith(f"{problem.path}:{problem.line}: "), text
    peak = tracemalloc.get_traced_memory()[1]
    assert peak < MAX_PEAK, f"{mutated}: {peak / 2**20:.0f} MiB"


@pytest.fixture(scope="module")
def memory() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


STARTED = [0.0]


@pytest.fixture(scope="module")
def clock() -> None:
    STARTED[0] = time.monotonic()


@settings(
    max_examples=250,
    deadline=timedelta(seconds=10),
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(change=mutated_project())
def test_a_mutated_catalog_loads_or_lists_its_problems(
    memory: None, clock: None, change: tuple[str, bytes]
) -> None:
    name, raw = change
    if time.monotonic() - STARTED[0] > SECONDS:
        return  # the time this test may take is spent; the examples so far stand
    note(f"{name}: {raw[:400]!r}")
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        config = write_project(Path(folder), name, raw)
        os.chdir(folder)  # problems name files relative to the current folder
        try:
            assert_catalog_or_problems(config, name)
        finally:
            os.chdir(here)
