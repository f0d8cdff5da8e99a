"""The languages calfeed speaks: its message catalogs, and dates as each language writes them.

Pages, mails and the names of feeds are written in English, French, Spanish and German.
The words come from the message catalogs under ``service/translations`` (one
``<language>/LC_MESSAGES/messages.po`` each, compiled to ``.mo`` when calfeed is installed);
the web pages read them through Flask-Babel, the mails (which know nothing of Flask) through
``translations`` here. Dates and times are written with Babel's data of each language
(CLDR): ``7 December 2020`` in English (as the British write it: calfeed's sites are
European), ``7 décembre 2020``, ``7 de diciembre de 2020``, ``7. Dezember 2020``. Clock
times are 24-hour in every language, and a zone is named by its abbreviation as tzdata
gives it (``CET``), the same in every language.

Babel works out a pattern from CLDR's data at each call, which costs far more than the date
it writes: a home page of ten thousand events spent 0.8 s in it. The days written are kept
(``_KEPT`` of each kind), since the events of a catalog fall on far fewer days than there
are events.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_interval, format_skeleton
from babel.support import NullTranslations, Translations

from .catalog.values import LANGUAGES

# The message catalogs, by language; the .mo files are built from the .po files at install.
TRANSLATIONS = Path(__file__).parent / "translations"
# Each language's name as its own speakers write it, for the switch on every page.
NAMES = {"en": "English", "fr": "Français", "es": "Español", "de": "Deutsch"}
# Babel's locale for the dates of each language.
_LOCALES = {"en": "en_GB"}
_KEPT = 8192  # dates written, of each kind, kept
# Each language with the country it is most read in here, as Open Graph names a locale.
_TERRITORIES = {"en": "en_GB", "fr": "fr_FR", "es": "es_ES", "de": "de_DE"}

__all__ = ["LANGUAGES", "NAMES", "TRANSLATIONS", "translations"]


@cache
def translations(language: str) -> NullTranslations:
    """Return the compiled message catalog of ``language`` (English: the messages as written)."""
    if language == "en":
        return NullTranslations()
    found = Translations.load(str(TRANSLATIONS), [language])
    if not isinstance(found, Translations):  # Babel gives NullTranslations for a missing .mo
        raise FileNotFoundError(
            f"no compiled message catalog for {language!r} under {TRANSLATIONS}: "
            "run `make translations-compile` (make run and make test do)"
        )
    return found


@cache
def locale(language: str) -> Locale:
    """Return Babel's locale for the dates and numbers of ``language``."""
    return Locale.parse(_LOCALES.get(language, language))


def territory_locale(language: str) -> str:
    """Return ``language`` as a locale with a country, as Open Graph's og:locale wants it."""
    return _TERRITORIES[language]


@lru_cache(maxsize=_KEPT)
def long_date(day: date, language: str) -> str:
    """Write a day in full: ``7 December 2020``, ``7 décembre 2020``."""
    return format_date(day, "long", locale=locale(language))


@lru_cache(maxsize=_KEPT)
def short_date(day: date, language: str) -> str:
    """Write a day with its weekday, shortly: ``Mon, 7 Dec 2020``, ``lun. 7 déc. 2020``."""
    return format_skeleton("yMMMEd", day, locale=locale(language))


@lru_cache(maxsize=_KEPT)
def weekday(day: date, language: str) -> str:
    """Write a day of a year that is clear from around it: ``Mon 7 Dec``, ``lun. 7 déc.``."""
    return format_skeleton("MMMEd", day, locale=locale(language))


@lru_cache(maxsize=_KEPT)
def month(day: date, language: str) -> str:
    """Write the month ``day`` is in: ``December 2020``, ``décembre 2020``."""
    return format_skeleton("yMMMM", day, locale=locale(language))


@lru_cache(maxsize=_KEPT)
def days(first: date, last: date, language: str, *, short: bool = False) -> str:
    """Write the days from ``first`` to ``last``, inclusive: ``30 November – 4 December 2020``."""
    skeleton = "yMMMEd" if short else "yMMMMd"
    if first == last:
        return short_date(first, language) if short else long_date(first, language)
    return format_interval(first, last, skeleton, locale=locale(language))


def clock(moment: datetime) -> str:
    """Write a time of day as every language here does: ``14:00``."""
    return f"{moment:%H:%M}"


def zone_name(moment: datetime) -> str:
    """Write the abbreviation of the zone ``moment`` is in (``CET``), as tzdata gives it."""
    return f"{moment:%Z}"
