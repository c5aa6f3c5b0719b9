"""Mixed-loss training (Eq. 7-10): outcome-DPO + step-DPO + SFT on pairs with precomputed reference log-probs."""

from pathlib import Path

from ipr.agent.prompts import with_header
from ipr.cli import parser, require_model_dir, run, setup
from ipr.records import load_jsonl
from ipr.training.config import MixedLossConfig
from ipr.training.mixed_loss import train_mixed


def main():
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--policy", required=True, type=Path, help="policy of the previous iteration (or SFT)")
    p.add_argument("--pairs", required=True, type=Path, help="pairs with reference log-probs")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    seed = settings.seed
    setup(seed)
    config = MixedLossConfig.from_settings(settings.stage, source="train settings")
    env_name = settings.benchmark.require_env()
    pairs = [dict(pair, prompt=with_header(env_name, pair["prompt"]))
             for pair in load_jsonl(args.pairs, "reference_pair")]
    weights = settings.method.loss_weights(source="--settings method")
    metrics = train_mixed(require_model_dir(args.policy), args.out, pairs, config, weights, seed)
    print({k: v for k, v in metrics.items() if k != "history"})


if __name__ == "__main__":
    run(main)
