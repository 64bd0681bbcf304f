"""``fit``, ``validate`` and ``pretrain``: LightningCLI over the training modules."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.cli import LightningArgumentParser

from clipstyler_fast.cli.any_prompt_training import RUN_NAME, wants_any_prompt
from clipstyler_fast.cli.lightning_common import DESCRIPTIONS, settle_trainer_precision
from clipstyler_fast.cli.training_cli import SaveConfigWithCheckpoints, TrainingCLI
from clipstyler_fast.train.any_prompt import AnyPromptStyleTransfer
from clipstyler_fast.train.checkpoint_callback import StyleCheckpoint
from clipstyler_fast.train.data import ContentDataModule
from clipstyler_fast.train.model import StyleTransfer
from clipstyler_fast.train.pretrain import DecoderPretraining
from clipstyler_fast.train.prompt_bank import PromptBankDataModule

FIT_SUBCOMMANDS = {"model", "train_dataloaders", "val_dataloaders", "datamodule", "weights_only"}
VALIDATE_SUBCOMMANDS = {"model", "dataloaders", "datamodule", "weights_only"}


class StyleCLI(TrainingCLI):
    """``fit`` and ``validate`` of :attr:`MODEL` on :attr:`DATA`: a per-prompt style network."""

    MODEL: type = StyleTransfer
    DATA: type = ContentDataModule
    # max_steps, val_check_interval (held-out losses every 50 steps, counted across the short
    # epochs), log_every_n_steps
    SCHEDULE = (200, 50, 10)

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        steps, val_every, log_every = self.SCHEDULE
        super().__init__(
            self.MODEL,
            self.DATA,
            trainer_defaults={
                "max_steps": steps,
                "val_check_interval": val_every,
                "check_val_every_n_epoch": None,
                "log_every_n_steps": log_every,
            },
            save_config_callback=SaveConfigWithCheckpoints,
            parser_kwargs=self.parser_settings(),
            auto_configure_optimizers=False,
            args=args,
            run=run,
        )

    def parser_settings(self) -> dict[str, Any]:
        """The program name, and each subcommand's description."""
        return {
            "prog": "clipstyler-fast",
            "fit": {"description": DESCRIPTIONS["fit"]},
            "validate": {"description": DESCRIPTIONS["validate"]},
        }

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": FIT_SUBCOMMANDS, "validate": VALIDATE_SUBCOMMANDS}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(StyleCheckpoint, "checkpoint")
        parser.link_arguments("model.prompt", "checkpoint.prompt")


class AnyPromptCLI(StyleCLI):
    """``fit`` and ``validate`` of one network for every prompt of a bank (``--data.prompts``)."""

    MODEL = AnyPromptStyleTransfer
    DATA = PromptBankDataModule
    SCHEDULE = (20000, 500, 50)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(StyleCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.prompt": RUN_NAME})
        parser.link_arguments("data.prompts", "model.prompts")


class FitOnlyCLI(StyleCLI):
    """A command that only trains (``fit``) :attr:`MODEL` on content photos, with checkpoints by :attr:`CHECKPOINT`."""

    MODEL = DecoderPretraining
    COMMAND: str | None = "pretrain"
    CHECKPOINT: type = StyleCheckpoint
    SCHEDULE = (10000, 1000, 50)

    def parser_settings(self) -> dict[str, Any]:
        return {"prog": f"clipstyler-fast {self.COMMAND}", "fit": {"description": DESCRIPTIONS[self.COMMAND]}}

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": FIT_SUBCOMMANDS}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(self.CHECKPOINT, "checkpoint")


class PretrainCLI(FitOnlyCLI):
    """``pretrain``: fit of the decoder reconstruction model, in bf16 where the processor computes it natively."""

    def before_instantiate_classes(self) -> None:
        super().before_instantiate_classes()
        settle_trainer_precision(self.config["fit"]["trainer"])


def main(argv: list[str]) -> int:
    """``fit``/``validate`` (``argv[0]``) of a style network (of an any-prompt network when a prompt
    bank is given), or ``pretrain`` of the decoder."""
    command, rest = argv[0], argv[1:]
    if command == "pretrain":
        PretrainCLI(args=["fit", *rest])
    elif wants_any_prompt(rest):
        AnyPromptCLI(args=argv)
    else:
        StyleCLI(args=argv)
    return 0
