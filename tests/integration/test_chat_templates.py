"""Chat templates (config/templates/*.jinja): for every template the tokens masked in are exactly the
assistant turns, the generation prompt is a token prefix; link_model gives a linked model a template
without writing into its (read-only) source and refuses a model whose own template cannot mask."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import yaml

from _training_fixtures import CHATML, SETTINGS, TEMPLATES_DIR, conversation, corpus
from ipr.records import InputError
from ipr.training.linked_model import TEMPLATE_FILE, link_model
from ipr.training.masking import encode_messages, encode_pair
from ipr.agent.backends import Request, Sampling, TransformersBackend
from ipr.training.templates import TEMPLATE_NAMES, TEMPLATE_TOKENS, TemplateTokens, load_template, turn_end_token
from ipr.training.tiny_model import build_tiny_model, train_tokenizer

REPO = Path(__file__).resolve().parents[2]


def assistant_span(name: str, content: str) -> str:
    """What a model using template ``name`` writes for one assistant turn (the generation span)."""
    eos = TEMPLATE_TOKENS[name].eos
    return f" {content} {eos}" if name == "llama-2" else content + eos


@pytest.fixture(scope="module", params=TEMPLATE_NAMES)
def template_tokenizer(request):
    """(template name, a byte-level BPE tokenizer with that template and its special tokens)."""
    tokenizer = train_tokenizer(corpus(), 400, TEMPLATE_TOKENS[request.param])
    tokenizer.chat_template = load_template(request.param, TEMPLATES_DIR)
    return request.param, tokenizer


def span_token_positions(tokenizer, text: str, spans: list[str]) -> list[int]:
    """Positions of the tokens of ``text`` that lie inside ``spans`` (found in order in ``text``);
    each span must start and end on a token boundary."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    starts = {start: i for i, (start, _) in enumerate(enc["offset_mapping"])}
    ends = {end: i for i, (_, end) in enumerate(enc["offset_mapping"])}
    positions, cursor = [], 0
    for span in spans:
        begin = text.index(span, cursor)
        cursor = begin + len(span)
        assert begin in starts and cursor in ends, f"span {span!r} cuts a token"
        positions += range(starts[begin], ends[cursor] + 1)
    return positions


def test_template_files_match_schema_and_token_table():
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    assert schema["$defs"]["template_name"]["enum"] == list(TEMPLATE_NAMES)
    assert sorted(p.stem for p in TEMPLATES_DIR.glob("*.jinja")) == sorted(TEMPLATE_NAMES)


# What a template writes by itself when a conversation has no system message (the model's default).
DEFAULT_SYSTEM_TEXT = {"smollm2": "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
                       "qwen2.5": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
                       "llama-3.1": "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024"}


@pytest.mark.parametrize("with_system", [True, False], ids=["system", "no-system"])
def test_mask_is_exactly_the_assistant_turns(template_tokenizer, with_system):
    """Also without a system message, where some templates write their model's default one: it is
    prompt, never a target."""
    name, tokenizer = template_tokenizer
    conv = conversation(3) if with_system else conversation(3)[1:]
    ids, mask = encode_messages(tokenizer, conv)
    text = tokenizer.apply_chat_template(conv, tokenize=False)
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == ids
    spans = [assistant_span(name, m["content"]) for m in conv if m["role"] == "assistant"]
    expected = span_token_positions(tokenizer, text, spans)
    masked = [i for i, m in enumerate(mask) if m]
    assert masked == expected
    assert [ids[i] for i in masked] == [ids[i] for i in expected]
    assert tokenizer.decode([ids[i] for i in masked]) == "".join(spans)
    default = DEFAULT_SYSTEM_TEXT.get(name)
    if default is not None:
        # SmolLM's and Qwen's default system message replaces a missing one; Llama 3.1's header is always there.
        assert (default in text) == (not with_system or name == "llama-3.1")


def test_eos_equal_to_pad_stays_a_target(template_tokenizer):
    """A tokenizer whose pad is its eos (SmolLM2): the eos that ends each assistant turn is a loss
    target, also after dynamic padding with that same id; masks come from the template, not the pad id."""
    from ipr.training.masking import pad_batch

    name, tokenizer = template_tokenizer
    ids, mask = encode_messages(tokenizer, conversation(7))
    eos = tokenizer.convert_tokens_to_ids(TEMPLATE_TOKENS[name].eos)
    ends = [i for i, token in enumerate(ids) if token == eos and mask[i]]
    assert len(ends) == 3  # one per assistant turn
    batch = pad_batch([ids, ids[: ends[0] + 1]], [mask, mask[: ends[0] + 1]], tokenizer.pad_token_id)
    assert all(batch["loss_mask"][0, i] == 1 for i in ends) and batch["loss_mask"][1, ends[0]] == 1
    assert batch["attention_mask"][1, ends[0] + 1:].sum() == 0
    if name == "smollm2":
        assert tokenizer.pad_token_id == eos


