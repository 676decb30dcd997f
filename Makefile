# The two quickstart commands:  `make demo`  and  `make test`.
# Both create the virtual environment on first use (pip, torch from this machine's wheels).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= runs/demo

.PHONY: demo test venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	$(BIN)/python -c "import ganzoo, torch, onnxruntime"
	touch $@

# Train a small DCGAN on the embedded shapes dataset (a few minutes on a 2-core CPU).
demo: venv
	$(BIN)/ganzoo train --arch dcgan --data shapes --image-size 32 --set ngf=32 --set ndf=32 \
		--steps 1500 --batch-size 64 --out $(DEMO)
	@echo "Sample grids: $(DEMO)/samples/  (the last one: $$(ls $(DEMO)/samples | tail -1))"

test: venv
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
