"""The per-image network of CLIPstyler's optimisation mode: a small U-Net from RGB to RGB.

Read bottom-up: a residual double convolution (``Block``), a stage that also halves the size
with a strided 4x4 convolution (``Down``), one that doubles it and joins its skip (``Up``), and
the U-Net of three of each around a bottleneck. Instance norm everywhere; a sigmoid keeps the
output in [0, 1]. Module names follow the published network's parameters (``conv_init``,
``init``, ``down1``..``down3``, ``encoding``, ``up3``..``up1``, ``out``, ``conv_fin``), so its
weights and ours are one state dict.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    """The architecture: base width ``ngf`` (16 as published) and channels in and out."""

    ngf: int = 16
    in_channels: int = 3
    out_channels: int = 3


class Block(nn.Module):
    """``conv(x) + skip(x)``: two 3x3 conv / instance-norm / ReLU layers beside a 1x1 projection."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, 1, 1),
            nn.InstanceNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1),
            nn.InstanceNorm2d(c_out),
            nn.ReLU(),
        )
        self.skip = nn.Conv2d(c_in, c_out, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.skip(x)


class Down(Block):
    """A :class:`Block`, then a strided 4x4 convolution to half the size; returns both."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out)
        self.downsample = nn.Conv2d(c_out, c_out, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        features = super().forward(x)
        return self.downsample(features), features


class Up(Block):
    """Bilinear 2x upsampling of ``x``, joined with the skip ``features``, then a :class:`Block`."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in + c_out, c_out)
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear")

    def forward(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(torch.cat([self.upsample(x), features], dim=1))


class UNet(nn.Module):
    """RGB in [0, 1] to RGB in [0, 1], the same size; sides must be multiples of 8."""

    def __init__(self, config: UNetConfig = UNetConfig()) -> None:
        super().__init__()
        ngf = config.ngf
        self.config = config
        self.conv_init = nn.Conv2d(config.in_channels, ngf, 1, 1, 0)
        self.init = Block(ngf, ngf)
        self.down1, self.down2, self.down3 = Down(ngf, ngf), Down(ngf, 2 * ngf), Down(2 * ngf, 4 * ngf)
        self.encoding = Block(4 * ngf, 8 * ngf)
        self.up3, self.up2, self.up1 = Up(8 * ngf, 4 * ngf), Up(4 * ngf, 2 * ngf), Up(2 * ngf, ngf)
        self.out = Block(2 * ngf, ngf)
        self.conv_fin = nn.Conv2d(ngf, config.out_channels, 1, 1, 0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.init(self.conv_init(images))
        d1, f1 = self.down1(x)
        d2, f2 = self.down2(d1)
        d3, f3 = self.down3(d2)
        h = self.up1(self.up2(self.up3(self.encoding(d3), f3), f2), f1)
        return torch.sigmoid(self.conv_fin(self.out(torch.cat([h, x], dim=1))))
