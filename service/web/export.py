"""Static export: the site's feeds and pages as files, for any static host or CDN.

Each file is what the web app answers for the same path, rendered through the app itself,
so an exported feed is byte-identical to the served one. Pages are written as
``<path>.html`` (``topics/procurement.html``) and ``index.html`` for the home page, and
link to each other by those names: a plain file server, S3 or GitHub Pages finds every one.
Links are absolute, from ``site.base_url``, where the export is to be hosted (a path under
a host included); the sign-up pages there need ``calfeed serve`` behind the same address.

An export into a folder that holds an earlier one writes only the files that changed, so
their modification times (and a sync to a host or CDN) show just the edit, and removes the
files the earlier export wrote that are gone now (an event taken out, say). It knows them
from ``.calfeed-export``, the list of what it wrote with a digest of each. Beside an event's
page and calendar the list also keeps a digest of everything they are made from (the event,
its entry as stamped, where it first started, the configuration, the zones and calfeed's
own code), so an event that did not change is not even rendered again; and beside each
feed (calendar, Atom, JSON Feed) the same of each of its events, when each was first
published, the feed's cut-off day and the latest change in the catalog, so an unchanged
feed is not built again. The pages that list events (home, topics, embeds) tell upcoming
from past by the clock, and are always written. Files it did not write are never touched.

Events' own pages and calendars, the bulk of a first export, are answered on every core
(``parallel``): forked from this process once it holds every calendar, so each answer is
what it would have given; feeds and the pages that list events are answered here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask, request, url_for
from flask.testing import FlaskClient

from .. import urls
from ..calendar.edition import ALL, Edition
from ..errors import CalfeedError
from ..live import LiveCatalog
from ..parallel import run_all
from .current import site_root
from .feeds import READER_FORMATS, build_reader_feeds, cut_off, feed_channel
from .languages import path_environ

# The routes that become files named after their path, with ".html" added.
PAGES = {"pages.topic", "pages.event", "embed.embed"}


MANIFEST = ".calfeed-export"
# Every feed in each of its formats: the calendar, Atom, JSON Feed.
FEED_FORMATS = ("ics", "atom", "json")


@dataclass(frozen=True, slots=True)
class Exported:
    """What an export did: the files it wrote, left as they were, and removed."""

    written: list[Path]
    unchanged: list[Path]
    removed: list[Path]


def export_site(app: Flask, target: Path) -> Exported:
    """Write every feed, event calendar, page and static file under ``target``.

    The site's own language at the top, each other one of ``site.languages`` in a folder of
    its code (``fr/``), as the app serves them.
    """
    live: LiveCatalog = app.extensions["calfeed.live"]
    site = live.edition.catalog.config.site
    app.jinja_env.globals["url_for"] = _file_links(site.base_url)
    before = _manifest(target)
    files: dict[str, bytes] = {}
    sources: dict[str, str] = {}
    kept: dict[str, str] = {}
    for language in (site.language, *(code for code in site.languages if code != site.language)):
        prefix = "" if language == site.language else f"/{language}"
        found, made_from, unchanged = _export_language(app, live, prefix, language, before, target)
        files.update(found)
        sources.update(made_from)
        kept.update(unchanged)
    if app.static_folder:
        folder = Path(app.static_folder)
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                files[f"static/{file.relative_to(folder).as_posix()}"] = file.read_bytes()
    return _write_changed(target, files, before, kept, sources)


def _export_language(
    app: Flask,
    live: LiveCatalog,
    prefix: str,
    language: str,
    before: dict[str, tuple[str, str]],
    target: Path,
) -> tuple[dict[str, bytes], dict[str, str], dict[str, str]]:
    """Answer every path of the site in ``language`` (under ``prefix``, its path).

    Return the files by name, what each is made from, and those kept from the earlier
    export because what they are made from did not change.
    """
    edition = live.edition.in_language(language)
    catalog = edition.catalog
    paths = [urls.HOME]
    feeds = [(ALL,), *((slug,) for slug in catalog.config.topics)]
    for slugs in feeds:
        paths += [urls.feed(slugs, extension) for extension in FEED_FORMATS]
        paths.append(urls.embed(slugs))
    paths += [urls.topic(slug) for slug in catalog.config.topics]
    own = [path for event in catalog.events for path in _event_paths(event.id)]
    folder = prefix.lstrip("/") + "/" if prefix else ""
    sources = {folder + name: source for name, source in _sources(edition, cut_off(live)).items()}
    # A file exported from the same sources (an event's, a feed) is not rendered again.
    kept = {
        name: source
        for name, (_, source) in before.items()
        if source != "-" and sources.get(name) == source and (target / name).is_file()
    }

    def unkept(path: str) -> bool:
        return _file_name(prefix + path) not in kept

    paths = [prefix + path for path in paths if unkept(path)]
    own = [prefix + path for path in own if unkept(path)]
    edition.build_event_feeds([e.id for e in catalog.events if unkept(urls.event_calendar(e.id))])
    unwritten = [
        slugs for slugs in feeds if any(unkept(urls.feed(slugs, kind)) for kind in READER_FORMATS)
    ]
    with app.test_request_context(
        urls.HOME, base_url=f"http://localhost{prefix}/", environ_overrides=path_environ(language)
    ):
        build_reader_feeds(live, edition, unwritten)
    client = app.test_client()
    files = {_file_name(path): _answer(client, path) for path in paths}
    # An event's page and calendar are its own: many, and rendered from what this process
    # holds (its calendar was built above, with its revision), so on every core.
    answers = run_all([partial(_answer, client, path) for path in own])
    files.update(zip(map(_file_name, own), answers, strict=True))
    return files, sources, kept


def _event_paths(event_id: str) -> tuple[str, str]:
    """Return the paths of an event's own files: its calendar and its page."""
    return urls.event_calendar(event_id), urls.event(event_id)


