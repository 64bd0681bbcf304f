"""Where a training run lives and whether it may start: the one place that names a run's folder,
reads ``ckpt_path``'s words and refuses a start that would lose work. The command line calls
these before any network loads; the checkpoint callback calls them again for runs started from
Python."""

from __future__ import annotations

import re
from pathlib import Path

from clipstyler_fast.errors import CheckpointError, DataError

DEFAULT_ROOT = "checkpoints"
STYLE_FILENAME = "style.ckpt"
STUDENT_FILENAME = "student.ckpt"
LAST_FILENAME = "last.ckpt"
# The folder of an any-prompt run, and of a decoder pre-training, under the checkpoint root.
ANY_PROMPT_RUN = "any-prompt"
PRETRAIN_RUN = "pretrain"
# What Lightning takes in --ckpt_path besides a file: words that name a checkpoint of the run.
RESUME_KEYS = ("last", "best", "hpc", "registry")


def slugify(text: str) -> str:
    """A folder name for a prompt: lower case, words joined by dashes ("Sketch with black pencil" -> "sketch-with-black-pencil")."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80].rstrip("-") or "style"


def student_folder_name(prompt: str | None) -> str:
    """The folder name of a style's student: ``<prompt-slug>-student``."""
    return f"{slugify(prompt) if prompt else 'style'}-student"


def run_folder(root: str | Path | None, name: str | None) -> Path:
    """The folder of a run under ``root``: ``<root>/<slug of name>``, or ``<root>/pretrain`` without a name."""
    return Path(root or DEFAULT_ROOT) / (slugify(name) if name else PRETRAIN_RUN)


def is_resume_key(ckpt_path: str | Path | None) -> bool:
    """Whether ``ckpt_path`` names a checkpoint of the run by a word rather than a file."""
    return str(ckpt_path) in RESUME_KEYS


def resumes(ckpt_path: str | Path | None, last: Path) -> bool:
    """Whether a fit with this ``ckpt_path`` continues a run: a file, or ``last`` when the run folder has one."""
    return ckpt_path is not None and (str(ckpt_path) != "last" or last.is_file())


def check_can_start(last: Path, ckpt_path: str | Path | None, overwrite: bool) -> None:
    """Refuse a new run (no ``ckpt_path``) whose folder already holds an earlier run's ``last``."""
    if ckpt_path is None and last.exists() and not overwrite:
        raise CheckpointError(
            f"{last} already holds an earlier run; resume it with `ckpt_path` last, or start over with "
            "`overwrite` true, or use another `root`"
        )


def check_training_state(path: str | Path, training_state: bool) -> None:
    """Refuse to resume from a file that holds weights but no optimizer state (a style.ckpt)."""
    if not training_state:
        raise CheckpointError(
            f"{path}: holds the weights only, not a training state to resume; resume from last.ckpt "
            f"(`ckpt_path` last), or start a new run from these weights with `decoder_init` {path}"
        )


def check_image_folder(folder: str | Path, what: str) -> Path:
    """The folder of content (or held-out) images, or a one-line error when it does not exist."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise DataError(f"{path}: {what} folder does not exist; pass an existing folder of images as `path`")
    return path
