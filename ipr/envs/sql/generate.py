"""Generator of the embedded SQL benchmark: seeded SQLite databases, templated questions, expert trajectories.

Four small databases (concert_singer, library, store, university; 3-4 tables each, foreign keys,
text columns ``COLLATE NOCASE``) are filled with seeded random data. Twenty question templates of
three difficulties (easy: filter/count; medium: join/group by/order by; hard: multi-join, nested,
having) each have 2-3 wordings and a gold SQL pattern; their parameters come from the data and are
kept only when the gold query returns a short, non-trivial answer.

Splits: no test question appears in train. For every template, 30% of the parameter values
("keys") are reserved for test; test questions are drawn from the (value, wording) combinations
train did not use, so some test questions ask about a value train never saw, others about a seen
value in a new wording. Six templates are held out of train entirely (about 20% of the test split
with the default settings). The mix keeps a small model's test reward learnable but well below 1. Everything is deterministic for a seed: string-seeded
``random.Random`` instances, sorted candidate lists, no set iteration, no clock.
"""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ipr.envs.sql.env import SqlEnv
from ipr.envs.sql.expert import run_expert
from ipr.records import config_hash, validate

BENCHMARK = "sql_embedded"
GENERATOR_VERSION = 1
TEST_KEY_FRACTION = 0.3
VALID_KEY_FRACTION = 0.2  # of a template's train values, when a validation split is asked for
MAX_ANSWER_ROWS = 10

# --------------------------------------------------------------------------------------------
# Vocabulary for the seeded data (no apostrophes: values are quoted in SQL).
FIRST = ("Alice", "Bruno", "Chen", "Dana", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Liam",
         "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Xavi",
         "Yara", "Zoe", "Aron", "Bea", "Carl", "Dora", "Emil", "Fay", "Gus", "Hana", "Ivan", "Jade")
LAST = ("Adams", "Berg", "Costa", "Diaz", "Evans", "Fischer", "Garcia", "Hahn", "Ito", "Jensen", "Kim", "Lopez",
        "Moreau", "Novak", "Olsen", "Park", "Quist", "Rossi", "Silva", "Tanaka", "Ueda", "Vogel", "Walsh", "Young")
COUNTRIES = ("Brazil", "Canada", "Egypt", "France", "Germany", "India", "Italy", "Japan", "Kenya", "Mexico",
             "Norway", "Peru", "Spain", "Sweden")
CITIES = ("Austin", "Boston", "Dublin", "Geneva", "Houston", "Lisbon", "Madrid", "Oslo", "Porto", "Seattle",
          "Sydney", "Toronto", "Vienna", "Warsaw")
PLACE_WORDS = ("Riverside", "Northgate", "Lakeview", "Harbor", "Sunset", "Granite", "Maple", "Eastfield",
               "Kingsway", "Westbrook", "Silverton", "Pinecrest", "Oakridge", "Bayside", "Highland", "Millbrook")
PLACE_KINDS = ("Arena", "Park", "Stadium", "Field")
ADJ = ("Silent", "Golden", "Hidden", "Broken", "Endless", "Bright", "Frozen", "Wild", "Quiet", "Lost",
       "Crimson", "Distant", "Secret", "Electric", "Velvet", "Iron")
NOUN = ("River", "Garden", "Crown", "Harbor", "Forest", "Mirror", "Lantern", "Horizon", "Storm", "Island",
        "Bridge", "Echo", "Shadow", "Voyage", "Winter", "Signal")
GENRES = ("fantasy", "history", "mystery", "poetry", "romance", "science")
CATEGORIES = ("books", "garden", "kitchen", "office", "sports", "toys")
PRODUCT_ADJ = ("Blue", "Compact", "Deluxe", "Eco", "Mini", "Pro", "Smart", "Classic")
PRODUCT_NOUN = {
    "books": ("Atlas", "Cookbook", "Diary"), "garden": ("Hose", "Shovel", "Planter"),
    "kitchen": ("Kettle", "Blender", "Pan"), "office": ("Stapler", "Lamp", "Notebook"),
    "sports": ("Racket", "Ball", "Helmet"), "toys": ("Puzzle", "Robot", "Kite"),
}
SUBJECTS = ("Algebra", "Biology", "Chemistry", "Databases", "Economics", "Ethics", "Geology", "History",
            "Linguistics", "Music", "Physics", "Statistics", "Robotics", "Poetry", "Astronomy")
