"""The training speed options of StyleTransfer: bf16 frozen networks, channels-last, compile.

The fast path must optimise the same objective as the reference-exact fp32 path: its losses
stay within a stated tolerance of the fp32 ones and gradients still reach the decoder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support import fit_args as small_fit

from clipstyler_fast.cli.main import main as cli_main
from clipstyler_fast.nets.decoder import build_decoder
from clipstyler_fast.train.model import StyleTransfer
from clipstyler_fast.train.sampling import seeded_generator
from clipstyler_fast.train.steps import adam

# bf16 keeps 8 significant bits (relative rounding 2**-9, 0.2%); through the frozen networks the
# loss terms move by far less than 2% (measured: 0.1% on the total, at most 0.4% on a term).
BF16_RTOL = 0.02
# Gradients only need to point the same way for training to go where fp32 training goes
# (measured cosine 0.99998).
GRAD_MIN_COSINE = 0.99


@pytest.fixture(scope="module")
def decoder_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("decoder") / "decoder.pt"
    with torch.random.fork_rng():  # leave the global seed of later tests alone
        torch.manual_seed(1)
        torch.save(build_decoder().state_dict(), path)
    return path


def make_model(clip_path: Path, vgg_path: Path, decoder_file: Path, **options: object) -> StyleTransfer:
    model = StyleTransfer(
        "Mosaic",
        clip_model=str(clip_path),
        vgg_weights=str(vgg_path),
        decoder_init=str(decoder_file),
        num_views=4,
        preview_every_n_steps=0,
        **options,
    )
    model.setup("fit")
    return model


def content_batch() -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    coarse = torch.rand(2, 3, 4, 4, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bicubic", align_corners=False).clamp(0, 1)


def losses_and_grad(model: StyleTransfer, images: torch.Tensor) -> tuple[dict[str, float], torch.Tensor]:
    model.decoder.zero_grad(set_to_none=True)
    terms = model.compute_losses(images, seeded_generator(5, 2))
    terms["loss"].backward()
    grads = [p.grad for p in model.decoder.parameters()]
    assert all(g is not None for g in grads), "a decoder parameter got no gradient"
    return {k: float(v) for k, v in terms.items()}, torch.cat([g.flatten() for g in grads])


def test_fast_options_are_the_defaults() -> None:
    model = StyleTransfer("Mosaic")
    assert model.hparams.frozen_precision == "auto"  # bf16 only where the processor computes it natively
    assert model.hparams.channels_last == "auto"  # channels-last on GPUs and CPUs with native bf16
    assert model.hparams.compile is False


def test_bf16_and_channels_last_losses_match_fp32(clip_path: Path, vgg_path: Path, decoder_file: Path) -> None:
    exact = make_model(clip_path, vgg_path, decoder_file, frozen_precision="fp32", channels_last=False)
    fast = make_model(clip_path, vgg_path, decoder_file, frozen_precision="bf16", channels_last=True)
    images = content_batch()
    dtypes: dict[str, list[torch.dtype]] = {}
    for name, model in (("exact", exact), ("fast", fast)):
        for part, module in (
            ("clip", model.clip.model.visual.transformer.resblocks[0].mlp.c_fc),
            ("vgg", model.encoder.features[0]),
            ("decoder", model.decoder[1]),
        ):
            module.register_forward_hook(lambda m, i, out, key=f"{name}.{part}": dtypes.setdefault(key, []).append(out.dtype))
    exact_terms, exact_grad = losses_and_grad(exact, images)
    fast_terms, fast_grad = losses_and_grad(fast, images)

    for name in ("loss", "content", "patch", "dir", "tv"):
        assert fast_terms[name] == pytest.approx(exact_terms[name], rel=BF16_RTOL, abs=1e-6), name
    # The fast path really ran the frozen networks in bf16 and the decoder in fp32.
    assert set(dtypes["fast.clip"]) == set(dtypes["fast.vgg"]) == {torch.bfloat16}
    assert set(dtypes["fast.decoder"]) == {torch.float32}
    assert {d for k, v in dtypes.items() if k.startswith("exact.") for d in v} == {torch.float32}

    # Gradients reach every decoder parameter, in fp32, pointing where the fp32 path's point.
    assert all(p.dtype == torch.float32 for p in fast.decoder.parameters())
    assert torch.isfinite(fast_grad).all() and fast_grad.abs().sum() > 0
    cosine = torch.nn.functional.cosine_similarity(fast_grad, exact_grad, dim=0)
    assert cosine > GRAD_MIN_COSINE


def test_training_works_after_a_first_pass_in_inference_mode(clip_path: Path, vgg_path: Path, decoder_file: Path) -> None:
    # Trainer.validate may run before fit: nothing a first pass under inference mode prepares
    # (layouts, casts) may be an inference tensor, which autograd refuses.
    model = make_model(clip_path, vgg_path, decoder_file)
    images = content_batch()
    with torch.inference_mode():
        model.compute_losses(images, seeded_generator(5, 2))
    _, grad = losses_and_grad(model, images)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("native", ["1", "0"])
def test_auto_layout_is_channels_last_only_where_bf16_is_native(
    clip_path: Path, vgg_path: Path, decoder_file: Path, native: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On CPUs without native bf16 oneDNN's fp32 channels-last kernels made a step slower."""
    monkeypatch.setenv("CLIPSTYLER_FAST_NATIVE_BF16", native)
    model = make_model(clip_path, vgg_path, decoder_file)
    convolutions = [
        m for m in (*model.decoder.modules(), *model.encoder.modules()) if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
    ]
    assert convolutions and all(c.weight.is_contiguous(memory_format=torch.channels_last) is (native == "1") for c in convolutions)


