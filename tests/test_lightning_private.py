"""The few private Lightning names the product still relies on, checked against the installed
Lightning: a change to one fails here, by name, instead of somewhere inside a command. Raise the
upper bound of ``lightning`` in pyproject.toml only with this file passing."""

from __future__ import annotations

import inspect
from pathlib import Path

from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

# predict's parser and trainer: the checkpoint handed to the model, its help, and its progress bar.
CLI_METHODS = {
    "_prepare_subcommand_parser": ["self", "klass", "subcommand", "kwargs"],
    "_parse_ckpt_path": ["self"],
    "_instantiate_trainer": ["self", "config", "callbacks"],
}


def test_the_private_lightning_cli_methods_keep_their_signatures() -> None:
    for name, parameters in CLI_METHODS.items():
        method = getattr(LightningCLI, name, None)
        assert method is not None, f"LightningCLI.{name} is gone"
        assert list(inspect.signature(method).parameters) == parameters, f"LightningCLI.{name} changed"


def test_loggers_still_create_their_experiment_lazily(tmp_path: Path) -> None:
    # A run's logger removes its folder when nothing was logged, closing the experiment only if one was opened.
    for logger in (CSVLogger(tmp_path), TensorBoardLogger(tmp_path)):
        assert "_experiment" in vars(logger) and vars(logger)["_experiment"] is None, type(logger).__name__
