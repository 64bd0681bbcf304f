"""What the per-prompt and the any-prompt modules share: their options, the frozen CLIP and VGG
with their speed options, and the CLIPstyler objective as a function of the networks and a batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torchmetrics.functional.image import structural_similarity_index_measure

from clipstyler_fast.errors import CheckpointError, ClipstylerError
from clipstyler_fast.nets.clip_model import DEFAULT_CLIP, ClipEncoder, clip_file, load_clip
from clipstyler_fast.nets.decoder import build_decoder
from clipstyler_fast.nets.decoder_init import decoder_init_file
from clipstyler_fast.nets.style_file import StyleRecord
from clipstyler_fast.nets.vgg import DEFAULT_ENCODER, EncoderKind, VGGEncoder, check_encoder_kind, encoder_weights_file, load_vgg_encoder
from clipstyler_fast.nets.weights import absolute_if_file, gather
from clipstyler_fast.objective import losses
from clipstyler_fast.objective.views import perspective_views
from clipstyler_fast.precision import FROZEN_PRECISIONS, FrozenPrecision, autocast_dtype, channels_last_setting, describe_choice
from clipstyler_fast.train.consistency import add_consistency
from clipstyler_fast.train.steps import FrozenNetworksMixin, adam_with_inverse_decay, frozen_precision, start_decoder

# Validation draws the same views every time so that its losses are comparable across steps.
VALIDATION_VIEW_SEED = 12345


def settle_style_weights(options: Any, new_decoder: bool) -> tuple[str, str]:
    """Download what a style run needs (once) or check its local files, every missing one reported
    in one :class:`~clipstyler_fast.errors.WeightsUnavailableError` before any network loads, so
    that an offline user learns every file to copy at once: CLIP, the encoder, and for a new run
    (``new_decoder``) that does not refine an any-prompt network, the decoder it starts from.
    ``options``: the module's hyperparameters. Returns the CLIP and VGG files to load (a downloaded
    CLIP is hash-checked here, not again when it loads)."""
    encoder = options.get("encoder", DEFAULT_ENCODER)
    resolvers = [
        lambda: clip_file(options.get("clip_model", DEFAULT_CLIP), options.get("clip_download_root")),
        lambda: encoder_weights_file(encoder, options.get("vgg_weights", "auto")),
    ]
    if new_decoder and not options.get("init_from"):
        resolvers.append(lambda: decoder_init_file(options.get("decoder_init", "auto"), encoder))
    clip_source, vgg_source, *_ = gather(*resolvers)
    return str(clip_source), str(vgg_source)


def style_terms(
    encoder: VGGEncoder,
    clip: ClipEncoder,
    decode: Callable[[torch.Tensor], torch.Tensor],
    content: torch.Tensor,
    direction: torch.Tensor,
    hp: Any,
    generator: torch.Generator | None,
    dtype: torch.dtype | None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The CLIPstyler loss terms and their weighted total (``loss``) for content images in [0, 1]
    decoded by ``decode`` from their relu4_1 features, and the stylized batch. ``direction``: the
    text direction ``(D,)`` or one per image ``(B, D)``; ``hp``: the weights and view options;
    ``dtype``: the autocast dtype of the frozen passes (None: fp32)."""
    batch = content.shape[0]
    with torch.no_grad(), frozen_precision(content.device, dtype):
        target = encoder(content)
        source = clip.encode_image(content)
    output = decode(target)
    with frozen_precision(content.device, dtype):
        content_term = losses.content_loss(encoder(output), target)
    views = perspective_views(output, hp.num_views, hp.distortion, generator, hp.per_sample_views, crop=hp.view_crop)
    # One CLIP pass for the views and the whole outputs together (patch views are smaller
    # than the outputs: both go to CLIP's resolution first, as CLIP would resize them anyway).
    views, whole = views.flatten(0, 1), output
    with frozen_precision(content.device, dtype):
        if views.shape[-2:] != whole.shape[-2:]:
            views, whole = clip.resize(views), clip.resize(whole)
        embedded = clip.encode_image(torch.cat([views, whole]))
    view_features = embedded[: batch * hp.num_views].view(batch, hp.num_views, -1)
    patch = losses.patch_directional_loss(view_features, source, direction, hp.threshold)
    glob = losses.global_directional_loss(embedded[batch * hp.num_views :], source, direction)
    tv = losses.total_variation(output)
    total = hp.lambda_content * content_term + hp.lambda_patch * patch + hp.lambda_dir * glob + hp.lambda_tv * tv
    return {"loss": total, "content": content_term, "patch": patch, "dir": glob, "tv": tv}, output


