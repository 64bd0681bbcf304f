"""The frozen VGG-19 encoders, up to relu4_1, and where their weights come from.

Two encoders compute relu4_1 from RGB in [0, 1]; they share VGG-19's layer shapes but not its
arithmetic, so a decoder and the loss weights belong to one of them:

- ``adain`` (the default): AdaIN's Caffe-converted "normalised" VGG-19 (``vgg_normalised.pth``),
  the encoder the reference recipe's loss weights were tuned on. A leading 1x1 convolution does
  the input normalisation; every 3x3 convolution is preceded by reflection padding; max pooling
  rounds up (ceil mode).
- ``torchvision``: torchvision's ``vgg19`` (zero padding, ImageNet mean/std normalisation).
  Changing only the padding moves relu4_1 by about a quarter, so it needs its own pre-trained
  decoder (``clipstyler-fast pretrain``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torchvision.models import VGG19_Weights
from torchvision.models.vgg import cfgs, make_layers

from clipstyler_fast.errors import WeightsUnavailableError
from clipstyler_fast.nets.weights import cached_download, existing_file

EncoderKind = Literal["adain", "torchvision"]
ENCODERS: tuple[str, ...] = ("adain", "torchvision")
DEFAULT_ENCODER: EncoderKind = "adain"
# A ``vgg_weights`` value meaning "the encoder's official weights, downloaded once".
AUTO = "auto"
# Older spelling of torchvision's download, still found in configs and checkpoints.
IMAGENET = "imagenet"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ADAIN_RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
VGG_NORMALISED_URL = f"{ADAIN_RELEASE}/vgg_normalised.pth"

# VGG-19's convolution widths and pools ("M") up to relu4_1.
_TO_RELU4_1 = cfgs["E"][: cfgs["E"].index(512) + 1]
# torchvision's vgg19().features[:21] ends with relu4_1.
RELU4_1 = 21
# vgg_normalised: the 1x1 conv, then (pad, conv, relu) per convolution and a pool per stage: 31 modules.
ADAIN_RELU4_1 = 31


class VGGEncoder(nn.Module):
    """Frozen feature extractor returning relu4_1 (512 channels, 1/8 size) of RGB images in [0, 1].

    ``kind`` names the encoder (``adain`` or ``torchvision``); only ``torchvision`` normalises its
    input here (``adain`` does it in its first, 1x1, convolution).
    """

    def __init__(self, features: nn.Sequential, kind: EncoderKind = "torchvision") -> None:
        super().__init__()
        self.kind = kind
        self.features = features
        self.normalize = ImageNetNormalize() if kind == "torchvision" else nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(self.normalize(images))


class ImageNetNormalize(nn.Module):
    """``(x - mean) / std`` with ImageNet's statistics, in the input's dtype."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)


def build_adain_features() -> nn.Sequential:
    """AdaIN's ``vgg_normalised`` layer layout up to relu4_1.

    Module indices match the released state dict: ``0`` is the 1x1 conv 3->3, then a reflection
    pad / 3x3 conv / ReLU triple per convolution and a ceil-mode max pool per stage.
    """
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    channels = 3
    for item in _TO_RELU4_1:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, int(item), 3), nn.ReLU()]
            channels = int(item)
    return nn.Sequential(*layers)


def build_torchvision_features() -> nn.Sequential:
    # The convolutional layers alone: building all of vgg19() would also allocate its ~550 MB
    # classifier, only to throw it away (and raise every process's peak memory by as much).
    return make_layers(cfgs["E"])[:RELU4_1]


def weights_layout(state: dict[str, Any]) -> str | None:
    """Which released network a state dict holds: ``torchvision``, ``adain`` (vgg_normalised),
    ``decoder`` (AdaIN's decoder.pth, which is ours), ``checkpoint`` (clipstyler-fast), or None."""
    if "state_dict" in state:
        return "checkpoint"
    if any(str(k).startswith("features.") for k in state):
        return "torchvision"
    first = state.get("0.weight")
    if isinstance(first, torch.Tensor) and tuple(first.shape) == (3, 3, 1, 1):
        return "adain"
    second = state.get("1.weight")
    if isinstance(second, torch.Tensor) and tuple(second.shape) == (256, 512, 3, 3):
        return "decoder"
    return None


LAYOUT_NAMES = {
    "torchvision": "torchvision VGG-19 weights",
    "adain": "AdaIN's vgg_normalised VGG-19 weights",
    "decoder": "decoder weights (AdaIN decoder.pth layout)",
    "checkpoint": "a clipstyler-fast checkpoint",
    None: "no known network",
}


