"""The ``calfeed`` command line: the operator's entry point.

``calfeed [--config PATH] COMMAND``; the configuration defaults to ``./config.yaml`` or
``$CALFEED_CONFIG``. Errors in the operator's files are printed as ``path:line: field:
message``, never as a stack trace.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlalchemy as sa
from flask import Flask

from . import open_app
from .catalog import Catalog, Config, load_catalog
from .errors import CalfeedError, CatalogError
from .live import LiveCatalog
from .reminders import records
from .store.database import open_database
from .tokens import secret_key
from .web import serving
from .web.export import export_site
from .web.security import MAX_BODY
from .web.throttle import open_storage

T = TypeVar("T")


@click.group()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="config.yaml",
    envvar="CALFEED_CONFIG",
    show_default=True,
    help="The configuration file (or $CALFEED_CONFIG).",
)
@click.pass_context
def main(ctx: click.Context, config_path: Path) -> None:
    """Calendar feeds and reminder emails from event definitions in YAML."""
    ctx.obj = config_path


def _load(config_path: Path) -> Catalog:
    return _checked(load_catalog, _existing(config_path))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _app(config_path: Path, **settings: object) -> Flask:
    """Open the site and create its app, turning a bad catalog or database into an error."""
    return _checked(open_app, _existing(config_path), settings)


def _log_to_stderr() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # APScheduler logs every run of every job; its warnings and errors are what matter.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


host_option = click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
)
port_option = click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))


@main.command()
@click.pass_obj
def check(config_path: Path) -> None:
    """Validate config.yaml and every event; exit 1 on any problem."""
    catalog = _load(config_path)
    click.echo(
        f"ok: {_count(len(catalog.events), 'event')}, "
        f"{_count(catalog.session_count, 'session')}, {_count(len(catalog.config.topics), 'topic')}"
    )


@main.command()
@host_option
@port_option
@click.pass_obj
def run(config_path: Path, host: str, port: int) -> None:
    """Run the embedded default: web server and reminder worker in one process."""
    import waitress

    from .reminders.worker import worker_for

    _log_to_stderr()
    app = _app(config_path)
    live: LiveCatalog = app.extensions["calfeed.live"]
    limits = live.edition.catalog.config
    _checked(open_storage, limits.signup.limits_storage, limits.path)
    try:  # listen first: a busy port stops here, before the worker starts sending
        server = waitress.create_server(
            app, host=host, port=port, threads=8, max_request_body_size=MAX_BODY
        )
    except OSError as err:
        raise click.ClickException(serving.cannot_listen(host, port, err)) from err
    worker = _checked(worker_for, live)
    app.extensions["calfeed.wake"] = worker.sweep_soon  # sign-up mails leave at once
    # systemd and docker stop with SIGTERM: stop as on Ctrl+C. Waitress ends its loop on
    # SystemExit; the worker then finishes the mail in hand and gives up its heartbeat.
    signal.signal(signal.SIGTERM, serving.exit_on_signal)
    live.watch()
    worker.start()
    serving.announce(live.edition.catalog, host, port)
    try:
        server.run()
    finally:
        server.close()  # take no more connections while the worker finishes
        worker.stop()
        live.close()


@main.command()
@host_option
@port_option
@click.option(
    "--workers", type=click.IntRange(1), help="Worker processes [default: 2 x cores + 1]."
)
@click.option(
    "--proxies",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Proxies in front that set X-Forwarded-For (nginx: 1); trust no more.",
)
@click.pass_obj
def serve(config_path: Path, host: str, port: int, workers: int | None, proxies: int) -> None:
    """Run the web server alone, on gunicorn with several worker processes."""
    from .web.gunicorn import serve as gunicorn_serve

    _log_to_stderr()
    # Load, migrate, render and make the signing key once: the workers are forked from this.
    live = _checked(LiveCatalog, _existing(config_path))
    catalog = live.edition.catalog
    _checked(open_storage, catalog.config.signup.limits_storage, catalog.config.path)
    secret_key(catalog.config.root / "var")
    serving.check_free(host, port)  # gunicorn would retry for seconds, then say little
    serving.announce(catalog, host, port)
    workers = workers or 2 * (os.cpu_count() or 1) + 1
    gunicorn_serve(live, f"{host}:{port}", workers, proxies)


@main.command()
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def export(config_path: Path, target: Path) -> None:
    """Write the static site (feeds, event calendars, pages) into TARGET."""
    app = _app(config_path, STATIC_EXPORT=True)
    done = export_site(app, target)
    kept = [f"{len(done.unchanged)} unchanged"] if done.unchanged else []
    kept += [f"{len(done.removed)} removed"] if done.removed else []
    click.echo(f"wrote {len(done.written)} files to {target}" + "".join(f", {k}" for k in kept))


@main.command()
@click.pass_obj
def worker(config_path: Path) -> None:
    """Run the reminder worker alone (several may share one PostgreSQL database)."""
    import threading

    from .reminders.worker import worker_for

    _log_to_stderr()
    live = _checked(LiveCatalog, _existing(config_path))
    running = _checked(worker_for, live)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    running.start()
    click.echo(f"calfeed worker {running.name} running (Ctrl+C to stop)")
    stop.wait()
    running.stop()
    live.close()


@main.command()
@click.option("--limit", default=20, show_default=True, help="Lines per section of history.")
@click.pass_obj
def reminders(config_path: Path, limit: int) -> None:
    """List what will be sent to whom and when, what was sent, and what failed."""
    from .clock import utc_now
    from .reminders import report

    catalog = _load(config_path)
    engine = _checked(open_database, catalog.config.database_url)
    now = utc_now()
    sections = [
        ("Upcoming", report.upcoming(engine, catalog, now)),
        ("Sent", report.history(engine, ["sent"], limit)),
        ("Failed", report.history(engine, ["failed"], limit)),
        ("Retrying", report.history(engine, ["planned"], limit, retrying=True)),
        (
            "Skipped or withdrawn",
            report.called_off(engine, catalog, now)[:limit]
            + report.history(engine, ["skipped", "withdrawn"], limit),
        ),
    ]
    for title, lines in sections:
        click.echo(f"{title} ({len(lines)}):")
        for line in lines:
            click.echo(f"  {line}")
        click.echo()
    engine.dispose()


@main.group()
def subscribers() -> None:
    """List, show, export (JSON) or erase what is stored about subscribers."""


@subscribers.command("list")
@click.pass_obj
def subscribers_list(config_path: Path) -> None:
    """List every stored subscriber: address, status, topics, zone, mails sent."""
    people = _with_database(_load(config_path), lambda db, _: records.everyone(db))
    for person in people:
        click.echo(
            f"{person['email']}  {person['status']}  {' '.join(person['topics'])}  "
            f"{person['timezone']}  {_count(person['sent'], 'mail')} sent"
        )
    click.echo(f"{_count(len(people), 'subscriber')}")


@subscribers.command("show")
@click.argument("email")
@click.pass_obj
def subscribers_show(config_path: Path, email: str) -> None:
    """Show what is stored about EMAIL, and every mail planned or sent to them."""
    person = _about(config_path, email)
    for key in ("email", "status", "source", "topics", "timezone", "created_at"):
        value = person[key]
        click.echo(f"{key}: {' '.join(value) if key == 'topics' else value}")
    for key in ("confirmed_at", "unsubscribed_at"):
        if person[key]:
            click.echo(f"{key}: {person[key]}")
    if person["alarms"]:
        click.echo(f"alarms: {' '.join(person['alarms'])} before each start")
    if person["language"]:
        click.echo(f"language: {person['language']} (of their mails)")
    click.echo(f"mails ({len(person['mails'])}):")
    for mail in person["mails"]:
        detail = f"  [{mail['detail']}]" if mail["detail"] else ""
        about = mail["event_id"] or "account"
        click.echo(f"  {mail['due_at']}  {about}  {mail['kind']}  {mail['status']}{detail}")
    if person["maildir"]:
        click.echo(f"in the Maildir: {_count(len(person['maildir']), 'mail')}")


@subscribers.command("export")
@click.argument("email")
@click.pass_obj
def subscribers_export(config_path: Path, email: str) -> None:
    """Print everything stored about EMAIL as JSON (for an access request)."""
    click.echo(json.dumps(_about(config_path, email), indent=2, ensure_ascii=False))


@subscribers.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def subscribers_erase(config_path: Path, email: str, yes: bool) -> None:
    """Delete everything stored about EMAIL: subscriber, reminders, mails in the Maildir."""
    if not yes:
        click.confirm(f"Erase everything stored about {email}?", abort=True)
    catalog = _load(config_path)
    erased = _with_database(catalog, lambda db, config: records.erase(db, config, email))
    if erased is None:
        raise click.ClickException(f"{email}: no such subscriber")
    click.echo(
        f"erased {email}: the subscriber, {_count(erased.outbox_rows, 'reminder')} "
        f"and {_count(erased.mails, 'mail')} in the Maildir"
    )
    if any(s.email.lower() == email.strip().lower() for s in catalog.config.subscribers):
        click.echo(
            f"warning: {email} is listed under subscribers: in config.yaml; remove it there, "
            "or it is subscribed again",
            err=True,
        )


def _about(config_path: Path, email: str) -> dict[str, Any]:
    catalog = _load(config_path)
    person = _with_database(catalog, lambda db, config: records.about(db, config, email))
    if person is None:
        raise click.ClickException(f"{email}: no such subscriber")
    return person


def _with_database(catalog: Catalog, work: Callable[[sa.Connection, Config], T]) -> T:
    """Run ``work`` in one transaction on the database config.yaml names."""
    engine = _checked(open_database, catalog.config.database_url)
    try:
        with engine.begin() as connection:
            return work(connection, catalog.config)
    finally:
        engine.dispose()


def _existing(config_path: Path) -> Path:
    if not config_path.is_file():
        raise click.ClickException(f"{config_path}: no such configuration file")
    return config_path


def _checked(function: Callable[..., T], *args: object) -> T:
    """Call ``function``; a CalfeedError becomes a readable error instead of a stack trace.

    Problems in the operator's files are listed one per line, as ``calfeed check`` does.
    """
    try:
        return function(*args)
    except CatalogError as err:
        for problem in err.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(f"{_count(len(err.problems), 'problem')} found") from err
    except CalfeedError as err:
        raise click.ClickException(str(err)) from err
