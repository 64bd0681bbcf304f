"""The any-prompt style network: one decoder modulated by the prompt's CLIP text direction.

A small MLP (``film``) maps the text direction ``dT`` (the same unit vector the CLIPstyler losses
use) to a per-channel scale and shift for every convolution of the decoder (FiLM)::

    y_c = (1 + gamma_c(dT)) * conv(x)_c + beta_c(dT)

The MLP's last layer starts at zero, so an untrained network is exactly the decoder it starts
from (the reconstruction decoder), whatever the prompt.

Because the modulation is affine and sits right after each convolution, fixing a prompt folds it
into the convolution's weights and bias (:func:`specialize`)::

    W'_c = (1 + gamma_c) W_c,    b'_c = (1 + gamma_c) b_c + beta_c

so a conditioned network at a fixed prompt *is* an ordinary decoder: prediction costs exactly
what a per-prompt checkpoint costs, and every tool that takes a decoder (export, video,
interpolation, refining with ``fit``) takes it too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from clipstyler_fast.nets.decoder import build_decoder

# Names the conditioning scheme in checkpoints; a different scheme is a different name.
DESIGN = "film-direction-v1"


@dataclass(frozen=True)
class ConditioningConfig:
    """The conditioning's architecture, as a checkpoint records it.

    Args:
        embed_dim: width of the CLIP text embedding (512 for ViT-B/32).
        hidden: width of the MLP's hidden layer.
        design: the conditioning scheme (:data:`DESIGN`).
    """

    embed_dim: int
    hidden: int = 512
    design: str = DESIGN

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ConditioningConfig:
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})


def _convolutions(decoder: nn.Sequential) -> list[tuple[str, nn.Conv2d]]:
    return [(name, module) for name, module in decoder.named_children() if isinstance(module, nn.Conv2d)]


def modulated_channels() -> list[int]:
    """Output channels of every decoder convolution, in order (each gets a scale and a shift)."""
    with torch.device("meta"):
        return [conv.out_channels for _, conv in _convolutions(build_decoder())]


class FiLM(nn.Module):
    """Text direction ``(B, D)`` -> per-convolution ``(scale, shift)`` pairs, each ``(B, C_i)``."""

    def __init__(self, config: ConditioningConfig) -> None:
        super().__init__()
        self.channels = modulated_channels()
        self.net = nn.Sequential(
            nn.Linear(config.embed_dim, config.hidden),
            nn.SiLU(),
            nn.Linear(config.hidden, 2 * sum(self.channels)),
        )
        # Zero modulation at the start: the network begins as the decoder it starts from.
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, direction: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        params = self.net(direction.float())
        scales, shifts = params.split(sum(self.channels), dim=-1)
        return list(zip(scales.split(self.channels, dim=-1), shifts.split(self.channels, dim=-1)))


class ConditionedDecoder(nn.Module):
    """The decoder with FiLM after every convolution; each sample of a batch has its own direction.

    State-dict keys: ``decoder.*`` (the plain decoder's own keys) and ``film.*``.
    """

    def __init__(self, config: ConditioningConfig) -> None:
        super().__init__()
        self.config = config
        self.decoder = build_decoder()
        self.film = FiLM(config)

    def forward(self, features: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        return decode(self.decoder, self.film, features, direction)


def blend_directions(first: torch.Tensor, second: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """``normalize((1 - alpha) first + alpha second)``: the unit text direction between two prompts'."""
    return torch.nn.functional.normalize(torch.lerp(first, second, alpha), dim=-1)


def direction_at(first: torch.Tensor, second: torch.Tensor, alpha: float) -> torch.Tensor:
    """:func:`blend_directions` at one ``alpha``, exactly ``first`` at 0 and ``second`` at 1
    (normalising a unit vector again may round)."""
    if alpha in (0.0, 1.0):
        return (first if alpha == 0.0 else second).clone()
    return blend_directions(first, second, alpha)


def decode(decoder: nn.Sequential, film: FiLM, features: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Decode relu4_1 ``features`` ``(B, 512, h, w)`` along text directions ``(B, D)`` (or one ``(D,)``)."""
    modulation = iter(film(direction.to(features.device).reshape(-1, direction.shape[-1])))
    x = features
    for module in decoder:
        x = module(x)
        if isinstance(module, nn.Conv2d):
            scale, shift = next(modulation)
            x = x * (1 + scale[:, :, None, None].to(x.dtype)) + shift[:, :, None, None].to(x.dtype)
    return x


@torch.no_grad()
def specialize(decoder: nn.Sequential, film: FiLM, direction: torch.Tensor) -> dict[str, torch.Tensor]:
    """The plain decoder's state dict equal to the conditioned decoder at one text direction ``(D,)``.

    Exact up to float rounding: the FiLM scale and shift are folded into each convolution.
    """
    modulation = film(direction.reshape(1, -1).to(next(film.parameters()).device))
    state = {k: v.detach().clone() for k, v in decoder.state_dict().items()}
    for (name, _), (scale, shift) in zip(_convolutions(decoder), modulation):
        gain = 1 + scale[0].to(state[f"{name}.weight"].dtype)
        state[f"{name}.weight"] = state[f"{name}.weight"] * gain[:, None, None, None]
        state[f"{name}.bias"] = state[f"{name}.bias"] * gain + shift[0].to(gain.dtype)
    return state
