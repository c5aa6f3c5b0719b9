"""Reference log-probs of every pair under the fixed SFT model, stored with the pairs for training."""

from pathlib import Path

from ipr.agent.prompts import with_header
from ipr.cli import parser, require_model_dir, run, setup
from ipr.records import load_jsonl, write_jsonl
from ipr.training.config import MixedLossConfig
from ipr.training.mixed_loss import reference_logps


def main():
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--reference", required=True, type=Path, help="DPO reference: the SFT model")
    p.add_argument("--pairs", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    setup(settings.seed)
    # The trainer's config: the log-probs must be computed on what it will see (its max_length).
    config = MixedLossConfig.from_settings(settings.stage, source="train settings")
    env_name = settings.benchmark.require_env()
    pairs = load_jsonl(args.pairs, "pair")
    # Scored on exactly what the trainer sees: the header in front, the trainer's max_length.
    with_prompt_header = [dict(pair, prompt=with_header(env_name, pair["prompt"])) for pair in pairs]
    values = reference_logps(require_model_dir(args.reference), with_prompt_header, config)
    max_length = config.max_length
    write_jsonl(args.out, [dict(pair, ref_chosen_logp=chosen, ref_rejected_logp=rejected, ref_max_length=max_length)
                           for pair, (chosen, rejected) in zip(pairs, values)], "reference_pair")
    print(f"{len(pairs)} pairs scored by {args.reference} -> {args.out}")


if __name__ == "__main__":
    run(main)
