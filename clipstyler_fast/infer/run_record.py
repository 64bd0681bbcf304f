"""What a training run recorded about a style, for its model card: the optimizer steps, how many
photos it trained on, and the final held-out losses and metrics of its logs.

A style file written by ``fit`` or ``distill`` keeps the step count and its data module's state
(the number of training photos and a fingerprint of their names, never their paths). The losses
live in the run folder beside it: ``logs/version_N/`` holds TensorBoard event files, or
``metrics.csv`` where TensorBoard was not installed. Anything absent is simply not reported.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Held-out tags: the held-out photos (val/) and, for an any-prompt network, the prompts kept out of training (val_unseen/).
HELD_OUT_PREFIXES = ("val/", "val_unseen/")


@dataclass
class RunRecord:
    """The facts of a run a model card reports; None or empty where the run did not record them."""

    steps: int | None = None
    train_images: int | None = None
    batch_size: int | None = None
    crop_size: int | None = None
    # Tag -> (its last value, the step it was logged at).
    metrics: dict[str, tuple[float, int]] = field(default_factory=dict)
    # Why the metrics are missing although the run logged some (e.g. TensorBoard not installed).
    metrics_note: str | None = None


def _latest_version(run_folder: Path) -> Path | None:
    """The newest ``logs/version_N`` folder (a resumed run continues its own, so the newest is the last run)."""
    versions = [p for p in (run_folder / "logs").glob("version_*") if p.is_dir() and p.name[8:].isdigit()]
    return max(versions, key=lambda p: int(p.name[8:])) if versions else None


def _csv_metrics(path: Path) -> dict[str, tuple[float, int]]:
    last: dict[str, tuple[float, int]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            step = int(float(row.get("step") or 0))
            for tag, text in row.items():
                if tag and tag.startswith(HELD_OUT_PREFIXES) and text not in (None, ""):
                    last[tag] = (float(text), step)
    return last


def _tensorboard_metrics(folder: Path) -> dict[str, tuple[float, int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    last: dict[str, tuple[float, int]] = {}
    for events in sorted(folder.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0, "images": 1})
        accumulator.Reload()
        for tag in accumulator.Tags().get("scalars", []):
            if tag.startswith(HELD_OUT_PREFIXES):
                event = max(accumulator.Scalars(tag), key=lambda e: (e.step, e.wall_time))
                if tag not in last or event.step >= last[tag][1]:
                    last[tag] = (float(event.value), int(event.step))
    return last


def read_run_record(checkpoint: dict[str, Any], run_folder: Path | None) -> RunRecord:
    """The facts ``checkpoint`` (a style file as loaded) and its run folder (None: unknown) record."""
    # The data module's state, stored under its class name.
    data = next((v for v in checkpoint.values() if isinstance(v, dict) and "num_train_images" in v), {})
    steps = checkpoint.get("global_step")
    record = RunRecord(
        steps=int(steps) if isinstance(steps, int) else None,
        train_images=data.get("num_train_images"),
        batch_size=data.get("batch_size"),
        crop_size=data.get("crop_size"),
    )
    version = _latest_version(run_folder) if run_folder is not None else None
    if version is None:
        return record
    if (version / "metrics.csv").is_file():
        record.metrics = _csv_metrics(version / "metrics.csv")
    elif any(version.glob("events.out.tfevents.*")):
        try:
            record.metrics = _tensorboard_metrics(version)
        except ImportError:
            record.metrics_note = "the run logged them to TensorBoard, which is not installed here (pip install tensorboard)"
    record.metrics = {tag: value for tag, value in sorted(record.metrics.items()) if math.isfinite(value[0])}
    return record
