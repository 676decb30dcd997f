"""``inception``: Inception v3 features for FID, KID, MiFID, IS and precision/recall, from a
weights file on disk (nothing is ever downloaded).

Two files are accepted, told apart by their tensors:

- ``pt_inception-2015-12-05-6726825d.pth``: the TensorFlow FID Inception converted to PyTorch
  (pytorch-fid's file; torch-fidelity ships the same weights as
  ``weights-inception-2015-12-05-6726825d.pth``). It runs through torch-fidelity's
  ``FeatureExtractorInceptionV3``, the reference implementation: TF-1.x-compatible bilinear
  resize to 299x299, 2048 pool features, 1008 logits. FID figures from it are comparable with
  published ones.
- ``inception_v3_google-0cc3c7bd.pth``: torchvision's ImageNet Inception v3, run by torchvision's
  own model (2048 pool features, 1000 logits). Its figures are *not* comparable with published
  FIDs, only with other figures made with the same file; the label in every output says which
  file (by its SHA-256) made a number.
"""

import ganzoo
from ganzoo import ExtractorSpec, hookimpl

ganzoo.require_api("1.2")


def weights_file(given):
    from ganzoo_inception.weights import find_weights

    return find_weights(given)


def build(request):
    from ganzoo_inception.networks import build_inception

    return build_inception(request.weights, request.device)


@hookimpl
def ganzoo_register_extractors(register):
    register(
        ExtractorSpec(
            name="inception",
            description="Inception v3 pool features (2048) and logits, from local weights (FID Inception or torchvision)",
            feature_dim=2048,
            build=build,
            has_logits=True,
            input_range="uint8",
            input_size=None,  # resized to 299x299 inside, as the reference implementation does
            weights_file=weights_file,
        )
    )
