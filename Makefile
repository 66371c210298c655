# hotspots — the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest workers: CI machines have 2 cores
WORKERS ?= 2

.PHONY: install system demo test test-fast bench lint screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the app and report tests use: headless Chromium + driver, poppler.
system:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
	    && command -v pdftoppm >/dev/null 2>&1; then :; else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium chromium-driver poppler-utils >/dev/null; fi

## make demo: install, then run the main job on the shared data for Merton / SW BCU
demo: install
	$(BIN)/hotspots demo --area Merton

## make test: install everything the tests need, then run them (what CI runs)
test: install system
	$(BIN)/python -m pytest -n $(WORKERS) -q

test-fast: install
	$(BIN)/python -m pytest -n $(WORKERS) -q -m "not browser and not slow"

bench: install
	$(BIN)/hotspots ingest >/dev/null
	$(BIN)/python benchmarks/run_all.py

lint: install
	$(BIN)/ruff check hotspots dashboards tests benchmarks

screenshots: install system
	$(BIN)/python -m dashboards.screenshots docs/screenshots
	$(BIN)/python docs/pictures.py docs/img

clean:
	rm -rf $(VENV) store out .pytest_cache
