"""The trained half of the style network: relu4_1 features back to an RGB image."""

from __future__ import annotations

import torch
from torch import nn

# (in_channels, out_channels, upsample_after) for each reflection-padded 3x3 conv, mirroring
# VGG-19 up to relu4_1 as the AdaIN decoder does (same modules, so the same state-dict keys).
_LAYERS: tuple[tuple[int, int, bool], ...] = (
    (512, 256, True),
    (256, 256, False),
    (256, 256, False),
    (256, 256, False),
    (256, 128, True),
    (128, 128, False),
    (128, 64, True),
    (64, 64, False),
)


def build_decoder() -> nn.Sequential:
    """Return the decoder: 512-channel relu4_1 features at 1/8 size -> 3-channel image."""
    layers: list[nn.Module] = []
    for c_in, c_out, upsample in _LAYERS:
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3), nn.ReLU()]
        if upsample:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
    layers += [nn.ReflectionPad2d(1), nn.Conv2d(64, 3, 3)]
    return nn.Sequential(*layers)


class EncoderDecoder(nn.Module):
    """The style network as one image-to-image module: ``decoder(encoder(images))``, for sides that are multiples of 8."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))
