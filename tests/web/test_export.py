"""``calfeed export DIR`` (``service/web/export.py``): the static site, byte for byte the app's."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from flask import render_template
from freezegun import freeze_time
from seed import SEED_IDS, SEED_TOPICS

from service.cli import main

from .conftest import MakeApp, live


def export(runner: CliRunner, config: Path, target: Path) -> dict[str, bytes]:
    """Run ``calfeed export`` and return every file it left, by path under ``target``."""
    result = runner.invoke(main, ["--config", str(config), "export", str(target)])
    assert result.exit_code == 0, result.output
    files = {
        str(p.relative_to(target)): p.read_bytes()
        for p in target.rglob("*")
        if p.is_file() and p.name != ".calfeed-export"  # the export's list of what it wrote
    }
    said = re.fullmatch(
        rf"wrote (\d+) files to {re.escape(str(target))}(?:, (\d+) unchanged)?(?:, \d+ removed)?\n",
        result.output,
    )
    assert said, result.output
    assert int(said[1]) + int(said[2] or 0) == len(files)  # the count is all
    return files


STATIC_DIR = Path(__file__).resolve().parents[2] / "service" / "web" / "static"
STATIC = sorted(f"static/{p.relative_to(STATIC_DIR)}" for p in STATIC_DIR.rglob("*") if p.is_file())
# The site's own language (English) at the top, each other one in its folder.
LANGUAGE_FOLDERS = ["", "fr/", "es/", "de/"]
EXPECTED = {
    *(
        name
        for folder in LANGUAGE_FOLDERS
        for name in (
            f"{folder}index.html",
            *(
                f"{folder}feeds/{name}.{kind}"
                for name in ["all", *SEED_TOPICS]
                for kind in ["ics", "atom", "json"]
            ),
            *(f"{folder}topics/{slug}.html" for slug in SEED_TOPICS),
            *(f"{folder}embed/{name}.html" for name in ["all", *SEED_TOPICS]),
            *(f"{folder}events/{event_id}.ics" for event_id in SEED_IDS),
            *(f"{folder}events/{event_id}.html" for event_id in SEED_IDS),
        )
    ),
    *STATIC,
}


def test_export_writes_every_feed_page_and_static_file(
    seed_project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    files = export(runner, seed_project / "config.yaml", tmp_path / "site")

    assert set(files) == EXPECTED
    assert files["feeds/all.ics"].startswith(b"BEGIN:VCALENDAR\r\n")
    assert b"<h1>Upcoming events</h1>" in files["index.html"]
    assert (
        b"1st European Circular Cities Declaration Webinar"
        in files["events/circular-cities-webinar-2020-12.html"]
    )
    assert {"static/localtime.js", "static/style.css"} <= set(STATIC)
    for name in STATIC:
        assert files[name] == (STATIC_DIR / name.removeprefix("static/")).read_bytes(), name


def test_exported_files_are_what_the_app_serves(
    seed_project: Path, runner: CliRunner, make_app: MakeApp, tmp_path: Path
) -> None:
    with freeze_time("2020-12-09 12:00:00", tz_offset=0):
        files = export(runner, seed_project / "config.yaml", tmp_path / "site")
        client = make_app().test_client()
        served = [
            name
            for name in files
            if name.endswith((".ics", ".atom", ".json")) or name.startswith("static/")
        ]
        assert len(served) == (3 * (1 + 8) + 6) * len(LANGUAGE_FOLDERS) + len(STATIC)
        for name in served:
            data = files[name]
            with client.get("/" + name) as response:  # static files are open until closed
                assert response.status_code == 200, name
                assert response.data == data, name
    assert b"Past events" in files["index.html"]


def test_exported_pages_are_the_pages_the_app_renders_linking_to_the_files(
    seed_project: Path, runner: CliRunner, make_app: MakeApp, tmp_path: Path
) -> None:
    base = "http://127.0.0.1:8000"  # site.base_url of the seed config
    with freeze_time("2020-12-09 12:00:00", tz_offset=0):
        files = export(runner, seed_project / "config.yaml", tmp_path / "site")
        client = make_app().test_client()
        names = [
            f"{folder}{name}"
            for folder in ("", "fr/")
            for name in ["index.html", *(f"events/{event_id}.html" for event_id in SEED_IDS)]
        ]
        for name in names:
            path = "/" + name.removesuffix("index.html").removesuffix(".html")
            served = client.get(path).data.decode()
            # The same page, but each link names the file, from base_url: the links between
            # pages, and the page's own address (canonical, og:url, its JSON-LD's url, the
            # alternates in other languages), in any language.
            page_path = r"(?:/(?:fr|es|de))?/(?:topics|events)/[^\".]+"
            for page in re.findall(rf'href="({page_path})"', served):
                served = served.replace(f'href="{page}"', f'href="{base}{page}.html"')
            for page in re.findall(rf'"{re.escape(base)}({page_path})"', served):
                served = served.replace(f'"{base}{page}"', f'"{base}{page}.html"')
            for link in re.findall(r'(?:href|src|action)="(/[^"]*)"', served):
                served = served.replace(f'="{link}"', f'="{base}{link}"')
            # Every language has the one folder of static files.
            served = re.sub(rf"{re.escape(base)}/(?:fr|es|de)/static/", f"{base}/static/", served)
            assert files[name].decode() == served, name
        assert f'<a href="{base}/fr/events/{SEED_IDS[0]}.html" lang="fr"' in (
            files[f"events/{SEED_IDS[0]}.html"].decode()
        )


def test_a_second_export_is_identical(
    seed_project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        first = export(runner, seed_project / "config.yaml", tmp_path / "one")
    with freeze_time("2020-11-02 09:00:00", tz_offset=0):
        second = export(runner, seed_project / "config.yaml", tmp_path / "two")
        again = export(runner, seed_project / "config.yaml", tmp_path / "one")  # over itself

    assert set(second) == set(again) == set(first)
    assert [name for name in sorted(first) if second[name] != first[name]] == []
    assert [name for name in sorted(first) if again[name] != first[name]] == []


def test_an_export_after_an_edit_changes_only_the_calendars_it_touched(
    seed_project: Path, runner: CliRunner, make_app: MakeApp, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        first = export(runner, config, tmp_path / "one")
    path = seed_project / "feeds" / "2020-12-big-buyers-needs-assessment-webinar.yaml"
    path.write_text(path.read_text("utf-8").replace("09:30", "09:45"), "utf-8")
    with freeze_time("2020-11-02 09:00:00", tz_offset=0):
        second = export(runner, config, tmp_path / "two")

    changed = {name for name in first if name.endswith(".ics") and first[name] != second[name]}
    assert changed == {
        f"{folder}{name}"
        for folder in LANGUAGE_FOLDERS
        for name in (
            "feeds/all.ics",
            "feeds/procurement.ics",
            "feeds/climate.ics",
            "events/big-buyers-needs-assessment-webinar-2020-12.ics",
        )
    }
    page = "events/big-buyers-needs-assessment-webinar-2020-12.html"
    assert b"09:45" in second[page] and b"09:45" not in first[page]
    assert b"SEQUENCE:1\r\n" in second["events/big-buyers-needs-assessment-webinar-2020-12.ics"]


def test_export_of_a_broken_project_lists_the_problems_and_writes_nothing(
    seed_project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    (seed_project / "feeds" / "broken.yaml").write_text("id: broken\ntitle: [\n", "utf-8")

    result = runner.invoke(
        main, ["--config", str(seed_project / "config.yaml"), "export", str(tmp_path / "site")]
    )

    assert result.exit_code == 1
    assert "feeds/broken.yaml:" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "site").exists()


def test_export_uses_the_same_database_as_the_app(
    seed_project: Path, runner: CliRunner, make_app: MakeApp, tmp_path: Path
) -> None:
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        app = make_app()
        served = app.test_client().get("/feeds/all.ics").data
        live(app).close()
    with freeze_time("2020-11-05 09:00:00", tz_offset=0):
        files = export(runner, seed_project / "config.yaml", tmp_path / "site")

    assert files["feeds/all.ics"] == served


def test_an_export_over_an_earlier_one_writes_only_what_changed(
    seed_project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    config, target = seed_project / "config.yaml", tmp_path / "site"
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        first = export(runner, config, target)
    (target / "CNAME").write_text("events.example.org\n", encoding="utf-8")  # the operator's
    stamps = {name: (target / name).stat().st_mtime_ns for name in first}
    path = seed_project / "feeds" / "2020-12-big-buyers-needs-assessment-webinar.yaml"
    path.write_text(path.read_text("utf-8").replace("09:30", "09:45"), "utf-8")
    (seed_project / "feeds" / "2020-12-circular-cities-webinar.yaml").unlink()

    with freeze_time("2020-11-02 09:00:00", tz_offset=0):
        result = runner.invoke(main, ["--config", str(config), "export", str(target)])

    assert result.exit_code == 0, result.output
    left = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    gone = {
        f"{folder}events/circular-cities-webinar-2020-12.{kind}"
        for folder in LANGUAGE_FOLDERS
        for kind in ("ics", "html")
    }
    assert left == (set(first) - gone) | {"CNAME", ".calfeed-export"}
    rewritten = {
        name for name in set(first) - gone if (target / name).stat().st_mtime_ns != stamps[name]
    }
    differs = {name for name in set(first) - gone if (target / name).read_bytes() != first[name]}
    assert rewritten == differs
    assert "events/big-buyers-needs-assessment-webinar-2020-12.ics" in rewritten
    assert (
        "index.html" in rewritten
        and "events/procura-plus-socially-responsible-ict-webinar-2020-12.ics" not in rewritten
    )
    assert result.output == (
        f"wrote {len(rewritten)} files to {target}, "
        f"{len(first) - len(gone) - len(rewritten)} unchanged, {len(gone)} removed\n"
    )
    assert (target / "CNAME").read_text(encoding="utf-8") == "events.example.org\n"


def test_an_export_removes_nothing_it_did_not_write(
    seed_project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    outside = tmp_path / "keep.txt"
    outside.write_text("mine", encoding="utf-8")
    target.mkdir()
    (target / ".calfeed-export").write_text(
        f"{'0' * 64}  ../keep.txt\n{'0' * 64}  {outside}\n{'0' * 64}  notes.txt\n",
        encoding="utf-8",
    )
    (target / "notes.txt").write_text("an operator's note", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("mine too", encoding="utf-8")

    result = runner.invoke(
        main, ["--config", str(seed_project / "config.yaml"), "export", str(target)]
    )

    assert result.exit_code == 0, result.output
    assert outside.read_text(encoding="utf-8") == "mine"
    # notes.txt was listed, so an earlier export wrote it: it goes, and nothing outside.
    assert not (target / "notes.txt").exists()
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine too"


def _rename_topic(root: Path) -> None:
    config = root / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("name: ICT", "name: Digital"), "utf-8")


def _retitle_site(root: Path) -> None:
    config = root / "config.yaml"
    text = config.read_text("utf-8")
    config.write_text(text.replace("Sustainable Procurement Events", "Procurement Events"), "utf-8")


def _move_an_event(root: Path) -> None:
    path = root / "feeds" / "2020-12-big-buyers-needs-assessment-webinar.yaml"
    path.write_text(path.read_text("utf-8").replace("09:30", "09:45"), "utf-8")


def _remove_an_event(root: Path) -> None:
    (root / "feeds" / "2020-12-circular-cities-webinar.yaml").unlink()


@pytest.mark.parametrize("change", [_rename_topic, _retitle_site, _move_an_event, _remove_an_event])
def test_an_export_over_an_earlier_one_is_a_fresh_export(
    seed_project: Path, runner: CliRunner, tmp_path: Path, change: Callable[[Path], None]
) -> None:
    config = seed_project / "config.yaml"
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        export(runner, config, tmp_path / "site")
    change(seed_project)

    with freeze_time("2020-11-02 09:00:00", tz_offset=0):
        over = export(runner, config, tmp_path / "site")
        fresh = export(runner, config, tmp_path / "fresh")

    assert over == fresh


def test_an_export_with_nothing_changed_renders_no_event_and_no_feed_again(
    seed_project: Path, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.web import feeds, pages, syndication

    rendered: list[str] = []

    def counted(name: str, **context: Any) -> str:
        rendered.append(name)
        return render_template(name, **context)

    def written(kind: str, build: Callable[..., bytes]) -> Callable[..., bytes]:
        def write(*args: Any) -> bytes:
            rendered.append(kind)
            return build(*args)

        return write

    monkeypatch.setattr(pages, "render_template", counted)
    monkeypatch.setattr(feeds, "atom_feed", written("atom", syndication.atom_feed))
    monkeypatch.setattr(feeds, "json_feed", written("json", syndication.json_feed))
    config = seed_project / "config.yaml"
    first = export(runner, config, tmp_path / "site")
    languages = len(LANGUAGE_FOLDERS)
    assert rendered.count("event.html") == len(SEED_IDS) * languages
    assert rendered.count("atom") == rendered.count("json") == (1 + len(SEED_TOPICS)) * languages
    rendered.clear()

    again = export(runner, config, tmp_path / "site")

    assert {"event.html", "atom", "json"}.isdisjoint(rendered)
    assert "index.html" in rendered  # it tells upcoming from past by the clock
    assert again == first


def test_an_export_on_two_cores_writes_what_one_process_writes(
    seed_project: Path, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service import parallel

    config = seed_project / "config.yaml"
    one = export(runner, config, tmp_path / "one")
    monkeypatch.setattr(parallel, "AT_LEAST", 1)  # share out even the seed's few events
    monkeypatch.setattr(parallel, "processes_available", lambda: 2)

    shared_out = export(runner, config, tmp_path / "two")

    assert shared_out == one
    listed = [(tmp_path / name / ".calfeed-export").read_text("utf-8") for name in ("one", "two")]
    assert listed[0] == listed[1]


def _keep_no_past_events(root: Path) -> None:
    config = root / "config.yaml"
    text = config.read_text("utf-8")
    config.write_text(text.replace("keep_past_days: null", "keep_past_days: 0"), "utf-8")


def test_an_export_days_later_leaves_out_of_its_feeds_what_ended_as_a_fresh_one_does(
    seed_project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"
    _keep_no_past_events(seed_project)
    with freeze_time("2020-12-01 09:00:00", tz_offset=0):
        first = export(runner, config, tmp_path / "site")

    with freeze_time("2020-12-09 09:00:00", tz_offset=0):  # the summit and a webinar ended
        over = export(runner, config, tmp_path / "site")
        fresh = export(runner, config, tmp_path / "fresh")

    assert over == fresh
    assert b"circular-cities-webinar" in first["feeds/all.json"]
    assert b"circular-cities-webinar" not in over["feeds/all.json"]
    assert over["feeds/all.ics"] != first["feeds/all.ics"]


PRIVATE_JOIN = "https://meet.example.org/j/members-room?pwd=only-for-subscribers"
PUBLIC_JOIN = "https://meet.example.org/j/4711?pwd=open"


def test_a_real_export_holds_no_private_join_link_in_any_file(
    seed_project: Path, tmp_path: Path
) -> None:
    online = {
        "events": [
            {
                "id": "members-webinar-2030",
                "title": "Members' webinar",
                "topics": ["procurement"],
                "start": "2030-06-11T10:00",
                "end": "2030-06-11T11:00",
                "location": "Online",
                "online": {"join_url": PRIVATE_JOIN},
                "sessions": [{"start": "10:00", "end": "10:30", "title": "Questions"}],
            },
            {
                "id": "open-forum-2030",
                "title": "Open forum",
                "topics": ["procurement", "supply-chains"],
                "start": "2030-06-12T10:00",
                "end": "2030-06-12T11:00",
                "online": {"join_url": PUBLIC_JOIN, "public": True},
            },
        ]
    }
    (seed_project / "feeds" / "online.yaml").write_text(yaml.safe_dump(online), encoding="utf-8")
    target = tmp_path / "site"
    calfeed = Path(sys.executable).parent / "calfeed"

    done = subprocess.run(
        [str(calfeed), "--config", str(seed_project / "config.yaml"), "export", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    files = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert target / "events" / "members-webinar-2030.html" in files
    for path, data in files.items():
        unfolded = data.replace(b"\r\n ", b"")  # a calendar line may be folded in the link
        for secret in (b"members-room", b"only-for-subscribers"):
            assert secret not in unfolded, path
    page = files[target / "events" / "members-webinar-2030.html"].decode()
    assert "the join link is sent to confirmed subscribers" in page
    assert 'href="http://127.0.0.1:8000/subscribe?topic=procurement"' in page  # base_url
    opened = files[target / "events" / "open-forum-2030.html"].decode()
    assert f'href="{PUBLIC_JOIN}"' in opened
    for feed in ("feeds/all.ics", "feeds/procurement.ics", "events/open-forum-2030.ics"):
        assert f"CONFERENCE;FEATURE=VIDEO;LABEL=Join online;VALUE=URI:{PUBLIC_JOIN}" in (
            files[target / feed].replace(b"\r\n ", b"").decode()
        ), feed
