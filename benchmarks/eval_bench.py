"""Evaluation speed: feature extraction images/s and the cost of a 10,000-sample FID.

    python benchmarks/eval_bench.py                 # 2,000 64x64 images, batch 64, on the CPU (or CUDA)
    python benchmarks/eval_bench.py --num 500 --device cpu

Extractors, each built through ganzoo's plugin point and run by ganzoo's own extraction code:
- ``inception`` (the built-in): from the real weights when this machine has them, otherwise
  from *randomly initialised* weights of the same architecture (torchvision's Inception v3
  layout with 1,008 classes, loaded by the very same FID-Inception code path: the same
  network, resize to 299x299 and FLOPs, so the speed is the same; the features are
  meaningless). The output says which.
- ``tiny``: the small test extractor of ``tests/evalfixtures.py`` (64 features at 16x16).

The images are 2,000 procedural 64x64 shapes. After one warm-up batch, each extractor is
timed over all images. The FID step is timed on random (N, 2048) features: the Gaussian of
the generated set (mean, covariance) plus torch-fidelity's Fréchet distance against cached
real statistics; it does not depend on the values. A 10k-sample FID is projected as 10,000
images' extraction plus that step (generating the images is not included: see
generate_bench.py). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from ganzoo.device import resolve_device  # noqa: E402
from ganzoo.errors import UsageError  # noqa: E402
from ganzoo.eval.extractor import array_batches, open_extractor  # noqa: E402
from ganzoo.eval.metrics import FeatureSet, fid  # noqa: E402
from ganzoo.testing import plugin_registered  # noqa: E402


def inception_weights(tmp: Path) -> tuple[Path, str]:
    """The real weights when present, else random ones of the same architecture."""
    from ganzoo_inception.weights import find_weights

    try:
        return find_weights(), "real weights"
    except UsageError:
        from torchvision.models import inception_v3

        torch.manual_seed(0)
        net = inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
        path = tmp / "inception-random-1008.pth"
        torch.save(net.state_dict(), path)
        return path, "RANDOM weights (no weights file on this machine): same architecture and FLOPs, speed only"


def time_extractor(ext, images: np.ndarray, batch: int) -> dict:
    ext.run(images[:batch])  # warm-up: allocator, oneDNN kernels
    if ext.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    ext.features(array_batches(images, batch), progress=False)
    if ext.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"images": len(images), "seconds": round(seconds, 2), "images_per_s": round(len(images) / seconds, 1)}


def time_fid_step(n: int, dim: int = 2048) -> float:
    rng = np.random.default_rng(0)
    real = FeatureSet(rng.standard_normal((n, dim), dtype=np.float32))
    real.statistics  # cached in a real run: not timed
    fake = FeatureSet(rng.standard_normal((n, dim), dtype=np.float32))
    start = time.perf_counter()
    fid(real, fake)  # the fake set's mean and covariance, then the Fréchet distance
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fid-n", type=int, default=10_000, help="samples of the projected FID")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/eval.json"))
    args = ap.parse_args()

    import evalfixtures
    from ganzoo_shapes.render import render_shapes

    device = resolve_device(args.device)
    images = render_shapes(count=args.num, image_size=args.size, kinds=["circle", "square", "triangle"], seed=0).images
    rows = []
    with tempfile.TemporaryDirectory() as tmp, plugin_registered(evalfixtures) as registry:
        weights, note = inception_weights(Path(tmp))
        for name, w, what in (("inception", weights, note), ("tiny", None, "test extractor (tests/evalfixtures.py)")):
            ext = open_extractor(registry, name, w, device)
            row = {"extractor": ext.label, "weights": what, "batch": args.batch, **time_extractor(ext, images, args.batch)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    fid_step = time_fid_step(args.fid_n)
    for row in rows:
        row["projected_fid_seconds"] = round(args.fid_n / row["images_per_s"] + fid_step, 1)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()} CPU, {os.cpu_count()} cores"
    report = {"device": device_name, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "image_size": args.size, "fid_n": args.fid_n, "fid_step_seconds": round(fid_step, 2),
              "note": "the FID step = the generated set's mean/covariance + torch-fidelity's Fréchet distance "
                      "against cached real statistics; image generation not included",
              "time": time.strftime("%Y-%m-%d %H:%M:%S"), "results": rows}
    print(f"\n{device_name}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.num} {args.size}x{args.size} images, batch {args.batch}")
    print(f"{'extractor':<26} {'img/s':>8} {'s':>7}  projected {args.fid_n:,}-sample FID  weights")
    for r in rows:
        print(f"{r['extractor']:<26} {r['images_per_s']:>8.1f} {r['seconds']:>7.1f}  {r['projected_fid_seconds']:>10.1f} s"
              f"                {r['weights']}")
    print(f"FID step ({args.fid_n:,} x 2048 features: covariance + Fréchet distance): {fid_step:.1f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
