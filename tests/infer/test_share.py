"""``clipstyler-fast share``: every kind of style as a folder of safetensors, config and model card;
every command loads the folder, or the Hub repository it becomes, to the same outputs as the
style file; and a damaged or tampered folder is refused in one line without unpickling anything."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from share_support import hub_cache, share
from support import make_photo, style_checkpoint

from clipstyler_fast import Stylizer
from clipstyler_fast.cli.main import main
from clipstyler_fast.demo import styles as demo_styles
from clipstyler_fast.demo.styles import StyleCatalog
from clipstyler_fast.nets import style_folder
from clipstyler_fast.nets.conditioned_file import ConditionedFile
from clipstyler_fast.nets.style_file import StyleFile

REPO = Path(__file__).resolve().parents[2]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.accelerator", "cpu", "--data.num_workers", "0"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("share-photos")
    for i in range(2):
        make_photo(40 + 8 * i, 32, seed=30 + i).save(folder / f"p{i}.png")
    return folder


@pytest.fixture(scope="module")
def kinds(tmp_path_factory: pytest.TempPathFactory, any_prompt_ckpt: Path, photos: Path) -> dict[str, tuple[Path, Path, list[str]]]:
    """Kind -> (its style file, its shared folder, the prompt options predict needs)."""
    root = tmp_path_factory.mktemp("share")
    style = style_checkpoint(root / "styles", seed=2)
    student = style_checkpoint(root, seed=5, student=True, teacher=style, direction=torch.nn.functional.normalize(torch.randn(512), dim=0))
    files = {"per-prompt": (style, []), "any-prompt": (any_prompt_ckpt, ["--prompt", "Red"]), "student": (student, [])}
    return {kind: (path, share(path, root / kind, "--data.path", str(photos)), prompt) for kind, (path, prompt) in files.items()}


def predicted(source: Path | str, photos: Path, out: Path, prompt: list[str]) -> dict[str, np.ndarray]:
    assert main(["predict", "--ckpt_path", str(source), *prompt, "--data.path", str(photos), "--output.dir", str(out), *QUIET]) == 0
    return {p.relative_to(out).as_posix(): np.asarray(Image.open(p)) for p in sorted(out.rglob("*.png"))}


@pytest.mark.parametrize("kind", ["per-prompt", "any-prompt", "student"])
def test_predict_from_the_shared_folder_writes_the_same_pixels_as_from_the_style_file(
    kinds, kind: str, photos: Path, tmp_path: Path
) -> None:
    style, folder, prompt = kinds[kind]
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "preview.jpg"]
    from_file = predicted(style, photos, tmp_path / "file", prompt)
    from_folder = predicted(folder, photos, tmp_path / "folder", prompt)
    assert len(from_file) == 2 and from_file.keys() == from_folder.keys()
    for name, pixels in from_file.items():
        assert np.array_equal(pixels, from_folder[name]), name


def test_the_folder_holds_the_style_files_tensors_bit_for_bit_and_its_record(kinds) -> None:
    style, folder, _ = kinds["per-prompt"]
    original, shared = StyleFile.read(style), StyleFile.read(folder)
    assert shared.record == original.record and original.text_direction is None is shared.text_direction
    assert shared.weights.keys() == original.weights.keys()
    assert all(torch.equal(shared.weights[k], v) and shared.weights[k].dtype == v.dtype for k, v in original.weights.items())
    config = json.loads((folder / "config.json").read_text())
    assert (config["format"], config["format_version"], config["style"]["encoder"]) == ("clipstyler-fast-style", 1, "adain")
    assert config["style"]["vgg_weights"] == original.record.vgg_weights and config["style"]["prompt"] == "Mosaic"
    student_file, student_folder, _ = kinds["student"]
    student, again_student = StyleFile.read(student_file), StyleFile.read(student_folder)
    assert again_student.record == student.record and torch.equal(again_student.text_direction, student.text_direction)
    assert all(torch.equal(again_student.weights[k], v) for k, v in student.weights.items())
    any_file, any_folder, _ = kinds["any-prompt"]
    network, again = ConditionedFile.read(any_file), ConditionedFile.read(any_folder)
    assert again.bank == network.bank and torch.equal(again.bank_directions, network.bank_directions)
    assert all(torch.equal(again.network.state_dict()[k], v) for k, v in network.network.state_dict().items())
    assert set(load_file(any_folder / "model.safetensors")) == set(network.to_checkpoint()["state_dict"])
    assert json.loads((any_folder / "config.json").read_text())["style"]["conditioning"]["prompts"] == network.bank


def test_interpolate_distill_and_the_demo_take_shared_folders(kinds, tmp_path: Path) -> None:
    from clipstyler_fast.cli.distill import teacher_arguments
    from clipstyler_fast.infer.any_prompt import load_style

    style, folder, _ = kinds["per-prompt"]
    assert main(["interpolate", str(folder), str(folder), "--alpha", "0.5", "--output", str(tmp_path / "half.ckpt")]) == 0
    half = StyleFile.read(tmp_path / "half.ckpt")
    assert all(torch.equal(half.weights[k], v) for k, v in StyleFile.read(style).weights.items())
    # The style a distillation reads its teacher as (its prompt names the run folder).
    assert load_style(str(folder), None, None).record.prompt == "Mosaic"
    assert teacher_arguments(["--ckpt_path", str(folder)]) == ["--model.teacher", str(folder)]
    assert demo_styles.SHARED_FILES == style_folder.SHARED_FILES  # mirrored so that the demo lists folders without torch
    catalog = StyleCatalog(folder.parent)
    offered = {style.label: (style.prompt, style.network) for style in catalog.scan()}
    assert offered["per-prompt"] == ("Mosaic", "decoder") and offered["student"] == ("Mosaic", "student")
    assert offered["any-prompt"] == ("any prompt", "conditioned") and not catalog.problems


def test_a_hub_repository_in_the_offline_cache_loads_and_a_missing_one_is_one_line(kinds, tmp_path: Path) -> None:
    style, folder, _ = kinds["per-prompt"]
    cache = tmp_path / "hub"
    hub_cache(cache, "someone/mosaic", folder, COMMIT)
    images = torch.stack([torch.from_numpy(np.array(make_photo(40, 32, seed=s))).permute(2, 0, 1).float() / 255 for s in (1, 2)])
    torch.save(images, tmp_path / "images.pt")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "hf-home"), "PYTHONPATH": str(REPO)}
    # One process (starting one costs seconds): load both ids from the cache, then ask for a repository it lacks.
    code = (
        "import sys, torch\nfrom clipstyler_fast import Stylizer\nfrom clipstyler_fast.cli.main import main\n"
        "images = torch.load(sys.argv[1])\n"
        "torch.save({s: Stylizer.from_checkpoint(s, precision='32-true')(images) for s in sys.argv[4:]}, sys.argv[2])\n"
        "sys.exit(main(['export', '--ckpt_path', 'hf://someone/missing', '--output.dir', sys.argv[3]]))"
    )
    sources = ["hf://someone/mosaic", f"hf://someone/mosaic@{COMMIT}"]
    arguments = [str(tmp_path / "images.pt"), str(tmp_path / "out.pt"), str(tmp_path / "x"), *sources]
    done = subprocess.run([sys.executable, "-c", code, *arguments], env=env, capture_output=True, text=True)
    expected = Stylizer.from_checkpoint(style, precision="32-true")(images)
    outputs = torch.load(tmp_path / "out.pt")
    assert all(torch.equal(outputs[s], expected) for s in sources)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(errors) == 1, done.stderr[-2000:]
    assert (
        errors[0].startswith("error: hf://someone/missing: not in the Hugging Face cache") and "`hf download someone/missing`" in errors[0]
    )
    assert not (tmp_path / "x").exists()


def _tampered(folder: Path, target: Path, edit) -> Path:
    target.mkdir()
    for name in ("config.json", "model.safetensors"):
        (target / name).write_bytes((folder / name).read_bytes())
    edit(target)
    return target


def _config(change):
    def edit(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        change(config)
        (folder / "config.json").write_text(json.dumps(config))

    return edit


def _tensors(change):
    def edit(folder: Path) -> None:
        tensors = load_file(folder / "model.safetensors")
        change(tensors)
        save_file(tensors, folder / "model.safetensors")

    return edit


class _RunsCode:
    """A pickle that would create ``marker`` when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _pickle(folder: Path) -> None:
    (folder / "model.safetensors").write_bytes(pickle.dumps({"state_dict": _RunsCode(folder / "ran")}))


