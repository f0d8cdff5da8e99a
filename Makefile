# Two commands: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# What the tests use beyond Python: headless Chromium for the pages, nginx for the documented
# site (docs/nginx.conf), libical (through Debian's python3-gi) and ical.js (through Node) as
# independent iCalendar readers, and a Redis server of their own to stop (beside the one on
# 127.0.0.1:6379) for the rate limits.
SYSTEM_PACKAGES := chromium nginx gir1.2-ical-3.0 python3-gi redis-server
ICALJS := tests/calendar/js
# What the benchmarks use beyond that: wrk for load, nginx as a peer serving the export, and
# ical-generator (through npm) as a peer of the feed build.
BENCH_PACKAGES := wrk nginx
BENCH_NODE := bench/node

# The message catalogs of pages and mails (babel.cfg says where the messages are); the .mo
# files are compiled from them at install and whenever a .po file changes (never committed).
TRANSLATIONS := service/translations
COMPILED := $(patsubst %.po,%.mo,$(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po))
# Besides gettext's own: what the forms' labels are marked with.
KEYWORDS := -k lazy_gettext -k lazy_ngettext:1,2

.PHONY: run test check lint typecheck system golden reference clean bench bench-setup translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/pybabel -q compile -d $(TRANSLATIONS)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/pybabel -q compile -d $(TRANSLATIONS)
	touch $@ $(VENV)/.installed

$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(BIN)/pybabel -q compile -l $* -i $< -o $@

# Extract the messages of the code and templates again and bring every catalog up to date
# with them; then translate what is new or changed (marked fuzzy, or empty) in each .po.
translations: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg $(KEYWORDS) --no-location --sort-output \
	  --project calfeed -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel -q update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-wrap \
	  --ignore-pot-creation-date
	$(BIN)/pybabel -q compile -d $(TRANSLATIONS)

# make run PORT=8080 (HOST=0.0.0.0): set site.base_url in config.yaml to match, since every
# link in pages, feeds and mails points there; calfeed run warns when they disagree.
HOST ?= 127.0.0.1
PORT ?= 8000

run: $(VENV)/.installed $(COMPILED)
	$(BIN)/calfeed check
	$(BIN)/calfeed run --host $(HOST) --port $(PORT)

check: $(VENV)/.installed $(COMPILED)
	$(BIN)/calfeed check

# Installs the Debian packages $(1) that are missing when it can (as root, with apt-get);
# otherwise names them and what goes without them, $(2).
define install_missing
	@missing=""; for package in $(1); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "not installed:$$missing ($(2))"; fi
endef

system:
	$(call install_missing,$(SYSTEM_PACKAGES),the tests that need them will be skipped)

$(ICALJS)/node_modules: $(ICALJS)/package-lock.json
	@if command -v npm >/dev/null; then npm ci --silent --prefix $(ICALJS) && touch $@; \
	else echo "npm not found: the ical.js tests will be skipped"; fi

$(BENCH_NODE)/node_modules: $(BENCH_NODE)/package-lock.json
	@if command -v npm >/dev/null; then npm ci --silent --prefix $(BENCH_NODE) && touch $@; \
	else echo "npm not found: bench/feeds.py leaves out ical-generator"; fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench

# Two runs: tests/calendar and bench have modules named like ones in tests/ (pyproject.toml).
typecheck: $(VENV)/.installed-test
	$(BIN)/mypy
	$(BIN)/mypy $(wildcard tests/calendar/*.py tests/calendar/parsers/*.py bench/*.py)

# The floor of line and branch coverage of service/ (the whole suite measured 93.8%) holds
# for `make test` only: a run of one file (pytest tests/web) measures nothing unless asked
# (--cov=service) and has no floor. What runs only in the real processes the tests start is
# not measured: web/gunicorn.py (calfeed serve's master and workers, tests/web/test_serve.py)
# and the command line's servers, some 3% of service/.
COVERAGE_FLOOR := 93

test: system $(ICALJS)/node_modules $(BENCH_NODE)/node_modules lint typecheck $(COMPILED)
	$(BIN)/python -m pytest --cov=service --cov-fail-under=$(COVERAGE_FLOOR) $(PYTEST_ARGS)

bench-setup: $(VENV)/.installed-test $(BENCH_NODE)/node_modules
	$(call install_missing,$(BENCH_PACKAGES),bench/serve.py loads with Python threads and leaves out nginx)

# Every benchmark in its default size (about half an hour on two cores); BENCH_ARGS=--quick
# tries them in a minute.
bench: bench-setup
	$(BIN)/python bench/feeds.py $(BENCH_ARGS)
	$(BIN)/python bench/serve.py $(BENCH_ARGS)
	$(BIN)/python bench/planner.py $(BENCH_ARGS)
	$(BIN)/python bench/reminders.py $(BENCH_ARGS)

# Rewrite the golden feeds and mails after an intended change; review the diff.
golden: $(VENV)/.installed-test $(COMPILED)
	CALFEED_UPDATE_GOLDEN=1 $(BIN)/python -m pytest tests -k golden -q

# Write the field reference of config.yaml and the event files from the schema.
reference: $(VENV)/.installed
	$(BIN)/python -m service.catalog.reference > docs/reference.md

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis .coverage $(ICALJS)/node_modules \
	  $(BENCH_NODE)/node_modules
