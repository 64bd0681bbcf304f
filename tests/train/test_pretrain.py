"""Decoder pre-training: `clipstyler-fast pretrain` writes a decoder that `fit` starts from."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from support import fit_args as small_fit

from clipstyler_fast.cli.main import main
from clipstyler_fast.nets.decoder import build_decoder


def test_pretrain_exports_a_decoder_that_fit_starts_from_in_any_working_folder(
    tmp_path: Path,
    torchvision_vgg_path: Path,
    clip_path: Path,
    content_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    status = main(
        [
            "pretrain",
            "--model.encoder",
            "torchvision",
            "--model.vgg_weights",
            str(torchvision_vgg_path),
            "--data.path",
            str(content_dir),
            "--data.crop_size",
            "32",
            "--data.batch_size",
            "2",
            "--data.num_workers",
            "0",
            "--trainer.max_steps",
            "3",
            "--checkpoint.every_n_train_steps",
            "1",
            "--trainer.accelerator",
            "cpu",
            "--trainer.logger",
            "false",
            "--trainer.precision",
            "32-true",
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    assert status == 0
    exported = tmp_path / "torch-home" / "hub" / "checkpoints" / "clipstyler-fast" / "decoder-torchvision.pt"
    # Said once, at the end (the decoder is re-exported silently at every checkpoint save).
    said = [r.getMessage() for r in caplog.records if "pre-trained decoder written to" in r.getMessage()]
    assert said == [f"pre-trained decoder written to {exported}"]
    assert not any("(predict)" in r.getMessage() for r in caplog.records)
    assert exported.is_file() and (tmp_path / "a" / "checkpoints" / "pretrain" / "last.ckpt").is_file()
    weights = torch.load(exported, weights_only=True)
    assert set(weights) == set(build_decoder().state_dict())

    # `decoder_init: auto` finds it from another working folder.
    monkeypatch.chdir(tmp_path / "b")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = main(
            small_fit(clip_path, torchvision_vgg_path, content_dir, "--model.encoder", "torchvision", "--model.lr", "0", decoder=None)
        )
    assert status == 0
    assert not any("RANDOM weights" in str(w.message) for w in caught)
    trained = torch.load(tmp_path / "b" / "checkpoints" / "mosaic" / "style.ckpt", weights_only=True)["state_dict"]
    # lr 0: the per-prompt decoder is still exactly the pre-trained one.
    for key, value in weights.items():
        torch.testing.assert_close(trained[f"decoder.{key}"], value, rtol=0, atol=0)


def test_an_explicit_decoder_file_that_does_not_fit_is_refused(
    tmp_path: Path, vgg_path: Path, clip_path: Path, content_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    wrong = tmp_path / "wrong.pt"
    state = build_decoder().state_dict()
    state["1.weight"] = torch.zeros(128, 512, 3, 3)
    torch.save(state, wrong)
    status = main(
        [
            "fit",
            "--model.prompt",
            "Mosaic",
            "--model.clip_model",
            str(clip_path),
            "--model.vgg_weights",
            str(vgg_path),
            "--model.decoder_init",
            str(wrong),
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
            "--checkpoint.root",
            str(tmp_path / "ck"),
        ]
    )
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        err == f"error: {wrong}: decoder architecture differs: 1.weight has shape (128, 512, 3, 3), this version expects (256, 512, 3, 3)"
    )
