"""Interrupted training resumes exactly: same weights, optimizer state, schedule and data order.

Every test compares with an uninterrupted reference run, bit for bit, at the step where the
resumed run ends. The folders are tiny so that checkpoints land both in the middle of an epoch
(3 batches an epoch) and at epoch ends (1 batch an epoch), and validation (every 3 steps)
re-saves some of them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from support import fit_args as small_fit
from support import make_photo, start_cli

from clipstyler_fast.cli.main import main

STEPS = 6
SLUG = "mosaic"


def fit_args(root: Path, clip: Path, vgg: Path, data: Path, steps: int = STEPS, every: int = 1, workers: int = 0) -> list[str]:
    return small_fit(
        clip,
        vgg,
        data,
        "--seed_everything",
        "0",
        "--trainer.val_check_interval",
        "3",
        "--trainer.num_sanity_val_steps",
        "0",
        "--trainer.default_root_dir",
        str(root / "runs"),
        "--checkpoint.every_n_train_steps",
        str(every),
        checkpoints=root / "checkpoints",
        steps=steps,
        workers=workers,
    )


def last_ckpt(root: Path) -> Path:
    return root / "checkpoints" / SLUG / "last.ckpt"


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def at_step(reference: Path, step: int) -> Path:
    """The reference run's ``last.ckpt`` as it was after ``step`` steps."""
    return last_ckpt(reference) if step == STEPS else reference / "snapshots" / f"step{step}.ckpt"


def assert_same_training_state(path: Path, reference: Path, step: int) -> None:
    """Step, weights, Adam moments and learning-rate schedule: all bitwise equal to the reference's."""
    ours, ref = load(path), load(reference)
    assert ours["global_step"] == ref["global_step"] == step
    assert set(ours["state_dict"]) == set(ref["state_dict"])
    differ = [k for k, v in ref["state_dict"].items() if not torch.equal(ours["state_dict"][k], v)]
    assert not differ, f"weights differ: {differ[:5]}"
    (opt,), (ref_opt,) = ours["optimizer_states"], ref["optimizer_states"]
    assert opt["param_groups"] == ref_opt["param_groups"]
    for index, state in ref_opt["state"].items():
        for name, value in state.items():
            assert torch.equal(opt["state"][index][name], value), f"optimizer {name} of parameter {index} differs"
    assert ours["lr_schedulers"] == ref["lr_schedulers"]
    # The shareable weights-only file was written with the same weights.
    style = load(path.with_name("style.ckpt"))["state_dict"]
    assert all(torch.equal(style[k], v) for k, v in ours["state_dict"].items())


def resume_from(snapshot: Path, root: Path, args: list[str]) -> Path:
    """Put ``snapshot`` where an interrupted run leaves its checkpoint and resume with ``--ckpt_path last``."""
    last_ckpt(root).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(snapshot, last_ckpt(root))
    assert main([*args, "--ckpt_path", "last"]) == 0
    return last_ckpt(root)


@pytest.fixture(scope="module")
def three_batch_epochs(content_dir: Path) -> Path:
    return content_dir  # 8 photos: 2 held out, 6 train -> 3 batches of 2 an epoch


@pytest.fixture(scope="module")
def one_batch_epochs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("three-photos")
    for i in range(3):  # 2 held out, 1 trains: every batch is a whole epoch
        make_photo(40 + 8 * i, 48, seed=20 + i).save(folder / f"p{i}.png")
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, clip_path: Path, vgg_path: Path, three_batch_epochs: Path) -> Path:
    """An uninterrupted run, saving every step, with a copy of last.ckpt taken before each step."""
    root = tmp_path_factory.mktemp("reference")
    args = fit_args(root, clip_path, vgg_path, three_batch_epochs)
    snapshot = [
        "--trainer.callbacks+=resume_callbacks.SnapshotLast",
        "--trainer.callbacks.last",
        str(last_ckpt(root)),
        "--trainer.callbacks.into",
        str(root / "snapshots"),
    ]
    assert main([*args, *snapshot]) == 0
    assert sorted(p.name for p in (root / "snapshots").iterdir()) == [f"step{k}.ckpt" for k in range(1, STEPS)]
    return root