LEVELS = ("Intro to", "Advanced")
DEPARTMENTS = ("Arts", "Engineering", "Science", "Humanities")

# --------------------------------------------------------------------------------------------
# Schemas: (table, [(column, declaration)], [foreign key clauses]).
SCHEMAS: dict[str, list[tuple[str, list[tuple[str, str]], list[str]]]] = {
    "concert_singer": [
        ("stadium", [("stadium_id", "INTEGER PRIMARY KEY"), ("name", "TEXT"), ("city", "TEXT"),
                     ("capacity", "INTEGER")], []),
        ("singer", [("singer_id", "INTEGER PRIMARY KEY"), ("name", "TEXT"), ("country", "TEXT"),
                    ("age", "INTEGER")], []),
        ("concert", [("concert_id", "INTEGER PRIMARY KEY"), ("concert_name", "TEXT"), ("year", "INTEGER"),
                     ("stadium_id", "INTEGER")], ["FOREIGN KEY (stadium_id) REFERENCES stadium(stadium_id)"]),
        ("singer_in_concert", [("concert_id", "INTEGER"), ("singer_id", "INTEGER")],
         ["FOREIGN KEY (concert_id) REFERENCES concert(concert_id)",
          "FOREIGN KEY (singer_id) REFERENCES singer(singer_id)"]),
    ],
    "library": [
        ("book", [("book_id", "INTEGER PRIMARY KEY"), ("title", "TEXT"), ("author", "TEXT"), ("genre", "TEXT"),
                  ("year", "INTEGER")], []),
        ("member", [("member_id", "INTEGER PRIMARY KEY"), ("name", "TEXT"), ("city", "TEXT"),
                    ("join_year", "INTEGER")], []),
        ("loan", [("loan_id", "INTEGER PRIMARY KEY"), ("book_id", "INTEGER"), ("member_id", "INTEGER"),
                  ("loan_year", "INTEGER"), ("days", "INTEGER")],
         ["FOREIGN KEY (book_id) REFERENCES book(book_id)",
          "FOREIGN KEY (member_id) REFERENCES member(member_id)"]),
    ],
    "store": [
        ("customer", [("customer_id", "INTEGER PRIMARY KEY"), ("name", "TEXT"), ("city", "TEXT")], []),
        ("product", [("product_id", "INTEGER PRIMARY KEY"), ("name", "TEXT"), ("category", "TEXT"),
                     ("price", "REAL")], []),
        ("orders", [("order_id", "INTEGER PRIMARY KEY"), ("customer_id", "INTEGER"), ("product_id", "INTEGER"),
                    ("quantity", "INTEGER"), ("year", "INTEGER")],
         ["FOREIGN KEY (customer_id) REFERENCES customer(customer_id)",
          "FOREIGN KEY (product_id) REFERENCES product(product_id)"]),
    ],
    "university": [
        ("course", [("course_id", "INTEGER PRIMARY KEY"), ("title", "TEXT"), ("department", "TEXT"),
                    ("credits", "INTEGER")], []),
        ("student", [("student_id", "INTEGER PRIMARY KEY"), ("name", "TEXT"), ("hometown", "TEXT"),
                     ("age", "INTEGER")], []),
        ("enrollment", [("student_id", "INTEGER"), ("course_id", "INTEGER"), ("grade", "INTEGER")],
         ["FOREIGN KEY (student_id) REFERENCES student(student_id)",
          "FOREIGN KEY (course_id) REFERENCES course(course_id)"]),
    ],
}


def _people(rng: random.Random, n: int) -> list[str]:
    names = sorted(f"{first} {last}" for first in FIRST for last in LAST)
    return rng.sample(names, n)


def _pairs(rng: random.Random, left: int, right: int, n: int) -> list[tuple[int, int]]:
    """``n`` distinct (left_id, right_id) pairs, ids starting at 1, in a seeded order."""
    every = [(a, b) for a in range(1, left + 1) for b in range(1, right + 1)]
    return rng.sample(every, n)


