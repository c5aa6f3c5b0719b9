"""The embedded household simulator: ALFWorld's text game semantics in pure Python.

It mirrors the PDDL domain and grammar that alfworld 0.3.4 ships (``alfred.pddl``/``alfred.twl2``,
the json_2.1.1-era games the paper used, with ``put X in/on Y``): the same preconditions, the same
feedback sentences, ``Nothing happens.`` for any command that is not admissible, and the goals of the
six task types. Observations are given as IPR's harness shows them: without TextWorld's
``You arrive at loc N.`` prefix and with the intro's blank line collapsed.

A game is a JSON-able dict (it is the ``task["game"]`` of a data record)::

    {"task_type": "pick_heat_then_place_in_recep", "goal_text": "heat some egg and put it in sidetable.",
     "object": "egg", "target": "sidetable", "lamp": None,
     "receptacles": [{"name": "microwave 1", "type": "microwave"}, ...],
     "objects": [{"name": "egg 1", "type": "egg", "in": "countertop 1"}, ...]}

Object and receptacle properties (openable, cleanable, which receptacle holds what, ...) come from
the catalog below, so a game file names only what differs between games.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

NOTHING_HAPPENS = "Nothing happens."

TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)

# Receptacle types: openable or not. The appliances the three state-changing actions need.
OPENABLE = frozenset({"cabinet", "drawer", "fridge", "microwave", "safe"})
SINKS = frozenset({"sinkbasin", "bathtubbasin"})
HEATER, COOLER = "microwave", "fridge"
LAMP = "desklamp"

# Object types: (cleanable, heatable, coolable). A lamp is the one toggleable, not pickupable object.
OBJECT_PROPERTIES: dict[str, tuple[bool, bool, bool]] = {
    "apple": (True, True, True), "bread": (False, True, True), "egg": (True, True, True),
    "lettuce": (True, False, True), "potato": (True, True, True), "tomato": (True, True, True),
    "mug": (True, True, True), "cup": (True, True, True), "plate": (True, True, True),
    "bowl": (True, True, True), "pan": (True, False, True), "pot": (True, False, True),
    "fork": (True, False, False), "spoon": (True, False, False), "knife": (True, False, False),
    "spatula": (True, False, False), "ladle": (True, False, False), "winebottle": (False, False, True),
    "saltshaker": (False, False, False), "peppershaker": (False, False, False),
    "dishsponge": (True, False, False), "soapbar": (True, False, False), "cloth": (True, False, False),
    "soapbottle": (False, False, False), "spraybottle": (False, False, False),
    "toiletpaper": (False, False, False), "candle": (False, False, False), "tissuebox": (False, False, False),
    "book": (False, False, False), "cd": (False, False, False), "pen": (False, False, False),
    "pencil": (False, False, False), "cellphone": (False, False, False), "alarmclock": (False, False, False),
    "keychain": (False, False, False), "creditcard": (False, False, False), "pillow": (False, False, False),
    "remotecontrol": (False, False, False), "laptop": (False, False, False), "newspaper": (False, False, False),
    "statue": (False, False, False), "vase": (False, False, False), "watch": (False, False, False),
    "box": (False, False, False), LAMP: (False, False, False),
}

FOOD = ("apple", "bread", "egg", "lettuce", "potato", "tomato")
DISHES = ("mug", "cup", "plate", "bowl")
COOKWARE = ("pan", "pot")
UTENSILS = ("fork", "spoon", "knife", "spatula", "ladle")
SPICES = ("saltshaker", "peppershaker", "winebottle")
BATH = ("soapbar", "soapbottle", "spraybottle", "toiletpaper", "candle", "cloth", "tissuebox", "dishsponge")
DESK = ("book", "cd", "pen", "pencil", "cellphone", "alarmclock", "keychain", "creditcard")
LIVING = ("remotecontrol", "laptop", "newspaper", "statue", "vase", "watch", "box", "pillow", "keychain",
           "creditcard", "book")

# What each receptacle type can contain (PDDL canContain). The lamp stands only on desks and tables.
CAN_CONTAIN: dict[str, tuple[str, ...]] = {
    "cabinet": DISHES + COOKWARE + SPICES + BATH + ("book", "box", "vase", "statue"),
    "drawer": UTENSILS + DESK + ("dishsponge", "cloth", "soapbar", "spraybottle", "remotecontrol", "watch"),
    "countertop": FOOD + DISHES + COOKWARE + UTENSILS + SPICES + BATH + ("cellphone", "creditcard"),
    "diningtable": FOOD + DISHES + COOKWARE + UTENSILS + SPICES + ("book", "cd", "keychain", "laptop"),
    "fridge": FOOD + DISHES + COOKWARE + ("winebottle",),
    "microwave": FOOD + DISHES,
    "stoveburner": COOKWARE,
    "sinkbasin": FOOD + DISHES + COOKWARE + UTENSILS + ("dishsponge", "soapbar", "cloth"),
    "bathtubbasin": ("soapbar", "cloth", "dishsponge"),
    "garbagecan": FOOD + ("cd", "pen", "pencil", "newspaper", "tissuebox", "toiletpaper", "soapbottle",
                           "spraybottle", "soapbar", "creditcard"),
    "shelf": DISHES + SPICES + DESK + BATH + ("vase", "statue", "box", "remotecontrol", "watch"),
    "sidetable": FOOD + DISHES + DESK + LIVING + (LAMP,),
    "desk": DISHES + DESK + LIVING + (LAMP,),
    "dresser": DESK + LIVING + ("mug", "cup", "bowl", "plate", LAMP),
    "coffeetable": DESK + LIVING + ("mug", "bowl", "plate"),
    "sofa": ("pillow", "laptop", "remotecontrol", "newspaper", "book", "cellphone", "keychain", "creditcard", "box"),
    "armchair": ("pillow", "laptop", "remotecontrol", "newspaper", "book", "cellphone", "keychain", "creditcard"),
    "bed": ("pillow", "laptop", "book", "cellphone", "cd", "alarmclock"),
    "safe": ("cd", "cellphone", "creditcard", "keychain", "watch", "statue", "vase"),
    "toilet": ("soapbottle", "spraybottle", "toiletpaper", "candle", "cloth", "tissuebox", "soapbar"),
    "toiletpaperhanger": ("toiletpaper",),
    "towelholder": ("cloth",),
}


def describe_list(names: list[str]) -> str:
    """TextWorld's list rendering: ``a x 1``, ``a x 1, and a y 2``, ``a x 1, a y 2, and a z 3``, or ``nothing``."""
    items = [f"a {name}" for name in names]
    if not items:
        return "nothing"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + ", and " + items[-1]


