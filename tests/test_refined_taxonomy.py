"""benchmarks/refined_taxonomy.py: the taxonomy with confusable children of wide nodes grouped (pairs RT-1 to RT-3)."""

import json
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from taxoclass import load_taxonomy
from taxoclass.taxonomy import Taxonomy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from refined_taxonomy import main, refined_taxonomy  # noqa: E402


@st.composite
def _cases(draw):
    n = draw(st.integers(2, 14))
    tax = Taxonomy.from_paths([[f"{g}{d}" for d, g in enumerate(draw(st.lists(st.sampled_from("AB"), max_size=2)))]
                               + [f"c{i}"] for i in range(n)], root="root")
    cm = np.array(draw(st.lists(st.lists(st.integers(0, 9), min_size=n, max_size=n), min_size=n, max_size=n)))
    return tax, cm, draw(st.sampled_from([0.0, 0.01, 0.1, 0.3]))


def _children(lineages):
    """Each node (as its lineage prefix) -> the names of its children, from the classes' lineages."""
    out = {}
    for lin in lineages:
        for d in range(len(lin)):
            out.setdefault(tuple(lin[:d]), set()).add(lin[d])
    return out


@settings(max_examples=80, deadline=None)
@given(_cases())
def test_keeps_every_taxonomic_group_and_only_inserts_levels(case):
    tax, cm, beta = case
    new, added = refined_taxonomy(tax, cm, beta, min_children=3)
    assert new.classes == tax.classes  # class order (the model's output order) kept
    old = {c: tax.lineage(c) for c in tax.classes}
    ref = {c: new.lineage(c) for c in tax.classes}
    for c in tax.classes:  # the real lineage with new nodes inserted only: every biological group kept
        assert [n for n in ref[c] if "~" not in n] == old[c]
    real_children, new_children = _children(old.values()), _children(ref.values())
    inserted = {p for p in new_children if p and "~" in p[-1]}
    assert {p[-1] for p in inserted} == set(added)  # one name per new node
    for p in inserted:
        parent = tuple(n for n in p[:-1] if "~" not in n)
        wide = len(real_children[parent])
        assert wide >= 3 and 2 <= len(new_children[p]) <= (wide + 1) // 2
        assert sorted(new_children[p]) == sorted(added[p[-1]])


def test_groups_the_children_the_model_confuses():
    tax = Taxonomy.from_paths([["g", c] for c in "abcdef"], root="r")
    cm = np.diag([20] * 6)
    cm[0, 1] = cm[1, 0] = 6  # a and b confused, c and d confused; e and f never
    cm[2, 3] = cm[3, 2] = 5
    new, added = refined_taxonomy(tax, cm, beta=0.05)
    assert sorted(map(sorted, added.values())) == [["a", "b"], ["c", "d"]]
    assert new.lineage("a")[:2] == ["g", new.lineage("b")[1]] and "~" in new.lineage("a")[1]
    assert new.lineage("e") == ["g", "e"] and new.lineage("c")[1] != new.lineage("a")[1]
    assert refined_taxonomy(tax, np.diag([20] * 6), beta=0.05)[1] == {}  # no confusion: nothing to group
    # a class without validation images (row of zeros) is grouped by the other classes' rows only
    cm[5] = 0
    assert sorted(map(sorted, refined_taxonomy(tax, cm, beta=0.05)[1].values())) == [["a", "b"], ["c", "d"]]


def test_command_writes_a_taxonomy_the_readers_load(tmp_path, capsys):
    tax = Taxonomy.from_paths([["g", c] for c in "abcd"], root="r")
    from taxoclass.taxonomy.io import save_taxonomy

    save_taxonomy(tax, tmp_path / "real.tsv")
    cm = np.diag([10] * 4)
    cm[0, 1] = cm[1, 0] = 4
    (tmp_path / "cm.csv").write_text("true \\ predicted," + ",".join("abcd") + "\n"
                                     + "".join(f"{c}," + ",".join(map(str, row)) + "\n" for c, row in zip("abcd", cm)))
    main([str(tmp_path / "real.tsv"), str(tmp_path / "cm.csv"), str(tmp_path / "refined.tsv"), "--beta", "0.05"])
    out = json.loads(capsys.readouterr().out)
    assert out["nodes_before"] == 1 and out["nodes_after"] == 2 and list(out["added"].values()) == [["a", "b"]]
    back = load_taxonomy(tmp_path / "refined.tsv")
    assert back.classes == tax.classes and back.lineage("a") == ["g", "g~1", "a"]
