# effdl-kit: the README's two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_PIN := torch==2.13.0
CONSTRAINTS := .ci/constraints.txt
SCALE ?= small
OUT ?= results
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lab bench lint venv dev-venv clean browser-deps service-deps

# torch is installed first, pinned, so nothing pulls CUDA wheels on a CPU machine;
# the constraints file keeps every later install from moving it.
$(VENV)/.stamp-run: pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24" "setuptools>=68" wheel
	$(PIP) install -q $(TORCH_PIN)
	$(PIP) install -q -c $(CONSTRAINTS) -e .
	@touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-run
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev,dask,postgres]"
	@touch $@

venv: $(VENV)/.stamp-run
dev-venv: $(VENV)/.stamp-dev

## run: execute the reproduction notebooks at $(SCALE) scale, write figures + summary to $(OUT)/
run: venv
	$(VENV)/bin/effdl notebooks --scale $(SCALE) --out $(OUT)

## test: the whole suite (unit, notebooks at smoke scale, widgets, real browser) + lint gates
test: dev-venv browser-deps service-deps lint
	$(PY) -m pytest -p no:cacheprovider tests

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium >/dev/null); \
	  else echo "chromium missing: install Debian's chromium (apt-get install chromium)"; fi; }

# PostgreSQL binaries for the storage tests (the tests start and stop their own server)
service-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null); \
	  else echo "postgresql missing: install Debian's postgresql (apt-get install postgresql)"; fi; }

lint: dev-venv
	$(VENV)/bin/ruff check effdl_kit widgets tests benchmarks
	$(VENV)/bin/mypy effdl_kit widgets
	$(VENV)/bin/lint-imports --no-cache

## results: rewrite the README's marked results blocks from docs/results/ (prints what changed)
.PHONY: results
results: venv
	$(VENV)/bin/effdl figures --readme README.md

lab: venv
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

bench: dev-venv
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) results .mypy_cache .ruff_cache .pytest_cache
