"""Event files as read before: each clean file's events, kept by a digest of what made them.

Reading ten thousand events (YAML composed with a line for every value, every field
validated, every wall time resolved in its zone) takes seconds, and a fresh process of a
catalog that did not change would do it all again. So the loader keeps what it read of each
clean file under a key that digests everything the result depends on: the file's bytes,
the name it is shown by (events and problems carry it), what config.yaml gives the event
files (the site's zone, the topics, the room ids have in a UID, the events' folder), and
the reading code (this package, the libraries it validates with and Python). What no key
can know beforehand, the tz database of the zones the events use, is kept beside the events
and compared when they are read back (no other zone is read back). A key names its events
for good.

What is kept is JSON, never pickle: the store is a database that other processes write,
and reading JSON runs no code. Reading it back checks the type and shape of every value
and builds the same frozen models that parsing builds; an entry that does not fit, or
whose zones changed, is not used, and the file is parsed as ever. An entry is written only
once it has been read back, here, into exactly what parsing gave.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import sys
import types
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from functools import cache
from importlib import resources
from operator import call
from pathlib import Path
from typing import Any, Literal, Protocol, Union, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo

import yaml

from ..errors import Problem
from .models import Event

FORMAT = 1  # of what is stored: a new one makes every key new


class Memo(Protocol):
    """Where the parsed files are kept: bytes by key (``store/parsed.py``)."""

    def read(self, keys: Sequence[str]) -> Mapping[str, bytes]:
        """Return what is stored under any of ``keys``."""
        ...

    def write(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        """Store each (key, file it was read from, bytes), dropping the file's older keys."""
        ...


Parsed = tuple[tuple[Event, Problem], ...]  # a clean file's events, each with where its id is


def key(shown_as: str, data: bytes, context: object) -> str:
    """Return the key of a file's events: a digest of its bytes and of what it is read against.

    ``context`` is what config.yaml gives the event files; its ``repr`` names every value.
    """
    made_of = hashlib.sha256(_CODE)
    for part in (shown_as.encode("utf-8", "surrogatepass"), repr(context).encode(), data):
        made_of.update(len(part).to_bytes(8, "big"))
        made_of.update(part)
    return made_of.hexdigest()


def encode(events: Parsed, site_zone: ZoneInfo) -> bytes | None:
    """Return what to keep of a clean file's events, or None if it would not read back alike.

    ``site_zone`` is kept with the events' own zones: what a time without a zone means.
    """
    try:
        zones = {site_zone.key} | {event.timezone.key for event, _ in events}
        stored = {
            "zones": {zone: zone_data(zone) for zone in sorted(zones)},
            "events": [[_EVENT[0](event), _PROBLEM[0](at)] for event, at in events],
        }
        text = json.dumps(stored, ensure_ascii=False, separators=(",", ":"))
        data = text.encode("utf-8", "surrogatepass")  # a lone surrogate YAML let through
    except (TypeError, ValueError, OSError):
        return None  # a value with no stored form, or a zone whose data cannot be found
    back = decode(data)
    if back is None or repr(back) != repr(events):  # repr shows zones and folds; == does not
        return None
    return data


def decode(data: bytes) -> Parsed | None:
    """Return the events kept in ``data``, or None if it is not exactly what encode wrote."""
    try:
        stored = json.loads(data.decode("utf-8", "surrogatepass"))
        _expect(isinstance(stored, dict) and stored.keys() == {"zones", "events"})
        zones, events = stored["zones"], stored["events"]
        _expect(isinstance(zones, dict) and isinstance(events, list))
        for zone, digest in zones.items():
            _expect(zone_data(zone) == digest)  # the tz database changed: read again
        checked = _checked.set(frozenset(zones))  # every zone read back must be one of these
        try:
            result = []
            for item in events:
                _expect(isinstance(item, list) and len(item) == 2)
                result.append((_EVENT[1](item[0]), _PROBLEM[1](item[1])))
        finally:
            _checked.reset(checked)
        return tuple(result)
    except (ValueError, TypeError, KeyError, OSError, RecursionError):  # UnicodeError too
        return None  # corrupt, written by other code, or a zone gone: parse the file


@cache
def zone_data(key: str) -> str:
    """Return a digest of the tz database's entry for zone ``key``, found as zoneinfo finds it.

    zoneinfo looks in each folder of its TZPATH, then in the tzdata package.
    """
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
        raise ValueError(f"not a zone key: {key!r}")
    for folder in zoneinfo.TZPATH:
        path = os.path.join(folder, key)
        if os.path.isfile(path):
            return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    *packages, name = key.split("/")
    package = ".".join(["tzdata", "zoneinfo", *packages])
    try:
        found = resources.files(package).joinpath(name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, IsADirectoryError) as err:
        raise OSError(f"no tz data for {key!r}") from err
    return hashlib.sha256(found).hexdigest()


