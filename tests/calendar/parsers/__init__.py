"""Independent readers for the calendar tests: of feeds, and of the event YAML.

What a client sees is checked with readers that share no code with ``service``:

* ``lines``: a feed's raw content lines (folding, escapes, parameters) as RFC 5545 spells
  them, for what parsers forgive silently;
* ``readers``: five calendar parsers (icalendar, allenporter's ical in strict mode, Mozilla's
  ical.js, libical and vobject), each reduced to uid -> instants and texts, read through the
  feed's own VTIMEZONE; ``icaljs.mjs``, ``libical.py`` and ``vobject_feeds.py`` are the
  programs behind the last three;
* ``outlook``: classic Outlook's reading of the instants, one rule per zone for every year,
  as Microsoft's specifications describe it;
* ``caldav``: a real CalDAV server (Radicale) on loopback, asked by time range;
* ``oracle``: what a client should see, computed from config.yaml and the event files with
  PyYAML and zoneinfo alone, never with the code under test.
"""
