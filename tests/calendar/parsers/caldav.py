"""A real CalDAV server on loopback: Radicale, its own process, with feeds imported into it.

Radicale stores each calendar object as it parsed it with vobject, and answers a CalDAV
``calendar-query`` REPORT with a ``time-range`` filter from the start and end it computed
then. vobject keeps the first VTIMEZONE it sees per TZID for the whole process, so a server
that imports many calendars reads all of them through the first one: the feeds of one
catalog must agree about each zone. One server runs for the whole test session, every feed
of a catalog in a collection of its own (a PUT of the whole calendar to the collection),
the event feeds first.

The server listens on a free port of 127.0.0.1, keeps its storage in a temporary folder and
asks for no login. Every request has a timeout; stopping it ends the process.
"""

from __future__ import annotations

import http.client
import importlib.util
import re
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from ports import free_port

from . import lines
from .readers import Read, ToolMissing

DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"
USER = "calfeed"
TIMEOUT = 30.0
_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop>{prop}</D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">{range}
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""


class CalDAVServer:
    """A Radicale process and the collections imported into it."""

    def __init__(self, folder: Path) -> None:
        if importlib.util.find_spec("radicale") is None:
            raise ToolMissing("Radicale is not installed: pip install -e '.[test]'")
        self.port = free_port()
        config = folder / "radicale.conf"
        config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n"
            "[auth]\ntype = none\n"
            f"[storage]\nfilesystem_folder = {folder / 'collections'}\n"
            "[logging]\nlevel = error\n",
            encoding="utf-8",
        )
        self._log = (folder / "radicale.log").open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._uids: dict[str, dict[str, str]] = {}  # collection -> href -> UID
        self._wait_until_listening()
        self._request("MKCOL", f"/{USER}/", b"", expect=(201,))

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(f"Radicale exited with {self._process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise AssertionError(f"Radicale did not listen on port {self.port} in {TIMEOUT} s")

    def close(self) -> None:
        """Stop the server process."""
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._log.close()

    def import_feed(self, name: str, body: bytes) -> dict[str, bytes]:
        """Put a whole feed into a new collection; return uid -> each object as served."""
        self._request("PUT", self._path(name), body, "text/calendar", expect=(201,))
        objects, self._uids[name] = {}, {}
        for href, text in self._report(name, "<C:calendar-data/>", "").items():
            # XML reads the object's CRLFs as LFs: put them back.
            data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
            uid = next(line.value for line in lines.content_lines(data) if line.name == "UID")
            objects[uid] = data
            self._uids[name][href] = uid
        return objects

    def uids_between(self, name: str, start: datetime, end: datetime) -> set[str]:
        """Return the UIDs of the events the server finds overlapping [start, end)."""
        window = (
            f'<C:time-range start="{start.astimezone(UTC):%Y%m%dT%H%M%SZ}" '
            f'end="{end.astimezone(UTC):%Y%m%dT%H%M%SZ}"/>'
        )
        return {self._uids[name][href] for href in self._report(name, "<D:getetag/>", window)}

    def _report(self, name: str, prop: str, window: str) -> dict[str, str]:
        """Return href -> calendar-data (or "") of a calendar-query REPORT."""
        body = _QUERY.format(prop=prop, range=window).encode("utf-8")
        reply = self._request("REPORT", self._path(name), body, "application/xml", expect=(207,))
        found = {}
        for response in ET.fromstring(reply).iter(f"{{{DAV}}}response"):
            href = response.findtext(f"{{{DAV}}}href")
            assert href is not None
            data = response.find(f".//{{{CALDAV}}}calendar-data")
            found[href] = (data.text or "") if data is not None else ""
        return found

    def _path(self, name: str) -> str:
        return f"/{USER}/{quote(name, safe='')}/"

    def _request(
        self,
        method: str,
        path: str,
        body: bytes,
        content_type: str = "application/xml",
        expect: tuple[int, ...] = (200,),
    ) -> bytes:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            headers = {"Content-Type": f"{content_type}; charset=utf-8", "Depth": "1"}
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status not in expect:
            raise AssertionError(f"{method} {path}: {response.status} {data[:300]!r}")
        return data


def texts(data: bytes) -> Read:
    """Return the texts of the one VEVENT in a served object, read as RFC 5545 TEXT."""
    (block,) = lines.blocks(data)
    found = {line.name: lines.unescape(line.value) for line in block if line.name != "CATEGORIES"}
    categories = [
        lines.unescape(part)
        for line in block
        if line.name == "CATEGORIES"
        for part in re.split(r"(?<!\\),", line.value)
    ]
    return Read(
        None,
        None,
        found.get("SUMMARY"),
        found.get("DESCRIPTION"),
        found.get("LOCATION"),
        tuple(categories),
        tuple(line.value for line in block if line.name == "CONFERENCE"),  # a URI: no escapes
    )
