"""The demo's work: jobs of uploaded photos, stylized one at a time by a worker thread.

Each press of "Stylize" is a job with a random, unguessable id and its own folder inside one
temporary folder, which :meth:`JobStore.close` removes. Files in it are named by the server
(``<index>.photo.png``, ``<index>.png``), never after anything a client sent. Jobs older than
``ttl`` seconds are removed as new ones arrive.

At most ``max_queue`` photos wait for the worker at a time; a photo beyond that is refused with a
:class:`BusyError` before it is decoded, and the page is told to try again.
"""

from __future__ import annotations

import io
import json
import queue
import re
import secrets
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clipstyler_fast.demo.styles import BusyError, DemoError, Style, StyleCatalog
from clipstyler_fast.errors import ClipstylerError, ImageReadError, first_line

DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_IMAGES = 100
# Two full jobs: one user's largest job never fills the queue alone.
DEFAULT_MAX_QUEUE = 2 * DEFAULT_MAX_IMAGES
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


def parse_flag(value: Any, name: str) -> bool:
    """A yes/no setting sent by a client: JSON ``true``/``false``, or the strings true/false, yes/no,
    1/0 in any case; anything else is a :class:`DemoError` naming the setting."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    shown = json.dumps(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    raise DemoError(f"{name} must be true or false (or yes/no, 1/0), not {shown}")


def safe_name(name: str, suffix: str = ".png") -> str:
    """A download name built from an uploaded file's name: its stem in ``[A-Za-z0-9._-]``, then ``suffix``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(name).replace("\\", "/")).stem).strip("._") or "image"
    return stem[:80] + suffix


@dataclass
class Item:
    """One uploaded photo of a job."""

    index: int
    name: str
    state: str = "queued"  # queued, working, done or failed
    error: str | None = None
    width: int = 0
    height: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Job:
    id: str
    style: Style
    strength: float
    preserve_colors: bool
    prompt: str | None
    folder: Path
    items: list[Item] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)

    def to_json(self) -> dict[str, Any]:
        items = [item.to_json() for item in self.items]
        finished = sum(item["state"] in ("done", "failed") for item in items)
        return {"id": self.id, "style": self.style.id, "items": items, "finished": finished, "total": len(items)}


