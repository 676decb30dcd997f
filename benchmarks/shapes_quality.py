"""How close a generator trained on ``shapes`` comes to real shapes: a shape judge's verdict.

The demo trains on the embedded ``shapes`` dataset (a circle, a square or a triangle, one per
image). Inception features know nothing of it, so this script trains its own judge: a small CNN
taught to tell the three kinds apart on 4,096 real shapes (another seed than the training set;
it must reach 95% on 512 held-out ones). Each run directory given then generates ``--num``
images (``ganzoo generate``, the EMA weights, seed 0) and gets:

- ``fd``: the Fréchet distance between the judge's 64 features of the samples and of 1,000
  real shapes (lower is better; two sets of real shapes score ``fd_real``, the floor);
- ``shares``: the kinds the judge sees among the samples (real data: a third each);
- ``confidence``: the judge's mean top probability (a blob that is no clear shape lowers it).

    python benchmarks/shapes_quality.py runs/demo runs/demo-nearest        # table + JSON

Figures are comparable within one run of this script (the judge is seeded, but another
machine's float sums differ in the last bits). JSON: benchmarks/results/shapes_quality.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganzoo.eval.metrics import FeatureSet, fid
from ganzoo_shapes.render import render_shapes

KINDS = ["circle", "square", "triangle"]
# the training settings each JSON row records beside arch_params (from the run's config.json)
RECIPE_KEYS = ("batch_size", "loss", "lr_g", "lr_d", "beta1", "beta2", "n_critic", "r1", "ema", "ema_decay",
               "diffaugment", "channels_last", "seed")


def to_input(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, 3, S, S) in [-1, 1]


def train_judge(size: int, steps: int = 1500) -> tuple[nn.Module, nn.Module, float]:
    """(features, head, held-out accuracy): the judge trained for ``steps`` batches of 64 real
    shapes of ``size`` px (seed 123; the last 512 held out). The caller decides what accuracy is
    enough (``tests/test_conditional_quality.py`` uses it at 16 px too)."""
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, S/2, S/2)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, S/4, S/4)
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (N, 64)
    )
    head = nn.Linear(64, len(KINDS))
    real = render_shapes(count=4096, image_size=size, kinds=KINDS, seed=123)
    x, y = to_input(real.images), torch.from_numpy(real.labels)
    opt = torch.optim.Adam([*features.parameters(), *head.parameters()], lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, 3584, (64,), generator=gen)
        loss = nn.functional.cross_entropy(head(features(x[idx])), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    features.eval()
    with torch.no_grad():
        held_out = (head(features(x[3584:])).argmax(1) == y[3584:]).float().mean().item()
    return features, head, held_out


def judge(features: nn.Module, head: nn.Module, pixels: np.ndarray) -> tuple[FeatureSet, np.ndarray]:
    with torch.no_grad():
        f = features(to_input(pixels))
        return FeatureSet(f.numpy().astype(np.float32)), torch.softmax(head(f), dim=1).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run directories trained on shapes")
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "shapes_quality.json")
    args = ap.parse_args()

    size = json.loads((args.runs[0] / "config.json").read_text())["image_size"]
    features, head, held_out = train_judge(size)
    if held_out < 0.95:
        raise SystemExit(f"the judge only gets {held_out:.3f} on held-out real shapes")
    real, _ = judge(features, head, render_shapes(count=1000, image_size=size, kinds=KINDS, seed=999).images)
    real2, _ = judge(features, head, render_shapes(count=1000, image_size=size, kinds=KINDS, seed=998).images)
    fd_real = round(fid(real, real2), 2)
    rows = []
    for run in args.runs:
        config = json.loads((run / "config.json").read_text())
        if config["image_size"] != size:
            raise SystemExit(f"{run}: {config['image_size']} px, the first run is {size} px")
        with tempfile.TemporaryDirectory() as tmp:  # nothing is written into the user's run directory
            npy = Path(tmp) / "samples.npy"
            subprocess.run([sys.executable, "-m", "ganzoo", "generate", str(run), "--num", str(args.num), "--seed", "0",
                            "--out", str(npy), "--no-progress"], check=True)
            fake, probs = judge(features, head, np.load(npy))
        shares = np.bincount(probs.argmax(1), minlength=len(KINDS)) / len(probs)
        recipe = {k: config.get(k) for k in RECIPE_KEYS}
        rows.append({"run": str(run), "arch_params": config["arch_params"], "steps": config.get("steps"), "recipe": recipe,
                     "fd": round(fid(real, fake), 2), "shares": dict(zip(KINDS, np.round(shares, 3).tolist())),
                     "confidence": round(float(probs.max(1).mean()), 3)})
    print(f"shape judge: {held_out:.3f} held out; real vs real fd {fd_real:.2f}; {size} px, {args.num} samples a run")
    print(f"{'run':40s} {'fd':>7s}  {'circle':>6s} {'square':>6s} {'triangle':>8s}  {'confidence':>10s}")
    for r in rows:
        s = r["shares"]
        print(f"{r['run']:40s} {r['fd']:7.2f}  {s['circle']:6.3f} {s['square']:6.3f} {s['triangle']:8.3f}  {r['confidence']:10.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                                    "judge_held_out": held_out, "fd_real": fd_real, "runs": rows}, indent=2) + "\n")
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
