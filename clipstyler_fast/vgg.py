"""The frozen VGG-19 encoder, up to relu4_1, and where its weights come from."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import VGG19_Weights
from torchvision.models.vgg import cfgs, make_layers

from .weights import WeightsUnavailableError, download_failed, existing_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's vgg19().features[:21] ends with relu4_1.
RELU4_1 = 21
DEFAULT_VGG = "imagenet"


class VGGEncoder(nn.Module):
    """ImageNet-normalising VGG-19 feature extractor returning relu4_1 (512 channels, 1/8 size).

    Input images are RGB in [0, 1].
    """

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.features = features
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features((images - self.mean.to(images.dtype)) / self.std.to(images.dtype))


def _features_state_dict(state_dict: dict[str, torch.Tensor], source: Path) -> dict[str, torch.Tensor]:
    """Pick the encoder's layers out of a torchvision VGG-19 state dict (full or features-only)."""
    wanted = {k: v for k, v in state_dict.items() if k.startswith("features.")}
    out = {}
    for key, value in wanted.items():
        index = int(key.split(".")[1])
        if index < RELU4_1:
            out[key.removeprefix("features.")] = value
    if not out:
        raise WeightsUnavailableError(
            f"{source}: not a torchvision VGG-19 state dict (no 'features.*' keys); "
            "save one with torch.save(torchvision.models.vgg19(...).state_dict(), path)"
        )
    return out


def load_vgg_encoder(source: str | Path = DEFAULT_VGG) -> VGGEncoder:
    """Build the frozen encoder from ``"imagenet"`` (torchvision download) or a state-dict file.

    The file may hold torchvision's full ``vgg19`` state dict or only its ``features.*`` entries.
    """
    # The convolutional layers alone: building all of vgg19() would also allocate its ~550 MB
    # classifier, only to throw it away (and raise every process's peak memory by as much).
    features = make_layers(cfgs["E"])[:RELU4_1]
    if str(source) == DEFAULT_VGG:
        weights = VGG19_Weights.IMAGENET1K_V1
        try:
            state = weights.get_state_dict(progress=True, check_hash=True)
        except Exception as error:  # urllib, hash and I/O errors all mean the same to a user
            raise download_failed(
                "VGG-19 ImageNet weights",
                Path(weights.url).name,
                weights.url,
                "--model.vgg_weights PATH",
                error,
            ) from error
        source_path = Path(weights.url)
    else:
        source_path = existing_file(source, "--model.vgg_weights")
        try:
            state = torch.load(source_path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise WeightsUnavailableError(f"{source_path}: cannot read VGG-19 weights ({error})") from error
    try:
        features.load_state_dict(_features_state_dict(state, source_path))
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise WeightsUnavailableError(f"{source_path}: not VGG-19 weights ({first[-1].strip() if first else error})") from error
    encoder = VGGEncoder(features).eval()
    encoder.requires_grad_(False)
    return encoder
