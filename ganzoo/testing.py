"""Helpers for testing a ganzoo plugin with pytest: CPU only, seconds, no data to download.

    import ganzoo_myplugin
    from ganzoo.testing import check_architecture, plugin_registered

    def test_my_architecture():
        with plugin_registered(ganzoo_myplugin) as registry:
            check_architecture(registry.architecture("mygan"))

``plugin_registered`` works whether or not the plugin is installed; ``check_architecture`` and
``check_dataset`` run the same checks ganzoo runs when a training run starts, and a few more.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ganzoo.plugins import Registry, load_registry, plugin_manager, require_loaded
from ganzoo.specs import ArchitectureSpec, DatasetRequest, DatasetSpec


@contextmanager
def plugin_registered(plugin: object) -> Iterator[Registry]:
    """Register ``plugin`` (a module with hook implementations) for the duration of the block
    and yield the registry; raise ``PluginError`` with ganzoo's one-line message when the
    plugin fails to load (a misspelled hook, a bad spec, a duplicate name...)."""
    pm = plugin_manager()
    added = not pm.is_registered(plugin)  # an installed plugin is registered already
    if added:
        pm.register(plugin, name=f"test:{getattr(plugin, '__name__', id(plugin))}")
    try:
        registry = load_registry(report=False)
        require_loaded(registry, plugin)
        yield registry
    finally:
        if added:
            pm.unregister(plugin)


def architecture_params(spec: ArchitectureSpec, image_size: int, params: Mapping[str, Any] | None = None) -> dict:
    """What the builders receive: ``nz``, ``image_size`` and every declared param's default,
    overridden by ``params`` (use it to make the networks narrow and the test fast)."""
    values = {"nz": spec.latent_size, "image_size": image_size, **{k: p.default for k, p in spec.params.items()}}
    values.update(params or {})
    return values


def check_architecture(
    spec: ArchitectureSpec, params: Mapping[str, Any] | None = None, sizes: Sequence[int] | None = None, batch: int = 3,
    num_classes: int | None = None,
) -> None:
    """At every declared image size (or ``sizes``): build G and D, run ganzoo's build-time shape
    check, and check that images are in [-1, 1] and not constant, logits are finite, and one
    generator update sends a finite gradient to every generator parameter.

    ``num_classes``: check the class-conditional networks (builders get ``num_classes``; G and
    D are called with class ids ``y``), as a conditional run builds them."""
    import torch

    from ganzoo.networks import build_discriminator, build_generator, check_shapes

    for size in sizes or spec.image_sizes:
        values = architecture_params(spec, size, params)
        if num_classes is not None:
            values["num_classes"] = num_classes
        torch.manual_seed(0)
        g, d = build_generator(spec, values), build_discriminator(spec, values)
        check_shapes(spec, g, d, values, conditional=num_classes is not None)
        y = torch.arange(batch) % num_classes if num_classes is not None else None
        z = torch.randn(batch, values["nz"])
        images = g(z, y) if y is not None else g(z)  # (batch, 3, size, size)
        where = f"architecture {spec.name!r} at {size}x{size}"
        assert images.min() >= -1 and images.max() <= 1, f"{where}: images outside [-1, 1] (end the generator with tanh)"
        assert images.std() > 0, f"{where}: the generator's output is constant"
        logits = (d(images, y) if y is not None else d(images)).view(-1)  # (batch,)
        assert logits.shape == (batch,), f"{where}: expected {batch} logits, got {tuple(logits.shape)}"
        assert torch.isfinite(logits).all(), f"{where}: non-finite logits"
        logits.mean().backward()
        for name, p in g.named_parameters():
            if p.requires_grad:
                assert p.grad is not None, f"{where}: generator parameter {name} gets no gradient"
                assert torch.isfinite(p.grad).all(), f"{where}: non-finite gradient in {name}"


def check_dataset(
    spec: DatasetSpec, image_size: int = 16, params: Mapping[str, Any] | None = None, data_dir: str | Path | None = None
) -> Any:
    """Load the dataset through ganzoo's data path at ``image_size``; return the ``LoadedImages``
    (``.images`` is uint8, (N, image_size, image_size, 3)) after checking its shape."""
    from ganzoo.data import load_images

    values = {k: p.default for k, p in spec.params.items()}
    values.update(params or {})
    request = DatasetRequest(data_dir=Path(data_dir) if data_dir else None, image_size=image_size, params=values)
    loaded = load_images(spec, request)
    images = loaded.images
    assert images.dtype.name == "uint8" and images.ndim == 4, f"dataset {spec.name!r}: got {images.dtype} {images.shape}"
    assert images.shape[1:] == (image_size, image_size, 3), f"dataset {spec.name!r}: got images of shape {images.shape}"
    assert len(images) > 0, f"dataset {spec.name!r}: no images"
    return loaded