def test_generation_prompt_is_a_prefix_followed_by_the_span(template_tokenizer):
    name, tokenizer = template_tokenizer
    conv = conversation(4)
    full_text = tokenizer.apply_chat_template(conv, tokenize=False)
    full_ids = tokenizer.apply_chat_template(conv, return_dict=True)["input_ids"]
    for k, message in enumerate(conv):
        if message["role"] != "assistant":
            continue
        prompt_text = tokenizer.apply_chat_template(conv[:k], tokenize=False, add_generation_prompt=True)
        assert full_text.startswith(prompt_text + assistant_span(name, message["content"]))
        prompt_ids = tokenizer.apply_chat_template(conv[:k], add_generation_prompt=True, return_dict=True)["input_ids"]
        assert full_ids[: len(prompt_ids)] == prompt_ids


def test_encode_pair_masks_only_the_completions_assistant_turns(template_tokenizer):
    name, tokenizer = template_tokenizer
    conv = conversation(5)
    prompt, completion = conv[:2], conv[2:]
    ids, loss_mask, prompt_len = encode_pair(tokenizer, prompt, completion)
    assert prompt_len == len(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True)["input_ids"])
    text = tokenizer.apply_chat_template(conv, tokenize=False)
    spans = [assistant_span(name, m["content"]) for m in completion if m["role"] == "assistant"]
    assert [i for i, m in enumerate(loss_mask) if m] == span_token_positions(tokenizer, text, spans)


@pytest.mark.parametrize("name", ["llama-2", "llama-3"])
def test_built_model_keeps_the_templates_tokens(name, tmp_path):
    """A tiny model built with a template reloads (as Qwen2Tokenizer) with the same ids and masks."""
    from transformers import AutoTokenizer

    template = load_template(name, TEMPLATES_DIR)
    build_tiny_model(tmp_path / "m", corpus(), {**SETTINGS, "chat_template": name}, seed=0, chat_template=template)
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "m")
    fresh = train_tokenizer(corpus(), SETTINGS["vocab_size"], TEMPLATE_TOKENS[name])
    fresh.chat_template = template
    assert (reloaded.bos_token, reloaded.eos_token) == (TEMPLATE_TOKENS[name].bos, TEMPLATE_TOKENS[name].eos)
    assert encode_messages(reloaded, conversation(6)) == encode_messages(fresh, conversation(6))


def test_turn_end_token_of_each_template():
    for name in TEMPLATE_NAMES:  # llama-2 writes the tokenizer's own eos_token
        expected = None if name == "llama-2" else TEMPLATE_TOKENS[name].eos
        assert turn_end_token(load_template(name, TEMPLATES_DIR)) == expected
    assert turn_end_token("{% generation %}{{ m['content'] + \"<|end|>\" }}{% endgeneration %}") == "<|end|>"
    for unclear in ["{% generation %}{{ m['content'] }}{% endgeneration %}",
                    "{% generation %}{{ m['content'] + '<|end|>\\n' }}{% endgeneration %}",
                    "{% generation %}{{ '<|a|>' }}{% endgeneration %}{% generation %}{{ '<|b|>' }}{% endgeneration %}"]:
        with pytest.raises(InputError, match="ends an assistant turn"):
            turn_end_token(unclear)


# ------------------------------------------------------------------ link_model


def make_read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def model_store(tmp_path_factory):
    """A read-only store of three tiny models: 'own' (chatml with markers), 'plain' (no template),
    'unmarked' (templates without markers in every place transformers reads one from)."""
    store = tmp_path_factory.mktemp("store")
    build_tiny_model(store / "own", corpus(), SETTINGS, seed=0, chat_template=CHATML)
    build_tiny_model(store / "plain", corpus(), SETTINGS, seed=0, chat_template=CHATML)
    (store / "plain" / TEMPLATE_FILE).unlink()
    build_tiny_model(store / "unmarked", corpus(), SETTINGS, seed=0, chat_template=CHATML)
    unmarked = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    config_file = store / "unmarked" / "tokenizer_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "chat_template": unmarked}))
    (store / "unmarked" / TEMPLATE_FILE).write_text(unmarked)
    (store / "unmarked" / "additional_chat_templates").mkdir()
    (store / "unmarked" / "additional_chat_templates" / "default.jinja").write_text(unmarked)
    (store / "unmarked" / "additional_chat_templates" / "tools.jinja").write_text(unmarked)
    make_read_only(store)
    yield store
    make_writable(store)


def test_link_without_template_is_a_symlink(model_store, tmp_path):
    out = tmp_path / "models" / "own"
    link_model("own", model_store / "own", out, None)
    assert out.is_symlink() and out.resolve() == (model_store / "own").resolve()


