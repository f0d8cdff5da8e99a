"""``calfeed export DIR`` (``service/export.py``): the static site, byte for byte the app's."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from freezegun import freeze_time
from seed import SEED_IDS, SEED_TOPICS

from service.cli import main

from .conftest import MakeApp, live


def export(runner: CliRunner, config: Path, target: Path) -> dict[str, bytes]:
    """Run ``calfeed export`` and return every file written, by path under ``target``."""
    result = runner.invoke(main, ["--config", str(config), "export", str(target)])
    assert result.exit_code == 0, result.output
    files = {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert result.output == f"wrote {len(files)} files to {target}\n"  # the count is all
    return files


STATIC_DIR = Path(__file__).resolve().parents[2] / "service" / "web" / "static"
STATIC = sorted(f"static/{p.relative_to(STATIC_DIR)}" for p in STATIC_DIR.rglob("*") if p.is_file())
EXPECTED = {
    "index.html",
    "feeds/all.ics",
    *(f"feeds/{slug}.ics" for slug in SEED_TOPICS),
    *(f"topics/{slug}.html" for slug in SEED_TOPICS),
    *(f"events/{event_id}.ics" for event_id in SEED_IDS),
    *(f"events/{event_id}.html" for event_id in SEED_IDS),
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
        served = [name for name in files if name.endswith(".ics") or name.startswith("static/")]
        assert len(served) == 1 + 8 + 6 + len(STATIC)
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
        for name in ["index.html", *(f"events/{event_id}.html" for event_id in SEED_IDS)]:
            path = "/" if name == "index.html" else "/" + name.removesuffix(".html")
            served = client.get(path).data.decode()
            # The same page, but each link names the file, from base_url.
            for page in re.findall(r'href="(/(?:topics|events)/[^".]+)"', served):
                served = served.replace(f'href="{page}"', f'href="{base}{page}.html"')
            for link in re.findall(r'(?:href|src)="(/[^"]*)"', served):
                served = served.replace(f'="{link}"', f'="{base}{link}"')
            assert files[name].decode() == served, name


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
        "feeds/all.ics",
        "feeds/procurement.ics",
        "feeds/climate.ics",
        "events/big-buyers-needs-assessment-webinar-2020-12.ics",
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
