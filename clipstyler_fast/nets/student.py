"""The distilled student: a small image-to-image network trained to reproduce a style network.

A style network runs VGG-19 up to relu4_1 and a mirrored decoder at the image's resolution
(about 1 TFLOP for a 1024x1024 image). The student is a small U-Net on the same grid:

- it reaches relu4_1's resolution, an eighth of the image, as VGG does: a 3x3 convolution at
  full resolution, then three halvings by 2x2 max pooling, each followed by a 3x3 convolution;
  it works there with depthwise-separable residual blocks whose dilations grow to widen the
  receptive field;
- it comes back up as the style's decoder does, doubling by nearest-neighbour upsampling and a
  3x3 convolution, adding the encoder's features of the same resolution on the way.

Why an eighth: everything the style draws passes through relu4_1's grid of 8x8-pixel cells, so its
output moves with the photo only by whole cells; shift a photo by 4 pixels and the style draws
something else (measured in ``benchmarks/RESULTS.md``). A network whose coarsest grid is finer
than 8 pixels cannot draw that difference at all; one on the same grid can. What relu4_1 holds
for a cell depends on which pixels VGG's max pools kept, so the student's encoder pools the same
way (it fits a style better than strided convolutions did; see ``benchmarks/RESULTS.md``). The
teacher has no path from input pixels to output pixels either, so neither has the student: its
output is its own.

This module is the architecture only (no files); :class:`StudentConfig` is what a student
checkpoint records to rebuild it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

# Names the architecture in the style file; bumped when the layers of a given config change.
STUDENT_ARCHITECTURE = "student/unet8-v3"


@dataclass(frozen=True)
class StudentConfig:
    """The shape of a student network.

    Args:
        widths: channels at a half, a quarter and an eighth of the image's resolution.
        blocks: depthwise-separable residual blocks at an eighth of the resolution.
        expansion: the blocks' pointwise layers widen to ``expansion * widths[2]`` channels.
        dilations: dilation of each block's depthwise 3x3 convolution, cycled over the blocks.
        full_width: channels of the two full-resolution layers: the first one, and the last before
            the RGB output.
    """

    widths: tuple[int, int, int] = (24, 48, 96)
    blocks: int = 6
    expansion: int = 2
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    full_width: int = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise ValueError(f"student widths {list(self.widths)} must be three positive channel counts (1/2, 1/4, 1/8), e.g. [16, 32, 64]")
        if self.blocks < 0 or self.expansion < 1 or self.full_width < 1 or not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"student config {self} has a negative block count or a non-positive expansion, width or dilation")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "widths": list(self.widths), "dilations": list(self.dilations)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StudentConfig:
        """The config a checkpoint recorded (unknown keys are ignored, missing ones take the defaults)."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


def conv3x3(channels_in: int, channels_out: int) -> nn.Conv2d:
    return nn.Conv2d(channels_in, channels_out, 3, padding=1)


class SeparableBlock(nn.Module):
    """``x + project(relu(expand(depthwise(x))))``: a dilated depthwise 3x3, then two pointwise layers."""

    def __init__(self, width: int, expansion: int, dilation: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation, groups=width)
        self.expand = nn.Conv2d(width, width * expansion, 1)
        self.act = nn.ReLU(inplace=True)
        self.project = nn.Conv2d(width * expansion, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.act(self.expand(self.depthwise(x))))


class Down(nn.Sequential):
    """Halve the resolution as VGG does: 2x2 max pooling, a 3x3 convolution, ReLU."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__(nn.MaxPool2d(2), conv3x3(channels_in, channels_out), nn.ReLU(inplace=True))


class Up(nn.Sequential):
    """Double the resolution as the style's decoder does: nearest neighbours, a 3x3 convolution, ReLU."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), conv3x3(channels_in, channels_out), nn.ReLU(inplace=True))


class Student(nn.Module):
    """A U-Net whose coarsest level is the style's relu4_1 grid, for RGB images whose sides are
    multiples of 8 (as the style's); its output is not clamped."""

    def __init__(self, config: StudentConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or StudentConfig()
        half, quarter, eighth = config.widths
        self.full = nn.Sequential(conv3x3(3, config.full_width), nn.ReLU(inplace=True))
        self.down_half = Down(config.full_width, half)
        self.down_quarter = Down(half, quarter)
        self.down_eighth = Down(quarter, eighth)
        dilations = [config.dilations[i % len(config.dilations)] for i in range(config.blocks)]
        self.body = nn.Sequential(*(SeparableBlock(eighth, config.expansion, d) for d in dilations))
        self.up_quarter = Up(eighth, quarter)
        self.up_half = Up(quarter, half)
        self.up_full = Up(half, config.full_width)
        self.to_rgb = conv3x3(config.full_width, 3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        half = self.down_half(self.full(images))
        quarter = self.down_quarter(half)
        eighth = self.body(self.down_eighth(quarter))
        quarter = self.up_quarter(eighth) + quarter
        half = self.up_half(quarter) + half
        return self.to_rgb(self.up_full(half)).to(images.dtype)


def build_student(config: StudentConfig | dict[str, Any] | None = None) -> Student:
    """A student of ``config`` (a :class:`StudentConfig` or its recorded dict), with fresh weights."""
    return Student(StudentConfig.from_dict(config) if isinstance(config, dict) else config)
