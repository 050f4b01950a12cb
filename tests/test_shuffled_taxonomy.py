"""benchmarks/shuffled_taxonomy.py: the null tree (same shape, classes at random leaves) of the control pairs."""

import json
import sys
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from taxoclass import load_taxonomy
from taxoclass.taxonomy import Taxonomy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from shuffled_taxonomy import main, shuffled_taxonomy  # noqa: E402


@st.composite
def _trees(draw):
    n = draw(st.integers(2, 12))
    return Taxonomy.from_paths([[f"{g}{d}" for d, g in enumerate(draw(st.lists(st.sampled_from("ABC"), max_size=3)))]
                                + [f"c{i}"] for i in range(n)], root=draw(st.sampled_from(["root", "r"])))


def _shape(tax):
    """Everything but which class sits where: the parent lineage of each leaf position, the fan-outs."""
    return (Counter(tuple(tax.lineage(c)[:-1]) for c in tax.classes),
            sorted(len(tax.children(v)) for v in tax.internal_nodes), len(tax))


@settings(max_examples=60, deadline=None)
@given(_trees(), st.integers(0, 2**16))
def test_same_shape_same_classes_only_positions_move(tax, seed):
    new = shuffled_taxonomy(tax, seed)
    assert new.classes == tax.classes  # class order (the model's output order) kept
    assert new.name(new.root) == tax.name(tax.root)  # an artificial root keeps its name too
    assert _shape(new) == _shape(tax)
    assert shuffled_taxonomy(tax, seed) == new  # seeded


def test_moves_classes_and_changes_the_groups():
    tax = Taxonomy.from_paths([[g, f"{g}{i}"] for g in "abcd" for i in range(5)])
    new = shuffled_taxonomy(tax, 3)
    moved = [c for c in tax.classes if new.parent(c) != tax.parent(c)]
    assert len(moved) >= 10  # 20 classes in 4 groups: about 15 expected to leave their group
    same = sum(new.lca_height(a, b) == tax.lca_height(a, b) for a in tax.classes for b in tax.classes if a < b)
    assert same < 190  # of the 190 pairs, the sibling pairs are no longer all siblings


def test_command_writes_a_taxonomy_the_readers_load(tmp_path, capsys):
    src = tmp_path / "real.tsv"
    tax = Taxonomy.from_paths([[g, f"{g}{i}"] for g in "abc" for i in range(4)], root="r")
    from taxoclass.taxonomy.io import save_taxonomy

    save_taxonomy(tax, src)
    main([str(src), str(tmp_path / "shuffled.tsv"), "--seed", "7"])
    out = json.loads(capsys.readouterr().out)
    assert out["classes"] == 12 and out["seed"] == 7 and 0 < out["classes_moved"] <= 12
    back = load_taxonomy(tmp_path / "shuffled.tsv")
    assert back == shuffled_taxonomy(tax, 7)
    assert sorted(back.classes) == sorted(tax.classes)
