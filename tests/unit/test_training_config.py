"""The trainers' config dataclasses: documented defaults, one-line errors, round trips, the real
``--settings`` of the workflow's training jobs, and the checkpoint fingerprint."""

import dataclasses
import gzip
import json
import re
from pathlib import Path

import pytest

from ipr.training.config import (
    CONFIGS,
    ConfigError,
    LoraSettings,
    MixedLossConfig,
    RewardModelConfig,
    SFTConfig,
    TrainingConfig,
    fields_table,
)
from ipr.training.trainer import run_fingerprint

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {"epochs": 2, "learning_rate": 1e-3, "batch_size": 4}

# The defaults the trainers used when each read its settings with .get(key, default): written out
# here by hand, so a changed default in ipr/training/config.py fails this test.
ENGINE_DEFAULTS = {
    "gradient_accumulation_steps": 1, "weight_decay": 0.0, "warmup_ratio": 0.0, "max_grad_norm": 1.0,
    "max_length": None, "gradient_checkpointing": False, "deepspeed": None, "processes": 0, "save_steps": 500,
    "finetuning": "full", "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"},
    "device": "auto", "num_threads": None, "progress": True,
}
DEFAULTS = {
    SFTConfig: {**ENGINE_DEFAULTS, "loss_on": "assistant"},
    MixedLossConfig: {**ENGINE_DEFAULTS, "label_smoothing": 0.0, "sft_normalize": "token", "loss_variant": "ipr"},
    RewardModelConfig: {**ENGINE_DEFAULTS, "validation_fraction": 0.2, "eval_batch_size": 16, "cost_tasks": 8},
}
REQUIRED_OF = {SFTConfig: REQUIRED, MixedLossConfig: {**REQUIRED, "beta": 0.1}, RewardModelConfig: REQUIRED}


@pytest.mark.parametrize("cls", list(DEFAULTS), ids=lambda c: c.__name__)
def test_defaults_are_the_documented_ones(cls):
    config = cls.from_settings(REQUIRED_OF[cls])
    assert config.to_dict() == {**DEFAULTS[cls], **{k: float(v) if k != "batch_size" else v
                                                    for k, v in REQUIRED_OF[cls].items()}}
    assert isinstance(config.epochs, float) and isinstance(config.batch_size, int)


def test_every_field_has_help_and_the_docs_hold_each_table():
    doc = (ROOT / "docs/reference/training.md").read_text()
    for cls in CONFIGS:
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help"
        assert fields_table(cls) in doc, f"docs/reference/training.md: the table of {cls.__name__} is out of date"


@pytest.mark.parametrize("settings, message", [
    ({**REQUIRED, "beta": 0.1, "learnig_rate": 1e-3}, "train settings: unknown field 'learnig_rate' (known: epochs, "),
    ({**REQUIRED, "beta": 0.1, "lora": {"rank": 4}}, "train settings: unknown field 'lora.rank' (known: r, alpha, "),
    ({**REQUIRED, "beta": 0.1, "lora": 4}, "train settings: field 'lora' must be a mapping, got 4"),
    (REQUIRED, "train settings: missing field 'beta'"),
    ({**REQUIRED, "beta": "0.1"}, "train settings: field 'beta' must be a number, got '0.1'"),
    ({**REQUIRED, "beta": 0.1, "batch_size": 2.5}, "train settings: field 'batch_size' must be an integer, got 2.5"),
    ({**REQUIRED, "beta": 0.1, "progress": "no"}, "train settings: field 'progress' must be true or false, got 'no'"),
    ({**REQUIRED, "beta": 0.1, "epochs": None}, "train settings: field 'epochs' must not be null"),
    ({**REQUIRED, "beta": 0.1, "device": 0}, "train settings: field 'device' must be a string, got 0"),
])
def test_a_bad_setting_is_one_line_naming_source_and_field(settings, message):
    with pytest.raises(ConfigError) as error:
        MixedLossConfig.from_settings(settings, source="train settings")
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_loss_field_is_unknown_to_sft():
    with pytest.raises(ConfigError, match=r"^sft settings: unknown field 'beta' "):
        SFTConfig.from_settings({**REQUIRED, "beta": 0.1}, source="sft settings")


