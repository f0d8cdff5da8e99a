"""Load config.yaml and every event file under feeds_dir into one Catalog.

Each file is read and checked on its own, so one broken file never hides the problems of
another; the catalog exists only when every file is clean. A file holds one event (a mapping
with ``id``) or several (``events:`` followed by a list).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import CatalogError, Problem
from ..parallel import run_all
from . import parsed, values
from .build import MAX_PROBLEMS, Checker, build_config, build_event
from .models import Catalog, Config, Event
from .schema import MAX_TOPICS, ConfigSpec, EventListSpec, EventSpec, validate
from .source import Document, Loc, parse_document, read_document, shown
from .text import decode, read_bytes
from .uids import uid_room

log = logging.getLogger(__name__)
EVENT_SUFFIXES = (".yaml", ".yml")
_SHARED_OUT_FROM = 200  # files read at once that are worth reading on every core
Stamp = tuple[int, int, int] | None


def load_catalog(config_path: Path) -> Catalog:
    """Load and check everything; raise CatalogError listing every problem found."""
    return CatalogLoader(config_path).load()


@dataclass(frozen=True)
class _Context:
    """What config.yaml gives the event files, even when it is broken."""

    config: Config | None
    problems: tuple[Problem, ...]
    site_zone: ZoneInfo
    topics: Mapping[str, Any] | None
    feeds_dir: Path | None
    uid_room: int  # characters of ids that fit in a calendar UID before @uid_domain
    languages: tuple[str, ...] = values.LANGUAGES  # the site's, its own first


@dataclass(frozen=True)
class _FileResult:
    """One event file as last read: its stamp, its events with where their id is, problems."""

    stamp: Stamp
    events: tuple[tuple[Event, Problem], ...]
    problems: tuple[Problem, ...]


class CatalogLoader:
    """Load the catalog again and again, re-reading only the files that changed.

    A file being written looks, between two writes, like a shorter file that is often valid
    YAML with different events. So a reload can wait for the files to settle: it reads
    only once every changed file has kept its stamp for a quiet period, and gives up a read
    if a file changed while it was being read.
    """

    def __init__(
        self, config_path: Path, memo: Callable[[Config], parsed.Memo] | None = None
    ) -> None:
        """``memo`` gives, for the first good config.yaml, where parsed files are kept."""
        self.config_path = Path(config_path)
        self._memo_for = memo
        self._memo: parsed.Memo | None = None
        self._config_stamp: Stamp = None
        self._context: _Context | None = None
        self._files: dict[Path, _FileResult] = {}
        self._stamps: dict[Path, Stamp] = {}  # of the files as last read
        self._paths: dict[str, Path] = {}  # each file's path, made once: a look makes none
        self._pending: dict[Path, tuple[Stamp, float]] = {}  # changed: its stamp, seen since

    def reload(self, quiet: float = 0.0, now: float = 0.0) -> Catalog | None:
        """Load again if config.yaml or any event file changed; return None if none did.

        With ``quiet`` (seconds), return None as well until every changed file has kept its
        stamp that long, measured by ``now`` (a monotonic clock).
        """
        config_stamp = _stamp(self.config_path)
        stamps = None
        if self._context is not None and config_stamp == self._config_stamp:
            stamps = self._scan(self._context.feeds_dir)
            if stamps == self._stamps:
                self._pending = {}
                return None
        if quiet > 0:
            seen = {**(stamps or {}), self.config_path: config_stamp}
            if not self._settled(seen, quiet, now):
                return None
        try:
            return self._load(config_stamp, stamps, settling=quiet > 0)
        except _ChangedWhileRead as changed:
            self._pending[changed.path] = (changed.stamp, now)  # wait for it again
            return None

    def load(self) -> Catalog:
        """Load and check everything; raise CatalogError listing every problem found."""
        return self._load(_stamp(self.config_path), None)

    def settled_at(self, quiet: float) -> float | None:
        """Return when every change seen and not yet read will have been still ``quiet`` s.

        None when no change waits. The time is on the clock ``reload`` was given.
        """
        if not self._pending:
            return None
        return max(since for _, since in self._pending.values()) + quiet

    def _read_fresh(
        self, fresh: list[Path], stamps: dict[Path, Stamp], context: _Context
    ) -> dict[Path, _FileResult]:
        """Read many files at once (at start): those the memo has from it, the rest on every core.

        The bytes a key is made of are the bytes parsed, and what parsing gives is kept only
        once it reads back alike (``parsed``).
        """
        memo = self._memo_of(context)
        found: dict[Path, _FileResult] = {}
        texts: dict[Path, tuple[str, bytes]] = {}
        for path in fresh:
            shown_as = shown(path)
            try:
                texts[path] = (shown_as, read_bytes(path, shown_as))
            except CatalogError as err:
                found[path] = _FileResult(stamps[path], (), _capped(list(err.problems), shown_as))
        keys: dict[Path, str] = {}
        if memo is not None:
            against = _for_events(context)
            keys = {path: parsed.key(name, data, against) for path, (name, data) in texts.items()}
        stored = _recall(memo, list(keys.values())) if keys else {}
        unread = []
        for path in texts:
            kept = stored.get(keys.get(path, ""))
            events = parsed.decode(kept) if kept is not None else None
            if events is None:
                unread.append(path)
            else:
                found[path] = _FileResult(stamps[path], events, ())
        keep = memo is not None
        reads = [partial(_parse_events, *texts[p], stamps[p], context, keep) for p in unread]
        new = []
        for path, (result, data) in zip(
            unread, run_all(reads, at_least=_SHARED_OUT_FROM), strict=True
        ):
            found[path] = result
            if data is not None:
                new.append((keys[path], texts[path][0], data))
        if memo is not None and new:
            _remember(memo, new)
        return found

    def _memo_of(self, context: _Context) -> parsed.Memo | None:
        """Return where parsed files are kept, asked for once a config.yaml is good."""
        if self._memo is None and self._memo_for is not None and context.config is not None:
            try:
                self._memo = self._memo_for(context.config)
            except Exception:  # noqa: BLE001 - without it, files are parsed as ever
                log.warning("parsed files cannot be kept; every file is parsed", exc_info=True)
            self._memo_for = None  # asked once: a database that failed is reported elsewhere
        return self._memo

    def _scan(self, feeds_dir: Path | None) -> dict[Path, Stamp]:
        """Return the stamp of every event file in ``feeds_dir``, in no order.

        This runs at every look at the files: it makes no path object it made before.
        """
        if feeds_dir is None:
            return {}
        paths = self._paths
        return {
            paths.get(name) or paths.setdefault(name, Path(name)): stamp
            for name, stamp in _walk(feeds_dir)
        }

    def _settled(self, seen: dict[Path, Stamp], quiet: float, now: float) -> bool:
        """Note what changed since the last read; return True if all of it is still enough."""
        known = {path: result.stamp for path, result in self._files.items()}
        known[self.config_path] = self._config_stamp
        changed = {path: stamp for path, stamp in seen.items() if known.get(path, ()) != stamp}
        changed.update((path, None) for path in known.keys() - seen.keys())  # removed
        pending: dict[Path, tuple[Stamp, float]] = {}
        for path, stamp in changed.items():
            before = self._pending.get(path)
            # A clock that went back restarts the wait rather than prolonging it.
            if before is None or before[0] != stamp or before[1] > now:
                before = (stamp, now)
            pending[path] = before
        self._pending = pending
        return all(now >= since + quiet for _, since in pending.values())  # as settled_at says

    def _load(
        self, stamp: Stamp, stamps: dict[Path, Stamp] | None, settling: bool = False
    ) -> Catalog:
        context, files_before = self._context, self._files
        if context is None or stamp != self._config_stamp:
            read = _read_config(self.config_path)
            if settling:
                _unchanged(self.config_path, stamp)
            if context is None or _for_events(read) != _for_events(context):
                files_before = {}  # the event files are read against what changed
            context, stamps = read, None
        if stamps is None:
            stamps = self._scan(context.feeds_dir)
        files: dict[Path, _FileResult] = {}
        fresh = []
        # Files, and so ids, in one order: the order of paths, by their parts (which
        # compares as paths do, without making a comparison object at every step).
        order = sorted(stamps, key=attrgetter("parts"))
        for path in order:
            file_stamp = stamps[path]
            result = files_before.get(path)
            if result is None or result.stamp != file_stamp:
                if not settling:
                    fresh.append(path)  # read below, with the others
                    continue
                result = _read_events(path, file_stamp, context)
                _unchanged(path, file_stamp)
            files[path] = result
        files.update(self._read_fresh(fresh, stamps, context))
        files = {path: files[path] for path in order}
        self._context, self._config_stamp, self._files = context, stamp, files
        self._stamps = {path: result.stamp for path, result in files.items()}
        self._pending = {}
        problems = list(context.problems)
        events: dict[str, Event] = {}
        for result in files.values():
            problems.extend(result.problems)
            for event, id_at in result.events:
                if event.id in events:
                    other = events[event.id].source
                    message = f"duplicate id {event.id!r}: also used at {other}"
                    problems.append(replace(id_at, message=message))
                else:
                    events[event.id] = event
        if problems or context.config is None:
            raise CatalogError(sorted(set(problems)))
        ordered = tuple(sorted(events.values(), key=lambda e: (e.start.astimezone(UTC), e.id)))
        log.info("loaded %d events from %d files", len(ordered), len(files))
        return Catalog(context.config, ordered)


def event_files(feeds_dir: Path) -> list[Path]:
    """List the event files under ``feeds_dir``, skipping hidden files and folders."""
    return sorted(Path(name) for name, _ in _walk(feeds_dir))


def _walk(feeds_dir: Path) -> Iterator[tuple[str, Stamp]]:
    """Yield the path and stamp of each event file under ``feeds_dir``, in no order.

    Folders are walked with a list of folders to visit, not by recursion, so no depth of
    folders exhausts the stack; links to folders are not followed, so no loop of links is.
    """
    folders = [str(feeds_dir)]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if _is_folder(entry):
                        if not entry.is_symlink():
                            folders.append(entry.path)
                    elif entry.name.endswith(EVENT_SUFFIXES):
                        yield entry.path, _entry_stamp(entry)
        except OSError:  # a folder that vanished or cannot be listed holds no files to read
            continue


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _read_config(path: Path) -> _Context:
    problems: list[Problem] = []
    doc = None
    if not path.exists() and not path.is_symlink():
        problems.append(Problem(shown(path), 0, "", "no such configuration file"))
    else:
        doc = _read(path, problems)
    config = _load_config(doc, path, problems) if doc is not None else None
    listed = _capped(problems, shown(path))
    if config is None:
        site_zone, topics, feeds_dir = _fallbacks(doc, path)
        return _Context(None, listed, site_zone, topics, feeds_dir, uid_room("localhost"))
    feeds_dir = config.feeds_dir if config.feeds_dir.is_dir() else None
    room = uid_room(config.site.uid_domain)
    return _Context(
        config,
        listed,
        config.site.timezone,
        config.topics,
        feeds_dir,
        room,
        config.site.languages,
    )


def _load_config(doc: Document, path: Path, problems: list[Problem]) -> Config | None:
    if not isinstance(doc.data, dict):
        problems.append(
            doc.problem((), "config.yaml must be a mapping of settings (site:, topics:, ...)")
        )
        return None
    spec = validate(ConfigSpec, doc, (), problems)
    if spec is None:
        return None
    return build_config(spec, path.resolve(), Checker(doc, (), problems))


def _for_events(context: _Context) -> tuple[object, ...]:
    """What the event files are read against: an edit elsewhere in config.yaml keeps them."""
    return context.site_zone, context.topics, context.feeds_dir, context.uid_room, context.languages


def _fallbacks(
    doc: Document | None, path: Path
) -> tuple[ZoneInfo, Mapping[str, Any] | None, Path | None]:
    """Take what events need from a broken config.yaml, so their problems show too."""
    if doc is None:  # unreadable: its problem is recorded already
        return ZoneInfo("UTC"), None, None
    data = doc.data if isinstance(doc.data, dict) else {}
    site = data.get("site")
    site = site if isinstance(site, dict) else {}
    try:
        zone = values.zone(site.get("timezone"))
    except ValueError:
        zone = ZoneInfo("UTC")
    topics = data.get("topics")
    if not isinstance(topics, dict) or len(topics) > MAX_TOPICS:  # too many to compare with
        topics = None
    folder = path.parent / str(data.get("feeds_dir", "feeds"))
    return zone, topics, folder if folder.is_dir() else None


def _read_events(path: Path, stamp: Stamp, context: _Context) -> _FileResult:
    shown_as = shown(path)
    try:
        data = read_bytes(path, shown_as)
    except CatalogError as err:
        return _FileResult(stamp, (), _capped(list(err.problems), shown_as))
    return _parse_events(shown_as, data, stamp, context)[0]


def _parse_events(
    shown_as: str, data: bytes, stamp: Stamp, context: _Context, keep: bool = False
) -> tuple[_FileResult, bytes | None]:
    """Read one file's bytes; with ``keep``, also return what to keep of a clean file."""
    problems: list[Problem] = []
    events: list[tuple[Event, Problem]] = []
    doc = None
    try:
        doc = parse_document(decode(data, shown_as), shown_as)
    except CatalogError as err:
        problems.extend(err.problems)
    if doc is not None:
        for loc in _event_locations(doc, problems):
            if len(problems) > MAX_PROBLEMS:
                break
            spec = validate(EventSpec, doc, loc, problems)
            check = Checker(doc, loc, problems)
            event = (
                build_event(
                    spec,
                    context.site_zone,
                    context.topics,
                    check,
                    context.uid_room,
                    context.languages,
                )
                if spec
                else None
            )
            if event is not None:
                events.append((event, doc.problem((*loc, "id"), "")))
    result = _FileResult(stamp, tuple(events), _capped(problems, shown_as))
    if not keep or problems:
        return result, None
    return result, parsed.encode(result.events, context.site_zone)