@pytest.mark.parametrize(
    ("start", "end", "workers", "extra"),
    [
        (1, 4, 0, []),  # 1 of 3 batches of epoch 0 done; runs through the epoch end and a validation
        (3, 5, 1, []),  # end of epoch 0, saved again after validation; one DataLoader worker
        # 2 of 3 batches of epoch 1 done; the data seed (order, crops, held-out split) comes from
        # the checkpoint, whatever the command line says
        (5, 6, 0, ["--data.seed", "7"]),
    ],
)
def test_resume_from_a_checkpoint_mid_epoch_or_after_validation_is_exact(
    start: int,
    end: int,
    workers: int,
    extra: list[str],
    reference: Path,
    tmp_path: Path,
    clip_path: Path,
    vgg_path: Path,
    three_batch_epochs: Path,
) -> None:
    snapshot = at_step(reference, start)
    assert load(snapshot)["global_step"] == start
    args = fit_args(tmp_path, clip_path, vgg_path, three_batch_epochs, steps=end, every=100, workers=workers)
    resumed = resume_from(snapshot, tmp_path, [*args, *extra])
    assert_same_training_state(resumed, at_step(reference, end), end)


def test_training_longer_after_a_finished_run_is_exact(
    reference: Path, tmp_path: Path, clip_path: Path, vgg_path: Path, three_batch_epochs: Path
) -> None:
    # A run that ended at max_steps=2 (mid-epoch), continued to 4 steps with --ckpt_path last.
    assert main(fit_args(tmp_path, clip_path, vgg_path, three_batch_epochs, steps=2, every=100)) == 0
    assert load(last_ckpt(tmp_path))["global_step"] == 2
    longer = fit_args(tmp_path, clip_path, vgg_path, three_batch_epochs, steps=4, every=100)
    assert main([*longer, "--ckpt_path", "last"]) == 0
    assert_same_training_state(last_ckpt(tmp_path), at_step(reference, 4), 4)


def test_resume_when_every_batch_is_a_whole_epoch_is_exact(tmp_path: Path, clip_path: Path, vgg_path: Path, one_batch_epochs: Path) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    snapshot = [
        "--trainer.callbacks+=resume_callbacks.SnapshotLast",
        "--trainer.callbacks.last",
        str(last_ckpt(ref)),
        "--trainer.callbacks.into",
        str(ref / "snapshots"),
    ]
    holdout = ["--data.num_holdout", "2"]
    # --ckpt_path last with nothing to resume starts a new run, so a job script can always pass it.
    assert main([*fit_args(ref, clip_path, vgg_path, one_batch_epochs, steps=3), *holdout, *snapshot, "--ckpt_path", "last"]) == 0
    assert sorted(p.name for p in (ref / "snapshots").iterdir()) == ["step1.ckpt", "step2.ckpt"]
    resumed = resume_from(
        ref / "snapshots" / "step1.ckpt", run, [*fit_args(run, clip_path, vgg_path, one_batch_epochs, steps=3, every=100), *holdout]
    )
    assert_same_training_state(resumed, last_ckpt(ref), 3)


def _start(args: list[str], log: Path, new_session: bool = False) -> subprocess.Popen[str]:
    """The real command in a subprocess; its output goes to ``log`` (a pipe could fill up and
    stall it), with no warning filtered out (the tests check what a person would see)."""
    with log.open("w") as out:
        return start_cli(
            *args, cwd=log.parent, env={"PYTHONWARNINGS": None}, stdout=out, stderr=subprocess.STDOUT, start_new_session=new_session
        )


def _wait_for(path: Path, process: subprocess.Popen, log: Path, timeout: float = 500) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_ends_bitwise_equal(
    reference: Path, tmp_path: Path, clip_path: Path, vgg_path: Path, three_batch_epochs: Path
) -> None:
    """The real command, killed with SIGKILL right after its first checkpoint, then resumed."""
    args = fit_args(tmp_path, clip_path, vgg_path, three_batch_epochs, steps=50, every=2)
    log = tmp_path / "run.log"
    process = _start(args, log)
    try:
        _wait_for(last_ckpt(tmp_path), process, log)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    killed_at = load(last_ckpt(tmp_path))["global_step"]  # a complete file: saves are atomic
    assert killed_at in (2, 4), "the kill lands in the middle of an epoch"
    resumed = fit_args(tmp_path, clip_path, vgg_path, three_batch_epochs, steps=STEPS, every=2)
    assert main([*resumed, "--ckpt_path", "last"]) == 0
    assert_same_training_state(last_ckpt(tmp_path), last_ckpt(reference), STEPS)
    assert not list(last_ckpt(tmp_path).parent.glob(".*.tmp"))  # a save cut short leaves no debris


