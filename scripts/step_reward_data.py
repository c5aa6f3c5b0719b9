"""Step-reward dataset: every MC-scored action (expert and agent, every iteration and scorer model
given) with its history and MC step reward, as ``step_reward`` JSONL."""

from pathlib import Path

from ipr.cli import load_tasks, parser, run, setup
from ipr.records import config_hash, load_jsonl, write_jsonl
from ipr.studies.reward_model import dataset_records, scores_source


def main():
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--tasks", required=True, type=Path, help="the train split (expert trajectories)")
    p.add_argument("--scores", nargs="+", required=True, type=Path,
                   help="<model>/expert_scores.jsonl and <model>/<method>/iter<k>/scores/<shard>.jsonl files")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    setup(args.settings.seed)
    tasks_by_id = {t["task_id"]: t for t in load_tasks(args.tasks)}
    digest = config_hash(args.settings)
    records = []
    for path in args.scores:
        scorer, source = scores_source(path)
        records += dataset_records(tasks_by_id, load_jsonl(path, "score"), args.benchmark, scorer, source,
                                   digest, str(path))
    write_jsonl(args.out, records, "step_reward")
    by_source = {}
    for r in records:
        by_source[(r["scorer"], r["source"])] = by_source.get((r["scorer"], r["source"]), 0) + 1
    print(f"{len(records)} step-reward records of {len({r['task_id'] for r in records})} tasks: {by_source}")


if __name__ == "__main__":
    run(main)
