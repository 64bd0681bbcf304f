"""``fit``, ``validate`` and ``pretrain``: LightningCLI over the training modules, with safe atomic
checkpoint I/O, the run's logger and progress bar, one-line errors before any network loads, and
``config.yaml`` beside the checkpoints.

Which module a ``fit``/``validate`` is about is said on the command line: a prompt bank
(``--data.prompts FILE``) trains or checks the any-prompt network, else a single style. Nothing is
read to choose: a ``--ckpt_path`` file is read once, to check it and take its options, and that
same copy is what the trainer restores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from clipstyler_fast.cli.lightning_common import CKPT_PATH_HELP, DESCRIPTIONS, settle_trainer_precision
from clipstyler_fast.cli.option_table import check_config
from clipstyler_fast.errors import CheckpointError
from clipstyler_fast.io.checkpoint_file import load_checkpoint_file
from clipstyler_fast.nets.style_file import StyleFile, StyleRecord
from clipstyler_fast.train.any_prompt import AnyPromptStyleTransfer
from clipstyler_fast.train.callbacks import StepProgressBar, run_logger
from clipstyler_fast.train.checkpoint_callback import StyleCheckpoint
from clipstyler_fast.train.checkpoint_io import SafeCheckpointIO
from clipstyler_fast.train.data import ContentDataModule
from clipstyler_fast.train.model import StyleTransfer
from clipstyler_fast.train.pretrain import DecoderPretraining
from clipstyler_fast.train.prompt_bank import PromptBankDataModule
from clipstyler_fast.train.run_folder import (
    ANY_PROMPT_RUN,
    LAST_FILENAME,
    check_can_start,
    check_image_folder,
    check_training_state,
    is_resume_key,
    resumes,
    run_folder,
)

# The Trainer method arguments that are not options (the modules and data come from --model and --data).
FIT_SKIPPED = {"model", "train_dataloaders", "val_dataloaders", "datamodule", "weights_only"}
VALIDATE_SKIPPED = {"model", "dataloaders", "datamodule", "weights_only"}
# The word that makes fit and validate about the any-prompt network.
PROMPT_BANK_OPTION = "--data.prompts"


def fit_with_help(ckpt_path_help: str) -> Any:
    """``Trainer.fit`` whose docstring is the help of its options: the title of the ``--ckpt_path``
    group, and what it takes in this product's words rather than Lightning's."""

    def fit(
        self: Trainer,
        model: Any,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        datamodule: Any = None,
        ckpt_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        return Trainer.fit(self, model, train_dataloaders, val_dataloaders, datamodule, ckpt_path, **kwargs)

    fit.__doc__ = f"Checkpoint\n\nArgs:\n    ckpt_path: {ckpt_path_help}\n"
    return fit


class RunTrainer(Trainer):
    """How and where to run (device, precision, steps, logging)"""

    # The docstrings are the help: the class's first line titles the trainer's options, and each
    # method's says what its --ckpt_path takes.
    fit = fit_with_help(CKPT_PATH_HELP["fit"])

    def validate(
        self,
        model: Any = None,
        dataloaders: Any = None,
        ckpt_path: str | None = None,
        verbose: bool = True,
        datamodule: Any = None,
        **kwargs: Any,
    ) -> Any:
        return super().validate(model, dataloaders, ckpt_path, verbose, datamodule, **kwargs)

    validate.__doc__ = (
        f"Checkpoint\n\nArgs:\n    ckpt_path: {CKPT_PATH_HELP['validate']}\n    verbose: If True, prints the validation results.\n"
    )


class SaveConfigWithCheckpoints(SaveConfigCallback):
    """Write the run's full configuration as ``config.yaml`` beside its checkpoints, so that a
    checkpoint folder says how it was made (and a run without a logger leaves nothing in the
    working folder)."""

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Nothing yet: the file is written when training starts (:meth:`on_train_start`)."""

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        # Not in setup: the checkpoint callback first checks that its folder can be written and
        # holds no earlier run, and its refusal must leave that run's config.yaml untouched.
        super().setup(trainer, pl_module, "fit")

    def save_config(self, trainer: Any, pl_module: Any, stage: str) -> None:
        callback = trainer.checkpoint_callback
        if stage != "fit" or callback is None or callback.dirpath is None or not trainer.is_global_zero:
            return
        folder = Path(callback.dirpath)
        folder.mkdir(parents=True, exist_ok=True)
        self.parser.save(self.config, folder / self.config_filename, skip_none=False, overwrite=True, multifile=False)


