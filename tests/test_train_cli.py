"""Training through the CLI: the run directory it writes, and the errors a user can cause."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.checkpoint import load_checkpoint
from ganzoo.train.metrics import read_metrics

from conftest import TINY


def test_short_run_writes_the_run_directory(cli, tmp_path):
    out = tmp_path / "run"
    result = cli("train", *TINY, "--steps", "6", "--sample-every", "3", "--checkpoint-every", "3",
                 "--set", "log_every=2", "--lr-g", "0.001", "--beta2", "0.99", "--seed", "7", "--out", str(out))
    assert result.exit_code == 0, result.output

    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == "dcgan" and config["data"] == "shapes"
    assert config["arch_params"] == {"ngf": 8, "ndf": 8, "dropout": 0.0, "norm": "spectral", "cond": "bn", "upsample": "transpose"}
    assert config["data_params"]["count"] == 256
    assert (config["steps"], config["epochs"], config["seed"], config["lr_g"], config["beta2"]) == (6, None, 7, 0.001, 0.99)
    assert config["ganzoo_version"]

    samples = sorted(p.name for p in (out / "samples").iterdir())
    assert samples == ["step_000003.png", "step_000006.png"]
    grid = np.asarray(Image.open(out / "samples" / "step_000006.png"))
    assert grid.shape == (8 * 18 + 2, 8 * 18 + 2, 3)  # 8x8 grid of 16px images, 2px padding
    assert grid.std() > 1

    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["kind"] == "full" and state["progress"]["step"] == 6
    assert {"generator", "discriminator", "opt_g", "opt_d", "rng"} <= set(state)
    snap = torch.load(out / "checkpoints" / "step_000003.pt", weights_only=True)
    assert snap["kind"] == "generator" and snap["progress"]["step"] == 3 and "opt_g" not in snap
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]  # no temp files left

    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 4, 6]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "d_accuracy", "images_per_s", "lr_g", "lr_d"):
        assert all(np.isfinite(r[key]) for r in records), key
    assert records[0]["lr_g"] == 0.001


def test_epochs_mode_names_samples_by_epoch(cli, tmp_path):
    out = tmp_path / "run"
    # 256 images / batch 64 = 4 steps an epoch
    args = [a if a != "16" or i != TINY.index("--batch-size") + 1 else "64" for i, a in enumerate(TINY)]
    result = cli("train", *args, "--epochs", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert load_checkpoint(out / "checkpoints" / "last.pt")["progress"]["step"] == 8


def test_cifar_arch_trains(cli, tmp_path):
    out = tmp_path / "c"
    result = cli("train", "--arch", "cifar", "--set", "ngf=16", "--set", "ndf=8", "--set", "count=128",
                 "--batch-size", "16", "--steps", "3", "--nz", "32", "--no-progress", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["image_size"] == 32
    assert (out / "samples" / "step_000003.png").exists()


def test_same_seed_same_weights(cli, tmp_path):
    weights = []
    for name in ("a", "b"):
        assert cli("train", *TINY, "--steps", "3", "--out", str(tmp_path / name)).exit_code == 0
        weights.append(load_checkpoint(tmp_path / name / "checkpoints" / "last.pt")["generator"])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_resume_continues_to_the_new_total(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "3", "--out", str(out)).exit_code == 0
    result = cli("train", "--resume", str(out), "--steps", "5", "--no-progress")
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out / "checkpoints" / "last.pt")["progress"]["step"] == 5
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")][-1] == 5


def test_resume_is_bit_identical_on_cpu(cli, tmp_path):
    assert cli("train", *TINY, "--steps", "6", "--out", str(tmp_path / "once")).exit_code == 0
    assert cli("train", *TINY, "--steps", "3", "--out", str(tmp_path / "twice")).exit_code == 0
    assert cli("train", "--resume", str(tmp_path / "twice"), "--steps", "6", "--no-progress").exit_code == 0
    a = load_checkpoint(tmp_path / "once" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "twice" / "checkpoints" / "last.pt")
    for net in ("generator", "discriminator"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "args,message",
    [
        (["--arch", "dcgann"], "unknown architecture 'dcgann'; did you mean 'dcgan'?"),
        (["--arch", "dcgan", "--data", "shape"], "unknown dataset 'shape'; did you mean 'shapes'?"),
        (["--arch", "dcgan", "--set", "ngff=3"], "did you mean 'ngf'?"),
        (["--arch", "dcgan", "--set", "ngf=wide"], "ngf='wide'"),
        (["--arch", "dcgan", "--set", "novalue"], "--set takes KEY=VALUE"),
        (["--arch", "dcgan", "--image-size", "48"], "supports image sizes 16, 32, 64, 128, 256, not 48"),
        (["--arch", "cifar", "--image-size", "128"], "not 128"),
        (["--arch", "dcgan", "--loss", "hinj"], "unknown loss 'hinj'"),
        (["--arch", "dcgan", "--steps", "0"], "steps must be a positive integer"),
        (["--arch", "dcgan", "--set", "count=8", "--batch-size", "16", "--steps", "1"], "fewer than one batch"),
        ([], "--arch is required"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, tmp_path, args, message):
    out = tmp_path / "never"
    result = cli("train", *args, "--out", str(out), "--no-progress")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("args,message", [
    (["--epochs", "1", "--steps", "2"], "give --epochs or --steps, not both"),
    (["--set", "ema=true", "--set", "ema_decay=1.5"], "ema_decay must be in (0, 1)"),
    (["--set", "ema_decay=-1"], "ema_decay must be in (0, 1)"),
    (["--set", "ngf=-4"], "ngf=-4: must be at least 1"),
    (["--set", "ndf=0"], "ndf=0: must be at least 1"),
    (["--set", "dropout=2"], "dropout=2.0: must be at most 1"),
    (["--set", "dropout=-0.5"], "dropout=-0.5: must be at least 0"),
    (["--set", "count=0"], "count=0: must be at least 1"),
    (["--set", "data.ngf=8"], "ngf is an architecture parameter; write arch.ngf"),
    (["--lr-g", "nan"], "lr-g must be a finite number, got nan"),
    (["--lr-d", "inf"], "lr-d must be a finite number, got inf"),
    (["--set", "dropout=nan"], "dropout=nan: must be a finite number"),
])
def test_out_of_range_values_are_usage_errors(cli, tmp_path, args, message):
    out = tmp_path / "never"
    base = ["--arch", "dcgan", "--image-size", "16", "--batch-size", "16", "--no-progress"]
    steps = [] if "--steps" in args else ["--steps", "1"]
    result = cli("train", *base, *steps, *args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("args,message", [
    (["--data", "shapes", "--download"], "dataset 'shapes' has no download. It is made on the fly: drop --download."),
    (["--data", "cifar10", "--download"], "dataset 'cifar10' needs --data-dir: the folder to download it into"),
    (["--data", "folder", "--download", "--data-dir", "."], "dataset 'folder' has no download. Point --data-dir at"),
])
def test_download_requests_that_cannot_work(cli, tmp_path, args, message):
    result = cli("train", "--arch", "dcgan", "--steps", "1", *args, "--no-progress", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_preset_gives_way_to_another_dataset(cli, tmp_path):
    # cifar-subset sets subset=2500 for CIFAR-10; with --data shapes that parameter is left out
    out = tmp_path / "run"
    result = cli("train", "--preset", "cifar-subset", "--data", "shapes", "--steps", "1", "--batch-size", "16",
                 "--set", "ngf=16", "--set", "ndf=16", "--set", "count=64", "--no-progress", "--out", str(out))
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["data"] == "shapes" and "subset" not in config["data_params"] and config["lr_g"] == 5e-3


def test_resume_refuses_a_total_behind_the_run(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "3", "--out", str(out)).exit_code == 0
    before = (out / "config.json").read_text()
    result = cli("train", "--resume", str(out), "--steps", "2")
    assert result.exit_code == 2 and "already at step 3" in result.output
    assert (out / "config.json").read_text() == before


@pytest.mark.parametrize("edit,message", [
    (lambda c: c.clear(), "not a ganzoo run configuration (missing arch"),
    (lambda c: c.update(batch_size=16.5), "batch_size=16.5 is not int"),
    (lambda c: c.update(batch_size=True), "batch_size=True is not int"),
    (lambda c: c.update(arch_params=[1]), "arch_params=[1] is not dict"),
    (lambda c: c.update(ema="yes"), "ema='yes' is not bool"),
    (lambda c: c["arch_params"].update(ngf=-3), "ngf=-3: must be at least 1"),
    (lambda c: c["arch_params"].update(ngf=16), "does not fit the networks"),
])
def test_resume_with_a_damaged_config_is_one_line(cli, tmp_path, edit, message):
    out = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "1", "--out", str(out)).exit_code == 0
    config = json.loads((out / "config.json").read_text())
    edit(config)
    (out / "config.json").write_text(json.dumps(config))
    result = cli("train", "--resume", str(out), "--steps", "2")
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_existing_run_suggests_resume(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "1", "--out", str(out)).exit_code == 0
    before = (out / "checkpoints" / "last.pt").read_bytes()
    result = cli("train", *TINY, "--steps", "1", "--out", str(out))
    assert result.exit_code == 2 and f"--resume {out}" in result.output
    assert (out / "checkpoints" / "last.pt").read_bytes() == before


def test_foreign_non_empty_directory_is_never_written(cli, tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    result = cli("train", *TINY, "--steps", "1", "--out", str(out))
    assert result.exit_code == 2 and "not empty" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["holiday.jpg"]


def test_verbose_shows_the_traceback(tmp_path):
    from click.testing import CliRunner

    from ganzoo.cli import main
    from ganzoo.errors import UsageError

    result = CliRunner().invoke(main, ["--verbose", "train", "--arch", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2  # the same exit code as without --verbose
    assert "Traceback" in result.output and f"{UsageError.__module__}.UsageError" in result.output


def test_an_unwritable_out_is_one_line(cli, tmp_path):
    (tmp_path / "afile").write_text("not a directory")
    result = cli("train", *TINY, "--steps", "1", "--out", str(tmp_path / "afile" / "run"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ") and "Not a directory" in result.output
