"""``distill``: train a small student network to reproduce a style, as a LightningCLI run like ``fit``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser

from clipstyler_fast.cli.lightning_common import polish_help
from clipstyler_fast.cli.training import FitOnlyCLI
from clipstyler_fast.errors import CheckpointError
from clipstyler_fast.nets.style_file import StyleRecord, read_checkpoint
from clipstyler_fast.train.checkpoint_callback import StudentCheckpoint, student_folder_name
from clipstyler_fast.train.distill import Distillation

RESUME_KEYS = ("last", "best", "hpc", "registry")


def teacher_prompt(teacher: str | None, prompt: str | None = None) -> str | None:
    """The prompt a run distills (its checkpoint folder is named after it): the one chosen of an
    any-prompt teacher, else the style's own."""
    if prompt:
        return prompt
    return StyleRecord.from_checkpoint(read_checkpoint(teacher), teacher).prompt if teacher else None


class DistillCLI(FitOnlyCLI):
    """``distill``: fit of a student network to a style's outputs."""

    MODEL = Distillation
    COMMAND = "distill"
    CHECKPOINT = StudentCheckpoint
    SCHEDULE = (2000, 100, 10)

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        polish_help(parser, "distill")
        return parser

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        super().add_arguments_to_parser(parser)
        parser.link_arguments(("model.teacher", "model.prompt"), "checkpoint.prompt", compute_fn=teacher_prompt)

    def _last_checkpoint(self, config: Any) -> Path:
        """Where ``--ckpt_path last`` looks: ``<root>/<teacher's prompt slug>-student/last.ckpt``."""
        checkpoint = self.namespace_to_dict(config.get("checkpoint"))
        model = self.namespace_to_dict(config.get("model"))
        teacher = model.get("teacher")
        if not teacher:
            raise CheckpointError(
                "no style to distill; pass it with --ckpt_path STYLE.ckpt (to resume: --model.teacher STYLE.ckpt --ckpt_path last)"
            )
        folder = student_folder_name(teacher_prompt(teacher, model.get("prompt")))
        return Path(checkpoint.get("root") or "checkpoints") / folder / "last.ckpt"


def teacher_arguments(argv: list[str]) -> list[str]:
    """``--ckpt_path STYLE.ckpt`` names the style to distill: rewritten to ``--model.teacher STYLE.ckpt``.

    ``--ckpt_path last`` and the path of a distillation's own ``last.ckpt`` (a training state)
    keep their meaning: resume that run.
    """
    out: list[str] = []
    rest = iter(argv)
    for arg in rest:
        value = next(rest, None) if arg == "--ckpt_path" else arg.removeprefix("--ckpt_path=") if arg.startswith("--ckpt_path=") else None
        if value is None:
            out.append(arg)
        elif value in RESUME_KEYS or "optimizer_states" in read_checkpoint(value):
            out += ["--ckpt_path", value]
        else:
            out += ["--model.teacher", value]
    return out


def main(argv: list[str]) -> int:
    """``clipstyler-fast distill``; returns the exit status."""
    if argv in (["--help"], ["-h"]):
        DistillCLI(args=["fit", "--help"])
        return 0
    DistillCLI(args=["fit", *teacher_arguments(argv)])
    return 0
