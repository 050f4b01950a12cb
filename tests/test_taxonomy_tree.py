"""Core Taxonomy structure and queries."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxoclass import Taxonomy, TaxonomyError
from taxoclass.exceptions import ClassMismatchError


@pytest.fixture
def cifar():
    return Taxonomy.from_paths([
        ["vehicle", "air", "airplane"], ["vehicle", "road", "automobile"], ["animal", "bird", "bird"],
        ["animal", "mammal", "cat"], ["animal", "mammal", "dog"], ["vehicle", "road", "truck"]])


def test_forest_gets_artificial_root_and_duplicate_names_are_distinct(cifar):
    assert cifar.root == ("root",)
    assert cifar.artificial_root
    assert cifar.classes == ("airplane", "automobile", "bird", "cat", "dog", "truck")
    assert cifar.node("bird") == ("root", "animal", "bird", "bird")  # a class name resolves to the leaf
    assert cifar.node(("animal", "bird")) == ("root", "animal", "bird")
    assert cifar.is_leaf("bird") and not cifar.is_leaf(("animal", "bird"))
    assert cifar.lineage("bird") == ["animal", "bird", "bird"]


def test_queries(cifar):
    assert cifar.parent("cat") == ("root", "animal", "mammal")
    assert cifar.children("road") == [("root", "vehicle", "road", "automobile"), ("root", "vehicle", "road", "truck")]
    assert cifar.depth("cat") == 3 and cifar.depth(cifar.root) == 0
    assert cifar.height == 3
    assert cifar.lca("cat", "dog") == ("root", "animal", "mammal")
    assert cifar.lca("cat", "truck") == ("root",)
    assert cifar.distance("cat", "dog") == 2
    assert cifar.distance("cat", "truck") == 6
    assert cifar.lca_height("cat", "dog") == 1
    assert cifar.lca_height("cat", "truck") == 3
    assert cifar.lca_height("cat", "cat") == 0
    assert len(cifar.classifier_nodes) == 5  # root, vehicle, road, animal, mammal (air and bird are chains)
    assert cifar.classes_under("vehicle") == ["airplane", "automobile", "truck"]


def test_leaf_matrices_match_scalar_queries(cifar):
    m = cifar.leaf_matrices()
    for i, a in enumerate(cifar.classes):
        for j, b in enumerate(cifar.classes):
            assert m["distance"][i, j] == cifar.distance(a, b)
            assert m["lca_height"][i, j] == cifar.lca_height(a, b)
            assert m["lca_depth"][i, j] == len(cifar.lca(a, b)) - 1


def test_ambiguous_and_unknown_references(cifar):
    with pytest.raises(TaxonomyError, match="no node 'fish'"):
        cifar.node("fish")
    t = Taxonomy.from_paths([["a", "other", "x"], ["b", "other", "y"]])
    with pytest.raises(TaxonomyError, match="ambiguous"):
        t.node("other")


def test_encode_lists_every_unknown_label(cifar):
    assert cifar.encode(["cat", "truck"]).tolist() == [3, 5]
    with pytest.raises(ClassMismatchError, match="2 label.*fish, whale"):
        cifar.encode(["cat", "whale", "fish"])


def test_check_classes_lists_both_sides(cifar):
    with pytest.raises(ClassMismatchError) as e:
        cifar.check_classes(["cat", "dog", "frog"], source="classes.txt")
    msg = str(e.value)
    assert "frog" in msg and "airplane" in msg and "truck" in msg


def test_leaf_with_children_and_duplicates_rejected():
    with pytest.raises(TaxonomyError, match="also has children"):
        Taxonomy.from_paths([["a", "b"], ["a", "b", "c"]], origins=["line 2", "line 3"])
    with pytest.raises(TaxonomyError, match="listed twice"):
        Taxonomy.from_paths([["a", "b"], ["a", "b"]])
    with pytest.raises(TaxonomyError, match="unique among leaves"):
        Taxonomy.from_paths([["a", "x"], ["b", "x"]])


def test_edges_validation():
    with pytest.raises(TaxonomyError, match="two parents"):
        Taxonomy.from_edges([("a", "x"), ("b", "x")], origins=["line 1", "line 2"])
    with pytest.raises(TaxonomyError, match="cycle"):
        Taxonomy.from_edges([("r", "x"), ("a", "b"), ("b", "c"), ("c", "a")])
    t = Taxonomy.from_edges([("life", "animal"), ("animal", "cat"), ("animal", "dog"), ("life", "rock")])
    assert t.root == ("life",) and not t.artificial_root
    assert t.classes == ("cat", "dog", "rock")


def test_subtree_prune_and_reorder(cifar):
    assert cifar.subtree("vehicle").classes == ("airplane", "automobile", "truck")
    p = cifar.prune(["cat", "dog", "airplane"], collapse=True)
    assert p.classes == ("airplane", "cat", "dog")
    assert p.node("airplane") == ("root", "airplane")
    assert p.node("cat") == ("root", "animal", "mammal", "cat") or p.node("cat") == ("root", "mammal", "cat")
    r = cifar.with_class_order(sorted(cifar.classes))
    assert r.classes == tuple(sorted(cifar.classes)) and r.node("cat") == cifar.node("cat")
    assert np.array_equal(r.encode(["airplane"]), [0])


@st.composite
def _random_trees(draw):
    n = draw(st.integers(1, 9))
    return Taxonomy.from_paths([[f"{g}{d}" for d, g in enumerate(draw(st.lists(st.sampled_from("AB"), max_size=3)))]
                                + [f"c{i}"] for i in range(n)])


@settings(max_examples=80, deadline=None)
@given(_random_trees())
def test_cached_arrays_agree_with_the_queries(tax):
    """The one home of the tree arrays (issue 11): metrics, TreeStructure and reports read these."""
    nodes = tax.nodes
    for v, node in enumerate(nodes):
        path = [tax.node_index(p) for p in tax.path(node)]
        assert tax.ancestor_table[v][:len(path)].tolist() == path
        assert (tax.ancestor_table[v][len(path):] == -1).all()
        assert [nodes[c] for c in tax.child_table[v] if c >= 0] == tax.children(node)
        assert tax.depths[v] == tax.depth(node)
        under = set(tax.classes_under(node))
        assert {c for k, c in enumerate(tax.classes) if tax.membership[k, v]} == under
    assert [nodes[v][-1] for v in tax.leaf_nodes] == list(tax.classes)
    assert [tax.class_of_node[v] for v in tax.leaf_nodes] == list(range(tax.n_classes))
    with pytest.raises(ValueError):
        tax.depths[0] = 5  # read-only: shared by every user


def test_one_label_encoder_one_wording():
    """Taxonomy.encode is the label encoder of models, metrics and ImageSet: the same indices, the same message."""
    import numpy as np

    from taxoclass.data import ImageSet
    from taxoclass.metrics import accuracy

    tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    assert tax.encode(["z", "x"]).tolist() == [2, 0] and tax.encode(np.array([2, 0])).tolist() == [2, 0]
    with pytest.raises(ClassMismatchError, match=r"1 label\(s\) are not classes of the taxonomy: w"):
        tax.encode(["x", "w"])
    with pytest.raises(ClassMismatchError, match=r"a is an internal node"):
        tax.encode(["a"])
    with pytest.raises(ClassMismatchError, match=r"outside 0\.\.2"):
        tax.encode([0, 3])
    with pytest.raises(ClassMismatchError, match=r"y_true: 1 label\(s\) are not classes of the taxonomy: w"):
        accuracy(["x", "w"], ["x", "x"], tax)
    ds = ImageSet.from_arrays(np.zeros((2, 4, 4), np.uint8), ["x", "w"])
    with pytest.raises(ClassMismatchError, match=r"1 label\(s\) are not classes of the taxonomy: w"):
        ds.encode(tax)
    assert ds.encode().dtype == np.int32 and ds.encode(["x", "w"]).tolist() == [0, 1]
