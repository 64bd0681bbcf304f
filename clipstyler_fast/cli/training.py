"""``fit``, ``validate`` and ``pretrain``: LightningCLI over the training modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.cli import (
    LightningArgumentParser,
    LightningCLI,
    SaveConfigCallback,
)

from clipstyler_fast.nets.style_file import StyleFile
from clipstyler_fast.train.checkpoint_callback import StyleCheckpoint, slugify
from clipstyler_fast.train.checkpoint_io import SafeCheckpointIO
from clipstyler_fast.train.data import ContentDataModule
from clipstyler_fast.train.model import StyleTransfer
from clipstyler_fast.train.pretrain import DecoderPretraining


class SaveConfigWithCheckpoints(SaveConfigCallback):
    """Write the run's full configuration as ``config.yaml`` beside its checkpoints, so that a
    checkpoint folder says how it was made (and a run without a logger leaves nothing in the
    working folder)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["save_to_log_dir"] = False
        super().__init__(*args, **kwargs)

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


class _TrainingCLI(LightningCLI):
    """Shared behaviour: safe atomic checkpoint I/O, and checkpoint errors reported in one line."""

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        if not self._get(self.config_init, "trainer", default={}).get("plugins"):
            kwargs.setdefault("plugins", [SafeCheckpointIO()])
        return super().instantiate_trainer(**kwargs)

    def _parse_ckpt_path(self) -> None:
        """Take the model's hyperparameters from a given checkpoint file, as LightningCLI does, but
        validate the file first (one-line errors instead of traces) and let options the user set
        explicitly win over the checkpoint's (e.g. a local weight path on another machine)."""
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        path = self.config[subcommand].get("ckpt_path")
        if not path or path in ("last", "best", "hpc", "registry"):
            return
        # Format-1 files predate the encoder option: StyleFile fills in the encoder they were made with.
        hparams = dict(StyleFile.read(path).hyper_parameters)
        hparams.pop("_instantiator", None)
        hparams.pop("_class_path", None)
        if len(hparams) <= 1:
            return
        defaults = self._parser(subcommand).get_defaults().get("model") or {}
        current = self.config[subcommand].get("model") or {}
        for key, value in current.items():
            if key in hparams and value != defaults.get(key):
                hparams[key] = value
        self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)

    def after_instantiate_classes(self) -> None:
        """Tell the module whether this run resumes (known here from the options, in the
        module only after its setup), so that its setup settles every weight file the run
        needs at once: offline, all missing files are reported in one message."""
        super().after_instantiate_classes()
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        ckpt_path = config.get("ckpt_path")
        resumes = ckpt_path is not None and (ckpt_path != "last" or self._last_checkpoint(config).is_file())
        self.model.resumes = resumes or subcommand != "fit"

    @staticmethod
    def namespace_to_dict(namespace: Any) -> dict[str, Any]:
        return dict(namespace.as_dict() if hasattr(namespace, "as_dict") else namespace or {})

    def _last_checkpoint(self, config: Any) -> Path:
        """Where ``--ckpt_path last`` looks: the run folder's ``last.ckpt``."""
        checkpoint = self.namespace_to_dict(config.get("checkpoint"))
        prompt = self.namespace_to_dict(config.get("model")).get("prompt")
        folder = Path(checkpoint.get("root") or "checkpoints") / (slugify(prompt) if prompt else "pretrain")
        return folder / "last.ckpt"


class StyleCLI(_TrainingCLI):
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
            parser_kwargs={"prog": "clipstyler-fast"},
            auto_configure_optimizers=False,
            args=args,
            run=run,
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {
            "fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"},
            "validate": {"model", "dataloaders", "datamodule"},
        }

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(StyleCheckpoint, "checkpoint")
        parser.link_arguments("model.prompt", "checkpoint.prompt")


class PretrainCLI(_TrainingCLI):
    """``pretrain``: fit of the decoder reconstruction model."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        super().__init__(
            DecoderPretraining,
            ContentDataModule,
            trainer_defaults={
                "max_steps": 10000,
                "val_check_interval": 1000,
                "check_val_every_n_epoch": None,
                "log_every_n_steps": 50,
            },
            save_config_callback=SaveConfigWithCheckpoints,
            parser_kwargs={"prog": "clipstyler-fast pretrain"},
            auto_configure_optimizers=False,
            args=args,
            run=run,
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"}}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(StyleCheckpoint, "checkpoint")


def main(argv: list[str]) -> int:
    """``fit``/``validate`` (``argv[0]``) of a style network, or ``pretrain`` of the decoder."""
    command, rest = argv[0], argv[1:]
    if command == "pretrain":
        PretrainCLI(args=["fit", *rest])
    else:
        StyleCLI(args=argv)
    return 0
