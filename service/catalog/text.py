"""An operator's file as text: read without blocking, bounded in size, UTF-8, printable.

The service reads whatever appears under ``feeds/``, so a file is opened without blocking (a
FIFO would otherwise wait for a writer forever), refused unless it is a regular file, and read
only up to ``MAX_BYTES``. Its text must be UTF-8 (with or without a byte order mark) and hold
only the characters YAML allows; the first byte or character that is not is reported at its
line and column, counted the way YAML counts them.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from pathlib import Path

from ..errors import CatalogError, Problem

MAX_BYTES = 1_000_000  # a file of a hundred long events is a tenth of this
_BREAKS = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
# What YAML 1.1 calls printable: everything else is refused before parsing.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_UTF16_32 = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_text(path: Path, shown_as: str) -> str:
    """Read a regular file of at most MAX_BYTES as UTF-8; raise a CatalogError if it is not."""
    return decode(read_bytes(path, shown_as), shown_as)


def read_bytes(path: Path, shown_as: str) -> bytes:
    """Read a regular file of at most MAX_BYTES; raise a CatalogError if it is not one."""

    def refuse(message: str) -> CatalogError:
        return CatalogError([Problem(shown_as, 0, "", message)])

    try:
        if kind := _irregular(os.stat(path)):
            raise refuse(kind)
        # O_NONBLOCK: a FIFO put in the file's place since the stat must not hang the reader.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            if kind := _irregular(info):
                raise refuse(kind)
            if info.st_size > MAX_BYTES:
                raise refuse(_too_big(info.st_size))
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_BYTES and (chunk := os.read(fd, MAX_BYTES + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except OSError as err:
        raise refuse(f"cannot read file: {err.strerror or err}") from err
    if size > MAX_BYTES:  # it grew while being read
        raise refuse(_too_big(size))
    return b"".join(chunks)


def _irregular(info: os.stat_result) -> str | None:
    """Say what the file is when it is not a regular file."""
    for test, kind in _KINDS:
        if test(info.st_mode):
            return f"not a regular file but {kind}: only files are read"
    return None


def _too_big(size: int) -> str:
    return f"{size:,} bytes, more than the {MAX_BYTES:,} a file may hold; split it into several"


def decode(data: bytes, shown_as: str) -> str:
    """Return ``data`` as UTF-8 text, or raise a CatalogError naming the line of a bad byte."""
    for mark, encoding in _UTF16_32:
        if data.startswith(mark):
            message = f"the file is {encoding} (it starts with a byte order mark); save it as UTF-8"
            raise CatalogError([Problem(shown_as, 1, "", message)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8")
        line, column = position(before)
        message = f"not UTF-8: byte 0x{data[err.start]:02X} at column {column}; save it as UTF-8"
        raise CatalogError([Problem(shown_as, line, "", message)]) from err


def check_characters(text: str, shown_as: str) -> None:
    """Raise a CatalogError at the first character YAML does not allow, such as NUL."""
    found = _NOT_PRINTABLE.search(text)
    if found is None:
        return
    line, column = position(text[: found.start()])
    if found.group() == "\0":
        # Text in UTF-16 without a byte order mark reads as ASCII with a NUL after each letter.
        looks_utf16 = text[:200].count("\0") * 3 >= min(len(text), 200)
        message = (
            f"a NUL byte at column {column}: the file looks like UTF-16; save it as UTF-8"
            if looks_utf16
            else f"a NUL byte at column {column} is not allowed in text"
        )
    else:
        character = found.group()
        kind = "control character" if unicodedata.category(character) == "Cc" else "character"
        message = f"{kind} U+{ord(character):04X} at column {column} is not allowed in text"
    raise CatalogError([Problem(shown_as, line, "", message)])


def position(before: str) -> tuple[int, int]:
    """Return the line and column (from 1) of the character that follows ``before``."""
    lines = 1
    start = 0
    for found in _BREAKS.finditer(before):
        lines += 1
        start = found.end()
    return lines, len(before) - start + 1
