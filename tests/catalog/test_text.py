"""Files as text (``service/catalog/text.py``): what is not a readable UTF-8 file is named.

Each case goes through ``load_catalog`` as ``calfeed check`` and the live service do, and
asserts the exact line an operator reads. Loading runs in a thread joined with a timeout, so
a reader that blocks fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from service.catalog import load_catalog
from service.errors import CatalogError

Problems = Callable[[], list[str]]
MAX_BYTES = 1_000_000  # what a file may hold
EVENT = "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\n"


def problems_within(problems: Problems, seconds: float = 20) -> list[str]:
    """Load the project in a thread (``problems``); fail if it takes longer than ``seconds``."""
    found: list[list[str]] = []
    worker = threading.Thread(target=lambda: found.append(problems()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert found, f"loading did not finish within {seconds} s"
    return found[0]


# What is not a regular file


def test_a_fifo_named_like_an_event_file_is_refused_without_waiting(
    project: Path, problems: Problems
) -> None:
    os.mkfifo(project / "feeds" / "x.yaml")

    assert problems_within(problems) == [
        "feeds/x.yaml: not a regular file but a FIFO (named pipe): only files are read"
    ]


def test_a_device_linked_as_an_event_file_is_refused_unread(
    project: Path, problems: Problems
) -> None:
    (project / "feeds" / "zero.yaml").symlink_to("/dev/zero")

    assert problems_within(problems) == [
        "feeds/zero.yaml: not a regular file but a character device: only files are read"
    ]


def test_a_socket_named_like_an_event_file_is_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch, problems: Problems
) -> None:
    monkeypatch.chdir(project / "feeds")  # a socket's path must be short: bind it relative
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("x.yaml")
        monkeypatch.chdir(project)

        assert problems_within(problems) == [
            "feeds/x.yaml: not a regular file but a socket: only files are read"
        ]


def test_a_loop_of_symbolic_links_is_a_problem_not_a_crash(
    project: Path, problems: Problems
) -> None:
    (project / "feeds" / "a.yaml").symlink_to("b.yaml")
    (project / "feeds" / "b.yaml").symlink_to("a.yaml")

    assert problems_within(problems) == [
        "feeds/a.yaml: cannot read file: Too many levels of symbolic links",
        "feeds/b.yaml: cannot read file: Too many levels of symbolic links",
    ]


def test_a_dangling_symbolic_link_is_a_problem(project: Path, problems: Problems) -> None:
    (project / "feeds" / "gone.yaml").symlink_to("nowhere.yaml")

    assert problems_within(problems) == [
        "feeds/gone.yaml: cannot read file: No such file or directory"
    ]


def test_folders_nested_deeper_than_the_stack_are_walked(project: Path, problems: Problems) -> None:
    folders = [project / "feeds"]
    for _ in range(sys.getrecursionlimit() + 10):
        folders.append(folders[-1] / "a")
        folders[-1].mkdir()
    event = folders[-1] / "x.yaml"
    event.write_text(EVENT.replace("[procurement]", "[nope]"), encoding="utf-8")
    try:
        [problem] = problems_within(problems)
    finally:  # from the bottom up: removing the tree by recursion would exhaust the stack
        event.unlink()
        for folder in reversed(folders[1:]):
            folder.rmdir()

    assert problem == (
        "/".join(["feeds", *["a"] * (len(folders) - 1), "x.yaml"])
        + ":3: topics[0]: topic 'nope' is not declared in config.yaml; "
        "declared: procurement, circular-economy, supply-chains"
    )


def test_an_unreadable_file_is_named(project: Path, problems: Problems) -> None:
    path = project / "feeds" / "x.yaml"
    path.write_text(EVENT, encoding="utf-8")
    path.chmod(0)

    assert problems_unprivileged(project, problems) == [
        "feeds/x.yaml: cannot read file: Permission denied"
    ]


def load_quietly(config: Path) -> list[str]:
    try:
        load_catalog(config)
    except CatalogError as err:
        return [str(problem) for problem in err.problems]
    return []


def problems_unprivileged(project: Path, problems: Problems) -> list[str]:
    """Load ``project`` as it is, or, when run as root (who reads any file), as nobody.

    As root, the project is copied into a folder that nobody may enter, and loaded in a forked
    child that gives up root after loading it once (so every module is imported already).
    """
    if os.geteuid() != 0:
        return problems_within(problems)
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        copy = folder / "project"
        shutil.copytree(project, copy, symlinks=True)
        for path in (copy, *copy.rglob("*")):
            if path.stat().st_mode & 0o777:  # what the test made unreadable stays so
                path.chmod(0o755 if path.is_dir() else 0o644)
        reading, writing = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            try:
                os.close(reading)
                os.chdir(copy)
                load_quietly(copy / "config.yaml")
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                seen = load_quietly(copy / "config.yaml")
                os.write(writing, json.dumps(seen).encode())
            finally:
                os._exit(0)
        os.close(writing)
        with os.fdopen(reading) as pipe:
            text = pipe.read()
        os.waitpid(child, 0)
        found: list[str] = json.loads(text)
        return found
    finally:
        shutil.rmtree(folder)


def test_a_huge_file_is_refused_unread(project: Path, problems: Problems) -> None:
    path = project / "feeds" / "x.yaml"
    with path.open("wb") as file:
        file.truncate(2_000_000_000)  # sparse: two gigabytes that take no room on disk

    tracemalloc.start()
    started = time.perf_counter()
    try:
        found = problems_within(problems)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert found == [
        "feeds/x.yaml: 2,000,000,000 bytes, more than the 1,000,000 a file may hold; "
        "split it into several"
    ]
    assert time.perf_counter() - started < 5
    assert peak < 10 * 2**20


def test_a_file_just_under_the_size_limit_is_read(project: Path, problems: Problems) -> None:
    padding = "# " + "x" * 98 + "\n"
    text = EVENT + padding * ((MAX_BYTES - len(EVENT)) // len(padding))
    (project / "feeds" / "x.yaml").write_text(text, encoding="utf-8")

    assert problems() == []


# Text that is not UTF-8


def test_a_byte_that_is_not_utf8_is_named_with_its_line_and_column(
    project: Path, problems: Problems
) -> None:
    (project / "feeds" / "x.yaml").write_bytes(b"id: x\ntitle: Ume\xe5\n")

    assert problems() == ["feeds/x.yaml:2: not UTF-8: byte 0xE5 at column 11; save it as UTF-8"]


def test_the_column_of_a_bad_byte_counts_characters_not_bytes(
    project: Path, problems: Problems
) -> None:
    (project / "feeds" / "x.yaml").write_bytes("id: x\n\ntitle: Håkon – ".encode() + b"\xff\n")

    assert problems() == ["feeds/x.yaml:3: not UTF-8: byte 0xFF at column 16; save it as UTF-8"]


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16", "UTF-16"), ("utf-32", "UTF-32"), ("utf-16-be", None)],
)
def test_a_file_in_utf16_or_utf32_says_to_save_it_as_utf8(
    project: Path, problems: Problems, encoding: str, name: str | None
) -> None:
    (project / "feeds" / "x.yaml").write_bytes(EVENT.encode(encoding))

    assert problems() == [
        f"feeds/x.yaml:1: the file is {name} (it starts with a byte order mark); save it as UTF-8"
        if name
        else "feeds/x.yaml:1: a NUL byte at column 1: the file looks like UTF-16; save it as UTF-8"
    ]


def test_utf16_without_a_byte_order_mark_is_recognised(project: Path, problems: Problems) -> None:
    (project / "feeds" / "x.yaml").write_bytes(EVENT.encode("utf-16-le"))

    assert problems() == [
        "feeds/x.yaml:1: a NUL byte at column 2: the file looks like UTF-16; save it as UTF-8"
    ]


def test_a_utf8_byte_order_mark_is_fine(project: Path, problems: Problems) -> None:
    (project / "feeds" / "x.yaml").write_bytes(b"\xef\xbb\xbf" + EVENT.encode())

    assert problems() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            EVENT + "location: On\x00line\n",
            "feeds/x.yaml:5: a NUL byte at column 13 is not allowed in text",
            id="nul",
        ),
        pytest.param(
            EVENT + "location: Online\x07\n",
            "feeds/x.yaml:5: control character U+0007 at column 17 is not allowed in text",
            id="bell",
        ),
        pytest.param(
            "id: x\r\ntitle: T\r\nlocation: \x1b[31mred\n",
            "feeds/x.yaml:3: control character U+001B at column 11 is not allowed in text",
            id="escape-after-crlf",
        ),
        pytest.param(
            EVENT + "location: Online\x9b\n",
            "feeds/x.yaml:5: control character U+009B at column 17 is not allowed in text",
            id="c1",
        ),
        pytest.param(
            EVENT + "location: \ufffe\n",
            "feeds/x.yaml:5: character U+FFFE at column 11 is not allowed in text",
            id="non-character",
        ),
    ],
)
def test_a_control_character_is_named_with_its_line_and_column(
    project: Path, problems: Problems, text: str, expected: str
) -> None:
    (project / "feeds" / "x.yaml").write_bytes(text.encode("utf-8", "surrogatepass"))

    assert problems() == [expected]


def test_the_config_file_is_read_the_same_way(project: Path, problems: Problems) -> None:
    config = project / "config.yaml"
    config.write_bytes(config.read_bytes() + b"# caf\xe9\n")

    assert problems() == [
        f"config.yaml:{len(config.read_bytes().splitlines())}: not UTF-8: byte 0xE9 at "
        "column 6; save it as UTF-8"
    ]


def test_a_fifo_as_the_config_file_is_refused_without_waiting(
    project: Path, problems: Problems
) -> None:
    (project / "config.yaml").unlink()
    os.mkfifo(project / "config.yaml")

    assert problems_within(problems) == [
        "config.yaml: not a regular file but a FIFO (named pipe): only files are read"
    ]
