"""Text-mode WebShop: page flow, clickables, invalid actions, snapshot/restore, page scores,
timeout, the expert, and the loader on small files in the real data's format."""

import json
import statistics

import pytest

from ipr.envs import make_env
from ipr.envs.webshop import real_data
from ipr.envs.webshop.env import WebShopEnv
from ipr.envs.webshop.expert import run_expert
from ipr.envs.webshop.generate import generate_webshop
from ipr.records import InputError


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """The default embedded benchmark (300 products), every expert trajectory kept."""
    out = tmp_path_factory.mktemp("webshop")
    return out, generate_webshop(out, seed=0, min_expert_reward=0.0)


@pytest.fixture
def env(embedded):
    return make_env("webshop", embedded[0], max_turns=30)


def a_goal(embedded):
    return embedded[1]["test"][0]["task"]


def test_expert_reaches_09_on_the_embedded_goals(embedded):
    rewards = [r["reward"] for split in ("train", "test") for r in embedded[1][split]]
    assert len(rewards) >= 500 and statistics.mean(rewards) >= 0.9
    assert all(r["steps"] <= 10 for split in ("train", "test") for r in embedded[1][split])


def test_page_flow_and_observation_strings(env, embedded):
    goal = a_goal(embedded)
    text = goal["instruction_text"]
    assert env.reset(goal) == f"WebShop [SEP] Instruction: [SEP] {text} [SEP] Search"
    assert env.clickables() == {}
    obs = env.step(f"search[{goal['query']}]").observation
    assert obs.startswith(f"Instruction: [SEP] {text} [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] ")
    shown = env.page_asins()
    assert len(shown) == 10 and obs.count(" [SEP] $") == 10
    assert set(env.clickables()) == {"back to search", "next >", *(a.lower() for a in shown)}
    assert "Page 2 (Total results: 50) [SEP] < Prev [SEP] Next >" in env.step("click[Next >]").observation
    env.step("click[< Prev]")
    obs = env.step(f"click[{shown[0].lower()}]").observation  # ASINs are matched lowercased
    product = env.store.product(shown[0])
    assert obs.endswith(f"{product['Title']} [SEP] Price: {product['Price']} [SEP] Rating: N.A. [SEP] "
                        "Description [SEP] Features [SEP] Reviews [SEP] Buy Now")
    group, values = next(iter(product["options"].items()))
    assert f"< Prev [SEP] {group} [SEP] {' [SEP] '.join(values)}" in obs
    env.step(f"click[{values[-1]}]")
    assert env.state.options == ((group, values[-1]),)
    assert env.step("click[Features]").observation.endswith("< Prev [SEP] " + " [SEP] ".join(product["BulletPoints"]))
    assert env.step("click[< Prev]").observation == obs  # back on the item page, option kept
    assert env.state.options == ((group, values[-1]),)
    env.step("click[Description]")
    assert env.step("click[Reviews]").observation.endswith("< Prev [SEP] " + product["Description"])  # not here
    assert env.step("click[< Prev]").observation == obs
    assert env.step("click[< Prev]").observation.startswith(f"Instruction: [SEP] {text} [SEP] Back to Search [SEP] Page 1")
    assert env.state.options == ()  # the results page resets the options
    assert env.step("click[Back to Search]").observation == f"WebShop [SEP] Instruction: [SEP] {text} [SEP] Search"


@pytest.mark.parametrize("action", [None, "", "buy it", "click[buy now]", "click[search]", "search[]",
                                    "click[B000000000]", "Click[next >]"])
def test_invalid_actions_change_nothing_but_the_turn_count(env, embedded, action):
    env.reset(a_goal(embedded))
    before = env.step(f"search[{a_goal(embedded)['query']}]").observation
    state = env.state
    result = env.step(action)
    assert result.observation == before and not result.done
    assert env.state == type(state)(**{**state.__dict__, "turns": state.turns + 1, "last_valid": False})


def test_search_works_from_any_page(env, embedded):
    env.reset(a_goal(embedded))
    env.step("search[chocolate bar]")
    env.step(f"click[{env.page_asins()[0]}]")
    env.step("search[green tea]")
    assert env.state.page == "results" and env.state.keywords == "green tea"


