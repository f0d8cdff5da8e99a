"""Independent readers for the calendar tests: of feeds, and of the event YAML.

What a client sees is checked with readers that share no code with ``service``:

* ``lines``: a feed's raw content lines (folding, escapes, parameters) as RFC 5545 spells
  them, for what parsers forgive silently;
* ``readers``: four calendar parsers (icalendar, allenporter's ical in strict mode, Mozilla's
  ical.js and libical), each reduced to uid -> (start, end) read through the feed's own
  VTIMEZONE; ``icaljs.mjs`` and ``libical.py`` are the programs behind the last two;
* ``oracle``: what a client should see, computed from config.yaml and the event files with
  PyYAML and zoneinfo alone, never with the code under test.
"""
