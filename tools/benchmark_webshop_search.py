"""WebShop search throughput: index build time and queries/s on a generated catalog.

    python tools/benchmark_webshop_search.py --products 100000 --queries 500

Builds a catalog of ``--products`` embedded-style products (real data format), times loading +
indexing into the SQLite FTS5 store, then times uncached top-50 BM25 queries (the goals'
expert keywords and their full instructions).
"""

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from ipr.envs.webshop.catalog import write_embedded_files
from ipr.envs.webshop.expert import search_keywords
from ipr.envs.webshop.real_data import iter_products, load_mapping
from ipr.envs.webshop.store import ProductStore, write_store


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--products", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        paths = write_embedded_files(folder / "source", args.seed, args.products)
        print(f"generated {args.products} products in {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        attributes = load_mapping(paths["attributes"])
        count = write_store(folder / "catalog.sqlite", iter_products(paths["products"], attributes, args.seed))
        build = time.perf_counter() - start
        size = (folder / "catalog.sqlite").stat().st_size / 2**20
        print(f"index build: {count} products in {build:.1f} s ({count / build:,.0f} products/s), {size:.0f} MiB")

        instructions = [g for goals in json.loads(paths["human_goals"].read_text()).values() for g in goals]
        rng = random.Random(args.seed)
        sample = rng.sample(instructions, min(args.queries, len(instructions)))
        store = ProductStore(folder / "catalog.sqlite")
        for label, queries in (
            ("expert keywords", [search_keywords({"attributes": g["instruction_attributes"],
                                                  "query": store.product(g["asin"])["query"]}) for g in sample]),
            ("full instructions", [g["instruction"] for g in sample]),
        ):
            start = time.perf_counter()
            hits = [len(store._search(q)) for q in queries]  # uncached
            elapsed = time.perf_counter() - start
            print(f"{label}: {len(queries)} queries in {elapsed:.2f} s = {len(queries) / elapsed:,.0f} queries/s "
                  f"({1000 * elapsed / len(queries):.2f} ms each, mean hits {sum(hits) / len(hits):.1f})")


if __name__ == "__main__":
    main()
