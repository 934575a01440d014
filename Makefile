# cvmigrate: every set-up step lives here, so a fresh clone needs only `make serve` / `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JS     := tests/js
JSSTAMP := $(JS)/node_modules/.installed
PROTOS := schemas/migration/migration.proto schemas/bigquery/attempt.proto schemas/gerrit/gerrit.proto
# Local BigQuery emulator (spec/bigquery.md §1): local-bigquery in its own Python 3.13 venv.
# DuckDB loads extensions from $HOME/.duckdb; they are installed under BQHOME, the HOME the
# emulator runs with (tests/bq_emulator.py), so the venv is self-contained.
BQPYTHON ?= python3.13
BQVENV   := .venv-bqemu
BQSTAMP  := $(BQVENV)/.installed
BQHOME   := $(abspath $(BQVENV))/home
BQPKGS   := local-bigquery==0.3.2 duckdb==1.5.5 duckdb-extension-ducklake==1.5.5 \
            duckdb-extension-icu==1.5.5 duckdb-extension-spatial==1.5.5 duckdb-extensions==1.5.5
BQ_PORT    ?= 9050
BQ_PROJECT ?= local-project
BQ_DATA    ?= .bigquery-local

.PHONY: all venv serve test lint format proto fake-gerrit clean bigquery-local bench-exporter \
        bench bench-quick bench-hypercorn bench-tracing bench-ab

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

# pyenv's python3.13 shim fails unless a 3.13 is selected: pick the newest installed one.
$(BQSTAMP): Makefile
	@set -e; py=$(BQPYTHON); \
	if ! $$py --version >/dev/null 2>&1; then \
	  PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13' | tail -n1); \
	  export PYENV_VERSION; fi; \
	$$py --version >/dev/null 2>&1 || { echo "need $(BQPYTHON) for the BigQuery emulator"; exit 1; }; \
	test -x $(BQVENV)/bin/python || $$py -m venv $(BQVENV)
	$(BQVENV)/bin/python -m pip install --quiet $(BQPKGS)
	mkdir -p $(BQHOME)
	HOME=$(BQHOME) $(BQVENV)/bin/python -c "from duckdb_extensions import import_extension as i; \
	  [i(name) for name in ('ducklake', 'icu', 'spatial')]"
	touch $@

# The emulator for trying the service by hand (README "Local BigQuery"); Ctrl-C stops it.
bigquery-local: $(BQSTAMP)
	HOME=$(BQHOME) exec $(BQVENV)/bin/local-bigquery serve --host 127.0.0.1 --port $(BQ_PORT) \
	  --grpc-port $$(( $(BQ_PORT) + 10 )) --project $(BQ_PROJECT) --data-dir $(abspath $(BQ_DATA))

# The CQDaemon load against a running server, side by side with its limits (bench/; under
# 5 minutes on 2 cores). Results: bench/results/. ARGS="--protocol twirp" etc. pass through.
BENCHSTAMP := $(VENV)/.installed-bench
$(BENCHSTAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test,bench]'
	touch $@

bench: $(BENCHSTAMP)
	$(BIN)/python -m bench $(ARGS)

bench-quick: $(BENCHSTAMP)
	$(BIN)/python -m bench --scenario quick $(ARGS)

# hypercorn's options for cvmigrate: asyncio vs uvloop, one process vs two workers.
bench-hypercorn: $(BENCHSTAMP)
	$(BIN)/python -m bench --scenario hypercorn $(ARGS)

# The throughput cost of tracing: tracing off vs OTLP/HTTP export on, interleaved.
bench-tracing: $(BENCHSTAMP)
	$(BIN)/python -m bench --scenario tracing $(ARGS)

# Two builds side by side, each phase interleaved (bench/ab.py): ARGS="--a /path/to/tree".
bench-ab: $(BENCHSTAMP)
	$(BIN)/python -m bench.ab $(ARGS)

# Exporter throughput vs the emulator's raw insert rate (bench/bench_exporter.py).
bench-exporter: $(STAMP) $(BQSTAMP)
	$(BIN)/python bench/bench_exporter.py $(ARGS)

test: $(STAMP) $(JSSTAMP) $(BQSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The long fuzz run (tests/fuzz, 5000 inputs; `make test` runs 60): not part of CI. The
# summary line says how many inputs were tried. FUZZ_EXAMPLES=N overrides the count.
FUZZ_EXAMPLES ?= 5000
.PHONY: fuzz
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/fuzz -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Regenerates src/cvmigrate/proto from schemas/: betterproto2 dataclasses (the service's
# messages) and the official runtime's _pb2 modules (upb; the hot request bodies are parsed
# with them, see rpc/codec.py). The betterproto2 compiler runs ruff, so the venv's bin must be
# on PATH. tests/test_proto.py runs this target into a temporary PROTO_OUT and fails when the
# committed code is stale.
PROTO_OUT ?= src/cvmigrate/proto
proto: $(STAMP)
	rm -rf $(PROTO_OUT) && mkdir -p $(PROTO_OUT)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m grpc_tools.protoc -Ischemas \
	  --python_betterproto2_out=$(PROTO_OUT) \
	  --python_betterproto2_opt=client_generation=none \
	  --python_out=$(PROTO_OUT) --pyi_out=$(PROTO_OUT) $(PROTOS)
	sed -i -E 's/^from (migration|gerrit|bigquery) import/from cvmigrate.proto.\1 import/' \
	  $(PROTO_OUT)/*/*_pb2.py $(PROTO_OUT)/*/*_pb2.pyi

# A loopback fake Gerrit with demo data, for trying the service by hand (tests/fakes/gerrit).
fake-gerrit: $(STAMP)
	$(BIN)/python -m tests.fakes.gerrit $(ARGS)

clean:
	rm -rf $(VENV) $(BQVENV) $(JS)/node_modules .pytest_cache
