# Cerchia: two commands.
#   make run    install, migrate, load demo data (first time), start web + worker
#   make test   install test tools, run the whole suite (SQLite; PostgreSQL too when
#               TEST_DATABASE_URL is set, as .ci/run does)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test install install-test lint clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/pybabel -q compile -d app/translations

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pybabel -q compile -d app/translations
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: browser tests will be skipped"; fi; }

run: install
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi demo --if-empty
	$(BIN)/flask --app wsgi serve --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/ruff check app tests benchmarks config.py wsgi.py
	$(BIN)/mypy
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== again on $$TEST_DATABASE_URL"; \
	  $(BIN)/python -m pytest; \
	fi

lint: install-test
	$(BIN)/ruff check app tests benchmarks config.py wsgi.py
	$(BIN)/mypy
	$(BIN)/ruff format --check app tests benchmarks config.py wsgi.py

# Re-extract the interface strings and merge them into each language's catalog;
# then translate the new entries in app/translations/<lang>/LC_MESSAGES/messages.po.
translations: $(BIN)/python
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot . && \
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations

clean:
	rm -rf $(VENV) instance/cerchia.sqlite3* instance/redis.rdb*
