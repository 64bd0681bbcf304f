"""Frozen-weight loading through the product's loaders: local files, and clear offline errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from clipstyler_fast.cli.main import main
from clipstyler_fast.errors import WeightsUnavailableError
from clipstyler_fast.nets.clip_model import load_clip
from clipstyler_fast.nets.vgg import load_vgg_encoder


def test_local_clip_file_loads_and_encodes_any_size(clip_path: Path) -> None:
    clip = load_clip(str(clip_path))
    assert clip.input_resolution == 32
    assert not any(p.requires_grad for p in clip.parameters())
    a = clip.encode_image(torch.rand(2, 3, 32, 32))
    b = clip.encode_image(torch.rand(2, 3, 57, 41))  # resized to 32x32 internally
    assert a.shape == b.shape == (2, 32)
    text = clip.encode_text(["a photo", "a mosaic"])
    assert text.shape == (2, 32) and not torch.allclose(text[0], text[1])


def test_local_torchvision_vgg_state_dict_loads_features_only_or_full(torchvision_vgg_path: Path, tmp_path: Path) -> None:
    vgg_path = torchvision_vgg_path
    encoder = load_vgg_encoder(str(vgg_path), "torchvision")
    features = encoder(torch.rand(1, 3, 40, 48))
    assert features.shape == (1, 512, 5, 6)
    assert (features >= 0).all()  # ends with relu4_1
    # A full torchvision state dict carries more keys (classifier, later layers): they are ignored.
    state = torch.load(vgg_path, weights_only=True)
    state["features.21.weight"] = torch.zeros(512, 512, 3, 3)
    state["classifier.0.weight"] = torch.zeros(4, 4)
    full = tmp_path / "full.pth"
    torch.save(state, full)
    torch.testing.assert_close(load_vgg_encoder(str(full), "torchvision")(torch.ones(1, 3, 16, 16)), encoder(torch.ones(1, 3, 16, 16)))


def test_missing_or_wrong_local_files_are_one_line_errors(tmp_path: Path, clip_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match="not found.*`vgg_weights`"):
        load_vgg_encoder(str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsUnavailableError, match="tiny-clip.pt: holds no known network, not AdaIN's vgg_normalised"):
        load_vgg_encoder(str(clip_path))
    with pytest.raises(WeightsUnavailableError, match="neither a CLIP model name .*ViT-B/32.* nor an existing file"):
        load_clip("ViT-Z/99")
    with pytest.raises(WeightsUnavailableError, match="missing-clip.pt: neither .*`clip_model`"):
        load_clip(str(tmp_path / "missing-clip.pt"))


def test_failed_downloads_name_the_file_the_source_and_the_option(
    tmp_path: Path,
    content_dir: Path,
    vgg_path: Path,
    decoder_path: Path,
    clip_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """No network here: the real download code runs, fails, and says what to do instead."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.chdir(tmp_path)
    common = [
        "fit",
        "--model.prompt",
        "Mosaic",
        "--data.path",
        str(content_dir),
        "--data.crop_size",
        "32",
        "--data.num_workers",
        "0",
        "--trainer.max_steps",
        "1",
        "--trainer.accelerator",
        "cpu",
        "--trainer.logger",
        "false",
        "--trainer.enable_progress_bar",
        "false",
    ]
    # The encoder from its (unreachable) default, AdaIN's release.
    status = main([*common, "--model.clip_model", str(clip_path), "--model.decoder_init", str(decoder_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith(
        "error: could not download VGG-19 vgg_normalised weights (AdaIN) (vgg_normalised.pth from https://github.com/naoto0804/pytorch-AdaIN/"
    )
    assert "--model.vgg_weights PATH" in err[-1]

    status = main([*common, "--model.clip_model", str(clip_path), "--model.encoder", "torchvision", "--model.decoder_init", "random"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith("error: could not download VGG-19 ImageNet weights (torchvision) (vgg19-dcbb9e9d.pth from https://")

    status = main(
        [
            *common,
            "--model.vgg_weights",
            str(vgg_path),
            "--model.clip_model",
            "ViT-B/32",
            "--model.decoder_init",
            str(decoder_path),
            "--model.clip_download_root",
            str(tmp_path / "clip-cache"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith("error: could not download CLIP ViT-B/32 (ViT-B-32.pt from https://")
    assert "--model.clip_model PATH" in err[-1]
