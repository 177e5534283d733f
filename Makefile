# Set-up is part of every target: the virtualenv is created or updated from the
# requirement files whenever they change.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
TODAY ?=
PYTEST_ARGS ?=
STAGE ?= dev

.PHONY: run test bench lint clean package

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 requires pip<26.3
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## make run: the app on http://127.0.0.1:$(PORT) with the embedded AWS stand-in and demo data
## (TODAY=2027-03-15 runs it as if on that day)
run: $(VENV)/.installed
	$(PY) -m chalicelib.local.devserver --port $(PORT) $(if $(TODAY),--today $(TODAY))

## make test: every test
test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

## make bench: speed and size figures beside their targets (BENCH_JSON=FILE also writes JSON)
bench: $(VENV)/.installed
	$(PY) -m tests.bench.run $(BENCH_ARGS)

## make package STAGE=prod: out/$(STAGE)/sam.json (merged CloudFormation template) and deployment.zip
package: $(VENV)/.installed
	$(PY) -m infra.package --stage $(STAGE) --out out/$(STAGE)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
