# `make run`: the service on SQLite with demo data.  `make test`: the whole test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: install run test lint bench bench-http chromium clean
install: $(VENV)/.installed

# Browser tests drive Debian's Chromium (never a browser downloaded by a test tool).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei; }

# The worker (timers, webhooks) runs beside the server and stops with it.
run: $(VENV)/.installed
	$(VENV)/bin/magic-cube demo --host $(HOST) --port $(PORT)
	$(VENV)/bin/magic-cube worker --log-level WARNING & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	MAGIC_CUBE_BIND=$(HOST):$(PORT) MAGIC_CUBE_WORKERS=1 MAGIC_CUBE_ACCESS_LOG=- \
		$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

test: $(VENV)/.installed chromium
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check magic_cube tests bench

bench: $(VENV)/.installed
	$(PY) bench/jsonlogic.py
	$(PY) bench/rules.py
	$(PY) bench/engine.py

bench-http: $(VENV)/.installed
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(PY) bench/http.py

clean:
	rm -rf $(VENV) instance .pytest_cache
