"""Text-mode WebShop: the original's pages, ``[SEP]``-joined observation strings and action rules.

Pages: search (start), results (``results_per_page`` of the top 50 hits per page), item (option
groups, Description/Features/Reviews/Buy Now), the three item sub-pages, and the purchase page.
Actions are ``search[keywords]`` (valid on every page, as in the original text env) and
``click[x]`` where ``x``, lowercased, is one of the page's clickables: button texts, ASINs on a
results page, option values on an item page (``search`` itself is never clickable). Anything else
leaves the page as it was. Buy Now ends the episode with the purchase reward; reaching
``max_turns`` without buying ends it with 0 (ETO's rule; IPR's code keeps the last page score).

The state is a small immutable value, so ``snapshot``/``restore`` are exact and cheap; products
and search results come from a per-process :class:`ProductStore`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ipr.envs.base import StepResult, state_key_of
from ipr.envs.webshop.reward import best_reward, purchase_reward
from ipr.envs.webshop.store import CATALOG_FILE, ProductStore, open_store

SETTINGS_FILE = "webshop.json"
RESULTS_PER_PAGE = 10  # WebShop's PRODUCT_WINDOW
SEP = " [SEP] "
BACK_TO_SEARCH, NEXT_PAGE, PREV_PAGE, BUY_NOW = "Back to Search", "Next >", "< Prev", "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")
EPISODE_OVER = "The episode is over."
_ACTION = re.compile(r"(.+)\[(.+)\]", re.DOTALL)  # the original's parse_action


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


def parse_action(action: str | None) -> tuple[str, str | None]:
    """(name, lowercased argument or None), as WebShop's ``parse_action``."""
    match = _ACTION.fullmatch((action or "").strip())
    if match is None:
        return (action or "").strip(), None
    return match.group(1).strip(), match.group(2).strip().lower()


class WebShopEnv:
    """One WebShop episode over the catalog in ``assets_dir`` (``catalog.sqlite`` + ``webshop.json``)."""

    def __init__(self, assets_dir: Path, max_turns: int):
        self.assets_dir = Path(assets_dir)
        self.max_turns = int(max_turns)
        self.store: ProductStore = open_store(str(self.assets_dir / CATALOG_FILE))
        settings_path = self.assets_dir / SETTINGS_FILE
        settings = json.loads(settings_path.read_text()) if settings_path.is_file() else {}
        self.results_per_page = int(settings.get("results_per_page", RESULTS_PER_PAGE))
        self._state: PageState | None = None

    # -- Env protocol -------------------------------------------------------------------------
    def reset(self, task: dict) -> str:
        self._state = PageState(goal=task)
        return self.observation()

    def step(self, action: str | None) -> StepResult:
        state = self._require_state()
        if state.done:
            return StepResult(EPISODE_OVER, state.reward, True, state.reward == 1.0)
        state = self._apply(state, action)
        state = replace(state, turns=state.turns + 1)
        if not state.done and state.turns >= self.max_turns:
            state = replace(state, done=True, reward=0.0)  # timed out without buying
        self._state = state
        return StepResult(self.observation(), state.reward, state.done, state.done and state.reward == 1.0)

    def snapshot(self) -> PageState:
        return self._require_state()

    def restore(self, snapshot: PageState) -> None:
        self._state = snapshot

    def state_key(self) -> str:
        return state_key_of(self.snapshot())

    # -- pages ----------------------------------------------------------------------------------
    @property
    def state(self) -> PageState:
        return self._require_state()

    def hits(self) -> tuple[str, ...]:
        return self.store.search(self.state.keywords) if self.state.keywords else ()

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
            if state.page_number * self.results_per_page < len(self.hits()):
                found[NEXT_PAGE.lower()] = "button"
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
        """The page's visible strings joined with `` [SEP] ``, as the original's ``text`` mode."""
        state = self.state
        instruction = state.goal["instruction_text"]
        if state.page == "search":
            return SEP.join(["WebShop", "Instruction:", instruction, "Search"])
        if state.page == "done":
            return SEP.join(["Thank you for shopping with us!", "Your code:", "None", "(Paste it in your MTurk interface.)",
                             "Purchased", "asin", state.asin, "options", json.dumps(dict(state.options)),
                             "Your score (min 0.0, max 1.0)", f"{state.reward}"])
        parts = ["Instruction:", instruction, BACK_TO_SEARCH]
        if state.page == "results":
            parts.append(f"Page {state.page_number} (Total results: {len(self.hits())})")
            clickable = self.clickables()
            parts += [b for b in (PREV_PAGE, NEXT_PAGE) if b.lower() in clickable]
            for asin in self.page_asins():
                product = self.store.product(asin)
                parts += [asin, product["Title"], product["Price"]]
            return SEP.join(parts)
        product = self.store.product(state.asin)
        parts.append(PREV_PAGE)
        if state.page == "item":
            for group, values in product["options"].items():
                parts += [group, *values]
            parts += [product["Title"], f"Price: {product['Price']}", f"Rating: {product['Rating']}",
                      *SUB_PAGES, BUY_NOW]
        elif state.page == "description":
            parts.append(product["Description"])
        elif state.page == "features":
            parts += product["BulletPoints"]
        else:  # reviews
            for review in product["Reviews"]:
                parts += [str(review.get("title", "")), str(review.get("score", "")), str(review.get("body", ""))]
        return SEP.join(p for p in parts if p.strip())

    def page_score(self) -> float:
        """Step-level score of the current page (paper Appendix B, after AgentBoard): results = best
        product on the page, item and its sub-pages = best over option combinations consistent with
        the chosen ones, purchase = the reward; the search page scores 0."""
        state = self.state
        if state.page == "done":
            return state.reward
        if state.page == "results":
            return max((self.product_score(asin, {}) for asin in self.page_asins()), default=0.0)
        if state.asin is not None and state.page != "search":
            return self.product_score(state.asin, dict(state.options))
        return 0.0

    # -- transitions ------------------------------------------------------------------------------
    def _require_state(self) -> PageState:
        if self._state is None:
            raise RuntimeError("WebShopEnv used before reset")
        return self._state

    def product_score(self, asin: str, chosen: dict[str, str] | None = None) -> float:
        """Best reward of buying ``asin`` for this goal, over option combinations keeping ``chosen``."""
        product = self.store.product(asin)
        return best_reward(product, self.state.goal, product["price"], chosen or {})

    def _apply(self, state: PageState, action: str | None) -> PageState:
        name, argument = parse_action(action)
        if name == "search" and argument:
            return replace(state, page="results", keywords=argument, page_number=1, asin=None, options=())
        if name != "click" or argument is None or argument == "search":
            return state
        target = self.clickables().get(argument)
        if target is None:
            return state
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
            reward = purchase_reward(product, state.goal, product["price"], [v for _, v in state.options])
            return replace(state, page="done", done=True, reward=reward)
        return replace(state, page=argument)  # description | features | reviews
