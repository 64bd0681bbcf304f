"""``clipstyler-fast export``: the inference network as TorchScript and ONNX, checked against PyTorch.

The exported network is ``postprocess(crop(network(pad(images))))`` (the style's ``decoder(encoder(x))``,
or a distilled student) for RGB images in [0, 1], ``float32 (N, 3, H, W)`` with any batch size and any
``H``, ``W`` of at least :data:`MIN_SIDE`: inside the graph, the images are padded by reflection at the
bottom and right to a multiple of 8 and the output is cropped back to ``H x W``, exactly as ``Stylizer``
does, so the output always has the input's shape. After writing, both files are loaded back and run on
several image sizes (odd ones included); the export fails unless every output is within :data:`TOLERANCE`
of PyTorch's.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from clipstyler_fast.errors import ExportError
from clipstyler_fast.infer.stylizer import MIN_SIDE, POSTPROCESS, Stylizer, postprocess
from clipstyler_fast.io.atomic import atomic_write_path

FORMATS = ("torchscript", "onnx")
# The same modes as Stylizer: an exported network computes what predict does.
EXPORT_POSTPROCESS = POSTPROCESS
INSTALL_HINT = 'pip install "clipstyler-fast[onnx]"'
# Largest absolute difference allowed between an exported model's output and PyTorch's: a quarter of
# one 8-bit level (1/255), on outputs in [0, 1].
TOLERANCE = 1e-3
# Shapes the exported files are checked on: two batch sizes, sides that are and are not multiples of 8.
CHECK_SHAPES = ((2, 3, 64, 48), (1, 3, 50, 70), (1, 3, 61, 45))
MAX_SIDE = 32768


class PostProcess(nn.Module):
    """:func:`postprocess` with a fixed mode (``none`` passes the raw output through)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        if mode not in EXPORT_POSTPROCESS:
            raise ExportError(f"unknown post-processing {mode!r}; use one of {', '.join(EXPORT_POSTPROCESS)}")
        self.mode = mode

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return postprocess(images, self.mode)


class PadCrop(nn.Module):
    """The exported computation (see the module's docstring), written so that it scripts (TorchScript) and
    exports with symbolic sizes (ONNX): the padding is computed from the input's shape inside the graph."""

    def __init__(self, network: nn.Module, post: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.post = post

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[2], images.shape[3]
        pad_h = (8 - height % 8) % 8
        pad_w = (8 - width % 8) % 8
        padded = F.pad(images, [0, pad_w, 0, pad_h], mode="reflect")
        return self.post(self.network(padded)[:, :, :height, :width])


def require_onnx() -> Any:
    """Import the ONNX export and runtime packages, or raise a one-line :class:`ExportError`."""
    missing = []
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ExportError(
            f"ONNX export needs {', '.join(missing)}, not installed; install them with {INSTALL_HINT} (or pass `formats` torchscript)"
        )
    import onnxruntime

    return onnxruntime


def export_torchscript(network: PadCrop, path: Path) -> Path:
    """Write ``network`` as TorchScript at ``path``, for any batch and any size of at least :data:`MIN_SIDE`.

    The encoder-decoder and the post-processing are traced (their shapes are not baked in); the
    padding and cropping around them are scripted, so they follow each input's size.
    """
    example = torch.rand(2, 3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.export
        core = torch.jit.trace(network.network, example, check_trace=False)
        post = torch.jit.trace(network.post, example, check_trace=False)
        scripted = torch.jit.script(PadCrop(core, post))
        atomic_write_path(path, lambda tmp: scripted.save(str(tmp)))
    return path


def export_onnx(network: PadCrop, path: Path, opset: int | None = None) -> Path:
    """Export ``network`` to one self-contained ONNX file with a dynamic batch and dynamic sides (at least :data:`MIN_SIDE`)."""
    from torch.export import Dim

    batch = Dim("batch", min=1, max=4096)
    height, width = Dim("height", min=MIN_SIDE, max=MAX_SIDE), Dim("width", min=MIN_SIDE, max=MAX_SIDE)
    example = torch.rand(2, 3, 61, 45)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                network,
                (example,),
                dynamo=True,
                input_names=["images"],
                output_names=["stylized"],
                dynamic_shapes={"images": {0: batch, 2: height, 3: width}},
                opset_version=opset,
                verbose=False,
            )
        program.save(str(tmp), external_data=False)

    atomic_write_path(path, write)
    return path


@torch.no_grad()
def check_exported(network: PadCrop, files: dict[str, Path]) -> dict[str, float]:
    """Run each exported file on random images of :data:`CHECK_SHAPES`; return the largest difference to PyTorch per format."""
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.rand(shape, generator=generator) for shape in CHECK_SHAPES]
    expected = [network(x) for x in inputs]
    errors: dict[str, float] = {}
    if "torchscript" in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            loaded = torch.jit.load(str(files["torchscript"]), map_location="cpu")
        errors["torchscript"] = max(float((loaded(x) - y).abs().max()) for x, y in zip(inputs, expected))
    if "onnx" in files:
        ort = require_onnx()
        session = ort.InferenceSession(str(files["onnx"]), providers=["CPUExecutionProvider"])
        errors["onnx"] = max(
            float((torch.from_numpy(session.run(None, {"images": x.numpy()})[0]) - y).abs().max()) for x, y in zip(inputs, expected)
        )
    return errors


