# Two commands for a newcomer:
#   make demo  set up, then run the server and three simulated stations on the demo district
#              (ITEMS=../shared/datasets/waste-images for real item photos; PORT=8000;
#              INSTANCE=DIR for another data folder); Ctrl-C, SIGINT or SIGTERM to make stop it
#   make test  set up, lint (ruff) and run every test (starts the local PostgreSQL if it is down)
# make run starts the server alone on the demo database.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

ITEMS ?=
INSTANCE ?=
PORT ?= 8000
# make test runs the suite in this many pytest processes (pytest-xdist)
TEST_WORKERS ?= 2

.PHONY: demo run test setup FORCE

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

# The demo runs as the recipe of a flag file, exec'd so that it is make's own
# child: GNU make passes SIGTERM on to it, but on SIGINT it only deletes the
# target it was making and waits; the demo stops when its flag is gone.
DEMO_FLAG := $(VENV)/demo-$(PORT).running

demo: $(DEMO_FLAG)

$(DEMO_FLAG): $(STAMP) FORCE
	@touch $@
	exec $(PY) scripts/demo.py --port $(PORT) --while-exists $@ $(if $(ITEMS),--items $(ITEMS)) $(if $(INSTANCE),--instance $(INSTANCE))

FORCE:

run: $(STAMP)
	SORTWATCH_ENV=development $(VENV)/bin/flask --app server load-demo
	SORTWATCH_ENV=development $(VENV)/bin/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$(PORT) 'server:create_app()'

test: $(STAMP)
	sh scripts/install_browser.sh
	sh scripts/start_postgres.sh
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal
