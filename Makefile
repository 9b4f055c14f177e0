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
$(VENV)/.installed-run: setup.cfg setup.py pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

# The package and the test tools (`make test`, `make lint`, the benchmarks).
$(VENV)/.installed: setup.cfg setup.py pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: install run test test-compiled compiled lint bench bench-forecast bench-http chromium node cc clean
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
	$(MAKE) test-compiled

# mypyc's C extension modules are built with Debian's gcc.
cc:
	@command -v gcc >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq gcc; }

# The interpreter compiled with mypyc (setup.py, MAGIC_CUBE_COMPILE=1) in a copy of the tree,
# build/compiled: the working tree stays pure Python, so no edit hides behind a stale build.
COMPILED_DIR := build/compiled
compiled: $(VENV)/.installed cc
	rm -rf $(COMPILED_DIR) && mkdir -p $(COMPILED_DIR)
	git ls-files -z --cached --others --exclude-standard \
		| tar --null --ignore-failed-read -T - -cf - | tar -xf - -C $(COMPILED_DIR)
	cd $(COMPILED_DIR) && MAGIC_CUBE_COMPILE=1 $(CURDIR)/$(PY) setup.py --quiet build_ext --inplace

# The tests of the rules, the forecast and the engine, run on the compiled modules.
COMPILED_TESTS := tests/test_interpreter.py tests/test_interpreter_cow.py \
	tests/test_interpreter_reads.py tests/test_jsonlogic.py tests/test_jsonlogic_conformance.py \
	tests/test_jsonlogic_dialect.py tests/test_definitions.py tests/test_dates.py tests/test_rng.py \
	tests/test_timers.py tests/test_activity_timers.py tests/test_rules_limits.py \
	tests/test_properties.py tests/test_scenarios.py tests/test_scenario_fuzz.py \
	tests/test_scenario_views.py tests/test_templates_from_docs.py tests/test_template_pins.py \
	tests/test_malformed_templates.py tests/test_foresight.py tests/test_forecast.py \
	tests/test_forecast_new_kinds.py tests/test_api_forecast.py tests/test_api_campaigns.py \
	tests/test_engine.py tests/test_group_commit.py tests/test_config_compile.py \
	tests/test_forecast_generic.py
test-compiled: compiled
	cd $(COMPILED_DIR) && $(CURDIR)/$(PY) -c \
		'import magic_cube.rules.interpreter as m; assert m.__file__.endswith(".so"), m.__file__'
	cd $(COMPILED_DIR) && $(CURDIR)/$(PY) -m pytest -q $(PYTEST_ARGS) $(COMPILED_TESTS)
	$(PY) tests/forecast_digest.py > build/forecast-pure.txt
	cd $(COMPILED_DIR) && $(CURDIR)/$(PY) tests/forecast_digest.py > $(CURDIR)/build/forecast-compiled.txt
	diff build/forecast-pure.txt build/forecast-compiled.txt && echo "forecasts: the same on both builds"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check magic_cube tests bench
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) bench/jsonlogic.py
	$(PY) bench/rules.py
	$(PY) bench/engine.py
	$(PY) bench/festival.py --gevent

# The forecast's speed on both builds: the working tree's pure Python, then compiled.
bench-forecast: compiled
	$(PY) bench/forecast.py
	cd $(COMPILED_DIR) && $(CURDIR)/$(PY) bench/forecast.py

bench-http: $(VENV)/.installed
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(PY) bench/http.py

clean:
	rm -rf $(VENV) instance .pytest_cache build
