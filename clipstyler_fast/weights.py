"""Where frozen weights come from, and what to say when they cannot be had."""

from __future__ import annotations

from pathlib import Path


class WeightsUnavailableError(RuntimeError):
    """A weight file could not be downloaded or read; the message says how to supply it."""


def existing_file(source: str | Path, option: str) -> Path:
    """Return ``source`` as an existing file path, or raise a one-line error naming ``option``."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"{source}: weight file not found; pass an existing file with {option}"
        )
    return path


def download_failed(what: str, filename: str, url: str, option: str, error: BaseException) -> WeightsUnavailableError:
    """Build the error for a failed download: the file needed, where it comes from, the option."""
    return WeightsUnavailableError(
        f"could not download {what} ({filename} from {url}): {error}. "
        f"Copy that file to this machine and pass its path with {option}"
    )


def absolute_if_file(source: str | None) -> str | None:
    """A local weight file as an absolute path, so checkpoints that record it work from any folder;
    model names (``ViT-B/32``, ``imagenet``, ``auto``) are returned unchanged."""
    if source is None:
        return None
    path = Path(source).expanduser()
    return str(path.resolve()) if path.is_file() else source
