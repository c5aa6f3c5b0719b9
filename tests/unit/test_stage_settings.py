"""The ``--settings`` entries as dataclasses (ipr/workflow/settings.py, ipr.cli.Settings) and the
other settings dataclasses: defaults equal to config/schema.yaml's, every schema key a field, one-line
errors, and the real ``--settings`` of every stored dry-run job read without error."""

import dataclasses
import gzip
import json
import re
from pathlib import Path

import pytest
import yaml

from ipr.cli import Settings
from ipr.envs.sql.backends import MysqlBackend
from ipr.envs.sql.intercode import BackendSpec
from ipr.envs.webshop.env import SETTINGS_FILE, WebShopAssetSettings
from ipr.records import ConfigError
from ipr.training.tiny_model import TinyModelSettings
from ipr.workflow.settings import BenchmarkSettings, MethodSettings, RolloutConfig

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
SECTIONS = SCHEMA["properties"]


def schema_properties(name: str) -> dict:
    """The properties of a config section or of one entry of a keyed section."""
    section = SECTIONS[name]
    return section["additionalProperties"]["properties"] if name in ("benchmarks", "method_settings") \
        else section["properties"]


def schema_default(prop: dict):
    """A property's default, written on it or on the definition it refers to."""
    if "default" in prop:
        return prop["default"]
    target = prop.get("$ref", "").removeprefix("#/$defs/")
    return SCHEMA["$defs"].get(target, {}).get("default", dataclasses.MISSING)


CASES = [("benchmarks", BenchmarkSettings), ("explore", RolloutConfig), ("score", RolloutConfig),
         ("evaluate", RolloutConfig), ("method_settings", MethodSettings)]


def field_default(f: dataclasses.Field):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


@pytest.mark.parametrize("section, cls", CASES, ids=[c[0] for c in CASES])
def test_every_schema_key_is_a_field_with_the_schemas_default(section, cls):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    compared = 0
    for key, prop in schema_properties(section).items():
        assert key in fields, f"{section}.{key} is no field of {cls.__name__}"
        default = schema_default(prop)
        if default is not dataclasses.MISSING:
            assert field_default(fields[key]) == default, f"{cls.__name__}.{key} != schema default of {section}.{key}"
            compared += 1
    assert compared


def test_the_compared_defaults_cover_the_documented_ones():
    """The defaults a stage used to write inline (.get(key, default)) are the schema's."""
    assert BenchmarkSettings() == BenchmarkSettings(max_turns=10, tau_step=0.1, tau_outcome=0.1, generate={})
    rollout = RolloutConfig()
    assert (rollout.backend, rollout.batch_size, rollout.max_new_tokens, rollout.num_samples, rollout.temperature,
            rollout.top_p, rollout.only_candidates, rollout.chunk_tasks, rollout.scorer, rollout.splits) == \
        ("transformers", 64, 96, 4, 1.0, 1.0, True, 16, "mc", ["test"])
    method = MethodSettings()
    assert (method.step_pairs, method.outcome_pairs, method.trainer, method.reference, method.rft_min_reward,
            method.train, method.later_train) == (True, True, "mixed", "sft", 1.0, {}, {})


def test_seed_defaults_to_the_schemas():
    assert Settings().seed == SECTIONS["seed"]["default"] == 0
    assert Settings({"seed": 7}).seed == 7


@pytest.mark.parametrize("settings, read, message", [
    ({"explore": {"batch_sise": 2}}, lambda s: s.rollout, "--settings explore: unknown field 'batch_sise' (known: "),
    ({"score": {"num_samples": "4"}}, lambda s: s.rollout, "--settings score: field 'num_samples' must be an integer"),
    ({"benchmark": {"env": "webshop", "tau": 0.1}}, lambda s: s.benchmark,
     "--settings benchmark: unknown field 'tau' (known: "),
    ({"method": {"step_pair": True}}, lambda s: s.method, "--settings method: unknown field 'step_pair' (known: "),
    ({"method": {"step_pairs": True}}, lambda s: s.method.loss_weights("--settings method"),
     "--settings method: missing field 'outcome_weight'"),
    ({"benchmark": {"tau_step": 0.1}}, lambda s: s.benchmark.require_env("--settings benchmark"),
     "--settings benchmark: missing field 'env'"),
])
def test_a_bad_entry_is_one_line_naming_entry_and_field(settings, read, message):
    with pytest.raises(ConfigError) as error:
        read(Settings(settings))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_the_rollout_section_is_a_rollout_stages():
    with pytest.raises(SystemExit, match="carries the train section"):
        Settings({"train": {}}).rollout


