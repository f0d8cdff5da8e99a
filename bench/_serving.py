"""calfeed's commands as real processes, and HTTP requests to them, one worker at a time.

``calfeed serve`` hands each connection to whichever gunicorn worker accepts it first, and
tells no worker apart in its answers. To ask every worker, ``per_worker`` opens one
connection per worker and sends nothing until the kernel shows (in /proc) that each is held
by a different worker: a sync worker serves one connection at a time, so a worker that
accepted one waits on it and the next connection goes to another. Each answer is then
known to come from that worker.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from _proc import accepted_sockets, children, socket_holders

BIN = Path(sys.executable).parent
CALFEED = BIN / "calfeed"
HOST = "127.0.0.1"


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that whatever this run started is stopped with it."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Process:
    """A command running in the background, its output in a log file; stop it on exit."""

    def __init__(
        self, command: Sequence[str | Path], log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.log = log
        self._out = log.open("wb")
        self.started = time.perf_counter()
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.popen = subprocess.Popen(
            [str(part) for part in command],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=environment,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def workers(self) -> list[int]:
        """Return the pids of this process's children (gunicorn's or nginx's workers)."""
        return children(self.pid)

    def check(self) -> None:
        """Raise if the process has ended, showing the end of its log."""
        if self.popen.poll() is not None:
            raise RuntimeError(f"exited with {self.popen.returncode}:\n{self.tail()}")

    def wait_for(self, text: str, limit: float = 60.0) -> float:
        """Wait until the process has printed ``text``; return when it had (perf_counter)."""
        while text not in self.log.read_text(errors="replace"):
            self.check()
            if time.perf_counter() - self.started > limit:
                raise RuntimeError(f"no {text!r} within {limit:.0f} s:\n{self.tail()}")
            time.sleep(0.02)
        return time.perf_counter()

    def tail(self, lines: int = 30) -> str:
        """Return the last lines of the process's output."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 30.0) -> None:
        """Ask the process to stop (SIGTERM), and kill it if it does not within ``grace``."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._out.close()

    def __enter__(self) -> Process:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def calfeed(config: Path, *args: str | Path, log: Path) -> Process:
    """Start ``calfeed --config CONFIG ARGS`` in the background."""
    return Process([CALFEED, "--config", config, *args], log)


def serve(config: Path, port: int, workers: int, log: Path) -> Process:
    """Start ``calfeed serve`` with ``workers`` worker processes on ``port``."""
    return calfeed(config, "serve", "--port", str(port), "--workers", str(workers), log=log)


@dataclass(frozen=True)
class Answer:
    """What a GET returned."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")


def get(
    port: int, path: str, headers: Mapping[str, str] | None = None, timeout: float = 60.0
) -> Answer:
    """Send one GET on a new connection and read the whole answer."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path, headers=dict(headers or {}))
        return _read(connection)
    finally:
        connection.close()


def first_answer(process: Process, port: int, path: str, limit: float) -> tuple[float, Answer]:
    """Return the seconds from the start of ``process`` to its first complete 200 for
    ``path``, and that answer."""
    deadline = process.started + limit
    while True:
        process.check()
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise RuntimeError(f"no answer to {path} within {limit:.0f} s:\n{process.tail()}")
        try:
            answer = get(port, path, timeout=remaining)
        except OSError:
            time.sleep(0.02)  # not listening yet
            continue
        if answer.status == 200:
            return time.perf_counter() - process.started, answer
        time.sleep(0.02)


def per_worker(
    port: int,
    workers: list[int],
    path: str,
    headers: Mapping[str, str] | None = None,
    wait: float = 2.0,
) -> dict[int, Answer]:
    """Ask each of ``workers`` (that accepts within ``wait``) for ``path``; answers by pid."""
    connections = [http.client.HTTPConnection(HOST, port, timeout=60) for _ in workers]
    try:
        for connection in connections:
            connection.connect()
        holders: dict[http.client.HTTPConnection, int] = {}
        deadline = time.monotonic() + wait
        while len(holders) < len(connections) and time.monotonic() < deadline:
            accepted = accepted_sockets(port)
            held = socket_holders(workers)
            for connection in connections:
                assert connection.sock is not None
                inode = accepted.get(connection.sock.getsockname()[1])
                if connection not in holders and inode in held:
                    holders[connection] = held[inode]
            if len(holders) < len(connections):
                time.sleep(0.002)
        answers = {}
        for connection, pid in holders.items():
            connection.request("GET", path, headers=dict(headers or {}))
            answers[pid] = _read(connection)
        return answers
    finally:
        for connection in connections:
            connection.close()


def wait_for_workers(
    process: Process, port: int, count: int, path: str, limit: float
) -> tuple[float, list[int], int]:
    """Wait until ``count`` workers of ``process`` each answered ``path`` with a 200.

    Return the seconds since the start of ``process``, the workers, and how many worker
    processes were started in all (more than ``count`` means some were replaced).
    """
    seen: set[int] = set()
    ready: set[int] = set()
    while True:
        process.check()
        workers = process.workers()
        seen.update(workers)
        ready &= set(workers)
        if len(workers) == count:
            # One connection per worker: the ready ones take one each, leaving the rest.
            for pid, answer in per_worker(port, workers, path, wait=0.2).items():
                if answer.status == 200:
                    ready.add(pid)
            if len(ready) == count:
                return time.perf_counter() - process.started, sorted(ready), len(seen)
        if time.perf_counter() - process.started > limit:
            raise RuntimeError(
                f"{len(ready)} of {count} workers ready after {limit:.0f} s:\n{process.tail()}"
            )
        time.sleep(0.05)


def _read(connection: http.client.HTTPConnection) -> Answer:
    response = connection.getresponse()
    return Answer(response.status, response.msg, response.read())
