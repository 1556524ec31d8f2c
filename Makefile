# Everything installs itself into .venv; `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench init clean

# `make run` installs the gateway alone; the test, lint and bench targets add the test tools
# (pytest, Playwright, Schemathesis, mypy ...), which a gateway never needs.
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

init: $(RUN_STAMP)
	$(BIN)/mailgate init

run: init
	$(BIN)/mailgate serve

# Three workers on a 2-core machine: the suite waits on sockets, processes and fsyncs more than
# it computes (with two workers the cores were 45% busy; three: 3m08s against 4m35s, four and
# six no faster); --dist loadfile keeps a module's gateway on one worker;
# the modules go out in tests/conftest.py's order (the longest first), not xdist's.
# The suite starts `mailgate` about a thousand times; compiling the sources once first spares
# each process compiling them again where PYTHONDONTWRITEBYTECODE is set (0.3 s of CPU each).
test: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 mailgate mta http_api storage dns_tools
	$(BIN)/pytest -q -n 3 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy storage dns_tools mta http_api mailgate

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/smtp_ingest.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/delivery.py --tracked
	$(BIN)/python bench/api_send.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/campaign.py
	$(BIN)/python bench/auth.py
	$(BIN)/python bench/bounce_corpus.py
	bash bench/compare_postfix.sh

clean:
	rm -rf $(VENV) data .pytest_cache