class JobStore:
    """Jobs, their files and the worker that stylizes them.

    Args:
        catalog: the styles on offer (and their loaded stylizers).
        max_pixels: the largest photo accepted, in pixels (larger ones are refused unread).
        max_images: the most photos one job takes.
        ttl: seconds after which a job and its files are removed.
        max_queue: the most photos waiting to be stylized; beyond it :meth:`add` raises :class:`BusyError`.
    """

    def __init__(
        self,
        catalog: StyleCatalog,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_images: int = DEFAULT_MAX_IMAGES,
        ttl: float = 3600,
        max_queue: int = DEFAULT_MAX_QUEUE,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, not {max_queue}")
        self.catalog = catalog
        self.max_pixels = max_pixels
        self.max_images = max_images
        self.ttl = ttl
        self.max_queue = max_queue
        self.root = Path(tempfile.mkdtemp(prefix="clipstyler-demo-"))
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        # Photos being decoded or waiting for the worker. A place is taken before decoding, so that a
        # refused photo costs no work, and the queue never blocks a request thread.
        self._waiting = 0
        # One more place than photos, for the worker's stop signal.
        self._queue: queue.Queue[tuple[Job, Item] | None] = queue.Queue(max_queue + 1)
        self._worker = threading.Thread(target=self._work, name="clipstyler-demo-worker", daemon=True)
        self._worker.start()

    def create(self, style_id: Any, strength: Any = 1.0, preserve_colors: Any = False, prompt: Any = None) -> Job:
        """A new job for one style and the controls, or a :class:`DemoError` saying what is wrong."""
        from clipstyler_fast.infer.controls import check_strength

        style = self.catalog.get(style_id)
        text = str(prompt).strip() if prompt is not None else ""
        if style.takes_prompt and not text:
            raise DemoError(f"the style {style.label} takes a prompt: type the style you want")
        job_id = secrets.token_urlsafe(16)
        folder = self.root / job_id
        job = Job(job_id, style, check_strength(strength), parse_flag(preserve_colors, "preserve_colors"), text or None, folder)
        self._expire()
        folder.mkdir()
        with self._lock:
            self._jobs[job_id] = job
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise DemoError("unknown or expired job; press Stylize again")
        return job

    def add(self, job_id: str, name: str, data: bytes) -> Item:
        """Read one uploaded photo into ``job_id`` and queue it; a bad photo becomes a failed item with
        the reason; a full queue raises :class:`BusyError` and leaves the job as it was."""
        job = self.get(job_id)
        with self._lock:
            if len(job.items) >= self.max_images:
                raise DemoError(f"a job takes at most {self.max_images} photos; stylize the others in another round")
            if self._waiting >= self.max_queue:
                raise BusyError(f"the server is busy: {self.max_queue} photos are waiting to be stylized; try again in a few seconds")
            self._waiting += 1
            item = Item(len(job.items), Path(str(name).replace("\\", "/")).name or "image")
            job.items.append(item)
        queued = False
        try:
            queued = self._decode(job, item, data)
        finally:
            if not queued:
                self._leave_queue()
                if item.state == "queued":  # an unexpected error: the page must not wait for this photo forever
                    item.state, item.error = "failed", f"{item.name}: not stored (server error)"
        return item

    def _decode(self, job: Job, item: Item, data: bytes) -> bool:
        """Decode ``data`` as ``item``'s photo and queue it (True), or mark the item failed (False)."""
        from clipstyler_fast.infer.stylizer import to_pil, to_uint8
        from clipstyler_fast.io.images import open_image, probe_image, to_tensors

        upload = job.folder / f"{item.index}.upload"
        upload.write_bytes(data)
        try:
            probe_image(upload, self.max_pixels, verify=True)
            image = open_image(upload, self.max_pixels)
        except ImageReadError as error:
            item.state, item.error = "failed", f"{item.name}: {error.reason}"
            return False
        finally:
            upload.unlink(missing_ok=True)
        # Any mode (CMYK, 16-bit, palette, ...) becomes the 8-bit RGB or RGBA photo that is shown and stylized.
        rgb, alpha = to_tensors(image)
        to_pil(to_uint8(rgb), alpha).save(job.folder / f"{item.index}.photo.png")
        item.width, item.height = image.size
        self._queue.put_nowait((job, item))  # a place was taken in add: never full
        return True

    def _leave_queue(self) -> None:
        with self._lock:
            self._waiting -= 1

    def photo(self, job_id: str, index: Any) -> Path:
        """The uploaded photo (decoded, upright) as PNG."""
        job, item = self._item(job_id, index)
        path = job.folder / f"{item.index}.photo.png"
        if not path.is_file():
            raise DemoError(f"{item.name}: no such file")
        return path

    def result(self, job_id: str, index: Any) -> tuple[Path, str]:
        """The stylized photo as PNG, and its download name."""
        job, item = self._item(job_id, index)
        if item.state != "done":
            raise DemoError(f"{item.name}: not stylized yet")
        return job.folder / f"{item.index}.png", safe_name(item.name, "-stylized.png")

    def archive(self, job_id: str) -> bytes:
        """A zip of every finished stylization of the job (names made unique)."""
        job = self.get(job_id)
        buffer, used = io.BytesIO(), set()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for item in list(job.items):
                if item.state != "done":
                    continue
                name = safe_name(item.name, "-stylized.png")
                if name in used:
                    name = safe_name(f"{Path(item.name).stem}-{item.index}", "-stylized.png")
                used.add(name)
                archive.write(job.folder / f"{item.index}.png", name)
        return buffer.getvalue()

    def _item(self, job_id: str, index: Any) -> tuple[Job, Item]:
        job = self.get(job_id)
        try:
            return job, job.items[int(index)]
        except (ValueError, IndexError):
            raise DemoError("no such photo in this job") from None

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            old = [job for job in self._jobs.values() if now - job.created > self.ttl]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            shutil.rmtree(job.folder, ignore_errors=True)

    def _work(self) -> None:
        from PIL import Image

        while (task := self._queue.get()) is not None:
            self._leave_queue()
            job, item = task
            if job.id not in self._jobs:  # expired or closed meanwhile
                continue
            item.state = "working"
            try:
                stylizer = self.catalog.stylizer(job.style, job.prompt)
                # This worker is the only user of the loaded stylizers: each job's controls are set before its photo.
                stylizer.strength, stylizer.preserve_colors = job.strength, job.preserve_colors
                with Image.open(job.folder / f"{item.index}.photo.png") as photo:
                    stylizer(photo).save(job.folder / f"{item.index}.png")
                item.state = "done"
            except ClipstylerError as error:
                item.state, item.error = "failed", f"{item.name}: {error}"
            except Exception as error:  # out of memory, typically: costs this photo, not the server
                item.state, item.error = "failed", f"{item.name}: stylization failed ({first_line(error)})"

    def close(self) -> None:
        """Stop the worker and remove every job's files."""
        with self._lock:
            self._jobs.clear()
        self._queue.put(None)
        self._worker.join(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)
