"""Image quality on real data, over seeds: does a recipe learn on every seed at a fixed budget?

Builds the real-photograph tile set (``realtiles.py``), trains each recipe through the CLI
(``ganzoo train --data folder``) for the same number of steps on every seed, and scores each
run with ``ganzoo eval``'s machinery and the benchmark's own extractor (``tile_features.py``):
FID and KID against the 2,000 real tiles, plus sanity figures that need no extractor: the
diversity of 2,000 samples (mean pairwise RMS distance, relative to the real tiles'), and
D(x), D(G(z)) and the collapse flag averaged over the last tenth of the run. Uniform noise and
an untrained generator are scored too, as the floor every recipe must clear.

    python benchmarks/quality_bench.py                         # dcgan: before / defaults / preset
    python benchmarks/quality_bench.py --arch cifar --seeds 0,1,2
    python benchmarks/quality_bench.py --recipes before,defaults,defaults+beta1=0.5+n_critic=1,preset:dogs-dcgan

Recipes (``--recipes``): ``defaults`` (nothing but the budget), ``before`` (ganzoo's defaults
before the robust recipe: BatchNorm D, BCE, lr 2e-4, betas (0.5, 0.999), one D update a step,
no EMA, no DiffAugment), and ``preset:NAME``;
``RECIPE+key=value+...`` is a variant with those ``--set`` values on top (the ablations).
Prints a table and writes JSON (``benchmarks/results/quality_ARCH.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import realtiles  # noqa: E402

BEFORE = ["--loss", "bce", "--set", "norm=batch", "--set", "ema=false", "--set", "diffaugment=",
          "--lr-g", "2e-4", "--lr-d", "2e-4", "--beta1", "0.5", "--beta2", "0.999", "--set", "n_critic=1"]
PRESET_ARCH = {"dogs-dcgan": "dcgan", "dcgan64": "dcgan", "cifar-subset": "cifar"}


def recipe_flags(recipe: str) -> list[str]:
    if "+" in recipe:  # a variant: RECIPE+key=value+... (each a --set on top of RECIPE)
        base, *sets = recipe.split("+")
        return recipe_flags(base) + [x for kv in sets for x in ("--set", kv)]
    if recipe == "defaults":
        return []
    if recipe == "before":
        return list(BEFORE)
    if recipe.startswith("preset:"):
        return ["--preset", recipe.split(":", 1)[1]]
    raise SystemExit(f"unknown recipe {recipe!r}: defaults, before or preset:NAME")


def relative_diversity(images: np.ndarray, real: np.ndarray, n: int = 200) -> float:
    """Mean pairwise RMS distance of the first n images, relative to the real tiles' (the
    failure detector's measure, ``ganzoo.train.collapse.diversity``)."""
    import torch

    from ganzoo.train.collapse import diversity

    def div(x: np.ndarray) -> float:
        return diversity(torch.from_numpy(x[:n]).permute(0, 3, 1, 2).float() / 127.5 - 1)  # (n, 3, S, S)
    return div(images) / div(real)