@pytest.mark.slow
def test_sigterm_to_the_process_group_saves_a_checkpoint_and_says_how_to_resume(
    reference: Path, tmp_path: Path, clip_path: Path, vgg_path: Path, three_batch_epochs: Path
) -> None:
    """As a cluster scheduler pre-empts a job: SIGTERM to every process, DataLoader worker included."""
    args = fit_args(tmp_path, clip_path, vgg_path, three_batch_epochs, steps=50, every=2, workers=1)
    log = tmp_path / "run.log"
    process = _start(args, log, new_session=True)
    try:
        _wait_for(last_ckpt(tmp_path), process, log)
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text()
    assert process.returncode == 128 + signal.SIGTERM, output[-3000:]
    stopped_at = load(last_ckpt(tmp_path))["global_step"]
    assert 2 <= stopped_at < STEPS
    assert f"stopped by SIGTERM after step {stopped_at}; saved {last_ckpt(tmp_path)}" in output
    hint = next(line for line in output.splitlines() if line.startswith("to resume: "))
    assert hint.startswith("to resume: clipstyler-fast fit ") and hint.endswith(" --ckpt_path last")
    assert "Traceback" not in output
    # The printed command resumes the run (here in-process, one step further than the stop).
    command = shlex.split(hint.removeprefix("to resume: clipstyler-fast "))
    assert main([*command, "--trainer.max_steps", str(stopped_at + 1)]) == 0
    assert_same_training_state(last_ckpt(tmp_path), at_step(reference, stopped_at + 1), stopped_at + 1)


def test_ctrl_c_finishes_the_step_saves_and_exits_with_130(
    reference: Path,
    tmp_path: Path,
    clip_path: Path,
    vgg_path: Path,
    three_batch_epochs: Path,
    capfd: pytest.CaptureFixture,
) -> None:
    """SIGINT during step 3 of a run that would only save every 100 steps."""
    args = fit_args(tmp_path, clip_path, vgg_path, three_batch_epochs, steps=4, every=100)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit) as stop:
        main(
            [
                *args,
                "--trainer.callbacks+=resume_callbacks.SignalAtStep",
                "--trainer.callbacks.step",
                "2",
                "--trainer.callbacks.signum",
                str(int(signal.SIGINT)),
            ]
        )
    assert stop.value.code == 128 + signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    assert load(last_ckpt(tmp_path))["global_step"] == 3  # the step under way when the signal came
    err = capfd.readouterr().err
    assert "received SIGINT: finishing the current step" in err and "stopped by SIGINT after step 3" in err
    assert main([*args, "--ckpt_path", "last"]) == 0
    assert_same_training_state(last_ckpt(tmp_path), at_step(reference, 4), 4)


def test_a_new_run_refuses_to_replace_an_earlier_one_before_writing_anything(
    reference: Path,
    tmp_path: Path,
    clip_path: Path,
    vgg_path: Path,
    three_batch_epochs: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    args = fit_args(tmp_path, clip_path, vgg_path, three_batch_epochs)
    last_ckpt(tmp_path).parent.mkdir(parents=True)
    shutil.copyfile(reference / "snapshots" / "step2.ckpt", last_ckpt(tmp_path))
    config = last_ckpt(tmp_path).with_name("config.yaml")
    config.write_text("the earlier run's configuration")
    before = last_ckpt(tmp_path).read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"error: {last_ckpt(tmp_path)} already holds an earlier run; resume it with --ckpt_path last, "
        "or start over with --checkpoint.overwrite true, or use another --checkpoint.root"
    )
    assert last_ckpt(tmp_path).read_bytes() == before and not (last_ckpt(tmp_path).parent / "style.ckpt").exists()
    assert config.read_text() == "the earlier run's configuration"


def test_a_second_ctrl_c_stops_at_once_with_130_and_no_lightning_shutdown_text(
    tmp_path: Path,
    clip_path: Path,
    vgg_path: Path,
    three_batch_epochs: Path,
    capfd: pytest.CaptureFixture,
) -> None:
    args = fit_args(tmp_path, clip_path, vgg_path, three_batch_epochs, steps=4, every=100)
    with pytest.raises(SystemExit) as stop:
        main(
            [
                *args,
                "--trainer.callbacks+=resume_callbacks.SignalAtStep",
                "--trainer.callbacks.step",
                "2",
                "--trainer.callbacks.signum",
                str(int(signal.SIGINT)),
                "--trainer.callbacks.times",
                "2",
            ]
        )
    assert stop.value.code == 130
    out = capfd.readouterr()
    assert "graceful shutdown" not in out.err + out.out
    assert not last_ckpt(tmp_path).exists()  # stopped at once: nothing saved after the first 100-step interval
