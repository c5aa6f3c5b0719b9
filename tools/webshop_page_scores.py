"""How IPR's page scores and the "best" page scores differ on the embedded WebShop benchmark.

    python tools/webshop_page_scores.py [--products 120] [--goals 72]

Replays the expert on each embedded goal and, after every step and after an invalid action taken
from each state, reads both page scores. Prints, per page kind, how many states there were and on
how many the two definitions agree (to 1e-9), with their means.
"""

import argparse
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

from ipr.react import parse_action
from ipr.envs.webshop.env import WebShopEnv
from ipr.envs.webshop.generate import generate_webshop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--products", type=int, default=120, help="embedded catalog size (config/config.yaml: 120)")
    p.add_argument("--goals", type=int, default=72, help="goals replayed (config/config.yaml: 48 train + 24 test)")
    args = p.parse_args()
    scores = defaultdict(list)  # page kind -> [(ipr, best)]
    with tempfile.TemporaryDirectory() as tmp:
        records = generate_webshop(Path(tmp), args.seed, num_products=args.products, min_expert_reward=0.0)
        env = WebShopEnv(Path(tmp), max_turns=30)
        for record in (records["train"] + records["test"])[: args.goals]:
            env.reset(record["task"])
            actions = [parse_action(m["content"]) for m in record["messages"] if m["role"] == "assistant"]
            for action in actions:
                env.step(action)
                scores[env.state.page].append((env.page_score("ipr"), env.page_score("best")))
                if not env.state.done:
                    kept = env.snapshot()
                    env.step("click[no such button]")
                    scores["after an invalid action"].append((env.page_score("ipr"), env.page_score("best")))
                    env.restore(kept)
    print(f"{args.goals} expert replays, {args.products} products")
    for page, pairs in sorted(scores.items()):
        agree = sum(abs(a - b) <= 1e-9 for a, b in pairs)
        print(f"{page}: {len(pairs)} states, agree {agree}; mean ipr {statistics.mean(a for a, _ in pairs):.4f}, "
              f"best {statistics.mean(b for _, b in pairs):.4f}")


if __name__ == "__main__":
    main()
