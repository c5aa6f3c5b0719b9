"""Loader of WebShop's data files, as ``web_agent_site/engine/engine.py`` and ``goal.py`` read them.

* ``items_shuffle[_1000].json``: a JSON list of scraped products (``asin``, ``name``,
  ``full_description``, ``small_description``, ``pricing``, ``customization_options``, ``query``,
  ``category``, ``product_category``); streamed, so the 5 GB full catalog never sits in memory.
* ``items_ins_v2[_1000].json``: ASIN -> ``{"attributes": [...], ...}`` (the products' attributes).
* ``items_human_ins.json``: ASIN -> list of ``{"instruction", "instruction_attributes",
  "instruction_options"}`` (the human goals IPR and ETO use).

Goals are listed in catalog order, then shuffled with ``random.Random(233)`` as the original does,
so a goal's index is the original's session index (IPR's ``{train,test}_indices.json`` apply).
The original draws each product's price in its range and each goal's price ceiling unseeded;
here both are seeded (per ASIN, and in goal order), so they differ from any one original run.
Bad input raises :class:`InputError` naming the file, the record and the field.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ipr.records import InputError

PRICE_RANGE = [10.0 * i for i in range(1, 100)]  # goal price ceilings are drawn from these
GOAL_SHUFFLE_SEED = 233
DEFAULT_PRICE = 100.0  # the original's price of a product without pricing
_READ_CHUNK = 1 << 20


class WebShopDataError(InputError):
    """A WebShop data file that does not have the original's format."""


def iter_json_array(path: Path) -> Iterator[tuple[int, object]]:
    """(index, item) for each item of the top-level JSON list in ``path``, read incrementally."""
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8") as handle:
        buffer, position, index, eof = handle.read(_READ_CHUNK), 0, 0, False

        def skip(chars: str) -> None:
            nonlocal buffer, position, eof
            while True:
                while position < len(buffer) and buffer[position] in chars:
                    position += 1
                if position < len(buffer) or eof:
                    return
                buffer, position = handle.read(_READ_CHUNK), 0
                eof = not buffer

        skip(" \t\r\n")
        if buffer[position:position + 1] != "[":
            raise WebShopDataError(f"{path}: expected a JSON list of products")
        position += 1
        while True:
            skip(" \t\r\n,")
            if eof or buffer[position:position + 1] == "]":
                return
            while True:
                try:
                    item, end = decoder.raw_decode(buffer, position)
                    break
                except json.JSONDecodeError as error:
                    more = handle.read(_READ_CHUNK)
                    if not more:
                        raise WebShopDataError(f"{path}: record {index}: invalid JSON ({error.msg})") from None
                    buffer, position = buffer[position:] + more, 0
            yield index, item
            index += 1
            position = end


def _field(record: Mapping, name: str, path: Path, index: int | str, kind: type | tuple = object):
    if not isinstance(record, Mapping):
        raise WebShopDataError(f"{path}: record {index}: not a JSON object")
    if name not in record:
        raise WebShopDataError(f"{path}: record {index}: field '{name}': missing")
    value = record[name]
    if not isinstance(value, kind):
        raise WebShopDataError(f"{path}: record {index}: field '{name}': expected {getattr(kind, '__name__', kind)}")
    return value


def _parse_pricing(pricing, path: Path, index: int) -> tuple[list[float], str]:
    """(prices, price tag): one price or a low-high range, as the original parses ``pricing``."""
    if not pricing:
        return [DEFAULT_PRICE], f"${DEFAULT_PRICE}"
    try:
        prices = [float(Decimal(re.sub(r"[^\d.]", "", part))) for part in str(pricing).split("$")[1:]]
    except InvalidOperation:
        raise WebShopDataError(f"{path}: record {index}: field 'pricing': unreadable price {pricing!r}") from None
    if not prices:
        raise WebShopDataError(f"{path}: record {index}: field 'pricing': no '$' price in {pricing!r}")
    if len(prices) == 1:
        return prices, f"${prices[0]}"
    return prices[:2], f"${prices[0]} to ${prices[1]}"


