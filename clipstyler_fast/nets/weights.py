"""Where frozen and starting weights come from, and what to say when they cannot be had."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from clipstyler_fast.errors import WeightsUnavailableError

T = TypeVar("T")


def existing_file(source: str | Path, parameter: str) -> Path:
    """Return ``source`` as an existing file path, or raise a one-line error naming ``parameter``."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(f"{source}: weight file not found; pass an existing file with `{parameter}`")
    return path


def download_failed(what: str, filename: str, url: str, parameter: str, error: BaseException) -> WeightsUnavailableError:
    """Build the error for a failed download: the file needed, where it comes from, the parameter that takes a copy."""
    return WeightsUnavailableError(
        f"could not download {what} ({filename} from {url}): {error}. Copy that file to this machine and pass its path with `{parameter}` PATH"
    )


def cache_dir(subfolder: str = "") -> Path:
    """Torch's checkpoint cache (``$TORCH_HOME/hub/checkpoints``, by default under ``~/.cache/torch``)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / subfolder


# torch.hub's convention: a file named "name-<sha256 prefix>.ext" is checked against that prefix.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")


def cached_download(url: str, what: str, parameter: str, subfolder: str = "") -> Path:
    """The cached copy of ``url``, downloaded on first use (atomically, with a progress bar).

    A failed download raises a one-line :class:`WeightsUnavailableError` naming the file, where
    it comes from and ``parameter``, the setting that takes a local copy instead.
    """
    import torch.hub

    path = cache_dir(subfolder) / Path(url).name
    if path.is_file():
        return path
    match = _HASH_IN_NAME.search(path.name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Writes a temporary file and renames it when complete (and checks the hash when named).
        torch.hub.download_url_to_file(url, str(path), match.group(1) if match else None, progress=True)
    except Exception as error:  # urllib, hash and I/O errors all mean the same to a user
        raise download_failed(what, path.name, url, parameter, error) from error
    return path


def gather(*resolvers: Callable[[], T]) -> list[T]:
    """Call every resolver, then raise one :class:`WeightsUnavailableError` listing all that failed.

    An offline user learns every file to copy at once, instead of one per attempt.
    """
    results: list[T] = []
    problems: list[str] = []
    for resolve in resolvers:
        try:
            results.append(resolve())
        except WeightsUnavailableError as error:
            problems.append(str(error))
    if len(problems) == 1:
        raise WeightsUnavailableError(problems[0])
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise WeightsUnavailableError(f"{len(problems)} weight files are missing:\n{listed}")
    return results


def absolute_if_file(source: str | None) -> str | None:
    """A local weight file as an absolute path, so checkpoints that record it work from any folder;
    model names (``ViT-B/32``, ``auto``, ``random``) are returned unchanged."""
    if source is None:
        return None
    path = Path(source).expanduser()
    return str(path.resolve()) if path.is_file() else source
