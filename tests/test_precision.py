"""One rule for precision: bf16 only where the processor computes it natively, the same answer in
training, distillation and inference, and an explicit bf16 that still runs, after one warning,
where it is emulated. The capability probe is patched both ways; bf16 runs on tiny tensors only."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from support import distill_args, fit_args, run_cli
from torch import nn

from clipstyler_fast import Stylizer, precision
from clipstyler_fast.precision import NATIVE_BF16_ENV, autocast_dtype, computes_bf16_natively, mixed_precision


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """Make torch's CPU probes report a CPU with (True) or without (False) native bf16, with no
    override in the environment and no warning given yet."""
    monkeypatch.setattr(precision, "_warned", set())

    def report(native: bool) -> None:
        monkeypatch.delenv(NATIVE_BF16_ENV, raising=False)
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)

    return report


def test_auto_is_bf16_exactly_where_the_cpu_computes_it(probe: Callable[[bool], None]) -> None:
    probe(True)
    assert computes_bf16_natively("cpu") and mixed_precision("cpu") == "bf16-mixed"
    assert autocast_dtype("auto", "cpu") is torch.bfloat16 and autocast_dtype("fp32", "cpu") is None
    probe(False)
    assert not computes_bf16_natively("cpu") and mixed_precision("cpu") == "32-true"
    assert autocast_dtype("auto", "cpu") is None


def test_the_environment_overrides_the_probe_both_ways(probe: Callable[[bool], None], monkeypatch: pytest.MonkeyPatch) -> None:
    probe(True)
    monkeypatch.setenv(NATIVE_BF16_ENV, "0")
    assert not computes_bf16_natively("cpu")
    monkeypatch.delenv(NATIVE_BF16_ENV)
    # oneDNN capped below its bf16 instructions emulates bf16: the rule says so too.
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not computes_bf16_natively("cpu")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert computes_bf16_natively("cpu")
    probe(False)
    monkeypatch.setenv(NATIVE_BF16_ENV, "1")
    assert computes_bf16_natively("cpu")


def test_explicit_bf16_where_emulated_runs_after_one_warning_naming_the_cost_and_the_fix(probe: Callable[[bool], None]) -> None:
    probe(False)
    with pytest.warns(UserWarning, match=r"frozen_precision bf16: bf16 is emulated on this CPU .* about 85x slower .*; use auto"):
        assert autocast_dtype("bf16", "cpu", "frozen_precision") is torch.bfloat16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert autocast_dtype("bf16", "cpu", "frozen_precision") is torch.bfloat16  # once is enough
    probe(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert autocast_dtype("bf16", "cpu", "other") is torch.bfloat16  # native: nothing to say
    with pytest.raises(ValueError, match="frozen_precision 'half' is not one of auto, bf16, fp32"):
        autocast_dtype("half", "cpu", "frozen_precision")


def computed_dtypes(stylizer: Stylizer) -> set[torch.dtype]:
    """The dtypes the stylizer's convolutions compute in, on one small image."""
    seen: set[torch.dtype] = set()
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype)) for m in stylizer.modules() if isinstance(m, nn.Conv2d)]
    with torch.inference_mode():
        out = stylizer(torch.rand(1, 3, 24, 16))
    for hook in hooks:
        hook.remove()
    assert out.dtype == torch.float32 and out.shape == (1, 3, 24, 16)
    return seen


@pytest.mark.parametrize("native", [True, False])
def test_stylizer_computes_in_bf16_only_where_native_unless_told(probe: Callable[[bool], None], native: bool) -> None:
    probe(native)
    network = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    assert computed_dtypes(Stylizer(network)) == ({torch.bfloat16} if native else {torch.float32})
    assert computed_dtypes(Stylizer(network, precision="32-true")) == {torch.float32}
    if native:
        assert computed_dtypes(Stylizer(network, precision="bf16-mixed")) == {torch.bfloat16}
    else:
        with pytest.warns(UserWarning, match=r"precision bf16-mixed: bf16 is emulated .*; use auto .* or 32-true"):
            assert computed_dtypes(Stylizer(network, precision="bf16-mixed")) == {torch.bfloat16}


def run(args: list[str], cwd: Path, native: str) -> str:
    done = run_cli(*args, cwd=cwd, env={NATIVE_BF16_ENV: native})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("native", ["1", "0"])
def test_fit_distill_and_stylizer_agree_for_the_same_probe(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, native: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real commands with their defaults: ``fit``'s frozen networks, ``distill``'s
    teacher and ``Stylizer`` make the same choice."""
    expected, kind = ("bf16", "native") if native == "1" else ("fp32", "emulated")
    said = f"in {expected} (bf16 is {kind} on this CPU)"
    fitted = run(fit_args(clip_path, vgg_path, content_dir, checkpoints=tmp_path / "runs"), tmp_path, native)
    assert f"frozen CLIP and VGG passes {said}" in fitted
    style = tmp_path / "runs" / "mosaic" / "style.ckpt"
    distilled = run(distill_args(style, content_dir, tmp_path / "students", steps=1), tmp_path, native)
    assert f"teacher passes {said}" in distilled
    assert (tmp_path / "students" / "mosaic-student" / "student.ckpt").is_file()

    monkeypatch.setenv(NATIVE_BF16_ENV, native)
    stylizer = Stylizer.from_checkpoint(style, vgg_weights=str(vgg_path))
    assert computed_dtypes(stylizer) == {torch.bfloat16 if native == "1" else torch.float32}


@pytest.mark.parametrize("native", ["1", "0"])
def test_pretrain_without_a_precision_trains_in_bf16_only_where_native(
    tmp_path: Path, torchvision_vgg_path: Path, content_dir: Path, native: str
) -> None:
    args = [
        "pretrain", "--model.encoder", "torchvision", "--model.vgg_weights", str(torchvision_vgg_path),
        "--model.export_path", str(tmp_path / "decoder.pt"), "--data.path", str(content_dir), "--data.crop_size", "32",
        "--data.batch_size", "2", "--data.num_workers", "0", "--trainer.max_steps", "1", "--trainer.accelerator", "cpu",
        "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
    ]  # fmt: skip
    run(args, tmp_path, native)
    # The run's config.yaml records the precision it trained in.
    config = (tmp_path / "checkpoints" / "pretrain" / "config.yaml").read_text()
    assert f"precision: {'bf16-mixed' if native == '1' else '32-true'}" in config
    assert (tmp_path / "decoder.pt").is_file()