def _tour(env):
    """Actions through every page type, ending with a purchase."""
    env.step("search[chocolate bar]")
    first = env.page_asins()[0]
    values = list(env.store.product(first)["options"].values())
    return ["search[chocolate bar]", "click[Next >]", "click[< Prev]", f"click[{first}]", f"click[{values[0][0]}]",
            "click[Description]", "click[< Prev]", "click[Features]", "click[< Prev]", "click[Reviews]",
            "click[< Prev]", "click[Back to Search]", "search[chocolate bar]", f"click[{first}]",
            f"click[{values[0][-1]}]", "click[Buy Now]", "click[Buy Now]"]


def test_snapshot_restore_equals_replay_for_every_page(embedded):
    goal = a_goal(embedded)
    probe = WebShopEnv(embedded[0], 30)
    probe.reset(goal)
    actions = _tour(probe)
    pages = set()
    for cut in range(len(actions)):
        replayed = WebShopEnv(embedded[0], 30)
        replayed.reset(goal)
        for action in actions[:cut]:
            replayed.step(action)
        pages.add(replayed.state.page)
        branched = WebShopEnv(embedded[0], 30)
        branched.restore(replayed.snapshot())
        assert branched.observation() == replayed.observation()
        for action in actions[cut:]:
            assert branched.step(action) == replayed.step(action)
    assert pages == {"search", "results", "item", "description", "features", "reviews", "done"}


def test_best_page_scores(env, embedded):
    goal = a_goal(embedded)
    env.reset(goal)
    assert env.page_score("best") == 0.0
    env.step(f"search[{' '.join(goal['attributes'])} {goal['query']}]")
    scores = {asin: env.product_score(asin) for asin in env.page_asins()}
    assert env.page_score("best") == max(scores.values())
    env.step(f"click[{goal['asin']}]")
    assert env.page_score("best") == scores[goal["asin"]] == 1.0
    product = env.store.product(goal["asin"])
    group, values = next(iter(product["options"].items()))
    wrong = next(v for v in values if v not in goal["goal_options"])
    env.step(f"click[{wrong}]")
    assert env.page_score("best") < 1.0
    env.step("click[Features]")
    assert env.page_score("best") == env.product_score(goal["asin"], {group: wrong})  # sub-pages score as the item
    env.step("click[< Prev]")
    result = env.step("click[Buy Now]")
    assert result.done and env.page_score("best") == result.reward < 1.0


def test_timeout_earns_zero_even_on_a_good_page(embedded):
    goal = a_goal(embedded)
    env = WebShopEnv(embedded[0], max_turns=2)
    env.reset(goal)
    env.step(f"search[{' '.join(goal['attributes'])} {goal['query']}]")
    result = env.step(f"click[{goal['asin']}]")
    assert result.done and result.reward == 0.0 and not result.success
    assert env.page_score() == 1.0  # IPR's code would have paid this out


# -- the real data's format ---------------------------------------------------------------------------
def _raw(asin, name, pricing="$12.99", **changes):
    return {"asin": asin, "name": name, "full_description": f"{name}, a fine product.",
            "small_description": [f"{name} feature"], "pricing": pricing,
            "customization_options": {"Color": [{"value": "Navy/Blue", "image": None}, {"value": "Red", "image": None}]},
            "images": [None], "query": " Chocolate Bar ", "category": "grocery",
            "product_category": "Grocery › Candy › Chocolate", **changes}


def write_real_files(folder, products=None):
    products = products if products is not None else [
        _raw("B00000000A", "Vexa Sugar Free Chocolate Bar"),
        _raw("nan", "Skipped: no ASIN"),
        _raw("B00000000B", "Kalla Mint Chocolate Bar", pricing="$10.00 - $20.00", customization_options=None),
        _raw("B00000000A", "Skipped: repeated ASIN"),
        _raw("B00000000C", "Nordby Green Tea", pricing=""),
    ]
    (folder / "items_shuffle_1000.json").write_text(json.dumps(products, indent=1))
    (folder / "items_ins_v2_1000.json").write_text(json.dumps(
        {"B00000000A": {"attributes": ["sugar free"]}, "B00000000B": {"attributes": ["mint"]}}))
    (folder / "items_human_ins.json").write_text(json.dumps({
        "B00000000A": [{"asin": "B00000000A", "instruction": "i want sugar free chocolate in navy blue.",
                        "instruction_attributes": ["sugar free"], "instruction_options": ["navy | blue"]},
                       {"asin": "B00000000A", "instruction": "no attributes: skipped",
                        "instruction_attributes": [], "instruction_options": []}],
        "B00000000B": [{"asin": "B00000000B", "instruction": "i need mint chocolate bar",
                        "instruction_attributes": ["mint"], "instruction_options": []}],
        "B00000000C": [{"asin": "B00000000C", "instruction": "i need green tea",
                        "instruction_attributes": ["green tea"], "instruction_options": []}],
    }))


