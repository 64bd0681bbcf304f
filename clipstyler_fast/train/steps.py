"""Training and validation steps for a module whose ``compute_losses(images)`` returns its loss terms."""

from __future__ import annotations

from typing import Any

import torch


class LossTermSteps:
    """Mix into a LightningModule with ``compute_losses(images) -> {"loss": total, "<term>": value, ...}``:
    every term goes to the progress bar and the logs as ``train/<term>``, and to the logs as
    ``val/<term>`` on held-out images."""

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        terms = self.compute_losses(batch["image"])  # type: ignore[attr-defined]
        self.log("train/loss", terms["loss"], prog_bar=True)  # type: ignore[attr-defined]
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "loss"}, prog_bar=True)  # type: ignore[attr-defined]
        return terms["loss"]

    def validation_terms(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The loss terms on a batch of held-out images, logged as ``val/<term>``."""
        terms = self.compute_losses(batch["image"])  # type: ignore[attr-defined]
        self.log_dict({f"val/{k}": v for k, v in terms.items()})  # type: ignore[attr-defined]
        return terms
