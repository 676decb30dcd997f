# The two quickstart commands:  `make demo`  and  `make test`.
# Both create the virtual environment on first use (pip, torch from this machine's wheels).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= runs/demo
# Training steps of the demo: at 12,600 most samples are clear squares, circles and triangles with sharp
# outlines (about an hour on a slow 2-core CPU); 3,000 draw rounded shapes and blobs (README "Measured").
# `make demo DEMO_STEPS=3000` for a quicker look; a later `make demo` takes that run on (exact resume).
DEMO_STEPS ?= 12600

.PHONY: demo test venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	$(BIN)/python -c "import ganzoo, torch, onnxruntime"
	touch $@

# The main job on the embedded shapes dataset (64 minutes measured on a slow 2-core CPU; see README "Measured"): train a
# small DCGAN with the default recipe (spectral-norm D, hinge loss, beta1 0, 2 D updates a step, EMA of G, DiffAugment
# translation) and nearest-neighbour upsampling in G (measured cleaner than ConvTranspose on shapes: README "Measured"),
# networks and batches channels-last (oneDNN's CPU convolutions: 1.2x a step measured),
# export the generator to ONNX, and generate 1,000 images from the ONNX file with onnxruntime.
# Run it again and it continues the same run (already finished: nothing to do) and refreshes the
# ONNX file and the generated images, which the demo owns.
DEMO_TRAIN := --arch dcgan --data shapes --image-size 32 --set ngf=32 --set ndf=32 --set upsample=nearest --set channels_last=true --batch-size 64 --out $(DEMO)
demo: venv
	if [ -f $(DEMO)/checkpoints/last.pt ]; then $(BIN)/ganzoo train --resume $(DEMO) --steps $(DEMO_STEPS); \
	else $(BIN)/ganzoo train $(DEMO_TRAIN) --steps $(DEMO_STEPS); fi
	$(BIN)/ganzoo export $(DEMO) --onnx $(DEMO)/generator.onnx --force
	$(BIN)/ganzoo generate $(DEMO)/generator.onnx --num 1000 --seed 0 --out $(DEMO)/generated.zip \
		--grid $(DEMO)/generated.png --force
	@echo "Training grids: $(DEMO)/samples/ (last: $$(ls $(DEMO)/samples | tail -1)); loss curve: $(DEMO)/loss_curve.png"
	@echo "ONNX generator: $(DEMO)/generator.onnx; 1,000 generated images: $(DEMO)/generated.zip (grid: $(DEMO)/generated.png)"

test: venv
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
