# dioptra_lab — two commands from a clean clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup redis chromium demo test lint format benchmarks clean

setup: $(STAMP)

# torch is pinned to the CPU wheel these machines carry; an unpinned torch pulls GBs of CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[ml,dev]"
	touch $(STAMP)

# redis-server comes from Debian's package when it is missing.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "redis-server not found: installing it with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server; }

# The browser tests drive Debian's chromium with Playwright; never `playwright install`
# (it downloads a browser of its own, which fails on these machines).
chromium:
	@test -x /usr/bin/chromium || { \
		echo "/usr/bin/chromium not found: installing Debian's chromium with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

demo: setup redis
	$(BIN)/dioptra-lab demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup redis chromium lint
	$(BIN)/python -m pytest

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

benchmarks: setup redis
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/jobs.py
	$(BIN)/python benchmarks/attacks.py
	$(BIN)/python benchmarks/widgets.py

clean:
	-$(BIN)/dioptra-lab down
	rm -rf .dioptra_lab