def test_real_files_load_as_the_original(tmp_path, monkeypatch):
    monkeypatch.setattr(real_data, "_READ_CHUNK", 7)  # the streaming reader across chunk boundaries
    write_real_files(tmp_path)
    (tmp_path / "test_indices.json").write_text("[0]")
    (tmp_path / "train_indices.json").write_text("[1, 2, 1]")
    out = tmp_path / "assets"
    records = generate_webshop(out, seed=0, catalog="real", data_dir=str(tmp_path),
                               train_indices=str(tmp_path / "train_indices.json"),
                               test_indices=str(tmp_path / "test_indices.json"), min_expert_reward=0.0)
    assert [len(records["train"]), len(records["test"])] == [2, 1]
    goals = {r["task"]["asin"]: r["task"] for split in records.values() for r in split}
    assert set(goals) == {"B00000000A", "B00000000B", "B00000000C"}
    assert sorted(g["session"] for g in goals.values()) == [0, 1, 2]
    first = goals["B00000000A"]
    assert first["query"] == "chocolate bar" and first["goal_options"] == ["navy | blue"]
    assert first["instruction_text"] == "i want sugar free chocolate in navy blue, and price lower than " \
        f"{first['price_upper']:.2f} dollars" and first["price_upper"] in (20.0, 30.0, 40.0, 50.0)
    assert goals["B00000000C"]["price_upper"] in (110.0, 120.0, 130.0, 140.0)  # no pricing: $100
    env = WebShopEnv(out, 10)
    assert len(env.store) == 3
    a, b = env.store.product("B00000000A"), env.store.product("B00000000B")
    assert a["options"] == {"color": ["navy | blue", "red"]} and a["Price"] == "$12.99"
    assert b["options"] == {} and b["Price"] == "$10.0 to $20.0" and 10.0 <= b["price"] <= 20.0
    assert b["Attributes"] == ["mint"] and env.store.product("B00000000C")["Attributes"] == ["DUMMY_ATTR"]
    assert env.store.search("sugar free chocolate")[0] == "B00000000A"
    played = run_expert(env, first)
    assert played["reward"] == 1.0 and "click[navy | blue]" in played["messages"][-3]["content"]


@pytest.mark.parametrize("products, message", [
    ([{"name": "no asin"}], "items_shuffle_1000.json: record 0: field 'asin': missing"),
    ([_raw("B00000000A", "x"), _raw("B00000000B", 7)], "items_shuffle_1000.json: record 1: field 'name': expected str"),
    ([_raw("B00000000A", "x", pricing="$abc")], "record 0: field 'pricing': unreadable price '$abc'"),
    ([_raw("B00000000A", "x", customization_options={"Size": ["S"]})], "record 0: field 'customization_options'"),
])
def test_bad_real_files_name_file_record_and_field(tmp_path, products, message):
    write_real_files(tmp_path, products)
    with pytest.raises(InputError, match=message.replace("$", r"\$")) as caught:
        generate_webshop(tmp_path / "assets", seed=0, catalog="real", data_dir=str(tmp_path))
    assert "\n" not in str(caught.value)


def test_bad_goal_indices_are_named(tmp_path):
    write_real_files(tmp_path)
    (tmp_path / "test_indices.json").write_text("[0, 9]")
    with pytest.raises(InputError, match=r"test_indices.json: item 1: goal index 9 is not in 0..2"):
        generate_webshop(tmp_path / "assets", seed=0, catalog="real", data_dir=str(tmp_path),
                         test_indices=str(tmp_path / "test_indices.json"))
