"""scripts/ holds exactly the stage scripts the rules run; measurement and study programs live in tools/."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def scripts_named_by_rules(rules_dir):
    """Script names in the stage_script(...) and library_code(...) calls of rules/*.smk (paths such as
    "../ipr/training/launch.py" are library modules, not scripts)."""
    names = set()
    for smk in sorted(rules_dir.glob("*.smk")):
        for arguments in re.findall(r"\b(?:stage_script|library_code)\(([^)]*)\)", smk.read_text()):
            names.update(re.findall(r'"([^"/]+\.py)"', arguments))
    return names


def test_rules_name_the_stage_scripts():
    named = scripts_named_by_rules(ROOT / "rules")
    assert {"prepare_data.py", "explore.py", "score.py", "score_rm.py", "train_mixed.py", "report.py"} <= named


def test_scripts_folder_holds_only_stage_scripts():
    named = scripts_named_by_rules(ROOT / "rules")
    present = {path.name for path in (ROOT / "scripts").glob("*.py")}
    unused = sorted(present - named)
    assert not unused, f"scripts/ holds {unused}, which no rule runs; tools that no rule runs belong in tools/"
    missing = sorted(named - present)
    assert not missing, f"rules/*.smk name {missing}, which scripts/ lacks"
