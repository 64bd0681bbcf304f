"""Shared test helpers: tiny random-weight CLIP files, full-size VGG-19 and decoder files in the
released layouts, generated content images, and the arguments of a small ``fit``.

The weight files are written with the real model classes (clip-anytorch's ``CLIP``,
torchvision's ``vgg19``) or, for AdaIN's releases, in their exact module layout, and loaded back
through the product's own loaders.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from benchmarks.common import TINY_CLIP

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"


def cli_environment(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment for a ``clipstyler-fast`` subprocess.

    The interpreter imports this checkout's package wherever its working folder is, and the
    tests' own modules too (callbacks named on the command line, such as
    ``resume_callbacks.SignalAtStep``). ``env`` adds or overrides variables; a None value removes
    one (a test that must see the warnings this run would otherwise filter out).
    """
    path = os.pathsep.join(filter(None, [str(REPO), str(TESTS), os.environ.get("PYTHONPATH")]))
    environment: dict[str, str | None] = {**os.environ, "PYTHONPATH": path, **(env or {})}
    return {name: value for name, value in environment.items() if value is not None}


def cli_command(*args: str, python: tuple[str, ...] = ()) -> list[str]:
    """``clipstyler-fast ARGS`` as a fresh interpreter runs it; ``python`` passes interpreter
    options such as ``-X importtime``."""
    return [sys.executable, *python, "-m", "clipstyler_fast", *args]