def listing_order(name: str) -> tuple[str, int]:
    """The order the real engine lists entities in: by type, then by number from high to low
    (ALFWorld numbers ids in sorted order counting down, and lists them in sorted order)."""
    kind, _, number = name.rpartition(" ")
    return kind, -int(number)


def entity_type(name: str) -> str:
    """``"cabinet 3"`` -> ``"cabinet"``."""
    return name.rpartition(" ")[0]


@dataclass(frozen=True)
class HouseholdState:
    """Everything that changes during an episode; immutable, so a snapshot is the object itself."""

    location: str | None = None  # the receptacle the agent stands at; None: the middle of the room
    holding: str | None = None
    contents: tuple[tuple[str, str], ...] = ()  # (object, receptacle) for every object not held
    opened: frozenset[str] = frozenset()
    clean: frozenset[str] = frozenset()
    hot: frozenset[str] = frozenset()
    cool: frozenset[str] = frozenset()
    toggled: frozenset[str] = frozenset()
    won: bool = False

    def inside(self, receptacle: str) -> list[str]:
        return sorted((o for o, r in self.contents if r == receptacle), key=listing_order)

    def receptacle_of(self, obj: str) -> str | None:
        return next((r for o, r in self.contents if o == obj), None)


@dataclass(frozen=True)
class Household:
    """One game's fixed facts plus the transition function; the state is passed in and returned."""

    game: dict
    receptacles: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = sorted((r["name"] for r in self.game["receptacles"]), key=listing_order)
        object.__setattr__(self, "receptacles", tuple(names))

    # -- texts --------------------------------------------------------------------------------
    def initial_state(self) -> HouseholdState:
        contents = tuple((o["name"], o["in"]) for o in self.game["objects"])
        return HouseholdState(contents=contents)

    def intro(self) -> str:
        """The first observation: the room and the task (IPR drops TextWorld's welcome banner)."""
        return ("You are in the middle of a room. Looking quickly around you, you see "
                f"{describe_list(list(self.receptacles))}.\nYour task is to: {self.game['goal_text']}")

    @staticmethod
    def look(state: HouseholdState) -> str:
        """The ``look`` command. In the middle of the room the real engine's grammar lists nothing
        (its receptacle list binds no location then), unlike the intro, which lists them all."""
        if state.location is None:
            return "You are in the middle of a room. Looking quickly around you, you see nothing."
        return f"You are facing the {state.location}. Next to it, you see nothing."

    def examine_receptacle(self, state: HouseholdState, receptacle: str) -> str:
        if entity_type(receptacle) in OPENABLE:
            if receptacle not in state.opened:
                return f"The {receptacle} is closed."
            return f"The {receptacle} is open. In it, you see {describe_list(state.inside(receptacle))}."
        return f"On the {receptacle}, you see {describe_list(state.inside(receptacle))}."

    @staticmethod
    def examine_object(state: HouseholdState, obj: str) -> str:
        clean, hot, cool = obj in state.clean, obj in state.hot, obj in state.cool
        if clean and hot:
            return f"This is a hot and clean {obj}."
        if clean and cool:
            return f"This is a cool and clean {obj}."
        if hot:
            return f"This is a hot {obj}."
        if clean:
            return f"This is a clean {obj}."
        if cool:
            return f"This is a cold {obj}."
        if entity_type(obj) == LAMP:
            return f"This {obj} is {'on' if obj in state.toggled else 'off'}."
        return f"There's nothing special about {obj}."

    # -- commands -----------------------------------------------------------------------------
    def _visible(self, state: HouseholdState) -> list[str]:
        """Objects the agent can reach: in the receptacle it stands at, if that one is open."""
        here = state.location
        if here is None or (entity_type(here) in OPENABLE and here not in state.opened):
            return []
        return state.inside(here)

    def admissible(self, state: HouseholdState) -> dict[str, tuple]:
        """Every admissible command -> (verb, *arguments); what the engine lists, in sorted order."""
        commands: dict[str, tuple] = {"look": ("look",), "inventory": ("inventory",)}
        here, held = state.location, state.holding
        for receptacle in self.receptacles:
            if receptacle != here:  # the engine does not ground a move to where the agent stands
                commands[f"go to {receptacle}"] = ("go", receptacle)
        if here is not None:
            commands[f"examine {here}"] = ("examine_receptacle", here)
            if entity_type(here) in OPENABLE:
                verb = "close" if here in state.opened else "open"
                commands[f"{verb} {here}"] = (verb, here)
            # The engine grounds examineObject only for the held object (its precondition's other
            # branch, an object in a receptacle here, never yields a command), so only that one.
            for obj in self._visible(state):
                if held is None and entity_type(obj) != LAMP:
                    commands[f"take {obj} from {here}"] = ("take", obj, here)
        # A lamp is toggled where it stands, even inside a closed receptacle (the domain does not check).
        if here is not None:
            for obj in state.inside(here):
                if entity_type(obj) == LAMP:
                    commands[f"use {obj}"] = ("use", obj)
        if held is not None:
            commands[f"examine {held}"] = ("examine_object", held)
            kind = entity_type(held)
            if here is not None:
                here_kind = entity_type(here)
                reachable = here_kind not in OPENABLE or here in state.opened
                if reachable and kind in CAN_CONTAIN.get(here_kind, ()):
                    commands[f"put {held} in/on {here}"] = ("put", held, here)
                cleanable, heatable, coolable = OBJECT_PROPERTIES[kind]
                if cleanable and here_kind in SINKS:
                    commands[f"clean {held} with {here}"] = ("clean", held, here)
                if heatable and here_kind == HEATER:
                    commands[f"heat {held} with {here}"] = ("heat", held, here)
                if coolable and here_kind == COOLER:
                    commands[f"cool {held} with {here}"] = ("cool", held, here)
        return dict(sorted(commands.items()))

    def step(self, state: HouseholdState, command: str) -> tuple[HouseholdState, str]:
        """Apply ``command``: (new state, feedback). A command that is not admissible changes nothing."""
        parsed = self.admissible(state).get(command.strip())
        if parsed is None:
            return state, NOTHING_HAPPENS
        verb, *args = parsed
        if verb == "look":
            return state, self.look(state)
        if verb == "inventory":
            if state.holding is None:
                return state, "You are not carrying anything."
            return state, f"You are carrying: a {state.holding}."
        if verb == "examine_receptacle":
            return state, self.examine_receptacle(state, args[0])
        if verb == "examine_object":
            return state, self.examine_object(state, args[0])
        if verb == "go":
            state = replace(state, location=args[0])
            return self._judged(state), self.examine_receptacle(state, args[0])
        if verb == "open":
            state = replace(state, opened=state.opened | {args[0]})
            return self._judged(state), f"You open the {args[0]}. {self.examine_receptacle(state, args[0])}"
        if verb == "close":
            return self._judged(replace(state, opened=state.opened - {args[0]})), f"You close the {args[0]}."
        if verb == "take":
            obj, receptacle = args
            state = replace(state, holding=obj, contents=tuple(c for c in state.contents if c[0] != obj))
            return self._judged(state), f"You pick up the {obj} from the {receptacle}."
        if verb == "put":
            obj, receptacle = args
            state = replace(state, holding=None, contents=state.contents + ((obj, receptacle),))
            return self._judged(state), f"You put the {obj} in/on the {receptacle}."
        if verb == "use":
            # The domain only ever sets isToggled, so every use reads "You turn on".
            return self._judged(replace(state, toggled=state.toggled | {args[0]})), f"You turn on the {args[0]}."
        obj, appliance = args
        if verb == "clean":
            state = replace(state, clean=state.clean | {obj})
        elif verb == "heat":
            state = replace(state, hot=state.hot | {obj}, cool=state.cool - {obj})
        else:  # cool
            state = replace(state, cool=state.cool | {obj}, hot=state.hot - {obj})
        return self._judged(state), f"You {verb} the {obj} using the {appliance}."

    # -- goal ---------------------------------------------------------------------------------
    def _judged(self, state: HouseholdState) -> HouseholdState:
        return replace(state, won=self.goal_reached(state))

    def goal_reached(self, state: HouseholdState) -> bool:
        """The PDDL goal of the game's task type (ALFWorld's ``won``)."""
        game = self.game
        kind, target, task_type = game["object"], game["target"], game["task_type"]
        if task_type == "look_at_obj_in_light":
            here = state.location
            lamp_here = here is not None and any(
                entity_type(o) == LAMP and o in state.toggled for o in state.inside(here))
            return lamp_here and state.holding is not None and entity_type(state.holding) == kind
        required = {"pick_clean_then_place_in_recep": state.clean, "pick_heat_then_place_in_recep": state.hot,
                    "pick_cool_then_place_in_recep": state.cool}.get(task_type)
        placed = Counter(r for o, r in state.contents
                         if entity_type(o) == kind and entity_type(r) == target and (required is None or o in required))
        # pick two: two objects in one receptacle, as ALFWorld's goal asks
        return max(placed.values(), default=0) >= (2 if task_type == "pick_two_obj_and_place" else 1)
