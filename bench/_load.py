"""A bounded HTTP load on one URL: wrk when installed, else threads of plain http.client.

Every run is bounded by its duration and its connections (two threads and 16 connections
by default, for a 2-core machine where the server needs the other core). After a run the
server may still be working off requests it had read before the client stopped, so
``settle`` waits (bounded) until its processes are idle before the next run starts.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from _proc import cpu_seconds

THREADS, CONNECTIONS = 2, 16
TIMEOUT = 30  # seconds a request may take before it counts as an error
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


@dataclass(frozen=True)
class Load:
    """What one run measured: requests a second, latency percentiles in ms, errors."""

    rate: float
    p50: float | None
    p99: float | None
    requests: int
    errors: int
    tool: str


def wrk_installed() -> bool:
    """Tell whether wrk is on the PATH (``make bench`` installs it)."""
    return shutil.which("wrk") is not None


def load(url: str, seconds: int, headers: Mapping[str, str] | None = None) -> Load:
    """Load ``url`` for ``seconds`` with wrk, or with Python threads without it."""
    if wrk_installed():
        return _wrk(url, seconds, headers or {})
    return _threads(url, seconds, headers or {})


def _wrk(url: str, seconds: int, headers: Mapping[str, str]) -> Load:
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s"]
    command += [f"--timeout={TIMEOUT}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rate = float(_find(r"Requests/sec:\s+([\d.]+)", output))
    requests = int(_find(r"(\d+) requests in", output))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    errors += int(_find(r"Non-2xx or 3xx responses: (\d+)", output, "0"))
    return Load(rate, _latency("50", output), _latency("99", output), requests, errors, "wrk")


def _latency(percent: str, output: str) -> float | None:
    found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    return float(found[1]) * _UNITS[found[2]] if found else None


def _find(pattern: str, text: str, default: str | None = None) -> str:
    found = re.search(pattern, text)
    if found:
        return found[1]
    if default is None:
        raise RuntimeError(f"wrk printed no {pattern!r}:\n{text}")
    return default


def _threads(url: str, seconds: int, headers: Mapping[str, str]) -> Load:
    """Load with CONNECTIONS threads, each sending one request at a time on a new connection."""
    found = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    assert found, url
    host, port, path = found[1], int(found[2]), found[3]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def run() -> None:
        while time.perf_counter() < end:
            started = time.perf_counter()
            connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
            try:
                connection.request("GET", path, headers=dict(headers))
                response = connection.getresponse()
                response.read()
                ok = response.status < 400
            except OSError:
                ok = False
            finally:
                connection.close()
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - started) * 1e3)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=run) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + TIMEOUT + 5)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else None
    return Load(
        len(latencies) / seconds,
        cuts[49] if cuts else None,
        cuts[98] if cuts else None,
        len(latencies),
        errors[0],
        "python threads",
    )


def settle(pids: list[int], limit: float = 120.0, busy: float = 0.3) -> float:
    """Wait until ``pids`` together use less than ``busy`` cores; return the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        before = sum(_cpu(pid) for pid in pids)
        time.sleep(0.25)
        if sum(_cpu(pid) for pid in pids) - before < busy * 0.25:
            break
    return time.perf_counter() - started


def _cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0  # the process ended (a replaced worker)
