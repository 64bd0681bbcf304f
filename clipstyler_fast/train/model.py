"""The LightningModule that trains one style network for one text prompt."""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from clipstyler_fast.errors import CheckpointError, ClipstylerError, DataError
from clipstyler_fast.nets.clip_model import DEFAULT_CLIP, ClipEncoder, load_clip
from clipstyler_fast.nets.decoder import build_decoder
from clipstyler_fast.nets.sources import settle_weight_files
from clipstyler_fast.nets.style_file import FORMAT_KEY, StyleRecord, decoder_weights
from clipstyler_fast.nets.vgg import AUTO, DEFAULT_ENCODER, EncoderKind, VGGEncoder, check_encoder_kind, load_vgg_encoder
from clipstyler_fast.nets.weights import absolute_if_file
from clipstyler_fast.objective import losses
from clipstyler_fast.objective.views import perspective_views
from clipstyler_fast.precision import FROZEN_PRECISIONS, FrozenPrecision, channels_last_setting, describe_choice
from clipstyler_fast.train.consistency import with_consistency
from clipstyler_fast.train.decoder_start import start_decoder
from clipstyler_fast.train.frozen import FrozenNetworksMixin
from clipstyler_fast.train.sampling import seeded_generator
from clipstyler_fast.train.schedule import adam_with_inverse_decay

# Validation draws the same views every time so that its losses are comparable across steps.
VALIDATION_VIEW_SEED = 12345


