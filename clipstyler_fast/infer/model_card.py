"""The model card (``README.md``) of a shared style: YAML front matter for the Hugging Face Hub, then
what the style is, how it was trained and how well, and how to use it.

The card never names a local path: the training photos are counted, not listed, and a weight
file recorded by path is named by its file name only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clipstyler_fast.infer.run_record import RunRecord
from clipstyler_fast.io.atomic import atomic_write
from clipstyler_fast.nets.style_file import StyleRecord
from clipstyler_fast.nets.style_kinds import STUDENT_NETWORK

CARD_FILE = "README.md"
TAGS = ("style-transfer", "text-guided", "image-to-image", "clipstyler", "clipstyler-fast")
ENCODERS = {
    "adain": "VGG-19 `vgg_normalised` up to relu4_1 (AdaIN's Caffe-converted network)",
    "torchvision": "torchvision's VGG-19 up to relu4_1 (ImageNet weights)",
}
# Training options that say how fast a run went, not what it learned.
NOT_RECIPE = ("preview_every_n_steps", "compile", "channels_last", "frozen_precision", "teacher_precision", "clip_download_root")
NOT_RECORDED = "not recorded"


@dataclass
class CardFacts:
    """What the card says: the style's record and options, its run, where users will find it, and the preview's photos."""

    record: StyleRecord
    hyper_parameters: dict[str, Any]
    run: RunRecord
    folder: Path
    repo_id: str | None
    preview: str | None
    preview_photos: str
    # The prompts of the preview's rows, for an any-prompt network (one row each).
    preview_prompts: list[str] = field(default_factory=list)


def describe_source(value: Any) -> str:
    """A weight source as the card shows it: a name as it is, a local file by its name only."""
    text = str(value)
    path = Path(text).expanduser()
    if path.is_absolute() or path.suffix or text.startswith((".", "~")):
        return f"a local file ({path.name})"
    return text


def _yaml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def front_matter(facts: CardFacts) -> str:
    """The card's YAML metadata block, ``---`` lines included."""
    record = facts.record
    lines = [
        "---",
        "library_name: clipstyler-fast",
        "license:  # fill in: the license you publish these weights under (e.g. mit, apache-2.0, cc-by-4.0)",
        "pipeline_tag: image-to-image",
        "tags:",
        *(f"- {tag}" for tag in TAGS),
        f"network: {record.network}",
    ]
    if record.network != STUDENT_NETWORK:
        lines.append(f"base_encoder: {_yaml(f'{record.encoder}: {ENCODERS.get(record.encoder, record.encoder)}')}")
    lines.append(f"clip_model: {_yaml(describe_source(record.clip_model) if record.clip_model else NOT_RECORDED)}")
    if record.is_conditioned:
        lines += ["prompts:", *(f"- {_yaml(p)}" for p in (record.conditioning or {}).get("prompts") or [])]
    else:
        lines.append(f"prompt: {_yaml(str(record.prompt))}")
    return "\n".join([*lines, "---"])


def _network(record: StyleRecord) -> list[str]:
    encoder = f"{ENCODERS.get(record.encoder, record.encoder)}, weights: {describe_source(record.vgg_weights)}"
    if record.network == STUDENT_NETWORK:
        student = ", ".join(f"{k} {v}" for k, v in (record.student or {}).items())
        return [
            f"- A distilled student (`{record.architecture}`: {student}), trained to reproduce a style network; it needs no VGG encoder.",
            f"- Distilled from: {describe_source(record.teacher) if record.teacher else NOT_RECORDED}.",
        ]
    lines = [f"- Encoder (frozen): {encoder}.", f"- Decoder: `{record.architecture}`, trained for this style."]
    if record.is_conditioned:
        meta = record.conditioning or {}
        lines.append(
            f"- Any prompt: the decoder is modulated by the prompt's CLIP text direction (`{meta.get('design')}`), trained over a bank of "
            f"{meta.get('bank_size')} prompts ({len(meta.get('held_out') or [])} of them held out)."
        )
    if record.interpolation:
        lines.append(f"- A blend of two styles: {json.dumps({k: v for k, v in record.interpolation.items() if k != 'source'})}.")
    lines.append(f"- CLIP model (the text directions; never needed to stylize): {describe_source(record.clip_model) or NOT_RECORDED}.")
    return lines


def _recipe(facts: CardFacts) -> list[str]:
    run, options = facts.run, facts.hyper_parameters
    steps = f"{run.steps} optimizer steps" if run.steps is not None else f"steps {NOT_RECORDED}"
    photos = f"{run.train_images} training photos" if run.train_images is not None else f"training photos {NOT_RECORDED}"
    batch = f", batches of {run.batch_size} crops of {run.crop_size} px" if run.batch_size and run.crop_size else ""
    lines = [f"{steps} on {photos}{batch}.", ""]
    skipped = (*NOT_RECIPE, "prompt", "prompts")
    shown = {k: v for k, v in options.items() if not k.startswith("_") and k not in skipped and v is not None}
    if shown:
        lines += ["| option | value |", "| --- | --- |"]
        for key, value in shown.items():
            text = describe_source(value) if isinstance(value, str) and key not in ("source_text",) else json.dumps(value)
            lines.append(f"| `{key}` | {text} |")
    return lines


