"""Samples labelled at an internal node (issue 13 §1): the label codes, the tree's masked targets, the flat
model's summed-probability loss, training on them, and the scores at their own depth."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxoclass import Taxonomy
from taxoclass.exceptions import ClassMismatchError
from taxoclass.models.tree_structure import TreeStructure
from taxoclass.taxonomy.internal_labels import (code_nodes, depth_scores, encode_labels, extended_targets,
                                                label_hits, label_mass, members, n_codes)

TAX = Taxonomy.from_paths([["Copepoda", "Calanoida"], ["Copepoda", "Cyclopoida"],
                           ["Tunicata", "Appendicularia", "tail"], ["Tunicata", "Appendicularia", "Oikopleura"],
                           ["Tunicata", "salp"]])


@st.composite
def labelled_trees(draw):
    """A random tree (unique names: a node is named by the branch choices leading to it), probabilities and
    labels drawn among its classes and non-root internal nodes."""
    n = draw(st.integers(2, 10))
    paths = [tuple(c[:d + 1] for c in [draw(st.text("pqr", max_size=3))] for d in range(len(c))) + (f"c{i}",)
             for i in range(n)]
    tax = Taxonomy.from_paths(paths)
    names = list(tax.classes) + [x[-1] for x in tax.internal_nodes if x != tax.root]
    labels = draw(st.lists(st.sampled_from(names), min_size=1, max_size=8))
    raw = np.asarray(draw(st.lists(st.floats(0.01, 1.0), min_size=len(labels) * tax.n_classes,
                                   max_size=len(labels) * tax.n_classes))).reshape(len(labels), tax.n_classes)
    return tax, labels, raw / raw.sum(axis=1, keepdims=True)


@settings(max_examples=80, deadline=None)
@given(labelled_trees())
def test_codes_name_their_node_and_carry_its_probability(case):
    tax, labels, proba = case
    codes = encode_labels(tax, labels)
    assert codes.max() < n_codes(tax)
    for lab, c in zip(labels, codes):
        assert tax.nodes[code_nodes(tax)[c]][-1] == lab
        assert members(tax)[c].sum() == len(tax.classes_under(lab))
    node_p = tax.node_proba(proba)
    expected = [node_p[i, tax.node_index(lab)] for i, lab in enumerate(labels)]
    assert np.allclose(label_mass(tax, codes, proba), expected)
    hit = label_hits(tax, codes, proba.argmax(axis=1))
    assert hit.tolist() == [tax.classes[int(j)] in tax.classes_under(lab) for j, lab in zip(proba.argmax(1), labels)]


@settings(max_examples=80, deadline=None)
@given(labelled_trees())
def test_a_node_label_trains_the_decisions_above_it_only(case):
    tax, labels, _ = case
    s = TreeStructure(tax)
    ext = extended_targets(tax, s.targets, s.classifier_nodes)
    assert ext.shape == (n_codes(tax), len(s.classifier_nodes))
    assert (ext[:tax.n_classes] == s.targets).all()  # class codes: the targets they always had
    for lab, c in zip(labels, encode_labels(tax, labels)):
        node = tax.node(lab)
        for k, k_node in enumerate(s.classifier_nodes):
            above = len(k_node) < len(node) and node[:len(k_node)] == k_node
            if above:  # the child of k on the way to the label's node
                assert s.children[k][ext[c, k]] == node[:len(k_node) + 1]
            else:
                assert ext[c, k] == -1


def test_unknown_and_root_labels_are_refused():
    with pytest.raises(ClassMismatchError, match="not classes of the taxonomy: Mollusca"):
        encode_labels(TAX, ["Calanoida", "Mollusca"])
    with pytest.raises(ClassMismatchError):
        encode_labels(TAX, ["root"])  # the root says nothing: no decision to train


def test_node_crossentropy_is_the_summed_probability():
    from taxoclass.models.losses import make_loss

    p = np.array([[0.4, 0.1, 0.2, 0.2, 0.1]] * 3, "float32")
    codes = encode_labels(TAX, ["Calanoida", "Copepoda", "Appendicularia"])
    loss = make_loss("crossentropy", TAX)
    assert np.allclose(loss.call(codes, p), -np.log([0.4, 0.5, 0.4]), atol=1e-6)
    smooth = make_loss("crossentropy", TAX, label_smoothing=0.1)
    want = 0.9 * -np.log([0.4, 0.5, 0.4]) + 0.1 * -np.log(p[0]).mean()
    assert np.allclose(smooth.call(codes, p), want, atol=1e-6)


def test_depth_scores_by_hand():
    # labels Copepoda, Appendicularia; predictions Cyclopoida (under Copepoda), salp (Tunicata, not Appendicularia)
    p = np.eye(5)[[1, 4]]
    s = depth_scores(TAX, encode_labels(TAX, ["Copepoda", "Appendicularia"]), p)
    # paths (root excluded): Copepoda vs Copepoda/Cyclopoida cut at depth 1 -> 1 of 1;
    # Tunicata/Appendicularia vs Tunicata/salp -> 1 of 2
    assert s["n_samples"] == 2 and s["accuracy"] == 0.5
    assert s["hierarchical_precision_micro"] == pytest.approx(2 / 3)
    assert s["hierarchical_recall_micro"] == pytest.approx(2 / 3)


def _images(codes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 255, (len(codes), 8, 8, 1)).astype("float32")
    return x


def test_tree_model_masks_the_losses_below_the_label():
    import tensorflow as tf

    from taxoclass.models.tree import TreeClassifier

    codes = encode_labels(TAX, ["Calanoida", "Copepoda", "Appendicularia", "salp"] * 4)
    x = _images(codes)
    ds = tf.data.Dataset.from_tensor_slices((x, codes.astype("int32"))).batch(8)
    clf = TreeClassifier(TAX, input_shape=(8, 8, 1), trunk=None, block_filters=(4,), head_units=(4,), epochs=1,
                         batch_size=8, random_state=0, label_smoothing=0.0).fit(ds, verbose=0)
    s = clf.structure_
    k = {n[-1]: i for i, n in enumerate(s.classifier_nodes)}
    only_copepoda = encode_labels(TAX, ["Copepoda"] * 4)
    _, correct, node_losses = clf.model_.tree_loss(x[:4], only_copepoda)
    losses = dict(zip(k, node_losses.numpy().tolist()))
    assert losses["Copepoda"] == 0.0 and losses["Appendicularia"] == 0.0 and losses["Tunicata"] == 0.0
    assert losses["root"] > 0.0  # the decision above Copepoda is trained
    m = clf.evaluate(ds)
    assert np.isfinite(m["loss"]) and 0.0 <= m["accuracy"] <= 1.0
    proba = clf.predict_proba(x)
    assert m["accuracy"] == pytest.approx(label_hits(TAX, np.tile(codes, 1), proba.argmax(axis=1)).mean())


def test_combined_model_trains_on_node_labels_with_the_summed_probability():
    """The combined model's flat head scores a label at an internal node as the flat model does: -log of the summed
    probability of the classes under it (it used to fail on those labels, out of its class range)."""
    import tensorflow as tf

    from taxoclass.models.tree import TreeClassifier

    codes = encode_labels(TAX, ["Calanoida", "Copepoda", "Appendicularia", "salp"] * 4)
    x = _images(codes)
    ds = tf.data.Dataset.from_tensor_slices((x, codes.astype("int32"))).batch(8)
    clf = TreeClassifier(TAX, input_shape=(8, 8, 1), trunk=None, block_filters=(4,), head_units=(4,), epochs=2,
                         batch_size=8, random_state=0, label_smoothing=0.0, flat_head=True,
                         flat_head_units=(4,)).fit(ds, verbose=0)
    model = clf.model_
    logits = tf.constant(np.log([[0.4, 0.1, 0.2, 0.2, 0.1]] * 4), tf.float32)  # Calanoida, Cyclopoida, tail, ...
    by_name = encode_labels(TAX, ["Calanoida", "Copepoda", "Appendicularia", "Tunicata"])
    got = model.flat_head_loss(tf.constant(by_name), logits).numpy()
    assert np.allclose(got, -np.log([0.4, 0.5, 0.4, 0.5]), atol=1e-5)
    # a class label: the plain cross-entropy; the same loss function the flat model uses, for every code
    from taxoclass.models.losses import make_loss

    flat_loss = make_loss("crossentropy", TAX)
    assert np.allclose(got, flat_loss.call(by_name, tf.nn.softmax(logits)), atol=1e-5)
    m = clf.evaluate(ds)
    assert np.isfinite(m["loss"]) and 0.0 <= m["accuracy"] <= 1.0


def test_flat_accuracy_metric_counts_a_node_label_right_under_it():
    from taxoclass.models.partial_labels import NodeAccuracy

    m = NodeAccuracy.for_taxonomy(TAX)
    p = np.eye(5, dtype="float32")[[1, 4, 2, 0]]  # Cyclopoida, salp, tail, Calanoida
    m.update_state(encode_labels(TAX, ["Copepoda", "Appendicularia", "tail", "Cyclopoida"]), p)
    assert float(m.result()) == pytest.approx(0.5)
    again = NodeAccuracy.from_config(m.get_config())
    again.update_state(np.array([0, 1]), np.eye(5, dtype="float32")[[0, 0]])
    assert float(again.result()) == pytest.approx(0.5)
