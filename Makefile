# The two set-up commands: `make demo` (the main job on bundled data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-unit services-up services-down services-status clean

$(STAMP): pyproject.toml native/Cargo.toml $(wildcard native/src/*.rs native/src/*/*.rs)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/cobflow demo

# The whole suite, integration tests on real Kafka and QuestDB included (started if needed,
# stopped afterwards if the run started them). No tests collected is a failure (exit 5).
test: install
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest -m "not integration"

services-up: install
	$(BIN)/cobflow services up

services-down: install
	$(BIN)/cobflow services down

services-status: install
	$(BIN)/cobflow services status

clean:
	-$(BIN)/cobflow services down
	rm -rf $(VENV) .cobflow *.egg-info .pytest_cache .hypothesis
