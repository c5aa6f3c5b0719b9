"""Train a step reward model (a scalar head on the base model, MSE against MC step rewards); the
validation MSE and Spearman correlation land in <out>/metrics.json."""

from pathlib import Path

from ipr.cli import parser, require_model_dir, run, setup
from ipr.records import load_jsonl
from ipr.studies.reward_model import train_reward_model
from ipr.training.config import RewardModelConfig


def main():
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--base", required=True, type=Path, help="model the reward model starts from (the SFT policy)")
    p.add_argument("--data", required=True, type=Path, help="step_reward JSONL")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    seed = settings.seed
    setup(seed)
    config = RewardModelConfig.from_settings(settings.section("reward_model"), source="reward_model settings")
    records = load_jsonl(args.data, "step_reward")
    metrics = train_reward_model(require_model_dir(args.base), args.out, records,
                                 settings.benchmark.require_env(), config, seed)
    print({k: metrics.get(k) for k in ("num_train", "num_validation", "validation", "train_fit")})


if __name__ == "__main__":
    run(main)
