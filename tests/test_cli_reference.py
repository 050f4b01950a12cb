"""One name per concept (issue 11): the guide's command reference is the parser's, every flag the docs mention
exists, the old names are hidden aliases, and ``dir(taxoclass)`` lists the lazily imported names."""

import re
from pathlib import Path

import pytest

from taxoclass.cli.main import build_parser
from taxoclass.cli.reference import END, START, all_commands, cli_reference, public_options

ROOT = Path(__file__).resolve().parents[1]
NOT_OURS = {"--logdir", "--quick", "--fashion-mnist", "--limit",  # tensorboard's, and the scripts' in benchmarks/
            "--arch", "--head", "--sizefeat", "--width",  # benchmarks/ndsb_recipe_study.py
            "--sizes",  # benchmarks/predict_scale.py
            "--resamples",  # benchmarks/paired_bootstrap.py
            "--final-minutes",  # benchmarks/tune_ndsb.py
            "--fractions",  # benchmarks/subsample_manifest.py
            "--test-source", "--test-subdir", "--modes"}  # benchmarks/tta_views.py


def test_the_guide_holds_the_generated_command_reference():
    guide = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    section = guide.split(START, 1)[1].split(END, 1)[0]
    assert section.strip() == cli_reference().strip(), (
        "docs/guide.md is out of date: run `python -m taxoclass.cli.reference docs/guide.md`")


def test_every_flag_the_docs_mention_is_a_current_option():
    known = {"--help", "--version"}
    for _, parser in [("taxoclass", build_parser()), *all_commands()]:  # the top level's own options too (--verbose)
        for action in public_options(parser):
            known |= set(action.option_strings)
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8").split("## 8. Command reference")[0]  # 8 names the old aliases
        unknown = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)) - known - NOT_OURS
        assert not unknown, f"{path.name} mentions options the CLI does not have: {sorted(unknown)}"


def _meaning(action, option):
    """What an option means, as far as the parser tells: where it goes and which values it takes. The metavar
    of -o/--output names what a command writes (FILE, DIR, CSV), so it may differ; so may the choices of
    --format, the format of what a command outputs (text|json for reports, csv|ecotaxa for predictions)."""
    metavar = None if option in ("-o", "--output") else action.metavar
    choices = () if option == "--format" else tuple(action.choices or ())
    return (action.dest, choices, action.nargs, type(action).__name__, metavar)


def test_one_option_name_per_concept_across_commands():
    """The same option string means the same thing (same destination, same kind of value) in every command:
    `--levels` once meant taxonomy level columns in `taxonomy` and "1|all" in `cluster-confusion`/`benchmark`."""
    seen: dict[str, dict] = {}
    for line, parser in all_commands():
        for action in public_options(parser):
            for s in action.option_strings:
                seen.setdefault(s, {}).setdefault(_meaning(action, s), []).append(line)
    assert {s: d for s, d in seen.items() if len(d) > 1} == {}
    assert "--out" not in seen and "--labels" not in seen and "--max-size" not in seen
    assert [m[4] for m in seen["--levels"]] == ["COL,COL,..."]
    assert set(next(iter(seen["--cluster-levels"].values()))) == {"taxoclass cluster-confusion", "taxoclass benchmark"}


def test_the_python_arguments_have_the_options_names():
    """A CLI option and the Python argument it feeds have one name: class names are `classes`, the "1|all" of an
    error-based tree is `cluster_levels`, `levels` are the level columns of a taxonomy table."""
    from inspect import signature

    from taxoclass.clustering import ConfusionClustering, cluster_confusion, load_confusion, normalize_confusion
    from taxoclass.comparison import run_benchmark
    from taxoclass.models.tree import TreeClassifier
    from taxoclass.taxonomy import load_taxonomy
    from taxoclass.jobs import train_job

    def params(f):
        return list(signature(f).parameters)

    for f in (cluster_confusion, load_confusion, normalize_confusion, TreeClassifier.from_confusion):
        p = params(f)
        assert "classes" in p and ("labels" not in p or p.index("labels") == len(p) - 1), f  # labels: deprecated
    for f in (ConfusionClustering.to_taxonomy, run_benchmark, train_job, TreeClassifier.from_confusion):
        p = params(f)
        assert "cluster_levels" in p and ("levels" not in p or p.index("levels") == len(p) - 1), f
    assert "levels" in params(load_taxonomy) and "confusion_classes" in params(train_job)
    for line, parser in all_commands():
        dests = {a.dest for a in public_options(parser)}
        if line == "taxoclass cluster-confusion":
            lib = set(params(cluster_confusion)) | set(params(ConfusionClustering.to_taxonomy))
            assert {"beta", "classes", "symmetrize", "linkage", "max_cluster_size", "method", "n_clusters",
                    "drop_empty", "cluster_levels"} <= dests & lib
        if line == "taxoclass benchmark":
            assert {"beta", "cluster_levels", "max_cluster_size"} <= dests & set(params(run_benchmark))


@pytest.mark.parametrize("command, old, new, dest, value", [
    ("cluster-confusion", "--labels", "--classes", "classes", "x.txt"),
    ("cluster-confusion", "--out", "--output", "output", "x.txt"),
    ("cluster-confusion", "--max-size", "--max-cluster-size", "max_cluster_size", "4"),
    ("cluster-confusion", "--levels", "--cluster-levels", "cluster_levels", "all"),
    ("benchmark", "--levels", "--cluster-levels", "cluster_levels", "all"),
    ("benchmark", "--max-size", "--max-cluster-size", "max_cluster_size", "4")])
def test_old_names_are_hidden_aliases(command, old, new, dest, value):
    parser = build_parser()
    pre = [command, "cm.npy"] if command == "cluster-confusion" else [command, "-o", "out"]
    a = parser.parse_args([*pre, old, value])
    b = parser.parse_args([*pre, new, value])
    assert getattr(a, dest) == getattr(b, dest) is not None
    help_text = parser._subparsers._group_actions[0].choices[command].format_help()
    assert new in help_text and not re.search(rf"{old}(?![\w-])", help_text)


def test_dir_lists_the_lazy_names():
    import taxoclass

    names = dir(taxoclass)
    for name in ("TreeClassifier", "FlatClassifier", "run_benchmark", "load_dataset", "evaluate_predictions",
                 "metrics", "comparison", "Taxonomy"):
        assert name in names
    assert callable(taxoclass.run_benchmark)
