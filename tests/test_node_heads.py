"""NodeHeads: every dense node head of a tree in one layer of stacked weights -- the same function as one
``build_branch(node_block="dense")`` per node, on every sample (``call``) or on each node's own rows
(``gathered``); and trees saved with one branch per node (files from before NodeHeads) still load."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from taxoclass import Taxonomy
from taxoclass.models.base import BaseClassifier
from taxoclass.models.blocks import build_branch
from taxoclass.models.node_heads import EdgeLayout, NodeHeads
from taxoclass.models.tree import TreeClassifier
from taxoclass.models.tree_model import TreeModel
from taxoclass.models.tree_structure import TreeStructure


def branches_with_the_same_weights(heads, feat_shape):
    """One build_branch(node_block="dense") per node, its weights copied from ``heads``."""
    out = []
    for k, w in enumerate(heads.widths):
        b = build_branch(feat_shape, w, node_block="dense", head_units=heads.units, dropout=heads.dropout,
                         name=f"n{k}")
        dense = [layer for layer in b.layers if isinstance(layer, keras.layers.Dense)]
        for j, layer in enumerate(dense[:-1]):
            kernel = heads.kernels[j].numpy()
            layer.set_weights([kernel[:, k] if j == 0 else kernel[k], heads.biases[j].numpy()[k]])
        kernel = heads.logits_kernel.numpy()
        kernel = kernel[k] if heads.units else kernel[:, k]
        dense[-1].set_weights([kernel[:, :w], heads.logits_bias.numpy()[k, :w]])
        out.append(b)
    return out


@settings(max_examples=12, deadline=None)
@given(widths=st.lists(st.integers(1, 6), min_size=1, max_size=5), units=st.sampled_from([(), (8,), (8, 4)]),
       spatial=st.booleans(), seed=st.integers(0, 1000))
def test_node_heads_compute_what_one_branch_per_node_computes(widths, units, spatial, seed):
    feat_shape = (3, 3, 5) if spatial else (5,)
    heads = NodeHeads(widths, units=units)
    heads.build((None, *feat_shape))
    rng = np.random.default_rng(seed)
    for v in heads.weights:  # random biases too, so that a mixed-up node shows
        v.assign(rng.normal(0, 0.5, v.shape).astype("float32"))
    f = rng.normal(0, 1, (7, *feat_shape)).astype("float32")
    branches = branches_with_the_same_weights(heads, feat_shape)
    expected = np.concatenate([np.asarray(b(f)) for b in branches], axis=1)
    got = np.asarray(heads(f))
    assert got.shape == (7, sum(widths))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # each node on its own rows: the same logits, padded to the widest node with -1e9
    rows = [f[rng.integers(0, 7, rng.integers(1, 4))] for _ in widths]
    pooled = [r.mean(axis=(1, 2)) if spatial else r for r in rows]
    for k, (z, r, b) in enumerate(zip(heads.gathered([tf.constant(p) for p in pooled]), rows, branches)):
        z = np.asarray(z)
        assert z.shape == (len(r), max(widths))
        np.testing.assert_allclose(z[:, :widths[k]], np.asarray(b(r)), rtol=1e-4, atol=1e-5)
        assert (z[:, widths[k]:] < -1e8).all()
    # the per-node parameter count leaves the padding out
    assert [heads.node_params(k) for k in range(len(widths))] == [b.count_params() for b in branches]


def test_edge_layout_softmax_and_losses_by_hand():
    lay = EdgeLayout([2, 3])
    z = tf.constant([[1.0, 2.0, 0.0, 1.0, 3.0], [0.5, 0.5, 2.0, 0.0, 0.0]])
    lp = np.asarray(lay.log_softmax(z), float)
    p0 = np.exp([1, 2]) / np.exp([1, 2]).sum()
    p1 = np.exp([0, 1, 3]) / np.exp([0, 1, 3]).sum()
    np.testing.assert_allclose(np.exp(lp[0]), [*p0, *p1], rtol=1e-6)
    # sample 0: child 1 at node 0 (right), child 0 at node 1 (wrong); sample 1: node 0 only, child 0 (a tie)
    targets = tf.constant([[1, 0], [0, -1]])
    losses, wrong = lay.node_losses(lp.astype("float32"), targets, tf.constant([1.0, 2.0]), label_smoothing=0.1)
    ce = lambda p, t: 0.9 * -np.log(p[t]) + 0.1 * -np.log(p).mean()  # noqa: E731
    np.testing.assert_allclose(np.asarray(losses), [ce(p0, 1) + 2 * ce([0.5, 0.5], 0), ce(p1, 0)], rtol=1e-5)
    assert np.asarray(wrong).tolist() == [1.0, 0.0]


TAX = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["a", "w"], ["b", "z"], ["b", "v"]])


def test_a_tree_saved_with_one_branch_per_node_loads_and_predicts_as_before(tmp_path):
    """Model files written before NodeHeads hold one dense branch per node; they load and predict unchanged,
    and give what the same weights give as NodeHeads."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, (40, 16, 16, 1)).astype("float32")
    y = np.array(TAX.classes)[rng.integers(0, 5, 40)]
    clf = TreeClassifier(TAX, input_shape=(16, 16, 1), trunk="small_cnn", head_units=(8,), epochs=1,
                         random_state=0).fit(X, y, verbose=0)
    new = clf.model_
    s = TreeStructure(TAX)
    branches = branches_with_the_same_weights(new.node_heads, new.stem.output_shape[1:])
    old = TreeModel(new.stem, branches, s.edge_matrix, new.targets, s.levels, s.next_classifier, entry=s.entry,
                    n_levels=s.n_levels, name="tree")
    np.testing.assert_allclose(np.asarray(old(X)), np.asarray(new(X)), rtol=1e-4, atol=1e-6)
    clf.model_ = old
    again = BaseClassifier.load(clf.save(tmp_path / "old_layout.taxoclass"))
    assert again.model_.node_heads is None and len(again.model_.branches) == s.n_classifiers
    np.testing.assert_allclose(again.predict_proba(X), np.asarray(new(X)), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(again.model_.greedy_decisions(X)[0]),
                                  np.asarray(new.greedy_decisions(X)[0]))
    with pytest.raises(Exception, match="either one branch per classifier node or node_heads"):
        TreeModel(new.stem, branches, s.edge_matrix, new.targets, s.levels, s.next_classifier,
                  node_heads=new.node_heads)


