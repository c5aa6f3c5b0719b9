"""WebShop's purchase reward (``web_agent_site/engine/goal.py``), written from its definition.

``reward = (attribute matches + option matches + [price <= ceiling]) / (attributes + options + 1)``,
times the type factor ``r_type`` (1 / 0.5 / 0.1 / 0). The fuzzy matcher is thefuzz's
``token_set_ratio`` (reimplemented below, no dependency); nouns come from spaCy when a model is
installed, otherwise from :func:`fallback_nouns` (README "WebShop" gives its measured effect).

Step-level page scores (the paper's Appendix B) need the best reward over the option
combinations still open on an item page: :func:`best_reward` finds it exactly without enumerating
every combination (a value that matches no goal option adds nothing, so only matching values
matter).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

FUZZY_THRESHOLD = 85  # a match needs token_set_ratio strictly above this

# The colour words of WebShop's normalize.py idea: an option mentioning one of them is that colour.
COLOR_SET = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue", "blush",
    "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "cheetah",
    "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral", "cranberry", "cream", "crystal",
    "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite", "grape", "graphite",
    "grass", "gray", "green", "grey", "heather", "indigo", "ivory", "ivy", "khaki", "lavender", "lemon",
    "leopard", "light", "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "metallic", "mocha",
    "multicolor", "mustard", "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum",
    "purple", "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull",
    "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise", "violet",
    "walnut", "wheat", "white", "wine", "yellow",
)


# -- fuzzy matching ------------------------------------------------------------------------------
def _process(text: str) -> str:
    """thefuzz's full_process: ASCII only, lowercase, non-alphanumerics to spaces, trimmed."""
    text = text.encode("ascii", "ignore").decode()
    return re.sub(r"[^0-9a-z]+", " ", text.lower()).strip()


def _lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence (the indel distance is len(a) + len(b) - 2 * LCS)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for char in a:
        current = [0]
        for j, other in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if char == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def _normalized(distance: int, total_length: int) -> float:
    return 100.0 - 100.0 * distance / total_length if total_length else 0.0


@lru_cache(maxsize=1 << 16)
def token_set_ratio(left: str, right: str) -> int:
    """thefuzz ``fuzz.token_set_ratio`` (0-100, rounded): 100 when one token set contains the other,
    else the best indel similarity of "intersection + rest" strings."""
    tokens_a, tokens_b = set(_process(left).split()), set(_process(right).split())
    if not tokens_a or not tokens_b:
        return 0
    common = tokens_a & tokens_b
    only_a, only_b = " ".join(sorted(tokens_a - tokens_b)), " ".join(sorted(tokens_b - tokens_a))
    if common and (not only_a or not only_b):
        return 100
    common_length = len(" ".join(sorted(common)))
    separator = 1 if common_length else 0
    with_a, with_b = common_length + separator + len(only_a), common_length + separator + len(only_b)
    # "common only_a" vs "common only_b" differ exactly where only_a and only_b differ.
    best = _normalized(len(only_a) + len(only_b) - 2 * _lcs_length(only_a, only_b), with_a + with_b)
    if common_length:
        best = max(best, _normalized(separator + len(only_a), common_length + with_a),
                   _normalized(separator + len(only_b), common_length + with_b))
    return int(round(best))


def normalize_color(option: str) -> str:
    """The first COLOR_SET word contained in ``option``, else ``option`` unchanged."""
    for color in COLOR_SET:
        if color in option:
            return color
    return option


def _fuzzy_match(left: str, right: str) -> bool:
    return token_set_ratio(left, right) > FUZZY_THRESHOLD


# -- nouns ---------------------------------------------------------------------------------------
_FUNCTION_WORDS = frozenset("""
a an the and or but nor for so yet of in on at to from by with without into onto over under about above below
between through during before after up down out off near per via as than then that this these those it its
is are was were be been being am do does did have has had not no i me my we our you your he she they them
their his her which who whom whose what when where why how all any both each few more most other some such
only own same too very can will just should would could may might must shall also plus x
""".split())
# Adjectives frequent in product titles; the fallback cannot tell them from nouns by shape alone.
_TITLE_ADJECTIVES = frozenset("""
new best premium large small big mini long short soft hard high low heavy light lightweight extra super ultra
natural organic free fresh pure real original classic modern vintage portable adjustable waterproof wireless
electric digital professional perfect simple easy quick fast slow warm cold hot cool dry wet thin thick
black white red blue green yellow pink purple orange brown gray grey silver golden clear dark
non anti multi full half double single triple sweet sour spicy dark mild strong safe comfortable durable
""".split())
_ADJECTIVE_SUFFIXES = ("ous", "ful", "less", "able", "ible", "ive", "ly")


def fallback_nouns(text: str) -> list[str]:
    """Nouns by a deterministic heuristic when spaCy has no model: alphabetic words of 2+ letters
    that are not function words, common title adjectives, or shaped like adjectives/adverbs
    (-ous, -ful, -less, -able, -ible, -ive, -ly; -ed past participles of 5+ letters)."""
    nouns = []
    for word in re.findall(r"[a-z]+", text.lower()):
        if len(word) < 2 or word in _FUNCTION_WORDS or word in _TITLE_ADJECTIVES:
            continue
        if word.endswith(_ADJECTIVE_SUFFIXES) or (len(word) >= 5 and word.endswith("ed")):
            continue
        nouns.append(word)
    return nouns


