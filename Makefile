# Two commands for a newcomer:
#   make demo  set up, then run the server and three simulated stations on the demo district
#              (ITEMS=../shared/datasets/waste-images for real item photos; PORT=8000)
#   make test  set up, lint (ruff) and run every test (starts the local PostgreSQL if it is down)
# make run starts the server alone on the demo database.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

ITEMS ?=
PORT ?= 8000

.PHONY: demo run test setup

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py --port $(PORT) $(if $(ITEMS),--items $(ITEMS))

run: $(STAMP)
	SORTWATCH_ENV=development $(VENV)/bin/flask --app server load-demo
	SORTWATCH_ENV=development $(VENV)/bin/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$(PORT) 'server:create_app()'

test: $(STAMP)
	sh scripts/install_browser.sh
	sh scripts/start_postgres.sh
	$(VENV)/bin/ruff check .
	$(PY) -m pytest
