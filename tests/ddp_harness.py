"""Run several ``ganzoo`` commands in one torchrun job (tests/test_distributed.py).

Starting two ranks costs seconds (each imports torch), so the exact-resume test runs all its
commands in one job: the process group is kept between them, and after each training command
every rank reports a checksum of its G and D weights, which DDP must keep equal.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_harness.py OUT.json '[["train", ...], ...]'
"""

import json
import os
import signal
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
step = Trainer.train_step


def step_then_ctrl_c_on_rank_1(self):
    """In a run named "stopped", rank 1 alone gets a SIGINT during step 3: both must stop after step 4."""
    stats = step(self)
    if self.run.path.name == "stopped" and dist.get_rank() == 1 and self.step == 2:
        os.kill(os.getpid(), signal.SIGINT)
    return stats


Trainer.train_step = step_then_ctrl_c_on_rank_1

from ganzoo.cli import main  # noqa: E402

codes = []
for argv in json.loads(sys.argv[2]):
    try:
        code = main(argv, prog_name="ganzoo", standalone_mode=False)
    except SystemExit as exit:
        code = exit.code
    codes.append(code or 0)
    if code and code not in (130, 3):  # 130: stopped by a signal, as the "stopped" run is; 3: "collapsed"
        sys.exit(code)
if dist.get_rank() == 0:
    with open(sys.argv[1], "w") as f:
        json.dump({"weight_sums": sums, "exit_codes": codes}, f)
dist.destroy_process_group()
