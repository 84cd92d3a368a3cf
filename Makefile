# make install   virtual environment + sbft with its dependencies (torch pinned to the CPU build)
# make demo      fine-tune the quickstart recipe into runs/demo (offline; a few minutes on 2 cores)
# make test      the whole test suite (CI runs this)
# make test-fast the tests not marked slow (a few minutes)
# make lint      ruff, and import-linter's architecture contracts
# make bench     sbft against plain sentence-transformers (~20 min on 2 cores; tables in benchmarks/)
# make data      STS Benchmark and WikiQA as the configs read them, from the published files:
#                make data STSB=Stsbenchmark.tar.gz WIKIQA=WikiQACorpus.zip (see scripts/get_data.py)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1

.PHONY: install demo test test-fast lint bench data clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# Pinned first: any other torch request would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,onnx,tracking,adapters,merge,serve,static,faiss,tune]'
	touch $@

demo: install
	$(BIN)/sbft train configs/quickstart.yaml -o runs/demo --overwrite

test: install
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not slow"

bench: install
	$(BIN)/python scripts/bench.py

DATA ?= ../shared/data
data:  # the standard library only: no install needed
	@test -n "$(STSB)$(WIKIQA)" || { echo "give STSB=Stsbenchmark.tar.gz and/or WIKIQA=WikiQACorpus.zip (see scripts/get_data.py for where to get them)"; exit 2; }
	$(if $(STSB),$(PYTHON) scripts/get_data.py stsb $(STSB) -o $(DATA)/stsb)
	$(if $(WIKIQA),$(PYTHON) scripts/get_data.py wikiqa $(WIKIQA) -o $(DATA)/wikiqa)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs
