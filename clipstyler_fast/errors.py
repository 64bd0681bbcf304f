"""Every error a user can cause, under one base class.

Each message is one line naming the file or option at fault and the fix. The command line
turns any :class:`ClipstylerError` into ``error: <message>`` and exit status 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message, or the name of its type when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class ClipstylerError(ValueError):
    """A problem with the user's input, files or options; ``str()`` is one line saying what to do."""


class OptionError(ClipstylerError):
    """An option value the command does not take, refused before anything heavy loads."""


class DataError(ClipstylerError):
    """A problem with the content folder, reported before any model is loaded."""


class OutputError(DataError):
    """A problem with the output folder, reported before any image is stylized."""


class ImageReadError(ClipstylerError):
    """An input file that cannot be used as an image; ``str()`` is a one-line reason with the path."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class StylizerInputError(ClipstylerError):
    """Something given to ``Stylizer`` that is not an image it can stylize; ``str()`` says what it takes."""


class WeightsUnavailableError(ClipstylerError):
    """A weight file could not be downloaded or read; the message says how to supply it."""


class CheckpointError(ClipstylerError):
    """A checkpoint that cannot be used; ``str()`` is one line naming the file and the problem."""


class InterpolationError(ClipstylerError):
    """A blend that cannot be made (bad alpha, mismatched checkpoints)."""


class DeviceError(ClipstylerError):
    """A device that does not exist here."""


class EvaluationError(ClipstylerError):
    """Evaluation cannot run as asked."""


class ExportError(ClipstylerError):
    """An export that cannot be done or does not match PyTorch."""


class VideoError(ClipstylerError):
    """A video that cannot be read or written as asked."""
