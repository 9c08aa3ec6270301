# gossip-train: every target sets up what it needs.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PROTO_SRC := protos/gossip/v1/gossip.proto
PB_DIR  := gossip/transport/_pb

.PHONY: setup torch proto proto-check lint test test-compose test-fast demo bench clean
.PHONY: image cluster-up cluster-status cluster-down

$(BIN)/gossip-node: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# setuptools tells every editable install to mind same-named folders: not news here
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install -q -e '.[dev]'
	@touch $@

setup: $(BIN)/gossip-node  ## venv with the package (editable) and dev tools

# The torch tier (gossip-train[torch]) in the same venv, apart from setup: PyPI's only
# Linux wheel brings the CUDA libraries (5.3 GB, about 2 minutes of pip), which the
# demo and test-fast do without. When pip fails (no room, no registry) the tier skips.
$(VENV)/.torch: $(BIN)/gossip-node
	@PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install -q -e '.[dev,torch]' \
	  && touch $@ || echo "torch: pip could not install it; the torch tests will skip"

torch: $(VENV)/.torch  ## PyTorch in the venv, for the torch tier and bench/adapters.py

proto: setup  ## regenerate gossip/transport/_pb from protos/
	PB_DIR=$(PB_DIR) BIN=$(BIN) sh scripts/gen_proto.sh $(PB_DIR)

proto-check: setup  ## fail when the committed generated code is stale
	@tmp=$$(mktemp -d) && BIN=$(BIN) sh scripts/gen_proto.sh $$tmp && \
	  for f in gossip_pb2.py gossip_pb2.pyi gossip_pb2_grpc.py gossip_schema.py; do \
	    cmp -s $$tmp/$$f $(PB_DIR)/$$f || { echo "generated $$f is stale: run 'make proto'"; rm -rf $$tmp; exit 1; }; \
	  done; rm -rf $$tmp; echo "generated code is up to date"

lint: setup  ## ruff + mypy (strict on the package)
	$(BIN)/ruff check gossip tests bench examples
	$(BIN)/ruff format --check gossip tests bench examples
	$(BIN)/mypy

test: setup torch proto-check lint  ## every tier: unit, sim, integration (slow included), compose when Docker answers
	$(BIN)/pytest -q -ra

test-compose: setup  ## the Docker tier: builds the image offline, 5 peers, kill/pause/disconnect
	$(BIN)/pytest -q -ra -m compose tests/compose

test-fast: setup  ## unit + sim only
	$(BIN)/pytest -q -m "not slow and not compose"

demo: setup  ## 4 peers on 127.0.0.1 training on digits, live table, then the summary
	$(BIN)/gossip-cluster --nodes 4 --dataset digits --duration 30 --compare-centralized

bench: setup torch  ## every benchmark; JSON and PNG under bench/results/
	$(BIN)/python bench/convergence.py
	$(BIN)/python bench/consensus.py
	$(BIN)/python bench/builtin_data.py
	$(BIN)/python bench/transfer.py
	$(BIN)/python bench/large.py  # about 10 minutes; --hivemind PYTHON for the side-by-side
	$(BIN)/python bench/observability.py
	$(BIN)/python bench/ctl_startup.py
	$(BIN)/python bench/compression.py  # about 25 minutes
	$(BIN)/python bench/fuzz.py
	$(BIN)/python bench/chaos.py
	$(BIN)/python bench/membership.py  # about 30 minutes (M2 alone is 10)
	$(BIN)/python bench/slurm.py  # about 5 minutes; root (a local Slurm), else skipped
	$(BIN)/python bench/adapters.py  # about 16 minutes at load 20-40

image:  ## the peer image (gossip-train:latest) with no network in the build: local base image + host wheels
	sh scripts/build-image.sh

cluster-up:  ## Docker Compose cluster of $(PEERS) peers (default 4) that find each other by DNS; waits, prints the table
	@sh scripts/cluster.sh up $(PEERS)

cluster-status:  ## one table of all peers of the compose cluster
	@sh scripts/cluster.sh status

cluster-down:  ## remove the compose cluster: containers, network, volumes
	@sh scripts/cluster.sh down

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
