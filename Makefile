# dioptra_lab — two commands from a clean clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LABEXT_OUT := dioptra_lab/labextension/package.json
LABEXT_LINKED := $(VENV)/.labextension-installed
LABEXT_DEST := $(VENV)/share/jupyter/labextensions/dioptra-lab
LABEXT_SRC := $(wildcard labextension/src/*.ts labextension/style/*) labextension/package.json \
	labextension/yarn.lock labextension/tsconfig.json

.PHONY: setup labextension labextension-test redis chromium deploy-tools deploy-check demo test reliability lint format benchmarks clean

# Byte-compiled ahead: where PYTHONDONTWRITEBYTECODE is set (these machines set it), every
# command would otherwise compile the package's modules it imports (~0.13 s of a local run).
setup: $(STAMP) $(LABEXT_LINKED)
	$(BIN)/python -m compileall -q dioptra_lab

# torch is pinned to the CPU wheel these machines carry; an unpinned torch pulls GBs of CUDA.
# (SKIP_JUPYTER_BUILDER: the JupyterLab extension is built by `labextension` below, with the
# venv's jlpm, which pip's isolated build environment cannot run.)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	SKIP_JUPYTER_BUILDER=1 $(BIN)/python -m pip install --quiet -e ".[ml,dev]"
	touch $(STAMP)

# The JupyterLab extension: labextension/ (TypeScript) is built with the venv's jlpm into
# dioptra_lab/labextension (gitignored; wheels ship it), only when missing or older than its
# sources, then copied into the venv's share/jupyter/labextensions so its `jupyter lab` (and
# Voila) load it. A copy, not `jupyter labextension develop`'s symlink: Voila's static handler
# answers 403 for files a symlink puts outside its folder. The lockfile is immutable.
labextension: $(LABEXT_LINKED)

$(LABEXT_OUT): $(LABEXT_SRC) | $(STAMP)
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm install --immutable
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm build:prod
	touch $(LABEXT_OUT)

$(LABEXT_LINKED): $(LABEXT_OUT) $(STAMP)
	rm -rf $(LABEXT_DEST)
	mkdir -p $(dir $(LABEXT_DEST))
	cp -R dioptra_lab/labextension $(LABEXT_DEST)
	touch $(LABEXT_LINKED)

# jest unit tests and the strict type check of the extension
labextension-test: $(LABEXT_OUT)
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm test
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm lint

# System tools from Debian's packages, installed with apt-get when the check fails:
# $(call apt_install,PACKAGE,CHECK)
define apt_install
	@$(2) >/dev/null 2>&1 || { \
		echo "$(1) not found: installing Debian's $(1) with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(1); }
endef

redis:
	$(call apt_install,redis-server,command -v redis-server)

# The browser tests drive Debian's chromium with Playwright; never `playwright install`
# (it downloads a browser of its own, which fails on these machines).
chromium:
	$(call apt_install,chromium,test -x /usr/bin/chromium)

# `docker-compose config` validates docker-compose.yml in the tests (no Docker daemon needed);
# `ip netns` (iproute2) builds the three hosts of tests/integration/test_hosts.py; PostgreSQL's
# server runs the compose file's MLflow and Prefect scripts in test_compose_services.py.
deploy-tools:
	$(call apt_install,docker-compose,command -v docker-compose)
	$(call apt_install,iproute2,command -v ip)
	$(call apt_install,postgresql,ls /usr/lib/postgresql/*/bin/initdb)

demo: setup redis
	$(BIN)/dioptra-lab demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The whole suite, the fault campaign's sample (tests/reliability/test_campaign_sample.py:
# 10 faults and a 50-job load, ~3.5 min) included.
test: setup redis chromium deploy-tools lint labextension-test
	$(BIN)/python -m pytest

# Issue 13's evidence at scale (make test runs a sample of each): a fault-injection campaign of
# 100 faults with a fixed seed (replay one with SEED=N), a 500-job load on 2 workers, and the
# property-based fuzzers with a long budget. Each prints its table; any lost, stuck or duplicated
# job, unfinished load job or fuzzing failure fails the target; so does any of 2000 random
# Dioptra-format descriptions on which our verdict and Dioptra's own validator's differ.
SEED ?= 1
reliability: setup redis
	$(BIN)/python -m tests.reliability.campaign --faults 100 --seed $(SEED)
	$(BIN)/python -m tests.reliability.load --jobs 500 --submitters 4
	DIOPTRA_LAB_FUZZ_EXAMPLES=2000 $(BIN)/python -m pytest tests/reliability/test_fuzz.py -q
	$(BIN)/python -m tests.reliability.dioptra_differential --cases 2000 --seed $(SEED)

# What repo2docker does with binder/, in a fresh venv (tests/deploy; ~5 min, not in make test).
deploy-check: setup redis
	DIOPTRA_LAB_DEPLOY_CHECKS=1 $(BIN)/python -m pytest tests/deploy -q

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

benchmarks: setup redis
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/postgres.py
	$(BIN)/python benchmarks/jobs.py
	$(BIN)/python benchmarks/attacks.py
	$(BIN)/python benchmarks/widgets.py
	$(BIN)/python benchmarks/panel.py

clean:
	-$(BIN)/dioptra-lab down
	rm -rf .dioptra_lab