def _recall(memo: parsed.Memo | None, keys: list[str]) -> Mapping[str, bytes]:
    """Return what ``memo`` keeps under ``keys``; nothing if it cannot be read."""
    if memo is None:
        return {}
    try:
        return memo.read(keys)
    except Exception:  # noqa: BLE001 - the files are parsed instead
        log.warning("parsed files cannot be read back; parsing them", exc_info=True)
        return {}


def _remember(memo: parsed.Memo, entries: list[tuple[str, str, bytes]]) -> None:
    """Keep what was parsed for a next start; a failure to keep it loses nothing."""
    try:
        memo.write(entries)
    except Exception:  # noqa: BLE001 - the next start parses these files again
        log.warning("parsed files cannot be kept for the next start", exc_info=True)


class _ChangedWhileRead(Exception):
    """A file's stamp after reading it is not the one it had before: it was being written."""

    def __init__(self, path: Path, stamp: Stamp) -> None:
        super().__init__(str(path))
        self.path, self.stamp = path, stamp


def _unchanged(path: Path, stamp: Stamp) -> None:
    """Raise _ChangedWhileRead if ``path`` no longer has ``stamp``."""
    now = _stamp(path)
    if now != stamp:
        raise _ChangedWhileRead(path, now)


def _capped(problems: list[Problem], path: str) -> tuple[Problem, ...]:
    """Keep the first MAX_PROBLEMS problems of one file, and say when there were more."""
    if len(problems) <= MAX_PROBLEMS:
        return tuple(problems)
    message = f"more than {MAX_PROBLEMS} problems: the rest of the file is not checked"
    return (*sorted(problems)[:MAX_PROBLEMS], Problem(path, 0, "", message))


def _entry_stamp(entry: os.DirEntry[str]) -> Stamp:
    """Return the stamp of a file found in a folder, as ``_stamp`` does."""
    return _stamp_of(entry.stat)


def _stamp(path: Path) -> Stamp:
    """Return what tells a changed file: modification time, size and inode (None if gone)."""
    return _stamp_of(path.stat)


def _stamp_of(stat: Callable[[], os.stat_result]) -> Stamp:
    try:
        info = stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def _event_locations(doc: Document, problems: list[Problem]) -> list[Loc]:
    if isinstance(doc.data, dict) and "events" in doc.data and "id" not in doc.data:
        spec = validate(EventListSpec, doc, (), problems)
        return [("events", index) for index in range(len(spec.events))] if spec else []
    if isinstance(doc.data, dict):
        return [()]
    what = "empty" if doc.data is None else "a list" if isinstance(doc.data, list) else "one value"
    problems.append(
        doc.problem(
            (), f"file is {what}: write one event (a mapping with id:) or events: and a list"
        )
    )
    return []


def _read(path: Path, problems: list[Problem]) -> Document | None:
    try:
        return read_document(path, shown(path))
    except CatalogError as err:
        problems.extend(err.problems)
        return None