def run_cli(
    *args: str,
    cwd: Path | str | None = None,
    env: Mapping[str, str | None] | None = None,
    python: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """``clipstyler-fast ARGS`` in a fresh interpreter, run to its end, output captured as text
    (see ``cli_environment`` for ``env``)."""
    return subprocess.run(cli_command(*args, python=python), cwd=cwd, env=cli_environment(env), capture_output=True, text=True)


def start_cli(
    *args: str, cwd: Path | str | None = None, env: Mapping[str, str | None] | None = None, **popen: Any
) -> subprocess.Popen[str]:
    """``clipstyler-fast ARGS`` started in a fresh interpreter and left running, for tests that
    signal or kill it; ``popen`` says where its output goes (a pipe nobody reads can fill up and
    stall it) and whether it gets a session of its own."""
    return subprocess.Popen(cli_command(*args), cwd=cwd, env=cli_environment(env), text=True, **popen)


def imported_modules(stderr: str) -> set[str]:
    """The modules a ``-X importtime`` run imported, from its stderr."""
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def write_tiny_clip(path: Path, seed: int = 0) -> Path:
    """A random CLIP ViT with clip-anytorch's own classes, saved as a plain state dict."""
    from clip.model import CLIP

    torch.manual_seed(seed)
    model = CLIP(**TINY_CLIP)
    torch.save(model.state_dict(), path)
    return path


def write_vgg(path: Path, seed: int = 0, full: bool = False, upto: int = 21) -> Path:
    """A random torchvision VGG-19 state dict: the released file's keys, of the ``features``
    modules below ``upto`` (21: up to relu4_1), or the whole network when ``full``."""
    from torchvision.models import vgg19

    torch.manual_seed(seed)
    model = vgg19()
    state = model.state_dict()
    if not full:
        state = {k: v for k, v in state.items() if k.startswith("features.") and int(k.split(".")[1]) < upto}
    torch.save(state, path)
    return path


def vgg_normalised_network() -> torch.nn.Sequential:
    """The layout of AdaIN's released ``vgg_normalised.pth``, written out module by module:
    a 1x1 conv 3->3, then reflection pad / 3x3 conv / ReLU per convolution and ceil-mode max
    pools, through relu5_4: 53 modules."""
    from torch import nn

    layers: list[nn.Module] = [nn.Conv2d(3, 3, (1, 1))]
    widths = [
        (3, 64),
        (64, 64),
        "M",
        (64, 128),
        (128, 128),
        "M",
        (128, 256),
        (256, 256),
        (256, 256),
        (256, 256),
        "M",
        (256, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        "M",
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
    ]
    for item in widths:
        if item == "M":
            layers.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
        else:
            layers += [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(item[0], item[1], (3, 3)), nn.ReLU()]
    assert len(layers) == 53
    return nn.Sequential(*layers)


def adain_decoder_network() -> torch.nn.Sequential:
    """The layout of AdaIN's released ``decoder.pth``, written out module by module: 29 modules."""
    from torch import nn

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(c_in, c_out, (3, 3)), nn.ReLU()]

    up = nn.Upsample(scale_factor=2, mode="nearest")
    layers = [
        *block(512, 256),
        up,
        *block(256, 256),
        *block(256, 256),
        *block(256, 256),
        *block(256, 128),
        up,
        *block(128, 128),
        *block(128, 64),
        up,
        *block(64, 64),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(64, 3, (3, 3)),
    ]
    assert len(layers) == 29
    return nn.Sequential(*layers)


def write_vgg_normalised(path: Path, seed: int = 0) -> Path:
    """A random ``vgg_normalised.pth``: the whole released network, as the release holds it."""
    torch.manual_seed(seed)
    torch.save(vgg_normalised_network().state_dict(), path)
    return path


def write_adain_decoder(path: Path, seed: int = 0) -> Path:
    """A random ``decoder.pth`` in the released layout."""
    torch.manual_seed(seed)
    torch.save(adain_decoder_network().state_dict(), path)
    return path


def make_photo(width: int, height: int, seed: int) -> Image.Image:
    """A smooth synthetic 'photo': gradients, blobs and stripes, so crops differ in content."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fx, fy = rng.uniform(0.5, 4, size=2) * 2 * math.pi / max(width, height)
        phase = rng.uniform(0, 2 * math.pi)
        base = 0.5 + 0.3 * np.sin(fx * x + fy * y + phase)
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(5, max(width, height) / 2)
        blob = 0.4 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        channels.append(np.clip(base + blob * rng.choice([-1, 1]), 0, 1))
    array = (np.stack(channels, -1) * 255).astype(np.uint8)
    return Image.fromarray(array, "RGB")


def fit_args(
    clip: Path | str,
    vgg: Path | str | None,
    data: Path | str,
    *extra: str,
    checkpoints: Path | str | None = None,
    prompt: str | None = "Mosaic",
    decoder: Path | str | None = "random",
    steps: int = 1,
    views: int = 2,
    crop: int = 32,
    batch: int = 2,
    workers: int = 0,
    previews: int = 0,
    logger: bool = False,
    progress: bool = False,
) -> list[str]:
    """The arguments of a small, fast ``fit`` on CPU (tiny crops, few views): the one place
    tests spell them. ``vgg`` or ``decoder`` None leaves that option at its default (the
    download), ``prompt`` None leaves it out (any-prompt training takes a bank instead);
    ``extra`` options come last, so they override these."""
    args = ["fit", *(["--model.prompt", prompt] if prompt is not None else []), "--model.clip_model", str(clip)]
    if vgg is not None:
        args += ["--model.vgg_weights", str(vgg)]
    if decoder is not None:
        args += ["--model.decoder_init", str(decoder)]
    args += [
        "--model.num_views", str(views), "--model.preview_every_n_steps", str(previews),
        "--data.path", str(data), "--data.crop_size", str(crop), "--data.batch_size", str(batch), "--data.num_workers", str(workers),
        "--trainer.max_steps", str(steps), "--trainer.accelerator", "cpu",
        "--trainer.enable_progress_bar", str(progress).lower(), "--trainer.enable_model_summary", "false",
    ]  # fmt: skip
    if not logger:
        args += ["--trainer.logger", "false"]
    if checkpoints is not None:
        args += ["--checkpoint.root", str(checkpoints)]
    return [*args, *extra]


def he_init(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """He-initialise every convolution: activations keep realistic magnitudes through the network
    (PyTorch's default init shrinks them, making outputs nearly constant)."""
    generator = torch.Generator().manual_seed(seed)
    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv2d):
            fan_in = layer.weight[0].numel()
            with torch.no_grad():
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * (2 / fan_in) ** 0.5)
                layer.bias.zero_()
    return module


def style_checkpoint(
    root: Path,
    prompt: str = "Mosaic",
    seed: int = 0,
    *,
    trained: tuple[Path, Path, Path] | None = None,
    steps: int = 1,
    views: int = 2,
    bank: Sequence[str] | None = None,
    extra: Sequence[str] = (),
    student: bool = False,
    teacher: Path | None = None,
    direction: torch.Tensor | None = None,
) -> Path:
    """The one way tests make a style file; made once under ``root`` (a later call with the same
    arguments returns the same file).

    ``trained`` (CLIP file, VGG file, content folder): trained through the real ``fit``, in-process,
    for ``steps`` steps of ``views`` views with ``--seed_everything seed`` and ``extra`` options
    last; an any-prompt network on the prompts of ``bank`` instead of ``prompt`` when given.
    Returns ``root/checkpoints/<run>/style.ckpt``.

    Otherwise written directly, without training, for tests that need a style but not what
    training makes of one (much faster): with ``student``, a He-initialised narrow student
    recorded as ``distill`` records one (``teacher`` and ``direction`` recorded when given),
    ``root/student-<seed>/student.ckpt``; else ``root/<seed>/style.ckpt``, see ``_written_style``.
    """
    if trained is not None:
        return _fitted_style(root, prompt, seed, trained, steps, views, bank, extra)
    if student:
        return _written_student(root / f"student-{seed}" / "student.ckpt", prompt, seed, teacher, direction)
    return _written_style(root, prompt, seed)


