"""The ``calfeed`` command line: the operator's entry point.

``calfeed [--config PATH] COMMAND``; the configuration defaults to ``./config.yaml`` or
``$CALFEED_CONFIG``. Errors in the operator's files are printed as ``path:line: field:
message``, never as a stack trace.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click
from flask import Flask

from . import create_app
from .catalog import Catalog, load_catalog
from .database import open_database
from .errors import CalfeedError, CatalogError
from .export import export_site


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
    if not config_path.is_file():
        raise click.ClickException(f"{config_path}: no such configuration file")
    try:
        return load_catalog(config_path)
    except CatalogError as err:
        for problem in err.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(f"{_count(len(err.problems), 'problem')} found") from err


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _app(config_path: Path, **settings: object) -> Flask:
    """Create the app, turning a bad catalog or database into a readable error."""
    _load(config_path)  # report every problem as a list before anything starts
    try:
        return create_app(config_path, settings)
    except CalfeedError as err:
        raise click.ClickException(str(err)) from err


def _log_to_stderr() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


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
    """Run the embedded default: the web server in one process."""
    import waitress

    _log_to_stderr()
    app = _app(config_path)
    click.echo(f"calfeed serving on http://{host}:{port}/ (Ctrl+C to stop)")
    waitress.serve(app, host=host, port=port, threads=8, _quiet=True)


@main.command()
@host_option
@port_option
@click.option(
    "--workers", type=click.IntRange(1), help="Worker processes [default: 2 x cores + 1]."
)
@click.pass_obj
def serve(config_path: Path, host: str, port: int, workers: int | None) -> None:
    """Run the web server alone, on gunicorn with several worker processes."""
    from .gunicorn import serve as gunicorn_serve

    _log_to_stderr()
    catalog = _load(config_path)
    try:
        open_database(catalog.config.database_url).dispose()  # migrate once, before the workers
    except CalfeedError as err:
        raise click.ClickException(str(err)) from err
    gunicorn_serve(config_path, f"{host}:{port}", workers or 2 * (os.cpu_count() or 1) + 1)


@main.command()
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def export(config_path: Path, target: Path) -> None:
    """Write the static site (feeds, event calendars, pages) into TARGET."""
    app = _app(config_path, WATCH=False)
    written = export_site(app, target)
    click.echo(f"wrote {len(written)} files to {target}")
