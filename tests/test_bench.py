"""The benchmarks under bench/ run end to end in their quick size and print every figure.

Each script is run as an operator runs it, against calfeed's real commands, so that a change
to calfeed that breaks a benchmark shows here rather than on the day someone measures. The
numbers of a quick run mean nothing; what is checked is that every figure was measured.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin") is not None
NODE = shutil.which("node") is not None and (BENCH / "node" / "node_modules").is_dir()

FIGURES = {
    "feeds.py": [
        "fresh process, empty database, 20 events -> all.ics",
        *(["ical-generator (Node)"] if NODE else []),
        "the same, existing database, 20 events",
        "calfeed export, 20 events, empty database",
        "calfeed export again, nothing changed, 20 events",
        "calfeed serve --workers 2, 20 events: first answer",
        "calfeed serve --workers 2, 20 events: every worker",
        "edit saved -> first worker serves it (2 workers, 20 events)",
        "edit saved -> every worker serves it (2 workers, 20 events)",
        "calfeed serve --workers 2, 20 events: memory (PSS)",
        "CPU of the idle master (it watches the files)",
        "CPU of each idle worker",
    ],
    "serve.py": [
        *(
            f"GET {route}, 20 events: {what}"
            for route in ("/", "/events/<id>", "/topics/<slug>")
            for what in ("requests", "p50", "p99")
        ),
        "GET all.ics, 20 events: requests",
        "GET all.ics 304, 20 events: requests",
        "GET /events/<id> while two GET / run, 20 events: requests",
        *(["GET all.ics 304 beside nginx on the export, 20 events: requests"] if NGINX else []),
    ],
    "planner.py": [
        "first plan, fresh database, 20 events x 50 subscribers",
        "planner sweep, nothing changed, 20 events x 50 subscribers",
        "one edited event re-planned",
        "one subscriber added re-planned",
        "one subscriber changed re-planned",
        "one subscriber removed re-planned",
        "calfeed worker peak RSS over 1 sweeps",
    ],
    "reminders.py": [
        "round 1: 50 due reminders -> SMTP",
        "median of 1 rounds: calfeed worker / bare loop",
        "first mail after its due time",
        "calfeed worker peak RSS",
    ],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Start every script's quick run at once (they mostly wait on calfeed's starts)."""
    folder = tmp_path_factory.mktemp("bench")
    started = {script: Run(script, folder) for script in FIGURES}
    yield started
    for run in started.values():
        run.close()


class Run:
    """One script's quick run in the background, its output in files."""

    def __init__(self, script: str, folder: Path) -> None:
        self.out, self.err = folder / f"{script}.out", folder / f"{script}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, BENCH / script, "--quick"], stdout=out, stderr=err, cwd=folder
            )

    def finish(self) -> tuple[int, str, str]:
        """Wait (bounded) for the end; return the exit status, stdout and stderr."""
        code = self.process.wait(timeout=300)
        return code, self.out.read_text(), self.err.read_text()

    def close(self) -> None:
        """Stop the run if it is still going; it stops what it started (SIGTERM)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_a_quick_run_measures_every_figure(script: str, runs: dict[str, Run]) -> None:
    code, out, err = runs[script].finish()
    assert code == 0, out[-2000:] + err[-4000:]
    assert out.startswith(f"# bench/{script}\ncores: ")
    table = out.split(f"## bench/{script}: summary\n", 1)[1]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    for expected in FIGURES[script]:
        assert expected in table, f"{expected!r} missing from:\n{table}"
    for name, ours, peer, ratio, *_ in rows:
        assert ours.strip() != "—", f"{name.strip()}: no figure for calfeed"
        if peer.strip() != "—":
            assert ratio.strip() != "—", f"{name.strip()}: a peer but no ratio"
