"""The one place where a parameter the library names becomes the option a command takes.

Below the command line, errors and warnings name a setting as a Python caller passes it, in
backticks (`batch_size`, `max_pixels`, `device`): the library cannot know which command, if
any, called it. A command prints them with each name replaced by its own option, so that the
line says what to type. This module imports no torch.
"""

from __future__ import annotations

import re

# parameter -> option, where every command that takes the setting spells it the same way.
FLAGS: dict[str, str] = {
    "alphas": "--alphas",
    "audio": "--audio",
    "batch_size": "--data.batch_size",
    "checkpoint": "--ckpt_path",
    "ckpt_path": "--ckpt_path",
    "ckpt_dir": "--ckpt_dir",
    "clip_model": "--model.clip_model",
    "codec": "--codec",
    "crop_size": "--data.crop_size",
    "decoder_init": "--model.decoder_init",
    "device": "--trainer.accelerator",
    "encoder": "--model.encoder",
    "formats": "--formats",
    "holdout_prompts": "--model.holdout_prompts",
    "init_from": "--model.init_from",
    "long_side": "--size",
    "max_pixels": "--data.max_pixels",
    "mix_prompts": "--model.mix_prompts",
    "output_dir": "--output.dir",
    "output_format": "--output.format",
    "path": "--data.path",
    "port": "--port",
    "precision": "--trainer.precision",
    "prompt": "--prompt",
    "prompts": "--data.prompts",
    "quality": "--output.quality",
    "root": "--checkpoint.root",
    "source_text": "--model.source_text",
    "stylized_dir": "--stylized_dir",
    "tile_above": "--tile_above",
    "tile_size": "--tile_size",
    "vgg_weights": "--model.vgg_weights",
}

# The commands that train: the style they train is a model setting, and they write checkpoints.
_TRAINING = ("fit", "validate", "pretrain", "distill")

# Settings whose option depends on the command: command -> parameter -> option.
BY_COMMAND: dict[str, dict[str, str]] = {
    **{command: {"prompt": "--model.prompt", "overwrite": "--checkpoint.overwrite"} for command in _TRAINING},
    "distill": {"prompt": "--model.prompt", "overwrite": "--checkpoint.overwrite", "teacher": "--ckpt_path"},
    "optimize": {"prompt": "--model.prompt", "overwrite": "--output.overwrite"},
    "predict": {"overwrite": "--output.overwrite"},
    "share": {"overwrite": "--output.overwrite"},
}

_NAMED = re.compile(r"`([a-z][a-z0-9_]*)`")


def spoken(command: str, text: str) -> str:
    """``text`` (an error or warning from the library) with each `parameter` as ``command``'s option."""
    named = {**FLAGS, **BY_COMMAND.get(command, {})}
    return _NAMED.sub(lambda found: named.get(found[1], found[0]), text)
