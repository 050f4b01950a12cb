"""Mutual distillation of the combined model's two heads (``TreeClassifier(distillation=...)``,
``taxoclass train --distillation W``): the loss on hand-made distributions, its gradient, the training behaviour
(the heads end up agreeing more) and the refusals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from taxoclass.exceptions import ModelError  # noqa: E402
from taxoclass.models.tree import TreeClassifier  # noqa: E402
from taxoclass.models.tree_model import check_distillation, mutual_distillation  # noqa: E402

from test_tree import SMALL, TAX, synthetic  # noqa: E402


def _kl(p, q):
    return float(np.sum(p * (np.log(p) - np.log(q))))


def test_the_loss_is_both_heads_kl_divergence_from_their_mixture():
    p_tree, p_flat = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.3, 0.6])
    m = (p_tree + p_flat) / 2  # [0.4, 0.25, 0.35]
    got = float(mutual_distillation(np.log(p_tree)[None], np.log(p_flat)[None])[0])
    assert got == pytest.approx(_kl(m, p_tree) + _kl(m, p_flat), rel=1e-5)
    assert got == pytest.approx(0.5907, abs=1e-4)  # by hand: 0.2704 + 0.3203


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=6, max_size=6), st.lists(st.floats(-30, 30), min_size=6, max_size=6))
def test_the_loss_is_non_negative_finite_and_zero_only_when_the_heads_agree(a, b):
    lt = tf.nn.log_softmax(tf.constant([a], tf.float32))
    lf = tf.nn.log_softmax(tf.constant([b], tf.float32))
    d = float(mutual_distillation(lt, lf)[0])
    assert np.isfinite(d) and d >= -1e-5  # stable even where one head gives a class ~e-26
    assert abs(float(mutual_distillation(lt, lt)[0])) < 1e-5
    if np.abs(np.exp(lt.numpy()) - np.exp(lf.numpy())).max() > 0.1:
        assert d > 1e-4


def test_the_mixture_is_a_fixed_target_so_each_head_moves_towards_it():
    """The teacher is held constant: the gradient of the loss with respect to a head's logits is that head's
    probabilities minus the mixture's (as for a cross-entropy on soft labels)."""
    zt = tf.Variable([[2.0, 0.0, -1.0]])
    zf = tf.Variable([[-1.0, 0.5, 1.0]])
    with tf.GradientTape() as tape:
        loss = mutual_distillation(tf.nn.log_softmax(zt), tf.nn.log_softmax(zf))[0]
    gt, gf = tape.gradient(loss, [zt, zf])
    pt, pf = tf.nn.softmax(zt).numpy(), tf.nn.softmax(zf).numpy()
    m = (pt + pf) / 2
    np.testing.assert_allclose(gt.numpy(), pt - m, atol=1e-6)
    np.testing.assert_allclose(gf.numpy(), pf - m, atol=1e-6)


def _disagreement(clf, X):
    p_tree, p_flat = (np.clip(np.asarray(p, np.float64), 1e-9, 1) for p in clf.model_.heads_proba(X))
    return float(np.mean(np.sum(p_tree * (np.log(p_tree) - np.log(p_flat)), axis=1)))


def test_distilled_heads_agree_more_than_independent_ones_and_the_option_is_saved(tmp_path):
    X, y = synthetic(192, seed=5)
    kw = dict(SMALL, trunk="vgg_bn", width=8, epochs=6, flat_head=True)
    plain = TreeClassifier(TAX, **kw).fit(X, y, verbose=0)
    taught = TreeClassifier(TAX, distillation=1.0, **kw).fit(X, y, verbose=0)
    before, after = _disagreement(plain, X), _disagreement(taught, X)
    assert after < 0.75 * before, (before, after)  # measured: 0.122 -> 0.072
    accuracy = [float((m.predict(X) == np.asarray(y)).mean()) for m in (plain, taught)]
    assert accuracy[1] > 0.8 and accuracy[1] >= accuracy[0] - 0.05, accuracy  # learns the classes as well
    assert taught.get_params()["distillation"] == 1.0 and taught.model_.distillation == 1.0
    taught.save(tmp_path / "m.taxoclass")
    again = TreeClassifier.load(tmp_path / "m.taxoclass")
    assert again.model_.distillation == 1.0
    np.testing.assert_allclose(again.predict_proba(X[:8]), taught.predict_proba(X[:8]), atol=1e-5)


def test_refusals_name_the_problem():
    X, y = synthetic(32, seed=1)
    with pytest.raises(ModelError, match="has no flat head"):
        TreeClassifier(TAX, distillation=1.0, **SMALL).fit(X, y, verbose=0)
    for bad in (-0.5, "1", True, 1e3):
        with pytest.raises(ModelError, match=r"distillation must be a loss weight in \[0, 100\]"):
            check_distillation(bad)
    assert check_distillation(2) == 2.0

