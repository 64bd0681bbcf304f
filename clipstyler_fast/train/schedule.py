"""The reference learning-rate schedule."""

from __future__ import annotations


class InverseDecay:
    """The reference learning-rate schedule as a LambdaLR factor: ``1 / (1 + decay * step)``."""

    def __init__(self, decay: float) -> None:
        self.decay = decay

    def __call__(self, step: int) -> float:
        return 1.0 / (1.0 + self.decay * step)
