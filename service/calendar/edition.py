"""Editions: one catalog rendered into stamped calendar entries, ready to serve as feeds.

The :class:`Publisher` keeps what it rendered for each event object, so a new catalog in
which one file changed re-renders and re-revises only the events of that file; and, with a
:class:`RenderStore`, in the database, so a fresh process renders only what changed since
the last one. An
:class:`Edition` never changes what it serves (its catalog and its stamped entries); it only
fills a cache of the feeds asked for so far. The web layer swaps in a new edition atomically
and answers every request from whichever edition it holds.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import partial
from pathlib import Path

import icalendar

from .. import urls
from ..catalog import Catalog, Config, Event, Session
from ..catalog.uids import UID_LENGTH
from ..catalog.values import format_duration
from ..parallel import run_all
from ..store.publications import Publication, PublicationStore
from ..store.renders import Rendered, RenderStore
from ..store.revisions import RevisionStore
from .alarms import Alarms, with_alarms
from .assembly import Block, Header, assemble, stamp_block
from .entries import event_entry, event_page, has_private_link, session_entry
from .folding import serialise
from .zones import Span, Zone, Zones, catalog_zones, event_span

ALL = "all"


@dataclass(frozen=True, slots=True)
class Feed:
    """A calendar as served: its bytes, a strong ETag and when it last changed."""

    body: bytes
    etag: str  # unquoted, as the response sets it
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class _Unstamped:
    """A rendered entry before SEQUENCE and LAST-MODIFIED, and the digest of its content.

    ``private`` is the same entry with a private join link written in, for personal feeds;
    the digest covers both, so an edit of that link raises the entry's one revision.
    """

    block: Block
    digest: str
    private: Block | None = None


class Edition:
    """One catalog, its entries stamped with their revisions, and the feeds built so far."""

    def __init__(
        self,
        catalog: Catalog,
        zones: Zones,
        events: Mapping[str, Block],
        publisher: Publisher,
        publications: Mapping[str, Publication],
        private: Mapping[str, Block] | None = None,
    ) -> None:
        self.catalog = catalog
        self.zones = zones  # one VTIMEZONE per TZID for every feed of this edition
        self.publications = publications  # by event id: its first start, when first published
        self._events = events
        # Entries with a private join link written in, by event id: for personal feeds only.
        self._private = private or {}
        self._publisher = publisher
        self._feeds: dict[tuple[str, ...], Feed] = {}
        self._since = ""  # the keep_past_days cut-off the topic feeds were last asked with
        self._lock = threading.Lock()  # guards the two dicts, never held across a build
        self._building: dict[tuple[str, ...], threading.Lock] = {}
        self._languages: dict[str, Edition] = {}  # this edition in other languages, so far
        self._translating = threading.Lock()

    @property
    def language(self) -> str:
        """Return the language this edition's feeds are written in."""
        return self.catalog.config.site.language

    def in_language(self, language: str) -> Edition:
        """Return this edition with its feeds written in ``language``, one of site.languages.

        The same events, with the texts they give in ``language`` and calfeed's own words
        in it; built when first asked for, and kept with this edition. Its entries and
        feeds have revisions of their own, so that SEQUENCE in a feed of one language rises
        only with a change to it.
        """
        if language == self.language:
            return self
        found = self._languages.get(language)
        if found is None:
            with self._translating:  # one build of each edition in a language
                found = self._languages.get(language)
                if found is None:
                    found = self._publisher.in_language(language).publish(self.catalog)
                    self._languages[language] = found
        return found

    def topic_feed(self, slugs: tuple[str, ...], since: datetime | None = None) -> Feed:
        """Return the feed of the events in any of ``slugs`` (all events for ``("all",)``).

        ``since`` drops events that ended before it (feed.keep_past_days).
        """
        key = ("topics", *slugs, self._cutoff(since))
        return self._cached(key, lambda: self._topic_feed(slugs, since))

    def build_topic_feeds(
        self, feeds: Sequence[tuple[str, ...]], since: datetime | None = None
    ) -> None:
        """Build the feeds of many topics (each a ``topic_feed``) at once, revised in one pass."""
        cutoff = self._cutoff(since)
        wanted = [slugs for slugs in feeds if ("topics", *slugs, cutoff) not in self._feeds]
        built = {("topics", *slugs, cutoff): self._topic_feed(slugs, since) for slugs in wanted}
        revised = self._revised(built)
        with self._lock:
            self._feeds.update(revised)

    def _cutoff(self, since: datetime | None) -> str:
        """Return how ``since`` is written in the keys of topic feeds."""
        cutoff = since.isoformat() if since else ""
        if cutoff != self._since:
            with self._lock:
                # A new day's cut-off: nobody asks for the last day's topic feeds again (in
                # any format: documents are built from them).
                dated = ("topics", "document")
                self._feeds = {key: f for key, f in self._feeds.items() if key[0] not in dated}
                self._building = {k: b for k, b in self._building.items() if k[0] not in dated}
                self._since = cutoff
        return cutoff

    def personal_feed(self, slugs: tuple[str, ...], alarms: Alarms = ()) -> Feed:
        """Return one subscriber's calendar: their topics, private join links, their alarms.

        Only a confirmed subscriber may be served this; it is never a public feed.
        """
        key = ("personal", *slugs, *(str(alarm.total_seconds()) for alarm in alarms))
        return self._cached(key, lambda: self._personal_feed(slugs, alarms))

    def _personal_feed(self, slugs: tuple[str, ...], alarms: Alarms) -> tuple[str, bytes]:
        name, _ = self.feed_title(slugs)
        header = Header(name, None, None, self.catalog.config.feed.refresh)
        blocks = [
            with_alarms(
                self._private.get(event.id) or self._events[event.id], event, alarms, self.language
            )
            for event in self.topic_events(slugs)
        ]
        lead = "+".join(format_duration(alarm) for alarm in alarms)
        path = f"personal/{'+'.join(slugs)}{f'.alarms-{lead}' if lead else ''}.ics"
        return path, assemble(header, blocks, self.zones)

    def entry(self, event_id: str) -> Block:
        """Return an event's entry as its feeds carry it, stamped with its revision."""
        return self._events[event_id]

    def previous_start(self, event_id: str) -> datetime | None:
        """Return the start an event was first published with, if it has moved since."""
        event = self.catalog.by_id[event_id]
        first = self.publications[event_id].first_start
        if event.all_day:  # a day: the same date wherever the event's zone moved
            moved = first.astimezone(event.timezone).date() != event.first_day
        else:
            moved = first != event.start
        return first if moved else None

    def document(self, key: tuple[str, ...], path: str, build: Callable[[], bytes]) -> Feed:
        """Return the feed ``build`` writes of this edition, built once, revised under ``path``.

        Other formats of the feeds (Atom, JSON Feed) and the pages built from them come
        here, so they get the same ETag and Last-Modified, and the same single build, as a
        calendar. ``key`` names it in this edition; ``path`` is what its revision is kept
        under (``feeds/all.atom``).
        """
        return self._cached(("document", *key), lambda: (path, build()))

    def build_documents(self, documents: Sequence[tuple[tuple[str, ...], str, bytes]]) -> None:
        """Keep many documents (each a key, path and body, as ``document`` takes them) at once,
        revised in one pass."""
        built = {
            ("document", *key): (path, body)
            for key, path, body in documents
            if ("document", *key) not in self._feeds
        }
        revised = self._revised(built)
        with self._lock:
            self._feeds.update(revised)

    def event_feed(self, event_id: str) -> Feed:
        """Return one event's calendar: its entry and one entry per session."""
        return self._cached(("event", event_id), lambda: self._event_feed(event_id))

    def topic_events(self, slugs: tuple[str, ...], since: datetime | None = None) -> list[Event]:
        """Return the events of the feed of ``slugs``, in order of start (as its calendar)."""
        wanted = set(slugs)
        if ALL in wanted:
            chosen: Iterable[Event] = self.catalog.events
        elif len(slugs) == 1:
            chosen = self.catalog.by_topic.get(slugs[0], ())
        else:
            chosen = (event for event in self.catalog.events if wanted.intersection(event.topics))
        return [event for event in chosen if since is None or event.end >= since]

    def feed_title(self, slugs: tuple[str, ...]) -> tuple[str, str | None]:
        """Return the name and description the feed of ``slugs`` gives itself, in any format."""
        config = self.catalog.config
        if ALL in slugs:
            return config.site.title, None
        names = [config.topics[slug].name for slug in slugs]
        description = "; ".join(
            f"{config.topics[s].name}: {config.topics[s].description}"
            for s in slugs
            if config.topics[s].description
        )
        return f"{config.site.title}: {', '.join(names)}", description or None

    def _topic_feed(self, slugs: tuple[str, ...], since: datetime | None) -> tuple[str, bytes]:
        config = self.catalog.config
        events = self.topic_events(slugs, since)
        name, description = self.feed_title(slugs)
        path = urls.feed(slugs).lstrip("/")  # what its revision is kept under
        header = Header(
            name, description, urls.absolute(config, urls.feed(slugs)), config.feed.refresh
        )
        return path, assemble(header, (self._events[event.id] for event in events), self.zones)

    def build_event_feeds(self, event_ids: Sequence[str]) -> None:
        """Build the calendars of many events at once, with one pass over the database.

        The export asks for every event's calendar; one by one, each would read and revise
        its sessions and its own revision on its own.
        """
        events = [self.catalog.by_id[i] for i in event_ids if ("event", i) not in self._feeds]
        config = self.catalog.config
        sessions = self._publisher.session_blocks(events, config, self.zones)
        # Joined on every core when they are many; revised here, in one pass.
        calendars = run_all(
            [
                partial(self._event_calendar, event, blocks)
                for event, blocks in zip(events, sessions, strict=True)
            ]
        )
        built: dict[tuple[str, ...], tuple[str, bytes]] = {
            ("event", event.id): calendar for event, calendar in zip(events, calendars, strict=True)
        }
        feeds = self._revised(built)
        with self._lock:
            self._feeds.update(feeds)

    def subscriber_event_feed(self, event_id: str) -> Feed:
        """Return one event's calendar as a confirmed subscriber has it: its private join link.

        The same as ``event_feed`` for an event without a private link. Only for mail to a
        confirmed subscriber; it is never a public feed.
        """
        if event_id not in self._private:
            return self.event_feed(event_id)
        return self._cached(("private", event_id), lambda: self._event_feed(event_id, True))

    def _event_feed(self, event_id: str, private: bool = False) -> tuple[str, bytes]:
        event = self.catalog.by_id[event_id]
        [sessions] = self._publisher.session_blocks([event], self.catalog.config, self.zones)
        return self._event_calendar(event, sessions, private)

    def _event_calendar(
        self, event: Event, sessions: list[Block], private: bool = False
    ) -> tuple[str, bytes]:
        config = self.catalog.config
        path = urls.event_calendar(event.id).lstrip("/")
        entry = self._private[event.id] if private else self._events[event.id]
        if private:
            path = f"personal/{path}"  # revised apart from the public calendar
        header = Header(event.title, None, event_page(event, config) + ".ics", config.feed.refresh)
        return path, assemble(header, [entry, *sessions], self.zones)

    def _revised(
        self, built: Mapping[tuple[str, ...], tuple[str, bytes]]
    ) -> dict[tuple[str, ...], Feed]:
        """Return each built feed with its ETag and revision, recording the revisions."""
        digests = {key: hashlib.sha256(body).hexdigest() for key, (_, body) in built.items()}
        prefix = self._publisher.prefix
        names = {key: revision_name(prefix + path) for key, (path, _) in built.items()}
        revisions = self._publisher.store.revise({names[key]: digests[key] for key in built})
        return {
            key: Feed(body, digests[key][:32], revisions[names[key]].last_modified)
            for key, (_, body) in built.items()
        }

    def _cached(self, key: tuple[str, ...], build: Callable[[], tuple[str, bytes]]) -> Feed:
        feed = self._feeds.get(key)
        if feed is not None:
            return feed
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        # One build of each feed at a time; other feeds build (and revise) meanwhile.
        with building:
            feed = self._feeds.get(key)
            if feed is None:
                feed = self._revised({key: build()})[key]
                with self._lock:
                    self._feeds[key] = feed
        return feed


