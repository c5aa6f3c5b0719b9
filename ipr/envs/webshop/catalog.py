"""The embedded WebShop catalog: seeded products and human-style goals in the real data's format.

The generator writes the three files the real loader reads (``items_shuffle``, ``items_ins_v2``
and ``items_human_ins`` formats), so the embedded benchmark and the real one share every line of
loading, pricing and goal code. Titles are short ("Lumora Sugar Free Chocolate Bar") so that a
tiny model's context holds an episode. Each product type has an attribute pool and option groups;
products of a type differ in brand, attributes, option values and price, so a goal's product must
be told apart from its neighbours on the results page.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProductType:
    query: str  # the scraped search query, also the title's noun phrase
    category: str
    path: str  # product_category, '›'-separated
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    price: tuple[float, float]


_COLORS = ("black", "white", "navy blue", "red", "pink", "grey", "green", "beige")
TYPES: tuple[ProductType, ...] = (
    ProductType("face serum", "beauty", "Beauty & Personal Care › Skin Care › Face › Serums",
                ("paraben free", "cruelty free", "for dry skin", "long lasting", "fragrance free"),
                (("size", ("1 fl oz", "2 fl oz", "4 fl oz")), ("scent", ("lavender", "rose", "unscented"))), (8, 45)),
    ProductType("shampoo", "beauty", "Beauty & Personal Care › Hair Care › Shampoo",
                ("sulfate free", "for curly hair", "natural ingredients", "cruelty free", "travel size"),
                (("size", ("8 fl oz", "12 fl oz", "32 fl oz")), ("scent", ("coconut", "mint", "citrus"))), (6, 30)),
    ProductType("nail polish", "beauty", "Beauty & Personal Care › Makeup › Nails › Nail Polish",
                ("quick dry", "long lasting", "non toxic", "high shine", "vegan"),
                (("color", ("red", "pink", "black", "gold", "purple")),), (4, 18)),
    ProductType("hair dryer", "beauty", "Beauty & Personal Care › Hair Care › Styling Tools › Hair Dryers",
                ("low noise", "fast drying", "travel size", "ionic", "lightweight"),
                (("color", ("black", "white", "pink", "rose gold")),), (20, 90)),
    ProductType("chocolate bar", "grocery", "Grocery & Gourmet Food › Candy › Chocolate › Bars",
                ("sugar free", "gluten free", "dairy free", "non gmo", "low carb"),
                (("flavor", ("dark", "milk", "sea salt", "mint", "peanut butter")), ("size", ("3 pack", "6 pack", "12 pack"))),
                (5, 40)),
    ProductType("green tea", "grocery", "Grocery & Gourmet Food › Beverages › Tea › Green Tea",
                ("caffeine free", "organic", "non gmo", "low calorie", "gluten free"),
                (("flavor", ("jasmine", "lemon", "ginger", "honey")), ("size", ("20 count", "50 count", "100 count"))),
                (4, 25)),
    ProductType("protein bar", "grocery", "Grocery & Gourmet Food › Snacks › Bars › Protein Bars",
                ("high protein", "low sugar", "gluten free", "keto friendly", "plant based"),
                (("flavor", ("chocolate chip", "vanilla", "peanut butter", "berry")), ("size", ("12 count", "24 count"))),
                (15, 45)),
    ProductType("coffee beans", "grocery", "Grocery & Gourmet Food › Beverages › Coffee › Whole Bean",
                ("fair trade", "organic", "low acid", "dark roast", "single origin"),
                (("size", ("12 ounce", "2 pound", "5 pound")),), (9, 60)),
    ProductType("running shoes", "fashion", "Clothing, Shoes & Jewelry › Men › Shoes › Athletic › Running",
                ("non slip", "rubber sole", "breathable mesh", "lightweight", "arch support"),
                (("color", _COLORS[:6]), ("size", ("7", "8", "9", "10", "11", "12"))), (25, 120)),
    ProductType("yoga pants", "fashion", "Clothing, Shoes & Jewelry › Women › Clothing › Active › Leggings",
                ("high waist", "tummy control", "machine wash", "squat proof", "with pockets"),
                (("color", _COLORS), ("size", ("small", "medium", "large", "x-large"))), (12, 45)),
    ProductType("winter jacket", "fashion", "Clothing, Shoes & Jewelry › Men › Clothing › Jackets & Coats",
                ("water resistant", "hooded", "fleece lined", "machine wash", "zip closure"),
                (("color", ("black", "navy blue", "green", "grey")), ("size", ("medium", "large", "x-large"))),
                (40, 150)),
    ProductType("cotton shirt", "fashion", "Clothing, Shoes & Jewelry › Men › Clothing › Shirts",
                ("short sleeve", "long sleeve", "button down", "slim fit", "machine wash"),
                (("color", _COLORS), ("size", ("small", "medium", "large"))), (10, 40)),
    ProductType("bluetooth speaker", "electronics", "Electronics › Portable Audio & Video › Speakers",
                ("waterproof", "long battery life", "stereo sound", "built in microphone", "easy to carry"),
                (("color", ("black", "blue", "red", "grey")),), (15, 120)),
    ProductType("usb cable", "electronics", "Electronics › Computers & Accessories › Cables › USB Cables",
                ("fast charging", "braided nylon", "data sync", "durable", "gold plated"),
                (("length", ("3 ft", "6 ft", "10 ft")), ("color", ("black", "white", "red"))), (5, 25)),
    ProductType("wireless earbuds", "electronics", "Electronics › Headphones › Earbud Headphones",
                ("noise cancelling", "water resistant", "long battery life", "touch control", "with charging case"),
                (("color", ("black", "white", "blue")),), (20, 150)),
    ProductType("phone case", "electronics", "Cell Phones & Accessories › Cases & Covers",
                ("shockproof", "slim fit", "wireless charging compatible", "clear back", "easy install"),
                (("color", ("black", "clear", "pink", "green", "navy blue")),), (6, 30)),
    ProductType("throw pillow", "home", "Home & Kitchen › Bedding › Decorative Pillows › Throw Pillow Covers",
                ("machine washable", "zipper closure", "double sided", "soft velvet", "hidden zipper"),
                (("color", _COLORS), ("size", ("16x16 inch", "18x18 inch", "20x20 inch"))), (8, 35)),
    ProductType("bath towel", "home", "Home & Kitchen › Bath › Towels › Bath Towels",
                ("quick dry", "highly absorbent", "100% cotton", "machine washable", "oversized"),
                (("color", _COLORS[:6]), ("size", ("2 pack", "4 pack", "6 pack"))), (15, 60)),
    ProductType("desk lamp", "home", "Home & Kitchen › Lighting › Lamps › Desk Lamps",
                ("dimmable", "eye caring", "usb charging port", "touch control", "adjustable arm"),
                (("color", ("black", "white", "silver")),), (18, 70)),
    ProductType("wall clock", "home", "Home & Kitchen › Home Decor › Clocks › Wall Clocks",
                ("silent movement", "battery operated", "easy to read", "modern design", "large numbers"),
                (("color", ("black", "white", "gold", "wood")), ("size", ("10 inch", "12 inch", "14 inch"))), (12, 50)),
)

BRANDS = ("Lumora", "Vexa", "Nordby", "Kalla", "Oreto", "Pellan", "Quilo", "Ravena", "Sorrel", "Tamsin", "Ulmo",
          "Varga", "Wrenly", "Xandor", "Yarrow", "Zephra", "Aldis", "Brisk", "Cobalt", "Dunmore", "Elvin", "Fenna",
          "Garrow", "Halden")
# How an option value reads in an instruction, by option group.
_OPTION_PHRASES = {"color": "in {value}", "size": "in size {value}", "flavor": "in {value} flavor",
                   "scent": "with {value} scent", "length": "{value} long"}
_INSTRUCTIONS = (
    "i am looking for {attributes} {query} {options}",
    "i need {attributes} {query} {options}",
    "i want to buy {attributes} {query} {options}",
    "find me {attributes} {query} {options}",
)
GOALS_PER_PRODUCT = 2


def _title(text: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in text.split())


def _product(kind: ProductType, index: int, rng: random.Random) -> tuple[dict, list[str]]:
    """One raw product (items_shuffle format) and its attributes (items_ins_v2)."""
    asin = f"B0{rng.randrange(36 ** 8):08X}"[:10]
    brand = rng.choice(BRANDS)
    attributes = rng.sample(kind.attributes, rng.randint(2, 3))
    name = f"{brand} {_title(attributes[0])} {_title(kind.query)}"
    low, high = kind.price
    price = round(rng.uniform(low, high), 2)
    pricing = f"${price:.2f}" if rng.random() < 0.8 else f"${price:.2f} - ${price * 1.3:.2f}"
    options = {}
    for group, values in kind.options:
        chosen = sorted(rng.sample(values, rng.randint(min(2, len(values)), min(4, len(values)))), key=values.index)
        options[group] = [{"value": value, "image": None} for value in chosen]
    return {
        "asin": asin,
        "name": name,
        "full_description": f"{name} from {brand}. {_title(attributes[0])} and {attributes[1]}.",
        "small_description": [f"{_title(a)} {kind.query}" for a in attributes],
        "pricing": pricing,
        "customization_options": options,
        "images": [None],
        "query": kind.query,
        "category": kind.category,
        "product_category": kind.path,
    }, attributes


def _instruction(kind: ProductType, raw: dict, attributes: list[str], rng: random.Random) -> dict:
    """A human-style goal for ``raw``: 1-2 of its attributes and one value per option group."""
    wanted = sorted(rng.sample(attributes, rng.randint(1, 2)), key=attributes.index)
    values = [(group, rng.choice(contents)["value"]) for group, contents in raw["customization_options"].items()]
    options = " and ".join(_OPTION_PHRASES[group].format(value=value) for group, value in values)
    text = rng.choice(_INSTRUCTIONS).format(attributes=" ".join(wanted), query=kind.query, options=options)
    return {"asin": raw["asin"], "instruction": text.strip(), "instruction_attributes": wanted,
            "instruction_options": [value for _, value in values]}


def write_embedded_files(out_dir: Path, seed: int, num_products: int) -> dict[str, Path]:
    """Write the three data files of a seeded catalog of ``num_products``; return their paths."""
    rng = random.Random(f"{seed}:webshop-catalog")
    raws, attributes, instructions, seen = [], {}, {}, set()
    for index in range(num_products):
        kind = TYPES[index % len(TYPES)]
        raw, product_attributes = _product(kind, index, rng)
        while raw["asin"] in seen:
            raw["asin"] = f"B0{rng.randrange(36 ** 8):08X}"[:10]
        seen.add(raw["asin"])
        raws.append(raw)
        attributes[raw["asin"]] = {"attributes": product_attributes}
        instructions[raw["asin"]] = [_instruction(kind, raw, product_attributes, rng) for _ in range(GOALS_PER_PRODUCT)]
    rng.shuffle(raws)  # as items_shuffle: types interleaved in catalog order
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"products": out_dir / "items_shuffle.json", "attributes": out_dir / "items_ins_v2.json",
             "human_goals": out_dir / "items_human_ins.json"}
    for key, data in (("products", raws), ("attributes", attributes), ("human_goals", instructions)):
        paths[key].write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n")
    return paths


def embedded_nouns(text: str) -> list[str]:
    """Exact nouns of embedded titles, known by construction (brands, the query's words, units):
    the reference the README's noun-fallback measurement compares :func:`fallback_nouns` with."""
    vocabulary = {b.lower() for b in BRANDS} | {w for t in TYPES for w in t.query.split()}
    return [word for word in text.lower().split() if word in vocabulary]