def _fitted_style(
    root: Path,
    prompt: str,
    seed: int,
    weights: tuple[Path, Path, Path],
    steps: int,
    views: int,
    bank: Sequence[str] | None,
    extra: Sequence[str],
) -> Path:
    """A style trained through ``fit`` in this process (see ``style_checkpoint``)."""
    from clipstyler_fast.cli.main import main
    from clipstyler_fast.train.run_folder import slugify

    style = root / "checkpoints" / ("any-prompt" if bank is not None else slugify(prompt)) / "style.ckpt"
    if style.exists():
        return style
    options = [f"--seed_everything={seed}", "--trainer.default_root_dir", str(root)]
    if bank is not None:
        root.mkdir(parents=True, exist_ok=True)
        (root / "bank.txt").write_text("\n".join(bank) + "\n")
        options += ["--data.prompts", str(root / "bank.txt")]
    clip, vgg, content = weights
    named = prompt if bank is None else None
    args = fit_args(clip, vgg, content, *options, *extra, prompt=named, checkpoints=root / "checkpoints", steps=steps, views=views)
    assert main(args) == 0 and style.is_file()
    return style


def _written_style(root: Path, prompt: str, seed: int) -> Path:
    """``root/<seed>/style.ckpt``: a He-initialised decoder whose last layer is rescaled so that
    each output channel has mean 0.5 and standard deviation 0.2 on a sample photo (a colourful
    texture, rarely clipped), recording ``root/he-vgg.pth``, a He-initialised VGG file shared by
    every style under ``root``."""
    from clipstyler_fast.nets.decoder import build_decoder
    from clipstyler_fast.nets.style_file import StyleFile, StyleRecord
    from clipstyler_fast.nets.vgg import load_vgg_encoder

    vgg, style = root / "he-vgg.pth", root / str(seed) / "style.ckpt"
    if not vgg.exists():
        root.mkdir(parents=True, exist_ok=True)
        torch.save(he_init(vgg_normalised_network(), seed=1).state_dict(), vgg)
    if not style.exists():
        style.parent.mkdir(parents=True, exist_ok=True)
        decoder = he_init(build_decoder(), seed)
        sample = torch.from_numpy(np.array(make_photo(64, 64, seed=seed))).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            raw = decoder(load_vgg_encoder(str(vgg), "adain")(sample))
            scale = 0.2 / raw.std(dim=(0, 2, 3))
            last = [m for m in decoder.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            last.weight.mul_(scale.view(3, 1, 1, 1))
            last.bias.copy_((last.bias - raw.mean(dim=(0, 2, 3))) * scale + 0.5)
        StyleFile(StyleRecord(prompt=prompt, vgg_weights=str(vgg)), decoder.state_dict()).write(style)
    return style


def _written_student(path: Path, prompt: str, seed: int, teacher: Path | None, direction: torch.Tensor | None) -> Path:
    """A narrow He-initialised student with the record and options ``distill`` writes."""
    from clipstyler_fast.nets.student import STUDENT_ARCHITECTURE, StudentConfig, build_student
    from clipstyler_fast.nets.style_file import StyleFile, StyleRecord

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        config = StudentConfig(widths=(8, 16, 24), blocks=2, full_width=8)
        record = StyleRecord(
            prompt=prompt,
            architecture=STUDENT_ARCHITECTURE,
            network="student",
            student=config.to_dict(),
            teacher=str(teacher) if teacher is not None else None,
        )
        network = he_init(build_student(config), seed)
        StyleFile(record, network.state_dict(), direction, {"lr": 3e-3, "widths": [8, 16, 24]}).write(path)
    return path


def distill_args(style: Path, data: Path, root: Path, *extra: str, steps: int = 20) -> list[str]:
    """A small, fast distillation on CPU (tiny crops, a narrow student)."""
    return [
        "distill", "--ckpt_path", str(style), "--data.path", str(data), "--data.crop_size", "32", "--data.batch_size", "4",
        "--data.num_workers", "0", "--model.widths", "[8, 16, 24]", "--model.blocks", "2", "--model.full_width", "8", "--model.lr", "3e-3", "--seed_everything", "0",
        "--trainer.max_steps", str(steps), "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--trainer.logger", "false", "--trainer.num_sanity_val_steps", "0",
        "--model.preview_every_n_steps", "0", "--checkpoint.root", str(root), *extra,
    ]  # fmt: skip
