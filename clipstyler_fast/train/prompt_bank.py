"""The prompt bank of any-prompt training: a text file of style prompts, one per line, and the
content DataModule that takes it (``--data.prompts``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from clipstyler_fast.errors import DataError
from clipstyler_fast.train.data import ContentDataModule
from clipstyler_fast.train.sampling import seeded_generator

DEFAULT_BANK = "data/prompts.txt"


def read_prompt_bank(path: str | Path) -> list[str]:
    """The prompts of a bank file: one per line; blank lines and ``#`` comments skipped, repeats dropped."""
    file = Path(path).expanduser()
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise DataError(
            f"{file}: cannot read the prompt bank ({reason}); pass a UTF-8 text file with one prompt per line as `prompts`"
        ) from None
    prompts = list(dict.fromkeys(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")))
    if len(prompts) < 2:
        raise DataError(f"{file}: a prompt bank needs at least 2 prompts (found {len(prompts)}), one per line")
    return prompts


def holdout_count(count: int, holdout: int) -> int:
    """How many of a bank of ``count`` prompts are held out when ``holdout`` are asked for: at most
    a quarter, so that training keeps most of the bank."""
    return min(max(holdout, 0), count // 4)


def split_prompts(count: int, holdout: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices of the training and the held-out prompts: a seeded choice of ``holdout`` prompts
    (at most a quarter of the bank, :func:`holdout_count`) that training never draws, for
    validation on unseen prompts."""
    held = holdout_count(count, holdout)
    order = torch.randperm(count, generator=seeded_generator(seed, 11)).tolist()
    return sorted(order[held:]), sorted(order[:held])


class PromptBankDataModule(ContentDataModule):
    """Content photos plus a prompt bank, for training one network for many prompts.

    Args:
        prompts: text file of style prompts, one per line (``#`` starts a comment). The bundled
            ``data/prompts.txt`` holds a few hundred varied styles.
        **kwargs: the options of the content photos (see ``ContentDataModule``).
    """

    def __init__(self, prompts: str = DEFAULT_BANK, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prompts_path = str(Path(prompts).expanduser().absolute())
        self.prompts = read_prompt_bank(self.prompts_path)
