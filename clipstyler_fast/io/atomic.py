"""Writing files so that a crash or kill never leaves a partial one."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO


def _process_umask() -> int:
    # Read once, at import: os.umask can only be read by setting it, which is not thread-safe.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# The permission bits a plain ``open()`` gives a new file in this process.
_FILE_MODE = 0o666 & ~_process_umask()


def atomic_write_path(path: str | Path, write: Callable[[Path], None], suffix: str = ".tmp") -> None:
    """Call ``write(tmp_path)`` for a temporary file beside ``path``, fsync it, then rename it over ``path``.

    A crash or kill at any moment leaves either the old file or the new one, never a partial one.
    The temporary file is named ``.<name>.<random><suffix>`` (see :func:`remove_stale_temporaries`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp, _FILE_MODE)
        write(Path(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory; the rename is still atomic
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], suffix: str = ".tmp") -> None:
    """:func:`atomic_write_path` for writers that take an open binary handle."""

    def through_handle(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            write(handle)

    atomic_write_path(path, through_handle, suffix)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    import torch

    atomic_write(path, lambda handle: torch.save(obj, handle))


# The names of the temporary files of checkpoints (".<name>.<random>.tmp") and of the write probe.
_TEMPORARY = re.compile(r"^\.(.+\.(ckpt|pt|pth)\.[^.]+\.tmp|write-probe-.+)$")


def temporary_owner(name: str, suffix: str = ".tmp") -> str | None:
    """The file an :func:`atomic_write_path` temporary is for (``.photo.png.k2j4.partial`` -> ``photo.png``), or None."""
    if not (name.startswith(".") and name.endswith(suffix) and len(name) > len(suffix) + 1):
        return None
    owner, dot, _random = name[1 : len(name) - len(suffix)].rpartition(".")
    return owner if dot and owner else None


def remove_stale_temporaries(
    folder: str | Path, owners: Iterable[str] | None = None, suffix: str = ".tmp", older_than: float = 0.0
) -> list[Path]:
    """Delete the temporaries that a process killed mid-write left in ``folder``; returns what was deleted.

    By default: checkpoint temporaries (``.<name>.ckpt.<random>.tmp``, also ``.pt``/``.pth``) and
    write probes. With ``owners``: the temporaries ``.<owner>.<random><suffix>`` of those file
    names. Only files last modified more than ``older_than`` seconds ago are deleted, so that a
    concurrent writer's fresh temporaries can be spared.
    """
    wanted = None if owners is None else set(owners)
    now = time.time()
    removed = []
    for tmp in Path(folder).glob(".*"):
        if not (_TEMPORARY.match(tmp.name) if wanted is None else temporary_owner(tmp.name, suffix) in wanted):
            continue
        with contextlib.suppress(OSError):  # gone already, or not ours to delete: nothing to clean
            if tmp.is_file() and now - tmp.stat().st_mtime >= older_than:
                tmp.unlink()
                removed.append(tmp)
    return removed
