"""``ganzoo eval`` from the command line: every SOURCE kind, the output forms, the real-statistics
cache, and the one-line errors. The extractor is the small test one registered as a plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from ganzoo.cli import main

from conftest import TINY

EVAL = ["--real", "shapes", "--extractor", "tiny", "--metrics", "fid,kid,mifid,is,pr", "--no-progress"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A 2-step 16x16 run on 256 shapes, its ONNX export, and 40 images from it as dir, zip and npy."""
    root = tmp_path_factory.mktemp("evalsrc")
    run = root / "run"
    runner = CliRunner()

    def ok(*args):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    ok("train", *TINY, "--steps", "2", "--out", str(run))
    ok("export", str(run), "--onnx", str(root / "g.onnx"))
    for out in ("imgs", "imgs.zip", "imgs.npy"):
        ok("generate", str(run), "--num", "40", "--out", str(root / out), "--no-progress")
    return {"run": run, "checkpoint": run / "checkpoints" / "last.pt", "onnx": root / "g.onnx",
            "folder": root / "imgs", "zip": root / "imgs.zip", "npy": root / "imgs.npy"}


@pytest.mark.parametrize("kind", ["run", "checkpoint", "onnx", "folder", "zip", "npy"])
def test_every_source_kind_is_scored(cli, sources, tiny_extractor, kind):
    generator = kind in ("run", "checkpoint", "onnx")
    result = cli("eval", str(sources[kind]), *EVAL, "--num", "40", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["num_generated"] == 40 and out["image_size"] == 16
    # a generator SOURCE brings its run's dataset parameters (count=256); images alone, the dataset's defaults
    assert out["num_real"] == (256 if generator else 8192)
    assert out["extractor"] == "tiny" and out["extractor_label"] == "tiny"
    assert set(out["metrics"]) == {"fid", "kid", "kid_std", "mifid", "mifid_distance", "is", "is_std", "precision", "recall"}
    assert out["metrics"]["fid"] > 0


def test_generators_agree_and_the_table_labels_every_figure(cli, sources, tiny_extractor):
    """The torch and onnx backends make the same images from the same seed: the same FID; and
    the .npy written by `ganzoo generate` from that seed scores the same too."""
    fids = {}
    for kind in ("run", "onnx", "npy"):
        result = cli("eval", str(sources[kind]), *EVAL, "--real", str(sources["folder"]), "--num", "40", "--json")
        fids[kind] = json.loads(result.output)["metrics"]["fid"]
    assert fids["run"] == pytest.approx(fids["onnx"], rel=1e-3) and fids["run"] == pytest.approx(fids["npy"], rel=1e-3)
    result = cli("eval", str(sources["npy"]), *EVAL)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    rows = [line for line in lines[2:]]
    assert [r.split()[0] for r in rows] == ["FID", "KID", "MiFID", "IS", "precision", "recall"]
    assert all(r.rstrip().endswith("tiny") for r in rows)
    assert "extractor tiny" in lines[0] and "±" in rows[1]


def test_a_run_source_appends_to_eval_jsonl(cli, sources, tiny_extractor):
    log = sources["run"] / "eval.jsonl"
    before = log.read_text().splitlines() if log.exists() else []
    assert cli("eval", str(sources["run"]), *EVAL, "--num", "20").exit_code == 0
    assert cli("eval", str(sources["npy"]), *EVAL).exit_code == 0  # not a run: nothing appended
    lines = log.read_text().splitlines()
    assert len(lines) == len(before) + 1
    record = json.loads(lines[-1])
    assert record["extractor_label"] == "tiny" and record["num_generated"] == 20 and "fid" in record["metrics"]


def test_real_statistics_are_cached(cli, sources, tiny_extractor, tmp_path, caplog):
    import evalfixtures

    caplog.set_level("INFO", logger="ganzoo")
    args = ["eval", str(sources["run"]), *EVAL, "--num", "40", "--cache-dir", str(tmp_path / "c"), "--json"]
    seen = evalfixtures.SEEN["tiny"]
    first = json.loads(cli(*args).output)
    assert evalfixtures.SEEN["tiny"] - seen == 256 + 40 and not first["real_statistics_cached"]
    assert "computed" in caplog.text and "cached in" in caplog.text
    caplog.clear()
    seen = evalfixtures.SEEN["tiny"]
    second = json.loads(cli(*args).output)
    assert evalfixtures.SEEN["tiny"] - seen == 40  # only the generated images went through the extractor
    assert second["real_statistics_cached"] and "from the cache" in caplog.text and "not recomputed" in caplog.text
    assert second["metrics"] == first["metrics"]
    entries = list((tmp_path / "c" / "eval").iterdir())
    assert len(entries) == 1 and entries[0].name.startswith("tiny-16px-")
    assert {p.name for p in entries[0].iterdir()} == {"features.npy", "logits.npy", "mu.npy", "sigma.npy", "manifest.json"}
    # another extractor is another entry: the figures and the cache never mix extractors
    assert cli("eval", str(sources["run"]), "--real", "shapes", "--extractor", "tiny-nologits", "--metrics", "fid",
               "--num", "40", "--cache-dir", str(tmp_path / "c"), "--no-progress").exit_code == 0
    assert len(list((tmp_path / "c" / "eval").iterdir())) == 2


def test_real_folder_and_a_copying_generator(cli, sources, tiny_extractor, tmp_path):
    """--real as a folder; SOURCE = real images handed back: FID small, MiFID far above it."""
    from PIL import Image

    from ganzoo_shapes.render import render_shapes

    real = tmp_path / "real"
    real.mkdir()
    images = render_shapes(count=60, image_size=16, kinds=["circle", "square", "triangle"], seed=3).images
    for i, im in enumerate(images):
        Image.fromarray(im).save(real / f"{i:03d}.png")
    np.save(tmp_path / "copies.npy", images[:30])  # a generator that memorised half the training set
    result = cli("eval", str(tmp_path / "copies.npy"), "--real", str(real), "--extractor", "tiny",
                 "--metrics", "fid,mifid", "--json", "--no-progress")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["num_real"] == 60 and out["metrics"]["fid"] > 0
    assert out["metrics"]["mifid_distance"] < 1e-4 and out["metrics"]["mifid"] > 1e6 * out["metrics"]["fid"]
    theirs = json.loads(cli("eval", str(sources["npy"]), "--real", str(real), "--extractor", "tiny",
                            "--metrics", "fid,mifid", "--json", "--no-progress").output)
    assert theirs["metrics"]["mifid_distance"] > out["metrics"]["mifid_distance"]


@pytest.mark.parametrize("args, message", [
    (["--metrics", "fid,foo"], "unknown metric 'foo'"),
    (["--extractor", "tiny-nologits", "--metrics", "is"], "gives no class logits"),
    (["--extractor", "tinyy"], "did you mean 'tiny'"),
    (["--num", "41"], "--num 41, but"),
    (["--real", "./no-such-folder"], "no such folder"),
    (["--real", "shapez"], "did you mean 'shapes'"),
    (["--inception-weights", "w.pth"], "loads no weights file"),
])
def test_bad_requests_are_one_line_exit_2(cli, sources, tiny_extractor, args, message):
    base = {"--real": "shapes", "--extractor": "tiny"}
    for flag in ("--real", "--extractor"):
        if flag in args:
            base.pop(flag)
    result = cli("eval", str(sources["npy"]), *[x for kv in base.items() for x in kv], *args, "--no-progress")
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_missing_inception_weights_is_one_line_exit_2(cli, sources, tmp_path, monkeypatch):
    """No weights anywhere ganzoo looks: what to fetch and where to put it, in one line, at once."""
    env = {**os.environ, "GANZOO_CACHE_DIR": str(tmp_path / "cache"), "TORCH_HOME": str(tmp_path / "torch")}
    env.pop("GANZOO_INCEPTION_WEIGHTS", None)
    code = "import sys; from ganzoo.cli import main; sys.exit(main())"
    result = subprocess.run([sys.executable, "-c", code, "eval", str(sources["npy"]), "--real", "shapes"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "pt_inception-2015-12-05-6726825d.pth" in lines[0] and "https://github.com/mseitzer/pytorch-fid" in lines[0]
    assert str(tmp_path / "cache" / "weights") in lines[0] and "GANZOO_INCEPTION_WEIGHTS" in lines[0]
    # a path given that is not there is named as such, whether by flag or by the environment
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(tmp_path / "nope.pth"))
    result = cli("eval", str(sources["npy"]), "--real", "shapes")
    assert result.exit_code == 2 and f"GANZOO_INCEPTION_WEIGHTS {tmp_path / 'nope.pth'} is not a file" in result.output
    result = cli("eval", str(sources["npy"]), "--real", "shapes", "--inception-weights", str(tmp_path / "w.pth"))
    assert result.exit_code == 2 and f"--inception-weights {tmp_path / 'w.pth'} is not a file" in result.output
