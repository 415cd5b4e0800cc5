# Two commands for a newcomer: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# `make run` installs only what serving needs (requirements-run.txt: the runtime, python-dotenv, the emulator's aiohttp);
# `make test` installs everything (requirements-dev.txt). Each is a hashed lock compiled from its
# requirements*.in (`make lock`); dev/install.sh installs it with uv (bootstrapped from a hashed pin
# when not on PATH), or pip when uv cannot be had. The full install also stamps the light one, so
# `make run` after `make test` installs nothing and `make test` after `make run` adds only the rest.
RUN_STAMP := $(VENV)/.installed-run
INSTALL   := PYTHON=$(PYTHON) bash dev/install.sh $(VENV)

.PHONY: install install-run run serve test lint unit integration bench infra-check plan deploy clean openapi lock

$(RUN_STAMP): requirements.txt requirements-run.txt
	@if [ $(STAMP) -nt requirements.txt ] && [ $(STAMP) -nt requirements-run.txt ]; then :; \
	else echo "dev/install.sh $(VENV) requirements-run.txt"; $(INSTALL) requirements-run.txt; fi
	@touch $(RUN_STAMP)

$(STAMP): requirements.txt requirements-run.txt requirements-dev.txt
	$(INSTALL) requirements-dev.txt
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
	$(PY) -m pytest --ignore=tests/infra --durations=15
	$(MAKE) infra-check

## lint: ruff and mypy
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check gemini_gateway main.py bench tests dev emulators
	$(VENV)/bin/mypy gemini_gateway main.py bench emulators

## lock: compile requirements*.in into the hashed requirements*.txt (UPGRADE=1 to move every pin; needs PyPI)
lock: install
	UV="$$(command -v uv || echo $(VENV)/bin/uv)" bash dev/lock.sh

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
	$(PY) bench/transports_hostile.py
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
