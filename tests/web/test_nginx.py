"""The documented nginx site (``docs/nginx.conf``) run by a real nginx, as an operator runs it.

nginx serves the files of ``calfeed export`` and hands everything else to a real
``calfeed serve``. Through it: every link of every page resolves, the sign-up included;
feeds answer with their calendar type and 304 to conditional requests; the feeds no export
holds (``a+b``) and ``/healthz`` come from calfeed; a visitor signs up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from ports import free_port
from seed import SEED_IDS, SEED_TOPICS

from service.cli import main
from service.store.database import open_database
from service.store.tables import outbox, subscribers

from .conftest import crawl
from .test_serve import running

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "docs" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _nginx_or_skip() -> None:
    """Skip without nginx; fail in CI, which installs it with the browser (make system)."""
    if Path(NGINX).is_file():
        return
    if os.environ.get("CALFEED_REQUIRE_BROWSER") == "1":
        pytest.fail("CALFEED_REQUIRE_BROWSER=1 but nginx is not installed (make system)")
    pytest.skip("nginx is not installed (apt-get install nginx)")


def site_config(nginx_port: int, app_port: int, root: Path) -> str:
    """Return docs/nginx.conf with the addresses and folder of this test, nothing else."""
    text = SITE.read_text("utf-8")
    for documented, here in [
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ("listen 80;", f"listen 127.0.0.1:{nginx_port};"),
        ("root /srv/calfeed/site;", f"root {root};"),
    ]:
        assert text.count(documented) == 1, documented
        text = text.replace(documented, here)
    return text


@contextmanager
def nginx(site: str, prefix: Path) -> Iterator[None]:
    """Run nginx in the foreground with ``site`` as its one site, all its files in ``prefix``."""
    prefix.mkdir()
    (prefix / "site.conf").write_text(site, "utf-8")
    (prefix / "nginx.conf").write_text(
        f"""
        pid {prefix}/nginx.pid;
        error_log {prefix}/error.log;
        events {{ worker_connections 64; }}
        http {{
            include /etc/nginx/mime.types;
            default_type application/octet-stream;
            access_log {prefix}/access.log;
            client_body_temp_path {prefix}/body;
            proxy_temp_path {prefix}/proxy;
            fastcgi_temp_path {prefix}/fastcgi;
            uwsgi_temp_path {prefix}/uwsgi;
            scgi_temp_path {prefix}/scgi;
            include {prefix}/site.conf;
        }}
        """,
        "utf-8",
    )
    command = [NGINX, "-p", str(prefix), "-e", str(prefix / "error.log")]
    command += ["-c", str(prefix / "nginx.conf"), "-g", "daemon off; master_process off;"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    with subprocess.Popen(command, stderr=subprocess.PIPE) as process:
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture
def behind_nginx(seed_project: Path, tmp_path: Path) -> Iterator[str]:
    """Export the seed site, run calfeed serve and nginx before both; yield nginx's address."""
    _nginx_or_skip()
    nginx_port = free_port()
    base = f"http://127.0.0.1:{nginx_port}"
    config = seed_project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("http://127.0.0.1:8000", base), "utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "export", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    serve = ["--config", str(config), "serve", "--workers", "1", "--proxies", "1"]
    with running(serve, tmp_path / "serve.log") as app_port:
        with nginx(site_config(nginx_port, app_port, tmp_path / "site"), tmp_path / "nginx"):
            wait_for(base + "/")
            yield base


def test_every_link_of_every_page_resolves_through_nginx(behind_nginx: str) -> None:
    answers, elsewhere = crawl(behind_nginx)

    assert {url: status for url, (status, _) in answers.items() if status != 200} == {}
    paths = {urlsplit(url).path for url in answers}
    assert {f"/events/{event_id}.html" for event_id in SEED_IDS} <= paths
    assert {f"/topics/{slug}.html" for slug in SEED_TOPICS} <= paths
    assert "/subscribe" in paths  # the sign-up, from calfeed serve


def test_feeds_through_nginx_are_calendars_with_304s(behind_nginx: str, tmp_path: Path) -> None:
    status, headers, body = get(behind_nginx + "/feeds/procurement.ics")
    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert body == (tmp_path / "site" / "feeds" / "procurement.ics").read_bytes()
    for validator in [
        {"If-None-Match": headers["ETag"]},
        {"If-Modified-Since": headers["Last-Modified"]},
    ]:
        status, _, body = get(behind_nginx + "/feeds/procurement.ics", validator)
        assert (status, body) == (304, b""), validator

    # Not a file of the export: calfeed serves it, with its own validators.
    status, headers, body = get(behind_nginx + "/feeds/procurement+supply-chains.ics")
    assert status == 200 and body.startswith(b"BEGIN:VCALENDAR\r\n")
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    status, _, _ = get(
        behind_nginx + "/feeds/procurement+supply-chains.ics", {"If-None-Match": headers["ETag"]}
    )
    assert status == 304
    status, headers, body = get(behind_nginx + "/events/circular-cities-webinar-2020-12.ics")
    assert status == 200 and headers["Content-Type"] == "text/calendar; charset=utf-8"
    status, headers, body = get(behind_nginx + "/events/circular-cities-webinar-2020-12")
    assert status == 200 and b"1st European Circular Cities Declaration Webinar" in body
    status, headers, body = get(behind_nginx + "/healthz")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert get(behind_nginx + "/feeds/nothing.ics")[0] == 404


def test_a_visitor_signs_up_through_nginx(behind_nginx: str, seed_project: Path) -> None:
    with urllib.request.urlopen(behind_nginx + "/subscribe?topic=procurement", timeout=5) as page:
        assert page.headers["Set-Cookie"] is None
        assert 'name="email"' in page.read().decode()
    data = urllib.parse.urlencode(
        {
            "email": "ann@example.org",
            "topics": "procurement",
            "timezone": "Europe/Vienna",
        }
    ).encode()
    # A browser posting the site's own form says so; the app compares it with the Host that
    # nginx passes on, port included.
    sent = urllib.request.Request(
        behind_nginx + "/subscribe", data=data, headers={"Origin": behind_nginx}
    )
    with urllib.request.urlopen(sent, timeout=5) as response:
        answer = response.read().decode()

    assert "We sent a mail to ann@example.org." in answer
    engine = open_database(f"sqlite:///{seed_project / 'var' / 'calfeed.sqlite3'}")
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.select(subscribers.c.status, outbox.c.kind).join(
                    outbox, outbox.c.subscriber_id == subscribers.c.id
                )
            ).one()
    finally:
        engine.dispose()
    assert tuple(row) == ("pending", "confirm")
