"""What every training command shares: LightningCLI with safe atomic checkpoint I/O, the run's
logger and progress bar, one-line errors before any network loads, and ``config.yaml`` beside
the checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.cli import (
    LightningArgumentParser,
    LightningCLI,
    SaveConfigCallback,
)

from clipstyler_fast.cli.lightning_common import polish_help
from clipstyler_fast.cli.option_table import check_config
from clipstyler_fast.errors import CheckpointError, DataError
from clipstyler_fast.io.checkpoint_file import load_checkpoint_file
from clipstyler_fast.nets.style_file import StyleFile, StyleRecord
from clipstyler_fast.train.callbacks import StepProgressBar, run_logger
from clipstyler_fast.train.checkpoint_callback import slugify
from clipstyler_fast.train.checkpoint_io import SafeCheckpointIO
from clipstyler_fast.train.model import StyleTransfer


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


class TrainingCLI(LightningCLI):
    """Shared behaviour: safe atomic checkpoint I/O, and checkpoint errors reported in one line."""

    # The clipstyler-fast command, where it is not the LightningCLI subcommand (pretrain and distill run "fit").
    COMMAND: str | None = None

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        polish_help(parser, subcommand)
        return parser

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        trainer = self._get(self.config_init, "trainer", default={})
        if not trainer.get("plugins"):
            kwargs.setdefault("plugins", [SafeCheckpointIO()])
        if trainer.get("logger") in (None, True):
            # The run's logs live in its own folder, beside its checkpoints, not in ./lightning_logs.
            subcommand = self.config.get("subcommand")
            config = self.config[subcommand] if subcommand else self.config
            kwargs["logger"] = run_logger(self._last_checkpoint(config).parent, resume=self._resumes(config), stage=subcommand or "fit")
        return super().instantiate_trainer(**kwargs)

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Any]) -> Any:
        from lightning.pytorch.callbacks import ProgressBar

        given = list(callbacks) + list(config.get("callbacks") or [])
        if config.get("enable_progress_bar", True) is not False and not any(isinstance(c, ProgressBar) for c in given):
            callbacks = [*callbacks, StepProgressBar()]
        return super()._instantiate_trainer(config, callbacks)

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
        checkpoint = load_checkpoint_file(path)
        if subcommand == "fit" and "optimizer_states" not in checkpoint:
            # Refused now, before any network loads (Lightning would fail with a trace much later).
            raise CheckpointError(
                f"{path}: holds the weights only, not a training state to resume; resume from last.ckpt "
                f"(--ckpt_path last), or start a new run from these weights with --model.decoder_init {path}"
            )
        if StyleRecord.from_checkpoint(checkpoint, path).is_conditioned:
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
        defaults = self._parser(subcommand).get_defaults().get("model") or {}
        current = self.config[subcommand].get("model") or {}
        for key, value in current.items():
            if key in hparams and value != defaults.get(key):
                hparams[key] = value
        self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)

    def before_instantiate_classes(self) -> None:
        """Every refusal that needs no network, before any network loads: the option values
        (config files' too: the step budget, the ranges), the data folder, and an earlier run in
        the checkpoint folder."""
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        check_config(self.COMMAND or subcommand or "fit", config)
        data = self.namespace_to_dict(config.get("data"))
        for key, what in (("path", "content"), ("holdout_path", "held-out")):
            folder = Path(data[key]).expanduser() if data.get(key) else None
            if folder is not None and not folder.exists():
                raise DataError(f"{folder}: {what} folder does not exist; pass an existing folder of images with --data.path")
        last = self._last_checkpoint(config)
        overwrite = self.namespace_to_dict(config.get("checkpoint")).get("overwrite")
        if subcommand == "fit" and config.get("ckpt_path") is None and last.exists() and not overwrite:
            raise CheckpointError(
                f"{last} already holds an earlier run; resume it with --ckpt_path last, or start over with "
                "--checkpoint.overwrite true, or use another --checkpoint.root"
            )

    def _resumes(self, config: Any) -> bool:
        ckpt_path = config.get("ckpt_path")
        return ckpt_path is not None and (ckpt_path != "last" or self._last_checkpoint(config).is_file())

    def after_instantiate_classes(self) -> None:
        """Tell the module whether this run resumes (known here from the options, in the
        module only after its setup), so that its setup settles every weight file the run
        needs at once: offline, all missing files are reported in one message."""
        super().after_instantiate_classes()
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        self.model.resumes = self._resumes(config) or subcommand != "fit"

    @staticmethod
    def namespace_to_dict(namespace: Any) -> dict[str, Any]:
        return dict(namespace.as_dict() if hasattr(namespace, "as_dict") else namespace or {})

    def _last_checkpoint(self, config: Any) -> Path:
        """Where ``--ckpt_path last`` looks: the run folder's ``last.ckpt``."""
        checkpoint = self.namespace_to_dict(config.get("checkpoint"))
        prompt = checkpoint.get("prompt") or self.namespace_to_dict(config.get("model")).get("prompt")
        folder = Path(checkpoint.get("root") or "checkpoints") / (slugify(prompt) if prompt else "pretrain")
        return folder / "last.ckpt"
