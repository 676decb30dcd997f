"""The default recipe of dcgan and of cifar learns on real photographs within a CPU minute or two.

The fixture is real: 512 tiles cut from the photograph matplotlib ships (grace_hopper.jpg), by
the quality benchmark's own tile cutter, written as an image folder. The measure fails on
noise: FID with the test extractor against the tiles, for the trained generator, an untrained
one (1 step) and uniform noise, all scored the same way. A loss threshold would say nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import load_benchmark

COMMON = ["--data", "folder", "--image-size", "32", "--set", "ngf=32", "--set", "ndf=32",
          "--batch-size", "32", "--no-progress"]


def fid(cli, source, tiles) -> float:
    result = cli("eval", str(source), "--real", str(tiles), "--extractor", "tiny", "--metrics", "fid",
                 "--num", "512", "--json", "--no-progress")
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{"):])["metrics"]["fid"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["dcgan", "cifar"])
def test_the_default_recipe_moves_away_from_noise_on_real_photographs(cli, tmp_path, tiny_extractor, arch):
    tiles = tmp_path / "tiles"
    assert load_benchmark("realtiles").write_folder(tiles, count=512, size=32, seed=0, use_skimage=False) == 1
    noise = tmp_path / "noise.npy"
    np.save(noise, np.random.default_rng(0).integers(0, 256, (512, 32, 32, 3), dtype=np.uint8))
    untrained, trained = tmp_path / "untrained", tmp_path / "trained"
    common = ["--arch", arch, *COMMON, "--data-dir", str(tiles), "--cache-dir", str(tmp_path / "cache")]
    assert cli("train", *common, "--steps", "1", "--out", str(untrained)).exit_code == 0
    result = cli("train", *common, "--steps", "250", "--out", str(trained))
    assert result.exit_code == 0, result.output
    config = json.loads((trained / "config.json").read_text())
    # the defaults ran
    assert (config["loss"], config["ema"], config["diffaugment"], config["beta1"], config["n_critic"]) == \
        ("hinge", True, "translation", 0.0, 2)

    scores = {"noise": fid(cli, noise, tiles), "untrained": fid(cli, untrained, tiles), "trained": fid(cli, trained, tiles)}
    print("FID (tiny extractor) against the tiles:", scores)
    # (the tiny extractor pools pixels, so noise and an untrained G both land far from the tiles, in either order)
    assert scores["trained"] < 0.25 * min(scores["noise"], scores["untrained"]), scores
