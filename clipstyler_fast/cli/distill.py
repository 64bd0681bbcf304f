"""``distill``: train a small student network to reproduce a style, as a LightningCLI run like ``fit``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser

from clipstyler_fast.cli.lightning_common import CKPT_PATH_HELP
from clipstyler_fast.cli.training import FitOnlyCLI, RunTrainer, fit_with_help, namespace_to_dict
from clipstyler_fast.train.checkpoint_callback import StudentCheckpoint
from clipstyler_fast.train.distill import Distillation
from clipstyler_fast.train.run_folder import LAST_FILENAME, is_resume_key, run_folder, student_folder_name

TEACHER_OPTION = "--model.teacher"


class DistillTrainer(RunTrainer):
    """How and where to run (device, precision, steps, logging)"""

    fit = fit_with_help(CKPT_PATH_HELP["distill"])


class DistillCLI(FitOnlyCLI):
    """``distill``: fit of a student network to a style's outputs."""

    MODEL = Distillation
    COMMAND = "distill"
    CHECKPOINT = StudentCheckpoint
    TRAINER = DistillTrainer
    SCHEDULE = (2000, 100, 10)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        super().add_arguments_to_parser(parser)
        # Of an any-prompt teacher; a style's own prompt is known once the module has read the teacher.
        parser.link_arguments("model.prompt", "checkpoint.prompt")

    def last_checkpoint(self) -> Path:
        """Where ``--ckpt_path last`` looks: ``<root>/<teacher's prompt slug>-student/last.ckpt``."""
        root = namespace_to_dict(self.run_config.get("checkpoint")).get("root")
        return run_folder(root, student_folder_name(self.model.distilled_prompt)) / LAST_FILENAME

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        self.config_init["fit"]["checkpoint"].name_after(self.model.distilled_prompt)
        return super().instantiate_trainer(**kwargs)


def teacher_arguments(argv: list[str]) -> list[str]:
    """``--ckpt_path STYLE.ckpt`` names the style to distill: rewritten to ``--model.teacher STYLE.ckpt``.

    Where the teacher is named with ``--model.teacher``, ``--ckpt_path`` resumes the run (``last``,
    or the path of a distillation's ``last.ckpt``), as in ``fit``; so does a resume word alone.
    """
    if any(arg == TEACHER_OPTION or arg.startswith(TEACHER_OPTION + "=") for arg in argv):
        return list(argv)
    out: list[str] = []
    rest = iter(argv)
    for arg in rest:
        value = next(rest, None) if arg == "--ckpt_path" else arg.removeprefix("--ckpt_path=") if arg.startswith("--ckpt_path=") else None
        if value is None:
            out.append(arg)
        elif is_resume_key(value):
            out += ["--ckpt_path", value]
        else:
            out += [TEACHER_OPTION, value]
    return out


def main(argv: list[str]) -> int:
    """``clipstyler-fast distill``; returns the exit status."""
    if argv in (["--help"], ["-h"]):
        DistillCLI(args=["fit", "--help"])
        return 0
    DistillCLI(args=["fit", *teacher_arguments(argv)])
    return 0
