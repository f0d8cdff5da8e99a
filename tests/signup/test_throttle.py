"""Sign-up rate limits (``service/web/throttle.py``): per address in the database, per client.

An address past its limit gets the answer every sign-up gets, and no mail; the database
counts for every web process (two real ``calfeed serve`` processes here), and only sign-ups
that could mail. The per-client limit is shared through the real Redis on 127.0.0.1:6379,
and a Redis of the test's own is stopped to see sign-ups go on. No response tells anything
about how often an address was used.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from flask import Flask
from freezegun.api import FrozenDateTimeFactory
from ports import free_port
from werkzeug.test import TestResponse

from service import open_app
from service.errors import CalfeedError
from service.reminders.worker import worker_for
from service.store.tables import outbox
from service.web.throttle import open_storage

from .conftest import SETTINGS, Inbox, MakeApp, Page, live, sign_up

CALFEED = str(Path(sys.executable).with_name("calfeed"))
ALICE = "alice@example.org"
FULLWIDTH_ALICE = "alice@ｅｘａｍｐｌｅ．ｏｒｇ"
REDIS = "redis://127.0.0.1:6379/0"
PER_ADDRESS = {"limit_per_client": "200/hour", "limit_per_address": "2/hour"}
PER_CLIENT = {"limit_per_client": "3/hour", "limit_per_address": "10/hour"}
SLOW_DOWN = "Too many sign-up requests. Please wait a while and try again."


def from_client(app: Flask, number: int, address: str, zone: str = "UTC") -> TestResponse:
    """Sign up ``address`` from the client 203.0.113.<number>."""
    client = app.test_client()
    remote = {"REMOTE_ADDR": f"203.0.113.{number}"}
    return sign_up(client, address, zone=zone, environ_base=remote)


def as_seen(response: TestResponse, typed: str) -> tuple[int, bytes]:
    """Return what a visitor sees of a sign-up's answer, but the address they typed."""
    return response.status_code, response.get_data().replace(typed.encode(), b"ADDRESS")


def limit_headers(response: TestResponse) -> list[str]:
    return [name for name in response.headers.keys() if "ratelimit" in name.lower()] + [
        name for name in response.headers.keys() if name.lower() == "retry-after"
    ]


# Per address


