"""Checkpoints are written atomically and loaded safely; bad ones are refused in one line.

Refusals are checked through every entry point that reads a checkpoint file: ``fit
--ckpt_path``, ``validate --ckpt_path`` and ``Stylizer.from_checkpoint``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from support import fit_args as small_fit

from clipstyler_fast.cli.main import main
from clipstyler_fast.errors import CheckpointError
from clipstyler_fast.infer.stylizer import Stylizer
from clipstyler_fast.io.checkpoint_file import load_checkpoint_file
from clipstyler_fast.nets.style_file import FORMAT_KEY
from clipstyler_fast.train.checkpoint_callback import StyleCheckpoint, probe_writable
from clipstyler_fast.train.checkpoint_io import SafeCheckpointIO
from clipstyler_fast.train.data import ContentDataModule
from clipstyler_fast.train.model import StyleTransfer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, clip_path: Path, vgg_path: Path, content_dir: Path) -> SimpleNamespace:
    """One training step through the Python API, with a plain Trainer (no checkpoint plugin given)."""
    root = tmp_path_factory.mktemp("trained")
    model = StyleTransfer(
        "Mosaic", clip_model=str(clip_path), vgg_weights=str(vgg_path), decoder_init="random", num_views=2, preview_every_n_steps=0
    )
    data = ContentDataModule(str(content_dir), batch_size=2, crop_size=32, num_workers=0)
    trainer = L.Trainer(
        max_steps=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=root,
        callbacks=[StyleCheckpoint(root=str(root / "checkpoints"), prompt="Mosaic", every_n_train_steps=1)],
    )
    trainer.fit(model, datamodule=data)
    folder = root / "checkpoints" / "mosaic"
    return SimpleNamespace(last=folder / "last.ckpt", style=folder / "style.ckpt", io=trainer.strategy.checkpoint_io)


def cli_args(tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path) -> list[str]:
    """The options after ``fit``."""
    return small_fit(
        clip_path,
        vgg_path,
        content_dir,
        "--trainer.num_sanity_val_steps",
        "0",
        "--trainer.default_root_dir",
        str(tmp_path / "runs"),
        checkpoints=tmp_path / "checkpoints",
        steps=2,
    )[1:]


def refusals(path: Path, args: list[str], capsys: pytest.CaptureFixture) -> list[str]:
    """The one-line error of each entry point given ``path``; fails if any of them raises or traces."""
    messages = []
    for command in ("fit", "validate"):
        assert main([command, *args, "--ckpt_path", str(path)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"error: {path}: "), line
        messages.append(line.removeprefix("error: "))
    with pytest.raises(CheckpointError) as error:
        Stylizer.from_checkpoint(path)
    messages.append(str(error.value))
    assert all("\n" not in m for m in messages)
    return messages


def test_training_writes_through_the_atomic_safe_io_even_without_the_cli(trained: SimpleNamespace) -> None:
    assert isinstance(trained.io, SafeCheckpointIO)
    assert load_checkpoint_file(trained.last)["global_step"] == 1
    assert load_checkpoint_file(trained.style)["global_step"] == 1


@pytest.mark.parametrize("keep", ["nothing", "1 byte", "64 bytes", "half", "all but the last byte"])
def test_a_truncated_checkpoint_is_refused_in_one_line(
    keep: str,
    trained: SimpleNamespace,
    tmp_path: Path,
    clip_path: Path,
    vgg_path: Path,
    content_dir: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    data = trained.style.read_bytes()
    size = {"nothing": 0, "1 byte": 1, "64 bytes": 64, "half": len(data) // 2, "all but the last byte": len(data) - 1}[keep]
    bad = tmp_path / "cut.ckpt"
    bad.write_bytes(data[:size])
    for message in refusals(bad, cli_args(tmp_path, clip_path, vgg_path, content_dir), capsys):
        assert message.startswith(f"{bad}: ")
        assert ("empty file (0 bytes)" if size == 0 else "truncated or corrupt checkpoint") in message


def _payload_would_run(path: Path, marker: Path) -> None:
    """Prove the malicious file is live: an unsafe load does run its code."""
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()


class RunsCode:
    """Pickles to a call of ``function(argument)``, as a malicious checkpoint would."""

    def __init__(self, function: object, argument: str) -> None:
        self.function, self.argument = function, argument

    def __reduce__(self) -> tuple:
        return (self.function, (self.argument,))


@pytest.mark.parametrize("how", ["os.system", "exec"])
def test_a_checkpoint_whose_pickle_runs_code_is_refused_and_the_code_never_runs(
    how: str,
    trained: SimpleNamespace,
    tmp_path: Path,
    clip_path: Path,
    vgg_path: Path,
    content_dir: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    marker = tmp_path / "payload-ran"
    payload = RunsCode(os.system, f"touch '{marker}'") if how == "os.system" else RunsCode(exec, f"open({str(marker)!r}, 'w').write('ran')")
    checkpoint = load_checkpoint_file(trained.style)
    checkpoint["hyper_parameters"]["prompt"] = payload  # hidden among the real contents
    evil = tmp_path / "evil.ckpt"
    torch.save(checkpoint, evil)
    _payload_would_run(evil, marker)
    for message in refusals(evil, cli_args(tmp_path, clip_path, vgg_path, content_dir), capsys):
        assert "refused: loading it would run code stored in the file" in message
    assert not marker.exists()
    # A bare pickle file (not torch.save's archive format) is refused just the same.
    bare = tmp_path / "bare.ckpt"
    import pickle

    bare.write_bytes(pickle.dumps({"state_dict": payload}))
    with pytest.raises(CheckpointError, match="bare.ckpt: "):
        Stylizer.from_checkpoint(bare)
    assert not marker.exists()


def test_a_checkpoint_of_another_architecture_or_format_is_refused_saying_what_differs(
    trained: SimpleNamespace,
    tmp_path: Path,
    clip_path: Path,
    vgg_path: Path,
    content_dir: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    args = cli_args(tmp_path, clip_path, vgg_path, content_dir)
    checkpoint = load_checkpoint_file(trained.last)
    narrower = dict(checkpoint, state_dict=dict(checkpoint["state_dict"]))
    narrower["state_dict"]["decoder.1.weight"] = torch.zeros(128, 512, 3, 3)
    path = tmp_path / "narrower.ckpt"
    torch.save(narrower, path)
    with pytest.raises(
        CheckpointError,
        match=r"decoder architecture differs: 1\.weight has shape \(128, 512, 3, 3\), this version expects \(256, 512, 3, 3\)",
    ):
        Stylizer.from_checkpoint(path)
    # Resuming from it fails before training, naming the file and the tensor.
    assert main(["fit", *args, "--ckpt_path", str(path)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        line == f"error: {path}: decoder architecture differs: 1.weight has shape (128, 512, 3, 3), this version expects (256, 512, 3, 3)"
    )
    assert not (tmp_path / "checkpoints" / "mosaic" / "last.ckpt").exists()

    shallower = dict(checkpoint, state_dict={k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("decoder.28.")})
    path = tmp_path / "shallower.ckpt"
    torch.save(shallower, path)
    with pytest.raises(CheckpointError, match=r"decoder architecture differs: missing 2 tensors \(first 28\.weight\)"):
        Stylizer.from_checkpoint(path)

    future = dict(checkpoint, **{FORMAT_KEY: dict(checkpoint[FORMAT_KEY], format_version=99)})
    path = tmp_path / "future.ckpt"
    torch.save(future, path)
    for message in refusals(path, args, capsys):
        assert "checkpoint format version 99 is not supported by this version (expects 2)" in message


def test_resuming_from_a_weights_only_file_says_what_to_do_instead(
    trained: SimpleNamespace,
    tmp_path: Path,
    clip_path: Path,
    vgg_path: Path,
    content_dir: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    args = cli_args(tmp_path, clip_path, vgg_path, content_dir)
    assert main(["fit", *args, "--ckpt_path", str(trained.style)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {trained.style}: holds the weights only, not a training state to resume; resume from last.ckpt "
        f"(--ckpt_path last), or start a new run from these weights with --model.decoder_init {trained.style}"
    )
    # The advice works.
    assert main(["fit", *args, "--trainer.max_steps", "1", "--model.decoder_init", str(trained.style)]) == 0


def test_a_kill_during_a_save_leaves_the_previous_complete_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    writer = (
        "import sys, torch\n"
        "from clipstyler_fast.io.atomic import atomic_torch_save\n"
        "path = sys.argv[1]\n"
        "big = torch.zeros(6_000_000)\n"
        "step = 0\n"
        "while True:\n"
        "    step += 1\n"
        "    atomic_torch_save({'step': step, 'weights': big + step}, path)\n"
        "    print(step, flush=True)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen([sys.executable, "-c", writer, str(target)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        while int(process.stdout.readline() or 0) < 3:  # several complete saves, then kill mid-way through more
            assert process.poll() is None
        time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    saved = load_checkpoint_file(target)
    assert saved["step"] >= 3 and torch.equal(saved["weights"], torch.zeros(6_000_000) + saved["step"])


def test_an_unwritable_checkpoint_folder_fails_at_start_up_before_any_model_loads(
    tmp_path: Path, content_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    # Tests may run as root, for whom permission bits do not stop writes; a regular file where a
    # folder should be stops everyone.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    args = [
        "fit",
        "--model.prompt",
        "Mosaic",
        "--model.clip_model",
        str(tmp_path / "no-clip.pt"),
        "--model.vgg_weights",
        str(tmp_path / "no-vgg.pth"),
        "--data.path",
        str(content_dir),
        "--data.crop_size",
        "32",
        "--data.num_workers",
        "0",
        "--trainer.accelerator",
        "cpu",
        "--trainer.logger",
        "false",
        "--trainer.default_root_dir",
        str(tmp_path / "runs"),
        "--checkpoint.root",
        str(blocker / "checkpoints"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # The weight files do not exist: had a model been loaded first, that error would show instead.
    assert err[-1].startswith(f"error: {blocker / 'checkpoints' / 'mosaic'}: cannot write checkpoints here (")
    assert err[-1].endswith("free some space or pass another --checkpoint.root")


def test_too_little_free_space_is_reported_before_training(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"only \d+ MiB free, checkpoints need about \d+ MiB; free some space"):
        probe_writable(tmp_path, need_bytes=2**62)
    probe_writable(tmp_path, need_bytes=1)
    assert not list(tmp_path.iterdir())  # the probe cleans up after itself
