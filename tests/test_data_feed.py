"""Batches from the uint8 set: augmentation that is reproducible per batch, DiffAugment that is differentiable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.data import BatchFeed
from ganzoo.data.augment import DiffAugment, FeedAugment


def _images(n=32, size=16):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_plain_batches_are_the_images_scaled_to_unit_range():
    images = _images()
    feed = BatchFeed(images, 8, torch.device("cpu"), seed=3)
    seen = torch.cat([feed.batch(i) for i in range(feed.batches_per_epoch)])  # one epoch: every image once
    assert seen.shape == (32, 3, 16, 16) and seen.min() >= -1 and seen.max() <= 1
    as_uint8 = ((seen + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert sorted(map(bytes, as_uint8)) == sorted(map(bytes, images))


def test_augmented_batch_depends_only_on_seed_and_index():
    aug = FeedAugment(flip=True, zoom=0.2, shear=10, translate=0.1)
    a = BatchFeed(_images(), 8, torch.device("cpu"), seed=1, augment=aug)
    b = BatchFeed(_images(), 8, torch.device("cpu"), seed=1, augment=aug)
    for _ in range(5):
        b.batch(0)  # b has served other batches first, as before a resume
    torch.testing.assert_close(a.batch(7), b.batch(7))
    plain = BatchFeed(_images(), 8, torch.device("cpu"), seed=1)
    assert not torch.equal(a.batch(7), plain.batch(7))


def test_flip_mirrors_about_half_of_the_images():
    images = _images(n=256)
    plain = BatchFeed(images, 256, torch.device("cpu"), seed=0).batch(0)
    flipped = BatchFeed(images, 256, torch.device("cpu"), seed=0, augment=FeedAugment(flip=True)).batch(0)
    mirrored = (flipped == plain.flip(3)).flatten(1).all(1)  # (256,)
    unchanged = (flipped == plain).flatten(1).all(1)
    assert bool((mirrored | unchanged).all())
    assert 80 < int(mirrored.sum()) < 176


def test_affine_keeps_range_and_shape():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    out = FeedAugment(zoom=0.3, shear=20, translate=0.2)(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= -1 - 1e-5 and out.max() <= 1 + 1e-5
    assert not torch.allclose(out, x)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_diffaugment_is_differentiable_and_random(policy):
    torch.manual_seed(0)
    x = (torch.rand(6, 3, 16, 16) * 2 - 1).requires_grad_()
    aug = DiffAugment(policy)
    out = aug(x)
    assert out.shape == x.shape
    out.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert not torch.allclose(aug(x), aug(x))


def test_diffaugment_translation_moves_pixels_and_pads_with_zeros():
    torch.manual_seed(1)
    x = torch.ones(64, 1, 16, 16)
    out = DiffAugment("translation")(x)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert (out == 0).flatten(1).any(1).float().mean() > 0.5  # most images were shifted


def test_cutout_zeroes_a_quarter_of_the_area():
    torch.manual_seed(2)
    out = DiffAugment("cutout")(torch.ones(64, 3, 16, 16))
    zero_fraction = (out == 0).float().mean().item()
    assert 0.1 < zero_fraction <= 0.25


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="colour"):
        DiffAugment("colour")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_set_lives_on_the_device_and_augments_there():
    feed = BatchFeed(_images(), 8, torch.device("cuda"), seed=0, augment=FeedAugment(flip=True, zoom=0.1))
    assert feed.on_device and feed.images.is_cuda
    x = feed.batch(3)
    assert x.is_cuda and x.shape == (8, 3, 16, 16)
    cpu = BatchFeed(_images(), 8, torch.device("cpu"), seed=0, augment=FeedAugment(flip=True, zoom=0.1)).batch(3)
    torch.testing.assert_close(x.cpu(), cpu, atol=1e-4, rtol=0)


def test_augmented_training_resumes_exactly(tmp_path, cli):
    """N+M steps in one go equal N steps then a resume for M, with feed augmentation and DiffAugment on."""
    from ganzoo.checkpoint import load_checkpoint

    images = _images(n=16)
    (tmp_path / "imgs").mkdir()
    for i, im in enumerate(images):
        Image.fromarray(im).save(tmp_path / "imgs" / f"{i}.png")
    args = ["--arch", "dcgan", "--image-size", "16", "--set", "ngf=8", "--set", "ndf=8", "--batch-size", "4",
            "--no-progress", "--data", "folder", "--data-dir", str(tmp_path / "imgs"), "--set", "flip=true",
            "--set", "zoom=0.1", "--set", "translate=0.1", "--set", "diffaugment=color,translation,cutout",
            "--device", "cpu"]
    assert cli("train", *args, "--steps", "6", "--out", str(tmp_path / "whole")).exit_code == 0
    assert cli("train", *args, "--steps", "3", "--out", str(tmp_path / "split")).exit_code == 0
    assert cli("train", "--resume", str(tmp_path / "split"), "--steps", "6", "--no-progress").exit_code == 0
    whole = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")["generator"]
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["generator"]
    for key in whole:
        torch.testing.assert_close(whole[key], split[key], rtol=0, atol=0)
