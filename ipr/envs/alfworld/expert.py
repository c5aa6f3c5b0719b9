"""The scripted ALFWorld expert: search, take, transform, place, with one short ReAct thought per action.

It searches the receptacles that can hold the wanted object in one fixed order (the catalog's
receptacle types, then numbers from 1), opening closed ones, so its search is a policy a model can
learn rather than an oracle's shortcut; the generator only keeps games it solves within the turn
limit. The plan is computed on the simulator; :func:`run_expert` then plays it in the environment
so the stored observations are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from ipr.envs.alfworld.world import (
    CAN_CONTAIN, COOLER, HEATER, LAMP, OPENABLE, SINKS, Household, HouseholdState, entity_type,
)
from ipr.envs.base import Env

_TRANSFORM = {  # task type -> (verb, appliance types)
    "pick_clean_then_place_in_recep": ("clean", SINKS),
    "pick_heat_then_place_in_recep": ("heat", frozenset({HEATER})),
    "pick_cool_then_place_in_recep": ("cool", frozenset({COOLER})),
}
_RECEPTACLE_RANK = {kind: rank for rank, kind in enumerate(CAN_CONTAIN)}


def _by_number(name: str) -> tuple[int, int]:
    return _RECEPTACLE_RANK[entity_type(name)], int(name.rpartition(" ")[2])


def search_order(household: Household, kind: str, target: str) -> list[str]:
    """Receptacles where a ``kind`` may be, in the expert's order; never the target type."""
    places = [r for r in household.receptacles if kind in CAN_CONTAIN[entity_type(r)] and entity_type(r) != target]
    return sorted(places, key=_by_number)


def first_of(household: Household, kinds: frozenset[str] | set[str]) -> str | None:
    """The lowest-numbered receptacle of one of ``kinds`` (in catalog order), or None."""
    found = sorted((r for r in household.receptacles if entity_type(r) in kinds), key=_by_number)
    return found[0] if found else None


class _Planner:
    """Builds the plan while stepping a private copy of the game."""

    def __init__(self, household: Household):
        self.household = household
        self.state: HouseholdState = household.initial_state()
        self.plan: list[tuple[str, str]] = []

    def do(self, thought: str, action: str) -> None:
        state, feedback = self.household.step(self.state, action)
        if state == self.state and feedback == "Nothing happens.":
            raise ValueError(f"expert action {action!r} is not admissible")
        self.state = state
        self.plan.append((thought, action))

    def go(self, thought: str, receptacle: str) -> None:
        """Go to ``receptacle`` (unless already there) and open it if it is closed."""
        if self.state.location != receptacle:
            self.do(thought, f"go to {receptacle}")
        if entity_type(receptacle) in OPENABLE and receptacle not in self.state.opened:
            self.do(f"The {receptacle} is closed. I open it.", f"open {receptacle}")

    def fetch(self, kind: str, target: str, first: bool) -> str:
        """Search for an object of ``kind`` and take it; return its name."""
        need = f"I need a {kind}." if first else f"I need a second {kind}."
        for index, receptacle in enumerate(search_order(self.household, kind, target)):
            self.go(f"{need} I check {receptacle}." if index == 0 else f"No {kind} here. I check {receptacle}.",
                    receptacle)
            found = [o for o in self.state.inside(receptacle) if entity_type(o) == kind]
            if found:
                self.do(f"I see {found[0]}. I take it.", f"take {found[0]} from {receptacle}")
                return found[0]
        raise ValueError(f"no {kind} to find")

    def place(self, obj: str, target: str) -> None:
        destination = first_of(self.household, {target})
        self.go(f"Now I put the {obj} in {destination}.", destination)
        self.do(f"I put the {obj} in {destination}.", f"put {obj} in/on {destination}")


def expert_actions(game: dict) -> list[tuple[str, str]]:
    """(thought, action) pairs that solve ``game``; raises ValueError if the script cannot."""
    household = Household(game)
    planner = _Planner(household)
    kind, target, task_type = game["object"], game["target"], game["task_type"]
    obj = planner.fetch(kind, target, first=True)
    if task_type == "look_at_obj_in_light":
        lamp = next(o for o, _ in planner.state.contents if entity_type(o) == LAMP)
        planner.go(f"Now I take the {obj} to the {lamp}.", planner.state.receptacle_of(lamp))
        planner.do(f"I turn on the {lamp}.", f"use {lamp}")
    else:
        if task_type in _TRANSFORM:
            verb, appliances = _TRANSFORM[task_type]
            appliance = first_of(household, appliances)
            if planner.state.location != appliance:
                planner.do(f"Now I {verb} the {obj} with {appliance}.", f"go to {appliance}")
            planner.do(f"I {verb} the {obj}.", f"{verb} {obj} with {appliance}")
        planner.place(obj, target)
        if task_type == "pick_two_obj_and_place":
            planner.place(planner.fetch(kind, target, first=False), target)
    if not planner.state.won:
        raise ValueError("the expert's plan does not reach the goal")
    return planner.plan


def run_expert(env: Env, task: dict, plan: Iterable[tuple[str, str]] | None = None) -> dict:
    """Play the expert in ``env``; return ``{"messages", "reward", "success", "steps"}``.

    ``plan`` (default: :func:`expert_actions` of ``task["game"]``) is read one step at a time, after
    the previous step was played, so it may be computed from the env's state as it goes.
    """
    messages = [{"role": "user", "content": env.reset(task)}]
    result = None
    for thought, action in plan if plan is not None else expert_actions(task["game"]):
        if result is not None:
            messages.append({"role": "user", "content": f"Observation: {result.observation}"})
        messages.append({"role": "assistant", "content": f"Thought: {thought}\nAction: {action}"})
        result = env.step(action)
        if result.done:
            break
    if result is None:  # an empty plan
        return {"messages": messages, "reward": 0.0, "success": False, "steps": 0}
    steps = sum(m["role"] == "assistant" for m in messages)
    return {"messages": messages, "reward": float(result.reward), "success": bool(result.success), "steps": steps}


# The one-shot example of the prompt header: a tiny kitchen, heat an egg found in the closed fridge.
EXAMPLE_GAME = {
    "task_type": "pick_heat_then_place_in_recep", "object": "egg", "target": "sidetable",
    "goal_text": "heat some egg and put it in sidetable.",
    "receptacles": [{"name": "fridge 1", "type": "fridge"}, {"name": "microwave 1", "type": "microwave"},
                    {"name": "sidetable 1", "type": "sidetable"}],
    "objects": [{"name": "egg 1", "type": "egg", "in": "fridge 1"}],
}


def example_text(env: Env) -> str:
    """The expert's trajectory on :data:`EXAMPLE_GAME` as plain text, for the prompt header."""
    messages = run_expert(env, {"game": EXAMPLE_GAME})["messages"]
    return "\n".join(m["content"] for m in messages)
