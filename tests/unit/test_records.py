"""Record validation errors name file, line and field; writes are atomic; shards resume exactly."""

import json

import pytest

from ipr.records import RecordError, ResumableWriter, gather_jsonl, load_jsonl, write_jsonl


def score(i, **over):
    record = {"id": f"task{i}:t2:agent", "task_id": f"task{i}", "t": 2, "who": "agent",
              "action": "Action: submit", "samples": [0.0, 1.0], "step_reward": 0.5, "config_hash": "abc"}
    record.update(over)
    return record


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")


def test_malformed_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "scores.jsonl"
    write_lines(path, [json.dumps(score(0)), "{not json"])
    with pytest.raises(RecordError) as info:
        load_jsonl(path, "score")
    assert info.value.line == 2 and info.value.field == "<json>"
    assert str(info.value).startswith(f"{path}:2: field '<json>': malformed JSON")


def test_missing_field(tmp_path):
    path = tmp_path / "scores.jsonl"
    bad = score(1)
    del bad["step_reward"]
    write_lines(path, [json.dumps(score(0)), json.dumps(bad)])
    with pytest.raises(RecordError, match=r"scores.jsonl:2: field 'step_reward': missing"):
        load_jsonl(path, "score")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("t", "2", "expected int, got str"),
        ("who", "critic", "expected one of"),
        ("samples", [0.5, "x"], "list of numbers"),
        ("step_reward", True, "got bool"),
    ],
)
def test_wrong_types(tmp_path, field, value, problem):
    path = tmp_path / "s.jsonl"
    write_lines(path, [json.dumps(score(0, **{field: value}))])
    with pytest.raises(RecordError, match=problem) as info:
        load_jsonl(path, "score")
    assert info.value.field == field and info.value.line == 1


def test_bad_message_role(tmp_path):
    path = tmp_path / "e.jsonl"
    record = {"id": "a:t1", "task_id": "a", "t": 1, "prefix": 1, "agent_action": "x", "outcome_reward": 0.0,
              "continuation": [{"role": "gpt", "content": "x"}], "config_hash": "h"}
    write_lines(path, [json.dumps(record)])
    with pytest.raises(RecordError, match="field 'continuation': message 0 has role 'gpt'"):
        load_jsonl(path, "explore")


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "out.jsonl"

    def records():
        yield score(0)
        yield score(1, who="nobody")

    with pytest.raises(RecordError):
        write_jsonl(path, records(), "score")
    assert list(tmp_path.iterdir()) == []


def test_resumable_writer_resumes_to_the_same_file(tmp_path):
    full = tmp_path / "full.jsonl"
    writer = ResumableWriter(full, "score")
    for i in range(4):
        writer.write(score(i))
    writer.finish([score(i)["id"] for i in range(4)])

    resumed = tmp_path / "resumed.jsonl"
    writer = ResumableWriter(resumed, "score")
    for i in range(2):
        writer.write(score(i))
    writer.close()  # killed here; the partial file stays, with a torn last line
    with open(resumed.with_name("resumed.jsonl.partial"), "a") as handle:
        handle.write('{"id": "torn')
    assert not resumed.exists()
    writer = ResumableWriter(resumed, "score")
    assert writer.done == {score(0)["id"], score(1)["id"]}
    for i in range(4):
        if score(i)["id"] not in writer.done:
            writer.write(score(i))
    writer.finish([score(i)["id"] for i in range(4)])
    assert resumed.read_bytes() == full.read_bytes()
    assert not resumed.with_name("resumed.jsonl.partial").exists()


def test_gather_rejects_duplicate_ids(tmp_path):
    a, b = tmp_path / "0.jsonl", tmp_path / "1.jsonl"
    write_jsonl(a, [score(0), score(1)], "score")
    write_jsonl(b, [score(1)], "score")
    with pytest.raises(RecordError, match="1.jsonl:1: field 'id': duplicate id"):
        gather_jsonl([a, b], tmp_path / "all.jsonl", "score")
    assert not (tmp_path / "all.jsonl").exists()