def _results(run: RunRecord) -> list[str]:
    if not run.metrics:
        return [f"Held-out losses and metrics: {NOT_RECORDED}" + (f" ({run.metrics_note})." if run.metrics_note else ".")]
    unseen = " and the prompts kept out of training (`val_unseen/`)" if any(tag.startswith("val_unseen/") for tag in run.metrics) else ""
    lines = [f"The last values the run logged on its held-out photos (`val/`){unseen}:", ""]
    lines += ["| metric | value | step |", "| --- | --- | --- |"]
    lines += [f"| `{tag}` | {value:.4g} | {step} |" for tag, (value, step) in run.metrics.items()]
    return lines


def _usage(facts: CardFacts) -> list[str]:
    record = facts.record
    repo = facts.repo_id or "<user>/<name>"
    hub, local = f"hf://{repo}", facts.folder.name or "style"
    prompt = ' --prompt "a linocut print"' if record.is_conditioned else ""
    python_prompt = ', prompt="a linocut print"' if record.is_conditioned else ""
    lines = [
        "With clipstyler-fast installed:",
        "",
        "```bash",
        f"clipstyler-fast predict --ckpt_path {hub}{prompt} --data.path photos/ --output.dir stylized/",
        f"clipstyler-fast predict --ckpt_path {local}/{prompt} --data.path photos/ --output.dir stylized/   # a copy: hf download {repo} --local-dir {local}",
        "```",
        "",
        "```python",
        "from clipstyler_fast import Stylizer",
        "from clipstyler_fast.io.images import open_image",
        "",
        f'stylizer = Stylizer.from_checkpoint("{hub}"{python_prompt})',
        'stylizer(open_image("photo.jpg")).save("stylized.png")',
        "```",
        "",
        "Every command that takes a style file takes this repository (`hf://user/name@revision` for a branch, tag or commit) "
        "or its downloaded folder: `video`, `export`, `evaluate`, `interpolate`, `distill`; the demo offers the folder. "
        "Offline (`HF_HUB_OFFLINE=1`) it loads from the Hugging Face cache.",
    ]
    if record.network != STUDENT_NETWORK and describe_source(record.vgg_weights).startswith("a local file"):
        lines += [
            "",
            f"The style records its encoder weights as {describe_source(record.vgg_weights)}: pass your copy with `--model.vgg_weights PATH`.",
        ]
    if record.is_conditioned:
        lines += [
            "",
            "A prompt of the bank needs no CLIP; another prompt needs the CLIP model above once (`--model.clip_model PATH` offline).",
        ]
    return lines


def render_card(facts: CardFacts) -> str:
    """The whole ``README.md`` of a shared style."""
    record = facts.record
    title = "Any prompt" if record.is_conditioned else str(record.prompt)
    body = [front_matter(facts), "", f"# {title}", ""]
    body += ["A text-driven style network for clipstyler-fast (fast CLIPstyler): one forward pass per image, any size.", ""]
    if facts.preview:
        rows = f", one row per prompt: {', '.join(facts.preview_prompts)}" if facts.preview_prompts else ""
        body += [f"![preview]({facts.preview})", "", f"*Top row: {facts.preview_photos}; below: their stylizations{rows}.*", ""]
    prompt = f"any prompt; bank of {len((record.conditioning or {}).get('prompts') or [])}" if record.is_conditioned else record.prompt
    body += ["## Prompt", "", f"**{prompt!s}**, as a CLIP direction from the source text {record.source_text!r}.", ""]
    body += ["## Network", "", *_network(record), ""]
    body += ["## Training", "", *_recipe(facts), ""]
    body += ["## Held-out results", "", *_results(facts.run), ""]
    body += ["## Use it", "", *_usage(facts), ""]
    body += ["## Files", "", "- `model.safetensors`: the weights; `config.json`: what they are (the style's record and training options)."]
    repo = facts.repo_id or "<user>/<name>"
    body += [f"- Published with `hf upload {repo} {facts.folder.name or 'style'}/ .` (huggingface_hub's command line).", ""]
    return "\n".join(body)


def write_card(facts: CardFacts) -> Path:
    """Write ``README.md`` into the shared folder, atomically; returns its path."""
    path = facts.folder / CARD_FILE
    atomic_write(path, lambda handle: handle.write(render_card(facts).encode("utf-8")))
    return path