def revision_name(path: str) -> str:
    """Return the name a feed's revision is kept under: its path, or a digest of a long one.

    A feed of many topics (``feeds/a+b+...ics``) can be named longer than the UID_LENGTH
    characters the revisions table keeps.
    """
    if len(path) <= UID_LENGTH:
        return path
    return f"feeds/{hashlib.sha256(path.encode()).hexdigest()}.ics"


class Publisher:
    """Render catalogs into editions, re-rendering only events that changed.

    Topic feeds need only the events' entries, so sessions are rendered (and revised) when
    an event's own calendar is first asked for. An entry depends on its event and on the
    catalog's zone of its TZID (which instants keep their wall time), so a new span of that
    zone renders again the events in it.
    """

    def __init__(
        self,
        store: RevisionStore,
        renders: RenderStore | None = None,
        language: str | None = None,
    ) -> None:
        self.store = store
        self.renders = renders
        # The language its editions are written in; None: each catalog's own (site.language).
        self.language = language
        # Before the names of its revisions: a language's entries and feeds are revised
        # apart from the site's own.
        self.prefix = "" if language is None else f"{language}/"
        self._in_languages: dict[str, Publisher] = {}
        self._translated: dict[int, tuple[Event, Event]] = {}  # id(event) -> (event, translated)
        self._config: tuple[Config | None, Config | None] = (None, None)  # (given, translated)
        self.publications = PublicationStore(store.engine, store.clock)
        self._published: dict[str, Publication] = {}
        self._renders_for: tuple[object, ...] = ()  # what the cached entries were built from
        # id(event) -> (event, its zone, rendered); keeping the event makes sure the id still
        # names it.
        self._events: dict[int, tuple[Event, Zone | None, _Unstamped]] = {}
        self._sessions: dict[int, tuple[Event, Zone | None, tuple[_Unstamped, ...]]] = {}
        # uid -> (digest, stamped block, stamped private block if any)
        self._stamped: dict[str, tuple[str, Block, Block | None]] = {}
        self._spans: dict[int, tuple[Event, Span | None]] = {}  # id(event) -> (event, its span)
        self._lock = threading.Lock()

    def in_language(self, language: str) -> Publisher:
        """Return the publisher of editions in ``language``, rendering as this one does."""
        with self._lock:
            found = self._in_languages.get(language)
            if found is None:
                found = Publisher(self.store, self.renders, language)
                self._in_languages[language] = found
            return found

    def publish(self, catalog: Catalog) -> Edition:
        """Return an edition of ``catalog``, recording revisions of what changed."""
        with self._lock:
            catalog = self._translate(catalog)
            config = catalog.config
            # Entries use the site's address, UID domain, language and topics' names, nothing
            # else.
            site = config.site
            renders_for = (site.base_url, site.uid_domain, site.language, config.topics)
            if renders_for != self._renders_for:
                self._renders_for, self._events, self._sessions = renders_for, {}, {}
            zones = self._zones(catalog)
            rendered = {}
            fresh = []
            for event in catalog.events:
                zone = zones.get(event.timezone.key)
                cached = self._events.get(id(event))
                if cached is None or cached[0] is not event or cached[1] != zone:
                    fresh.append(event)
                else:
                    rendered[id(event)] = cached
            keys = _RenderKeys(renders_for, zones)
            privately = [e for e in fresh if has_private_link(e)]
            entries_of = self._rendered(
                [(keys.event(e), partial(_render_event, e, config, zones)) for e in fresh]
                + [
                    (keys.private(e), partial(_render_event, e, config, zones, private=True))
                    for e in privately
                ]
            )
            privates = dict(zip(map(id, privately), entries_of[len(fresh) :], strict=True))
            for event, entry in zip(fresh, entries_of[: len(fresh)], strict=True):
                if id(event) in privates:
                    entry = _with_private(entry, privates[id(event)])
                rendered[id(event)] = (event, zones.get(event.timezone.key), entry)
            rendered = {id(event): rendered[id(event)] for event in catalog.events}
            self._events = rendered
            self._sessions = {
                key: value
                for key, value in self._sessions.items()
                if key in rendered and rendered[key][0] is value[0] and rendered[key][1] == value[1]
            }
            entries = [entry for _, _, entry in rendered.values()]
            blocks = self._stamp(entries)
            kept = {entry.block.uid for entry in entries}
            kept.update(s.block.uid for *_, sessions in self._sessions.values() for s in sessions)
            self._stamped = {uid: value for uid, value in self._stamped.items() if uid in kept}
            by_id, private = {}, {}
            for (event, *_), (block, own) in zip(rendered.values(), blocks, strict=True):
                by_id[event.id] = block
                if own is not None:
                    private[event.id] = own
            return Edition(catalog, zones, by_id, self, self._published_of(catalog), private)

    def _translate(self, catalog: Catalog) -> Catalog:
        """Return ``catalog`` as this publisher's language reads it (as it is, for none).

        Its site language is that language, its base_url that of the site in it
        (``/fr``), and its topics and events give their texts in it; an event that did
        not change is translated to the same object as before, so that it is not rendered
        again.
        """
        language = self.language
        if language is None or language == catalog.config.site.language:
            return catalog
        given, translated = self._config
        if given is not catalog.config or translated is None:
            config = catalog.config
            topics = {slug: topic.in_language(language) for slug, topic in config.topics.items()}
            # Its links go to the pages and feeds in that language.
            base_url = f"{config.site.base_url}/{language}"
            site = replace(config.site, language=language, base_url=base_url)
            translated = replace(config, site=site, topics=topics)
            self._config = (config, translated)
        before, now = self._translated, {}
        events = []
        for event in catalog.events:
            kept = before.get(id(event))
            found = (
                kept[1] if kept is not None and kept[0] is event else event.in_language(language)
            )
            now[id(event)] = (event, found)
            events.append(found)
        self._translated = now
        return Catalog(translated, tuple(events))

    def _published_of(self, catalog: Catalog) -> dict[str, Publication]:
        """Return each event's first publication, recording those published for the first time.

        A first publication never changes, so only ids not seen before are asked for.
        """
        new = {e.id: e.start for e in catalog.events if e.id not in self._published}
        if new:
            self._published.update(self.publications.record(new))
        return {event.id: self._published[event.id] for event in catalog.events}

    def _zones(self, catalog: Catalog) -> Zones:
        """Return the catalog's zones, going through again only the events that changed."""
        before: dict[int, tuple[Event, Span | None]] = self._spans
        now: dict[int, tuple[Event, Span | None]] = {}

        def span(event: Event) -> Span | None:
            kept = before.get(id(event))
            found = kept[1] if kept is not None and kept[0] is event else event_span(event)
            now[id(event)] = (event, found)
            return found

        zones = catalog_zones(catalog, span)
        self._spans = now
        return zones

    def session_blocks(
        self, events: Sequence[Event], config: Config, zones: Zones
    ) -> list[list[Block]]:
        """Return the stamped entries of each event's sessions, written for ``zones``."""
        with self._lock:
            keys = _RenderKeys(self._renders_for, zones)
            fresh = []
            for event in events:
                cached = self._sessions.get(id(event))
                if (
                    cached is None
                    or cached[0] is not event
                    or cached[1] != zones.get(event.timezone.key)
                ):
                    fresh.append(event)
            wanted = [
                (keys.session(own, index), partial(_render_session, event, s, config, zones))
                for event, own in ((e, keys.event(e)) for e in fresh)
                for index, s in enumerate(event.sessions)
            ]
            entries = iter(self._rendered(wanted))
            for event in fresh:
                own = tuple(next(entries) for _ in event.sessions)
                self._sessions[id(event)] = (event, zones.get(event.timezone.key), own)
            every = [list(self._sessions[id(event)][2]) for event in events]
            stamped = iter(self._stamp([entry for own in every for entry in own]))
            return [[next(stamped)[0] for _ in own] for own in every]

    def _rendered(self, wanted: Sequence[tuple[str, Callable[[], _Unstamped]]]) -> list[_Unstamped]:
        """Return each entry by key: from the render store where it is, else rendered now."""
        if self.renders is None or not wanted:
            return run_all([render for _, render in wanted])
        stored = self.renders.read([key for key, _ in wanted])
        missing = [(key, render) for key, render in wanted if key not in stored]
        fresh = dict(
            zip([key for key, _ in missing], run_all([r for _, r in missing]), strict=True)
        )
        result = []
        for key, _ in wanted:
            found = stored.get(key)
            if found is None:
                entry = fresh[key]
            else:
                entry = _Unstamped(Block(found.uid, found.data, found.zone), _digest(found.data))
            result.append(entry)
        if fresh:
            self.renders.write(
                (key, Rendered(entry.block.uid, entry.block.zone, entry.block.data))
                for key, entry in fresh.items()
            )
        return result

    def _stamp(self, entries: list[_Unstamped]) -> list[tuple[Block, Block | None]]:
        """Return each entry stamped with its revision, and its private form stamped alike."""
        stamped = self._stamped
        stale = {e.block.uid: e for e in entries if stamped.get(e.block.uid, ("",))[0] != e.digest}
        if stale:
            names = {uid: revision_name(self.prefix + uid) for uid in stale}
            revisions = self.store.revise(
                {names[uid]: entry.digest for uid, entry in stale.items()}
            )
            for uid, entry in stale.items():
                revision = revisions[names[uid]]
                stamp = partial(
                    stamp_block, sequence=revision.sequence, last_modified=revision.last_modified
                )
                revised = partial(
                    replace, sequence=revision.sequence, last_modified=revision.last_modified
                )
                private = entry.private
                stamped[uid] = (
                    entry.digest,
                    revised(entry.block, data=stamp(entry.block.data)),
                    None if private is None else revised(private, data=stamp(private.data)),
                )
        return [stamped[entry.block.uid][1:] for entry in entries]


