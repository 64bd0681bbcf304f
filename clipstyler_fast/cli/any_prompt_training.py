"""``fit``/``validate`` of the any-prompt network: chosen when a prompt bank is given
(``--data.prompts``, as ``configs/any_prompt.yaml`` does) or the checkpoint holds one."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.cli import LightningArgumentParser

from clipstyler_fast.cli.lightning_common import DESCRIPTIONS
from clipstyler_fast.cli.training_cli import SaveConfigWithCheckpoints, TrainingCLI
from clipstyler_fast.errors import ClipstylerError
from clipstyler_fast.io.checkpoint_file import load_checkpoint_file
from clipstyler_fast.nets.style_file import StyleRecord
from clipstyler_fast.train.any_prompt import AnyPromptStyleTransfer
from clipstyler_fast.train.checkpoint_callback import StyleCheckpoint
from clipstyler_fast.train.prompt_bank import PromptBankDataModule

# The folder of an any-prompt run under --checkpoint.root.
RUN_NAME = "any-prompt"


def _option(args: list[str], name: str) -> list[str]:
    """Every value given to ``--name`` (as ``--name VALUE`` or ``--name=VALUE``)."""
    values = []
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            values.append(args[i + 1])
        elif arg.startswith(name + "="):
            values.append(arg.split("=", 1)[1])
    return values


def _config_has_bank(path: str) -> bool:
    import yaml

    try:
        config = yaml.safe_load(Path(path).expanduser().read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False  # LightningCLI reports an unreadable config itself
    return isinstance(config, dict) and isinstance(config.get("data"), dict) and "prompts" in config["data"]


def _checkpoint_is_any_prompt(path: str) -> bool:
    if not Path(path).expanduser().is_file():
        return False
    try:
        return StyleRecord.from_checkpoint(load_checkpoint_file(path), path).is_conditioned
    except ClipstylerError:
        return False  # the per-prompt command reports a bad checkpoint in its own words


def wants_any_prompt(args: list[str]) -> bool:
    """Whether a ``fit``/``validate`` command line trains (or checks) an any-prompt network."""
    if any(arg == "--data.prompts" or arg.startswith("--data.prompts=") for arg in args):
        return True
    return any(_config_has_bank(c) for c in _option(args, "--config")) or any(
        _checkpoint_is_any_prompt(c) for c in _option(args, "--ckpt_path")
    )


class AnyPromptCLI(TrainingCLI):
    """``fit`` and ``validate`` of one network for every prompt of a bank."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        super().__init__(
            AnyPromptStyleTransfer,
            PromptBankDataModule,
            trainer_defaults={"max_steps": 20000, "val_check_interval": 500, "check_val_every_n_epoch": None, "log_every_n_steps": 50},
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
        parser.set_defaults({"checkpoint.prompt": RUN_NAME})
        parser.link_arguments("data.prompts", "model.prompts")
