"""The scripted WebShop expert: search the goal's keywords, open the best product on the first
results page (the goal's own product when it is there), choose the goal's options, buy.

Thoughts are one short sentence so that a tiny model can learn them; the trajectory is played in
the environment, so its observations and reward are the real ones.
"""

from __future__ import annotations

from ipr.envs.webshop.env import BUY_NOW, WebShopEnv
from ipr.envs.webshop.reward import best_options


def search_keywords(goal: dict) -> str:
    """The goal's attributes and its product's search query, e.g. ``sugar free chocolate bar``."""
    return " ".join([*goal["attributes"], goal["query"]]).lower()


def _assistant(thought: str, action: str) -> dict:
    return {"role": "assistant", "content": f"Thought: {thought}\nAction: {action}"}


def run_expert(env: WebShopEnv, goal: dict) -> dict:
    """Play the expert on ``goal``; return ``{"messages", "reward", "success", "steps"}``."""
    messages = [{"role": "user", "content": env.reset(goal)}]
    result = None

    def act(thought: str, action: str) -> bool:
        nonlocal result
        if result is not None:
            messages.append({"role": "user", "content": f"Observation: {result.observation}"})
        messages.append(_assistant(thought, action))
        result = env.step(action)
        return result.done

    keywords = search_keywords(goal)
    done = act(f"I should search for {keywords}.", f"search[{keywords}]")
    shown = env.page_asins()
    if not done and shown:
        target = goal["asin"] if goal["asin"] in shown else max(
            shown, key=lambda asin: (env.product_score(asin), -shown.index(asin)))
        done = act(f"{target} matches what I need.", f"click[{target}]")
        chosen = best_options(env.store.product(target), goal, {}, env.fuzzy)
        for value in chosen.values():
            if done:
                break
            done = act(f"I should choose {value}.", f"click[{value}]")
        if not done:
            act("Everything matches, so I will buy it.", f"click[{BUY_NOW}]")
    steps = sum(m["role"] == "assistant" for m in messages)
    return {"messages": messages, "reward": float(result.reward), "success": bool(result.success), "steps": steps}