def test_an_address_past_its_limit_gets_the_answer_every_sign_up_gets_and_no_mail(
    make_app: MakeApp, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    app = make_app(signup=PER_ADDRESS)  # two mails an hour for one address
    answers = []
    for number, spelling in enumerate([ALICE, "Alice@EXAMPLE.org", FULLWIDTH_ALICE]):
        answers.append(from_client(app, number, spelling))
        clock.tick(timedelta(minutes=1))
    fresh = from_client(app, 9, "bob@example.org")

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    typed = [ALICE, "Alice@EXAMPLE.org", FULLWIDTH_ALICE]
    seen = {as_seen(answer, spelling) for answer, spelling in zip(answers, typed, strict=True)}
    assert seen == {as_seen(fresh, "bob@example.org")}
    assert Page.of(answers[2]).h1 == "Check your inbox"
    assert {tuple(sorted(a.headers.keys())) for a in answers} == {
        tuple(sorted(fresh.headers.keys()))
    }
    assert [limit_headers(answer) for answer in (*answers, fresh)] == [[]] * 4
    worker_for(live(app)).sweep()
    assert len(inbox.to(ALICE)) == 2  # the third spelling is the same address: no third mail
    clock.tick(timedelta(hours=1))  # the first mail is more than an hour old now
    assert from_client(app, 4, ALICE).status_code == 200
    worker_for(live(app)).sweep()
    assert len(inbox.to(ALICE)) == 3


def test_sign_ups_that_could_not_mail_do_not_count_against_the_address(
    make_app: MakeApp, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    app = make_app(signup=PER_ADDRESS)
    for number in range(5):  # a stranger, or the owner's typos: nothing is mailed
        refused = from_client(app, number, ALICE, zone="Europe/Brusels")
        assert refused.status_code == 400
        clock.tick(timedelta(minutes=1))

    assert from_client(app, 7, ALICE).status_code == 200

    worker_for(live(app)).sweep()
    assert len(inbox.to(ALICE)) == 1


# Per client


def test_more_sign_ups_from_one_client_than_allowed_get_a_readable_429(
    make_app: MakeApp, inbox: Inbox
) -> None:
    app = make_app(signup=PER_CLIENT)  # three sign-ups an hour from one client
    client = app.test_client()
    data = {"email": "x", "topics": ["procurement"]}
    assert client.post("/subscribe", data=data).status_code == 400  # an invalid one is free
    for number in range(3):
        assert sign_up(client, f"person{number}@example.org").status_code == 200

    refused = sign_up(client, "person3@example.org")

    assert refused.status_code == 429
    page = Page.of(refused)
    assert page.h1 == "Slow down"
    assert SLOW_DOWN in page.text
    assert limit_headers(refused) == []
    elsewhere = from_client(app, 7, "person3@example.org")
    assert elsewhere.status_code == 200
    worker_for(live(app)).sweep()
    assert [len(inbox.to(f"person{number}@example.org")) for number in range(4)] == [1, 1, 1, 1]


def test_the_client_limit_is_shared_by_every_process_through_redis(
    make_app: MakeApp, project: Path
) -> None:
    first = make_app(signup={**PER_CLIENT, "limits_storage": REDIS})
    second = open_app(project / "config.yaml")  # another process
    try:
        answers = [
            from_client(app, 5, f"person{n}@example.org").status_code
            for n, app in enumerate([first, second, first, second])
        ]
    finally:
        live(second).close()

    assert answers == [200, 200, 200, 429]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start a Redis server of the test's own on a free port; yield its URL and process."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (make system installs it)"
    port = free_port()
    command = [binary, "--port", str(port), "--save", "", "--appendonly", "no"]
    with subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    ) as process:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        try:
            yield f"redis://127.0.0.1:{port}/0", process
        finally:
            process.kill()


def test_sign_ups_go_on_when_redis_stops_answering(
    make_app: MakeApp, inbox: Inbox, own_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, server = own_redis
    app = make_app(signup={**PER_CLIENT, "limits_storage": url})
    assert from_client(app, 1, "before@example.org").status_code == 200
    server.kill()
    server.wait(timeout=10)

    answer = from_client(app, 1, "after@example.org")

    assert answer.status_code == 200
    worker_for(live(app)).sweep()
    assert len(inbox.to("after@example.org")) == 1


# A storage that cannot be used


@pytest.mark.parametrize(
    ("storage", "reason"),
    [
        ("foo://somewhere", "unknown storage scheme"),
        ("redis://:hunter2@127.0.0.1:1/0", "it does not answer"),
    ],
)
def test_a_storage_that_cannot_be_used_stops_the_start_with_its_reason(
    write_config: Callable[..., Path], project: Path, storage: str, reason: str
) -> None:
    write_config(signup={**PER_CLIENT, "limits_storage": storage})
    with pytest.raises(CalfeedError) as raised:
        open_storage(storage, project / "config.yaml")

    message = str(raised.value)
    assert message.startswith(f"{project / 'config.yaml'}: signup.limits_storage: cannot use")
    assert reason in message
    assert "hunter2" not in message
    for command in ("serve", "run"):
        config = str(project / "config.yaml")
        result = subprocess.run(
            [CALFEED, "--config", config, command, "--port", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert f"Error: {message}\n" in result.stderr
        assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


# Across real processes


def _request(
    port: int, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body.encode(), headers=headers or {})
        response = connection.getresponse()
        return response.status, response.msg, response.read().decode()
    finally:
        connection.close()


def test_two_web_processes_mail_an_address_no_more_than_its_limit(
    project: Path, write_config: Callable[..., Path], write_event: Callable[..., Path]
) -> None:
    from web.test_serve import running

    write_config(**{**SETTINGS, "signup": PER_ADDRESS})  # two mails an hour for one address
    config = project / "config.yaml"
    args = ["--config", str(config), "serve", "--workers", "1"]
    with (
        running(args, project / "a.log") as first,
        running(args, project / "b.log") as second,
    ):
        form = {"email": ALICE, "topics": "procurement", "timezone": "UTC"}
        answers = []
        for port in (first, second, first):
            time.sleep(1.05)  # apart by a second: two sign-ups in one second are one mail
            status, _, body = _request(
                port,
                "POST",
                "/subscribe",
                urlencode(form),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
            answers.append((status, "Check your inbox" in body))

    assert answers == [(200, True)] * 3
    engine = sa.create_engine(f"sqlite:///{project / 'var' / 'calfeed.sqlite3'}")
    with engine.connect() as connection:
        queued = connection.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.kind == "confirm")
        ).scalar_one()
    engine.dispose()
    assert queued == 2
