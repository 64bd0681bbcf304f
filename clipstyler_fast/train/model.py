"""The LightningModule that trains one style network for one text prompt."""

from __future__ import annotations

from typing import Any

import torch

from clipstyler_fast.errors import DataError
from clipstyler_fast.nets.style_file import StyleRecord, decoder_weights
from clipstyler_fast.nets.weights import absolute_if_file
from clipstyler_fast.objective import losses
from clipstyler_fast.train.clip_style import VALIDATION_VIEW_SEED, ClipStyleModule, quality_terms
from clipstyler_fast.train.sampling import seeded_generator
from clipstyler_fast.train.steps import log_training_terms, refine_from


class StyleTransfer(ClipStyleModule):
    """Trains ``decoder(encoder(x))`` so that outputs move along the CLIP direction of ``prompt``.

    Args:
        prompt: the style, in words ("a sketch with black pencil"); required (taken from the
            checkpoint with ``--ckpt_path FILE``).
        init_from: an any-prompt checkpoint to start from instead of ``decoder_init`` (refine): the
            run begins from that network specialised to ``prompt``, and reaches its loss in far
            fewer steps.
        **kwargs: the options every CLIP-guided style network takes (``ClipStyleModule``).
    """

    def __init__(self, prompt: str | None = None, init_from: str | None = None, **kwargs: Any) -> None:
        if not prompt or not prompt.strip():
            raise DataError('no prompt given; pass the style in words, e.g. `prompt` "a watercolor painting"')
        init_from = absolute_if_file(init_from)
        super().__init__(**kwargs)

    def prepare_directions(self) -> None:
        """Compute the prompt's text direction with the loaded CLIP."""
        direction = losses.text_direction(self.clip.encode_text, self.hparams.prompt, self.hparams.source_text)
        self.text_direction = direction.to(self.text_direction.device)

    def start_decoder(self) -> None:
        if self.hparams.init_from:
            refine_from(self.decoder, self.hparams.init_from, self.hparams, self.text_direction)
        else:
            super().start_decoder()

    # ----------------------------------------------------------------- state
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_encoder(StyleRecord.from_checkpoint(checkpoint).encoder)
        decoder_weights(checkpoint)
        state = checkpoint["state_dict"]
        if "text_direction" in state:
            self.text_direction = torch.empty_like(state["text_direction"], device=self.text_direction.device)

    # ----------------------------------------------------------------- steps
    def compute_losses(self, content: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """All loss terms and their weighted total for a batch of content images in [0, 1]."""
        return self.terms_and_output(content, self.decoder, self.text_direction, generator)[0]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        # Warps are seeded by the batch's sample indices, so a resumed run draws the same ones.
        generator = seeded_generator(int(batch["index"][0]), 2)
        terms = self.compute_losses(batch["image"], generator)
        log_training_terms(self, terms)
        return terms["loss"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        images = batch["image"]
        terms, output = self.terms_and_output(images, self.decoder, self.text_direction, seeded_generator(VALIDATION_VIEW_SEED, batch_idx))
        quality = quality_terms(terms, output, images)
        self.log_dict({f"val/{k}": v for k, v in terms.items()}, prog_bar=False)
        self.log_dict({f"val/{k}": quality[k] for k in quality.keys() - terms.keys()}, prog_bar=True)
        return terms["loss"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Stylize RGB images in [0, 1] (sizes multiples of 8); the output is not clamped."""
        assert self.encoder is not None, "call setup() first"
        return self.decoder(self.encoder(images))
