# Two commands for a newcomer:
#   make run   set up and start the server on the demo database
#   make test  set up and run every test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test setup clean-venv

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	SORTWATCH_ENV=development $(VENV)/bin/flask --app server load-demo
	SORTWATCH_ENV=development $(VENV)/bin/gunicorn -c gunicorn.conf.py 'server:create_app()'

test: $(STAMP)
	sh scripts/install_browser.sh
	$(PY) -m pytest
