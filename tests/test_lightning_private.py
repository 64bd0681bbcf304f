"""The few private Lightning names the product still relies on, checked against the installed
Lightning: a change to one fails here, by name, instead of somewhere inside a command. Raise the
upper bound of ``lightning`` in pyproject.toml only with this file passing."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger


def test_loggers_still_create_their_experiment_lazily(tmp_path: Path) -> None:
    # A run's logger removes its folder when nothing was logged, closing the experiment only if one was opened.
    for logger in (CSVLogger(tmp_path), TensorBoardLogger(tmp_path)):
        assert "_experiment" in vars(logger) and vars(logger)["_experiment"] is None, type(logger).__name__
