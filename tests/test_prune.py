"""Training on the classes you have (issue 13 §2): prune_taxonomy (properties on random trees), the
`taxonomy prune` command, `train --prune`, `validate --classes FOLDER` and integer labels with --classes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from taxoclass import Taxonomy
from taxoclass.cli.main import main
from taxoclass.data import ImageSet
from taxoclass.exceptions import ClassMismatchError, DataError, TaxonomyError
from taxoclass.taxonomy import load_taxonomy
from taxoclass.taxonomy.pruning import prune_taxonomy
from taxoclass.taxonomy.tree import _first

NDSB = "taxonomies/ndsb_plankton.tsv"


@st.composite
def trees(draw):
    """A random taxonomy (2-12 classes, depth up to 4; an internal node is named by the branch choices that lead
    to it, so names are unique) and a random subset of two or more of its classes."""
    n = draw(st.integers(2, 12))
    paths = []
    for i in range(n):
        choices = draw(st.text("pqr", max_size=3))
        paths.append(tuple(choices[:d + 1] for d in range(len(choices))) + (f"c{i}",))
    tax = Taxonomy.from_paths(paths)
    keep = draw(st.lists(st.sampled_from(tax.classes), min_size=2, unique=True))
    return tax, keep


def _orig_node(tax, pruned, node):
    """The node of ``tax`` that a pruned node stands for: same name, an ancestor of its first class."""
    leaf = pruned.classes_under(node)[0]
    return next(n for n in tax.path(leaf) if n[-1] == node[-1])


@settings(max_examples=150, deadline=None)
@given(trees())
def test_prune_keeps_exactly_the_classes_and_only_removes_chains_it_made(case):
    tax, keep = case
    pruned = prune_taxonomy(tax, keep)
    assert pruned.classes == tuple(c for c in tax.classes if c in keep)  # the reference's order
    for c in pruned.classes:  # each lineage is the reference's with some nodes left out, in order
        old = iter(tax.lineage(c))
        assert all(name in old for name in pruned.lineage(c))
    for node in pruned.internal_nodes:  # one child only where the reference had one child
        if len(pruned.children(node)) == 1:
            assert len(tax.children(_orig_node(tax, pruned, node))) == 1
    for a in pruned.classes:  # the branching point of two kept classes is the reference's
        for b in pruned.classes:
            if a != b:
                assert pruned.lca(a, b)[-1] == tax.lca(a, b)[-1]


@settings(max_examples=60, deadline=None)
@given(trees())
def test_pruning_to_every_class_changes_nothing(case):
    tax, _ = case
    assert prune_taxonomy(tax, tax.classes) == tax


def test_names_that_repeat_at_different_places_stay_apart():
    tax = Taxonomy.from_paths([["p0", "q1", "c0"], ["p0", "c7"], ["q0", "c8"], ["q0", "q1", "c9"]])
    pruned = prune_taxonomy(tax, ["c9", "c0"])
    assert pruned.classes == ("c0", "c9") and pruned.lca("c0", "c9") == pruned.root
    assert pruned.lineage("c0") == ["q1", "c0"] and pruned.lineage("c9") == ["q0", "q1", "c9"]


def test_no_trivial_root_after_pruning_one_branch():
    ref = load_taxonomy(NDSB)
    copepods = [c for c in ref.classes if c.startswith("copepod")]
    pruned = prune_taxonomy(ref, copepods)
    assert len(pruned.children(pruned.root)) >= 2 and set(pruned.classes) == set(copepods)


def test_prune_errors_name_a_few_and_count():
    ref = load_taxonomy(NDSB)
    with pytest.raises(ClassMismatchError) as err:
        prune_taxonomy(ref, [f"x{i}" for i in range(40)] + ["amphipods"])
    assert "40 class(es)" in str(err.value) and "x0, x1, x2, x3, x4, ... (40 in all)" in str(err.value)
    assert len(str(err.value)) < 400
    with pytest.raises(TaxonomyError, match="at least two"):
        prune_taxonomy(ref, ["amphipods"])
    assert _first(list("abcdefg"), 3) == "a, b, c, ... (7 in all)"


def test_taxonomy_prune_command_with_a_class_folder(tmp_path, capsys):
    for c in ("amphipods", "copepod_calanoid", "copepod_cyclopoid_oithona", "jellies_tentacles"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
    out = tmp_path / "mine.tsv"
    assert main(["taxonomy", "prune", NDSB, "--classes", str(tmp_path / "imgs"), "-o", str(out)]) == 0
    assert "4 of 121 classes" in capsys.readouterr().out
    tax = load_taxonomy(out)
    assert sorted(tax.classes) == sorted(p.name for p in (tmp_path / "imgs").iterdir())
    assert all(len(tax.children(n)) >= 2 for n in tax.internal_nodes if tax.node_height(n) > 0
               and len(load_taxonomy(NDSB).children(_orig_node(load_taxonomy(NDSB), tax, n))) > 1)
    assert main(["taxonomy", "validate", str(out), "--classes", str(tmp_path / "imgs")]) == 0
    assert "matches (4 classes)" in capsys.readouterr().out
    assert main(["taxonomy", "prune", NDSB, "--classes", str(tmp_path / "imgs"), "-o", str(out)]) == 2  # exists


def _folder(root, classes, n=8):
    rng = np.random.default_rng(0)
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(n):
            img = np.full((12, 12), 40 + 50 * k, np.uint8) + rng.integers(0, 5, (12, 12)).astype(np.uint8)
            Image.fromarray(img).save(root / c / f"{i}.png")
    return root


def test_train_prune_restricts_the_reference(tmp_path, capsys):
    imgs = _folder(tmp_path / "imgs", ["amphipods", "copepod_calanoid", "copepod_cyclopoid_oithona"])
    argv = ["train", str(imgs), "--taxonomy", NDSB, "--trunk", "none", "--block-filters", "4", "--head-units",
            "4", "--image-size", "12", "--channels", "1", "--epochs", "1", "-o", str(tmp_path / "run")]
    assert main(argv) == 2  # without --prune: the reference has 118 classes more
    err = capsys.readouterr().err
    assert "118 class(es) in" in err and "(118 in all)" in err and "--prune" in err and len(err) < 700
    assert main(argv + ["--prune"]) == 0
    tax = load_taxonomy(tmp_path / "run" / "taxonomy.tsv")
    assert sorted(tax.classes) == ["amphipods", "copepod_calanoid", "copepod_cyclopoid_oithona"]
    assert len(tax.children(tax.root)) >= 2


def test_integer_labels_name_the_lines_of_classes(tmp_path):
    _folder(tmp_path / "imgs", ["a", "b"], n=2)
    (tmp_path / "labels.csv").write_text("file,label\na/0.png,0\na/1.png,0\nb/0.png,1\nb/1.png,1\n")
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    ds = ImageSet.from_table(tmp_path / "labels.csv", tmp_path / "imgs", classes=tmp_path / "classes.txt")
    assert ds.labels.tolist() == ["cat", "cat", "dog", "dog"] and ds.classes == ("cat", "dog")
    assert main(["data", "inspect", "--table", str(tmp_path / "labels.csv"), "--image-root", str(tmp_path / "imgs"),
                 "--classes", str(tmp_path / "classes.txt"), "--format", "json"]) == 0
    (tmp_path / "bad.csv").write_text("file,label\na/0.png,0\nb/0.png,2\n")
    with pytest.raises(DataError, match=r"1 integer label\(s\) are outside 0..1 .*2 \(line 3\)"):
        ImageSet.from_table(tmp_path / "bad.csv", tmp_path / "imgs", classes=tmp_path / "classes.txt")