def test_link_with_template_wins_over_every_source_template(model_store, tmp_path):
    from transformers import AutoTokenizer

    source, out = model_store / "unmarked", tmp_path / "models" / "llama"
    before = snapshot(source)
    link_model("llama", model_store / "own", out, None)  # an earlier whole-directory link is replaced
    template = load_template("chatml", TEMPLATES_DIR)
    link_model("llama", source, out, template)
    assert out.is_dir() and not out.is_symlink()
    assert snapshot(source) == before
    linked = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_symlink()}
    # The two config files naming the eos are real copies (see test_linked_model_stops_at_the_templates_turn_end).
    copied = {TEMPLATE_FILE, "additional_chat_templates/default.jinja", "tokenizer_config.json", "generation_config.json"}
    assert linked == set(before) - copied
    assert all((out / name).resolve() == (source / name).resolve() for name in linked)
    tokenizer = AutoTokenizer.from_pretrained(out)
    # The source's other named templates stay available; ours is the default.
    assert tokenizer.chat_template == {"default": template, "tools": (source / "additional_chat_templates/tools.jinja").read_text()}
    _, mask = encode_messages(tokenizer, conversation(7))
    assert any(mask)


@pytest.mark.parametrize("model", ["plain", "unmarked"])
def test_link_refuses_a_model_whose_template_cannot_mask(model_store, tmp_path, model):
    with pytest.raises(InputError, match=f"model '{model}'") as error:
        link_model(model, model_store / model, tmp_path / model, None)
    assert "\n" not in str(error.value) and "chat_template" in str(error.value)
    assert not (tmp_path / model).exists()


def test_link_script_fails_with_one_line(model_store, tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/link_model.py", "--model", "plain", "--path", str(model_store / "plain"),
         "--out", str(tmp_path / "plain")],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and "model 'plain'" in errors[0] and "no chat template" in errors[0]


# A Llama-3-like base model: its eos is <|end_of_text|>, while llama-3 turns end with <|eot_id|>.
LLAMA3_BASE_TOKENS = TemplateTokens(
    eos="<|end_of_text|>", pad="<|end_of_text|>", bos="<|begin_of_text|>",
    others=("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), header_texts=TEMPLATE_TOKENS["llama-3"].header_texts,
)
QUESTION = [{"role": "user", "content": "How many rows are in users?"}]


def build_llama3_like_base(out: Path) -> list[int]:
    """Save a base model whose greedy completion of QUESTION (under llama-3) is A B <|eot_id|>, then
    again A B <|eot_id|> ... when generation does not stop; returns [A, B].

    Every layer is zeroed, so the last hidden state is the input token's embedding: tokens p (the
    prompt's last), A, B and <|eot_id|> get orthogonal embeddings and lm_head maps each to its
    successor (p -> A -> B -> eot -> A).
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_tokenizer(corpus(), SETTINGS["vocab_size"], LLAMA3_BASE_TOKENS)
    tokenizer.chat_template = load_template("llama-3", TEMPLATES_DIR)
    prompt_last = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, return_dict=True)["input_ids"][-1]
    tokenizer.chat_template = None  # a base model: no template of its own
    first, second = tokenizer("Thought: done", add_special_tokens=False)["input_ids"][:2]
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    assert len({prompt_last, first, second, eot}) == 4
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32, max_position_embeddings=512, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(1.0 if name == "model.norm.weight" else 0.0)
        embed, head = model.model.embed_tokens.weight, model.lm_head.weight
        for k, (token, successor) in enumerate([(prompt_last, first), (first, second), (second, eot), (eot, first)]):
            embed[token, k] = 1.0
            head[successor, k] = 1.0
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                               bos_token_id=tokenizer.bos_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return [first, second]


def test_linked_model_stops_at_the_templates_turn_end(tmp_path):
    from transformers import AutoTokenizer, GenerationConfig

    source, out = tmp_path / "store" / "llama3-base", tmp_path / "models" / "llama3"
    answer = build_llama3_like_base(source)
    make_read_only(tmp_path / "store")
    before = snapshot(source)
    try:
        base = AutoTokenizer.from_pretrained(source)
        end_of_text, eot = base.eos_token_id, base.convert_tokens_to_ids("<|eot_id|>")
        assert base.eos_token == "<|end_of_text|>"
        link_model("llama3", source, out, load_template("llama-3", TEMPLATES_DIR))
        assert snapshot(source) == before
        for name in ["tokenizer_config.json", "generation_config.json"]:
            assert (out / name).is_file() and not (out / name).is_symlink()
        tokenizer = AutoTokenizer.from_pretrained(out)
        assert (tokenizer.eos_token, tokenizer.eos_token_id) == ("<|eot_id|>", eot)
        assert GenerationConfig.from_pretrained(out).eos_token_id == [eot, end_of_text]

        backend = TransformersBackend(out, device="cpu")
        completions = backend.generate([Request(QUESTION)], Sampling(max_new_tokens=12))
        assert completions == [[tokenizer.decode(answer)]]
        assert backend.generated_tokens == 3  # A B <|eot_id|>, not the 12 it runs to without stopping
    finally:
        make_writable(tmp_path / "store")


def test_link_refuses_a_turn_end_that_is_not_a_token(model_store, tmp_path):
    with pytest.raises(InputError, match="model 'own'.*'<\\|eot_id\\|>'.*not a single token") as error:
        link_model("own", model_store / "own", tmp_path / "own", load_template("llama-3", TEMPLATES_DIR))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "own").exists()
