"""One training job from a JSON spec, for tests that start it under torchrun (or alone).

    python tests/_training_worker.py '{"objective": "sft"|"mixed", "model": ..., "out": ...,
                                       "settings": {...}, "seed": 0, "pairs": <json file>,
                                       "kill_after_checkpoint": <step, optional>}'

``kill_after_checkpoint`` stands in for Slurm ending the job: the process SIGKILLs itself right
after the Trainer has written that step's checkpoint.
"""

import json
import os
import signal
import sys

from _training_fixtures import conversation


def kill_after_checkpoint(step: int) -> None:
    from transformers import Trainer

    save = Trainer._save_checkpoint

    def save_then_die(self, *args, **kwargs):
        save(self, *args, **kwargs)
        if self.state.global_step == step:
            os.kill(os.getpid(), signal.SIGKILL)

    Trainer._save_checkpoint = save_then_die


def sft_settings(settings: dict) -> dict:
    """``settings`` without the mixed loss's own fields: the tests share one settings dict between
    both objectives, and ``SFTConfig`` rejects fields it does not have."""
    return {k: v for k, v in settings.items() if k not in ("beta", "label_smoothing", "sft_normalize", "loss_variant")}


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec.get("kill_after_checkpoint"):
        kill_after_checkpoint(spec["kill_after_checkpoint"])
    if spec["objective"] == "sft":
        from ipr.training.config import SFTConfig
        from ipr.training.sft import train_sft

        train_sft(spec["model"], spec["out"], [conversation(i) for i in range(spec.get("conversations", 16))],
                  SFTConfig.from_settings(sft_settings(spec["settings"])), spec["seed"])
    else:
        from ipr.training.config import MixedLossConfig
        from ipr.training.mixed_loss import train_mixed

        with open(spec["pairs"]) as handle:
            pairs = json.load(handle)
        weights = {"outcome_weight": 1.0, "step_weight": 1.0, "sft_weight": 1.0}
        train_mixed(spec["model"], spec["out"], pairs, MixedLossConfig.from_settings(spec["settings"]), weights,
                    spec["seed"])


if __name__ == "__main__":
    main()