def export(
    ckpt_path: str | Path,
    output_dir: str | Path,
    formats: tuple[str, ...] = FORMATS,
    mode: str = "clamp",
    vgg_weights: str | None = None,
    opset: int | None = None,
    name: str = "stylizer",
    prompt: str | None = None,
    clip_model: str | None = None,
) -> dict[str, Any]:
    """Export the checkpoint's inference network; returns the metadata written next to the files.

    An any-prompt checkpoint is exported for one ``prompt`` (the network specialised to it).

    Writes ``<name>.torchscript.pt`` and/or ``<name>.onnx`` and ``<name>.json`` into ``output_dir``,
    and raises :class:`ExportError` if an exported model differs from PyTorch by more than
    :data:`TOLERANCE`.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ExportError(f"unknown format {unknown[0] if unknown else '(none)'!r}; give `formats` one or more of {','.join(FORMATS)}")
    if "onnx" in formats:
        require_onnx()
    stylizer = Stylizer.from_checkpoint(ckpt_path, vgg_weights, "cpu", prompt=prompt, clip_model=clip_model)
    network = PadCrop(stylizer.network, PostProcess(mode)).eval()
    folder = Path(output_dir).expanduser()
    files: dict[str, Path] = {}
    if "torchscript" in formats:
        files["torchscript"] = export_torchscript(network, folder / f"{name}.torchscript.pt")
    if "onnx" in formats:
        files["onnx"] = export_onnx(network, folder / f"{name}.onnx", opset)
    errors = check_exported(network, files)
    for fmt, error in errors.items():
        if not error <= TOLERANCE:
            raise ExportError(
                f"{files[fmt]}: output differs from PyTorch by up to {error:.2e} (tolerance {TOLERANCE:.0e}); please report this"
            )
    meta = {
        "prompt": stylizer.prompt,
        "checkpoint": str(ckpt_path),
        "files": {fmt: path.name for fmt, path in files.items()},
        "input": {
            "name": "images",
            "dtype": "float32",
            "shape": ["batch", 3, "height", "width"],
            "range": [0, 1],
            "color": "RGB",
            "constraint": f"height and width at least {MIN_SIDE}, any size",
            "padding": "reflection to a multiple of 8 at the bottom and right, inside the model; the output is cropped back",
        },
        "output": {"name": "stylized", "dtype": "float32", "shape": ["batch", 3, "height", "width"], "postprocess": mode},
        "tolerance": TOLERANCE,
        "max_abs_difference_to_pytorch": errors,
        "checked_shapes": [list(s) for s in CHECK_SHAPES],
        "torch_version": torch.__version__,
    }
    atomic_write_path(folder / f"{name}.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8"))
    return meta
