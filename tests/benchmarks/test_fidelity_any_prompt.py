"""Any prompt in the synthetic world, through the real CLI: a network trained on seven colour
words turns held-out photos toward an eighth it never trained on, at least half as far as a
network trained on that word alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.fidelity import any_prompt, judge, run, world

# The session's world fixtures (its CLIP and start decoder, trained in a few minutes) run inside
# the first test that needs them, so these tests get more than the suite's per-test limit.
pytestmark = pytest.mark.timeout(1500)

UNSEEN = "green"
# Steps and learning rate sized for CI (benchmarks/fidelity/any_prompt.py runs the reference's
# learning rate and more steps).
ANY_STEPS, PER_PROMPT_STEPS, LR = 160, 40, "2e-4"
# The per-prompt network must itself move the photos (in content spreads beyond the start
# decoder) for the ratio to mean something.
MIN_PER_PROMPT_SHIFT = 1.0


def test_an_unseen_colour_reaches_the_pixels_at_least_half_as_far_as_its_own_network(world_setup: run.Setup, tmp_path: Path) -> None:
    bank = tmp_path / "bank.txt"
    bank.write_text("\n".join(world.PROMPTS[name] for name in world.TINTS if name != UNSEEN) + "\n")
    recipe = any_prompt.without_prompt(run.fit_command(world_setup, "red", ANY_STEPS, 4, 64, ["--model.lr", LR]))
    root = tmp_path / "any"
    run.run_cli([*recipe, "--data.prompts", str(bank), "--model.holdout_prompts", "0", "--checkpoint.root", str(root)], cwd=tmp_path)
    unseen_prompt = world.PROMPTS[UNSEEN]
    outputs = {
        f"{UNSEEN}:any": any_prompt.predict_prompts(world_setup, root / "any-prompt" / "style.ckpt", [unseen_prompt], tmp_path / "out")[
            unseen_prompt
        ],
        f"{UNSEEN}:per-prompt": run.train_and_predict(world_setup, UNSEEN, steps=PER_PROMPT_STEPS, extra=["--model.lr", LR]),
    }
    content = run.heldout(world_setup)
    shifts = judge.shifts(outputs, content, run.decoder_only(world_setup, content))
    print(shifts)
    own, anyp = shifts[f"{UNSEEN}:per-prompt"]["vs_decoder"], shifts[f"{UNSEEN}:any"]["vs_decoder"]
    assert own >= MIN_PER_PROMPT_SHIFT, shifts
    assert anyp >= 0.5 * own, shifts
