"""Failure detection: a run whose discriminator has won, or whose samples collapsed, says so."""

import re

import torch

from ganzoo.checkpoint import load_checkpoint
from ganzoo.train.collapse import CollapseWatch, diversity
from ganzoo.train.metrics import read_metrics

from conftest import TINY


def _records(d_fake, loss_g, every=10):
    return [{"step": every * (i + 1), "d_fake": d, "loss_g": g} for i, (d, g) in enumerate(zip(d_fake, loss_g))]


def test_d_won_needs_a_whole_window_of_low_d_fake_and_a_rising_generator_loss():
    watch = CollapseWatch(window=50, real_diversity=0.5)
    rising = _records([0.005] * 8, [3.0 + 0.1 * i for i in range(8)])
    found = [watch.on_record(r) for r in rising]
    # steps 10..40 do not cover a 50-step window yet; step 50 does
    assert found[:4] == [None] * 4 and found[4] is not None and found[4].kind == "d_won" and found[4].step == 50
    assert watch.active and found[5:] == [None] * 3  # said once

    falling = CollapseWatch(window=50, real_diversity=0.5)
    assert all(falling.on_record(r) is None for r in _records([0.005] * 8, [5.0 - 0.1 * i for i in range(8)]))
    one_good = CollapseWatch(window=50, real_diversity=0.5)
    d_fake = [0.005] * 8
    d_fake[6] = 0.2  # D(G(z)) recovered inside every window that ends at steps 70 and 80
    found = [one_good.on_record(r) for r in _records(d_fake, [3.0 + 0.1 * i for i in range(8)])]
    assert found[4] is not None and found[6:] == [None, None] and not one_good.active


def test_low_diversity_is_judged_against_real_images_after_the_first_window():
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(16, 3, 8, 8, generator=gen) * 2 - 1
    watch = CollapseWatch(window=100, real_diversity=diversity(real))
    same = real[:1].repeat(16, 1, 1, 1) + 0.001 * torch.randn(16, 3, 8, 8, generator=gen)
    assert watch.on_grid(50, same) is None  # a new generator draws near-identical images: not judged yet
    found = watch.on_grid(100, same)
    assert found is not None and found.kind == "low_diversity" and watch.active
    assert watch.on_grid(200, torch.rand(16, 3, 8, 8, generator=gen) * 2 - 1) is None and not watch.active
    assert abs(diversity(real) - diversity(real.flip(0))) < 1e-6 and diversity(same) < 0.01 * diversity(real)


def test_a_conditional_grid_with_one_image_per_class_has_collapsed():
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(24, 3, 8, 8, generator=gen) * 2 - 1
    per_class = (torch.rand(3, 1, 3, 8, 8, generator=gen) * 2 - 1).expand(3, 8, 3, 8, 8).reshape(24, 3, 8, 8)
    watch = CollapseWatch(window=10, real_diversity=diversity(real))
    assert diversity(per_class) > 0.5 * diversity(real)  # the rows differ: judged whole, it would pass
    found = watch.on_grid(10, per_class, row=8)
    assert found is not None and found.kind == "low_diversity"
    assert CollapseWatch(window=10, real_diversity=diversity(real)).on_grid(10, real, row=8) is None


# D's learning rate 100x G's: the discriminator wins within a few dozen steps at this size.
BROKEN = [*TINY, "--lr-g", "2e-5", "--lr-d", "2e-3", "--steps", "100", "--set", "log_every=5",
          "--set", "collapse_window=40", "--set", "norm=batch", "--loss", "bce", "--set", "diffaugment=",
          "--set", "ema=false"]


def test_a_broken_setting_trips_the_detector_once(cli, tmp_path, caplog):
    out = tmp_path / "run"
    result = cli("train", *BROKEN, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert caplog.text.count("the discriminator has won") == 1, caplog.text
    assert "training goes on" in caplog.text and "try the defaults" in caplog.text
    won = int(re.search(r"step (\d+): the discriminator has won", caplog.text).group(1))
    records = read_metrics(out / "metrics.jsonl")
    assert won >= 40 and all(r["d_fake"] < 0.01 for r in records if won - 40 < r["step"] <= won)
    assert [r["collapse"] for r in records if r["step"] == won] == [True]
    assert not any(r["collapse"] for r in records if r["step"] < 40)  # nothing judged in the first window


def test_on_collapse_stop_ends_with_a_checkpoint_and_exit_code_3(cli, tmp_path):
    out = tmp_path / "run"
    result = cli("train", *BROKEN, "--set", "on_collapse=stop", "--out", str(out))
    assert result.exit_code == 3, result.output
    assert "checkpoint saved to" in result.output and "stopped (on_collapse=stop)" in result.output
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    stopped = state["progress"]["step"]
    assert 40 <= stopped < 100
    assert read_metrics(out / "metrics.jsonl")[-1]["step"] == stopped
