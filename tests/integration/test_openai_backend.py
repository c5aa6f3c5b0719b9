"""The openai generation backend's protocol handling against a local HTTP server that answers as an
OpenAI-compatible one would (its answers are scripted per test: rate limits, server errors, a
context overflow): request bodies, retries with backoff, the API key from the environment, the
one-line error naming the URL. The live test against ``vllm serve`` is in tests/e2e/test_real_model.py."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ipr.agent.backends import (GenerationServerError, OpenAIBackend, OpenAISettings, Request, Sampling,
                                make_backend)


class ScriptedServer:
    """Answers POST /v1/chat/completions with the next scripted (status, body, headers), then 200s."""

    def __init__(self, script=()):
        self.script = list(script)
        self.bodies, self.headers = [], []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.bodies.append(body)
                owner.headers.append(dict(self.headers))
                status, answer, headers = owner.script.pop(0) if owner.script else (200, None, {})
                if answer is None:
                    answer = {"choices": [{"index": i, "message": {"role": "assistant",
                                                                  "content": f"reply {i} to {body['messages'][-1]['content']}\nObservation: x"}}
                                          for i in reversed(range(body["n"]))],
                              "usage": {"completion_tokens": 3 * body["n"]}}
                data = json.dumps(answer).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server(request):
    s = ScriptedServer(getattr(request, "param", ()))
    yield s
    s.close()


def backend(url, **kw):
    return OpenAIBackend(OpenAISettings(base_url=url, model="m", backoff_s=0.01, max_backoff_s=0.05, **kw))


def ask(content, seeds=(0,)):
    return Request([{"role": "user", "content": content}], seeds)


def test_n_samples_stop_strings_seed_and_order(server):
    b = backend(server.url)
    out = b.generate([ask("a", (7, 8, 9)), ask("b")], Sampling(temperature=1.0, top_p=0.9, max_new_tokens=5))
    assert out == [["reply 0 to a", "reply 1 to a", "reply 2 to a"], ["reply 0 to b"]]
    first = next(body for body in server.bodies if body["messages"][-1]["content"] == "a")
    assert (first["n"], first["seed"], first["temperature"], first["top_p"], first["max_tokens"]) == (3, 7, 1.0, 0.9, 5)
    assert first["stop"] == ["\nObservation:"] and first["model"] == "m"
    assert b.generated_tokens == 12


def test_greedy_sends_temperature_zero_and_no_seed(server):
    backend(server.url).generate([ask("a", (5,))], Sampling())
    assert server.bodies[0]["temperature"] == 0.0 and "seed" not in server.bodies[0]


@pytest.mark.parametrize("server", [[(429, {"error": "slow down"}, {"Retry-After": "0"}),
                                     (503, {"error": "loading"}, {})]], indirect=True)
def test_rate_limits_and_server_errors_are_retried(server):
    assert backend(server.url).generate([ask("a")], Sampling()) == [["reply 0 to a"]]
    assert len(server.bodies) == 3


@pytest.mark.parametrize("server", [[(500, {"error": "boom"}, {})] * 3], indirect=True)
def test_persistent_server_errors_end_in_one_line_with_the_url(server):
    with pytest.raises(GenerationServerError, match=r"^http://127\.0\.0\.1:\d+/v1/chat/completions answered HTTP 500"):
        backend(server.url, max_retries=2).generate([ask("a")], Sampling())
    assert len(server.bodies) == 3


@pytest.mark.parametrize("server", [[(400, {"error": {"message": "bad request: unknown field"}}, {})]], indirect=True)
def test_other_client_errors_are_not_retried(server):
    with pytest.raises(GenerationServerError, match="HTTP 400.*unknown field"):
        backend(server.url).generate([ask("a")], Sampling())
    assert len(server.bodies) == 1


@pytest.mark.parametrize("server", [[(400, {"error": {"message": "This model's maximum context length is 2048 tokens"}}, {})]],
                         indirect=True)
def test_a_prompt_over_the_context_gives_no_completions(server):
    assert backend(server.url).generate([ask("a"), ask("b")], Sampling()) in ([[], ["reply 0 to b"]], [["reply 0 to a"], []])


def test_api_key_comes_from_the_named_environment_variable(server, monkeypatch):
    monkeypatch.setenv("IPR_TEST_KEY", "sk-test")
    backend(server.url, api_key_env="IPR_TEST_KEY").generate([ask("a")], Sampling())
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    monkeypatch.delenv("IPR_TEST_KEY")
    with pytest.raises(GenerationServerError, match="IPR_TEST_KEY is not set"):
        backend(server.url, api_key_env="IPR_TEST_KEY")


def test_concurrency_is_bounded(server):
    b = backend(server.url, max_concurrency=3)
    out = b.generate([ask(str(i)) for i in range(10)], Sampling())
    assert out == [[f"reply 0 to {i}"] for i in range(10)]


def test_a_server_that_is_down_is_one_line_naming_the_url():
    s = ScriptedServer()
    url = s.url
    s.close()  # nothing listens on the port now
    with pytest.raises(GenerationServerError, match=rf"^generation server {url}/chat/completions is not reachable after 2 tries"):
        backend(url, max_retries=1).generate([ask("a")], Sampling())
    assert isinstance(make_backend("openai", "unused", 8, {"base_url": url, "model": "m"}), OpenAIBackend)


def test_the_stage_script_fails_with_one_line_when_the_server_is_down(tmp_path):
    s = ScriptedServer()
    url = s.url
    s.close()
    from ipr.envs import generate
    from ipr.records import write_jsonl

    splits = generate("sql_embedded", tmp_path / "assets", 0, train_per_template=1, test_per_template=1)
    write_jsonl(tmp_path / "test.jsonl", splits["test"][:1], "trajectory")
    settings = {"seed": 0, "benchmark": {"env": "sql_embedded", "max_turns": 2},
                "evaluate": {"backend": "openai", "batch_size": 4, "max_new_tokens": 8,
                             "openai": {"base_url": url, "model": "m", "max_retries": 0}}}
    proc = subprocess.run([sys.executable, "scripts/evaluate.py", "--benchmark", "b", "--policy", str(tmp_path / "none"),
                           "--tasks", str(tmp_path / "test.jsonl"), "--assets", str(tmp_path / "assets"),
                           "--settings", json.dumps(settings), "--out", str(tmp_path / "out.jsonl")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    # One error line (after the progress bar's carriage-returned text), no traceback.
    errors = [line[line.index("error:"):] for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert errors[0].startswith(f"error: generation server {url}/chat/completions is not reachable")
    assert not (tmp_path / "out.jsonl").exists()