def process_product(raw: Mapping, index: int, path: Path, attributes: Mapping, seed: int) -> dict:
    """One scraped product in the page/reward schema (``Title``, ``Description``, ``BulletPoints``,
    ``Attributes``, ``options``, ``Price`` tag and the drawn ``price``)."""
    asin = _field(raw, "asin", path, index, str)
    bullets = _field(raw, "small_description", path, index, (list, str))
    pricing, price_tag = _parse_pricing(raw.get("pricing"), path, index)
    # The original draws a price in a product's range once at load time; seeded per ASIN here.
    price = pricing[0] if len(pricing) == 1 else random.Random(f"{seed}:price:{asin}").uniform(*pricing)
    options: dict[str, list[str]] = {}
    for name, contents in (_field(raw, "customization_options", path, index, (dict, type(None))) or {}).items():
        if contents is None:
            continue
        try:
            options[name.lower()] = [c["value"].strip().replace("/", " | ").lower() for c in contents]
        except (TypeError, KeyError, AttributeError):
            raise WebShopDataError(f"{path}: record {index}: field 'customization_options': option {name!r} "
                                   "needs a list of {\"value\": ...} objects") from None
    product_attributes = attributes.get(asin, {})
    return {
        "asin": asin,
        "name": _field(raw, "name", path, index, str),
        "Title": raw["name"],
        "Description": _field(raw, "full_description", path, index, str),
        "BulletPoints": bullets if isinstance(bullets, list) else [bullets],
        "Attributes": product_attributes.get("attributes", ["DUMMY_ATTR"]) if isinstance(product_attributes, Mapping)
        else ["DUMMY_ATTR"],
        "options": options,
        "Price": price_tag,
        "price": price,
        "Rating": "N.A.",  # the original loads no ratings or reviews
        "Reviews": [],
        "category": _field(raw, "category", path, index, str),
        "query": _field(raw, "query", path, index, str).lower().strip(),
        "product_category": _field(raw, "product_category", path, index, str),
    }


def load_mapping(path: Path) -> dict:
    """A whole-file JSON object keyed by ASIN (attributes or human instructions)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise WebShopDataError(f"{path}: line {error.lineno}: invalid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise WebShopDataError(f"{path}: expected a JSON object keyed by ASIN")
    return data


def iter_products(products_file: Path, attributes: Mapping, seed: int,
                  num_products: int | None = None) -> Iterator[dict]:
    """Processed products in catalog order, skipping what the original skips (ASIN 'nan', ASINs
    over 10 characters, repeated ASINs); ``num_products`` counts raw records, as the original does."""
    seen: set[str] = set()
    for index, raw in iter_json_array(Path(products_file)):
        if num_products is not None and index >= num_products:
            return
        asin = _field(raw, "asin", products_file, index, str)
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        yield process_product(raw, index, Path(products_file), attributes, seed)


def goal_price_ceiling(price: float, rng: random.Random) -> tuple[float, str]:
    """(price_upper, instruction suffix): the larger of two draws among the 4 tens above the price."""
    above = [p for p in PRICE_RANGE if p > price][:4]
    if len(above) < 2:
        return 1000000.0, ""
    _, upper = sorted(rng.sample(above, 2))
    return upper, f", and price lower than {upper:.2f} dollars"


def human_goals(products: list[Mapping], human_instructions: Mapping, seed: int, path: Path) -> list[dict]:
    """The human goals in the original's order (catalog order, then shuffled with seed 233)."""
    rng = random.Random(f"{seed}:goal-price")
    goals = []
    for product in products:
        for number, item in enumerate(human_instructions.get(product["asin"], [])):
            where = f"{product['asin']}[{number}]"
            attributes = _field(item, "instruction_attributes", path, where, list)
            if not attributes:  # the original skips goals without attributes
                continue
            upper, price_text = goal_price_ceiling(product["price"], rng)
            goals.append({
                "asin": product["asin"],
                "category": product["category"],
                "query": product["query"],
                "name": product["name"],
                "product_category": product["product_category"],
                "instruction_text": _field(item, "instruction", path, where, str).strip(".") + price_text,
                "attributes": attributes,
                "price_upper": upper,
                "goal_options": _field(item, "instruction_options", path, where, (list, dict)),
            })
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    for index, goal in enumerate(goals):
        goal["session"] = index
    return goals


def load_indices(path: Path, count: int) -> list[int]:
    """IPR/ETO's ``{train,test}_indices.json``: a JSON list of goal indices below ``count``."""
    try:
        indices = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise WebShopDataError(f"{path}: line {error.lineno}: invalid JSON ({error.msg})") from None
    if not isinstance(indices, list):
        raise WebShopDataError(f"{path}: expected a JSON list of goal indices")
    for position, index in enumerate(indices):
        if not isinstance(index, int) or not 0 <= index < count:
            raise WebShopDataError(f"{path}: item {position}: goal index {index!r} is not in 0..{count - 1}")
    return list(dict.fromkeys(indices))
