"""Mixed-loss training step: precomputed reference log-probs vs a reference model in memory.

    python tools/benchmark_training.py --policy results/sql_embedded/tiny/sft/policy \
        --pairs results/sql_embedded/tiny/ipr/iter1/pairs.jsonl --env sql_embedded

Each variant runs in its own process (so peak memory is its own): it loads the policy (and, for
"in-memory", a second copy as the frozen reference), then times ``--steps`` optimizer steps of the
mixed loss on the same batches. "precomputed" reads the reference log-probs from the batch, as the
train rule does; "in-memory" runs the reference forward every step, as TRL and the authors' trainer
do. Prints step time, peak memory (on GPU allocated by tensors; on CPU the peak resident set above
what the interpreter and libraries take before a model is loaded) and the ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

VARIANTS = ("in-memory", "precomputed")


def _resident_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_variant(args) -> dict:
    import torch

    from ipr.agent.prompts import with_header
    from ipr.records import load_jsonl
    from ipr.training.common import load_model, pick_device, seed_everything
    from ipr.training.mixed_loss import MixedObjective, PairCollator, encode_pairs, sequence_logps

    seed_everything(0)
    device = pick_device(args.device)
    baseline = _resident_mib()  # the interpreter and libraries, before any model
    policy, tokenizer = load_model(args.policy, device)
    reference = None
    if args.variant == "in-memory":
        reference, _ = load_model(args.policy, device)
        reference.eval().requires_grad_(False)
    pairs = [dict(p, prompt=with_header(args.env, p["prompt"])) for p in load_jsonl(args.pairs, "pair")]
    examples = [{"kind": e["kind"], "chosen_ids": e["chosen"][0], "chosen_mask": e["chosen"][1],
                 "rejected_ids": e["rejected"][0], "rejected_mask": e["rejected"][1],
                 # precomputed values are read from the batch; the in-memory variant overwrites them
                 "ref_chosen": -1.0, "ref_rejected": -1.0}
                for e in encode_pairs(tokenizer, pairs, args.max_length) if e["trainable"]]
    if not examples:
        raise SystemExit(f"error: no trainable pair in {args.pairs}")
    collate = PairCollator(tokenizer.pad_token_id)
    objective = MixedObjective(0.1, {"outcome_weight": 1.0, "step_weight": 1.0, "sft_weight": 1.0}, 0.0, "token", "ipr")
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-5)
    policy.train()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(args.warmup + args.steps):
        idx = [(step * args.batch_size + i) % len(examples) for i in range(args.batch_size)]
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in idx]).items()}
        start = time.perf_counter()
        if reference is not None:
            with torch.no_grad():
                sums = sequence_logps(reference, batch["input_ids"], batch["attention_mask"], batch["loss_mask"])
            n = len(idx)
            batch["ref_chosen"], batch["ref_rejected"] = sums[:n].float(), sums[n:].float()
        loss, _ = objective(policy, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    # GPU: peak allocated by tensors. CPU: peak resident set above the post-import baseline.
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline)
    return {"variant": args.variant, "device": device, "step_s": sum(times) / len(times), "peak_mib": peak,
            "pairs": len(examples), "parameters": sum(p.numel() for p in policy.parameters())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", required=True, help="model directory (policy and reference start equal)")
    p.add_argument("--pairs", required=True, help="a pairs.jsonl from build_pairs")
    p.add_argument("--env", required=True, help="environment family, for the prompt header")
    p.add_argument("--batch-size", type=int, default=8, help="pairs per step")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--device", default="auto")
    p.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one child process
    args = p.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    results = {}
    for variant in VARIANTS:
        argv = [a for a in sys.argv[1:]] + ["--variant", variant]
        proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    first = results["precomputed"]
    print(f"mixed-loss step, {first['parameters']:,} parameters, {args.batch_size} pairs per step, "
          f"{args.steps} steps after {args.warmup} warm-up, device {first['device']}")
    print(f"{'variant':<12} {'step (ms)':>10} {'peak (MiB)':>11}   (peak: above the post-import baseline on CPU)")
    for variant in VARIANTS:
        r = results[variant]
        print(f"{variant:<12} {r['step_s'] * 1000:>10.1f} {r['peak_mib']:>11.1f}")
    mem, pre = results["in-memory"], results["precomputed"]
    print(f"ratio in-memory / precomputed: step time {mem['step_s'] / pre['step_s']:.2f}x, "
          f"peak memory {mem['peak_mib'] / pre['peak_mib']:.2f}x")


if __name__ == "__main__":
    main()
