# cvmigrate: every set-up step lives here, so a fresh clone needs only `make serve` / `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JS     := tests/js
JSSTAMP := $(JS)/node_modules/.installed
PROTOS := schemas/migration/migration.proto schemas/bigquery/attempt.proto schemas/gerrit/gerrit.proto

.PHONY: all venv serve test lint format proto fake-gerrit clean

all: venv

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $@

venv: $(STAMP)

$(JSSTAMP): $(JS)/package.json $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund --silent
	touch $@

serve: $(STAMP)
	$(BIN)/cvmigrate serve $(ARGS)

test: $(STAMP) $(JSSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Regenerates src/cvmigrate/proto from schemas/ (betterproto2). The compiler runs ruff,
# so the venv's bin must be on PATH. tests/test_proto.py fails when this is stale.
proto: $(STAMP)
	rm -rf src/cvmigrate/proto && mkdir -p src/cvmigrate/proto
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m grpc_tools.protoc -Ischemas \
	  --python_betterproto2_out=src/cvmigrate/proto \
	  --python_betterproto2_opt=client_generation=none $(PROTOS)

# A loopback fake Gerrit with demo data, for trying the service by hand (tests/fakes/gerrit).
fake-gerrit: $(STAMP)
	$(BIN)/python -m tests.fakes.gerrit $(ARGS)

clean:
	rm -rf $(VENV) $(JS)/node_modules .pytest_cache
