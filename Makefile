# Two commands do everything: `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLAIMS := $(VENV)/bin/claims
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean bench

SIZE ?= full
PORT ?= 8501

# compileall: bytecode for our own packages (pip compiles only site-packages). Where
# PYTHONDONTWRITEBYTECODE is set, Python would otherwise compile them from source in every process
# (about 0.05 s of each command); a file edited later is recompiled in memory, never read stale.
$(STAMP): pyproject.toml
	@echo "installing claims and its dependencies into $(VENV) (first run only; a few minutes)..."
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m compileall -q claims flows dashboard migrations bench
	touch $(STAMP)

install: $(STAMP)

## Install, migrate the embedded SQLite database, load the EU drones case, run the flows (in this
## process unless PREFECT_API_URL is set: no Prefect server is started), print the readiness table
## and start the dashboard on http://localhost:$(PORT) (default 8501)
demo: $(STAMP)
	@echo "claims demo: migrate, load the EU drones case, run the flows, then the dashboard"
	$(CLAIMS) demo --dashboard --port $(PORT)

## Lint, layer contracts and the whole test suite (PostgreSQL and browser tests included)
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest

## Benchmarks against their baselines at 1k, 10k, 100k claims on SQLite and PostgreSQL (SIZE=quick: smoke run)
bench: $(STAMP)
	$(PY) -m bench.run --size $(SIZE)

clean:
	rm -rf $(VENV) claims.db claims.db-wal claims.db-shm .pytest_cache
