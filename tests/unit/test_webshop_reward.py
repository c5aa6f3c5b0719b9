"""WebShop's purchase reward on hand-made goal/product cases: every branch of the formula."""

import pytest

from ipr.envs.webshop.reward import (
    best_options, best_reward, fallback_nouns, normalize_color, option_matches, purchase_reward, reward_parts,
    token_set_ratio, type_factor)


def words(text):  # a transparent noun extractor, so type-factor cases do not depend on the heuristic
    return text.lower().split()


def product(**changes):
    base = {
        "asin": "B000000001", "name": "Vexa Chocolate Bar", "Title": "Vexa Chocolate Bar",
        "Description": "Made with cocoa from Peru.", "BulletPoints": ["Gluten free recipe", "Resealable pack"],
        "Attributes": ["sugar free", "non gmo"], "options": {"flavor": ["dark", "mint"], "size": ["3 pack", "6 pack"]},
        "query": "chocolate bar", "product_category": "Grocery › Candy › Chocolate", "price": 12.0,
    }
    return {**base, **changes}


def goal(**changes):
    base = {"asin": "B000000001", "name": "Vexa Chocolate Bar", "query": "chocolate bar",
            "product_category": "Grocery › Candy › Chocolate", "attributes": ["sugar free"],
            "goal_options": ["mint"], "price_upper": 20.0, "instruction_text": "i need sugar free chocolate"}
    return {**base, **changes}


@pytest.mark.parametrize("left, right, expected", [
    ("sugar free dark chocolate", "dark chocolate bar sugar-free", 100),  # one token set inside the other
    ("12 fl oz", "2 fl oz", 93), ("sea salt caramel", "salted caramel", 87), ("3 pack", "6 pack", 83),
    ("grey", "gray", 75), ("lightblue", "blue", 62), ("", "blue", 0),
])
def test_token_set_ratio_matches_thefuzz(left, right, expected):
    assert token_set_ratio(left, right) == expected  # values from rapidfuzz/thefuzz with default processing


def test_color_normalization_takes_the_first_color_word():
    assert normalize_color("lightblue") == "blue"
    assert normalize_color("heather grey") == "grey"  # 'grey' precedes 'heather' in the colour list
    assert normalize_color("6 pack") == "6 pack"
    assert option_matches(["lightblue"], ["blue"]) == 1  # 62 without normalisation
    assert option_matches(["dark green"], ["dark blue"]) == 0  # 'dark' vs 'blue' after normalisation


def test_attribute_matches_by_fuzzy_attribute_title_bullets_or_description():
    parts = reward_parts(product(), goal(attributes=["sugar-free", "vexa", "gluten free", "cocoa", "vegan"],
                                        goal_options=[]), 12.0, [])
    # fuzzy attribute, title substring, bullet substring, description substring; 'vegan' nowhere
    assert parts.attribute_matches == 4


def test_full_formula_counts_attributes_options_and_price():
    g = goal(attributes=["sugar free", "vegan"], goal_options=["mint", "12 pack"])
    assert purchase_reward(product(), g, 12.0, ["mint", "3 pack"], words) == pytest.approx(3 / 5)
    assert purchase_reward(product(), g, 25.0, ["mint", "3 pack"], words) == pytest.approx(2 / 5)  # over ceiling
    assert purchase_reward(product(), g, 12.0, [], words) == pytest.approx(2 / 5)  # no options chosen
    assert purchase_reward(product(), goal(), 12.0, ["mint"], words) == 1.0


@pytest.mark.parametrize("name, query, category, expected", [
    ("Vexa Chocolate Bar", "chocolate bar", "Grocery › Candy › Chocolate", 1.0),  # same name
    ("Kalla Bar Of Chocolate Extra", "tea", "Home › Bath", 1.0),  # title score 2/5 > 0.2, nothing else agrees
    ("Vexa Tea", "tea", "Home › Bath", 0.5),  # title score 0.2 of 5 nouns; query and categories differ
    ("Vexa Tea", "chocolate bar", "Home › Bath", 1.0),  # ... but the query agrees
    ("Vexa Tea", "tea", "Grocery › Candy › Tea", 1.0),  # ... or two categories agree
    ("Vexa Tea", "tea", "Grocery › Tea", 0.5),  # one shared category is not enough
    ("Lumora Tea", "chocolate bar", "Grocery › Candy › Chocolate", 0.0),  # no title noun in common
])
def test_type_factor_steps(name, query, category, expected):
    g = goal(name="Vexa Dark Chocolate Bar Pack")
    assert type_factor(product(name=name, query=query, product_category=category), g, words) == expected


def test_type_factor_tenth_and_goal_without_nouns():
    g = goal(name="a b c d e f g h i j k")  # 11 nouns, one shared: title score 1/11 < 0.1
    assert type_factor(product(name="a x"), g, words) == 0.1
    # A goal name without nouns gives title score 0.2: kept at 1 by a matching query, 0.5 otherwise.
    assert type_factor(product(), goal(name="the very"), lambda text: []) == 1.0
    assert type_factor(product(query="tea", product_category="Home"), goal(name="the"), lambda text: []) == 0.5


def test_type_factor_multiplies_the_reward():
    half = product(name="Vexa Tea", query="tea", product_category="Home › Bath")
    g = goal(name="Vexa Dark Chocolate Bar Pack")
    assert purchase_reward(half, g, 12.0, ["mint"], words) == pytest.approx(0.5)


def test_best_options_keep_chosen_values_and_maximise_matches():
    g = goal(goal_options=["mint", "6 pack"])
    assert best_options(product(), g, {}) == {"flavor": "mint", "size": "6 pack"}
    assert best_options(product(), g, {"flavor": "dark"}) == {"flavor": "dark", "size": "6 pack"}
    assert best_reward(product(), g, 12.0, {}, words) == 1.0
    assert best_reward(product(), g, 12.0, {"flavor": "dark"}, words) == pytest.approx(3 / 4)


def test_fallback_nouns_drop_function_words_and_adjectives():
    assert fallback_nouns("The Lightweight Waterproof Running Shoes for Men, Size 10") == [
        "running", "shoes", "men", "size"]
    assert fallback_nouns("Delicious sugar free chocolate") == ["sugar", "chocolate"]
