"""Inference with an any-prompt checkpoint: any prompt through predict, the Python API, export,
video, evaluate and interpolate; CLIP only for prompts neither in the bank nor cached."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from conftest import ANY_PROMPT_BANK
from PIL import Image
from support import make_photo, run_cli

from clipstyler_fast import Stylizer
from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.any_prompt import load_style
from clipstyler_fast.nets.style_file import StyleFile


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        make_photo(40 + 8 * i, 32, seed=i).save(folder / f"p{i}.png")
    return folder


def predict(ckpt: Path, photos: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["predict", "--ckpt_path", str(ckpt), "--data.path", str(photos), "--output.dir", str(out), *extra]
    args += ["--trainer.accelerator", "cpu", "--trainer.precision", "32-true", "--trainer.enable_progress_bar", "false"]
    return run_cli(*args)


def test_several_prompts_in_one_run_go_to_one_folder_each_and_differ(
    any_prompt_ckpt: Path, vgg_path: Path, photos: Path, tmp_path: Path
) -> None:
    result = predict(
        any_prompt_ckpt, photos, tmp_path / "out", "--prompt", "Red", "--prompt", "Mosaic", "--model.vgg_weights", str(vgg_path)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    red, mosaic = (tmp_path / "out" / name for name in ("red", "mosaic"))
    assert sorted(p.name for p in red.iterdir()) == sorted(p.name for p in mosaic.iterdir()) == ["p0.png", "p1.png"]
    a, b = (torch.tensor(list(Image.open(folder / "p0.png").getdata())).float() for folder in (red, mosaic))
    assert (a - b).abs().mean() > 0.5  # two prompts, two styles


def test_a_bank_prompt_needs_no_clip_and_matches_the_python_api(
    any_prompt_ckpt: Path, vgg_path: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The checkpoint records the CLIP file it was trained with; make that file unreachable.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-cache"))
    clip = Path(torch.load(any_prompt_ckpt, weights_only=True)["clipstyler_fast"]["clip_model"])
    hidden = clip.with_name(clip.name + ".hidden")
    clip.rename(hidden)
    try:
        result = predict(any_prompt_ckpt, photos, tmp_path / "out", "--prompt", "Blue", "--model.vgg_weights", str(vgg_path))
        assert result.returncode == 0, result.stderr[-2000:]
        stylizer = Stylizer.from_checkpoint(any_prompt_ckpt, str(vgg_path), prompt="Blue", precision="32-true")
    finally:
        hidden.rename(clip)
    expected = stylizer(Image.open(photos / "p0.png"))
    got = Image.open(tmp_path / "out" / "blue" / "p0.png")
    difference = (torch.tensor(list(got.getdata())) - torch.tensor(list(expected.getdata()))).abs()
    assert stylizer.prompt == "Blue" and difference.max() <= 1


def test_a_new_prompt_runs_clip_once_then_comes_from_the_cache(
    any_prompt_ckpt: Path, vgg_path: Path, clip_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "cache"))
    first = Stylizer.from_checkpoint(any_prompt_ckpt, str(vgg_path), prompt="Rusty copper")
    cached = list((tmp_path / "cache").rglob("*.pt"))
    assert len(cached) == 1 and "Rusty copper" in torch.load(cached[0], weights_only=True)
    hidden = clip_path.with_name(clip_path.name + ".hidden")
    clip_path.rename(hidden)
    try:
        again = Stylizer.from_checkpoint(any_prompt_ckpt, str(vgg_path), prompt="Rusty copper")
        with pytest.raises(Exception, match="CLIP|clip"):
            Stylizer.from_checkpoint(any_prompt_ckpt, str(vgg_path), prompt="Never seen before")
    finally:
        hidden.rename(clip_path)
    for key, value in first.network.decoder.state_dict().items():
        assert torch.equal(again.network.decoder.state_dict()[key], value)
    bank = Stylizer.from_checkpoint(any_prompt_ckpt, str(vgg_path), prompt=ANY_PROMPT_BANK[0])
    assert any(not torch.equal(bank.network.decoder.state_dict()[k], v) for k, v in first.network.decoder.state_dict().items())


def test_prompts_and_checkpoint_kinds_must_match_in_one_line(any_prompt_ckpt: Path, vgg_path: Path, photos: Path, tmp_path: Path) -> None:
    single = load_style(any_prompt_ckpt, "Red").write(tmp_path / "red.ckpt")
    no_prompt = predict(any_prompt_ckpt, photos, tmp_path / "a", "--model.vgg_weights", str(vgg_path))
    extra_prompt = predict(single, photos, tmp_path / "b", "--prompt", "Blue", "--model.vgg_weights", str(vgg_path))
    assert no_prompt.returncode == extra_prompt.returncode == 2
    assert "an any-prompt checkpoint, not a single style; give it a prompt" in no_prompt.stderr
    assert "a single-style checkpoint (prompt 'Red') takes no prompt" in extra_prompt.stderr
    for result in (no_prompt, extra_prompt):
        assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1


def test_interpolating_two_prompts_blends_their_text_directions(
    any_prompt_ckpt: Path, vgg_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ends = []
    for alpha in ("0", "1", "0.5"):
        out = tmp_path / f"blend-{alpha}.ckpt"
        assert main(["interpolate", str(any_prompt_ckpt), "--prompts", "Red", "Mosaic", "--alpha", alpha, "--output", str(out)]) == 0
        ends.append(StyleFile.read(out))
    red, mosaic = load_style(any_prompt_ckpt, "Red"), load_style(any_prompt_ckpt, "Mosaic")
    for key in red.decoder:
        assert torch.equal(ends[0].decoder[key], red.decoder[key]) and torch.equal(ends[1].decoder[key], mosaic.decoder[key])
    middle = torch.nn.functional.normalize(red.text_direction + mosaic.text_direction, dim=-1)
    torch.testing.assert_close(ends[2].text_direction, middle)
    assert ends[2].record.interpolation == {"prompts": ["Red", "Mosaic"], "alpha": 0.5, "source": str(any_prompt_ckpt)}
    assert main(["interpolate", str(any_prompt_ckpt), str(any_prompt_ckpt), "--output", str(tmp_path / "x.ckpt")]) == 2
    assert "any-prompt checkpoint" in capsys.readouterr().err


def test_export_for_a_fixed_prompt_matches_the_stylizer(any_prompt_ckpt: Path, vgg_path: Path, tmp_path: Path) -> None:
    args = ["export", "--ckpt_path", str(any_prompt_ckpt), "--prompt", "Neon", "--output.dir", str(tmp_path / "x")]
    assert main([*args, "--formats", "torchscript", "--model.vgg_weights", str(vgg_path)]) == 0
    exported = torch.jit.load(str(tmp_path / "x" / "stylizer.torchscript.pt"))
    stylizer = Stylizer.from_checkpoint(any_prompt_ckpt, str(vgg_path), prompt="Neon", precision="32-true", channels_last=False)
    images = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(exported(images), stylizer(images), rtol=1e-3, atol=1e-3)


def test_evaluate_and_video_take_the_prompt(any_prompt_ckpt: Path, vgg_path: Path, photos: Path, tmp_path: Path) -> None:
    from infer.test_video import make_video

    scores = tmp_path / "scores.csv"
    common = ["--ckpt_path", str(any_prompt_ckpt), "--prompt", "Watercolor", "--model.vgg_weights", str(vgg_path)]
    assert main(["evaluate", *common, "--data.path", str(photos), "--output", str(scores), "--trainer.accelerator", "cpu"]) == 0
    assert len(scores.read_text().splitlines()) == 3  # a header and one row per photo
    clip = make_video(tmp_path / "in.mp4", audio=False)
    out = tmp_path / "out.mp4"
    assert main(["video", *common, "--data.path", str(clip), "--output", str(out), "--trainer.accelerator", "cpu"]) == 0
    assert out.stat().st_size > 0


def test_a_clip_file_rewritten_at_the_same_path_gets_its_directions_computed_again(
    any_prompt_ckpt: Path, vgg_path: Path, clip_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prompt cache is keyed by the CLIP weights, not only by their path: a retrained file
    at the same path gives the new weights' direction, not the old cached one."""
    import os
    import shutil

    from support import write_tiny_clip

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "cache"))
    local = shutil.copy(clip_path, tmp_path / "clip-copy.pt")
    first = Stylizer.from_checkpoint(any_prompt_ckpt, str(vgg_path), prompt="Rusty copper", clip_model=str(local))
    again = Stylizer.from_checkpoint(any_prompt_ckpt, str(vgg_path), prompt="Rusty copper", clip_model=str(local))
    write_tiny_clip(Path(local), seed=7)  # retrained at the same path
    stat = Path(local).stat()
    os.utime(local, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    retrained = Stylizer.from_checkpoint(any_prompt_ckpt, str(vgg_path), prompt="Rusty copper", clip_model=str(local))

    def weights(stylizer: Stylizer) -> dict[str, torch.Tensor]:
        return stylizer.network.decoder.state_dict()

    assert all(torch.equal(weights(again)[k], v) for k, v in weights(first).items())
    assert any(not torch.equal(weights(retrained)[k], v) for k, v in weights(first).items())
