"""Which number format to compute in: bf16 only where the hardware computes it natively.

One rule for the whole package. CPUs with AVX512-BF16 or AMX and CUDA GPUs from Ampere on have
bf16 arithmetic units, and bf16 autocast there roughly doubles the speed of the convolutions. On
other processors (AVX2-only CPUs: most laptops, desktops and many cloud machines) bf16 is
emulated, and a bf16 convolution is about 85x slower than the same one in fp32. Every setting
called ``auto`` (the training module's frozen networks, ``pretrain``, a distillation's teacher,
``Stylizer`` and so ``predict``, ``video``, ``evaluate``, ``export`` and the demo) asks
:func:`computes_bf16_natively`; an explicit bf16 where it is emulated runs, after one warning.

The CPU probe can be overridden: ``CLIPSTYLER_FAST_NATIVE_BF16=0`` makes it answer "no" and
``=1`` "yes". oneDNN's own ``ONEDNN_MAX_CPU_ISA`` capped below ``AVX512_CORE_BF16`` also makes
it answer "no", and makes oneDNN emulate bf16 at the speed of such a CPU: together they let a
machine with native bf16 stand in for one without it.
"""

from __future__ import annotations

import os
import platform
import warnings
from typing import Literal

import torch

NATIVE_BF16_ENV = "CLIPSTYLER_FAST_NATIVE_BF16"
# oneDNN instruction-set caps (ONEDNN_MAX_CPU_ISA) that leave out every bf16 instruction.
ISAS_WITHOUT_BF16 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"})
EMULATED_SLOWDOWN = "about 85x slower per convolution than fp32 on an AVX2 CPU"

# The frozen networks' and a teacher's setting; Lightning's names are mapped by ``mixed_precision``.
FrozenPrecision = Literal["auto", "bf16", "fp32"]
FROZEN_PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp32")

_warned: set[tuple[str, str]] = set()


def cpu_computes_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), as oneDNN is allowed to use it."""
    override = os.environ.get(NATIVE_BF16_ENV, "").strip().lower()
    if override in ("0", "false", "no", "off"):
        return False
    if override in ("1", "true", "yes", "on"):
        return True
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper() in ISAS_WITHOUT_BF16:
        return False
    cpu = getattr(torch, "cpu", None)
    try:
        # torch's own probes (cpuinfo); the same ones its oneDNN bf16 paths consult.
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # a build without the probes: assume emulation
        return False


def computes_bf16_natively(device: torch.device | str) -> bool:
    """Whether ``device`` computes bf16 natively: a CPU per :func:`cpu_computes_bf16`, a CUDA GPU
    per ``torch.cuda.is_bf16_supported(including_emulation=False)``; anything else: no."""
    device = torch.device(device)
    if device.type == "cpu":
        return cpu_computes_bf16()
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return False


def can_run_bf16(device: torch.device | str) -> bool:
    """Whether bf16 autocast runs at all on ``device`` (natively or emulated)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=True)
    return device.type == "cpu"


def mixed_precision(device: torch.device | str) -> str:
    """Lightning's precision name for ``auto``: ``bf16-mixed`` where bf16 is native, else ``32-true``."""
    return "bf16-mixed" if computes_bf16_natively(device) else "32-true"


def warn_if_emulated(device: torch.device | str, setting: str, instead: str = "auto (bf16 only where native) or fp32") -> None:
    """Warn once per device kind and setting when bf16 was asked for where it is emulated;
    ``instead`` names the values to use instead."""
    device = torch.device(device)
    if computes_bf16_natively(device) or (device.type, setting) in _warned:
        return
    if device.type == "cpu":
        where = f"this CPU ({cpu_name()}, capability {torch.backends.cpu.get_cpu_capability()}), {EMULATED_SLOWDOWN}"
    else:
        where = f"this {device.type} device, slower than fp32"
    _warn_once((device.type, setting), f"{setting}: bf16 is emulated on {where}; use {instead}", stacklevel=4)


def _warn_once(key: tuple[str, str], message: str, stacklevel: int) -> None:
    """One warning per key (device kind, setting) in a process; ``stacklevel`` counts from the caller."""
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, stacklevel=stacklevel + 1)


def autocast_dtype(setting: str, device: torch.device | str, name: str = "precision") -> torch.dtype | None:
    """The bf16 autocast dtype for ``setting`` (``auto``, ``bf16`` or ``fp32``) on ``device``, or None for fp32.

    ``auto`` is bf16 where :func:`computes_bf16_natively`; ``bf16`` is bf16 wherever it runs (one
    warning where it is emulated; fp32 with a warning where it cannot run); ``name`` is the
    setting's name in that warning.
    """
    if setting not in FROZEN_PRECISIONS:
        raise ValueError(f"{name} {setting!r} is not one of {', '.join(FROZEN_PRECISIONS)}")
    device = torch.device(device)
    if setting == "fp32" or (setting == "auto" and not computes_bf16_natively(device)):
        return None
    if not can_run_bf16(device):
        _warn_once((device.type, name), f"{name}: bf16 does not run on this {device.type} device; computing in fp32", stacklevel=2)
        return None
    if setting == "bf16":
        warn_if_emulated(device, f"{name} bf16")
    return torch.bfloat16


def describe_choice(dtype: torch.dtype | None, device: torch.device | str) -> str:
    """What a resolved autocast ``dtype`` means on ``device``, for a log line."""
    device = torch.device(device)
    what = "this CPU" if device.type == "cpu" else f"this {device.type} device"
    native = "native" if computes_bf16_natively(device) else "emulated"
    return f"{'bf16' if dtype is torch.bfloat16 else 'fp32'} (bf16 is {native} on {what})"


def channels_last_setting(setting: bool | str, device: torch.device | str) -> bool:
    """Whether a ``channels_last`` setting (``auto``, true or false) means channels-last on ``device``.

    ``auto`` picks it where convolutions run faster in that layout: on CUDA GPUs and on CPUs that
    compute bf16 natively. On other CPUs oneDNN's fp32 channels-last kernels made a training step
    slower (``benchmarks/RESULTS.md``)."""
    if setting != "auto":
        return bool(setting)
    return torch.device(device).type == "cuda" or computes_bf16_natively(device)


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), or what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_cpu() -> str:
    """One line naming the CPU, torch's kernel capability and whether it computes bf16 natively."""
    native = "native" if cpu_computes_bf16() else "emulated"
    caps = os.environ.get("ONEDNN_MAX_CPU_ISA")
    capped = f", oneDNN capped at {caps}" if caps else ""
    return f"CPU: {cpu_name()}, {os.cpu_count()} cores | capability {torch.backends.cpu.get_cpu_capability()} | bf16 {native}{capped}"
