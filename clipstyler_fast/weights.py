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
