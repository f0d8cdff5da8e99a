"""``calfeed check``: what an operator reads on the terminal, and its exit status."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from seed import SEED_IDS, SEED_SESSIONS, SEED_TOPICS

from service.cli import main

REPO = Path(__file__).resolve().parents[1]
# What `calfeed check` says of the project's own config.yaml and feeds/.
SEED_SUMMARY = f"ok: {len(SEED_IDS)} events, {SEED_SESSIONS} sessions, {len(SEED_TOPICS)} topics\n"
CALFEED = Path(sys.executable).with_name("calfeed")

WriteEvent = Callable[[str, str | Mapping[str, Any]], Path]
WriteConfig = Callable[..., Path]
MakeEvent = Callable[..., dict[str, Any]]


def check(*args: str, env: Mapping[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "check"], env=env)


def assert_no_traceback(result: Result) -> None:
    assert isinstance(result.exception, SystemExit | None), result.exception
    assert "Traceback" not in result.output


def test_a_clean_project_says_ok_and_exits_0(
    write_event: WriteEvent, make_event: MakeEvent
) -> None:
    write_event(
        "webinar.yaml",
        make_event(
            sessions=[
                {"start": "14:00", "end": "14:30", "title": "Introduction"},
                {"start": "14:30", "end": "16:00", "title": "Talks"},
            ]
        ),
    )
    write_event("forum.yaml", make_event(id="forum", start="2020-12-07", end="2020-12-08"))

    result = check()

    assert result.exit_code == 0
    assert result.stdout == "ok: 2 events, 2 sessions, 3 topics\n"
    assert result.stderr == ""


def test_every_problem_of_every_file_is_printed_in_one_run(
    write_config: WriteConfig, write_event: WriteEvent
) -> None:
    write_config(
        """\
        site:
          title: Test events
          base_url: https://events.example.org
          timezone: Europe/Brussels
        topics:
          procurement: {name: Public procurement}
        reminders:
          before_start: [7d, 1mo]
        """
    )
    write_event(
        "a-webinar.yaml",
        """\
        id: webinar
        title: Webinar
        topics: [procurment]
        start: 2020-12-07T14:00
        end: 2020-12-07T13:00
        """,
    )
    write_event(
        "b-night.yaml",
        """\
        id: night
        title: Night
        topics: [procurement]
        start: 2026-10-25T02:30
        end: 2026-10-25T04:00
        statsu: cancelled
        """,
    )
    write_event("c-broken.yaml", "id: broken\ntitle: [unclosed\n")
    write_event("d-empty.yaml", "")

    result = check()

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "config.yaml:8: reminders.before_start[1]: '1mo' is not a duration: "
        "write 7d, 1h, 30m, 2w, 45s or P1D",
        "feeds/a-webinar.yaml:3: topics[0]: topic 'procurment' is not declared in config.yaml; "
        "did you mean 'procurement'?",
        "feeds/a-webinar.yaml:5: end: ends before start "
        "(2020-12-07T13:00 is not after 2020-12-07T14:00)",
        "feeds/b-night.yaml:4: start: 2026-10-25T02:30 happens twice in Europe/Brussels: "
        "clocks go back from 03:00 to 02:00 on 2026-10-25 (CEST +02:00 to CET +01:00); "
        "write it with an explicit offset (+02:00 or +01:00)",
        "feeds/b-night.yaml:6: statsu: unknown key; did you mean 'status'?",
        "feeds/c-broken.yaml:3: YAML syntax error: did not find expected ',' or ']'",
        "feeds/d-empty.yaml:1: file is empty: write one event (a mapping with id:) "
        "or events: and a list",
        "Error: 7 problems found",
    ]


def test_one_problem_is_counted_in_the_singular(write_event: WriteEvent) -> None:
    write_event("x.yaml", "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07T14:00\n")

    result = check()

    assert result.exit_code == 1
    assert result.stderr == (
        "feeds/x.yaml:4: end: required for an event with a start time\nError: 1 problem found\n"
    )


def test_config_option_is_honoured_from_another_folder(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_event: WriteEvent
) -> None:
    write_event("x.yaml", "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\n")
    monkeypatch.chdir(tmp_path)

    result = check("--config", "project/config.yaml")

    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 1 event, 0 sessions, 3 topics\n"


def test_calfeed_config_variable_is_honoured(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_event: WriteEvent
) -> None:
    write_event("x.yaml", "id: x\ntitle: T\ntopics: [nope]\nstart: 2020-12-07\n")
    monkeypatch.chdir(tmp_path)

    result = check(env={"CALFEED_CONFIG": str(project / "config.yaml")})

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "project/feeds/x.yaml:3: topics[0]: topic 'nope' is not declared in config.yaml; "
        "declared: procurement, circular-economy, supply-chains",
        "Error: 1 problem found",
    ]


def test_the_config_option_wins_over_the_variable(project: Path, tmp_path: Path) -> None:
    result = check(
        "--config", str(project / "config.yaml"), env={"CALFEED_CONFIG": str(tmp_path / "gone")}
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 0 events, 0 sessions, 3 topics\n"


def test_a_missing_config_file_is_named(project: Path) -> None:
    result = check("--config", "nowhere.yaml")

    assert result.exit_code == 1
    assert result.stderr == "Error: nowhere.yaml: no such configuration file\n"
    assert_no_traceback(result)


def test_the_default_config_is_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CALFEED_CONFIG", raising=False)

    result = check()

    assert result.exit_code == 1
    assert result.stderr == "Error: config.yaml: no such configuration file\n"


def test_a_folder_given_as_config_is_a_usage_error(project: Path) -> None:
    result = check("--config", str(project / "feeds"))

    assert result.exit_code == 2
    assert "is a directory" in result.stderr
    assert_no_traceback(result)


EVENT_HEAD = "id: x\ntitle: T\ntopics: [procurement]\n"


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        pytest.param(
            "x.yaml", EVENT_HEAD + "start: 2020-12-07\nend: 2020-12-04T17:00\n", 5, id="plain-error"
        ),
        pytest.param("x.yaml", EVENT_HEAD + "start: 2021-02-29\n", 4, id="no-such-day"),
        pytest.param("x.yaml", EVENT_HEAD + "start: !!python/object:os.system x\n", 4, id="tag"),
        pytest.param("x.yaml", EVENT_HEAD + "start: 9999-12-31\n", 4, id="last-day"),
        pytest.param("x.yaml", EVENT_HEAD + "start: 2020-12-07\nsessions: &s [*s]\n", 5, id="loop"),
        pytest.param("x.yaml", b"id: x\ntitle: Ume\xe5\n", 2, id="latin-1"),
        pytest.param("x.yaml", "\x00\x01", 1, id="binary"),
    ],
)
def test_no_broken_event_file_gives_a_stack_trace(
    project: Path, name: str, text: str | bytes, line: int
) -> None:
    path = project / "feeds" / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")

    result = check()

    assert_no_traceback(result)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"feeds/x.yaml:{line}:" if line else "feeds/x.yaml: ")
    assert lines[-1] in ("Error: 1 problem found", f"Error: {len(lines) - 1} problems found")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("reminders:\n  before_start: [99999999999d]\n", 4, id="huge-duration"),
        pytest.param("feed:\n  refresh: !!float abc\n", 4, id="bad-float-tag"),
        pytest.param("feeds_dir: [feeds]\n", 3, id="feeds-dir-list"),
        pytest.param('feeds_dir: "fee\\0ds"\n', 3, id="feeds-dir-nul"),
    ],
)
def test_no_broken_config_gives_a_stack_trace(
    write_config: WriteConfig, text: str, line: int
) -> None:
    write_config(
        "site: {title: T, base_url: 'https://e.example.org', timezone: Europe/Brussels}\n"
        "topics: {procurement: {name: P}}\n" + text
    )

    result = check()

    assert_no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"config.yaml:{line}: ")


def test_the_projects_own_config_is_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths in config.yaml start at its own folder

    result = check("--config", str(REPO / "config.yaml"))

    assert result.exit_code == 0, result.output
    assert result.stdout == SEED_SUMMARY


def run_calfeed(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CALFEED_CONFIG"}
    environment.update(env or {})
    return subprocess.run(
        [str(CALFEED), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_console_script_checks_the_projects_own_config(tmp_path: Path) -> None:
    done = run_calfeed("--config", str(REPO / "config.yaml"), "check", cwd=tmp_path)

    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        SEED_SUMMARY,
        "",
    )


def test_the_console_script_reports_problems_and_exits_1(
    project: Path, tmp_path: Path, write_event: WriteEvent
) -> None:
    write_event(
        "night.yaml",
        textwrap.dedent(
            """\
            id: night
            title: Night
            topics: [procurement]
            timezone: America/New_York
            start: 2026-03-08T02:30
            end: 2026-03-08T04:00
            """
        ),
    )
    write_event("other.yaml", "id: other\ntitle: Other\ntopics: [climate]\nstart: 2026-03-09\n")

    done = run_calfeed("check", cwd=project.parent, env={"CALFEED_CONFIG": "project/config.yaml"})

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "project/feeds/night.yaml:5: start: 2026-03-08T02:30 does not exist in America/New_York: "
        "clocks go forward from 02:00 to 03:00 on 2026-03-08 (EST -05:00 to EDT -04:00); "
        "pick another time or write an explicit offset",
        "project/feeds/other.yaml:3: topics[0]: topic 'climate' is not declared in config.yaml; "
        "declared: procurement, circular-economy, supply-chains",
        "Error: 2 problems found",
    ]


def billion_laughs() -> str:
    """Return 420 bytes of YAML whose aliases stand for 9**9 values."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{n}: &a{n} [{','.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
    return "\n".join(lines) + "\n"