def check_encoder_kind(kind: str) -> EncoderKind:
    if kind not in ENCODERS:
        raise WeightsUnavailableError(f"encoder {kind!r} is not one of {', '.join(ENCODERS)}; e.g. `encoder` adain")
    return kind  # type: ignore[return-value]


def encoder_weights_file(kind: str, source: str | Path | None = AUTO) -> Path:
    """The local file of the encoder's weights: ``source`` itself, or the official release
    downloaded once into torch's cache (``auto``; ``imagenet`` for torchvision's)."""
    kind = check_encoder_kind(kind)
    name = str(source) if source is not None else AUTO
    if name == IMAGENET and kind != "torchvision":
        raise WeightsUnavailableError(
            "`vgg_weights` imagenet names torchvision's VGG-19; use it with `encoder` torchvision, "
            f"or pass {AUTO} for the {kind} encoder's own weights"
        )
    if name in (AUTO, IMAGENET):
        if kind == "torchvision":
            return cached_download(VGG19_Weights.IMAGENET1K_V1.url, "VGG-19 ImageNet weights (torchvision)", "vgg_weights")
        return cached_download(VGG_NORMALISED_URL, "VGG-19 vgg_normalised weights (AdaIN)", "vgg_weights", "pytorch-AdaIN")
    return existing_file(name, "vgg_weights")


def load_vgg_encoder(source: str | Path | None = AUTO, kind: str = DEFAULT_ENCODER) -> VGGEncoder:
    """Build the frozen ``kind`` encoder from its official weights (``auto``) or a state-dict file.

    A file may hold the whole released network (torchvision's full ``vgg19``, or all 53 modules
    of ``vgg_normalised``) or only the layers up to relu4_1; the rest is ignored. A file of the
    other encoder's layout, or of another network, is refused in one line naming the option.
    """
    kind = check_encoder_kind(kind)
    features, limit = (build_torchvision_features(), RELU4_1) if kind == "torchvision" else (build_adain_features(), ADAIN_RELU4_1)
    return VGGEncoder(_load_features(encoder_weights_file(kind, source), kind, features, limit), kind).eval().requires_grad_(False)


# torchvision's vgg19().features[:32] ends with relu5_2 (index 31).
RELU5_2 = 32


class ContentLayers(nn.Module):
    """Frozen torchvision VGG-19 returning ``(relu4_2, relu5_2)`` of RGB images in [0, 1], ImageNet-normalised.

    The per-image mode's content layers. Its published code stores the outputs of modules 21 and
    31 under the names ``conv4_2`` and ``conv5_2``, but torchvision's ReLUs work in place, so
    what it compares are the rectified activations, relu4_2 and relu5_2: so do we.
    """

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.features = features
        self.normalize = ImageNetNormalize()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features[:23](self.normalize(images))
        return x, self.features[23:](x)


def load_content_layers(source: str | Path | None = AUTO) -> ContentLayers:
    """torchvision's VGG-19 up to relu5_2 from its official weights (``auto``) or a state-dict file."""
    features = _load_features(encoder_weights_file("torchvision", source), "torchvision", make_layers(cfgs["E"])[:RELU5_2], RELU5_2)
    return ContentLayers(features).eval().requires_grad_(False)


def _load_features(path: Path, kind: EncoderKind, features: nn.Sequential, limit: int) -> nn.Sequential:
    """Load the modules of ``features`` (indices below ``limit``) from the ``kind`` weights file ``path``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsUnavailableError(f"{path}: cannot read VGG-19 weights ({error})") from error
    layout = weights_layout(state) if isinstance(state, dict) else None
    if layout != kind:
        fix = f"pass `encoder` {layout} to use them" if layout in ENCODERS else f"pass a file with {LAYOUT_NAMES[kind]} as `vgg_weights`"
        raise WeightsUnavailableError(f"{path}: holds {LAYOUT_NAMES[layout]}, not {LAYOUT_NAMES[kind]}; {fix}")
    wanted = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")} if kind == "torchvision" else state
    layers = {k: v for k, v in wanted.items() if k.split(".")[0].isdigit() and int(k.split(".")[0]) < limit}
    try:
        features.load_state_dict(layers)
    except RuntimeError as error:
        lines = str(error).strip().splitlines()
        raise WeightsUnavailableError(f"{path}: not {LAYOUT_NAMES[kind]} ({lines[-1].strip() if lines else error})") from error
    return features
