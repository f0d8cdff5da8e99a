"""The ``calfeed`` command line: the operator's entry point.

``calfeed [--config PATH] COMMAND``; the configuration defaults to ``./config.yaml`` or
``$CALFEED_CONFIG``. Errors in the operator's files are printed as ``path:line: field:
message``, never as a stack trace.
"""

from __future__ import annotations

from pathlib import Path

import click

from .catalog import Catalog, load_catalog
from .errors import CatalogError


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
        count = len(err.problems)
        raise click.ClickException(f"{count} problem{'s' if count != 1 else ''} found") from err


@main.command()
@click.pass_obj
def check(config_path: Path) -> None:
    """Validate config.yaml and every event; exit 1 on any problem."""
    catalog = _load(config_path)
    click.echo(
        f"ok: {len(catalog.events)} events, {catalog.session_count} sessions, "
        f"{len(catalog.config.topics)} topics"
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.pass_obj
def run(config_path: Path, host: str, port: int) -> None:
    """Run the embedded default: the web server in one process."""
    import logging

    import waitress

    from . import create_app

    _load(config_path)  # report problems as a list before anything starts
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(config_path)
    click.echo(f"calfeed serving on http://{host}:{port}/ (Ctrl+C to stop)")
    waitress.serve(app, host=host, port=port, threads=8, _quiet=True)