@pytest.mark.parametrize("target", ["savedmodel", "onnx"])
def test_a_tree_with_node_heads_exports_with_parity(target, tmp_path):
    """The default tree on a trunk (NodeHeads) exports like any model: the exported graph gives predict_proba."""
    from taxoclass.export import export_model

    rng = np.random.default_rng(1)
    X = rng.uniform(0, 255, (48, 16, 16, 1)).astype("float32")
    y = np.array(TAX.classes)[rng.integers(0, 5, 48)]
    clf = TreeClassifier(TAX, input_shape=(16, 16, 1), trunk="small_cnn", head_units=(8,), dropout=0.1, epochs=1,
                         random_state=0).fit(X, y, verbose=0)
    assert clf.model_.node_heads is not None
    out = export_model(clf, tmp_path / target, target=target)
    if target == "savedmodel":
        got = tf.saved_model.load(str(out)).signatures["serving_default"](images=tf.constant(X))["probabilities"]
    else:
        ort = pytest.importorskip("onnxruntime", reason="ONNX export needs the export extra: pip install "
                                                        "'taxoclass[export]'")
        session = ort.InferenceSession(str(out / "model.onnx"))
        got = session.run(["probabilities"], {session.get_inputs()[0].name: X})[0]
    np.testing.assert_allclose(np.asarray(got), clf.predict_proba(X), atol=1e-4, rtol=0)
