# The two set-up commands of the README: `make run` and `make test`.
# Both are idempotent: stamps in .venv and node_modules make a second run quick.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
MCHIS  := $(BIN)/mchis
export MCHIS_DATA_DIR ?= $(CURDIR)/var
ADDR   ?= 127.0.0.1:8000
PO     := $(wildcard mchis/locale/*/LC_MESSAGES/django.po)
MO     := $(PO:.po=.mo)

# The versions in the lock's own venv: a new pip or setuptools never arrives unannounced.
PIP_VERSION        := 26.3
SETUPTOOLS_VERSION := 84.2.1

.PHONY: run test lint bench setup setup-dev messages gettext browser clean

run: setup
	$(MCHIS) keys init
	$(MCHIS) migrate --noinput -v 0
	$(MCHIS) demo --if-empty --credentials-out "$(MCHIS_DATA_DIR)/demo-credentials.json"
	$(MCHIS) collectstatic --noinput -v 0
	$(MCHIS) serve $(ADDR)

# One worker per CPU (pytest-xdist); TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= auto
test: setup-dev browser
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

setup: $(VENV)/.deps node_modules/.stamp $(MO)

setup-dev: setup $(VENV)/.deps-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q pip==$(PIP_VERSION) setuptools==$(SETUPTOOLS_VERSION)

$(VENV)/.deps: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.deps-dev: $(VENV)/.deps requirements-dev.lock
	$(BIN)/pip install -q -r requirements-dev.lock
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

%.mo: %.po $(VENV)/.deps | gettext
	cd mchis && ../$(MCHIS) compilemessages -v 0

# compilemessages runs GNU gettext's msgfmt, which a fresh Debian lacks: install Debian's
# gettext package when msgfmt is missing (as `browser` does for chromium).
gettext:
	@command -v msgfmt >/dev/null 2>&1 || { \
	  echo "Installing Debian's gettext (msgfmt) to compile the translations"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y -q gettext >/dev/null || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q gettext >/dev/null; }; }

# Browser tests drive Debian's Chromium (never a browser downloaded by a test tool).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y -q chromium >/dev/null || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }; }

clean:
	rm -rf $(VENV) node_modules var
