"""The LightningModule that trains one network for every prompt of a bank (any-prompt mode)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info

from clipstyler_fast.errors import CheckpointError, DataError
from clipstyler_fast.infer.text_directions import TextDirections
from clipstyler_fast.nets.conditioned_file import BANK_KEY, bank_sha256, conditioning_record
from clipstyler_fast.nets.conditioning import ConditioningConfig, FiLM, blend_directions, decode
from clipstyler_fast.nets.style_file import CONDITIONED_NETWORK, StyleRecord
from clipstyler_fast.train.clip_style import VALIDATION_VIEW_SEED, ClipStyleModule, quality_terms
from clipstyler_fast.train.prompt_bank import DEFAULT_BANK, holdout_count, read_prompt_bank, split_prompts
from clipstyler_fast.train.sampling import seeded_generator
from clipstyler_fast.train.steps import log_training_terms

# Held-out photos are scored against this many seen and (as many) unseen prompts.
VALIDATION_PROMPTS = 8
PREVIEW_PROMPTS = 4


class AnyPromptStyleTransfer(ClipStyleModule):
    """Trains one decoder, modulated by the prompt's CLIP text direction (FiLM, see
    :mod:`clipstyler_fast.nets.conditioning`), for every prompt of a bank at once.

    Every image of a batch draws its own prompt of the bank and is trained along that prompt's
    direction with the same CLIPstyler losses. The bank's directions are computed once with CLIP's
    text tower and cached. A seeded set of held-out prompts is never trained on: validation
    reports the losses on held-out photos for seen prompts (``val/*``) and for those unseen ones
    (``val_unseen/*``).

    Args:
        prompts: the prompt bank file (filled in from ``--data.prompts``).
        holdout_prompts: prompts of the bank kept out of training, for validation (at most a quarter).
        film_hidden: width of the MLP from the text direction to the FiLM scales and shifts.
        mix_prompts: the share of images trained along a blend of two bank prompts instead of one
            (``normalize((1 - a) dA + a dB)``, ``a`` uniform), the same blend ``interpolate`` makes.
            It trains the network between the bank's directions too, where prompts it never saw lie.
        prompt: refused: the network learns every prompt of the bank (train one style without ``prompts``).
        init_from: refused: the network starts from ``decoder_init`` (refine one style without ``prompts``).
        **kwargs: the options every CLIP-guided style network takes (``ClipStyleModule``).
    """

    def __init__(
        self,
        prompts: str = DEFAULT_BANK,
        holdout_prompts: int = 16,
        film_hidden: int = 512,
        mix_prompts: float = 0.5,
        prompt: str | None = None,
        init_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= mix_prompts <= 1.0:
            raise DataError(f"`mix_prompts` {mix_prompts} is a share of the batch: give a number from 0 to 1")
        for option, value in (("prompt", prompt), ("init_from", init_from)):
            if value:
                raise DataError(
                    f"an any-prompt run (a prompt bank given as `prompts`) takes no `{option}`; "
                    "to train or refine one style, drop `prompts`"
                )
        super().__init__(**kwargs)
        self.bank = read_prompt_bank(prompts)
        held = holdout_count(len(self.bank), holdout_prompts)
        if held < holdout_prompts:
            warnings.warn(
                f"`holdout_prompts` {holdout_prompts}: a bank of {len(self.bank)} prompts can spare at most a quarter "
                f"for validation, so {held} {'is' if held == 1 else 'are'} held out; give a larger bank to hold out more",
                stacklevel=1,  # this file: the command shows it as one "warning:" line
            )
        self.train_ids, self.held_ids = split_prompts(len(self.bank), holdout_prompts)
        self.film: FiLM | None = None
        self.register_buffer(BANK_KEY, torch.empty(0))

    def prepare_directions(self) -> None:
        """The bank's text directions (cached per CLIP model), and the FiLM sized to their width."""
        hp = self.hparams
        directions = TextDirections(str(hp.clip_model), hp.source_text, hp.clip_download_root).get(self.bank, self.clip.encode_text)
        self.bank_directions = directions.to(self.device)
        self._build_film(directions.shape[1])

    def _build_film(self, embed_dim: int) -> None:
        if self.film is None:
            self.film = FiLM(ConditioningConfig(embed_dim, self.hparams.film_hidden)).to(self.device)

    @property
    def conditioning(self) -> ConditioningConfig:
        return ConditioningConfig(int(self.bank_directions.shape[1]), self.hparams.film_hidden)

    @property
    def held_out_prompts(self) -> list[str]:
        """The bank's prompts that training never draws (validated on as unseen prompts)."""
        return [self.bank[i] for i in self.held_ids]

    def on_fit_start(self) -> None:
        super().on_fit_start()
        held = ", ".join(repr(p) for p in self.held_out_prompts) or "none"
        rank_zero_info(f"prompts held out for validation (never trained on): {held}")

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        assert self.film is not None, "call setup('fit') first"
        return [*self.decoder.parameters(), *self.film.parameters()]

    # ----------------------------------------------------------------- the network
    def decode(self, features: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
        """The network on relu4_1 features, every image along its own text direction ``(B, D)``."""
        assert self.film is not None, "call setup('fit') first"
        return decode(self.decoder, self.film, features, directions)

    def terms_along(
        self, images: torch.Tensor, directions: torch.Tensor, generator: torch.Generator
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The loss terms and the stylized batch, every image along its own direction ``(B, D)``."""
        return self.terms_and_output(images, lambda features: self.decode(features, directions[: len(features)]), directions, generator)

    def forward(self, images: torch.Tensor, directions: torch.Tensor | None = None) -> torch.Tensor:
        """Stylize images along ``directions`` ``(B, D)`` (default: the first seen prompt for all)."""
        assert self.encoder is not None, "call setup() first"
        if directions is None:
            directions = self.bank_directions[self.train_ids[0]].expand(len(images), -1)
        return self.decode(self.encoder(images), directions)

    def preview_rows(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The held-out ``images``, then one row per prompt: a few seen prompts, then a held-out one when there is one."""
        chosen = self.train_ids[:PREVIEW_PROMPTS] + self.held_ids[:1]
        return [images, *(self(images, self.bank_directions[i].expand(len(images), -1)) for i in chosen)]

    # ----------------------------------------------------------------- steps
    def batch_directions(self, batch: dict[str, Any]) -> torch.Tensor:
        """Every image of the batch draws its own training prompt of the bank, or with ``mix_prompts``
        a blend of two. Drawn from the batch's sample indices, like the warps, so that a resumed run
        draws the same."""
        generator = seeded_generator(int(batch["index"][0]), 3)
        count, ids = len(batch["image"]), torch.tensor(self.train_ids)
        first = self.bank_directions[ids[torch.randint(len(ids), (count,), generator=generator)]]
        if not self.hparams.mix_prompts:
            return first
        second = self.bank_directions[ids[torch.randint(len(ids), (count,), generator=generator)]]
        alpha = torch.rand(count, 1, generator=generator).to(first)
        mixed = (torch.rand(count, 1, generator=generator) < self.hparams.mix_prompts).to(first.device)
        return torch.where(mixed, blend_directions(first, second, alpha), first)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        # Warps are seeded by the batch's sample indices, so a resumed run draws the same ones.
        generator = seeded_generator(int(batch["index"][0]), 2)
        terms = self.terms_along(batch["image"], self.batch_directions(batch), generator)[0]
        log_training_terms(self, terms)
        return terms["loss"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        images = batch["image"]
        groups = {"val": self.train_ids[:VALIDATION_PROMPTS], "val_unseen": self.held_ids[:VALIDATION_PROMPTS]}
        total = torch.zeros((), device=self.device)
        for name, ids in groups.items():
            if not ids:
                continue
            # Every held-out photo meets every prompt of the group over the validation batches.
            pick = torch.tensor([ids[(i + batch_idx) % len(ids)] for i in range(len(images))])
            terms, output = self.terms_along(images, self.bank_directions[pick], seeded_generator(VALIDATION_VIEW_SEED, batch_idx))
            terms = quality_terms(terms, output, images)
            self.log_dict({f"{name}/{k}": v for k, v in terms.items()}, prog_bar=False)
            total = terms["loss"] if name == "val" else total
        return total

    # ----------------------------------------------------------------- state
    def style_record(self) -> StyleRecord:
        conditioning = conditioning_record(self.conditioning, self.bank, self.held_out_prompts)
        return replace(super().style_record(), prompt=None, network=CONDITIONED_NETWORK, conditioning=conditioning)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        record = StyleRecord.from_checkpoint(checkpoint)
        if not record.is_conditioned:
            raise CheckpointError("a single-style checkpoint cannot continue an any-prompt run; resume from the any-prompt run's last.ckpt")
        meta = record.conditioning or {}
        if meta.get("bank_sha256") != bank_sha256(self.bank):
            raise CheckpointError(
                f"the checkpoint was trained on another prompt bank ({meta.get('bank_size')} prompts) than {self.hparams.prompts} "
                f"({len(self.bank)}); pass the same file as `prompts`"
            )
        self.check_encoder(record.encoder)
        directions = checkpoint["state_dict"][BANK_KEY]
        self.bank_directions = torch.empty_like(directions, device=self.device)
        self._build_film(int(meta["embed_dim"]))
