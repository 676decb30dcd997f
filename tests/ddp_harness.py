"""Run several ``ganzoo`` commands in one torchrun job (tests/test_distributed.py).

Starting two ranks costs seconds (each imports torch), so the exact-resume test runs all its
commands in one job: the process group is kept between them, and after each training command
every rank reports a checksum of its G and D weights, which DDP must keep equal.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_harness.py OUT.json '[["train", ...], ...]'
"""

import json
import sys

import torch
import torch.distributed as dist

from ganzoo.train import distributed
from ganzoo.train.loop import Trainer

distributed.shutdown = lambda: None  # keep the process group for the next command
sums = []
fit = Trainer.fit


def fit_and_compare(self, progress=True):
    fit(self, progress)
    weights = torch.cat([p.detach().flatten() for p in [*self.G.parameters(), *self.D.parameters()]])
    mine = [float(weights.double().sum()), float((weights.double() ** 2).sum())]
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    sums.append(everyone)


Trainer.fit = fit_and_compare

from ganzoo.cli import main  # noqa: E402

for argv in json.loads(sys.argv[2]):
    code = main(argv, prog_name="ganzoo", standalone_mode=False)
    if code:
        sys.exit(code)
if dist.get_rank() == 0:
    with open(sys.argv[1], "w") as f:
        json.dump({"weight_sums": sums}, f)
dist.destroy_process_group()
