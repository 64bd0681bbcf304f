"""``clipstyler-fast export``: TorchScript and ONNX files that match PyTorch on other sizes and batches."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnxruntime
import pytest
import torch
from support import style_checkpoint

from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.export import TOLERANCE
from clipstyler_fast.infer.stylizer import Stylizer

# Neither size is the one the export traced with (64x64, batch 2) or checked itself on.
SIZES = ((1, 3, 32, 48), (3, 3, 56, 24))


@pytest.fixture(scope="module")
def style(tmp_path_factory, clip_path, vgg_path, content_dir) -> Path:
    return style_checkpoint(tmp_path_factory.mktemp("export-style"), "Mosaic", trained=(clip_path, vgg_path, content_dir))


@pytest.fixture(scope="module")
def exported(style, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("exported")
    # The reference's contrast post-processing spreads outputs over [0, 1], so agreement is not trivial.
    assert main(["export", "--ckpt_path", str(style), "--output.dir", str(folder), "--postprocess", "contrast"]) == 0
    return folder


@pytest.fixture(scope="module")
def cases(style) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Inputs of two sizes and what the PyTorch stylizer makes of them."""
    stylizer = Stylizer.from_checkpoint(style, postprocess="contrast", precision="32-true")  # the exported graph is fp32
    generator = torch.Generator().manual_seed(3)
    inputs = [torch.rand(shape, generator=generator) for shape in SIZES]
    with torch.no_grad():
        outputs = [stylizer(x) for x in inputs]
    for out in outputs:
        assert out.std() > 0.05  # a spread-out image, not a constant
    return list(zip(inputs, outputs))


@pytest.mark.slow
def test_torchscript_matches_pytorch_on_two_sizes(exported, cases):
    model = torch.jit.load(str(exported / "stylizer.torchscript.pt"))
    for x, expected in cases:
        with torch.no_grad():
            got = model(x)
        assert got.shape == expected.shape
        assert (got - expected).abs().max() <= TOLERANCE


@pytest.mark.slow
def test_onnx_matches_pytorch_on_two_sizes(exported, cases):
    session = onnxruntime.InferenceSession(str(exported / "stylizer.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    for x, expected in cases:
        got = torch.from_numpy(session.run(None, {"images": x.numpy()})[0])
        assert got.shape == expected.shape
        assert (got - expected).abs().max() <= TOLERANCE


@pytest.mark.slow
def test_export_records_its_contract_and_measured_error(exported):
    meta = json.loads((exported / "stylizer.json").read_text())
    assert meta["prompt"] == "Mosaic"
    assert meta["files"] == {"torchscript": "stylizer.torchscript.pt", "onnx": "stylizer.onnx"}
    assert meta["output"]["postprocess"] == "contrast" and meta["tolerance"] == TOLERANCE
    assert set(meta["max_abs_difference_to_pytorch"]) == {"torchscript", "onnx"}
    assert all(0 <= v <= TOLERANCE for v in meta["max_abs_difference_to_pytorch"].values())
    assert sorted(p.name for p in exported.iterdir()) == ["stylizer.json", "stylizer.onnx", "stylizer.torchscript.pt"]


def test_missing_onnx_packages_name_the_extra(style, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes the import fail as if not installed
    folder = tmp_path / "out"
    assert main(["export", "--ckpt_path", str(style), "--output.dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "clipstyler-fast[onnx]"' in err and "onnxruntime" in err
    assert not folder.exists()
