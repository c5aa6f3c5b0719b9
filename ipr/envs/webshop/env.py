"""Text-mode WebShop: the original's pages, ``[SEP]``-joined observation strings and action rules.

Pages: search (start), results (``results_per_page`` of the top 50 hits per page), item (option
groups, Description/Features/Reviews/Buy Now), the three item sub-pages, and the purchase page.
Actions are ``search[keywords]`` (valid on every page, as in the original text env) and
``click[x]`` where ``x``, lowercased, is one of the page's clickables: button texts, ASINs on a
results page, option values on an item page (``search`` itself is never clickable). Anything else
leaves the page as it was. Buy Now ends the episode with the purchase reward; reaching
``max_turns`` without buying ends it with 0 (ETO's rule; ``turn_limit_reward: last_page_score`` is
IPR's code, which keeps the last page's score). docs/fidelity/webshop.md lists each rule's source.

The state is a small immutable value, so ``snapshot``/``restore`` are exact and cheap; products
and search results come from a per-process :class:`ProductStore`.
"""

from __future__ import annotations

import json
import random
import re
import dataclasses
from dataclasses import dataclass, replace
from pathlib import Path

from ipr.envs.base import StepResult, state_key_of
from ipr.envs.webshop.reward import FUZZY_MATCHERS, best_reward, mean_reward, purchase_reward
from ipr.envs.webshop.store import CATALOG_FILE, SEARCH_TOP_K, ProductStore, open_store
from ipr.records import config_from
from ipr.records import help_field as _help

SETTINGS_FILE = "webshop.json"
RESULTS_PER_PAGE = 10  # WebShop's PRODUCT_WINDOW
SEP = " [SEP] "
BACK_TO_SEARCH, NEXT_PAGE, PREV_PAGE, BUY_NOW = "Back to Search", "Next >", "< Prev", "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")
EPISODE_OVER = "The episode is over."
# The original's parse_action: re.match (anchored at the start only, so text after the closing
# bracket is ignored), "." stops at a newline, and nothing is stripped.
_ACTION = re.compile(r"(.+)\[(.+)\]")
PAGE_SCORES = ("ipr", "best")
TURN_LIMIT_REWARDS = ("zero", "last_page_score")
RANDOM_SEARCH_SEED = 233  # '<r>' searches draw from a generator seeded per keyword string


@dataclass(frozen=True)
class PageState:
    """Where the episode is; ``page`` is search | results | item | description | features | reviews | done."""
    goal: dict
    page: str = "search"
    keywords: str = ""
    page_number: int = 1
    asin: str | None = None
    options: tuple[tuple[str, str], ...] = ()  # (group, value) in click order, one per group
    turns: int = 0
    done: bool = False
    reward: float = 0.0
    last_valid: bool = True  # whether the last action changed or re-rendered the page (IPR scores others 0)


def parse_action(action: str | None) -> tuple[str, str | None]:
    """(name, lowercased argument or None), as WebShop's ``parse_action`` and text env's ``step``:
    ``click[buy now] thanks`` is (click, buy now); ``click [x]`` is ("click ", x), which clicks nothing."""
    match = _ACTION.match(action or "")
    if match is None:
        return action or "", None
    return match.group(1), match.group(2).lower()


def _text_entries(text: str) -> list[str]:
    """What one rendered text node becomes in the original's text mode: nothing for an empty value,
    nothing for whitespace with a newline (BeautifulSoup reduces it to "\\n", which is skipped), an
    empty entry for other whitespace, else the text trimmed."""
    if text == "" or (not text.strip() and "\n" in text):
        return []
    return [text.strip()]


