# Every target bootstraps its own virtual environment on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: demo test lint sandbox clean help bench serve stop

help:
	@echo "make demo    run the welcome journey end to end on ~1,000 synthetic customers"
	@echo "make test    run the test suite (SQLite, plus PostgreSQL at 127.0.0.1:5432 when present)"
	@echo "make lint    ruff"
	@echo "make sandbox start the SendGrid and Twilio emulators in the foreground"
	@echo "make serve   run it as a service: Prefect server, deployments, worker, API, emulators (background)"
	@echo "make stop    stop what make serve started"
	@echo "make clean   remove the virtual environment and local state (.touchline/)"

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,process-mining]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/touchline demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

sandbox: $(STAMP)
	$(BIN)/touchline sandbox serve

serve: $(STAMP)
	$(BIN)/touchline serve $(SERVE_ARGS)

stop: $(STAMP)
	$(BIN)/touchline stop

clean:
	rm -rf $(VENV) .touchline
