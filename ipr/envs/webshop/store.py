"""The product catalog and its BM25 search index, in one read-only SQLite file.

``products`` holds each processed product as JSON (keyed by ASIN, rowid = catalog order);
``product_text`` is a contentless FTS5 table over WebShop's search document (title, description,
first bullet point, options; lowercased, as ``search_engine/convert_product_file_format.py``).
Search ranks by FTS5's ``bm25()`` and breaks ties by catalog order, so results are deterministic.
Deviations from the original's Lucene (pyserini) index: FTS5's BM25 constants (k1 1.2, b 0.75
rather than 0.9, 0.4) and the Porter stemmer of the ``porter`` tokenizer; query terms are OR-ed
after Lucene's English stop words are dropped, as Lucene's default query parser does.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

SEARCH_TOP_K = 50  # WebShop's SEARCH_RETURN_N
CATALOG_FILE = "catalog.sqlite"
_INSERT_BATCH = 5000
# Lucene's EnglishAnalyzer stop words.
STOP_WORDS = frozenset("a an and are as at be but by for if in into is it no not of on or such that the their "
                       "then there these they this to was will with".split())


def search_document(product: Mapping) -> str:
    """The text WebShop indexes for a product."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in product["options"].items())
    first_bullet = product["BulletPoints"][0] if product["BulletPoints"] else ""
    return " ".join([product["Title"], product["Description"], first_bullet, option_text]).lower()


def match_expression(keywords: str) -> str | None:
    """An FTS5 query OR-ing the keywords' terms (each quoted, so no FTS5 syntax leaks through)."""
    terms = [t for t in re.findall(r"[0-9a-z]+", keywords.lower()) if t not in STOP_WORDS]
    return " OR ".join(f'"{t}"' for t in dict.fromkeys(terms)) or None


def write_store(path: Path, products: Iterable[Mapping]) -> int:
    """Write ``path`` (atomically) with ``products`` in order; return how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    count = 0
    try:
        conn.executescript("""
            PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
            CREATE TABLE products (rowid INTEGER PRIMARY KEY, asin TEXT UNIQUE NOT NULL, doc TEXT NOT NULL);
            CREATE VIRTUAL TABLE product_text USING fts5(contents, content='', tokenize='porter unicode61');
        """)
        batch: list[tuple[int, str, str, str]] = []

        def flush() -> None:
            conn.executemany("INSERT INTO products VALUES (?, ?, ?)", [b[:3] for b in batch])
            conn.executemany("INSERT INTO product_text (rowid, contents) VALUES (?, ?)", [(b[0], b[3]) for b in batch])
            batch.clear()

        for count, product in enumerate(products, 1):
            batch.append((count, product["asin"], json.dumps(product, ensure_ascii=False), search_document(product)))
            if len(batch) >= _INSERT_BATCH:
                flush()
        flush()
        conn.execute("INSERT INTO product_text (product_text) VALUES ('optimize')")
        conn.commit()
    finally:
        conn.close()
    os.replace(tmp, path)
    return count


class ProductStore:
    """Read-only access to a catalog file: products by ASIN and top-50 BM25 search (both memoised)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no WebShop catalog (run the benchmark generator)")
        self._conn = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self.product = lru_cache(maxsize=1 << 14)(self._product)
        self.search = lru_cache(maxsize=1 << 12)(self._search)

    def _product(self, asin: str) -> dict:
        row = self._conn.execute("SELECT doc FROM products WHERE asin = ?", (asin.upper(),)).fetchone()
        if row is None:
            raise KeyError(f"{self.path}: no product {asin!r}")
        return json.loads(row[0])

    def _search(self, keywords: str, top_k: int = SEARCH_TOP_K) -> tuple[str, ...]:
        """ASINs of the best ``top_k`` matches, best first; ties in catalog order."""
        expression = match_expression(keywords)
        if expression is None:
            return ()
        rows = self._conn.execute(
            "SELECT p.asin FROM (SELECT rowid, bm25(product_text) AS score FROM product_text "
            "WHERE product_text MATCH ? ORDER BY score, rowid LIMIT ?) AS hit "
            "JOIN products AS p ON p.rowid = hit.rowid ORDER BY hit.score, hit.rowid",
            (expression, top_k)).fetchall()
        return tuple(asin for (asin,) in rows)

    def all_asins(self) -> tuple[str, ...]:
        """Every ASIN in catalog order."""
        return tuple(asin for (asin,) in self._conn.execute("SELECT asin FROM products ORDER BY rowid"))

    def asins_where(self, field: str, value: str) -> tuple[str, ...]:
        """ASINs, in catalog order, of the products whose ``field`` equals ``value`` (the original's
        ``<c>`` and ``<q>`` searches, which return every such product)."""
        rows = self._conn.execute("SELECT asin FROM products WHERE json_extract(doc, '$.' || ?) = ? ORDER BY rowid",
                                  (field, value))
        return tuple(asin for (asin,) in rows)

    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM products").fetchone()[0]


@lru_cache(maxsize=8)
def open_store(path: str) -> ProductStore:
    """One store per catalog file and process (environments are created per episode)."""
    return ProductStore(Path(path))
