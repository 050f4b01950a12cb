"""One name per concept (issue 11): the guide's command reference is the parser's, every flag the docs mention
exists, the old names are hidden aliases, and ``dir(taxoclass)`` lists the lazily imported names."""

import re
from pathlib import Path

import pytest

from taxoclass.cli.main import build_parser
from taxoclass.cli.reference import END, START, all_commands, cli_reference, public_options

ROOT = Path(__file__).resolve().parents[1]
NOT_OURS = {"--logdir", "--quick", "--fashion-mnist", "--limit"}  # tensorboard's, and the scripts' in benchmarks/


def test_the_guide_holds_the_generated_command_reference():
    guide = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    section = guide.split(START, 1)[1].split(END, 1)[0]
    assert section.strip() == cli_reference().strip(), (
        "docs/guide.md is out of date: run `python -m taxoclass.cli.reference docs/guide.md`")


def test_every_flag_the_docs_mention_is_a_current_option():
    known = {"--help", "--version"}
    for _, parser in all_commands():
        for action in public_options(parser):
            known |= set(action.option_strings)
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8").split("## 8. Command reference")[0]  # 8 names the old aliases
        unknown = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)) - known - NOT_OURS
        assert not unknown, f"{path.name} mentions options the CLI does not have: {sorted(unknown)}"


def test_one_option_name_per_concept_across_commands():
    """The same option string means the same thing (same destination) in every command."""
    seen: dict[str, set] = {}
    for _, parser in all_commands():
        for action in public_options(parser):
            for s in action.option_strings:
                seen.setdefault(s, set()).add(action.dest)
    assert {s: d for s, d in seen.items() if len(d) > 1} == {}
    assert "--out" not in seen and "--labels" not in seen and "--max-size" not in seen


@pytest.mark.parametrize("old, new, dest", [("--labels", "--classes", "classes"), ("--out", "--output", "output"),
                                            ("--max-size", "--max-cluster-size", "max_cluster_size")])
def test_old_names_are_hidden_aliases(old, new, dest):
    parser = build_parser()
    value = "4" if dest == "max_cluster_size" else "x.txt"
    a = parser.parse_args(["cluster-confusion", "cm.npy", old, value])
    b = parser.parse_args(["cluster-confusion", "cm.npy", new, value])
    assert getattr(a, dest) == getattr(b, dest) is not None
    help_text = parser._subparsers._group_actions[0].choices["cluster-confusion"].format_help()
    assert new in help_text and not re.search(rf"{old}(?![\w-])", help_text)


def test_dir_lists_the_lazy_names():
    import taxoclass

    names = dir(taxoclass)
    for name in ("TreeClassifier", "FlatClassifier", "run_benchmark", "load_dataset", "evaluate_predictions",
                 "metrics", "comparison", "Taxonomy"):
        assert name in names
    assert callable(taxoclass.run_benchmark)
