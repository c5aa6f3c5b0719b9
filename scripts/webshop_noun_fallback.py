"""How far the noun fallback moves WebShop rewards, measured on the embedded catalog.

    python scripts/webshop_noun_fallback.py

For every embedded goal, the top-10 products of the expert's search are scored (best option
combination) twice: with the fallback noun heuristic and with the embedded titles' nouns known by
construction (brands, product-type words). Prints the mean rewards and how often and how much
they differ. The reward's only noun-dependent part is the type factor.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from ipr.envs.webshop.catalog import embedded_nouns
from ipr.envs.webshop.env import WebShopEnv
from ipr.envs.webshop.expert import search_keywords
from ipr.envs.webshop.generate import generate_webshop
from ipr.envs.webshop.reward import best_options, fallback_nouns, purchase_reward


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        records = generate_webshop(Path(tmp), args.seed, min_expert_reward=0.0)
        env = WebShopEnv(Path(tmp), max_turns=10)
        pairs = []
        for record in records["train"] + records["test"]:
            goal = record["task"]
            for asin in env.store.search(search_keywords(goal))[: args.top]:
                product = env.store.product(asin)
                chosen = best_options(product, goal, {}).values()
                pairs.append(tuple(purchase_reward(product, goal, product["price"], chosen, nouns)
                                   for nouns in (fallback_nouns, embedded_nouns)))
    differences = [abs(a - b) for a, b in pairs]
    changed = [d for d in differences if d > 1e-9]
    print(f"{len(pairs)} goal-product pairs ({len(records['train']) + len(records['test'])} goals x top {args.top})")
    print(f"mean reward: fallback {statistics.mean(a for a, _ in pairs):.4f}, "
          f"exact nouns {statistics.mean(b for _, b in pairs):.4f}")
    print(f"changed: {len(changed)} pairs ({100 * len(changed) / len(pairs):.1f}%), mean |difference| "
          f"{statistics.mean(differences):.4f} overall, {statistics.mean(changed) if changed else 0:.4f} where changed")


if __name__ == "__main__":
    main()