def _answer(client: FlaskClient, path: str) -> bytes:
    """Return what the app answers for ``path``; raise CalfeedError unless it is a 200."""
    response = client.get(path)
    if response.status_code != 200:
        raise CalfeedError(f"export: {path} answered {response.status_code}")
    return response.get_data()


def _file_name(path: str) -> str:
    """Return the file a path of the site is exported to: ``/`` and ``/fr/`` to their
    ``index.html``, a page to its path with ``.html``."""
    if path.endswith("/"):
        return path.lstrip("/") + "index.html"
    name = path.lstrip("/")
    return name if name.endswith((".ics", ".atom", ".json", ".html")) else name + ".html"


def file_path(path: str) -> str:
    """Return the path of the exported file that a path of the site is written to, as the
    exported pages link to it (the home page as ``/``)."""
    return path if path.endswith("/") else "/" + _file_name(path)


def _sources(edition: Edition, since: datetime | None) -> dict[str, str]:
    """Return, for each event's page and calendar and each feed, a digest of all it is made of.

    ``since`` is the day before which ended events leave the feeds.
    """
    site = Path(__file__).resolve().parents[1]
    code = b"".join(
        p.read_bytes()
        for p in sorted(site.rglob("*"))
        if p.suffix in {".py", ".html", ".css", ".js", ".po"}  # .po: the words, translated
    )
    common = hashlib.sha256(code + repr((edition.catalog.config, edition.zones)).encode()).digest()
    sources = {}
    for event in edition.catalog.events:
        moved = edition.previous_start(event.id)  # the page says it was rescheduled
        made_from = common + repr((event, moved)).encode() + edition.entry(event.id).data
        source = hashlib.sha256(made_from).hexdigest()
        sources[_file_name(urls.event(event.id))] = source
        sources[_file_name(urls.event_calendar(event.id))] = source
    for slugs in [(ALL,), *((slug,) for slug in edition.catalog.config.topics)]:
        latest = feed_channel(edition, slugs, since).updated  # what it says if it is empty
        feed_from = hashlib.sha256(common + repr((slugs, since, latest)).encode())
        for event in edition.topic_events(slugs, since):
            feed_from.update(sources[_file_name(urls.event(event.id))].encode())
            feed_from.update(repr(edition.publications[event.id]).encode())
        for extension in FEED_FORMATS:
            sources[_file_name(urls.feed(slugs, extension))] = feed_from.hexdigest()
    return sources


def _write_changed(
    target: Path,
    files: dict[str, bytes],
    before: dict[str, tuple[str, str]],
    kept: dict[str, str],
    sources: dict[str, str],
) -> Exported:
    """Write the files whose content differs from the earlier export's; remove the gone ones."""
    listed = {name: before[name] for name in kept}
    done = Exported([], [target / name for name in kept], [])
    for name, content in files.items():
        file = target / name
        digest = hashlib.sha256(content).hexdigest()
        listed[name] = (digest, sources.get(name, "-"))
        if before.get(name, ("",))[0] == digest and file.is_file():
            done.unchanged.append(file)
            continue
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(content)
        done.written.append(file)
    for name in sorted(set(before) - set(listed)):
        file = target / name
        if file.is_file():
            file.unlink()
            done.removed.append(file)
    lines = (f"{digest} {source}  {name}\n" for name, (digest, source) in sorted(listed.items()))
    (target / MANIFEST).write_text("".join(lines), encoding="utf-8")
    return done


def _manifest(target: Path) -> dict[str, tuple[str, str]]:
    """Return what an earlier export into ``target`` wrote: by name, its digest and source."""
    try:
        text = (target / MANIFEST).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    found = {}
    for line in text.splitlines():
        digests, _, name = line.partition("  ")
        digest, _, source = digests.partition(" ")
        # Only names an export writes: never a path out of the folder.
        if name and ".." not in Path(name).parts and not Path(name).is_absolute():
            found[name] = (digest, source or "-")
    return found


def _file_links(base_url: str) -> Callable[..., str]:
    """Return a ``url_for`` for the pages that links to the exported files' names."""

    made: dict[tuple[str, ...], str] = {}  # the pages link the same addresses many times

    def link(endpoint: str, **values: Any) -> str:
        # A page in a language links to its language's files (its path, ``/fr``, is the
        # script root), but every language has the one folder of static files.
        root = request.script_root
        key = (root, endpoint, *(f"{name}={value}" for name, value in sorted(values.items())))
        found = made.get(key)
        if found is None:
            path = url_for(endpoint, **values)
            if endpoint == "static":
                path = site_root() + path.removeprefix(root)
            found = base_url + path + (".html" if endpoint in PAGES else "")
            # Only an endpoint named in full, with text values, names one address anywhere.
            if not endpoint.startswith(".") and all(type(v) is str for v in values.values()):
                made[key] = found
        return found

    return link
