# The two set-up commands: `make demo` (the main job on bundled data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-unit lint docs services-up services-down services-status clean

$(STAMP): pyproject.toml native/Cargo.toml $(wildcard native/src/*.rs native/src/*/*.rs)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev,docs]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/cobflow demo

# The whole suite: lint and types (ruff, mypy; cargo clippy and the Rust unit tests where
# cargo is), then pytest: the docs site's strict build among the unit tests, integration tests
# on real Kafka and QuestDB (started if needed, stopped afterwards if the run started them).
# No tests collected is a failure (exit 5).
test: lint
	$(BIN)/pytest --durations=15

# `cargo test` links libpython instead of being loaded by it (no extension-module feature).
PYLIB := $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))")
# mypy reads the package as it is installed (the folders mapped into `cobflow`, pyproject's
# package-dir): a tree of symlinks under .cobflow/typecheck says so.
TYPECHECK := .cobflow/typecheck/cobflow
lint: install
	$(BIN)/ruff check .
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)
	for f in cobflow/*; do ln -s "$$PWD/$$f" $(TYPECHECK)/; done
	for d in connectors operators models dataflows app; do ln -s "$$PWD/$$d" $(TYPECHECK)/$$d; done
	$(BIN)/mypy
	@if command -v cargo >/dev/null 2>&1; then \
	  cd native && export PYO3_PYTHON=$(abspath $(BIN))/python LD_LIBRARY_PATH=$(PYLIB) && \
	  cargo clippy --quiet --release --all-targets --no-default-features -- -D warnings && \
	  cargo test --quiet --release --no-default-features; \
	else echo "no cargo: the native core is not built, so its clippy and unit tests do not run"; fi

test-unit: install
	$(BIN)/pytest -m "not integration"

# The docs site at http://127.0.0.1:8000 (the reference pages regenerated from the code first).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

services-up: install
	$(BIN)/cobflow services up

services-down: install
	$(BIN)/cobflow services down

services-status: install
	$(BIN)/cobflow services status

clean:
	-$(BIN)/cobflow services down
	rm -rf $(VENV) .cobflow *.egg-info .pytest_cache .hypothesis
