"""How far the noun fallback moves WebShop rewards, measured on the embedded catalog.

    python tools/webshop_noun_fallback.py

For every embedded goal, the top-10 products of the expert's search are scored (best option
combination) with the fallback noun heuristic, with the embedded titles' nouns known by
construction (brands, product-type words) and, where a spaCy pipeline is installed (the default
install), with spaCy. Prints the mean rewards and how often and how much each differs from the
fallback. The reward's only noun-dependent part is the type factor.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from ipr.envs.webshop.catalog import embedded_nouns
from ipr.envs.webshop.env import WebShopEnv
from ipr.envs.webshop.expert import search_keywords
from ipr.envs.webshop.generate import generate_webshop
from ipr.envs.webshop.reward import _spacy_model, best_options, fallback_nouns, noun_source, nouns, purchase_reward


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        records = generate_webshop(Path(tmp), args.seed, min_expert_reward=0.0)
        env = WebShopEnv(Path(tmp), max_turns=10)
        extractors = {"fallback": fallback_nouns, "exact nouns": embedded_nouns}
        if _spacy_model() is not None:
            extractors[noun_source()] = nouns
        pairs = []
        for record in records["train"] + records["test"]:
            goal = record["task"]
            for asin in env.store.search(search_keywords(goal))[: args.top]:
                product = env.store.product(asin)
                chosen = best_options(product, goal, {}).values()
                pairs.append([purchase_reward(product, goal, product["price"], chosen, extract)
                              for extract in extractors.values()])
    print(f"{len(pairs)} goal-product pairs ({len(records['train']) + len(records['test'])} goals x top {args.top})")
    for column, name in enumerate(extractors):
        print(f"mean reward, {name}: {statistics.mean(p[column] for p in pairs):.4f}")
    for column, name in list(enumerate(extractors))[1:]:
        differences = [abs(p[0] - p[column]) for p in pairs]
        changed = [d for d in differences if d > 1e-9]
        print(f"fallback vs {name}: {len(changed)} pairs changed ({100 * len(changed) / len(pairs):.1f}%), mean "
              f"|difference| {statistics.mean(differences):.4f} overall, "
              f"{statistics.mean(changed) if changed else 0:.4f} where changed")


if __name__ == "__main__":
    main()
