"""Decoder pre-training: learn to reconstruct images from their VGG relu4_1 features.

Needed once for an encoder without a released decoder (``torchvision``): every per-prompt run
with that encoder then starts from the exported decoder and only has to learn the style, as
the reference recipe assumes. (The ``adain`` encoder starts from AdaIN's trained decoder.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only

from clipstyler_fast.io.atomic import atomic_torch_save
from clipstyler_fast.nets.decoder import build_decoder
from clipstyler_fast.nets.decoder_init import pretrained_decoder_path
from clipstyler_fast.nets.style_file import StyleRecord
from clipstyler_fast.nets.vgg import AUTO, DEFAULT_ENCODER, EncoderKind, VGGEncoder, check_encoder_kind, load_vgg_encoder
from clipstyler_fast.nets.weights import absolute_if_file
from clipstyler_fast.objective import losses
from clipstyler_fast.train.steps import FrozenNetworksMixin, LossTermSteps, adam_with_inverse_decay


class DecoderPretraining(LossTermSteps, FrozenNetworksMixin, L.LightningModule):
    """Trains the decoder so that ``decoder(encoder(x)) ~ x``.

    Args:
        encoder: the frozen VGG-19 the decoder learns to invert: ``adain`` or ``torchvision``.
        vgg_weights: ``auto`` (the encoder's official weights, downloaded once) or the path of a
            local copy in that encoder's layout.
        lambda_content: weight of the relu4_1 feature reconstruction loss.
        lambda_pixel: weight of the pixel reconstruction loss (mean squared error).
        lr: Adam learning rate.
        lr_decay: the rate decays as ``lr / (1 + lr_decay * step)``.
        export_path: where the decoder weights are written (plain state dict) whenever a
            checkpoint is saved and at the end. ``auto``: the cache file that ``fit
            --model.decoder_init auto`` starts from for this encoder
            (``~/.cache/torch/hub/checkpoints/clipstyler-fast/decoder-<encoder>.pt``).
    """

    def __init__(
        self,
        encoder: EncoderKind = DEFAULT_ENCODER,
        vgg_weights: str = AUTO,
        lambda_content: float = 1.0,
        lambda_pixel: float = 1.0,
        lr: float = 1e-4,
        lr_decay: float = 5e-5,
        export_path: str = "auto",
    ) -> None:
        super().__init__()
        check_encoder_kind(encoder)
        vgg_weights = absolute_if_file(vgg_weights)
        self.save_hyperparameters()
        self.decoder = build_decoder()
        self.encoder: VGGEncoder | None = None

    def setup(self, stage: str) -> None:
        if self.encoder is None:
            self.encoder = load_vgg_encoder(self.hparams.vgg_weights, self.hparams.encoder)

    def compute_losses(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Feature and pixel reconstruction losses and their weighted total."""
        assert self.encoder is not None, "call setup() first"
        with torch.no_grad():
            target = self.encoder(images)
        output = self.decoder(target)
        content = losses.content_loss(self.encoder(output), target)
        pixel = F.mse_loss(output.float(), images.float())
        total = self.hparams.lambda_content * content + self.hparams.lambda_pixel * pixel
        return {"loss": total, "content": content, "pixel": pixel}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        assert self.encoder is not None, "call setup() first"
        return self.decoder(self.encoder(images))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = super().validation_step(batch, batch_idx)
        psnr = -10 * torch.log10(F.mse_loss(self(batch["image"]).clamp(0, 1), batch["image"]))
        self.log("val/psnr", psnr, prog_bar=True)
        return loss

    def configure_optimizers(self) -> Any:
        return adam_with_inverse_decay(self.decoder.parameters(), self.hparams.lr, self.hparams.lr_decay)

    def configure_callbacks(self) -> list[L.Callback]:
        from clipstyler_fast.train.checkpoint_callback import style_callbacks

        return style_callbacks(500)

    def style_record(self) -> StyleRecord:
        """A decoder with no prompt: it reconstructs photos."""
        return StyleRecord(prompt=None, encoder=self.hparams.encoder, vgg_weights=str(self.hparams.vgg_weights))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.export_decoder()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        StyleRecord.from_checkpoint(checkpoint)

    def on_train_end(self) -> None:
        self.export_decoder()
        # Once, at the end: the saves along the way refresh the same file silently.
        rank_zero_info(f"pre-trained decoder written to {self.export_file}")

    @property
    def export_file(self) -> Path:
        """The file the decoder is exported to (``export_path``, with ``auto`` resolved)."""
        path = self.hparams.export_path
        return pretrained_decoder_path(self.hparams.encoder) if path == "auto" else Path(path).expanduser()

    @rank_zero_only
    def export_decoder(self) -> None:
        """Write the decoder's weights (plain tensors, loadable with ``weights_only=True``)."""
        path = self.export_file
        atomic_torch_save({k: v.detach().cpu() for k, v in self.decoder.state_dict().items()}, path)