def _rows(db: str, rng: random.Random) -> dict[str, list[tuple]]:
    if db == "concert_singer":
        places = rng.sample([f"{w} {k}" for w in PLACE_WORDS for k in PLACE_KINDS], 16)
        stadium = [(i, name, rng.choice(CITIES), rng.randrange(5, 90) * 1000) for i, name in enumerate(places, 1)]
        singer = [(i, name, rng.choice(COUNTRIES), rng.randint(18, 70)) for i, name in enumerate(_people(rng, 60), 1)]
        titles = rng.sample([f"{a} {n}" for a in ADJ for n in NOUN], 40)
        concert = [(i, t, rng.randint(2012, 2023), rng.randint(1, 16)) for i, t in enumerate(titles, 1)]
        sic = _pairs(rng, 40, 60, 80)
        return {"stadium": stadium, "singer": singer, "concert": concert, "singer_in_concert": sic}
    if db == "library":
        authors = _people(rng, 20)
        titles = rng.sample([f"The {a} {n}" for a in ADJ for n in NOUN], 60)
        book = [(i, t, rng.choice(authors), rng.choice(GENRES), rng.randint(1990, 2023)) for i, t in enumerate(titles, 1)]
        member = [(i, name, rng.choice(CITIES), rng.randint(2010, 2023)) for i, name in enumerate(_people(rng, 40), 1)]
        loan = [(i, rng.randint(1, 60), rng.randint(1, 40), rng.randint(2015, 2024), rng.randint(3, 60))
                for i in range(1, 81)]
        return {"book": book, "member": member, "loan": loan}
    if db == "store":
        customer = [(i, name, rng.choice(CITIES)) for i, name in enumerate(_people(rng, 40), 1)]
        names = sorted(f"{a} {n}" for c in CATEGORIES for a in PRODUCT_ADJ for n in PRODUCT_NOUN[c])
        category_of = {f"{a} {n}": c for c in CATEGORIES for a in PRODUCT_ADJ for n in PRODUCT_NOUN[c]}
        product = [(i, name, category_of[name], rng.randrange(199, 12000) / 100)
                   for i, name in enumerate(rng.sample(names, 40), 1)]
        orders = [(i, rng.randint(1, 40), rng.randint(1, 40), rng.randint(1, 9), rng.randint(2019, 2024))
                  for i in range(1, 81)]
        return {"customer": customer, "product": product, "orders": orders}
    if db == "university":
        titles = rng.sample([f"{lv} {s}" for lv in LEVELS for s in SUBJECTS], 30)
        course = [(i, t, rng.choice(DEPARTMENTS), rng.choice((2, 3, 4, 5))) for i, t in enumerate(titles, 1)]
        student = [(i, name, rng.choice(CITIES), rng.randint(18, 30)) for i, name in enumerate(_people(rng, 60), 1)]
        enrollment = [(s, c, rng.randint(40, 100)) for s, c in _pairs(rng, 60, 30, 80)]
        return {"course": course, "student": student, "enrollment": enrollment}
    raise ValueError(f"unknown database {db!r}")


