"""Write an embedded game in the real engine's game-file format (ALFWorld's ``game.tw-pddl``).

A game file is JSON with the PDDL domain, the text grammar (its ``UNKNOWN GOAL`` replaced by the task,
as alfworld's ``add_task_to_grammar`` does), the PDDL problem, ``solvable`` and a ``walkthrough``.
Domain and grammar are read from the installed ``alfworld`` package (0.3.4, the json_2.1.1 grammar
with ``put X in/on Y``): they are never copied into this repository.

Entity ids follow ALFRED's mangling so that alfworld's ``Demangler`` names them as the simulator
does: ids of one type are numbered in sorted order counting down, so ``cabinet 1`` of three
cabinets gets the id that sorts last; a ``...basin`` type is spelled ``<stem>_bar_..._bar_<type>``
because the demangler appends ``basin`` to any id that contains it.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ipr.envs.alfworld.expert import expert_actions
from ipr.envs.alfworld.world import CAN_CONTAIN, LAMP, OBJECT_PROPERTIES, OPENABLE, entity_type

# Types the domain's actions name (HeatObject, CleanObject, CoolObject, SliceObject): always declared.
DOMAIN_TYPES = ("sinkbasin", "bathtubbasin", "microwave", "fridge")
DOMAIN_OBJECT_TYPES = ("knife", "butterknife")


def alfworld_logic() -> tuple[str, str]:
    """(PDDL domain, grammar) of the installed alfworld package."""
    data = resources.files("alfworld") / "data"
    return (data / "alfred.pddl").read_text(), (data / "alfred.twl2").read_text()


def mangled_ids(names: list[str]) -> dict[str, str]:
    """Entity name ("cabinet 3") -> an ALFRED-style id that alfworld's Demangler turns back into it."""
    counts: dict[str, int] = {}
    for name in names:
        counts[entity_type(name)] = counts.get(entity_type(name), 0) + 1
    ids = {}
    for name in names:
        kind, number = entity_type(name), int(name.rpartition(" ")[2])
        code = f"_plus_{counts[kind] - number:02d}"
        ids[name] = f"{kind[:-5]}_bar_{code}_bar_{kind}" if kind.endswith("basin") else f"{kind}_bar_{code}"
    return ids


def _goal(game: dict) -> str:
    kind, target, task_type = f"{game['object']}type", f"{game['target']}type", game["task_type"]
    if task_type == "look_at_obj_in_light":
        return (f"(exists (?a - agent ?l - location ?r - receptacle ?lamp - object ?o - object) "
                f"(and (objectType ?lamp {LAMP}type) (isToggled ?lamp) (inReceptacle ?lamp ?r) "
                f"(receptacleAtLocation ?r ?l) (atLocation ?a ?l) (objectType ?o {kind}) (holds ?a ?o)))")
    if task_type == "pick_two_obj_and_place":
        return (f"(exists (?r - receptacle ?o1 - object ?o2 - object) (and (receptacleType ?r {target}) "
                f"(objectType ?o1 {kind}) (objectType ?o2 {kind}) (inReceptacle ?o1 ?r) (inReceptacle ?o2 ?r) "
                f"(not (= ?o1 ?o2))))")
    state = {"pick_clean_then_place_in_recep": " (isClean ?o)", "pick_heat_then_place_in_recep": " (isHot ?o)",
             "pick_cool_then_place_in_recep": " (isCool ?o)"}.get(task_type, "")
    return (f"(exists (?r - receptacle ?o - object) (and (receptacleType ?r {target}) "
            f"(objectType ?o {kind}) (inReceptacle ?o ?r){state}))")


def pddl_problem(game: dict) -> str:
    """The game's PDDL problem over alfworld's ``alfred`` domain: one location per receptacle."""
    receptacles = [r["name"] for r in game["receptacles"]]
    objects = game["objects"]
    ids = mangled_ids(receptacles + [o["name"] for o in objects])
    location = {r: f"loc_bar_{index}" for index, r in enumerate(receptacles, start=1)}
    rtypes = sorted({entity_type(r) for r in receptacles} | set(DOMAIN_TYPES))
    otypes = sorted({o["type"] for o in objects} | set(DOMAIN_OBJECT_TYPES))
    declared = (["agent1 - agent", "loc_bar_0 - location"] + [f"{loc} - location" for loc in location.values()]
                + [f"{t}type - rtype" for t in rtypes] + [f"{t}type - otype" for t in otypes]
                + [f"{ids[r]} - receptacle" for r in receptacles] + [f"{ids[o['name']]} - object" for o in objects])
    facts = ["(atLocation agent1 loc_bar_0)"]
    for r in receptacles:
        facts += [f"(receptacleAtLocation {ids[r]} {location[r]})", f"(receptacleType {ids[r]} {entity_type(r)}type)"]
        if entity_type(r) in OPENABLE:
            facts.append(f"(openable {ids[r]})")
    for o in objects:
        oid, kind = ids[o["name"]], o["type"]
        facts += [f"(objectType {oid} {kind}type)", f"(inReceptacle {oid} {ids[o['in']]})",
                  f"(objectAtLocation {oid} {location[o['in']]})"]
        if kind == LAMP:
            facts.append(f"(toggleable {oid})")
            continue
        facts.append(f"(pickupable {oid})")
        for flag, predicate in zip(OBJECT_PROPERTIES[kind], ("cleanable", "heatable", "coolable")):
            if flag:
                facts.append(f"({predicate} {oid})")
    facts += [f"(canContain {r}type {o}type)" for r in rtypes for o in otypes if o in CAN_CONTAIN.get(r, ())]
    lines = ["(define (problem ipr_embedded_game)", "(:domain alfred)", "(:objects"]
    lines += [f"    {d}" for d in declared] + [")", "(:init"] + [f"    {f}" for f in facts] + [")"]
    lines += [f"(:goal {_goal(game)})", ")"]
    return "\n".join(lines) + "\n"


def write_game_file(game: dict, path: str | Path) -> Path:
    """Write ``game`` as a ``game.tw-pddl`` file (needs the alfworld package installed)."""
    domain, grammar = alfworld_logic()
    data = {"pddl_domain": domain, "grammar": grammar.replace("UNKNOWN GOAL", game["goal_text"].rstrip(".")),
            "pddl_problem": pddl_problem(game), "solvable": True,
            "walkthrough": [action for _, action in expert_actions(game)]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path
