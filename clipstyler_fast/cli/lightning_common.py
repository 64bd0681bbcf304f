"""What the LightningCLI commands (``fit``, ``validate``, ``pretrain``, ``predict``) share: the
wording of their help, and the checks that come before any network is loaded."""

from __future__ import annotations

from typing import Any

CKPT_PATH_HELP = {
    "fit": (
        "resume training: 'last' continues the run in --checkpoint.root from its last.ckpt (a new run when there "
        "is none yet), or the path of a run's last.ckpt. (To start a new run from a style's weights, use "
        "--model.decoder_init FILE instead.)"
    ),
    "validate": "the checkpoint to validate: a run's style.ckpt or last.ckpt, or 'last' for the run in --checkpoint.root",
    "distill": (
        "the style checkpoint to distill (a style.ckpt written by fit); 'last' resumes the run in --checkpoint.root "
        "(with --model.teacher STYLE.ckpt), or the path of a distillation's last.ckpt (with --model.teacher STYLE.ckpt)"
    ),
    "predict": "the style checkpoint to stylize with (checkpoints/<style>/style.ckpt, or a blend written by interpolate)",
}

DESCRIPTIONS = {
    "fit": "Train a style network for a text prompt (checkpoints and logs go to <checkpoint.root>/<prompt-slug>/). "
    "With a prompt bank (--data.prompts FILE; configs/any_prompt.yaml holds its recipe), train one network for any prompt instead "
    "(to <checkpoint.root>/any-prompt/; its options: clipstyler-fast fit --data.prompts FILE --help).",
    "validate": "Losses of a style checkpoint on held-out images.",
    "pretrain": "Pre-train the decoder once by image reconstruction (checkpoints and logs go to <checkpoint.root>/pretrain/).",
    "predict": "Stylize images or folders of images with a style checkpoint.",
    "distill": (
        "Distill a style into a small student network that stylizes many times faster (checkpoints and logs go to "
        "<checkpoint.root>/<prompt-slug>-student/; the style is given with --ckpt_path STYLE.ckpt)."
    ),
}


def settle_trainer_precision(trainer: Any) -> None:
    """Unset ``--trainer.precision`` becomes bf16-mixed where the processor computes bf16 natively,
    else 32-true; a bf16 one given where it is emulated runs after one warning."""
    import torch

    from clipstyler_fast.precision import mixed_precision, warn_if_emulated

    accelerator = str(trainer.get("accelerator") or "auto").lower()
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        device_type = "cuda"
    else:
        device_type = "cpu" if accelerator in ("cpu", "auto") else accelerator
    if trainer.get("precision") is None:
        trainer.precision = mixed_precision(device_type)
    elif "bf16" in str(trainer.precision):
        warn_if_emulated(device_type, f"--trainer.precision {trainer.precision}", "32-true, or leave it unset (bf16 only where native)")
