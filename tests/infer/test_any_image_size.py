"""Any image size in every command: from 1x1 to 3000x20 and 20x3000, in any mode, with or
without ``--size``, each image comes out at its own size (or the size asked for), and none stops
the run. Sizes and modes are drawn by hypothesis (derandomized, so every run draws the same)."""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image
from support import style_checkpoint

from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.stylizer import Stylizer

EXTREMES = [(1, 1), (3000, 20), (20, 3000), (1, 17), (15, 2)]
sizes = st.one_of(st.sampled_from(EXTREMES), st.tuples(st.integers(1, 70), st.integers(1, 70)))
modes = st.sampled_from(["RGB", "L", "RGBA", "P", "I;16", "CMYK", "LA"])
long_sides = st.one_of(st.none(), st.integers(1, 96))
# Each example runs a command; a few of them, always the same ones, keep the file quick.
# No shrinking: each example runs a command, and the drawn case is printed as it is.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
FEW = settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), phases=PHASES)
MANY = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), phases=PHASES)
QUIET = ["--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"]


def picture(width: int, height: int, mode: str, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed + width * 7 + height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    rgb = Image.fromarray(pixels, "RGB")
    if mode == "I;16":
        return Image.fromarray(pixels[..., 0].astype(np.uint16) * 257).convert("I;16")
    return rgb.convert(mode)


def resized(size: tuple[int, int], long_side: int | None) -> tuple[int, int]:
    """The (width, height) a command gives for ``--size long_side``: the longer side set, aspect kept."""
    if long_side is None:
        return size
    width, height = size
    scale = long_side / max(width, height)
    return (long_side, max(1, round(height * scale))) if width >= height else (max(1, round(width * scale)), long_side)


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return style_checkpoint(tmp_path_factory.mktemp("any-size-styles"), seed=2)


@pytest.fixture(scope="module")
def stylizer(style: Path) -> Stylizer:
    return Stylizer.from_checkpoint(style, precision="32-true")


@MANY
@given(size=sizes, mode=modes)
def test_stylizer_gives_every_image_its_own_size(stylizer: Stylizer, size: tuple[int, int], mode: str) -> None:
    out = stylizer(picture(*size, mode))
    assert out.size == size and out.mode in ("RGB", "RGBA")


def write_folder(root: Path, images: list[tuple[tuple[int, int], str]]) -> dict[str, tuple[int, int]]:
    root.mkdir(parents=True)
    names = {}
    for i, (size, mode) in enumerate(images):
        name = f"{i}-{size[0]}x{size[1]}-{mode.replace(';', '')}"
        picture(*size, mode, seed=i).save(root / f"{name}.{'tiff' if mode == 'CMYK' else 'png'}")
        names[name] = size
    return names


@pytest.mark.slow  # a command per drawn example
@FEW
@given(images=st.lists(st.tuples(sizes, modes), min_size=1, max_size=3), long_side=long_sides)
def test_predict_writes_every_image_at_its_size_or_the_asked_one(style: Path, images: list, long_side: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = write_folder(root / "photos", images)
        size_option = [] if long_side is None else ["--size", str(long_side)]
        args = ["predict", "--ckpt_path", str(style), "--data.path", str(root / "photos"), "--output.dir", str(root / "out")]
        assert main([*args, *size_option, *QUIET, "--data.num_workers", "0"]) == 0
        for name, size in names.items():
            with Image.open(root / "out" / f"{name}.png") as out:
                assert out.size == resized(size, long_side), (name, out.size, long_side)


@pytest.mark.slow  # a command per drawn example
@FEW
@given(images=st.lists(st.tuples(sizes, modes), min_size=1, max_size=2), long_side=long_sides)
def test_strips_of_blends_take_any_size(style: Path, images: list, long_side: int | None) -> None:
    """``interpolate --strip`` over a folder and on one image."""
    other = style_checkpoint(style.parents[1], seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = write_folder(root / "photos", images)
        size_option = [] if long_side is None else ["--size", str(long_side)]
        args = ["interpolate", str(style), str(other), "--alphas", "0,1"]
        assert main([*args, "--strip", str(root / "photos"), "--output", str(root / "strips"), *size_option]) == 0
        for name, size in names.items():
            width, height = size if long_side is None or long_side >= max(size) else resized(size, long_side)  # shrinks only
            (written,) = (root / "strips").glob(f"{name}.*.strip.png")  # the input's whole name, then .strip.png
            with Image.open(written) as strip:
                assert strip.height == height and strip.width >= 2 * width, (name, strip.size, (width, height))
        first, size = next(iter(names)), next(iter(names.values()))
        single = root / "one.png"
        command = ["interpolate", str(style), str(other), "--strip", str(next((root / "photos").glob(f"{first}.*")))]
        assert main([*command, "--alphas", "0,0.5,1", "--output", str(single), *size_option]) == 0
        with Image.open(single) as strip:
            expected = size if long_side is None or long_side >= max(size) else resized(size, long_side)  # shrinks only
            assert strip.height == expected[1] and strip.width >= 3 * expected[0], (strip.size, expected)


@pytest.mark.slow  # a command per drawn example
@FEW
@given(images=st.lists(st.tuples(sizes, modes), min_size=1, max_size=3), long_side=long_sides)
def test_evaluate_scores_every_image(style: Path, clip_path: Path, images: list, long_side: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = write_folder(root / "photos", images)
        size_option = [] if long_side is None else ["--size", str(long_side)]
        table = root / "scores.csv"
        args = ["evaluate", "--ckpt_path", str(style), "--model.clip_model", str(clip_path), "--data.path", str(root / "photos")]
        assert main([*args, "--output", str(table), "--patches", "2", *size_option, *QUIET]) == 0
        with table.open() as handle:
            rows = {Path(row["image"]).stem: row for row in csv.DictReader(handle)}
        assert sorted(rows) == sorted(names)


@FEW
@given(images=st.lists(st.tuples(sizes, modes), min_size=1, max_size=3))
def test_the_demo_stylizes_every_upload_at_its_size(style: Path, images: list) -> None:
    import io

    from clipstyler_fast.demo.jobs import JobStore
    from clipstyler_fast.demo.styles import StyleCatalog

    catalog = StyleCatalog(style.parents[1])
    store = JobStore(catalog)
    try:
        job = store.create(catalog.scan()[0].id)
        for size, mode in images:
            buffer = io.BytesIO()
            picture(*size, mode).save(buffer, format="TIFF" if mode == "CMYK" else "PNG")
            item = store.add(job.id, f"{size}.png", buffer.getvalue())
            assert item.state != "failed", item.error  # accepted (the worker may have picked it up already)
        deadline = time.monotonic() + 60
        while any(item.state in ("queued", "working") for item in job.items) and time.monotonic() < deadline:
            time.sleep(0.05)
        for item, (size, _) in zip(job.items, images):
            assert item.state == "done", item.error
            path, _ = store.result(job.id, item.index)
            with Image.open(path) as out:
                assert out.size == size
    finally:
        store.close()


def write_video(path: Path, width: int, height: int, frames: int = 3) -> Path:
    """A lossless video of ``frames`` random frames (PNG frames in QuickTime: any side works)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=5)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.asarray(picture(width, height, "RGB", seed=i)), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.mark.slow  # a command per drawn example
@FEW
@given(size=sizes)
def test_video_keeps_any_frame_size(style: Path, size: tuple[int, int]) -> None:
    import av

    with tempfile.TemporaryDirectory() as tmp:
        source, target = write_video(Path(tmp) / "in.mov", *size), Path(tmp) / "out.mkv"
        args = ["video", "--ckpt_path", str(style), "--data.path", str(source), "--output", str(target)]
        assert main([*args, *QUIET]) == 0
        with av.open(str(target)) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        assert len(frames) == 3 and all(frame.shape[:2] == (size[1], size[0]) for frame in frames), [f.shape for f in frames]