def job_settings() -> list[dict]:
    found = {}
    for path in sorted((ROOT / "tests/fixtures/dry_run").glob("*.txt.gz")):
        for match in re.finditer(r"--settings '([^']*)'", gzip.decompress(path.read_bytes()).decode()):
            found[match.group(1)] = json.loads(match.group(1))
    return list(found.values())


def test_every_stored_jobs_settings_read_as_dataclasses():
    jobs = job_settings()
    assert jobs
    read = {"benchmark": 0, "method": 0, "rollout": 0}
    for raw in jobs:
        settings = Settings(raw)
        assert settings.seed == raw["seed"]
        if "benchmark" in raw:
            assert {k: v for k, v in dataclasses.asdict(settings.benchmark).items() if k in raw["benchmark"]} \
                == raw["benchmark"]
            read["benchmark"] += 1
        if "method" in raw:
            method = settings.method
            if method.trainer == "mixed" and "name" in raw["method"]:
                assert set(method.loss_weights()) == {"outcome_weight", "step_weight", "sft_weight"}
            read["method"] += 1
        if any(name in raw for name in Settings.ROLLOUT_STAGES):
            assert settings.rollout.batch_size == settings.stage["batch_size"]
            read["rollout"] += 1
    assert all(read.values()), read


def test_webshop_asset_settings(tmp_path):
    assert WebShopAssetSettings.from_assets(tmp_path) == WebShopAssetSettings()  # no webshop.json: defaults
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"seed": 3, "results_per_page": 5, "page_score": "raw"}))
    settings = WebShopAssetSettings.from_assets(tmp_path)  # the generator's provenance keys are not read
    assert (settings.results_per_page, settings.page_score, settings.fuzzy_matcher) == (5, "raw", "original")
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"results_per_page": "five"}))
    with pytest.raises(ConfigError, match=r"webshop.json: field 'results_per_page' must be an integer, got 'five'$"):
        WebShopAssetSettings.from_assets(tmp_path)


def test_mysql_connection_settings():
    backend = MysqlBackend({"socket": "/tmp/s.sock", "user": "reader"})
    assert (backend.settings.password, backend.settings.host, backend.settings.port, backend.settings.sql_mode) == \
        ("", "127.0.0.1", 3306, None)
    with pytest.raises(ConfigError, match=r"^mysql connection settings: unknown field 'pasword' "):
        MysqlBackend({"user": "reader", "pasword": "x"})
    with pytest.raises(ConfigError, match=r"^mysql connection settings: missing field 'user'$"):
        MysqlBackend({"host": "db"})


def test_intercode_backend_spec(tmp_path):
    (tmp_path / "backend.json").write_text(json.dumps({"backend": "sqlite"}))
    assert BackendSpec.read(tmp_path) == BackendSpec(backend="sqlite", rules="intercode", server="private")
    (tmp_path / "backend.json").write_text(json.dumps({"backend": "mysql", "sever": "existing"}))
    with pytest.raises(ConfigError, match=r"backend.json: unknown field 'sever' "):
        BackendSpec.read(tmp_path)


def test_a_built_models_architecture_ignores_the_entrys_other_keys():
    entry = {"source": "build", "name": "tiny", "pretrain": {"epochs": 1}, "vocab_size": 512, "hidden_size": 64,
             "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
             "max_position_embeddings": 256}
    arch = TinyModelSettings.from_model_entry(entry)
    assert arch.chat_template == "chatml" and arch.hidden_size == 64
    with pytest.raises(ConfigError, match=r"^model settings: missing field 'vocab_size'$"):
        TinyModelSettings.from_model_entry({k: v for k, v in entry.items() if k != "vocab_size"})