@pytest.mark.parametrize(
    "kind, edit, where, reason",
    [
        ("per-prompt", _config(lambda c: c.update(format_version=99)), "config.json", "format version 99 is not one this version"),
        ("per-prompt", _config(lambda c: c["style"].update(format_version=7)), "", "checkpoint format version 7 is not supported"),
        (
            "per-prompt",
            _config(lambda c: c["style"].update(network="student")),
            "",
            "says it holds a student network, but model.safetensors holds a decoder",
        ),
        ("any-prompt", _config(lambda c: c["style"].update(network="decoder")), "", "holds a conditioned network's weights"),
        ("per-prompt", _tensors(lambda t: t.pop("decoder.28.weight")), "model.safetensors", "tensor decoder.28.weight is missing"),
        ("student", _tensors(lambda t: t.update({"student.to_rgb.bias": torch.zeros(4)})), "model.safetensors", "has shape (4,)"),
        ("per-prompt", _pickle, "model.safetensors", "not a safetensors file"),
    ],
)
def test_a_tampered_folder_is_refused_in_one_line(kinds, kind: str, edit, where: str, reason: str, tmp_path: Path, capsys) -> None:
    folder = _tampered(kinds[kind][1], tmp_path / "tampered", edit)
    prompt = kinds[kind][2]
    assert main(["export", "--ckpt_path", str(folder), *prompt, "--output.dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: {folder / where}".rstrip("/") + ":"), err
    assert reason in err and "; " in err
    assert not (folder / "ran").exists() and not (tmp_path / "out").exists()


def test_sharing_refuses_to_replace_a_shared_style_unless_asked(kinds, capsys) -> None:
    style, folder, _ = kinds["per-prompt"]
    before = (folder / "model.safetensors").stat().st_mtime_ns
    assert main(["share", "--ckpt_path", str(style), "--output.dir", str(folder), "--trainer.accelerator", "cpu"]) == 2
    assert "already holds a shared style" in capsys.readouterr().err
    assert (folder / "model.safetensors").stat().st_mtime_ns == before
