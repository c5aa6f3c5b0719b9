"""SFT on expert trajectories (assistant-only loss). The result is the policy, scorer and DPO reference.

With --explored (rejection-sampling fine-tuning, method rft): the policy's explored whole trajectories
(t = 1) whose outcome reward reaches the method's rft_min_reward are added, unless equal to the expert's."""

from pathlib import Path

from ipr.agent.prompts import with_header
from ipr.cli import load_tasks, parser, require_model_dir, run, setup
from ipr.records import load_jsonl
from ipr.training.config import SFTConfig
from ipr.training.sft import train_sft


def successful_trajectories(tasks_by_id: dict, explored: list[dict], min_reward: float) -> list[list[dict]]:
    """Whole explored trajectories (t = 1) with outcome reward >= min_reward, other than the expert's."""
    out = []
    for record in sorted(explored, key=lambda r: r["id"]):
        if record["t"] != 1 or not record["continuation"] or record["outcome_reward"] < min_reward:
            continue
        task = tasks_by_id[record["task_id"]]
        messages = task["messages"][: record["prefix"]] + record["continuation"]
        if messages != task["messages"]:
            out.append(messages)
    return out


def main():
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--model-dir", required=True, type=Path)
    p.add_argument("--train", required=True, type=Path)
    p.add_argument("--explored", nargs="*", default=[], type=Path, help="explore shards (rft)")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    seed = settings.seed
    setup(seed)
    config = SFTConfig.from_settings(settings.stage, source="sft settings")
    env_name = settings.benchmark.require_env()
    model_dir = require_model_dir(args.model_dir)
    tasks = load_tasks(args.train)
    trajectories = [record["messages"] for record in tasks]
    if args.explored:
        min_reward = settings.method.rft_min_reward
        added = successful_trajectories({t["task_id"]: t for t in tasks},
                                        [r for path in args.explored for r in load_jsonl(path, "explore")],
                                        min_reward)
        print(f"rft: {len(added)} successful explored trajectories added to {len(trajectories)} expert ones")
        trajectories += added
    conversations = [with_header(env_name, messages) for messages in trajectories]
    metrics = train_sft(model_dir, args.out, conversations, config, seed)
    print({k: v for k, v in metrics.items() if k != "history"})


if __name__ == "__main__":
    run(main)
