"""Output side of ``predict``: where each stylized image goes, written atomically, nothing lost or clobbered.

The output tree mirrors the input tree, with each file's suffix changed to the output format.
Existing outputs are kept unless overwriting is asked for, so a re-run after an interruption only
does what is missing. Each file is written to a temporary name in its folder and renamed into
place, so no half-written image is ever left under a real name. Inputs that cannot be read or
written are listed in ``failures.tsv`` (path, tab, reason) in the output folder.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image

from clipstyler_fast.errors import OutputError
from clipstyler_fast.infer.predict.data import InputImage
from clipstyler_fast.infer.stylizer import to_pil
from clipstyler_fast.io.atomic import atomic_write, remove_stale_temporaries

SUFFIXES = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp"}
PIL_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}
FAILURES_FILE = "failures.tsv"
TEMP_SUFFIX = ".partial"
# A temporary file this old was left by an interrupted run (a live write takes seconds at most).
STALE_TEMP_SECONDS = 600


@dataclass
class PredictSummary:
    """What a predict run did: images written, skipped because their output existed, and failures."""

    written: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def line(self, failures_path: Path | None = None) -> str:
        text = f"{self.written} written, {self.skipped} skipped (already existed), {self.failed} failed"
        if self.failed and failures_path is not None:
            text += f" (listed in {failures_path})"
        return text


def check_output_folder(folder: Path, roots: Sequence[Path]) -> None:
    """Refuse an output folder that is, or is inside, an input folder (outputs would become inputs)."""
    out = folder.expanduser().resolve()
    for root in roots:
        root = root.expanduser().resolve()
        if root.is_dir() and (out == root or root in out.parents):
            raise OutputError(
                f"{folder}: the output folder is {'the' if out == root else 'inside the'} input folder {root}; "
                "pass an `output_dir` outside it"
            )
    if out.exists() and not out.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder; pass another `output_dir`")


def plan_outputs(inputs: Sequence[InputImage], folder: Path, suffix: str) -> tuple[dict[int, Path], dict[int, str]]:
    """Output path of every input, and the inputs that cannot get one.

    ``a.jpg`` becomes ``a.png``; when two inputs would share an output name (``a.jpg`` and
    ``a.png``), both keep their whole name instead (``a.jpg.png``, ``a.png.png``).
    """
    wanted: dict[Path, list[int]] = {}
    for index, item in enumerate(inputs):
        wanted.setdefault(item.relative.with_suffix(suffix), []).append(index)
    owners: dict[Path, list[int]] = {}
    for relative, indices in wanted.items():
        for index in indices:
            name = inputs[index].relative
            owners.setdefault(relative if len(indices) == 1 else name.with_name(name.name + suffix), []).append(index)
    outputs, refused = {}, {}
    input_files = {item.path.resolve() for item in inputs}
    for relative, indices in owners.items():
        target = folder / relative
        for index in indices:
            if len(indices) > 1:
                others = ", ".join(str(inputs[i].path) for i in indices if i != index)
                refused[index] = f"output name {target} is also the output of {others}; rename one of them"
            elif target.resolve() in input_files:
                refused[index] = f"output {target} would overwrite an input image; pass another `output_dir`"
            else:
                outputs[index] = target
    return outputs, refused


def save_atomic(image: Image.Image, path: Path, quality: int = 95) -> None:
    """Encode ``image`` next to ``path`` under a temporary name, then rename it into place."""
    fmt = PIL_FORMATS[path.suffix.lower()]
    options: dict[str, Any] = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    atomic_write(path, lambda handle: image.save(handle, format=fmt, **options), suffix=TEMP_SUFFIX)


def _clean(text: str) -> str:
    return " ".join(str(text).split())


class StylizedImageWriter(BasePredictionWriter):
    """Writes each stylized image under ``dir``, mirroring the input tree.

    Args:
        dir: the output folder (created if needed; must not be inside an input folder).
        format: ``png`` (default, lossless, keeps transparency), ``jpg`` (drops transparency,
            with a warning) or ``webp`` (keeps transparency).
        quality: JPEG/WebP quality, 1 to 100.
        overwrite: replace existing outputs; by default they are kept and their inputs skipped,
            so a re-run only finishes what is missing.
        write_threads: threads encoding and writing files while the next batch is stylized.
    """

    def __init__(
        self,
        dir: str,
        format: Literal["png", "jpg", "jpeg", "webp"] = "png",
        quality: int = 95,
        overwrite: bool = False,
        write_threads: int = 2,
    ) -> None:
        super().__init__(write_interval="batch")
        if format not in SUFFIXES:
            raise OutputError(f"unknown output format {format!r}; use png, jpg or webp")
        if not 1 <= quality <= 100:
            raise OutputError(f"`quality` must be between 1 and 100, got {quality}")
        self.folder = Path(dir).expanduser()
        self.suffix = SUFFIXES[format]
        self.quality = quality
        self.overwrite = overwrite
        self.write_threads = max(1, write_threads)
        self.outputs: dict[int, Path] = {}
        self.inputs: list[InputImage] = []
        self.summary = PredictSummary()
        self._local = PredictSummary()
        self._pending: deque[tuple[int, Future]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._warned_alpha = False

    @property
    def failures_path(self) -> Path:
        return self.folder / FAILURES_FILE

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        datamodule = trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "inputs") or not hasattr(datamodule, "skip"):
            raise TypeError("StylizedImageWriter needs a PredictDataModule as the trainer's datamodule")
        check_output_folder(self.folder, datamodule.roots)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"{self.folder}: cannot create the output folder ({error.strerror or error})") from None
        self.inputs = datamodule.inputs
        self.outputs, refused = plan_outputs(self.inputs, self.folder, self.suffix)
        existing = set() if self.overwrite else {i for i, path in self.outputs.items() if path.exists()}
        datamodule.skip(existing | set(refused))
        self._local = PredictSummary()
        self.summary = PredictSummary()
        if trainer.is_global_zero:
            # Every process plans the same; only the first reports what planning found.
            self._local.skipped = len(existing)
            early = {**datamodule.unreadable, **refused}
            for index in sorted(early):
                self._fail(index, early[index])
            # Delete the temporary files that an interrupted earlier run left next to the outputs.
            by_folder: dict[Path, set[str]] = {}
            for path in self.outputs.values():
                by_folder.setdefault(path.parent, set()).add(path.name)
            for folder, names in by_folder.items():
                remove_stale_temporaries(folder, names, TEMP_SUFFIX, STALE_TEMP_SECONDS)
        self._pool = ThreadPoolExecutor(max_workers=self.write_threads, thread_name_prefix="image-writer")

    def _fail(self, index: int, reason: str) -> None:
        path = str(self.inputs[index].path)
        self._local.failures.append((path, reason))
        print(f"failed: {path}: {_clean(reason)}", file=sys.stderr, flush=True)

    def _collect(self, wait_for: int) -> None:
        """Account for finished writes, waiting until at most ``wait_for`` are still running."""
        while self._pending and (len(self._pending) > wait_for or self._pending[0][1].done()):
            index, future = self._pending.popleft()
            error = future.exception()
            if error is None:
                self._local.written += 1
            else:
                reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
                self._fail(index, f"cannot write {self.outputs[index]}: {reason}")

    def _submit(self, index: int, pixels: torch.Tensor, alpha: torch.Tensor | None) -> None:
        if alpha is not None and self.suffix == ".jpg":
            if not self._warned_alpha:
                self._warned_alpha = True
                print(
                    "warning: JPEG has no transparency; the alpha channel of inputs is dropped (use `output_format` png or webp to keep it)",
                    file=sys.stderr,
                )
            alpha = None
        assert self._pool is not None
        image = to_pil(pixels, alpha)
        self._pending.append((index, self._pool.submit(save_atomic, image, self.outputs[index], self.quality)))
        self._collect(wait_for=2 * self.write_threads)

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        for index, reason in prediction["failed"]:
            self._fail(index, reason)
        for indices, pixels, alphas in prediction["groups"]:
            for index, image, alpha in zip(indices, pixels, alphas):
                self._submit(index, image, alpha)

    def _finish_writes(self) -> None:
        self._collect(wait_for=0)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _gather(self, trainer: L.Trainer) -> PredictSummary:
        import torch.distributed as dist

        if trainer.world_size <= 1 or not (dist.is_available() and dist.is_initialized()):
            return self._local
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, self._local)
        return PredictSummary(
            written=sum(p.written for p in parts), skipped=parts[0].skipped, failures=sorted(f for p in parts for f in p.failures)
        )

    def _write_failures(self, summary: PredictSummary) -> None:
        if summary.failures:
            lines = "".join(f"{_clean(path)}\t{_clean(reason)}\n" for path, reason in summary.failures)
            data = ("path\treason\n" + lines).encode("utf-8")
            atomic_write(self.failures_path, lambda handle: handle.write(data), suffix=TEMP_SUFFIX)
        else:
            # A list from an earlier run would now be wrong.
            self.failures_path.unlink(missing_ok=True)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._finish_writes()
        self.summary = self._gather(trainer)
        if trainer.is_global_zero:
            self._write_failures(self.summary)
            print(f"predict: {self.summary.line(self.failures_path)} -> {self.folder}", flush=True)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        # Keep every image already stylized; list what failed so far on this process.
        self._finish_writes()
        if trainer.is_global_zero and self._local.failures:
            self._write_failures(self._local)
