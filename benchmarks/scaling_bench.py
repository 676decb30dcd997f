"""Data-parallel scaling: training images/s on 1 and K processes (torchrun + DDP).

    python benchmarks/scaling_bench.py                      # CPU, gloo: 1 and 2 processes
    python benchmarks/scaling_bench.py --procs 1,2,4 --device cuda --batch-size 128 --image-size 64 --width 64

Each process count is one ``torchrun --standalone`` job running ganzoo's own ``Trainer``
(the engine's step, its feed, DDP wrappers, per-rank batch ``--batch-size``: weak scaling, so
the global batch grows with the processes). Per job: warm-up steps, then ``--steps`` timed
steps, twice: once as training runs (gradients all-reduced), once with the all-reduce switched
off (DDP's ``no_sync`` around both phases, so the ranks drift apart, which does not change the
cost of a step). The difference is the communication the step waits for; ``allreduce share`` =
1 - (step without) / (step with). Images/s counts every rank's generator images.

On one CPU the processes share its cores (OMP_NUM_THREADS = cores / processes each), so the
CPU table shows the overhead of the distributed step, not a speed-up; on a machine with K GPUs
the same table is 1 GPU vs K GPUs with NCCL. Prints a table and writes JSON to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def worker(args) -> None:
    import numpy as np
    import torch

    from ganzoo.config import resolve_config
    from ganzoo.plugins import load_registry
    from ganzoo.run_dir import RunDir
    from ganzoo.train import distributed
    from ganzoo.train.loop import Trainer

    dist, device = distributed.setup(args.device)
    registry = load_registry()
    config = resolve_config(registry, arch="dcgan", data="shapes", flags={
        "image_size": args.image_size, "batch_size": args.batch_size, "steps": 10**6, "device": args.device},
        set_items=[f"ngf={args.width}", f"ndf={args.width}", "amp=off"])
    config.world_size = dist.world_size
    images = np.random.default_rng(0).integers(0, 256, (args.images, args.image_size, args.image_size, 3), np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, RunDir(tmp), registry, images, device, dist=dist)

        def sync():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            dist.barrier()

        def timed(steps: int) -> float:
            sync()
            start = time.perf_counter()
            for _ in range(steps):
                trainer.train_step()
            sync()
            return time.perf_counter() - start

        timed(args.warmup)
        with_comm = timed(args.steps)
        real = trainer.dist.accumulating
        trainer.dist.accumulating = lambda module, last: real(module, False)  # no_sync everywhere
        without = timed(args.steps) if dist.enabled else with_comm
        trainer.dist.accumulating = real
    if dist.is_main:
        n = args.steps * args.batch_size * dist.world_size
        Path(args.worker).write_text(json.dumps({
            "processes": dist.world_size, "backend": dist.backend or "none", "device": str(device),
            "per_rank_batch": args.batch_size, "global_batch": args.batch_size * dist.world_size,
            "step_ms": 1000 * with_comm / args.steps, "step_ms_without_allreduce": 1000 * without / args.steps,
            "images_per_s": n / with_comm, "allreduce_share": max(0.0, 1 - without / with_comm),
            "threads_per_process": torch.get_num_threads(),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else
            f"CPU ({platform.machine()}, {os.cpu_count()} logical cores)",
        }))
    distributed.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", default="1,2", help="process counts, e.g. 1,2,4")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=32, help="ngf = ndf")
    parser.add_argument("--batch-size", type=int, default=64, help="per process")
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, help="threads per process [default: cores / processes on CPU]")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    cores = len(os.sched_getaffinity(0))
    rows = []
    for k in [int(p) for p in args.procs.split(",")]:
        with tempfile.NamedTemporaryFile(suffix=".json") as report:
            threads = args.threads or (max(1, cores // k) if args.device == "cpu" else 4)
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(k), __file__,
                   "--worker", report.name, *[a for a in sys.argv[1:] if a]]
            subprocess.run(cmd, check=True, env=env)
            rows.append(json.loads(Path(report.name).read_text()))
    base = rows[0]["images_per_s"] / rows[0]["processes"]
    print(f"\nDDP scaling, dcgan {args.image_size}x{args.image_size} ngf=ndf={args.width}, "
          f"batch {args.batch_size} per process, on {rows[0]['device_name']}")
    print(f"{'procs':>5} {'backend':>7} {'threads':>7} {'global batch':>12} {'step ms':>8} {'images/s':>9} "
          f"{'vs 1':>6} {'allreduce share':>15}")
    for r in rows:
        r["speedup_vs_1"] = r["images_per_s"] / rows[0]["images_per_s"]
        r["efficiency"] = r["images_per_s"] / (base * r["processes"])
        print(f"{r['processes']:>5} {r['backend']:>7} {r['threads_per_process']:>7} {r['global_batch']:>12} "
              f"{r['step_ms']:>8.1f} {r['images_per_s']:>9.0f} {r['speedup_vs_1']:>5.2f}x {r['allreduce_share']:>14.0%}")
    out = args.out or RESULTS / f"scaling_bench_{args.device}{'_t%d' % args.threads if args.threads else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k not in ("worker", "out")},
                               "rows": rows}, indent=2, default=str) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
