"""The ``metadata_props`` that make an exported file self-describing (DESIGN.md, "Export and generation").

A consumer that knows nothing of ganzoo reads these with onnxruntime
(``session.get_modelmeta().custom_metadata_map``): the latent shape to sample, the image size,
channels and value range to decode; a class-conditional one adds ``ganzoo.num_classes`` and
``ganzoo.class_names`` (the id of a name is its index in that JSON list). All values are strings (ONNX metadata is string-to-string);
lists and the config are JSON.
"""

from __future__ import annotations

import json
from typing import Any

import ganzoo

OUTPUT_RANGE = [-1, 1]


def export_metadata(*, arch: str, latent_shape: tuple[int, ...], image_size: int, config: dict[str, Any],
                    weights: str, precision: str, folded: int, opset: int, channels: int = 3,
                    num_classes: int | None = None, class_names: list[str] | None = None) -> dict[str, str]:
    meta = {
        "ganzoo.arch": arch,
        "ganzoo.latent_shape": json.dumps(list(latent_shape)),
        "ganzoo.image_size": str(image_size),
        "ganzoo.channels": str(channels),
        "ganzoo.output_range": json.dumps(OUTPUT_RANGE),
        "ganzoo.version": ganzoo.__version__,
        "ganzoo.config": json.dumps(config, sort_keys=True),
        # beyond the contract, useful to whoever ships the file:
        "ganzoo.weights": weights,  # "ema" or "generator"
        "ganzoo.precision": precision,  # "fp32" or "fp16" (the input and output dtype too)
        "ganzoo.batchnorm_folded": str(folded),
        "ganzoo.opset": str(opset),
        "ganzoo.latent_distribution": "standard normal",
    }
    if num_classes is not None:  # a class-conditional generator: a second input y, int64 (N,)
        meta["ganzoo.num_classes"] = str(num_classes)
        meta["ganzoo.class_names"] = json.dumps(list(class_names or [str(i) for i in range(num_classes)]))
    return meta


def set_metadata(model_proto, metadata: dict[str, str]) -> None:
    """Replace the model's metadata_props with ``metadata`` (keys sorted, so files diff cleanly)."""
    del model_proto.metadata_props[:]
    for key in sorted(metadata):
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, metadata[key]
