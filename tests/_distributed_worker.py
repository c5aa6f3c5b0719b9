"""One training job from a JSON spec, for tests that start it under torchrun (or alone).

    python tests/_distributed_worker.py '{"objective": "sft"|"mixed", "model": ..., "out": ...,
                                          "settings": {...}, "seed": 0, "pairs": <json file>}'
"""

import json
import sys

from _training_fixtures import conversation


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec["objective"] == "sft":
        from ipr.training.sft import train_sft

        train_sft(spec["model"], spec["out"], [conversation(i) for i in range(spec.get("conversations", 16))],
                  spec["settings"], spec["seed"])
    else:
        from ipr.training.mixed_loss import train_mixed

        with open(spec["pairs"]) as handle:
            pairs = json.load(handle)
        weights = {"outcome_weight": 1.0, "step_weight": 1.0, "sft_weight": 1.0}
        train_mixed(spec["model"], spec["out"], pairs, spec["settings"], weights, spec["seed"])


if __name__ == "__main__":
    main()