def namespace_to_dict(namespace: Any) -> dict[str, Any]:
    return dict(namespace.as_dict() if hasattr(namespace, "as_dict") else namespace or {})


class StyleCLI(LightningCLI):
    """``fit`` and ``validate`` of :attr:`MODEL` on :attr:`DATA` (a per-prompt style network), and
    what every training command shares: safe atomic checkpoint I/O, the run's logger and progress
    bar, and every refusal that needs no network before any network loads."""

    MODEL: type = StyleTransfer
    DATA: type = ContentDataModule
    # The clipstyler-fast command, where it is not the LightningCLI subcommand (pretrain and distill run "fit").
    COMMAND: str | None = None
    TRAINER: type[Trainer] = RunTrainer
    # max_steps, val_check_interval (held-out losses every 50 steps, counted across the short
    # epochs), log_every_n_steps
    SCHEDULE = (200, 50, 10)

    def __init__(self, args: list[str] | None = None) -> None:
        steps, val_every, log_every = self.SCHEDULE
        super().__init__(
            self.MODEL,
            self.DATA,
            trainer_class=self.TRAINER,
            trainer_defaults={
                "max_steps": steps,
                "val_check_interval": val_every,
                "check_val_every_n_epoch": None,
                "log_every_n_steps": log_every,
            },
            save_config_callback=SaveConfigWithCheckpoints,
            # Beside the checkpoints only: a run without a logger leaves nothing in the working folder.
            save_config_kwargs={"save_to_log_dir": False},
            parser_kwargs=self.parser_settings(),
            auto_configure_optimizers=False,
            args=args,
        )

    def parser_settings(self) -> dict[str, Any]:
        """The program name, and each subcommand's description."""
        prog = f"clipstyler-fast {self.COMMAND}" if self.COMMAND else "clipstyler-fast"
        return {"prog": prog, **{name: {"description": DESCRIPTIONS[self.COMMAND or name]} for name in self.subcommands()}}

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": FIT_SKIPPED, "validate": VALIDATE_SKIPPED}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(StyleCheckpoint, "checkpoint")
        parser.link_arguments("model.prompt", "checkpoint.prompt")

    @property
    def run_config(self) -> Any:
        """The options of the subcommand that runs."""
        return self.config[self.config["subcommand"]]

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        # Held back until before_instantiate_classes: Lightning would otherwise load a --ckpt_path
        # file right after parsing, unchecked, to take its options, and load it again to restore it.
        self.ckpt_path: str | None = self.run_config.get("ckpt_path")
        self.run_config.ckpt_path = None
        self.checkpoint: dict[str, Any] | None = None

    def before_instantiate_classes(self) -> None:
        """Every refusal that needs no network, before any network loads: the checkpoint file (read
        once, its options taken), the option values (config files' too: the step budget, the
        ranges) and the data folders."""
        subcommand, config = self.config["subcommand"], self.run_config
        config.ckpt_path = self.ckpt_path
        if self.ckpt_path and not is_resume_key(self.ckpt_path):
            self.checkpoint = load_checkpoint_file(self.ckpt_path)
            if subcommand == "fit":
                # Refused now, before any network loads (Lightning would fail with a trace much later).
                check_training_state(self.ckpt_path, "optimizer_states" in self.checkpoint)
            self.take_checkpoint_options(self.checkpoint)
        check_config(self.COMMAND or subcommand, self.run_config)
        data = namespace_to_dict(self.run_config.get("data"))
        for key, what in (("path", "content"), ("holdout_path", "held-out")):
            if data.get(key):
                check_image_folder(data[key], what)

    def take_checkpoint_options(self, checkpoint: dict[str, Any]) -> None:
        """Take the model's options from the checkpoint, as LightningCLI does, but let options the user
        set explicitly win over the checkpoint's (e.g. a local weight path on another machine)."""
        path = self.ckpt_path
        if StyleRecord.from_checkpoint(checkpoint, path).is_conditioned:
            if self.model_class is StyleTransfer:
                raise CheckpointError(f"{path}: an any-prompt checkpoint; give its prompt bank with {PROMPT_BANK_OPTION} FILE")
            hparams = dict(checkpoint.get("hyper_parameters") or {})
        else:
            # Format-1 files predate the encoder option: StyleFile fills in the encoder they were made with.
            style = StyleFile.from_checkpoint(checkpoint, path)
            if self.model_class is StyleTransfer:  # fit and validate train and measure decoders, not distilled students
                style.require_decoder()
            hparams = dict(style.hyper_parameters)
        hparams.pop("_instantiator", None)
        hparams.pop("_class_path", None)
        if len(hparams) <= 1:
            return
        subcommand = self.config["subcommand"]
        defaults = self.parser.get_defaults().get(subcommand, {}).get("model") or {}
        for key, value in namespace_to_dict(self.run_config.get("model")).items():
            if key in hparams and value != defaults.get(key):
                hparams[key] = value
        self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)

    def last_checkpoint(self) -> Path:
        """Where ``--ckpt_path last`` looks: the run folder's ``last.ckpt``."""
        checkpoint = namespace_to_dict(self.run_config.get("checkpoint"))
        prompt = checkpoint.get("prompt") or namespace_to_dict(self.run_config.get("model")).get("prompt")
        return run_folder(checkpoint.get("root"), prompt) / LAST_FILENAME

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        subcommand = self.config["subcommand"]
        last = self.last_checkpoint()
        if subcommand == "fit":
            overwrite = bool(namespace_to_dict(self.run_config.get("checkpoint")).get("overwrite"))
            check_can_start(last, self.ckpt_path, overwrite)
        settings = self.config_init[subcommand]["trainer"]
        if not settings.get("plugins"):
            # Lightning would resume from a file the command already read: the same copy, not a second read.
            preloaded = (self.ckpt_path, self.checkpoint) if self.checkpoint is not None else None
            kwargs.setdefault("plugins", [SafeCheckpointIO(preloaded)])
        if settings.get("logger") in (None, True):
            # The run's logs live in its own folder, beside its checkpoints, not in ./lightning_logs.
            kwargs["logger"] = run_logger(last.parent, resume=resumes(self.ckpt_path, last), stage=subcommand)
        given = list(settings.get("callbacks") or [])
        if settings.get("enable_progress_bar", True) is not False and not any(isinstance(c, ProgressBar) for c in given):
            kwargs["callbacks"] = [*given, StepProgressBar()]
        trainer = super().instantiate_trainer(**kwargs)
        # A file, or ``last`` when the run has one (the other words are Lightning's to resolve).
        named = self.ckpt_path == "last" or not is_resume_key(self.ckpt_path)
        if subcommand == "fit" and named and resumes(self.ckpt_path, last):
            # Handed to the trainer now (public, stateful ckpt_path) rather than to fit, so that the
            # module's setup knows that the run resumes and needs no decoder start.
            trainer.ckpt_path = str(last if self.ckpt_path == "last" else self.ckpt_path)
            self.config_init[subcommand]["ckpt_path"] = None
        return trainer


