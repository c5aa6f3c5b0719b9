"""SFT on expert trajectories (assistant-only loss). The result is the policy, scorer and DPO reference."""

from pathlib import Path

from ipr.agent.prompts import with_header
from ipr.cli import load_tasks, parser, require_model_dir, run, setup
from ipr.training.sft import train_sft


def main():
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--model-dir", required=True, type=Path)
    p.add_argument("--train", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    seed = settings.get("seed", 0)
    setup(seed)
    env_name = settings.section("benchmark")["env"]
    model_dir = require_model_dir(args.model_dir)
    conversations = [with_header(env_name, record["messages"]) for record in load_tasks(args.train)]
    metrics = train_sft(model_dir, args.out, conversations, settings.stage, seed)
    print({k: v for k, v in metrics.items() if k != "history"})


if __name__ == "__main__":
    run(main)