def make_hostile(project: Path, kind: str) -> None:
    feeds = project / "feeds"
    if kind == "fifo":
        os.mkfifo(feeds / "x.yaml")
    elif kind == "symlink-loop":
        (feeds / "x.yaml").symlink_to("x.yaml")
    elif kind == "deep-nesting":
        (feeds / "x.yaml").write_text("id: x\ntitle: " + "[" * 500 + "]" * 500 + "\n")
    elif kind == "alias-bomb":
        (feeds / "x.yaml").write_text(billion_laughs())
    elif kind == "a-million-unknown-topics":
        topics = ", ".join(f"t{n}" for n in range(1_000_000))
        (feeds / "x.yaml").write_text(f"id: x\ntitle: T\nstart: 2020-12-07\ntopics: [{topics}]\n")
    elif kind == "utf-16":
        (feeds / "x.yaml").write_bytes(EVENT_HEAD.encode("utf-16"))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("fifo", "feeds/x.yaml: not a regular file but a FIFO (named pipe): only files are read"),
        ("symlink-loop", "feeds/x.yaml: cannot read file: Too many levels of symbolic links"),
        ("deep-nesting", "feeds/x.yaml:2: nested more than 20 levels deep"),
        ("alias-bomb", "feeds/x.yaml:5: its aliases expand to more than 50,000 values"),
        (
            "a-million-unknown-topics",
            "feeds/x.yaml: 8,888,932 bytes, more than the 1,000,000 a file may hold; "
            "split it into several",
        ),
        (
            "utf-16",
            "feeds/x.yaml:1: the file is UTF-16 (it starts with a byte order mark); "
            "save it as UTF-8",
        ),
    ],
)
def test_a_hostile_event_file_is_one_problem_line_never_a_hang_or_a_traceback(
    project: Path, kind: str, expected: str
) -> None:
    make_hostile(project, kind)

    done = run_calfeed("check", cwd=project)  # a hang fails it after run_calfeed's timeout

    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [expected, "Error: 1 problem found"]
