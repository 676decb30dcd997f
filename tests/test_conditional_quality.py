"""Quality: a conditional biggan trained briefly on shapes draws the shape it is asked for.

The judge is a tiny CNN trained here on real shapes (another seed than the training set; it
must reach 90% on held-out real shapes first). It then classifies images generated with
``ganzoo generate RUN --class k``: for every class k most samples must be of kind k
(chance is 1/3), and the samples of each class must differ from each other (at least 0.3 of
the real images' diversity within a kind), since one fixed image per class can fool the judge.
The colours must not collapse either: in no class may one palette colour take more than half
of the samples (real shapes: about 0.2; see ``colour_share``).
The test can fail: an unconditional model, a model that ignores y, labels that do not reach
D, a model that ignores z, or one that draws each class (or everything) in one colour all fail it.

STATUS: opt-in (GANZOO_QUALITY=1), only because a run takes about 8 minutes on a 2-core CPU and
the default suite must stay under 10; with the settings below every seed tried passed all three
conditions (2026-12-07, seven seeds, 0-6), though seed 0's squares cleared 0.5 by only 0.05.
2026-12-07: the tapered 16 px layout (``layout16``, biggan's default since that day) trains
2.4x faster than the flat one at ch=16 (benchmarks/biggan_bench.py, README "biggan"), which paid
for a wider model (ch=24) and twice the steps.
Per seed (2-core CPU; judge circle / square / triangle, then the commonest colour's share):
- 2,400 steps (the test itself, 2 threads, alone, 3 min 51 s to 4 min 35 s a run): seed 0
  0.86 / 0.57 / 0.64, colour 0.29 / 0.29 / 0.25, passes; seed 1 0.82 / 0.53 / 0.60, colour
  0.34 / 0.30 / 0.23, passes (mean 0.650); seeds 2-5 fail on squares: 0.74 / 0.39 / 0.62,
  0.71 / 0.40 / 0.54, 0.72 / 0.37 / 0.69, 0.72 / 0.45 / 0.58 (colours 0.18-0.37 throughout).
  Their circle and square rows draw the same rounded blob for a latent.
- 4,800 steps (the test's setting now; the test's body at 1 thread, two runs side by side, 11-13
  min each, except seed 0: the test itself, 2 threads, alone, 8 min 41 s in all):
  seed 0 0.88 / 0.55 / 0.80, colour 0.20 / 0.23 / 0.29; seed 1 0.62 / 0.82 / 0.90, 0.24 / 0.21 / 0.24;
  seed 2 0.73 / 0.77 / 0.88, 0.21 / 0.27 / 0.22; seed 3 0.74 / 0.78 / 0.89, 0.31 / 0.36 / 0.35;
  seed 4 0.82 / 0.83 / 0.86, 0.27 / 0.29 / 0.29; seed 5 0.61 / 0.72 / 0.81, 0.20 / 0.20 / 0.21;
  seed 6 0.66 / 0.79 / 0.86, 0.22 / 0.23 / 0.21: all pass.
  The weakest class anywhere 0.55 (seed 0's squares), the weakest mean 0.71 (seed 5); colours
  0.20-0.36; within-class spread 0.89-1.08. The grids: round circles, squares with corners (some
  lumpy), triangles often drawn as concave three-pointed stars.
2026-12-06, fourth session: probes of the tapered layout in a standalone copy of the step (1
thread, two side by side; 2,400 steps): ch=16 met all three conditions in two runs of four, as
the flat layout had (seed 0 twice: 0.86 / 0.62 / 0.73 and 0.85 / 0.58 / 0.67; seed 1
0.47 / 0.54 / 0.66; seed 2 0.58 / 0.58 / 0.72 with triangles 0.65 one colour); n_critic=3 (seed 2:
0.69 / 0.43 / 0.73) and a wider G (8, 4, 2 x ch) did not help; ch=24 seed 2: 0.79 / 0.58 / 0.71.
A probe that imports tests/conftest.py runs torch at 2 threads: two such probes side by side ran
about twice as slowly, which first looked like training slowing down; set the threads after the import.
2026-12-06, third session: the test now judges 384 samples a class instead of 96. With 96 the
latents alone moved one trained model's square accuracy from 0.46 to 0.56 (8 latent sets; its
test run, listed below, failed with 0.49), with 384 from 0.45 to 0.52. Probes for a shorter
budget, 600 steps of that day's settings (ch=16, flat layout) in a standalone copy of the step
(1 thread, two side by side, ~10-14 min each; one seed each; circle / square / triangle, then colour):
- as they are: 0.57 / 0.41 / 0.70, colour 0.39 / 0.52 / 0.36
- an auxiliary classifier on D's pooled features (AC-GAN: cross-entropy on real labels for D, on
  the requested class for G, weight 1): 0.83 / 0.43 / 0.76, colour 0.55 / 0.69 / 0.60 (white blobs)
- the class embedding into G's first linear layer too (as BigGAN-deep): 0.43 / 0.39 / 0.93
- 32 px at ch=8 (about the compute of 16 px at ch=16): 0.58 / 0.55 / 0.82, colour 0.76 / 0.40 / 0.33
  (the class picks the colour: white circles, red squares, cyan triangles; blobs)
- BigGAN's truncation at sampling time on the trained 2,400-step models (latent values beyond 1.4, 1.0 redrawn): no
  consistent gain (squares 0.60 -> 0.66 -> 0.70 on one, 0.47 -> 0.34 -> 0.48 on another).
None is the step change a few-minute test needs; none is in the code.
2026-12-06, second session (16 px, 2,400 steps, 1 thread beside another run on a slow 2-core
machine; judge circle / square / triangle, then the commonest colour's share):
- ch=8, shared_dim=32, n_critic=4 + D's minibatch-std channel (mbstd=4; 1,534 s): 0.86 / 0.42 / 0.59,
  colour 0.32 / 0.36 / 0.58: the std channel kept the colours that n_critic=4 alone lost
  (0.80 / 1.00 / 1.00, below) and lost the squares (0.64 -> 0.42)
- ch=16, shared_dim=32, mbstd=4, n_critic=2 (the test's settings until 2026-12-07; 2,738 s): 0.82 / 0.49 / 0.65,
  colour 0.50 / 0.35 / 0.31 (fails: squares 0.01 short; colour at the limit); ``--seed 1`` (2,851 s): 0.79 / 0.64 / 0.74,
  colour 0.30 / 0.29 / 0.30 (passes: the first run to pass all three); this test as it is
  (GANZOO_QUALITY=1, 2 threads, alone, 21 min 40 s in all): 0.83 / 0.53 / 0.66, spread 1.04-1.11,
  colour 0.24 / 0.35 / 0.43: passes, with 0.03 to spare on squares and 0.02 on the mean
  ``--seed 2`` (2 threads, alone, 1,259 s): 0.74 / 0.39 / 0.59, colour 0.41 / 0.48 / 0.41: fails;
  its circle and square rows draw the same blob for a latent
- raw G against the EMA of the n_critic=4 run: the raw G's colours collapse too (0.91 / 1.00 / 0.51)
2026-12-06 (16 px, ch=8, 1 thread beside another run on a slow 2-core machine, ~19 min of
training for 3,200 steps; judge circle / square / triangle, then the commonest colour's share):
- the earlier settings (shared_dim=128, n_critic=2, 3,200 steps): 0.94 / 0.36 / 0.76, colour
  0.88 / 0.55 / 0.41: every circle yellow; the class embedding outweighs the z chunk in G's
  BatchNorm gains (norm ~11 against ~6), so the class picks the colour
- shared_dim=32 (class and z chunk about equal): 0.68 / 0.45 / 0.90, colour
  0.29 / 0.26 / 0.35 (fails on squares); seed 1: 0.93 / 0.55 / 0.83, colour 0.58 / 0.50 / 0.75
  (fails on colour: z picks the colour, the same in every row, but mostly magenta and white)
- shared_dim=32, n_critic=3, 2,400 steps: 0.57 / 0.67 / 0.89, colour 0.89 / 1.00 / 0.88
- shared_dim=32, n_critic=4, 2,400 steps: 0.99 / 0.64 / 0.92 (the best shapes: squares with
  corners, spiky triangles), colour 0.80 / 1.00 / 1.00: cyan circles and squares, red triangles.
  More D steps buy shapes and lose colours; both pass the judge and spread conditions alone.
Before the colour condition (shared_dim=128, n_critic=2, 3,200 steps) it passed once on
2026-12-04 (3 min 36 s, 2 threads: judge 0.77 / 0.60 / 1.00; 1 thread: 0.58 / 0.53 / 0.92) and
FAILED on 2026-12-05 on another machine of the same kind (2 threads,
11 min 27 s of training: 0.83 / 0.45 / 0.60, spread 0.94-1.12): the same settings give runs whose
per-class accuracy differs by up to 0.4, so the margin is not there and the test stays out of
the default suite until a recipe passes with room to spare. Before that it was opt-in at ch=16,
2,400 steps (9-15 minutes).
Measured (1200 steps unless said, 16 px, 2-core CPU, per-class judge accuracy circle / square / triangle):
- ch=8, EMA with G's BatchNorm statistics (ema_bn=copy):     0.09 / 0.22 / 0.75
- ch=8, EMA with standing statistics (the default now):       0.59 / 0.36 / 0.69
- ch=16, standing statistics:                                 0.74 / 0.40 / 0.56
- ch=8, lr G 1e-4 / D 4e-4 (BigGAN's TTUR):                   0.26 / 0.22 / 0.73
- ch=16, 2400 steps:                                          0.88 / 0.32 / 0.64
- ch=16, n_critic=2:                                          0.95 / 0.34 / 0.87 (spread 0.86-1.10)
- ch=16, n_critic=2, 2400 steps (the earlier settings):       0.97 / 0.57 / 0.90 (spread 0.95-1.15; CLI, 1 thread)
  the same in this test (2 threads, 9 min 24 s in all):        0.92 / 0.51 / 0.83 (spread 0.94-1.02): passes,
  with a thin margin on squares
Looking for a shorter budget (2026-12-03, 600 steps of that day's settings, 1 thread): as they are
0.32 / 0.54 / 0.83; lr 1e-3 both 0.26 / 0.62 / 0.74; lr D 1e-3 0.35 / 0.62 / 0.79; d_ch=32
0.29 / 0.47 / 0.68; batch 64 0.54 / 0.47 / 0.88; DiffAugment translation 0.29 / 0.56 / 0.86,
color+translation 0.46 / 0.38 / 0.86; count=8192 0.15 / 0.64 / 0.68: none passes.
2026-12-04, ch=8 (24/26 ms a D/G step), 1 thread: 2,400 steps 0.54 / 0.56 / 0.78 (mean 0.63: fails),
the same at batch 64 0.45 / 0.70 / 0.83 (fails), 3,200 steps 0.58 / 0.53 / 0.92 (passes): the
test's settings. At 600 steps the rows also keep a colour per class (cyan circles,
white squares, magenta triangles) although the data's colours do not depend on the class.
The rows differ by colour and size more than by shape: at 16 px and this budget biggan draws
blobs; with n_critic=2 it tells triangles from the rest, but draws the same rounded blob for
a circle and a square of the same latent. A conditional dcgan with the class embedding concatenated to z (``--set cond=concat``) draws
one image per class (within-class diversity 0.007 per pixel); it scored 1.00 / 1.00 / 1.00 on
the judge alone, which is why the diversity condition is part of the test. With the class in
G's BatchNorm (``cond=bn``, now the default) it keeps z (``test_conditional_dcgan_keeps_z_and_y``)
but fails the judge (about 0.0 / 0.4 / 0.8 at 1,200-4,800 steps: blurred blobs; README).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from conftest import load_benchmark
from ganzoo.train.collapse import diversity
from ganzoo_shapes.render import PALETTE, render_shapes

SIZE = 16
KINDS = ["circle", "square", "triangle"]
STEPS = int(os.environ.get("GANZOO_QUALITY_STEPS", "4800"))
SEED = os.environ.get("GANZOO_QUALITY_SEED", "0")  # the training seed: to measure how reliably the settings pass
# Samples a class. With 96, the latents alone moved a fixed model's square accuracy by up to 0.10
# (0.46-0.56 over 8 latent sets, std 0.035); with 384 the std halves (0.45-0.52), so the verdict is the model's.
NUM = 384
TRAIN = ["--arch", "biggan", "--data", "shapes", "--image-size", str(SIZE), "--set", "ch=24", "--set", "attn=0",
         "--set", "shared_dim=32", "--set", "mbstd=4", "--set", "count=2048", "--batch-size", "32",
         "--lr-g", "5e-4", "--lr-d", "5e-4", "--beta1", "0", "--beta2", "0.9", "--set", "n_critic=2",
         "--set", "ema_start=300", "--set", "ema_decay=0.99", "--no-progress"]


# The judge is benchmarks/shapes_quality.py's (the same CNN, here at 16 px and 400 steps)
_shapes_quality = load_benchmark("shapes_quality")
to_input = _shapes_quality.to_input


def train_judge() -> nn.Module:
    features, head, held_out = _shapes_quality.train_judge(SIZE, steps=400)
    assert held_out >= 0.9, f"the judge itself only gets {held_out:.2f} on real shapes"
    return nn.Sequential(features, head).eval()


def colour_share(images: np.ndarray) -> float:
    """How much of a sample the commonest shape colour takes. Each image's shape is its pixels
    farther than half the largest distance from the image's median colour (the background);
    their mean colour snaps to the nearest of the dataset's palette colours. Real shapes:
    about 0.2 a class (7 colours, any class); a class drawn in one colour: 1."""
    flat = images.reshape(len(images), -1, 3).astype(np.float32)  # (N, S*S, 3)
    dist = np.linalg.norm(flat - np.median(flat, axis=1, keepdims=True), axis=2)  # (N, S*S)
    colours = [flat[i][dist[i] > 0.5 * dist[i].max()].mean(0) for i in range(len(flat))]
    nearest = [int(np.linalg.norm(PALETTE - c, axis=1).argmin()) for c in colours]
    return float(np.bincount(nearest).max() / len(nearest))


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GANZOO_QUALITY"),
                    reason="~8 min on a 2-core CPU, past the suite's 10-minute budget; GANZOO_QUALITY=1 runs it")
def test_conditional_biggan_draws_the_shape_it_is_asked_for(cli, tmp_path):
    judge = train_judge()
    run = tmp_path / "run"
    result = cli("train", *TRAIN, "--seed", SEED, "--steps", str(STEPS), "--sample-every", str(STEPS), "--out", str(run))
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["class_names"] == KINDS
    accuracy, spread, colour = {}, {}, {}
    real = render_shapes(count=600, image_size=SIZE, kinds=KINDS, seed=321)
    for k, kind in enumerate(KINDS):
        out = tmp_path / f"{kind}.npy"
        r = cli("generate", str(run), "--num", str(NUM), "--class", kind, "--out", str(out), "--seed", "1")
        assert r.exit_code == 0, r.output
        pixels = np.load(out)  # (NUM, S, S, 3) uint8
        with torch.no_grad():
            predicted = judge(to_input(pixels)).argmax(1)
        accuracy[kind] = (predicted == k).float().mean().item()
        spread[kind] = diversity(to_input(pixels)) / diversity(to_input(real.images[real.labels == k][:192]))
        colour[kind] = colour_share(pixels)
    print("per-class accuracy of the judge on generated shapes:", accuracy, "within-class diversity:", spread,
          "commonest colour's share:", colour)
    assert min(accuracy.values()) >= 0.5 and np.mean(list(accuracy.values())) >= 0.65, accuracy
    assert min(spread.values()) >= 0.3, spread  # not one image per class
    assert max(colour.values()) <= 0.5, colour  # no colour takes over a class


def test_colour_share_tells_one_colour_from_the_palette():
    assert colour_share(render_shapes(count=300, image_size=SIZE, kinds=KINDS, seed=5).images) < 0.3  # 7 colours
    rng = np.random.default_rng(0)

    def patches(colours):  # a dark noisy background and a 6x6 patch of each colour, off the palette by up to 15
        images = rng.integers(10, 70, size=(len(colours), SIZE, SIZE, 3))
        for image, c in zip(images, colours):
            x, y = rng.integers(0, SIZE - 6, size=2)
            image[y:y + 6, x:x + 6] = np.clip(PALETTE[c] + rng.integers(-15, 16, size=3), 0, 255)
        return images.astype(np.uint8)

    assert colour_share(patches([3] * 40)) == 1.0
    assert colour_share(patches([k % len(PALETTE) for k in range(42)])) == 6 / 42


DCGAN = ["--arch", "dcgan", "--data", "shapes", "--image-size", str(SIZE), "--set", "conditional=true",
         "--set", "ngf=32", "--set", "ndf=32", "--set", "count=2048", "--batch-size", "32", "--no-progress"]


def test_conditional_dcgan_keeps_z_and_y(cli, tmp_path):
    """A conditional dcgan (conditional BatchNorm in G, the default) draws different images for
    different z within a class and lets the class change the image for the same z.

    Measured at 400 steps (2-core CPU, 1 thread, ~14 s): within-class spread 0.88 / 0.96 / 0.93
    of the real one and a mean per-pixel change of 0.12 between classes for the same z. The
    embedding concatenated to z (``--set cond=concat``) fails the first condition: 0.07-0.08,
    one image per class. An unconditional model fails the second (exactly 0)."""
    run = tmp_path / "run"
    result = cli("train", *DCGAN, "--steps", "400", "--sample-every", "400", "--out", str(run))
    assert result.exit_code == 0, result.output
    real = render_shapes(count=600, image_size=SIZE, kinds=KINDS, seed=321)
    images = []
    for k, kind in enumerate(KINDS):
        out = tmp_path / f"{kind}.npy"
        r = cli("generate", str(run), "--num", "96", "--class", kind, "--out", str(out), "--seed", "1")
        assert r.exit_code == 0, r.output
        images.append(to_input(np.load(out)))  # the same 96 latents for every class
    spread = [diversity(x) / diversity(to_input(real.images[real.labels == k][:96])) for k, x in enumerate(images)]
    class_effect = np.mean([(images[a] - images[b]).abs().mean().item() for a, b in [(0, 1), (0, 2), (1, 2)]])
    print("within-class spread:", spread, "change between classes for the same z:", class_effect)
    assert min(spread) >= 0.5, spread  # not one image per class
    assert class_effect >= 0.05, class_effect  # y reaches G
