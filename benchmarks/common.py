"""Helpers shared by the benchmark scripts: random full-size weight files, timing and memory.

Pretrained weights are not needed to measure speed and memory: networks of the real size with
random weights cost exactly as much. The weight files are written with the real model classes
and loaded back through the product's own loaders, so the benchmarks run the real code path.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch

# CLIP ViT-B/32, the architecture `clip.load("ViT-B/32")` returns.
VIT_B32 = dict(
    embed_dim=512,
    image_resolution=224,
    vision_layers=12,
    vision_width=768,
    vision_patch_size=32,
    context_length=77,
    vocab_size=49408,
    transformer_width=512,
    transformer_heads=8,
    transformer_layers=12,
)
# A tiny CLIP ViT (input resolution 32) for smoke runs.
TINY_CLIP = dict(
    embed_dim=32,
    image_resolution=32,
    vision_layers=1,
    vision_width=64,
    vision_patch_size=16,
    context_length=77,
    vocab_size=49408,
    transformer_width=64,
    transformer_heads=1,
    transformer_layers=1,
)


def write_clip(path: Path, config: dict[str, int] = VIT_B32, seed: int = 0) -> Path:
    """Save a random-weight ``clip.model.CLIP`` of the given architecture as a plain state dict."""
    from clip.model import CLIP

    torch.manual_seed(seed)
    torch.save(CLIP(**config).state_dict(), path)
    return path


def write_vgg(path: Path, encoder: str = "adain", seed: int = 0) -> Path:
    """Save random VGG-19 weights up to relu4_1 in the layout of ``encoder``'s released file:
    AdaIN's ``vgg_normalised.pth`` (``adain``) or torchvision's ``vgg19`` state dict."""
    from clipstyler_fast.nets.vgg import build_adain_features, build_torchvision_features

    torch.manual_seed(seed)
    if encoder == "adain":
        torch.save(build_adain_features().state_dict(), path)
    else:
        torch.save({f"features.{k}": v for k, v in build_torchvision_features().state_dict().items()}, path)
    return path


def write_decoder(path: Path, seed: int = 0) -> Path:
    """Save a randomly initialised decoder state dict, so that every contender starts from it."""
    from clipstyler_fast.nets.decoder import build_decoder

    torch.manual_seed(seed)
    torch.save(build_decoder().state_dict(), path)
    return path


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that wall-clock times cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def _heap_probe() -> Any:
    """glibc's count of bytes in use (heap plus mmapped blocks), or None where unavailable.

    Unlike the RSS it drops when memory is freed, so it shows what one step allocates even
    after earlier steps left the allocator's pools large.
    """
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2

    def in_use() -> int:
        info = mallinfo2()
        return int(info.uordblks + info.hblkhd)

    return in_use


class PeakMemory:
    """Peak memory over a window, and how much of it the window itself allocated.

    On GPU: torch's allocated memory (``max_memory_allocated``). On CPU: the process RSS, and
    glibc's bytes in use for the growth, both sampled every 2 ms by a thread (the work
    runs in native code that releases the GIL). Without ``/proc`` or glibc the process-wide
    RSS high-water mark is used for both.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._proc = Path("/proc/self/statm").exists()
        self._heap = _heap_probe() if self._proc else None
        self._running = False
        self._thread: threading.Thread | None = None
        self._start = self._peak = self._heap_start = self._heap_peak = 0

    def _sample(self) -> None:
        while self._running:
            self._peak = max(self._peak, _rss_bytes())
            if self._heap is not None:
                self._heap_peak = max(self._heap_peak, self._heap())
            time.sleep(0.002)

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            return
        if not self._proc:
            self._start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return
        self._start = self._peak = _rss_bytes()
        if self._heap is not None:
            self._heap_start = self._heap_peak = self._heap()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> tuple[int, int]:
        """Return ``(peak bytes, peak bytes allocated beyond those in use at start)``."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
            return peak, max(0, peak - self._start)
        if not self._proc:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return peak, max(0, peak - self._start)
        self._running = False
        assert self._thread is not None
        self._thread.join()
        peak = max(self._peak, _rss_bytes())
        if self._heap is None:
            return peak, max(0, peak - self._start)
        return peak, max(0, self._heap_peak - self._heap_start)


def matmul_rate(device: torch.device, dtype: torch.dtype = torch.bfloat16, size: int | None = None, repeats: int = 5) -> float:
    """Measured matrix-multiply rate of this device in ``dtype``, in FLOP/s (best of ``repeats``):
    the peak a utilisation figure divides by, for the number format that actually ran."""
    size = size or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    torch.matmul(a, b)
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            torch.matmul(a, b)
            end.record()
            end.synchronize()
            seconds = begin.elapsed_time(end) / 1000
        else:
            t0 = time.perf_counter()
            torch.matmul(a, b)
            seconds = time.perf_counter() - t0
        best = min(best, seconds)
    return 2 * size**3 / best


def describe_machine(device: torch.device) -> str:
    """Lines naming the device (for a CPU: its model, torch's kernel capability and whether it
    computes bf16 natively), the threads torch uses, the load and the library versions."""
    from clipstyler_fast.precision import computes_bf16_natively, describe_cpu

    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    versions = f"python {sys.version.split()[0]}, torch {torch.__version__}"
    lines = [f"{describe_cpu()} | torch uses {torch.get_num_threads()} threads{load} | {versions}"]
    if device.type == "cuda":
        native = "native" if computes_bf16_natively(device) else "emulated"
        lines.insert(0, f"cuda: {torch.cuda.get_device_name(device)} | bf16 {native}")
    return "\n".join(lines)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def format_table(header: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table with left-aligned first column and right-aligned numbers."""
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(parts))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
