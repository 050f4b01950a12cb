"""Flat-model losses on hand-computed cases: cross-entropy, label smoothing, soft labels, hierarchical CE."""

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from taxoclass.exceptions import ModelError  # noqa: E402
from taxoclass.models.flat import FlatClassifier  # noqa: E402
from taxoclass.models.losses import LOSSES, hxe_matrix, make_loss, smooth, soft_label_matrix  # noqa: E402
from taxoclass.taxonomy import Taxonomy  # noqa: E402

# classes x, y under a; z, w under b; c directly under the root (a shallower leaf)
TAX = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"], ["b", "w"], ["c"]])
P = np.array([[0.4, 0.25, 0.15, 0.1, 0.1]], "float32")  # columns in TAX.classes order
NLL = -np.log(P[0])


def _loss(name, label, **kw):
    return float(make_loss(name, TAX, **kw)(np.array([label]), P))


def test_class_order_of_the_hand_case():
    assert list(TAX.classes) == ["x", "y", "z", "w", "c"]


def test_crossentropy_and_label_smoothing():
    assert _loss("crossentropy", 0) == pytest.approx(-math.log(0.4), rel=1e-5)
    # smoothing 0.1 = cross-entropy against 0.9 * onehot + 0.1 / 5
    target = np.full(5, 0.1 / 5)
    target[0] += 0.9
    assert _loss("crossentropy", 0, label_smoothing=0.1) == pytest.approx(float(target @ NLL), rel=1e-5)


def test_smooth_is_crossentropy_against_the_smoothed_target():
    # the one formula of label smoothing: (1 - e) * nll + e * mean(-log p) = -sum(((1 - e) onehot + e / n) log p)
    target = np.full(5, 0.3 / 5)
    target[2] += 0.7
    assert float(smooth(NLL[2], NLL.mean(), 0.3)) == pytest.approx(float(target @ NLL), rel=1e-6)
    assert smooth(NLL[2], NLL.mean(), 0.0) == NLL[2]          # no smoothing: the hard-target loss itself
    # smoothing pulls every loss towards the mean -log p: up for the most probable class x, down for z
    assert float(smooth(NLL[0], NLL.mean(), 0.3)) > NLL[0]
    assert float(smooth(NLL[2], NLL.mean(), 0.3)) < NLL[2]


def test_soft_labels_follow_the_lca_height():
    # from x: itself d=0, sibling y d=1, z/w/c meet x only at the root (height 2)
    q = np.exp(-2.0 * np.array([0, 1, 2, 2, 2]))
    q /= q.sum()
    assert _loss("soft_labels", 0, soft_labels_beta=2.0) == pytest.approx(float(q @ NLL), rel=1e-5)
    # from c (a leaf under the root): every other class meets it at the root
    q = np.exp(-2.0 * np.array([2, 2, 2, 2, 0]))
    q /= q.sum()
    assert _loss("soft_labels", 4, soft_labels_beta=2.0) == pytest.approx(float(q @ NLL), rel=1e-5)
    assert np.allclose(soft_label_matrix(TAX, 50.0), np.eye(5), atol=1e-6)  # large beta: hard labels
    assert _loss("soft_labels", 0, soft_labels_beta=50.0) == pytest.approx(-math.log(0.4), rel=1e-4)


def test_hierarchical_cross_entropy_by_hand():
    # x: -[1 * log P(a) + exp(-alpha) * log P(x | a)], P(a) = 0.65
    for alpha in (0.0, 0.5, 2.0):
        expected = -(math.log(0.65) + math.exp(-alpha) * math.log(0.4 / 0.65))
        assert _loss("hxe", 0, hxe_alpha=alpha) == pytest.approx(expected, rel=1e-5)
    # alpha = 0 telescopes to plain cross-entropy; c has one decision only, whatever alpha
    assert _loss("hxe", 0, hxe_alpha=0.0) == pytest.approx(-math.log(0.4), rel=1e-5)
    assert _loss("hxe", 4, hxe_alpha=1.3) == pytest.approx(-math.log(0.1), rel=1e-5)
    anc, coef = hxe_matrix(TAX, 0.5)
    assert anc.shape == coef.shape == (5, len(TAX.nodes) - 1)


def test_batches_and_sample_weights():
    p = np.array([[0.4, 0.25, 0.15, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1, 0.6]], "float32")
    fn = make_loss("crossentropy", TAX)
    both = float(fn(np.array([0, 4]), p))
    assert both == pytest.approx((-math.log(0.4) - math.log(0.6)) / 2, rel=1e-5)
    weighted = float(fn(np.array([0, 4]), p, sample_weight=np.array([1.0, 0.0])))
    assert weighted == pytest.approx(-math.log(0.4) / 2, rel=1e-5)  # Keras averages over the batch


def test_bad_loss_arguments():
    with pytest.raises(ModelError, match="loss must be one of crossentropy, soft_labels, hxe, got 'focal'"):
        make_loss("focal", TAX)
    with pytest.raises(ModelError, match=r"label_smoothing must be a number in \[0.0, 1.0\)"):
        make_loss("crossentropy", TAX, label_smoothing=1.0)
    with pytest.raises(ModelError, match="hxe_alpha must be a number >= 0"):
        make_loss("hxe", TAX, hxe_alpha=-1)
    with pytest.raises(ModelError, match="soft_labels_beta"):
        FlatClassifier(TAX, backbone="small_cnn", weights=None, soft_labels_beta="x").fit(
            np.zeros((2, 32, 32, 3)), ["x", "y"])


@pytest.mark.parametrize("loss", LOSSES)
def test_flat_classifier_trains_with_each_loss(loss):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 64)
    X = rng.normal(40, 10, (64, 16, 16, 1))
    for i, c in enumerate(y):
        X[i, 3 * c: 3 * c + 3] += 180  # the class is the row of a bright band
    names = np.array(TAX.classes)[y]
    clf = FlatClassifier(TAX, backbone="small_cnn", input_shape=(16, 16, 1), weights=None, head_units=(),
                         epochs=(0, 6), fine_tune_learning_rate=3e-3, final_epochs=0, loss=loss,
                         batch_size=16, random_state=0).fit(X.clip(0, 255).astype("float32"), names, verbose=0)
    h = clf.history_["loss"]
    assert np.isfinite(h).all() and h[-1] < 0.7 * h[0]
    assert type(clf.model_.optimizer).__name__ == "AdamW"


def test_the_loss_survives_its_config():
    for name in LOSSES:
        fn = make_loss(name, TAX, label_smoothing=0.05)
        again = type(fn).from_config(fn.get_config())
        assert float(again(np.array([0]), P)) == pytest.approx(float(fn(np.array([0]), P)), rel=1e-6)
    cfg = make_loss("crossentropy", TAX).get_config()  # no (L, L) matrix in the saved model: (L, height + 1)
    assert "coef" not in cfg and np.asarray(cfg["ancestors"]).shape == (TAX.n_classes, TAX.height + 1)