def _render_event(
    event: Event, config: Config, zones: Zones, *, private: bool = False
) -> _Unstamped:
    zone = None if event.all_day else event.timezone.key
    return _unstamped(event_entry(event, config, zones, private=private), zone)


def _with_private(entry: _Unstamped, private: _Unstamped) -> _Unstamped:
    """Return ``entry`` carrying its private form, under a digest of both."""
    return _Unstamped(entry.block, _digest((entry.digest + private.digest).encode()), private.block)


def _render_session(event: Event, session: Session, config: Config, zones: Zones) -> _Unstamped:
    return _unstamped(session_entry(event, session, config, zones), event.timezone.key)


def _unstamped(entry: icalendar.Event, zone: str | None) -> _Unstamped:
    data = serialise(entry)  # entry.to_ical(), folded faster
    if b";TZID=" not in data:  # all-day, or written in UTC: no VTIMEZONE needed
        zone = None
    return _Unstamped(Block(str(entry["uid"]), data, zone), _digest(data))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# The code an entry's bytes come from: a new version of it renders every entry again.
_RENDERER = _digest(
    b"".join(path.read_bytes() for path in sorted(Path(__file__).parent.glob("*.py")))
    + icalendar.__version__.encode()
)


class _RenderKeys:
    """Keys of rendered entries: digests of everything an entry's bytes depend on.

    That is the event (but not where in which file it is written), what the entries use of
    the site's settings, the catalog's zone of the event's TZID, and the renderer.
    """

    def __init__(self, renders_for: tuple[object, ...], zones: Zones) -> None:
        self._prefix = f"{_RENDERER}|{renders_for!r}|"
        self._zones = {tzid: _digest(repr(zone).encode()) for tzid, zone in zones.items()}

    def event(self, event: Event) -> str:
        content = tuple(getattr(event, f.name) for f in fields(event) if f.name != "source")
        zone = self._zones.get(event.timezone.key, "")
        return _digest(f"{self._prefix}{zone}|{content!r}".encode())

    def private(self, event: Event) -> str:
        """Return the key of the event's entry with its private join link written in."""
        return _digest(f"{self.event(event)}|private".encode())

    def session(self, event_key: str, index: int) -> str:
        """Return the key of session ``index`` of the event whose key is ``event_key``."""
        return _digest(f"{event_key}|session {index}".encode())
