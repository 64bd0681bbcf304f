"""``fit``, ``validate`` and ``pretrain``: LightningCLI over the training modules."""

from __future__ import annotations

from lightning.pytorch.cli import LightningArgumentParser

from clipstyler_fast.cli.any_prompt_training import AnyPromptCLI, wants_any_prompt
from clipstyler_fast.cli.lightning_common import DESCRIPTIONS
from clipstyler_fast.cli.training_cli import SaveConfigWithCheckpoints, TrainingCLI
from clipstyler_fast.train.checkpoint_callback import StyleCheckpoint
from clipstyler_fast.train.data import ContentDataModule
from clipstyler_fast.train.model import StyleTransfer
from clipstyler_fast.train.pretrain import DecoderPretraining


class StyleCLI(TrainingCLI):
    """``fit`` and ``validate`` of a per-prompt style network."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        super().__init__(
            StyleTransfer,
            ContentDataModule,
            trainer_defaults={
                "max_steps": 200,
                # Held-out losses every 50 steps, counted across the (short) epochs.
                "val_check_interval": 50,
                "check_val_every_n_epoch": None,
                "log_every_n_steps": 10,
            },
            save_config_callback=SaveConfigWithCheckpoints,
            parser_kwargs={
                "prog": "clipstyler-fast",
                "fit": {"description": DESCRIPTIONS["fit"]},
                "validate": {"description": DESCRIPTIONS["validate"]},
            },
            auto_configure_optimizers=False,
            args=args,
            run=run,
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {
            "fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule", "weights_only"},
            "validate": {"model", "dataloaders", "datamodule", "weights_only"},
        }

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(StyleCheckpoint, "checkpoint")
        parser.link_arguments("model.prompt", "checkpoint.prompt")


class FitOnlyCLI(TrainingCLI):
    """A command that only trains (``fit``) :attr:`MODEL` on content photos, with checkpoints by :attr:`CHECKPOINT`."""

    MODEL: type = DecoderPretraining
    COMMAND = "pretrain"
    CHECKPOINT: type = StyleCheckpoint
    # max_steps, val_check_interval, log_every_n_steps
    SCHEDULE = (10000, 1000, 50)

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        steps, val_every, log_every = self.SCHEDULE
        super().__init__(
            self.MODEL,
            ContentDataModule,
            trainer_defaults={
                "max_steps": steps,
                "val_check_interval": val_every,
                "check_val_every_n_epoch": None,
                "log_every_n_steps": log_every,
            },
            save_config_callback=SaveConfigWithCheckpoints,
            parser_kwargs={"prog": f"clipstyler-fast {self.COMMAND}", "fit": {"description": DESCRIPTIONS[self.COMMAND]}},
            auto_configure_optimizers=False,
            args=args,
            run=run,
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule", "weights_only"}}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(self.CHECKPOINT, "checkpoint")


class PretrainCLI(FitOnlyCLI):
    """``pretrain``: fit of the decoder reconstruction model."""


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