def _build_db(path: Path, db: str, seed: int) -> None:
    """Write ``path`` atomically with the seeded contents of ``db``."""
    rows = _rows(db, random.Random(f"{seed}:{db}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        conn = sqlite3.connect(tmp)
        with conn:
            for table, columns, foreign in SCHEMAS[db]:
                parts = [f"{c} {d}" + (" COLLATE NOCASE" if d == "TEXT" else "") for c, d in columns] + foreign
                conn.execute(f"CREATE TABLE {table} ({', '.join(parts)})")
                marks = ", ".join("?" for _ in columns)
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows[table])
        conn.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Template:
    name: str
    db: str
    hardness: str  # easy | medium | hard
    wordings: tuple[str, ...]
    gold: str
    params: str  # SQL over the database giving candidate parameter tuples, one column per name
    names: tuple[str, ...]
    held_out: bool = False  # never in train


TEMPLATES: tuple[Template, ...] = (
    # concert_singer
    Template("singer_count_country", "concert_singer", "easy",
             ("How many singers are from {country}?", "Count the singers from {country}.",
              "What is the number of singers whose country is {country}?"),
             "SELECT COUNT(*) FROM singer WHERE country = '{country}'",
             "SELECT DISTINCT country FROM singer", ("country",)),
    Template("singer_names_older", "concert_singer", "easy",
             ("List the names of singers older than {age}.", "Which singers are older than {age}? Give their names.",
              "What are the names of the singers whose age is above {age}?"),
             "SELECT name FROM singer WHERE age > {age}",
             "SELECT DISTINCT age FROM singer", ("age",)),
    Template("concerts_at_stadium", "concert_singer", "medium",
             ("What are the names of the concerts held at {stadium}?", "List the concerts that took place in {stadium}."),
             "SELECT T1.concert_name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id "
             "WHERE T2.name = '{stadium}'",
             "SELECT DISTINCT name FROM stadium", ("stadium",)),
    Template("country_counts_older", "concert_singer", "medium",
             ("How many singers older than {age} are there in each country?",
              "For each country, count the singers above age {age}."),
             "SELECT country, COUNT(*) FROM singer WHERE age > {age} GROUP BY country",
             "SELECT DISTINCT age FROM singer", ("age",), held_out=True),
    Template("singers_in_year", "concert_singer", "hard",
             ("What are the names of singers who performed in a concert in {year}?",
              "List the distinct singers that sang at concerts in {year}."),
             "SELECT DISTINCT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id "
             "JOIN concert AS T3 ON T2.concert_id = T3.concert_id WHERE T3.year = {year}",
             "SELECT DISTINCT year FROM concert", ("year",)),
    # library
    Template("books_by_author", "library", "easy",
             ("How many books were written by {author}?", "Count the books by {author}.",
              "What is the number of books whose author is {author}?"),
             "SELECT COUNT(*) FROM book WHERE author = '{author}'",
             "SELECT DISTINCT author FROM book", ("author",)),
    Template("genre_after_year", "library", "easy",
             ("List the titles of {genre} books published after {year}.",
              "Which {genre} books came out after {year}? Give their titles."),
             "SELECT title FROM book WHERE genre = '{genre}' AND year > {year}",
             "SELECT DISTINCT T1.genre, T2.year FROM book AS T1, book AS T2", ("genre", "year")),
    Template("members_city_loans", "library", "medium",
             ("What are the names of members from {city} who borrowed a book?",
              "List the distinct members living in {city} that have loans."),
             "SELECT DISTINCT T1.name FROM member AS T1 JOIN loan AS T2 ON T1.member_id = T2.member_id "
             "WHERE T1.city = '{city}'",
             "SELECT DISTINCT city FROM member", ("city",)),
    Template("loans_per_genre_year", "library", "medium",
             ("For each genre, how many loans were made in {year}?", "Count the loans in {year} for every genre."),
             "SELECT T1.genre, COUNT(*) FROM book AS T1 JOIN loan AS T2 ON T1.book_id = T2.book_id "
             "WHERE T2.loan_year = {year} GROUP BY T1.genre",
             "SELECT DISTINCT loan_year FROM loan", ("year",)),
    Template("genres_having", "library", "hard",
             ("Which genres have more than {n} books published after {year}?",
              "List the genres with over {n} books released after {year}."),
             "SELECT genre FROM book WHERE year > {year} GROUP BY genre HAVING COUNT(*) > {n}",
             "SELECT DISTINCT T2.n, T1.year FROM book AS T1, (SELECT 1 AS n UNION SELECT 2 UNION SELECT 3) AS T2",
             ("n", "year"), held_out=True),
    # store
    Template("product_price", "store", "easy",
             ("What is the price of {product}?", "How much does {product} cost?",
              "Find the price of the product {product}."),
             "SELECT price FROM product WHERE name = '{product}'",
             "SELECT DISTINCT name FROM product", ("product",)),
    Template("customers_in_city", "store", "easy",
             ("How many customers live in {city}?", "Count the customers from {city}."),
             "SELECT COUNT(*) FROM customer WHERE city = '{city}'",
             "SELECT DISTINCT city FROM customer", ("city",), held_out=True),
    Template("category_under_price", "store", "medium",
             ("List the {category} products cheaper than {price}, most expensive first.",
              "Which {category} products cost less than {price}? Order them by price descending."),
             "SELECT name FROM product WHERE category = '{category}' AND price < {price} ORDER BY price DESC",
             "SELECT DISTINCT T1.category, T2.p FROM product AS T1, (SELECT 30 AS p UNION SELECT 50 UNION SELECT 70 "
             "UNION SELECT 90 UNION SELECT 110) AS T2", ("category", "price")),
    Template("total_quantity_customer", "store", "medium",
             ("What is the total quantity ordered by {customer}?", "How many items in total did {customer} order?"),
             "SELECT SUM(T2.quantity) FROM customer AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id "
             "WHERE T1.name = '{customer}'",
             "SELECT DISTINCT name FROM customer", ("customer",), held_out=True),
    Template("customers_category_year", "store", "hard",
             ("Which customers ordered {category} products in {year}?",
              "List the distinct names of customers who bought a {category} product in {year}."),
             "SELECT DISTINCT T1.name FROM customer AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id "
             "JOIN product AS T3 ON T2.product_id = T3.product_id WHERE T3.category = '{category}' AND T2.year = {year}",
             "SELECT DISTINCT T1.category, T2.year FROM product AS T1, orders AS T2", ("category", "year")),
    # university
    Template("students_older", "university", "easy",
             ("How many students are older than {age}?", "Count the students above age {age}."),
             "SELECT COUNT(*) FROM student WHERE age > {age}",
             "SELECT DISTINCT age FROM student", ("age",)),
    Template("course_department", "university", "easy",
             ("Which department offers {course}?", "What is the department of the course {course}?"),
             "SELECT department FROM course WHERE title = '{course}'",
             "SELECT DISTINCT title FROM course", ("course",)),
    Template("avg_grade_course", "university", "medium",
             ("What is the average grade in {course}?", "Find the mean grade of students enrolled in {course}."),
             "SELECT AVG(T2.grade) FROM course AS T1 JOIN enrollment AS T2 ON T1.course_id = T2.course_id "
             "WHERE T1.title = '{course}'",
             "SELECT DISTINCT title FROM course", ("course",), held_out=True),
    Template("students_city_by_age", "university", "medium",
             ("List the names of students from {city} ordered by age.",
              "Give the names of students whose hometown is {city}, youngest first."),
             "SELECT name FROM student WHERE hometown = '{city}' ORDER BY age",
             "SELECT DISTINCT hometown FROM student", ("city",)),
    Template("city_older_than_avg", "university", "hard",
             ("Which students from {city} are older than the average student age?",
              "List the students from {city} whose age is above the average age of all students."),
             "SELECT name FROM student WHERE hometown = '{city}' AND age > (SELECT AVG(age) FROM student)",
             "SELECT DISTINCT hometown FROM student", ("city",), held_out=True),
    Template("students_course_grade", "university", "hard",
             ("List the names of students enrolled in {course} with a grade above {grade}.",
              "Which students got a grade higher than {grade} in {course}?"),
             "SELECT T1.name FROM student AS T1 JOIN enrollment AS T2 ON T1.student_id = T2.student_id "
             "JOIN course AS T3 ON T2.course_id = T3.course_id WHERE T3.title = '{course}' AND T2.grade > {grade}",
             "SELECT DISTINCT T1.title, T2.g FROM course AS T1, (SELECT 50 AS g UNION SELECT 70 UNION SELECT 85) AS T2",
             ("course", "grade")),
)


# Templates whose parameters are schema words (aggregate, column, table, order), not cell values:
# answering them means mapping question words to SQL, as much of Spider does, with no value to copy.
_AGGREGATES = "(VALUES ('AVG', 'average'), ('MAX', 'maximum'), ('MIN', 'minimum'))"
_DIRECTIONS = "(VALUES ('DESC', 'highest'), ('ASC', 'lowest'))"
_NUMERIC = {  # db -> (table, plural, singular, name column, numeric column, its words)
    "concert_singer": [("singer", "singers", "singer", "name", "age", "age"),
                       ("stadium", "stadiums", "stadium", "name", "capacity", "capacity"),
                       ("concert", "concerts", "concert", "concert_name", "year", "year")],
    "library": [("book", "books", "book", "title", "year", "publication year"),
                ("member", "members", "member", "name", "join_year", "join year"),
                ("loan", "loans", "loan", "loan_id", "days", "number of days")],
    "store": [("product", "products", "product", "name", "price", "price"),
              ("orders", "orders", "order", "order_id", "quantity", "quantity")],
    "university": [("student", "students", "student", "name", "age", "age"),
                   ("course", "courses", "course", "title", "credits", "credits"),
                   ("enrollment", "enrollments", "enrollment", "student_id", "grade", "grade")],
}


def _numeric_values(db: str) -> str:
    rows = ", ".join("(" + ", ".join(f"'{v}'" for v in row) + ")" for row in _NUMERIC[db])
    return f"(VALUES {rows})"


def _schema_templates(db: str) -> tuple[Template, ...]:
    stat = Template(
        f"{db}_column_stat", db, "easy",
        ("What is the {agg_word} {col_word} of all {plural}?", "Find the {agg_word} {col_word} over all {plural}.",
         "Show the {agg_word} {col_word} among the {plural}."),
        "SELECT {agg}({col}) FROM {tbl}",
        f"SELECT a.column1, a.column2, c.* FROM {_AGGREGATES} AS a, "
        f"(SELECT column1 AS tbl, column2 AS plural, column5 AS col, column6 AS col_word FROM {_numeric_values(db)}) AS c",
        ("agg", "agg_word", "tbl", "plural", "col", "col_word"))
    top = Template(
        f"{db}_top_by", db, "medium",
        ("Which {singular} has the {dir_word} {col_word}? Give its {name_col}.",
         "Give the {name_col} of the {singular} with the {dir_word} {col_word}."),
        "SELECT {name_col} FROM {tbl} ORDER BY {col} {dir} LIMIT 1",
        f"SELECT d.column1, d.column2, c.* FROM {_DIRECTIONS} AS d, "
        f"(SELECT column1 AS tbl, column3 AS singular, column4 AS name_col, column5 AS col, column6 AS col_word "
        f"FROM {_numeric_values(db)}) AS c",
        ("dir", "dir_word", "tbl", "singular", "name_col", "col", "col_word"))
    return stat, top


TEMPLATES = TEMPLATES + tuple(t for db in _NUMERIC for t in _schema_templates(db))

DATABASES = tuple(SCHEMAS)


def _useful(rows: list[tuple]) -> bool:
    """A short, non-trivial answer: 1-10 rows, not a lone zero or NULL."""
    if not 1 <= len(rows) <= MAX_ANSWER_ROWS:
        return False
    return not (len(rows) == 1 and rows[0] in ((0,), (None,)))


def _candidates(conn: sqlite3.Connection, template: Template) -> list[dict]:
    """Parameter dicts whose gold query gives a useful answer, sorted."""
    values = sorted(set(conn.execute(template.params).fetchall()))
    found = []
    for value in values:
        params = dict(zip(template.names, value))
        if _useful(conn.execute(template.gold.format(**params)).fetchall()):
            found.append(params)
    return found


def _pick(rng: random.Random, combos: list[tuple], n: int) -> list[tuple]:
    """``n`` combos in a seeded order, cycling through reshuffles when there are fewer than ``n``."""
    picked: list[tuple] = []
    while len(picked) < n and combos:
        batch = list(combos)
        rng.shuffle(batch)
        picked.extend(batch[: n - len(picked)])
    return picked


def _template_items(conn: sqlite3.Connection, template: Template, seed: int, n_train: int, n_test: int,
                    n_valid: int = 0) -> dict:
    rng = random.Random(f"{seed}:{template.name}")
    candidates = _candidates(conn, template)
    if len(candidates) < 2:
        raise RuntimeError(f"template {template.name}: only {len(candidates)} usable parameter values")
    rng.shuffle(candidates)
    if template.held_out:
        train_keys, test_keys = [], candidates
    else:
        n_test_keys = max(1, round(TEST_KEY_FRACTION * len(candidates)))
        test_keys, train_keys = candidates[:n_test_keys], candidates[n_test_keys:]
    # Validation is carved out of train as test is out of the candidates: values that train never
    # pairs with this template (held-out templates have no train values, so no validation either).
    valid_keys = []
    if n_valid and len(train_keys) >= 2:
        n_valid_keys = max(1, round(VALID_KEY_FRACTION * len(train_keys)))
        valid_keys, train_keys = train_keys[:n_valid_keys], train_keys[n_valid_keys:]
    wordings = range(len(template.wordings))
    train_combos = _pick(rng, [(key, w) for key in range(len(train_keys)) for w in wordings], n_train)
    def frozen(params: dict) -> tuple:
        return tuple(sorted(params.items()))

    used = {(frozen(train_keys[i]), w) for i, w in train_combos}
    test_pool = test_keys + train_keys  # reserved values first, then train's values in unused wordings
    test_combos = [(i, w) for i in range(len(test_pool)) for w in wordings if (frozen(test_pool[i]), w) not in used]
    splits = [("train", train_keys, train_combos), ("test", test_pool, _pick(rng, test_combos, n_test))]
    if valid_keys:
        splits.append(("valid", valid_keys, _pick(rng, [(k, w) for k in range(len(valid_keys)) for w in wordings],
                                                   n_valid)))
    out = {"valid": []}
    for split, keys, combos in splits:
        items = []
        for i, w in combos:
            params = keys[i]
            items.append({
                "db": template.db,
                "question": template.wordings[w].format(**params),
                "gold": template.gold.format(**params),
                "template": template.name,
                "hardness": template.hardness,
            })
        out[split] = items
    return out


def generate_benchmark(out_dir: Path, seed: int, train_per_template: int, test_per_template: int,
                       valid_per_template: int = 0) -> dict[str, list[dict]]:
    """Build ``out_dir/dbs/*.sqlite`` and return ``{"train": [...], "test": [...]}`` trajectory records,
    plus ``"valid"`` when ``valid_per_template`` > 0: a validation split carved out of train (per
    train template, ``VALID_KEY_FRACTION`` of its train values move to validation), for choosing
    hyper-parameters without looking at test. With ``valid_per_template`` 0 the output is the same
    as before the option existed."""
    out_dir = Path(out_dir)
    settings = {"benchmark": BENCHMARK, "version": GENERATOR_VERSION, "seed": seed,
                "train_per_template": train_per_template, "test_per_template": test_per_template}
    if valid_per_template:
        settings["valid_per_template"] = valid_per_template
    chash = config_hash(settings)
    for db in DATABASES:
        _build_db(out_dir / "dbs" / f"{db}.sqlite", db, seed)

    splits = ("train", "test", "valid") if valid_per_template else ("train", "test")
    tasks: dict[str, list[dict]] = {split: [] for split in splits}
    for db in DATABASES:
        conn = sqlite3.connect(f"file:{out_dir / 'dbs' / f'{db}.sqlite'}?mode=ro", uri=True)
        try:
            for template in TEMPLATES:
                if template.db == db:
                    items = _template_items(conn, template, seed, train_per_template, test_per_template,
                                            valid_per_template)
                    for split in splits:
                        tasks[split].extend(items[split])
        finally:
            conn.close()

    env = SqlEnv(out_dir, max_turns=10, rules="embedded")
    records: dict[str, list[dict]] = {}
    for split in splits:
        order = list(tasks[split])
        random.Random(f"{seed}:order:{split}").shuffle(order)
        records[split] = []
        for index, task in enumerate(order):
            task_id = f"sql-{split}-{index:05d}"
            played = run_expert(env, task)
            record = {
                "id": task_id,
                "task_id": task_id,
                "benchmark": BENCHMARK,
                "split": split,
                "task": task,
                "messages": played["messages"],
                "reward": played["reward"],
                "success": played["success"],
                "steps": played["steps"],
                "config_hash": chash,
            }
            records[split].append(validate(record, "trajectory"))
    return records
