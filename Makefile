# The two commands a newcomer needs: `make run` (the whole mesh) and `make test`.
# Both install what they need into .venv/ and node_modules/ on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF := node_modules/.bin/buf
export PYTHONPATH := $(CURDIR):$(CURDIR)/gen
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test check lint typecheck gen envoy-config runtime-lock fmt clean bench bench-pipeline

run: gen
	$(PY) -m tools.mesh run

test: check
	$(PY) -m pytest $(PYTEST_ARGS)

check: lint typecheck

lint: gen $(BUF)
	$(BUF) lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: gen
	$(VENV)/bin/mypy

fmt: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

gen: gen/descriptors.pb gen/openapi.json

gen/descriptors.pb: $(VENV)/.installed $(shell find protos -name '*.proto')
	$(PY) -m tools.gen_protos

# The REST API's OpenAPI document (served at /openapi.json and /docs), from the descriptors.
gen/openapi.json: gen/descriptors.pb gateway/openapi.py gateway/catalog.py
	$(PY) -m gateway.openapi --out $@

# Rewrites the service image's requirements from requirements.lock; a test fails when stale.
runtime-lock: $(VENV)/.installed
	$(PY) -m tools.runtime_lock --out requirements-runtime.lock

# Rewrites deploy/envoy.yaml from the protos; a test fails when it is stale.
envoy-config: gen
	$(PY) -m gateway.render --variant compose --out deploy/envoy.yaml

$(VENV)/.installed: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

$(BUF): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf gen .data .pytest_cache .mypy_cache .ruff_cache

# Starts its own mesh, runs every workload (≤ 60 s each), prints and saves bench/results/.
bench: gen
	$(PY) -m tools.bench $(BENCH_ARGS)

# Publishes N synthetic logins and reports logins/s fully processed by one event instance.
bench-pipeline: gen
	$(PY) -m tools.bench --only-pipeline --logins $(or $(LOGINS),20000)
