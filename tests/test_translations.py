"""Every message of the pages, mails and feeds is translated, and compiled as translated.

The messages are extracted from the code and the templates as ``make translations`` does
(babel.cfg says where, with Babel's own extract API); each language's catalog must hold a
translation of each of them that is neither empty nor fuzzy (what ``make translations``
marks for review). The compiled catalogs the site reads (``.mo``, made by make from the
``.po``) must be what the ``.po`` files say now.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from service.catalog.values import LANGUAGES
from service.language import TRANSLATIONS

REPO = Path(__file__).resolve().parents[1]
# As the Makefile's KEYWORDS: gettext's own, and what the forms' labels are marked with.
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
TRANSLATED = [language for language in LANGUAGES if language != "en"]


def messages(root: Path) -> dict[str, str]:
    """Return every message of the code and templates under ``root``, by id: where it is."""
    with open(REPO / "babel.cfg", encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    found: dict[str, str] = {}
    for path, line, message, _comments, _context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS
    ):
        key = message[0] if isinstance(message, tuple) else message
        if key:
            found.setdefault(key, f"{path}:{line}")
    return found


def catalog(language: str) -> Catalog:
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


def untranslated(found: dict[str, str], translations: Catalog) -> list[str]:
    """Name each message that ``translations`` lacks, has empty, or has fuzzy."""
    problems = []
    for key, where in sorted(found.items()):
        message = translations.get(key)
        strings = message.string if message else None
        texts = strings if isinstance(strings, tuple) else (strings,)
        if message is None:
            problems.append(f"{where}: {key!r} is not in the catalog")
        elif not all(texts):
            problems.append(f"{where}: {key!r} has no translation")
        elif message.fuzzy:
            problems.append(f"{where}: {key!r} is marked fuzzy: check and unmark it")
    return problems


def test_the_code_and_templates_have_messages_to_translate() -> None:
    found = messages(REPO)

    # From Python code, page templates and mail templates alike.
    assert "Page not found" in found  # service/web/pages.py
    assert "Subscribe to %(feed)s" in found  # service/web/templates/_macros.html
    assert "%(title)s starts %(when)s." in found  # service/reminders/templates/reminder.txt
    assert "in %(num)d day" in found  # service/reminders/mail.py, a plural


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_has_a_translation(language: str) -> None:
    assert untranslated(messages(REPO), catalog(language)) == []


def test_a_message_added_without_its_translation_is_named(tmp_path: Path) -> None:
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "new.py").write_text(
        'from flask_babel import gettext\n\nSAID = gettext("All events")\n'
        'NEW = gettext("A message nobody translated")\n',
        encoding="utf-8",
    )

    problems = untranslated(messages(tmp_path), catalog("fr"))

    assert problems == ["service/new.py:4: 'A message nobody translated' is not in the catalog"]


def test_an_empty_or_fuzzy_translation_is_named(tmp_path: Path) -> None:
    french = catalog("fr")
    french["All events"].string = ""
    french["Reminders"].flags.add("fuzzy")
    found = {"All events": "a.py:1", "Reminders": "a.py:2", "Topics": "a.py:3"}

    assert untranslated(found, french) == [
        "a.py:1: 'All events' has no translation",
        "a.py:2: 'Reminders' is marked fuzzy: check and unmark it",
    ]


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_is_what_the_po_file_says(language: str) -> None:
    compiled = TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo"
    written = io.BytesIO()
    write_mo(written, catalog(language))

    assert compiled.is_file(), f"{compiled} is missing: run make (it compiles the catalogs)"
    assert compiled.read_bytes() == written.getvalue(), (
        f"{compiled} is older than its .po file: run make (it compiles the catalogs again)"
    )
