"""Installing calfeed as the README says: quiet, and complete.

``pip install -e .`` prints nothing but what pip itself has to say (no build backend's
warning box), and the package built from the project holds its templates, static files,
migrations and message catalogs.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pip(*args: str, python: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the pip that make installs (a current one: it shows build backends' warnings)."""
    target = ["--python", str(python)] if python else []
    return subprocess.run(
        [sys.executable, "-m", "pip", *target, "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def own_lines(output: str) -> list[str]:
    # This machine's pip configuration names package folders that may be missing; pip warns
    # about each one. Those lines are the machine's, not the install's.
    return [line for line in output.splitlines() if not line.startswith("WARNING: Location")]


def test_an_editable_install_prints_no_warning(tmp_path: Path) -> None:
    venv.create(tmp_path / "venv", with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"

    result = pip("install", "--quiet", "--no-deps", "-e", str(REPO), python=python)

    assert result.returncode == 0, result.stderr
    assert own_lines(result.stdout + result.stderr) == []


def test_the_built_package_holds_templates_static_files_migrations_and_catalogs(
    tmp_path: Path,
) -> None:
    result = pip("wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(REPO))

    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("calfeed-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in [
        "service/web/templates/base.html",
        "service/reminders/templates/reminder.txt",
        "service/web/static/style.css",
        "service/store/migrations/versions/0001_revisions.py",
        "service/store/migrations/script.py.mako",
        # Compiled by make before anything is built or run (git ignores them).
        "service/translations/fr/LC_MESSAGES/messages.mo",
        "service/translations/de/LC_MESSAGES/messages.po",
    ]:
        assert name in names, name
    assert not any(name.startswith(("tests/", "feeds/", "bench/")) for name in names)