def test_round_trip_through_dict_and_json():
    config = MixedLossConfig.from_settings({
        **REQUIRED, "beta": 0.2, "label_smoothing": 0.1, "sft_normalize": "sum", "max_length": 512,
        "finetuning": "lora", "lora": {"r": 4, "target_modules": ["q_proj", "v_proj"]}, "num_threads": 2,
        "deepspeed": "config/deepspeed/zero3.json", "gradient_checkpointing": True, "progress": False,
    })
    assert config.lora == LoraSettings(r=4, target_modules=["q_proj", "v_proj"])
    assert MixedLossConfig.from_settings(config.to_dict()) == config
    assert MixedLossConfig.from_settings(json.loads(json.dumps(config.to_dict()))) == config
    assert dataclasses.replace(config, beta=0.3).beta == 0.3 and config.beta == 0.2  # frozen


def job_settings(section: str) -> list[dict]:
    """Every distinct ``section`` of the ``--settings`` JSON in the stored dry-run job lists."""
    found = {}
    for path in sorted((ROOT / "tests/fixtures/dry_run").glob("*.txt.gz")):
        for match in re.finditer(r"--settings '([^']*)'", gzip.decompress(path.read_bytes()).decode()):
            settings = json.loads(match.group(1))
            if section in settings:
                found[json.dumps(settings[section], sort_keys=True)] = settings[section]
    return list(found.values())


@pytest.mark.parametrize("section, cls", [("sft", SFTConfig), ("train", MixedLossConfig),
                                          ("reward_model", RewardModelConfig)])
def test_the_workflows_training_jobs_build_their_configs(section, cls):
    sections = job_settings(section)
    assert sections
    for settings in sections:
        assert cls.from_settings(settings, source=f"{section} settings").to_dict().items() >= {
            k: v for k, v in settings.items() if k != "lora"}.items()


def test_fingerprint_changes_with_every_field():
    base = MixedLossConfig.from_settings({**REQUIRED, "beta": 0.1})
    examples = [{"input_ids": [1, 2, 3]}]
    reference = run_fingerprint(base, 0, examples, "model")
    assert run_fingerprint(MixedLossConfig.from_settings(base.to_dict()), 0, examples, "model") == reference
    changed = {"float": 0.123, "int": 7, "int | None": 7, "str": "other", "str | None": "other.json",
               "LoraSettings": LoraSettings(r=3)}
    for f in dataclasses.fields(MixedLossConfig):
        value = not getattr(base, f.name) if f.type == "bool" else changed[str(f.type)]
        other = dataclasses.replace(base, **{f.name: value})
        assert run_fingerprint(other, 0, examples, "model") != reference, f.name


def test_engine_config_is_the_base_of_each_trainer_config():
    assert all(issubclass(cls, TrainingConfig) for cls in DEFAULTS)


def test_every_key_the_schema_allows_in_a_training_section_is_a_field():
    import yaml

    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    sections = schema["properties"]
    pretrain = sections["models"]["additionalProperties"]["properties"]["pretrain"]["properties"]
    drills = {"copy_drills", "question_copy_drills", "question_copy_drills_per_text"}  # scripts/build_model.py's
    for keys, cls in ((sections["sft"]["properties"], SFTConfig), (sections["train"]["properties"], MixedLossConfig),
                      (sections["reward_model"]["properties"], RewardModelConfig), (set(pretrain) - drills, SFTConfig),
                      (schema["$defs"]["lora"]["properties"], LoraSettings)):
        fields = {f.name for f in dataclasses.fields(cls)}
        assert set(keys) <= fields, (cls.__name__, set(keys) - fields)