def quality_terms(terms: dict[str, torch.Tensor], output: torch.Tensor, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """``terms`` with the quality metrics of held-out images read off them: the CLIP directional
    similarity (``1 -`` the global directional loss) and the SSIM of the output to its content."""
    shown = output.detach().float().clamp(0, 1)
    ssim = structural_similarity_index_measure(shown, images.float(), data_range=1.0)
    return {**terms, "clip_direction": 1 - terms["dir"], "content_ssim": ssim}


class ClipStyleModule(FrozenNetworksMixin, L.LightningModule):
    """A decoder trained with the CLIPstyler losses against a frozen VGG-19 and CLIP.

    Args:
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

    def __init__(
        self,
        source_text: str = "a Photo",
        clip_model: str = DEFAULT_CLIP,
        clip_download_root: str | None = None,
        encoder: EncoderKind = DEFAULT_ENCODER,
        vgg_weights: str = "auto",
        decoder_init: str = "auto",
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
        if not 0.0 < view_crop <= 1.0:
            raise ClipstylerError(
                f"view_crop {view_crop} is outside (0, 1]; 1 views the whole output, e.g. 0.25 views patches of a quarter of its side"
            )
        if frozen_precision not in FROZEN_PRECISIONS:
            raise ValueError(f"frozen_precision {frozen_precision!r} is not one of {', '.join(FROZEN_PRECISIONS)}")
        check_encoder_kind(encoder)
        self.save_hyperparameters()
        # Local files by absolute path, so that a checkpoint's options work from any folder (set
        # after saving: a subclass's own keyword arguments would otherwise win with the given ones).
        self.hparams.update({key: absolute_if_file(self.hparams[key]) for key in ("clip_model", "vgg_weights", "decoder_init")})
        self.decoder = build_decoder()
        self.encoder: VGGEncoder | None = None
        self.clip: ClipEncoder | None = None
        # The prompt's text direction of a per-prompt network; empty for an any-prompt one, whose
        # checkpoints carry it all the same (a resumed run's state holds it).
        self.register_buffer("text_direction", torch.empty(0))

    # ----------------------------------------------------------------- frozen networks
    def setup(self, stage: str) -> None:
        hp = self.hparams
        clip_source, vgg_source = hp.clip_model, hp.vgg_weights
        if stage in ("fit", "validate") and self.clip is None:
            # Every missing file in one message, before any network loads. A run that resumes (the
            # command hands its checkpoint to the trainer before fitting) needs no decoder start.
            new_decoder = stage == "fit" and (not self.attached or self.trainer.ckpt_path is None)
            clip_source, vgg_source = settle_style_weights(hp, new_decoder)
        if self.encoder is None:
            self.encoder = load_vgg_encoder(vgg_source, hp.encoder)
        if stage in ("fit", "validate") and self.clip is None:
            self.clip = load_clip(clip_source, hp.clip_download_root)
            self.prepare_directions()
        if stage == "fit" and not self.attached:
            # Used by hand, outside a Trainer: nothing will restore weights, start from the init now.
            self.start_decoder()
        self._speed_up()

    @property
    def attached(self) -> bool:
        """Whether a Trainer runs this module (rather than code calling it by hand)."""
        try:
            return self.trainer is not None
        except RuntimeError:  # Lightning's answer for a module no trainer has taken
            return False

    def prepare_directions(self) -> None:
        """Compute the text direction(s) the losses use, with the loaded CLIP."""
        raise NotImplementedError

    def start_decoder(self) -> None:
        """Load the weights a new run starts from (``decoder_init``; a resumed run keeps its own)."""
        start_decoder(self.decoder, self.hparams.decoder_init, self.hparams.encoder)

    def _speed_up(self) -> None:
        """Apply the memory-layout and compilation options to the networks (once)."""
        if getattr(self, "_sped_up", False):
            return
        self._sped_up = True
        # The device the run computes on (setup runs before Lightning moves the module there).
        device = self.trainer.strategy.root_device if self.attached else self.device
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

    def frozen_dtype(self) -> torch.dtype | None:
        """The autocast dtype of the frozen networks (``frozen_precision``), or None for fp32."""
        return autocast_dtype(self.hparams.frozen_precision, self.device, "frozen_precision")

    def terms_and_output(
        self,
        content: torch.Tensor,
        decode: Callable[[torch.Tensor], torch.Tensor],
        direction: torch.Tensor,
        generator: torch.Generator | None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """:func:`style_terms` of this module's networks and options on a batch of content images,
        with the consistency term when its weight is not 0. ``decode`` takes the features of the
        batch or of its first images (the warped ones)."""
        assert self.encoder is not None and self.clip is not None, "call setup('fit') first"
        encoder, hp, frozen_dtype = self.encoder, self.hparams, self.frozen_dtype()
        layout = torch.channels_last if self._channels_last else torch.contiguous_format
        # The decoder runs in its own precision: frozen features may come out of autocast as bf16.
        dtype = next(self.decoder.parameters()).dtype

        def run_decoder(features: torch.Tensor) -> torch.Tensor:
            return decode(features.to(dtype))

        def network(images: torch.Tensor) -> torch.Tensor:
            """The whole style network ``f``: the frozen encoder, then the trained decoder."""
            with torch.no_grad(), frozen_precision(images.device, frozen_dtype):
                features = encoder(images.contiguous(memory_format=layout))
            return run_decoder(features)

        content = content.contiguous(memory_format=layout)
        terms, output = style_terms(encoder, self.clip, run_decoder, content, direction, hp, generator, frozen_dtype)
        return add_consistency(terms, hp.lambda_consistency, hp.consistency_share, network, content, output, generator), output

    def on_fit_start(self) -> None:
        # Here, not in setup(): only now does the trainer know whether it resumes from a checkpoint
        # (whose weights are already restored and must not be replaced).
        if self.trainer.ckpt_path is None:
            self.start_decoder()
        rank_zero_info(f"frozen CLIP and VGG passes in {describe_choice(self.frozen_dtype(), self.device)}")

    def style_record(self) -> StyleRecord:
        """What the run's checkpoints record about its network (written by :class:`StyleFileWriter`)."""
        hp = self.hparams
        return StyleRecord(
            prompt=hp.get("prompt"),
            encoder=hp.encoder,
            vgg_weights=str(hp.vgg_weights),
            clip_model=str(hp.clip_model),
            source_text=hp.source_text,
        )

    def check_encoder(self, encoder: str) -> None:
        """Refuse a checkpoint trained with another encoder than this run's."""
        if encoder != self.hparams.encoder:
            raise CheckpointError(
                f"the checkpoint was trained with the {encoder} encoder, this run uses {self.hparams.encoder}; pass `encoder` {encoder}"
            )

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.decoder.parameters())

    def configure_optimizers(self) -> Any:
        return adam_with_inverse_decay(self.trained_parameters(), self.hparams.lr, self.hparams.lr_decay)

    def configure_callbacks(self) -> list[L.Callback]:
        from clipstyler_fast.train.checkpoint_callback import style_callbacks

        return style_callbacks(self.hparams.preview_every_n_steps)
