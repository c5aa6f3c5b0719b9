"""tools/results_page.py: a run's tables into a docs page, the analysis around them kept."""

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import results_page  # noqa: E402

from ipr.workflow.plan import Plan, load_config  # noqa: E402


def finished_run(root: Path) -> Path:
    """The default config's tables, and benchmark files of two of its jobs and of another run's job."""
    tables = root / "results/tables"
    tables.mkdir(parents=True)
    for name in results_page.TABLES:
        (tables / f"{name}.md").write_text(f"# Title of {name}\n\n| a |\n|---|\n| {name} |\n")
    (tables / "effect.csv").write_text("benchmark,comparison,commit\nsql,ipr-sft,abc123\nsql,eto-sft,abc123\n")
    config = load_config([ROOT / "config/config.yaml"], ROOT / "config/schema.yaml")
    (tables / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    benchmarks = {rule: path for rule, _, path in Plan.from_config(config, ROOT).job_benchmarks()}
    header = "s\th:m:s\tmax_rss\tcpu_time\n"
    for rel, rows in {benchmarks["sft"]: ["90.0\t0:01:30\t1\t120.0"],
                      benchmarks["train"]: ["5\t0\t1\t1", "30.0\t0:00:30\t1\t60.0"],
                      "benchmarks/sql_embedded/tiny-seed9/sft/sft.tsv": ["600\t0:10:00\t1\t600"]}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + "\n".join(rows) + "\n")
    return root


def test_a_new_page_gets_every_table_the_commit_and_the_job_times(tmp_path):
    run = finished_run(tmp_path / "run")
    page = tmp_path / "page.md"
    assert results_page.main([str(run), str(page), "--command", "make run", "--machine", "2 cores, idle"]) == 0
    text = page.read_text()
    assert text.startswith("# Results: page\n")
    assert "- Commit: `abc123`." in text and "- Machine: 2 cores, idle." in text
    # The run's two files, not the other run's; the retried job counts its last attempt only.
    assert "- Jobs: 2, 3.0 CPU-minutes and 2.0 job-minutes of wall time" in text
    assert [line for line in text.splitlines() if line.startswith("## Title of")] == [
        f"## Title of {name}" for name in results_page.TABLES]


def test_regenerating_keeps_the_text_around_the_tables(tmp_path):
    run = finished_run(tmp_path / "run")
    page = tmp_path / "page.md"
    page.write_text(f"# My run\n\nBefore.\n\n{results_page.BEGIN}\nold tables\n{results_page.END}\n\nAnalysis.\n")
    results_page.main([str(run), str(page), "--command", "make run", "--machine", "m"])
    first = page.read_text()
    assert first.startswith("# My run\n\nBefore.\n\n") and first.endswith(f"{results_page.END}\n\nAnalysis.\n")
    assert "old tables" not in first
    results_page.main([str(run), str(page), "--command", "make run", "--machine", "m"])
    assert page.read_text() == first
    assert not list(tmp_path.glob("*.partial"))


def test_an_unfinished_run_is_one_line(tmp_path):
    run = finished_run(tmp_path / "run")
    (run / "results/tables/pairs.md").unlink()
    with pytest.raises(SystemExit, match=r"results/tables: no pairs.md \(is the run finished\?\)"):
        results_page.main([str(run), str(tmp_path / "page.md"), "--command", "c", "--machine", "m"])


def test_a_run_without_its_config_as_run_is_one_line(tmp_path):
    run = finished_run(tmp_path / "run")
    (run / "results/tables/config.yaml").unlink()
    with pytest.raises(SystemExit, match=r"results/tables: no config.yaml \(is the run finished\?\)"):
        results_page.main([str(run), str(tmp_path / "page.md"), "--command", "c", "--machine", "m"])


def test_tables_names_which_tables_and_in_what_order(tmp_path):
    run = finished_run(tmp_path / "run")
    (run / "results/tables/table4.md").write_text("# Title of table4\n\n| a |\n|---|\n| grid |\n")
    page = tmp_path / "page.md"
    results_page.main([str(run), str(page), "--command", "c", "--machine", "m", "--tables", "table4", "main"])
    assert [line for line in page.read_text().splitlines() if line.startswith("## Title of")] == [
        "## Title of table4", "## Title of main"]
