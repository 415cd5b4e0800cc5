# Two commands for a newcomer: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# `make run` installs only what serving needs (requirements-run.txt: the runtime, python-dotenv, the emulator's aiohttp);
# `make test` installs everything (requirements-dev.txt). The full install also stamps the light
# one (and a full install from before the split counts), so `make run` after `make test` installs
# nothing and `make test` after `make run` adds only the rest.
RUN_STAMP := $(VENV)/.installed-run
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: install install-run run serve test lint unit integration bench infra-check plan deploy clean openapi

$(RUN_STAMP): requirements.txt requirements-run.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if [ $(STAMP) -nt requirements.txt ] && [ $(STAMP) -nt requirements-run.txt ]; then :; \
	else echo "$(PIP_INSTALL) -r requirements-run.txt"; $(PIP_INSTALL) -r requirements-run.txt; fi
	@touch $(RUN_STAMP)

$(STAMP): requirements.txt requirements-run.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements-dev.txt -r requirements-run.txt
	@touch $(STAMP) $(RUN_STAMP)

## install: create .venv with runtime and development dependencies (idempotent)
install: $(STAMP)

## install-run: only what `make run` and `make serve` need (runtime, python-dotenv, aiohttp for the local gateway emulator)
install-run: $(RUN_STAMP)

## run: serve on localhost:8080 (127.0.0.1 unless HOST is set) against local emulators, or the real gateway when .env configures it
run: install-run
	$(PY) dev/run.py

## serve: production mode on $$PORT with exactly the environment given
serve: install-run
	exec $(VENV)/bin/functions-framework --target generate --source main.py

## test: lint, unit, integration and infrastructure checks
test: install lint
	$(PY) -m pytest --ignore=tests/infra
	$(MAKE) infra-check

## lint: ruff and mypy
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check gemini_gateway main.py bench tests dev emulators
	$(VENV)/bin/mypy gemini_gateway main.py bench

## openapi: regenerate openapi.json from the pydantic models and routes (a test checks it is current)
openapi: install
	$(PY) -m gemini_gateway.openapi --out openapi.json

unit: install
	$(PY) -m pytest tests/unit

integration: install
	$(PY) -m pytest tests/integration

## bench: overhead and concurrency against the emulator and a google-genai peer (not part of test)
bench: install
	$(PY) bench/run.py
	$(PY) bench/gemini_native.py
	$(PY) bench/callers.py
	$(PY) bench/jobs.py
	$(PY) bench/budgets.py
	$(PY) bench/streaming.py
	$(PY) bench/instance.py
	$(PY) bench/hostile.py
	$(PY) bench/templates.py

## infra-check: terraform fmt (if installed), checkov, and tests over the parsed HCL
infra-check: install
	bash infra/check.sh

## plan / deploy: terraform for operators (needs network and credentials)
plan:
	terraform -chdir=infra init
	terraform -chdir=infra plan

deploy:
	terraform -chdir=infra init
	terraform -chdir=infra apply

clean:
	rm -rf $(VENV) .venv-checkov .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts
