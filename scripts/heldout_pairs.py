"""Held-out pair diagnostic of one trained policy: its log-prob change from its DPO reference on
outcome pairs of the validation split (ipr.method.heldout), written as one JSON object."""

from pathlib import Path

from ipr.agent.prompts import with_header
from ipr.cli import load_tasks, parser, require_model_dir, run, setup
from ipr.method.heldout import heldout_metrics, heldout_outcome_pairs
from ipr.records import atomic_path, load_jsonl
from ipr.training.common import write_json_file
from ipr.training.config import MixedLossConfig
from ipr.training.mixed_loss import reference_logps


def main():
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--policy", required=True, type=Path, help="the trained policy of the iteration")
    p.add_argument("--reference", required=True, type=Path, help="its DPO reference")
    p.add_argument("--tasks", required=True, type=Path, help="the held-out split's expert trajectories")
    p.add_argument("--evals", required=True, type=Path, help="the SFT policy's evaluation on that split")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    setup(settings.seed)
    # The trainer's config: the log-probs are taken on what it would see (its template, max_length).
    config = MixedLossConfig.from_settings(settings.stage, source="train settings")
    benchmark, method = settings.benchmark, settings.method
    env_name = benchmark.require_env()
    tau_outcome = method.tau_outcome if method.tau_outcome is not None else benchmark.tau_outcome
    pairs = heldout_outcome_pairs({t["task_id"]: t for t in load_tasks(args.tasks)},
                                  load_jsonl(args.evals, "trajectory"), tau_outcome)
    with_prompt_header = [dict(pair, prompt=with_header(env_name, pair["prompt"])) for pair in pairs]
    policy = reference_logps(require_model_dir(args.policy), with_prompt_header, config)
    reference = reference_logps(require_model_dir(args.reference), with_prompt_header, config)
    result = dict(heldout_metrics(policy, reference), policy=str(args.policy), reference=str(args.reference),
                  tasks=str(args.tasks), max_length=config.max_length)
    with atomic_path(args.out) as tmp:
        write_json_file(tmp, result)
    print(result)


if __name__ == "__main__":
    run(main)