def _tojson(value) -> str:
    """Flask 2.1's ``tojson`` filter as the done page renders it: sorted keys, ASCII, HTML-safe."""
    text = json.dumps(value, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")


@dataclass(frozen=True, kw_only=True)
class WebShopAssetSettings:
    """The keys of an asset folder's ``webshop.json`` that the environment reads (the generator
    writes them there with its own provenance: benchmark, version, seed, catalog, splits)."""

    results_per_page: int = _help("search results per page", RESULTS_PER_PAGE)
    page_score: str = _help("reward of the page-level score", "ipr")
    turn_limit_reward: str = _help("reward of an episode that runs out of turns", "zero")
    fuzzy_matcher: str = _help("attribute matcher of the purchase reward", "original")

    @classmethod
    def from_assets(cls, assets_dir: Path) -> WebShopAssetSettings:
        """The settings in ``assets_dir/webshop.json``; every default where the file is missing."""
        path = Path(assets_dir) / SETTINGS_FILE
        if not path.is_file():
            return cls()
        names = {f.name for f in dataclasses.fields(cls)}
        return config_from(cls, {k: v for k, v in json.loads(path.read_text()).items() if k in names}, str(path))


class WebShopEnv:
    """One WebShop episode over the catalog in ``assets_dir`` (``catalog.sqlite`` + ``webshop.json``)."""

    def __init__(self, assets_dir: Path, max_turns: int, page_score: str | None = None,
                 turn_limit_reward: str | None = None, fuzzy_matcher: str | None = None):
        """``page_score``, ``turn_limit_reward`` and ``fuzzy_matcher`` default to ``webshop.json``'s
        values, else ipr / zero / original."""
        self.assets_dir = Path(assets_dir)
        self.max_turns = int(max_turns)
        self.store: ProductStore = open_store(str(self.assets_dir / CATALOG_FILE))
        settings_path = self.assets_dir / SETTINGS_FILE
        settings = WebShopAssetSettings.from_assets(self.assets_dir)
        self.results_per_page = settings.results_per_page
        self.page_score_mode = page_score or settings.page_score
        self.turn_limit_reward = turn_limit_reward or settings.turn_limit_reward
        self.fuzzy_matcher = fuzzy_matcher or settings.fuzzy_matcher
        for field, value, allowed in (("page_score", self.page_score_mode, PAGE_SCORES),
                                      ("turn_limit_reward", self.turn_limit_reward, TURN_LIMIT_REWARDS),
                                      ("fuzzy_matcher", self.fuzzy_matcher, tuple(FUZZY_MATCHERS))):
            if value not in allowed:
                raise ValueError(f"{settings_path}: {field} is {value!r}; allowed: {', '.join(allowed)}")
        self.fuzzy = FUZZY_MATCHERS[self.fuzzy_matcher]
        self._state: PageState | None = None

    # -- Env protocol -------------------------------------------------------------------------
    def reset(self, task: dict) -> str:
        self._state = PageState(goal=task)
        return self.observation()

    def step(self, action: str | None) -> StepResult:
        state = self._require_state()
        if state.done:
            return StepResult(EPISODE_OVER, state.reward, True, self._success(state))
        state = self._apply(state, action)
        state = replace(state, turns=state.turns + 1)
        if not state.done and state.turns >= self.max_turns:
            # Timed out without buying: 0 (ETO, the default), or IPR's code's reward, the score of the
            # page reached, which credits a good page the agent never bought from (a leak).
            reward = self._score(state, "ipr") if self.turn_limit_reward == "last_page_score" else 0.0
            state = replace(state, done=True, reward=reward)
        self._state = state
        return StepResult(self.observation(), state.reward, state.done, self._success(state))

    @staticmethod
    def _success(state: PageState) -> bool:
        """A purchase with reward 1 (a turn-limit page score is never a success, as in IPR)."""
        return state.page == "done" and state.reward == 1.0

    def snapshot(self) -> PageState:
        return self._require_state()

    def restore(self, snapshot: PageState) -> None:
        self._state = snapshot

    def close(self) -> None:
        """Nothing to release: the catalog and search index are shared, read-only."""

    def state_key(self) -> str:
        return state_key_of(self.snapshot())

    # -- pages ----------------------------------------------------------------------------------
    @property
    def state(self) -> PageState:
        return self._require_state()

    def hits(self) -> tuple[str, ...]:
        return self.search_hits(self.state.keywords) if self.state.keywords else ()

    def search_hits(self, keywords: str) -> tuple[str, ...]:
        """ASINs a search shows, with the original's prefixes on the first space-separated word:
        ``<r>`` 50 random products (seeded by the keywords here, unseeded there), ``<c> x`` every
        product of category x, ``<q> x`` every product scraped for query x; ``<a>``, which raises in
        the original's text env, finds nothing. Anything else is a BM25 search."""
        words = keywords.split(" ")
        if words[0] == "<r>":
            asins = self.store.all_asins()
            return tuple(random.Random(f"{RANDOM_SEARCH_SEED}:{keywords}").sample(asins, min(SEARCH_TOP_K, len(asins))))
        if words[0] == "<c>":
            return self.store.asins_where("category", words[1].strip()) if len(words) > 1 else ()
        if words[0] == "<q>":
            return self.store.asins_where("query", " ".join(words[1:]).strip())
        if words[0] == "<a>":
            return ()
        return self.store.search(keywords)

    def page_asins(self) -> tuple[str, ...]:
        start = (self.state.page_number - 1) * self.results_per_page
        return self.hits()[start:start + self.results_per_page]

    def clickables(self) -> dict[str, str]:
        """Lowercased clickable text -> its kind (button | asin | option:<group>), as the page shows."""
        state = self.state
        found: dict[str, str] = {}
        if state.page == "results":
            found[BACK_TO_SEARCH.lower()] = "button"
            if state.page_number > 1:
                found[PREV_PAGE.lower()] = "button"
            found[NEXT_PAGE.lower()] = "button"  # shown on every results page, the last included
            found.update({asin.lower(): "asin" for asin in self.page_asins()})
        elif state.page == "item":
            found.update({name.lower(): "button" for name in (BACK_TO_SEARCH, PREV_PAGE, *SUB_PAGES, BUY_NOW)})
            # Option values last, as the original builds its map: a value in two groups goes to the last.
            for group, values in self.store.product(state.asin)["options"].items():
                found.update({value: f"option:{group}" for value in values})
        elif state.page in ("description", "features", "reviews"):
            found.update({BACK_TO_SEARCH.lower(): "button", PREV_PAGE.lower(): "button"})
        return found

    def observation(self) -> str:
        """The page's visible strings joined with `` [SEP] ``, as the original's ``text`` mode renders
        its templates (entries trimmed; blank ones kept where the original keeps them)."""
        state = self.state
        instruction = state.goal["instruction_text"]
        if state.page == "search":
            return SEP.join(["WebShop", "Instruction:", *_text_entries(instruction), "Search"])
        if state.page == "done":
            # The purchase page's hidden blocks are text too; the text env fills only asin, options and
            # the reward, so the other fields print None or nothing.
            return SEP.join([
                "Thank you for shopping with us!", "Your code:", "None", "(Paste it in your MTurk interface.)",
                "Purchased", "asin", *_text_entries(state.asin), "options",
                _tojson({group.lower(): value for group, value in state.options}),  # keys as the radio names
                "attrs", "None", "category", "None", "query", "None", "product category", "None",
                "Target", "asin", "options", "attrs", "price upper", "instuction text", "category",
                "product category", "query", "Goal", "None", "Reward", "Your score (min 0.0, max 1.0)",
                f"{state.reward}", "Reward Details", "None"])
        parts = ["Instruction:", *_text_entries(instruction), BACK_TO_SEARCH]
        if state.page == "results":
            parts.append(f"Page {state.page_number} (Total results: {len(self.hits())})")
            if state.page_number > 1:
                parts.append(PREV_PAGE)
            parts.append(NEXT_PAGE)
            for asin in self.page_asins():
                product = self.store.product(asin)
                parts += [*_text_entries(asin), *_text_entries(str(product.get("Title", ""))),
                          *_text_entries(str(product.get("Price", "")))]
            return SEP.join(parts)
        product = self.store.product(state.asin)
        parts.append(PREV_PAGE)
        if state.page == "item":
            for group, values in product["options"].items():
                parts += _text_entries(str(group))
                for value in values:
                    parts += _text_entries(str(value))
            parts += [*_text_entries(str(product.get("Title", ""))), f"Price: {product.get('Price', '')}".strip(),
                      f"Rating: {product.get('Rating', '')}".strip(), *SUB_PAGES, BUY_NOW]
        elif state.page == "description":
            parts += _text_entries(str(product.get("Description", "")))
        elif state.page == "features":
            for bullet in product.get("BulletPoints", ()):
                parts += _text_entries(f" {bullet}")
        else:  # reviews: the title in quotes, the score, the body
            for review in product.get("Reviews", ()):
                parts.append(f'"{review.get("title", "")}"'.strip())
                parts += _text_entries(str(review.get("score", "")))
                parts += _text_entries(str(review.get("body", "")))
        return SEP.join(parts)

    def page_score(self, mode: str | None = None) -> float:
        """Step-level score of the current page (paper Appendix B). ``ipr`` (the default), as IPR's
        WebShop code defines it: results = the best product's mean reward over all its option
        combinations, item = the best combination keeping the chosen options, purchase = the reward,
        search page, sub-pages and any state after an action that did nothing = 0. ``best``: results
        = the best product's best combination, and sub-pages score as their item page."""
        return self._score(self.state, mode or self.page_score_mode)

    def _score(self, state: PageState, mode: str) -> float:
        if state.page == "done":
            return state.reward
        if mode == "ipr" and not state.last_valid:
            return 0.0
        if state.page == "results":
            asins = self._page_asins(state)
            if mode == "ipr":
                goal = state.goal
                return max((mean_reward(p, goal, p["price"], fuzzy=self.fuzzy) for p in map(self.store.product, asins)),
                           default=0.0)
            return max((self._product_score(state, asin, {}) for asin in asins), default=0.0)
        if state.page == "item" or (mode == "best" and state.asin is not None and state.page != "search"):
            return self._product_score(state, state.asin, dict(state.options))
        return 0.0

    # -- transitions ------------------------------------------------------------------------------
    def _require_state(self) -> PageState:
        if self._state is None:
            raise RuntimeError("WebShopEnv used before reset")
        return self._state

    def product_score(self, asin: str, chosen: dict[str, str] | None = None) -> float:
        """Best reward of buying ``asin`` for this goal, over option combinations keeping ``chosen``."""
        return self._product_score(self.state, asin, chosen or {})

    def _product_score(self, state: PageState, asin: str, chosen: dict[str, str]) -> float:
        product = self.store.product(asin)
        return best_reward(product, state.goal, product["price"], chosen, fuzzy=self.fuzzy)

    def _page_asins(self, state: PageState) -> tuple[str, ...]:
        hits = self.search_hits(state.keywords) if state.keywords else ()
        start = (state.page_number - 1) * self.results_per_page
        return hits[start:start + self.results_per_page]

    def _apply(self, state: PageState, action: str | None) -> PageState:
        """The state after ``action``, marked whether the action did something (the original answers
        an action it cannot parse or click with reward 0 and the page unchanged)."""
        changed = self._transition(state, action)
        return replace(state, last_valid=False) if changed is None else replace(changed, last_valid=True)

    def _transition(self, state: PageState, action: str | None) -> PageState | None:
        name, argument = parse_action(action)
        if name == "search" and argument:
            return replace(state, page="results", keywords=argument, page_number=1, asin=None, options=())
        if name != "click" or argument is None or argument == "search":
            return None
        target = self.clickables().get(argument)
        if target is None:
            return None
        if target.startswith("option:"):
            options = dict(state.options)
            options[target.removeprefix("option:")] = argument
            return replace(state, options=tuple(options.items()))
        if argument == BACK_TO_SEARCH.lower():
            return replace(state, page="search", keywords="", page_number=1, asin=None, options=())
        if state.page == "results":
            if argument == NEXT_PAGE.lower():
                return replace(state, page_number=state.page_number + 1)
            if argument == PREV_PAGE.lower():
                return replace(state, page_number=state.page_number - 1)
            return replace(state, page="item", asin=argument.upper())
        if argument == PREV_PAGE.lower():  # item -> its results page (options reset); sub-page -> item
            if state.page == "item":
                return replace(state, page="results", asin=None, options=())
            return replace(state, page="item")
        if argument == BUY_NOW.lower():
            product = self.store.product(state.asin)
            reward = purchase_reward(product, state.goal, product["price"], [v for _, v in state.options],
                                     fuzzy=self.fuzzy)
            return replace(state, page="done", done=True, reward=reward)
        return replace(state, page=argument)  # description | features | reviews
