"""Building the Inception v3 feature extractor from a weights file.

The file is read once into memory and unpickled with ``weights_only=True`` (tensors only: a
file from the internet runs no code). The FID weights then go to torch-fidelity's
``FeatureExtractorInceptionV3`` as those same bytes, so what it loads is exactly what was
checked; the torchvision weights go to torchvision's ``inception_v3``.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.errors import GanzooError

FID_CLASSES = 1008  # the 2015-12-05 TensorFlow graph: 1,000 ImageNet classes + 8 unused
TORCHVISION_CLASSES = 1000


def read_state_dict(path: Path) -> tuple[bytes, dict]:
    """The file's bytes and its state dict; one line when it is not a tensors-only PyTorch file."""
    data = Path(path).read_bytes()
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler raises many types on foreign or unsafe bytes
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise GanzooError(f"{path} is not a PyTorch weights file that loads with weights_only=True "
                          f"({type(exc).__name__}{': ' + first if first else ''})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not isinstance(state.get("fc.weight"), torch.Tensor):
        raise GanzooError(f"{path} holds no Inception v3 state dict (no fc.weight)")
    return data, state


class FidInception(nn.Module):
    """torch-fidelity's reference FID Inception: uint8 (N, 3, H, W) -> ((N, 2048), (N, 1008)).

    The logits are torch-fidelity's ``logits_unbiased`` (no fc bias), which is what its
    Inception Score uses.
    """

    kind = "fid"

    def __init__(self, data: bytes):
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                               feature_extractor_weights_path=io.BytesIO(data))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, logits = self.net(x)
        return features, logits


class TorchvisionInception(nn.Module):
    """torchvision's ImageNet Inception v3: uint8 (N, 3, H, W) -> ((N, 2048), (N, 1000)).

    Resized to 299x299 (bilinear) and scaled to [-1, 1], the input the Google weights were
    trained on (what torchvision's ``transform_input`` reconstructs from ImageNet-normalised input).
    """

    kind = "torchvision"

    def __init__(self, state: dict):
        super().__init__()
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits="AuxLogits.fc.weight" in state, init_weights=False,
                           transform_input=False)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise GanzooError(f"torchvision Inception v3 weights do not fit ({str(exc).splitlines()[0]})") from None
        self.fc = net.fc
        net.fc = nn.Identity()  # the network now ends at the 2048 pooled features
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.float()  # (N, 3, H, W) 0..255
        if x.shape[-2:] != (299, 299):
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = (x - 127.5) / 127.5
        features = self.net(x)  # (N, 2048)
        return features, self.fc(features)  # (N, 1000)


def build_inception(path: Path, device: torch.device | str = "cpu") -> nn.Module:
    """The extractor for the weights in ``path``, in eval mode on ``device``."""
    data, state = read_state_dict(path)
    classes = state["fc.weight"].shape[0]
    if classes == FID_CLASSES:
        model: nn.Module = FidInception(data)
    elif classes == TORCHVISION_CLASSES:
        model = TorchvisionInception(state)
    else:
        raise GanzooError(f"{path}: an fc layer with {classes} classes is neither the FID Inception "
                          f"({FID_CLASSES}) nor torchvision's ({TORCHVISION_CLASSES})")
    return model.to(device).eval().requires_grad_(False)