@lru_cache(maxsize=1)
def _spacy_model():
    try:
        import spacy
    except ImportError:
        return None
    for name in ("en_core_web_lg", "en_core_web_sm"):  # IPR loads lg, WebShop sm
        try:
            return spacy.load(name)
        except OSError:
            continue
    return None


@lru_cache(maxsize=1 << 16)
def nouns(text: str) -> tuple[str, ...]:
    """Lowercased NOUN/PROPN tokens of ``text`` (spaCy when a model is installed, else the fallback)."""
    model = _spacy_model()
    if model is None:
        return tuple(fallback_nouns(text))
    return tuple(t.text.lower() for t in model(text) if t.pos_ in ("NOUN", "PROPN"))


def noun_source() -> str:
    """Which noun extractor is in use (for logs and the README measurement)."""
    model = _spacy_model()
    return f"spacy:{model.meta['name']}" if model is not None else "fallback"


# -- the reward ----------------------------------------------------------------------------------
NounFn = Callable[[str], Sequence[str]]


def type_factor(product: Mapping, goal: Mapping, noun_fn: NounFn = nouns) -> float:
    """r_type: 1, or 0.5 when query, categories (< 2 shared) and title nouns (<= 0.2) all disagree,
    0.1 when under a tenth of the goal's title nouns are in the product's, 0 when none are."""
    query_match = product["query"] == goal["query"]
    categories = {c.strip() for c in product["product_category"].split("›")}
    goal_categories = {c.strip() for c in goal["product_category"].split("›")}
    category_match = len(categories & goal_categories) >= 2
    wanted = set(noun_fn(goal["name"]))
    title_score = len(set(noun_fn(product["name"])) & wanted) / len(wanted) if wanted else 0.2
    factor = 1.0
    if not (query_match or category_match or title_score > 0.2):
        factor = 0.5
    if title_score < 0.1:
        factor = 0.1
    if title_score == 0.0:
        factor = 0.0
    return factor


def attribute_matches(product: Mapping, goal_attributes: Iterable[str]) -> int:
    """Goal attributes matched by a product attribute (fuzzy), else found in title/bullets/description."""
    texts = (product["Title"].lower(), " ".join(product["BulletPoints"]).lower(), product["Description"].lower())
    count = 0
    for wanted in goal_attributes:
        if any(_fuzzy_match(have, wanted) for have in product["Attributes"]) or any(wanted in t for t in texts):
            count += 1
    return count


def goal_option_list(goal: Mapping) -> list[str]:
    """Goal options as a list of values (human goals store a list; synthetic goals a name -> value dict)."""
    options = goal["goal_options"]
    return list(options.values()) if isinstance(options, Mapping) else list(options)


def option_matches(chosen: Iterable[str], goal_options: Iterable[str]) -> int:
    """Goal options matched (after colour normalisation) by some chosen option value."""
    chosen = [normalize_color(o) for o in chosen]
    return sum(any(_fuzzy_match(have, normalize_color(wanted)) for have in chosen) for wanted in goal_options)


@dataclass(frozen=True)
class RewardParts:
    attribute_matches: int
    option_matches: int
    price_ok: bool
    type_factor: float
    num_attributes: int
    num_options: int

    @property
    def total(self) -> float:
        matched = self.attribute_matches + self.option_matches + int(self.price_ok)
        return matched / (self.num_attributes + self.num_options + 1) * self.type_factor


def reward_parts(product: Mapping, goal: Mapping, price: float, chosen: Iterable[str],
                 noun_fn: NounFn = nouns) -> RewardParts:
    goal_options = goal_option_list(goal)
    return RewardParts(
        attribute_matches=attribute_matches(product, goal["attributes"]),
        option_matches=option_matches(chosen, goal_options),
        price_ok=price <= goal["price_upper"],
        type_factor=type_factor(product, goal, noun_fn),
        num_attributes=len(goal["attributes"]),
        num_options=len(goal_options),
    )


def purchase_reward(product: Mapping, goal: Mapping, price: float, chosen: Iterable[str],
                    noun_fn: NounFn = nouns) -> float:
    """The reward of buying ``product`` at ``price`` with option values ``chosen`` for ``goal``."""
    return reward_parts(product, goal, price, chosen, noun_fn).total


def best_options(product: Mapping, goal: Mapping, chosen: Mapping[str, str]) -> dict[str, str]:
    """Option values (group -> value) that match the most goal options, keeping the ``chosen`` ones.

    Groups where no value matches a goal option are left out (choosing them changes nothing).
    """
    goal_options = [normalize_color(o) for o in goal_option_list(goal)]
    candidates: list[list[tuple[str, str]]] = []
    for group, values in product["options"].items():
        if group in chosen:
            candidates.append([(group, chosen[group])])
            continue
        useful = [(group, v) for v in values if any(_fuzzy_match(normalize_color(v), g) for g in goal_options)]
        if useful:
            candidates.append(useful)
    best, best_count = dict(chosen), -1
    for combination in itertools.product(*candidates):
        count = option_matches([value for _, value in combination], goal_option_list(goal))
        if count > best_count:
            best, best_count = dict(combination), count
    return best


def best_reward(product: Mapping, goal: Mapping, price: float, chosen: Mapping[str, str],
                noun_fn: NounFn = nouns) -> float:
    """The best reward over the option combinations consistent with ``chosen`` (a page score)."""
    return purchase_reward(product, goal, price, best_options(product, goal, chosen).values(), noun_fn)
