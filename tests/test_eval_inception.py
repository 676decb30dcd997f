"""The built-in ``inception`` extractor: both weight formats load (tensors only) and give the
right shapes; foreign files are one line. Without the real weights on this machine, the
random-weights tests check the wiring only; with them (``GANZOO_INCEPTION_WEIGHTS`` or the
usual places), FID is compared with torch-fidelity's own end-to-end computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganzoo.errors import GanzooError, UsageError
from ganzoo.eval.extractor import array_batches, open_extractor, sha256_file


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """Randomly initialised Inception v3 weights in both layouts (same architecture as the real files)."""
    from torchvision.models import inception_v3

    root = tmp_path_factory.mktemp("inception")
    torch.manual_seed(0)
    fid_net = inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    torch.save(fid_net.state_dict(), root / "pt_inception-random.pth")
    tv_net = inception_v3(weights=None, aux_logits=True, num_classes=1000, init_weights=False)
    torch.save(tv_net.state_dict(), root / "inception_v3_google-random.pth")
    return {"fid": root / "pt_inception-random.pth", "torchvision": root / "inception_v3_google-random.pth"}


@pytest.mark.parametrize("kind, classes", [("fid", 1008), ("torchvision", 1000)])
def test_both_weight_files_give_pool_features_and_logits(registry, random_weights, kind, classes):
    ext = open_extractor(registry, "inception", random_weights[kind])
    assert ext.module.kind == kind
    assert ext.weights_sha256 == sha256_file(random_weights[kind])
    assert ext.label == f"inception[sha256:{ext.weights_sha256[:8]}]"
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    found = ext.features(array_batches(images, 2), progress=False)
    assert found.features.shape == (2, 2048) and found.logits.shape == (2, classes)
    assert np.isfinite(found.features).all() and (found.features >= 0).all()  # pooled ReLU outputs


class NotWeights:
    """Not a tensor: unpickling it would import and build an arbitrary object."""


def test_foreign_files_are_one_line(registry, tmp_path):
    torch.save({"fc.weight": NotWeights()}, tmp_path / "code.pth")  # would need the unpickler to build an object
    with pytest.raises(GanzooError, match="weights_only=True"):
        open_extractor(registry, "inception", tmp_path / "code.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(GanzooError, match="not a PyTorch weights file"):
        open_extractor(registry, "inception", tmp_path / "text.pth")
    torch.save({"fc.weight": torch.zeros(10, 2048)}, tmp_path / "small.pth")
    with pytest.raises(GanzooError, match="10 classes"):
        open_extractor(registry, "inception", tmp_path / "small.pth")


def test_weights_are_found_in_the_usual_places(tmp_path, monkeypatch):
    from ganzoo_inception.weights import FID_FILE, TORCHVISION_FILE, find_weights

    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("GANZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(UsageError, match="fetch https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"):
        find_weights()
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / TORCHVISION_FILE).write_bytes(b"x")
    assert find_weights() == hub / TORCHVISION_FILE  # torch.hub's folder, where other tools put it
    ours = tmp_path / "cache" / "weights"
    ours.mkdir(parents=True)
    (ours / FID_FILE).write_bytes(b"x")
    assert find_weights() == ours / FID_FILE  # ganzoo's own place first
    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(hub / TORCHVISION_FILE))
    assert find_weights() == hub / TORCHVISION_FILE  # the environment beats the places
    assert find_weights(str(ours / FID_FILE)) == ours / FID_FILE  # and the flag beats the environment


def _real_weights():
    from ganzoo_inception.weights import find_weights

    try:
        return find_weights()
    except UsageError:
        return None


@pytest.mark.skipif(_real_weights() is None, reason="no Inception v3 weights on this machine "
                    "(put pt_inception-2015-12-05-6726825d.pth in the cache dir's weights/ or set GANZOO_INCEPTION_WEIGHTS)")
def test_fid_matches_torch_fidelity_end_to_end(registry, tmp_path):
    """Two folders of 64x64 shapes PNGs: our FID (features through ganzoo) equals torch-fidelity's
    calculate_metrics on the same files with the same weights."""
    import torch_fidelity
    from PIL import Image

    from ganzoo.eval.metrics import fid
    from ganzoo_shapes.render import render_shapes

    weights = _real_weights()
    ext = open_extractor(registry, "inception", weights)
    if ext.module.kind != "fid":
        pytest.skip("the weights found are torchvision's; torch-fidelity's reference needs the FID Inception")
    sets = {}
    for name, seed, kinds in (("a", 0, ["circle", "square"]), ("b", 1, ["triangle", "square"])):
        images = render_shapes(count=200, image_size=64, kinds=kinds, seed=seed).images
        (tmp_path / name).mkdir()
        for i, im in enumerate(images):
            Image.fromarray(im).save(tmp_path / name / f"{i:03d}.png")
        sets[name] = ext.features(array_batches(images, 50), progress=False)
    ours = fid(sets["a"], sets["b"])
    theirs = torch_fidelity.calculate_metrics(input1=str(tmp_path / "b"), input2=str(tmp_path / "a"), fid=True, cuda=False,
                                              feature_extractor_weights_path=str(weights), cache=False, verbose=False)
    assert ours == pytest.approx(theirs["frechet_inception_distance"], rel=1e-3)