class StyleTransfer(FrozenNetworksMixin, L.LightningModule):
    """Trains ``decoder(encoder(x))`` so that outputs move along the CLIP direction of ``prompt``.

    Args:
        prompt: the style, in words ("a sketch with black pencil"); required (taken from the
            checkpoint with ``--ckpt_path FILE``).
        source_text: the text the content is taken to be; the style direction starts from it.
        clip_model: CLIP model name (downloaded once) or path of a local CLIP file.
        clip_download_root: folder for downloaded CLIP files (default ``~/.cache/clip``).
        encoder: the frozen VGG-19: ``adain`` (AdaIN's vgg_normalised, which the reference recipe
            and its loss weights were tuned on) or ``torchvision`` (needs ``pretrain`` first).
        vgg_weights: ``auto`` (the encoder's official weights, downloaded once) or the path of a
            local copy: a vgg_normalised.pth for ``adain``, a torchvision VGG-19 state dict for
            ``torchvision`` (the file's layout is checked).
        decoder_init: decoder to start from: ``auto`` (for ``adain``, AdaIN's trained
            decoder.pth, downloaded once; for ``torchvision``, the decoder ``pretrain`` wrote, else
            random weights with a warning), a path (AdaIN's decoder.pth, a decoder state dict or a
            checkpoint), or ``random``.
        init_from: an any-prompt checkpoint to start from instead (refine): the run begins from
            that network specialised to ``prompt``, and reaches its loss in far fewer steps.
        lambda_content: weight of the relu4_1 content loss.
        lambda_patch: weight of the patch-wise CLIP directional loss.
        lambda_dir: weight of the global CLIP directional loss.
        lambda_tv: weight of the total-variation loss.
        lambda_consistency: weight of ``|f(T x) - T f(x)|`` over small random warps ``T`` of the photos: steadier video (0: off).
        consistency_share: share of each batch warped for that term: its cost, that share of one more decoder pass a step.
        num_views: random perspective views per output image for the patch loss.
        distortion: perspective distortion scale of the views (0 to 1).
        view_crop: side of a random square patch cut from the output for every view, as a
            fraction of the output's shorter side, before the perspective warp. 1 warps the whole
            output (the fast recipe); below 1 gives CLIPstyler's patch-wise views (its
            single-image mode uses 128 px patches of 512 px images: 0.25), which judge texture
            locally instead of letting one global change satisfy every view.
        threshold: patch-loss terms below this are set to zero.
        per_sample_views: draw a different warp for every image and view (otherwise one warp per
            view shared by the batch, as the reference does).
        lr: Adam learning rate.
        lr_decay: the rate decays as ``lr / (1 + lr_decay * step)``.
        preview_every_n_steps: log a grid of held-out images and their stylizations this often
            (0 turns previews off).
        frozen_precision: number format of the frozen CLIP and VGG passes (and the backward
            through them): ``auto`` (bf16 autocast where the processor computes it natively,
            a step in two thirds of the time, losses within 1%; fp32 elsewhere), ``bf16``
            (even where emulated, many times slower) or ``fp32`` (reference-exact). The decoder
            and the losses stay fp32 unless the trainer's precision says otherwise.
        channels_last: VGG, the decoder and their inputs in channels-last layout: ``auto`` (on
            GPUs and CPUs with native bf16, where it is faster; not on other CPUs), true or false.
        compile: ``torch.compile`` the decoder, the VGG encoder and CLIP's image tower (the first
            step takes minutes; on CPU it needs a C++ compiler). Off: not measured to pay off.
    """

    # Whether the module trains one prompt (``--model.prompt`` required) rather than a bank.
    takes_prompt = True

    def __init__(
        self,
        prompt: str | None = None,
        source_text: str = "a Photo",
        clip_model: str = DEFAULT_CLIP,
        clip_download_root: str | None = None,
        encoder: EncoderKind = DEFAULT_ENCODER,
        vgg_weights: str = AUTO,
        decoder_init: str = "auto",
        init_from: str | None = None,
        lambda_content: float = 1.0,
        lambda_patch: float = 10.0,
        lambda_dir: float = 1.0,
        lambda_tv: float = 1e-4,
        lambda_consistency: float = 0.0,
        consistency_share: float = 1.0,
        num_views: int = 16,
        distortion: float = 0.5,
        view_crop: float = 1.0,
        threshold: float = 0.7,
        per_sample_views: bool = True,
        lr: float = 1e-4,
        lr_decay: float = 5e-5,
        preview_every_n_steps: int = 50,
        frozen_precision: FrozenPrecision = "auto",
        channels_last: bool | Literal["auto"] = "auto",
        compile: bool = False,
    ) -> None:
        super().__init__()
        if self.takes_prompt and (not prompt or not prompt.strip()):
            raise DataError('no prompt given; pass the style in words, e.g. --model.prompt "a watercolor painting"')
        if not 0.0 < view_crop <= 1.0:
            raise ClipstylerError(
                f"view_crop {view_crop} is outside (0, 1]; 1 views the whole output, e.g. 0.25 views patches of a quarter of its side"
            )
        if frozen_precision not in FROZEN_PRECISIONS:
            raise ValueError(f"frozen_precision {frozen_precision!r} is not one of {', '.join(FROZEN_PRECISIONS)}")
        check_encoder_kind(encoder)
        clip_model, vgg_weights = absolute_if_file(clip_model), absolute_if_file(vgg_weights)
        decoder_init, init_from = absolute_if_file(decoder_init), absolute_if_file(init_from)
        self.save_hyperparameters()
        self.decoder = build_decoder()
        self.encoder: VGGEncoder | None = None
        self.clip: ClipEncoder | None = None
        self.register_buffer("text_direction", torch.empty(0))
        # Whether the coming fit resumes from a checkpoint, when known before setup (None: unknown).
        self.resumes: bool | None = None

    # ----------------------------------------------------------------- frozen networks
    def setup(self, stage: str) -> None:
        hp = self.hparams
        vgg_source, clip_source = hp.vgg_weights, hp.clip_model
        if stage in ("fit", "validate") and self.clip is None:
            # Every missing file in one message, before any network loads. Whether the run
            # resumes (and so needs no decoder start) is only known here when the command line
            # said so; otherwise the decoder start is settled in on_fit_start. The networks then
            # load from the settled files (a downloaded CLIP is hash-checked once, not twice).
            need_decoder = self.resumes is False
            decoder_source = hp.decoder_init if need_decoder and not hp.init_from else None
            clip_source, vgg_source, *_ = settle_weight_files(
                hp.clip_model, hp.clip_download_root, hp.encoder, hp.vgg_weights, decoder_source
            )
        if self.encoder is None:
            self.encoder = load_vgg_encoder(vgg_source, hp.encoder)
        if stage in ("fit", "validate") and self.clip is None:
            self.clip = load_clip(clip_source, hp.clip_download_root)
            self.prepare_directions()
        if stage == "fit" and self._trainer is None:
            # Used by hand, outside a Trainer: nothing will restore weights, start from the init now.
            start_decoder(self)
        self._speed_up()

    def prepare_directions(self) -> None:
        """Compute the text direction(s) the losses use, with the loaded CLIP."""
        direction = losses.text_direction(self.clip.encode_text, self.hparams.prompt, self.hparams.source_text)
        self.text_direction = direction.to(self.text_direction.device)

    def _speed_up(self) -> None:
        """Apply the memory-layout and compilation options to the networks (once)."""
        if getattr(self, "_sped_up", False):
            return
        self._sped_up = True
        # The device the run computes on (setup runs before Lightning moves the module there).
        device = self.trainer.strategy.root_device if self._trainer is not None else self.device
        self._channels_last = channels_last_setting(self.hparams.channels_last, device)
        if self._channels_last:
            # Weights in channels-last make convolutions pick the channels-last kernels, which
            # avoids a layout conversion per layer in oneDNN and cuDNN.
            for net in (self.encoder, self.decoder):
                if net is not None:
                    net.to(memory_format=torch.channels_last)
        if self.hparams.compile:
            # nn.Module.compile keeps parameter names, so checkpoints stay loadable without it.
            for net in (self.decoder, self.encoder, self.clip.model.visual if self.clip is not None else None):
                if net is not None:
                    net.compile()

    def _layout(self, images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=torch.channels_last) if self._channels_last else images

    def on_fit_start(self) -> None:
        # Here, not in setup(): only now does the trainer know whether it resumes from a checkpoint
        # (whose weights are already restored and must not be replaced).
        if self.trainer.ckpt_path is None:
            start_decoder(self)
        rank_zero_info(f"frozen CLIP and VGG passes in {describe_choice(self._frozen_dtype(), self.device)}")

    # ----------------------------------------------------------------- state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        record = StyleRecord(
            prompt=self.hparams.prompt,
            encoder=self.hparams.encoder,
            vgg_weights=str(self.hparams.vgg_weights),
            clip_model=str(self.hparams.clip_model),
            source_text=self.hparams.source_text,
        )
        checkpoint[FORMAT_KEY] = record.to_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        record = StyleRecord.from_checkpoint(checkpoint)
        if record.encoder != self.hparams.encoder:
            raise CheckpointError(
                f"the checkpoint was trained with the {record.encoder} encoder, this run uses {self.hparams.encoder}; "
                f"pass --model.encoder {record.encoder}"
            )
        decoder_weights(checkpoint)
        state = checkpoint["state_dict"]
        if "text_direction" in state:
            self.text_direction = torch.empty_like(state["text_direction"], device=self.text_direction.device)

    # ----------------------------------------------------------------- the objective
    def decode(self, features: torch.Tensor, directions: torch.Tensor | None = None) -> torch.Tensor:
        """The trained network on relu4_1 features (``directions``: per-image text directions, unused here)."""
        return self.decoder(features)

    def compute_losses(
        self, content: torch.Tensor, generator: torch.Generator | None = None, directions: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """All loss terms and their weighted total for a batch of content images in [0, 1];
        ``directions`` ``(B, D)`` gives every image its own text direction."""
        return self.losses_and_output(content, generator, directions)[0]

    def losses_and_output(
        self, content: torch.Tensor, generator: torch.Generator | None = None, directions: torch.Tensor | None = None
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """:meth:`compute_losses` and the stylized batch they were computed on."""
        assert self.encoder is not None and self.clip is not None, "call setup('fit') first"
        hp = self.hparams
        batch = content.shape[0]
        content = self._layout(content)
        frozen = self.frozen_passes
        with torch.no_grad(), frozen():
            target = self.encoder(content)
            source = self.clip.encode_image(content)
        # The decoder runs in its own precision: frozen features may come out of autocast as bf16.
        output = self.decode(target.to(next(self.decoder.parameters()).dtype), directions)
        with frozen():
            content_term = losses.content_loss(self.encoder(output), target)
        views = perspective_views(output, hp.num_views, hp.distortion, generator, hp.per_sample_views, crop=hp.view_crop)
        # One CLIP pass for the views and the whole outputs together (patch views are smaller
        # than the outputs: both go to CLIP's resolution first, as CLIP would resize them anyway).
        views, whole = views.flatten(0, 1), output
        with frozen():
            if views.shape[-2:] != whole.shape[-2:]:
                views, whole = self.clip.resize(views), self.clip.resize(whole)
            embedded = self.clip.encode_image(torch.cat([views, whole]))
        view_features = embedded[: batch * hp.num_views].view(batch, hp.num_views, -1)
        output_features = embedded[batch * hp.num_views :]
        direction = self.text_direction if directions is None else directions
        patch = losses.patch_directional_loss(view_features, source, direction, hp.threshold)
        glob = losses.global_directional_loss(output_features, source, direction)
        tv = losses.total_variation(output)
        total = hp.lambda_content * content_term + hp.lambda_patch * patch + hp.lambda_dir * glob + hp.lambda_tv * tv
        terms = {"loss": total, "content": content_term, "patch": patch, "dir": glob, "tv": tv}
        return with_consistency(self, terms, content, output, directions, generator), output

    def batch_directions(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """Per-image text directions of a training batch (None: every image takes ``text_direction``)."""
        return None

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        # Warps are seeded by the batch's sample indices, so a resumed run draws the same ones.
        generator = seeded_generator(int(batch["index"][0]), 2)
        terms = self.compute_losses(batch["image"], generator, self.batch_directions(batch))
        self.log("train/loss", terms["loss"], prog_bar=True)
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "loss"}, prog_bar=True)
        return terms["loss"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        terms = self.compute_losses(batch["image"], seeded_generator(VALIDATION_VIEW_SEED, batch_idx))
        self.log_dict({f"val/{k}": v for k, v in terms.items()}, prog_bar=False)
        return terms["loss"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Stylize RGB images in [0, 1] (sizes multiples of 8); the output is not clamped."""
        assert self.encoder is not None, "call setup() first"
        return self.decoder(self.encoder(images))

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.decoder.parameters())

    def configure_optimizers(self) -> Any:
        return adam_with_inverse_decay(self.trained_parameters(), self.hparams.lr, self.hparams.lr_decay)

    def configure_callbacks(self) -> list[L.Callback]:
        from clipstyler_fast.eval.metrics import QualityMetrics
        from clipstyler_fast.train.callbacks import PreviewImages, UnreadableImageReport

        callbacks: list[L.Callback] = [UnreadableImageReport(), QualityMetrics()]
        if self.hparams.preview_every_n_steps > 0:
            callbacks.append(PreviewImages(self.hparams.preview_every_n_steps))
        return callbacks
