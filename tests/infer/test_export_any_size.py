"""Exported models take any image size: padding to a multiple of 8 and cropping back happen inside the graph."""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime
import pytest
import torch
from support import run_cli, style_checkpoint

from clipstyler_fast.infer.export import MIN_SIDE, TOLERANCE
from clipstyler_fast.infer.stylizer import Stylizer

# Odd sizes, one side a multiple of 8 and one not, and the smallest side taken.
SIZES = ((1, 3, 50, 70), (2, 3, 61, 45), (1, 3, 24, 37), (1, 3, MIN_SIDE, 17))


@pytest.fixture(scope="module")
def style(tmp_path_factory, clip_path, vgg_path, content_dir) -> Path:
    return style_checkpoint(tmp_path_factory.mktemp("any-size-style"), "Mosaic", trained=(clip_path, vgg_path, content_dir))


@pytest.fixture(scope="module")
def exported(style, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("exported-any-size")
    result = run_cli("export", "--ckpt_path", str(style), "--output.dir", str(folder))
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture(scope="module")
def cases(style) -> list[tuple[torch.Tensor, torch.Tensor]]:
    stylizer = Stylizer.from_checkpoint(style, precision="32-true")  # the exported graph is fp32
    generator = torch.Generator().manual_seed(5)
    inputs = [torch.rand(shape, generator=generator) for shape in SIZES]
    with torch.no_grad():
        return [(x, stylizer(x)) for x in inputs]


@pytest.mark.slow
def test_onnx_keeps_odd_sizes_and_matches_the_stylizer(exported, cases):
    session = onnxruntime.InferenceSession(str(exported / "stylizer.onnx"), providers=["CPUExecutionProvider"])
    for x, expected in cases:
        got = torch.from_numpy(session.run(None, {"images": x.numpy()})[0])
        assert got.shape == x.shape
        assert (got - expected).abs().max() <= TOLERANCE


@pytest.mark.slow
def test_torchscript_keeps_odd_sizes_and_matches_the_stylizer(exported, cases):
    model = torch.jit.load(str(exported / "stylizer.torchscript.pt"))
    for x, expected in cases:
        with torch.no_grad():
            got = model(x)
        assert got.shape == x.shape
        assert (got - expected).abs().max() <= TOLERANCE


@pytest.mark.slow
def test_metadata_describes_any_size_input(exported):
    meta = json.loads((exported / "stylizer.json").read_text())
    constraint = meta["input"]["constraint"]
    assert "multiples of 8" not in constraint and str(MIN_SIDE) in constraint
    assert "reflection" in meta["input"]["padding"]
    assert any(side % 8 for shape in meta["checked_shapes"] for side in shape[2:])
    assert all(0 <= v <= TOLERANCE for v in meta["max_abs_difference_to_pytorch"].values())
