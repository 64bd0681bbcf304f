"""The styles the demo offers: every ``style.ckpt``, distilled ``student.ckpt`` and shared style
folder (``clipstyler-fast share``) under one folder, each under an id the server hands out, and a
small cache of loaded stylizers.

The page only ever names a style by its id; paths never come from the client. A style whose files
resolve outside the folder (through a symbolic link) is not offered.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipstyler_fast.errors import ClipstylerError

if TYPE_CHECKING:  # the names only: the demo's page server loads no torch until a style runs
    from clipstyler_fast.nets.style_kinds import Network

STYLE_FILE = "style.ckpt"
# Written by `clipstyler-fast distill`; offered as "<folder> (student)".
STUDENT_FILE = "student.ckpt"
OFFERED_FILES = (STYLE_FILE, STUDENT_FILE)
# The files of a shared style folder (mirrors clipstyler_fast.nets.style_folder.SHARED_FILES,
# kept here so that listing the folder imports no torch).
SHARED_FILES = ("config.json", "model.safetensors")
# The network that takes a prompt at stylization time (an any-prompt checkpoint); the value of
# clipstyler_fast.nets.style_kinds.CONDITIONED_NETWORK, spelt here so that listing imports no torch.
CONDITIONED: Network = "conditioned"


class DemoError(ClipstylerError):
    """A request the demo cannot serve; ``str()`` is the one-line message the page shows."""


# Seconds a refused client is told to wait (the Retry-After header).
RETRY_AFTER_S = 5


class BusyError(DemoError):
    """The demo is at one of its bounds; the request may succeed later (HTTP 503 with Retry-After)."""


@dataclass(frozen=True)
class Style:
    """One offered checkpoint: ``id`` (what the page sends back), where it lies, what it records."""

    id: str
    path: Path
    label: str
    prompt: str
    network: Network

    @property
    def takes_prompt(self) -> bool:
        return self.network == CONDITIONED

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "prompt": self.prompt, "network": self.network, "takes_prompt": self.takes_prompt}


def _files(path: Path) -> list[Path]:
    """The files a style consists of: a checkpoint file, or a shared folder's two files."""
    return [path / name for name in SHARED_FILES] if path.is_dir() else [path]


def _candidates(root: Path) -> list[Path]:
    """Every ``style.ckpt``, ``student.ckpt`` and shared style folder under ``root``."""
    folders = [config.parent for config in root.rglob(SHARED_FILES[0]) if (config.parent / SHARED_FILES[1]).is_file()]
    files = [path for path in root.rglob("*.ckpt") if path.name in OFFERED_FILES]
    return sorted([*files, *folders])


class StyleCatalog:
    """The styles under ``root`` (see the module's docstring), re-scanned on every listing. Records are read once
    per version of their files (path, sizes, modification times). Loaded stylizers are kept for the
    ``cache_size`` most recently used (style, prompt) pairs.
    """

    def __init__(self, root: str | Path, vgg_weights: str | None = None, device: Any = "cpu", cache_size: int = 4) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise DemoError(
                f"{root}: no such checkpoint folder; pass the folder holding your style.ckpt or student.ckpt files as `ckpt_dir`"
            )
        self.vgg_weights = vgg_weights
        self.device = device
        self.cache_size = cache_size
        self._records: dict[tuple[Path, tuple[tuple[int, int], ...]], tuple[str, Network] | str] = {}
        self._styles: dict[str, Style] = {}
        self._problems: list[str] = []
        self._stylizers: OrderedDict[tuple[str, str | None], Any] = OrderedDict()
        self._lock = threading.Lock()

    def _read(self, path: Path) -> tuple[str, Network] | str:
        """``(prompt, network)`` of a checkpoint or shared folder, or the reason it cannot be offered."""
        from clipstyler_fast.nets.style_file import StyleFile, StyleRecord, read_checkpoint

        key = (path, tuple((stat.st_size, stat.st_mtime_ns) for stat in (file.stat() for file in _files(path))))
        if key not in self._records:
            try:
                checkpoint = read_checkpoint(path)
                if StyleRecord.from_checkpoint(checkpoint, path).is_conditioned:
                    self._records[key] = ("any prompt", CONDITIONED)
                else:
                    record = StyleFile.from_checkpoint(checkpoint, path).require_style().record
                    self._records[key] = (str(record.prompt), record.network)
            except ClipstylerError as error:
                self._records[key] = str(error).replace(str(self.root), "").lstrip("/")
        return self._records[key]

    def scan(self) -> list[Style]:
        """Every offered style, sorted by folder; unusable files are listed in :attr:`problems`."""
        styles, problems = {}, []
        with self._lock:
            for path in _candidates(self.root):
                folder = (path if path.is_dir() else path.parent).relative_to(self.root).as_posix()
                label = f"{folder} (student)" if path.name == STUDENT_FILE and not path.is_dir() else folder
                resolved = path.resolve()
                files = [file.resolve() for file in _files(resolved)]
                if not all(file.is_file() and file.is_relative_to(self.root) for file in files):
                    continue
                found = self._read(resolved)
                if isinstance(found, str):
                    problems.append(f"{folder}: {found}" if path.is_dir() else f"{folder}/{path.name}: {found}")
                    continue
                style_id = hashlib.sha256(label.encode()).hexdigest()[:12]
                styles[style_id] = Style(style_id, resolved, label, *found)
            self._styles, self._problems = styles, problems
        return list(styles.values())

    @property
    def problems(self) -> list[str]:
        return list(self._problems)

    def get(self, style_id: Any) -> Style:
        """The style handed out as ``style_id``, or a :class:`DemoError`."""
        if not isinstance(style_id, str) or style_id not in self._styles:
            self.scan()
        style = self._styles.get(style_id) if isinstance(style_id, str) else None
        if style is None:
            raise DemoError("unknown style; reload the page to see the styles available now")
        return style

    def stylizer(self, style: Style, prompt: str | None = None) -> Any:
        """The loaded :class:`~clipstyler_fast.infer.stylizer.Stylizer` of ``style`` (and ``prompt``, for an
        any-prompt checkpoint), from the cache when recently used."""
        from clipstyler_fast.infer.stylizer import Stylizer

        prompt = prompt if style.takes_prompt else None
        key = (style.id, prompt)
        with self._lock:
            if key in self._stylizers:
                self._stylizers.move_to_end(key)
                return self._stylizers[key]
        stylizer = Stylizer.from_checkpoint(style.path, self.vgg_weights, self.device, prompt=prompt)
        with self._lock:
            self._stylizers[key] = stylizer
            while len(self._stylizers) > self.cache_size:
                self._stylizers.popitem(last=False)
        return stylizer
