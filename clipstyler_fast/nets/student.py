"""The distilled student: a small image-to-image network trained to reproduce a style network.

A style network runs VGG-19 up to relu4_1 and a mirrored decoder at the image's resolution
(about 1 TFLOP for a 1024x1024 image). The student instead folds each ``factor x factor`` block of
pixels into channels (:class:`~torch.nn.PixelUnshuffle`), works at that low resolution with
depthwise-separable residual blocks whose dilations grow to widen the receptive field, and
unfolds the result back (:class:`~torch.nn.PixelShuffle`) into the image: no convolution runs
at full resolution.

The teacher has no path from its input pixels to its output pixels: everything it draws passes
through relu4_1, at an eighth of the resolution. So by default the student has none either;
adding its output to the input image (``input_skip``) makes it cancel every detail of the photo
its teacher does not keep, and measured worse (``benchmarks/RESULTS.md``).

This module is the architecture only (no files); :class:`StudentConfig` is what a student
checkpoint records to rebuild it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

# Names the architecture in the style file; bumped when the layers of a given config change.
STUDENT_ARCHITECTURE = "student/unshuffle-dwres-v1"
FACTORS = (1, 2, 4, 8)


@dataclass(frozen=True)
class StudentConfig:
    """The shape of a student network.

    Args:
        width: channels of the low-resolution body.
        blocks: depthwise-separable residual blocks in the body.
        factor: pixels folded into channels per side (1, 2, 4 or 8); the body runs at
            ``1 / factor`` of the image's resolution, and image sides must be multiples of it.
        expansion: the blocks' pointwise layers widen to ``expansion * width`` channels.
        dilations: dilation of each block's depthwise 3x3 convolution, cycled over the blocks.
        input_skip: add the network's output to the input image instead of returning it.
    """

    width: int = 32
    blocks: int = 6
    factor: int = 4
    expansion: int = 2
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    input_skip: bool = False

    def __post_init__(self) -> None:
        if self.factor not in FACTORS:
            raise ValueError(f"student factor {self.factor} is not one of {', '.join(map(str, FACTORS))}")
        if self.width < 1 or self.blocks < 0 or self.expansion < 1 or not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"student config {self} has a non-positive width, block count, expansion or dilation")
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "dilations": list(self.dilations)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StudentConfig:
        """The config a checkpoint recorded (unknown keys are ignored, missing ones take the defaults)."""
        known = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        if "dilations" in known:
            known["dilations"] = tuple(known["dilations"])
        # Students recorded before the option existed all added their output to the input.
        known.setdefault("input_skip", True)
        return cls(**known)


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


class Student(nn.Module):
    """``unfold(head(body(stem(fold(images)))))`` (plus ``images`` with ``input_skip``) for RGB
    images whose sides are multiples of ``config.factor``."""

    # The kind a style file records for this network (see ``clipstyler_fast.nets.style_file``).
    network_kind = "student"

    def __init__(self, config: StudentConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or StudentConfig()
        folded = 3 * config.factor**2
        self.fold = nn.PixelUnshuffle(config.factor)
        self.stem = nn.Sequential(nn.Conv2d(folded, config.width, 3, padding=1), nn.ReLU(inplace=True))
        dilations = [config.dilations[i % len(config.dilations)] for i in range(config.blocks)]
        self.body = nn.Sequential(*(SeparableBlock(config.width, config.expansion, d) for d in dilations))
        self.head = nn.Conv2d(config.width, folded, 1)
        self.unfold = nn.PixelShuffle(config.factor)
        if config.input_skip:
            # Starts as the identity: the correction is zero until training moves it.
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        output = self.unfold(self.head(self.body(self.stem(self.fold(images))))).to(images.dtype)
        return images + output if self.config.input_skip else output


def build_student(config: StudentConfig | dict[str, Any] | None = None) -> Student:
    """A student of ``config`` (a :class:`StudentConfig` or its recorded dict), with fresh weights."""
    if isinstance(config, dict):
        config = StudentConfig.from_dict(config)
    return Student(config)
