"""The LightningModule that distills a style into a small student network.

The teacher is a trained style (``decoder(encoder(x))``, loaded exactly as ``predict`` loads it,
through :meth:`Stylizer.from_checkpoint`): a per-prompt ``style.ckpt``, or an any-prompt
checkpoint at one fixed prompt (``prompt``); the student (:mod:`clipstyler_fast.nets.student`)
learns to reproduce the teacher's raw output on unlabelled photos. The checkpoint holds only the
student and the teacher's record (prompt, text direction): a ``student.ckpt`` is read by
``predict``, ``video``, ``export``, ``evaluate`` and ``Stylizer`` like any style file.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info

from clipstyler_fast.errors import CheckpointError, DataError
from clipstyler_fast.infer.any_prompt import load_style
from clipstyler_fast.infer.stylizer import Stylizer
from clipstyler_fast.nets.student import STUDENT_ARCHITECTURE, StudentConfig, build_student
from clipstyler_fast.nets.style_file import StyleRecord, network_weights
from clipstyler_fast.nets.style_kinds import DECODER_NETWORK, STUDENT_NETWORK, TEXT_DIRECTION
from clipstyler_fast.nets.weights import absolute_if_file
from clipstyler_fast.objective import losses
from clipstyler_fast.precision import describe_choice
from clipstyler_fast.train.consistency import add_consistency
from clipstyler_fast.train.steps import LossTermSteps, adam_with_inverse_decay


class Distillation(LossTermSteps, L.LightningModule):
    """Trains a student so that ``student(x) ~ teacher(x)`` on content photos.

    Args:
        teacher: the style checkpoint to distill (a ``style.ckpt`` written by ``fit`` or
            ``interpolate``, or an any-prompt one with ``prompt``); given on the command line as
            ``--ckpt_path STYLE.ckpt``.
        prompt: the prompt to distill of an any-prompt teacher (one student per prompt); None
            for a per-prompt style.
        clip_model: a local copy of the CLIP model an any-prompt teacher was trained with, for a
            prompt outside its bank (offline use; default: the one it records).
        vgg_weights: a local copy of the VGG weights the teacher records (default: the recorded ones).
        teacher_precision: precision of the teacher's forward pass: ``auto`` (as ``predict``
            runs it: bf16 where the CPU or GPU computes it natively, fp32 elsewhere) or
            ``32-true`` (fp32 targets everywhere).
        widths: the student's channels at a half, a quarter and an eighth of the resolution.
        blocks: depthwise-separable residual blocks at an eighth of the resolution.
        expansion: width multiplier inside each block.
        dilations: dilations of the blocks' depthwise convolutions, cycled over the blocks.
        full_width: channels of the student's two full-resolution layers (the first, and the last before RGB).
        lambda_pixel: weight of the pixel loss (mean squared error to the teacher's output).
        lambda_feature: weight of the feature loss (mean squared error between the relu4_1
            features of the student's and the teacher's outputs, in the teacher's own encoder;
            0 skips it, and its cost).
        lambda_consistency: weight of ``|s(T x) - T s(x)|`` for the student ``s`` over small random warps
            ``T`` of the photos: steadier video (0: off).
        consistency_share: share of each batch warped for that term: its cost, that share of one more student pass a step.
        lr: Adam learning rate.
        lr_decay: the rate decays as ``lr / (1 + lr_decay * step)``.
        preview_every_n_steps: log a grid of held-out photos, their teacher and student outputs
            this often (0 turns previews off).
    """

    def __init__(
        self,
        teacher: str | None = None,
        prompt: str | None = None,
        clip_model: str | None = None,
        vgg_weights: str | None = None,
        teacher_precision: Literal["auto", "32-true"] = "auto",
        widths: list[int] | None = None,
        blocks: int = 6,
        expansion: int = 2,
        dilations: list[int] | None = None,
        full_width: int = 16,
        lambda_pixel: float = 1.0,
        lambda_feature: float = 0.0,
        lambda_consistency: float = 0.0,
        consistency_share: float = 1.0,
        lr: float = 2e-3,
        lr_decay: float = 1e-3,
        preview_every_n_steps: int = 100,
    ) -> None:
        super().__init__()
        if not teacher:
            raise CheckpointError("no teacher given; pass the style to distill as `teacher`")
        teacher = absolute_if_file(teacher)
        vgg_weights = absolute_if_file(vgg_weights) if vgg_weights else None
        clip_model = absolute_if_file(clip_model) if clip_model else None
        defaults = StudentConfig()
        try:
            config = StudentConfig(tuple(widths or defaults.widths), blocks, expansion, tuple(dilations or defaults.dilations), full_width)
        except ValueError as error:
            raise DataError(str(error)) from None
        self.save_hyperparameters()
        self.config = config
        self.teacher_path = teacher
        self.vgg_weights = vgg_weights
        self.student = build_student(config)
        # An any-prompt teacher is specialised to its prompt here: from then on it is one style.
        self.style = load_style(teacher, prompt, clip_model)
        if self.style.record.network != DECODER_NETWORK:
            raise CheckpointError(
                f"{teacher}: holds a {self.style.record.network}, not a style trained by `clipstyler-fast fit`; distill a style.ckpt"
            )
        # The teacher's text direction goes into every checkpoint: a student file is read like any style.
        direction = self.style.text_direction
        self.register_buffer(TEXT_DIRECTION, direction.clone() if direction is not None else torch.empty(0))
        # The teacher lives outside the module's parameters: never trained, never in a checkpoint.
        self._teacher: list[Stylizer] = []

    # ----------------------------------------------------------------- teacher
    @property
    def teacher(self) -> Stylizer:
        if not self._teacher:
            # The style read at start-up (an any-prompt teacher already specialised), as predict runs it.
            options = {"vgg_weights": self.vgg_weights, "precision": self.hparams.teacher_precision, "tile_above": 2**62}
            self._teacher.append(Stylizer.from_style(self.style, **options))
        stylizer = self._teacher[0]
        if stylizer.device != self.device:
            stylizer.to(self.device)
        return stylizer

    def setup(self, stage: str) -> None:
        self.teacher  # noqa: B018  (loads it now: a missing weight file fails before training)

    def on_fit_start(self) -> None:
        dtype = self.teacher.autocast_dtype(self.device.type)
        rank_zero_info(f"teacher passes in {describe_choice(dtype, self.device)}")

    @torch.no_grad()
    def targets(self, images: torch.Tensor) -> torch.Tensor:
        """What the teacher shows for images whose sides are multiples of 8: its output in float32,
        clamped to [0, 1] as ``predict`` clamps it (values beyond are never seen, so not worth learning)."""
        return self.teacher.run_network(images).clamp(0, 1)

    # ----------------------------------------------------------------- the objective
    def compute_losses(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Pixel and feature losses of the student against the teacher, their weighted total, and the PSNR."""
        targets = self.targets(images) if targets is None else targets
        output = self.student(images)
        pixel = F.mse_loss(output, targets)
        terms = {"pixel": pixel}
        total = self.hparams.lambda_pixel * pixel
        if self.hparams.lambda_feature > 0:
            encoder = self.teacher.network.encoder
            with torch.no_grad():
                target_features = encoder(targets)
            feature = losses.content_loss(encoder(output), target_features)
            terms["feature"] = feature
            total = total + self.hparams.lambda_feature * feature
        hp = self.hparams
        terms = add_consistency({"loss": total, **terms}, hp.lambda_consistency, hp.consistency_share, self.student, images, output)
        with torch.no_grad():
            shown = F.mse_loss(output.detach().clamp(0, 1), targets)
            terms["psnr"] = -10 * torch.log10(shown.clamp_min(1e-10))
        return terms

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The student's output for RGB images in [0, 1] (sides multiples of 8), not clamped."""
        return self.student(images)

    def preview_rows(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The rows of a preview grid: the photos, the teacher's outputs, the student's."""
        return [images, self.targets(images), self.student(images)]

    def configure_optimizers(self) -> Any:
        return adam_with_inverse_decay(self.student.parameters(), self.hparams.lr, self.hparams.lr_decay)

    def configure_callbacks(self) -> list[L.Callback]:
        from clipstyler_fast.train.checkpoint_callback import style_callbacks

        return style_callbacks(self.hparams.preview_every_n_steps)

    # ----------------------------------------------------------------- state
    @property
    def distilled_prompt(self) -> str | None:
        """The prompt of the style this run distills (its checkpoint folder is named after it)."""
        return self.style.record.prompt

    def style_record(self) -> StyleRecord:
        """The teacher's record, saying that this file holds its student."""
        record = replace(self.style.record, architecture=STUDENT_ARCHITECTURE, network=STUDENT_NETWORK, conditioning=None)
        return replace(record, student=self.config.to_dict(), teacher=self.teacher_path)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        record = StyleRecord.from_checkpoint(checkpoint)
        if record.network != STUDENT_NETWORK or StudentConfig.from_dict(record.student or {}) != self.config:
            raise CheckpointError(
                f"the checkpoint holds a {record.network} {record.student or ''}, this run trains a student {self.config.to_dict()}; "
                "resume with the options of the run that wrote it (its config.yaml)"
            )
        network_weights(checkpoint, None, record)
        # The teacher's, as this run read it (a file written before it was kept as a buffer may lack it).
        checkpoint["state_dict"][TEXT_DIRECTION] = self.text_direction