def test_channels_last_layout_in_fp32_is_exact(clip_path: Path, vgg_path: Path, decoder_file: Path) -> None:
    plain = make_model(clip_path, vgg_path, decoder_file, frozen_precision="fp32", channels_last=False)
    last = make_model(clip_path, vgg_path, decoder_file, frozen_precision="fp32", channels_last=True)
    assert last.decoder[1].weight.is_contiguous(memory_format=torch.channels_last)
    assert last.encoder.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.decoder[1].weight.is_contiguous(memory_format=torch.channels_last)
    images = content_batch()
    plain_terms, plain_grad = losses_and_grad(plain, images)
    last_terms, last_grad = losses_and_grad(last, images)
    assert last_terms["loss"] == pytest.approx(plain_terms["loss"], rel=1e-5)
    torch.testing.assert_close(last_grad, plain_grad, rtol=1e-3, atol=1e-6)


def test_fast_training_steps_lower_the_loss(clip_path: Path, vgg_path: Path, decoder_file: Path) -> None:
    model = make_model(clip_path, vgg_path, decoder_file)
    optimizer = torch.optim.Adam(model.decoder.parameters(), lr=1e-3)
    images = content_batch()

    def loss() -> torch.Tensor:
        return model.compute_losses(images, seeded_generator(5, 2))["loss"]

    with torch.no_grad():
        before = float(loss())
    for _ in range(3):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    with torch.no_grad():
        assert float(loss()) < before


def test_compile_option_keeps_checkpoint_keys(clip_path: Path, vgg_path: Path, decoder_file: Path) -> None:
    # Compiling itself happens at the first step and takes minutes on CPU; here only what
    # setup does is checked: modules are compiled in place, so checkpoints keep their keys.
    plain = make_model(clip_path, vgg_path, decoder_file)
    compiled = make_model(clip_path, vgg_path, decoder_file, compile=True)
    assert compiled.decoder._compiled_call_impl is not None
    assert compiled.clip.model.visual._compiled_call_impl is not None
    assert plain.decoder._compiled_call_impl is None
    assert list(compiled.state_dict()) == list(plain.state_dict())


def test_unknown_frozen_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="frozen_precision 'fp16' is not one of auto, bf16, fp32"):
        StyleTransfer("Mosaic", frozen_precision="fp16")  # type: ignore[arg-type]


def test_cli_trains_with_the_reference_exact_path(clip_path: Path, vgg_path: Path, content_dir: Path, tmp_path: Path) -> None:
    code = cli_main(
        small_fit(
            clip_path,
            vgg_path,
            content_dir,
            "--model.frozen_precision",
            "fp32",
            "--model.channels_last",
            "false",
            "--trainer.default_root_dir",
            str(tmp_path),
            checkpoints=tmp_path / "checkpoints",
            views=4,
        )
    )
    assert code == 0
    checkpoint = torch.load(tmp_path / "checkpoints" / "mosaic" / "style.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["frozen_precision"] == "fp32"
    assert checkpoint["hyper_parameters"]["channels_last"] is False
    # The run's own optimiser, as it will resume: Adam fused into one kernel on a CPU.
    resumable = torch.load(tmp_path / "checkpoints" / "mosaic" / "last.ckpt", weights_only=True)
    assert [group["fused"] for group in resumable["optimizer_states"][0]["param_groups"]] == [True]


def test_fused_adam_makes_the_update_of_the_per_tensor_loop() -> None:
    torch.manual_seed(0)
    fused_net, loop_net = build_decoder(), build_decoder()
    loop_net.load_state_dict(fused_net.state_dict())
    fused = adam(fused_net.parameters(), 1e-3)
    loop = torch.optim.Adam(loop_net.parameters(), lr=1e-3, fused=False, foreach=False)
    assert fused.defaults["fused"] is True
    images = torch.rand(1, 512, 4, 4)
    start = [w.detach().clone() for w in fused_net.parameters()]
    for _ in range(3):
        for net, optimizer in ((fused_net, fused), (loop_net, loop)):
            optimizer.zero_grad()
            net(images).square().mean().backward()
            optimizer.step()
    for a, b in zip(fused_net.parameters(), loop_net.parameters(), strict=True):
        # Within a thousandth of one step (lr): the kernels round m / (sqrt(v) + eps) apart.
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(not torch.equal(w, w0) for w, w0 in zip(fused_net.parameters(), start, strict=True)), "every weight was updated"


def test_adam_falls_back_to_the_loop_where_no_fused_kernel_is_promised() -> None:
    weight = torch.nn.Parameter(torch.zeros(3, device="meta"))
    assert adam([weight], 1e-3).defaults["fused"] is None


def test_cli_rejects_an_unknown_precision(clip_path: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["fit", "--model.prompt", "Mosaic", "--model.frozen_precision", "fp16", "--data.path", str(content_dir)]) == 2
    assert "error: --model.frozen_precision fp16: not one of auto, bf16, fp32" in capsys.readouterr().err


def test_fit_help_explains_the_speed_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["fit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # words the help wrapped at a hyphen
    for option in ("--model.frozen_precision {auto,bf16,fp32}", "--model.channels_last", "--model.compile", "--model.view_crop"):
        assert option in text, option
    assert (
        "reference-exact" in text
        and "where the processor computes it natively" in text
        and "channels-last layout" in text
        and "patch-wise views" in text
    )