# --- the stored form of the models ---------------------------------------------------------
#
# Made once from the models' annotations: a field added to a model is stored with it, and a
# field of a type with no stored form fails at import, not when it is read back.

_Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]


class _Unfit(ValueError):
    """A stored value is not what encode writes."""


def _expect(condition: bool) -> None:
    if not condition:
        raise _Unfit


def _exactly(kind: type) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        _expect(type(value) is kind)  # a bool is not an int, nor an int a bool
        return value

    return read


def _as_is(value: Any) -> Any:
    return value


def _write_time(value: datetime) -> list[Any]:
    if type(value) is not datetime or type(value.tzinfo) is not ZoneInfo:
        raise TypeError("only datetimes in a named zone are stored")
    return [value.replace(tzinfo=None, fold=0).isoformat(), value.fold, value.tzinfo.key]


def _read_time(value: Any) -> datetime:
    _expect(isinstance(value, list) and len(value) == 3)
    wall, fold, zone = value
    _expect(type(wall) is str and fold in (0, 1) and type(fold) is int and type(zone) is str)
    naive = datetime.fromisoformat(wall)
    _expect(naive.tzinfo is None)
    return naive.replace(tzinfo=_read_zone(zone), fold=fold)


def _write_zone(value: ZoneInfo) -> str:
    if type(value) is not ZoneInfo:
        raise TypeError("only named zones are stored")
    return value.key


def _read_zone(value: Any) -> ZoneInfo:
    _expect(type(value) is str and value in _checked.get())
    return ZoneInfo(value)


# The zones of the entry being read whose tz data is what it was: no other may be read.
_checked: ContextVar[frozenset[str]] = ContextVar("_checked", default=frozenset())


def _codec(hint: Any) -> _Codec:
    """Return (write, read) for values of the type ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if hint in (str, int, bool):
        return _as_is, _exactly(hint)
    if hint is datetime:
        return _write_time, _read_time
    if hint is ZoneInfo:
        return _write_zone, _read_zone
    if origin is Literal:
        allowed = set(args)

        def literal(value: Any) -> Any:
            _expect(type(value) is str and value in allowed)
            return value

        return _as_is, literal
    if origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        write, read = _codec(next(arg for arg in args if arg is not type(None)))
        return (
            lambda value: None if value is None else write(value),
            lambda value: None if value is None else read(value),
        )
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        write_item, read_item = _codec(args[0])

        def read_items(value: Any) -> tuple[Any, ...]:
            _expect(type(value) is list)
            return tuple(map(read_item, value))

        return lambda value: [write_item(item) for item in value], read_items
    if origin is tuple and Ellipsis not in args:  # a fixed pair or triple: a text per language
        fields = [_codec(arg) for arg in args]
        reads = [r for _, r in fields]

        def write_fixed(value: Any) -> list[Any]:
            if type(value) is not tuple or len(value) != len(fields):
                raise TypeError(f"not a {hint!r}")
            return [w(item) for item, (w, _) in zip(value, fields, strict=True)]

        def read_fixed(value: Any) -> tuple[Any, ...]:
            _expect(type(value) is list and len(value) == len(fields))
            return tuple(map(call, reads, value))

        return write_fixed, read_fixed
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record(hint)
    raise TypeError(f"no stored form for {hint!r}")


def _record(model: type) -> _Codec:
    """Store a dataclass as the list of its fields' values, in the order of its fields."""
    hints = get_type_hints(model)
    names = [f.name for f in dataclasses.fields(model) if f.init]
    codecs = [_codec(hints[name]) for name in names]
    reads = [r for _, r in codecs]
    size = len(names)

    def write(value: Any) -> list[Any]:
        if type(value) is not model:
            raise TypeError(f"not a {model.__name__}")
        return [w(getattr(value, name)) for name, (w, _) in zip(names, codecs, strict=True)]

    def read(value: Any) -> Any:
        _expect(type(value) is list and len(value) == size)
        return model(*map(call, reads, value))

    return write, read


_EVENT = _record(Event)
_PROBLEM = _record(Problem)


def _code() -> bytes:
    """Return a digest of the code that reads event files: a new version reads every file anew."""
    here = Path(__file__).resolve().parent
    made_of = hashlib.sha256(f"{FORMAT} {sys.version} {yaml.__with_libyaml__}".encode())
    for name in ("PyYAML", "pydantic", "pydantic_core", "email-validator"):
        made_of.update(f"{name} {importlib.metadata.version(name)}\n".encode())
    for path in [*sorted(here.glob("*.py")), here.parent / "errors.py"]:
        made_of.update(path.read_bytes())
    return made_of.digest()


_CODE = _code()