class AnyPromptCLI(StyleCLI):
    """``fit`` and ``validate`` of one network for every prompt of a bank (``--data.prompts``)."""

    MODEL = AnyPromptStyleTransfer
    DATA = PromptBankDataModule
    SCHEDULE = (20000, 500, 50)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(StyleCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.prompt": ANY_PROMPT_RUN})
        parser.link_arguments("data.prompts", "model.prompts")


class FitOnlyCLI(StyleCLI):
    """A command that only trains (``fit``) :attr:`MODEL` on content photos, with checkpoints by :attr:`CHECKPOINT`."""

    MODEL = DecoderPretraining
    COMMAND: str | None = "pretrain"
    CHECKPOINT: type = StyleCheckpoint
    SCHEDULE = (10000, 1000, 50)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": FIT_SKIPPED}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(self.CHECKPOINT, "checkpoint")


class PretrainCLI(FitOnlyCLI):
    """``pretrain``: fit of the decoder reconstruction model, in bf16 where the processor computes it natively."""

    def before_instantiate_classes(self) -> None:
        super().before_instantiate_classes()
        settle_trainer_precision(self.run_config["trainer"])


def main(argv: list[str]) -> int:
    """``fit``/``validate`` (``argv[0]``) of a style network (of an any-prompt network when a prompt
    bank is given), or ``pretrain`` of the decoder."""
    command, rest = argv[0], argv[1:]
    if command == "pretrain":
        PretrainCLI(args=["fit", *rest])
    elif any(arg == PROMPT_BANK_OPTION or arg.startswith(PROMPT_BANK_OPTION + "=") for arg in rest):
        AnyPromptCLI(args=argv)
    else:
        StyleCLI(args=argv)
    return 0
