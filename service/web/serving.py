"""Where ``calfeed run`` and ``calfeed serve`` listen, and how they stop.

A port already taken is one line and exit 1, said before anything claims to serve or the
worker starts. Links in pages, feeds and mails come from ``site.base_url``, never from the
address served on: when base_url points at this machine on another port, a warning says
so. SIGTERM (systemd, docker) stops ``run`` as Ctrl+C does.
"""

from __future__ import annotations

import errno
import ipaddress
import signal
import socket
from urllib.parse import urlsplit

import click

from ..catalog import Catalog


def cannot_listen(host: str, port: int, err: OSError) -> str:
    """Say in one line why nothing can listen on ``host:port``."""
    reason = err.strerror or str(err)
    if err.errno == errno.EADDRINUSE:
        reason = "the port is in use (another calfeed? choose one with --port)"
    return f"cannot listen on {host}:{port}: {reason}"


def check_free(host: str, port: int) -> None:
    """Fail with a one-line error if nothing can listen on ``host:port``."""
    try:
        # As servers bind: SO_REUSEADDR, so a port left in TIME_WAIT counts as free.
        socket.create_server((host, port)).close()
    except OSError as err:
        raise click.ClickException(cannot_listen(host, port, err)) from err


def announce(catalog: Catalog, host: str, port: int) -> None:
    """Say where the service answers, and warn when its links point somewhere else."""
    base_url = catalog.config.site.base_url
    click.echo(f"calfeed serving on http://{host}:{port}/ (Ctrl+C to stop)")
    parts = urlsplit(base_url)
    base_port = parts.port or (443 if parts.scheme == "https" else 80)
    # Behind a proxy base_url names the public address; only a local one can be a mistake.
    if _is_local(parts.hostname or "", host) and base_port != port:
        click.echo(
            f"warning: site.base_url is {base_url}, but this serves port {port}: feeds, "
            "pages and mails link to base_url; set it in config.yaml to the address people use",
            err=True,
        )


def _is_local(name: str, host: str) -> bool:
    if name in ("localhost", host):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exit_on_signal(signum: int, frame: object) -> None:
    """Stop as on Ctrl+C; a second signal does not interrupt the stopping."""
    signal.signal(signum, signal.SIG_IGN)
    raise SystemExit(0)
