"""A GPU cost model on paper: GPU-hours per stage of SFT, ETO and IPR for config/paper.yaml's setting.

Counts per task (expert turns, characters per turn) come from this project's benchmarks; data sizes
from the paper's splits; throughput from published figures. Every number below is an assumption
named in docs/cost.md; change one and rerun:

    python tools/gpu_cost_model.py            # markdown tables on stdout
"""

import argparse

# Paper data sizes (IPR reference implementation's splits, see docs/cost.md).
BENCHMARKS = {
    #            train  test  expert turns (ours)  max_turns  prompt tokens  observation tokens / turn
    "webshop":       (1624, 200, 4.56, 10, 1000, 110),
    "intercode_sql": (1500, 200, 4.26, 10, 1680, 25),
    "alfworld":      (3321, 274, 9.62, 20, 840, 22),
}
PARAMS = 7e9                   # Llama-2-7B / Mistral-7B
N = 5                          # Monte-Carlo samples per scored action (paper)
ITERATIONS = 1                 # the table is per iteration; the sweep runs 5
CANDIDATE_SHARE = 0.5          # share of explored agent actions (t >= 2) scored by MC (only_candidates)
PAIRS_PER_TASK = {"eto": 1.0, "ipr": 1.0 + 1.0}   # outcome pairs, plus step pairs for IPR
VLLM_TOKENS_PER_S = 1591       # Mistral-7B, 1x A100-80GB, vLLM 0.5.4, 320 prompts (LambdaLabs benchmark)
A100_PEAK_FLOPS = 312e12       # bf16 dense
MFU = 0.35                     # ZeRO-3 + gradient checkpointing on 8 A100s (assumption)
SFT_EPOCHS = 3
DPO_EPOCHS = 3


def stage_tokens(train, test, turns, max_turns, tokens_per_turn, iterations_evaluated=1):
    """Generated tokens per stage for one benchmark and one iteration."""
    T = turns
    explore_ipr = train * T * (T + 1) / 2 * tokens_per_turn       # from every expert prefix to the end
    explore_eto = train * T * tokens_per_turn                      # from the task start only
    expert_mc = train * N * T * (T - 1) / 2 * tokens_per_turn      # once per model: expert actions
    agent_mc = train * CANDIDATE_SHARE * N * T * (T - 1) / 2 * tokens_per_turn
    evaluate = test * T * tokens_per_turn * iterations_evaluated
    return {"explore_ipr": explore_ipr, "explore_eto": explore_eto, "score_expert": expert_mc,
            "score": agent_mc, "evaluate": evaluate}


def train_gpu_hours(sequences, tokens_per_sequence, epochs, passes=8):
    """GPU-hours of full fine-tuning: ``passes`` x params FLOPs per token (6 for forward+backward,
    8 with gradient checkpointing's second forward), at MFU of the A100's bf16 peak."""
    return sequences * tokens_per_sequence * epochs * passes * PARAMS / (A100_PEAK_FLOPS * MFU) / 3600


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens-per-turn", type=float, default=20.0,
                   help="generated tokens per assistant turn (ours: ~80 characters / 4)")
    args = p.parse_args()
    gen_h = lambda tokens: tokens / VLLM_TOKENS_PER_S / 3600  # noqa: E731
    print(f"tokens per turn {args.tokens_per_turn:g}, vLLM {VLLM_TOKENS_PER_S} tok/s per A100, MFU {MFU}, N {N}\n")
    print("| benchmark | stage | generated tokens (M) | GPU-hours |")
    print("|---|---|---:|---:|")
    totals = {}
    for name, (train, test, turns, max_turns, prompt, observation) in BENCHMARKS.items():
        tokens = stage_tokens(train, test, turns, max_turns, args.tokens_per_turn)
        for stage, count in tokens.items():
            print(f"| {name} | {stage} | {count / 1e6:.2f} | {gen_h(count):.2f} |")
        sequence = prompt + turns * (args.tokens_per_turn + observation)
        sft = train_gpu_hours(train, sequence, SFT_EPOCHS)
        # DPO: chosen + rejected through the policy; the reference log-probs once (a forward, 2 passes).
        dpo = {m: train_gpu_hours(train * k * 2, sequence, DPO_EPOCHS)
               + train_gpu_hours(train * k * 2, sequence, 1, passes=2) for m, k in PAIRS_PER_TASK.items()}
        step_s = 8 * PARAMS * 48 * sequence / (8 * A100_PEAK_FLOPS * MFU)
        print(f"| {name} | sft (3 epochs) | {sequence:.0f} tokens/sequence | {sft:.2f} |")
        print(f"| {name} | DeepSpeed step (batch 48, 8 GPUs) | {step_s:.1f} s | |")
        eto = gen_h(tokens["explore_eto"]) + dpo["eto"] + gen_h(tokens["evaluate"])
        ipr = (gen_h(tokens["explore_ipr"] + tokens["score"] + tokens["evaluate"]) + dpo["ipr"])
        totals[name] = (sft + gen_h(tokens["evaluate"]), eto, ipr, gen_h(tokens["score_expert"]))
    print("\n| benchmark | SFT | ETO per iteration | IPR per iteration | IPR's expert scores (once) |")
    print("|---|---:|---:|---:|---:|")
    for name, (sft, eto, ipr, expert) in totals.items():
        print(f"| {name} | {sft:.2f} | {eto:.2f} | {ipr:.2f} | {expert:.2f} |")


if __name__ == "__main__":
    main()
