"""Imports go one way: web over reminders over calendar over catalog, the store beneath.

Each module of ``service`` may import only what its stage may (docs/architecture.md): a
lower stage never imports a higher one, and only the web layer (and the command line that
starts it) knows Flask. A module that breaks the rule fails this test with the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[1] / "service"
# What each part of the package may import of the others, and whether it may use Flask.
ALLOWED: dict[str, tuple[set[str], bool]] = {
    "errors": (set(), False),
    "clock": (set(), False),
    "parallel": (set(), False),
    "store": ({"errors", "clock"}, False),
    "catalog": ({"errors", "parallel"}, False),
    "urls": ({"catalog"}, False),
    "language": ({"catalog"}, False),
    "tokens": ({"errors"}, False),
    "calendar": ({"errors", "clock", "catalog", "store", "urls", "parallel", "language"}, False),
    "live": ({"errors", "clock", "catalog", "calendar", "store"}, False),
    "reminders": (
        {"errors", "clock", "catalog", "calendar", "store", "urls", "tokens", "live", "language"},
        False,
    ),
    "web": (
        {
            "errors",
            "clock",
            "catalog",
            "calendar",
            "store",
            "urls",
            "tokens",
            "live",
            "language",
            "reminders",
            "parallel",
        },
        True,
    ),
    "__init__": ({"live", "tokens", "web"}, True),
    "cli": (
        {
            "errors",
            "clock",
            "catalog",
            "store",
            "tokens",
            "live",
            "language",
            "reminders",
            "web",
            "__init__",
        },
        True,
    ),
}
FLASK = ("flask", "flask_wtf", "werkzeug", "wtforms", "gunicorn", "waitress")


def part_of(module: Path) -> str:
    relative = module.relative_to(SERVICE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imports(module: Path) -> list[tuple[int, str]]:
    """Return (line, absolute module) of every import in ``module``."""
    package = ["service", *module.relative_to(SERVICE).parent.parts]
    found = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
                if not node.module:  # from . import a, b: each is a module or a name in it
                    found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
                    continue
                found.append((node.lineno, name))
            else:
                found.append((node.lineno, node.module or ""))
    return found


MODULES = sorted(
    path for path in SERVICE.rglob("*.py") if "migrations" not in path.relative_to(SERVICE).parts
)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(SERVICE.parent)))
def test_a_module_imports_only_what_its_stage_may(module: Path) -> None:
    part = part_of(module)
    may, flask = ALLOWED[part]
    wrong = []
    for line, name in imports(module):
        top = name.split(".")[0]
        if top == "service":
            target = name.split(".")[1] if "." in name else "__init__"
            if target in ALLOWED and target != part and target not in may:
                wrong.append(f"{module.name}:{line}: {part} imports {name}")
        elif top in FLASK and not flask:
            wrong.append(f"{module.name}:{line}: {part} imports {name}, a web library")
    assert wrong == []


def test_every_part_of_the_package_has_its_rule() -> None:
    assert {part_of(module) for module in MODULES} <= set(ALLOWED)
