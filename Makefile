# `make run`: the service on SQLite with demo data.  `make test`: the whole test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The package alone: all that `make run` needs.
$(VENV)/.installed-run: setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

# The package and the test tools (`make test`, `make lint`, the benchmarks).
$(VENV)/.installed: setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: install run test lint bench bench-http chromium node clean
install: $(VENV)/.installed

# Browser tests drive Debian's Chromium (never a browser downloaded by a test tool).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei; }

# The JavaScript client's tests run on Debian's node; the client has no npm dependencies.
node:
	@command -v node >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nodejs npm; }

# The worker (timers, webhooks) runs beside the server and stops with it.
run: $(VENV)/.installed-run
	$(VENV)/bin/magic-cube demo --host $(HOST) --port $(PORT)
	$(VENV)/bin/magic-cube worker --log-level WARNING & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	MAGIC_CUBE_BIND=$(HOST):$(PORT) MAGIC_CUBE_WORKERS=1 MAGIC_CUBE_ACCESS_LOG=- \
		$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

test: $(VENV)/.installed chromium node
	$(PY) -m pytest $(PYTEST_ARGS)
	cd clients/js && node --test test/

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check magic_cube tests bench
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) bench/jsonlogic.py
	$(PY) bench/rules.py
	$(PY) bench/engine.py
	$(PY) bench/festival.py

bench-http: $(VENV)/.installed
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(PY) bench/http.py

clean:
	rm -rf $(VENV) instance .pytest_cache