def end_of_run(run: Path) -> dict:
    from ganzoo.train.metrics import read_metrics

    records = read_metrics(run / "metrics.jsonl")
    tail = records[-max(1, len(records) // 10):]
    return {"d_real": float(np.mean([r["d_real"] for r in tail])), "d_fake": float(np.mean([r["d_fake"] for r in tail])),
            "collapse": any(r.get("collapse") for r in tail), "collapse_ever": any(r.get("collapse") for r in records)}


def score(source: Path, tiles: Path, registry, weights: Path, real: np.ndarray, num: int, work: Path) -> dict:
    from ganzoo.eval.job import evaluate
    from ganzoo.eval.sources import open_source

    result = evaluate(source, str(tiles), registry=registry, metrics="fid,kid", num=num, extractor="tiles",
                      weights=weights, cache_dir=str(work / "cache"), device="cpu", progress=False)
    src = open_source(source, num=200, seed=0, device="cpu", batch_size=200, progress=False)
    sample = np.concatenate(list(src.batches(200)))
    return {"fid": result.values["fid"], "kid": result.values["kid"], "kid_std": result.values["kid_std"],
            "diversity": relative_diversity(sample, real)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="dcgan")
    ap.add_argument("--recipes", default=None, help="comma-separated [default: before,defaults and the arch's seed presets]")
    ap.add_argument("--recipe", action="append", default=[], help="one more recipe (repeatable; its values may hold commas)")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--set", dest="sets", action="append", default=None,
                    help="extra --set for every run [default: ngf=32, ndf=32 (the CPU budget)]")
    ap.add_argument("--num", type=int, default=2000, help="generated images scored per run")
    ap.add_argument("--work", type=Path, default=Path("runs/quality_bench"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    sets = args.sets if args.sets is not None else ["ngf=32", "ndf=32"]
    recipes = (args.recipes.split(",") if args.recipes else
               [] if args.recipe else
               ["before", "defaults"] + [f"preset:{p}" for p, a in PRESET_ARCH.items() if a == args.arch])
    recipes += args.recipe
    seeds = [int(s) for s in args.seeds.split(",")]
    out = args.out or HERE / "results" / f"quality_{args.arch}.json"
    work = args.work.resolve()

    import torch

    import tile_features
    from ganzoo.plugins import load_registry, plugin_manager
    from ganzoo import hookimpl

    # ---------------------------------------------------------------- data and extractor
    tiles = work / "tiles"
    photos = realtiles.photo_paths()
    images = realtiles.cut_tiles(photos, 2000, 64, seed=0)
    labels = np.arange(len(images)) % len(photos)
    if not tiles.exists():
        realtiles.write_folder(tiles, 2000, 64, seed=0)
    real = np.stack([np.asarray(__import__("PIL.Image").Image.fromarray(t).resize(
        (args.image_size, args.image_size), 3)) for t in images])  # bicubic, as the folder loader
    weights = work / "tile_features.pt"
    if not weights.exists():
        acc = tile_features.train(images, labels, weights, size=32)
        print(f"tile extractor: {len(photos)} photographs, held-out accuracy {acc:.3f}")

    class TilesPlugin:
        @hookimpl
        def ganzoo_register_extractors(self, register):
            register(tile_features.extractor_spec(weights))

    plugin = TilesPlugin()
    plugin_manager().register(plugin, name="quality-bench-tiles")
    registry = load_registry()

    # ---------------------------------------------------------------- floors
    rows = []
    noise = work / "noise.npy"
    np.save(noise, np.random.default_rng(0).integers(0, 256, (args.num, args.image_size, args.image_size, 3), dtype=np.uint8))
    env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count())}
    base = [sys.executable, "-m", "ganzoo", "train", "--arch", args.arch, "--data", "folder", "--data-dir", str(tiles),
            "--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
            "--cache-dir", str(work / "cache"), "--no-progress"] + [x for s in sets for x in ("--set", s)]
    untrained = work / "runs" / "untrained"
    if not (untrained / "checkpoints" / "last.pt").exists():
        subprocess.run(base + ["--steps", "1", "--out", str(untrained)], check=True, env=env, capture_output=True)
    for name, source in (("uniform noise", noise), ("untrained G (1 step)", untrained)):
        rows.append({"recipe": name, "seed": None, **score(source, tiles, registry, weights, real, args.num, work)})
        print(_line(rows[-1]), flush=True)

    # ---------------------------------------------------------------- the recipes
    for recipe in recipes:
        for seed in seeds:
            tag = recipe.replace(":", "-").replace("+", "_").replace("=", "-").replace(",", "-")
            run = work / "runs" / f"{args.arch}-{tag}-s{seed}-{args.steps}"
            started = time.perf_counter()
            if not (run / "checkpoints" / "last.pt").exists():
                cmd = base + recipe_flags(recipe) + ["--steps", str(args.steps), "--seed", str(seed), "--out", str(run)]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"{recipe} seed {seed}: training failed: {done.stderr.strip().splitlines()[-1:]}")
                    continue
            seconds = time.perf_counter() - started
            rows.append({"recipe": recipe, "seed": seed, "train_s": round(seconds, 1), "run": str(run),
                         **score(run, tiles, registry, weights, real, args.num, work), **end_of_run(run)})
            print(_line(rows[-1]), flush=True)
    plugin_manager().unregister(plugin)

    summary = {}
    for recipe in recipes:
        fids = [r["fid"] for r in rows if r["recipe"] == recipe]
        if fids:
            summary[recipe] = {"best_fid": min(fids), "worst_fid": max(fids), "mean_fid": float(np.mean(fids)),
                               "seeds": len(fids)}
    print("\nper recipe (FID on the tile extractor, lower is better):")
    for recipe, s in summary.items():
        print(f"  {recipe:<22} best {s['best_fid']:8.1f}   worst {s['worst_fid']:8.1f}   mean {s['mean_fid']:8.1f}"
              f"   ({s['seeds']} seeds)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}",
        "arch": args.arch, "steps": args.steps, "batch_size": args.batch_size, "image_size": args.image_size,
        "sets": sets, "num_scored": args.num, "extractor": "tiles (benchmarks/tile_features.py)",
        "rows": rows, "summary": summary}, indent=2) + "\n")
    print(f"wrote {out}")


def _line(r: dict) -> str:
    seed = "" if r["seed"] is None else f"seed {r['seed']}"
    extra = ""
    if "d_real" in r:
        extra = (f"  D(x) {r['d_real']:.2f}  D(G(z)) {r['d_fake']:.3f}  collapse {'yes' if r['collapse_ever'] else 'no'}"
                 f"  {r['train_s']:.0f} s")
    return (f"{r['recipe']:<22} {seed:<7} FID {r['fid']:8.1f}  KID {r['kid']:.4f} ± {r['kid_std']:.4f}"
            f"  diversity {r['diversity']:.2f}{extra}")


if __name__ == "__main__":
    main()
