"""The reference learning-rate schedule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class InverseDecay:
    """The reference learning-rate schedule as a LambdaLR factor: ``1 / (1 + decay * step)``."""

    def __init__(self, decay: float) -> None:
        self.decay = decay

    def __call__(self, step: int) -> float:
        return 1.0 / (1.0 + self.decay * step)


def adam_with_inverse_decay(parameters: Iterable[torch.nn.Parameter], lr: float, decay: float) -> dict[str, Any]:
    """``configure_optimizers``'s answer for the reference recipe: Adam at ``lr``, decayed per step by :class:`InverseDecay`."""
    optimizer = torch.optim.Adam(parameters, lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, InverseDecay(decay))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
