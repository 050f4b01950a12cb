"""Hierarchical metrics: hierarchical precision/recall/F1, mistake severity, distances, per-level and per-node
accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np

from taxoclass.exceptions import DataError, TaxoclassError
from taxoclass.taxonomy.tree import Taxonomy
from taxoclass.metrics.inputs import (_check_k, _check_proba, _check_same_length, _check_taxonomy, _encode_classes,
                                      _encode_nodes, _f, _leaf_predictions, _prepare, _Structure)


# ---------------------------------------------------------------------------------------------------- hierarchical
def _hier_counts(t: np.ndarray, p: np.ndarray, st: _Structure):
    inter = st.lca_depth(st.leaf_node[t], p)  # |anc(p) & anc(t)|
    return inter, st.depth[p], st.depth[st.leaf_node[t]]


def _safe_div(a: np.ndarray, b: np.ndarray, zero_division: float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.full(np.broadcast(a, b).shape, float(zero_division))
    np.divide(a, b, out=out, where=b != 0)
    return out


def _hier_scores(inter, n_pred, n_true, average: str, zero_division: float = 0.0) -> tuple[float, float, float]:
    if average == "micro":
        hp = float(_safe_div(inter.sum(), n_pred.sum(), zero_division))
        hr = float(_safe_div(inter.sum(), n_true.sum(), zero_division))
        return hp, hr, (2 * hp * hr / (hp + hr) if hp + hr > 0 else 0.0)
    hp_i = _safe_div(inter, n_pred, zero_division)
    hr_i = _safe_div(inter, n_true, zero_division)
    hf_i = _safe_div(2 * hp_i * hr_i, hp_i + hr_i, 0.0)
    return float(hp_i.mean()), float(hr_i.mean()), float(hf_i.mean())


def hierarchical_precision_recall_f1(y_true, y_pred, taxonomy: Taxonomy, *, average: str = "micro",
                                     zero_division: float = 0.0) -> tuple[float, float, float]:
    r"""Hierarchical precision, recall and F1 over ancestor sets, as HiClass (Miranda et al. 2023, after Kiritchenko
    et al. 2006) defines them.

    With :math:`\alpha_i = \mathrm{anc}(p_i)` (the predicted node and its ancestors) and
    :math:`\beta_i = \mathrm{anc}(t_i)` (the true class and its ancestors), **both without the root** -- HiClass's
    label rows never contain the root, which every sample would share and which would only inflate the scores:

    - ``average="micro"`` (HiClass's default): :math:`hP = \frac{\sum_i |\alpha_i \cap \beta_i|}{\sum_i |\alpha_i|}`,
      :math:`hR = \frac{\sum_i |\alpha_i \cap \beta_i|}{\sum_i |\beta_i|}`, :math:`hF = \frac{2\,hP\,hR}{hP + hR}`;
    - ``average="macro"``: per-sample :math:`hP_i = \frac{|\alpha_i \cap \beta_i|}{|\alpha_i|}`,
      :math:`hR_i = \frac{|\alpha_i \cap \beta_i|}{|\beta_i|}`, :math:`hF_i = \frac{2\,hP_i\,hR_i}{hP_i + hR_i}`,
      each averaged over the samples (HiClass averages the per-sample F, not the F of the averages).

    Here :math:`|\alpha_i \cap \beta_i| = \mathrm{depth}(\mathrm{lca}(p_i, t_i))` and :math:`|\alpha_i| =
    \mathrm{depth}(p_i)`. Predictions may be internal nodes (e.g. from :func:`threshold_predictions`): stopping
    early costs recall, not precision. A ratio with a zero denominator (a prediction at the root) is
    ``zero_division``. Nodes are told apart by their path, so ``animal/bird/bird`` counts two nodes (HiClass's
    own code compares names and would count one).

    On a one-level (flat) taxonomy all three equal the accuracy.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> hierarchical_precision_recall_f1(["x", "x"], ["y", "a"], tax)  # |a&b| = 1 + 1, |a| = 2 + 1, |b| = 2 + 2
    (0.6666666666666666, 0.5, 0.5714285714285715)
    """
    if average not in ("micro", "macro"):
        raise TaxoclassError(f"average must be 'micro' or 'macro', got {average!r}.")
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    inter, n_pred, n_true = _hier_counts(t, p, st)
    return _hier_scores(inter, n_pred, n_true, average, zero_division)


def hierarchical_f1(y_true, y_pred, taxonomy: Taxonomy, *, average: str = "micro") -> float:
    """Hierarchical F1 (see :func:`hierarchical_precision_recall_f1` for the formula).

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> hierarchical_f1(["x", "z"], ["x", "z"], tax)
    1.0
    """
    return hierarchical_precision_recall_f1(y_true, y_pred, taxonomy, average=average)[2]


def mistake_severity(y_true, y_pred, taxonomy: Taxonomy) -> float:
    r"""Mean LCA height of the wrong top-1 predictions (Bertinetto et al., "Making Better Mistakes", CVPR 2020):

    :math:`\frac{1}{|M|}\sum_{i \in M} h(\mathrm{lca}(p_i, t_i))`, :math:`M = \{i : p_i \ne t_i\}`,

    with the height of a node the longest path from it down to a leaf (ILSVRC's definition). 0.0 when there is no
    mistake. Lower is better: confusing two species of one genus costs 1, confusing across the whole tree costs the
    tree's height.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> mistake_severity(["x", "x", "x"], ["x", "y", "z"], tax)  # mistakes cost 1 (lca a) and 2 (lca root)
    1.5
    """
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    c = _leaf_predictions(p, st)
    wrong = c != t
    if not wrong.any():
        return 0.0
    return float(tax.leaf_matrices()["lca_height"][t[wrong], c[wrong]].mean())


def average_hierarchical_distance(y_true, y_proba, taxonomy: Taxonomy, k: int = 1) -> float:
    r"""Average hierarchical distance@k (Bertinetto et al., CVPR 2020): the mean LCA height between the true class
    and each of the k most probable classes, over all samples (correct ones included, they count 0):

    :math:`\frac{1}{N k}\sum_i \sum_{j=1}^{k} h(\mathrm{lca}(\hat{c}_{ij}, t_i))`, where :math:`\hat{c}_{ij}` is the
    class ranked :math:`j`-th for sample :math:`i`. ``k`` is clipped to the number of classes. Lower is better.

    ``y_proba`` may also be 1-D top-1 predictions (class names or indices) when ``k == 1``.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> average_hierarchical_distance(["x"], [[0.6, 0.1, 0.3]], tax, k=2)  # ranks x (0) then z (2)
    1.0
    """
    tax = _check_taxonomy(taxonomy)
    t = _encode_classes(y_true, tax, "y_true")
    k = _check_k(k, tax.n_classes)
    arr = y_proba if isinstance(y_proba, np.ndarray) else np.asarray(y_proba, dtype=object)
    if arr.ndim == 1:
        if k != 1:
            raise DataError("average_hierarchical_distance with k > 1 needs y_proba of shape (n_samples, n_classes).")
        st = _Structure(tax)
        top = _leaf_predictions(_encode_nodes(y_proba, tax, st, "y_pred"), st)[:, None]
        _check_same_length(t, top)
    else:
        top = tax.ranked_classes(_check_proba(y_proba, tax, len(t)), k=k)
    return float(tax.leaf_matrices()["lca_height"][t[:, None], top].mean())


def per_level_accuracy(y_true, y_pred, taxonomy: Taxonomy) -> list[dict[str, Any]]:
    r"""Accuracy at each depth of the tree: for :math:`d = 1 \dots \mathrm{height}`,

    :math:`\mathrm{acc}_d = \frac{|\{i \in S_d : \mathrm{anc}_d(p_i) = \mathrm{anc}_d(t_i)\}|}{|S_d|}`,
    :math:`S_d = \{i : \mathrm{depth}(t_i) \ge d\}`,

    where :math:`\mathrm{anc}_d(v)` is the ancestor of :math:`v` at depth :math:`d` (none when :math:`v` is shallower,
    which counts as wrong -- e.g. an internal-node prediction that stopped above :math:`d`). Returns one dict per
    depth: ``{"depth", "accuracy", "n"}`` (accuracy None when no sample reaches that depth).

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> [lvl["accuracy"] for lvl in per_level_accuracy(["x", "x"], ["y", "z"], tax)]
    [0.5, 0.0]
    """
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    return _per_level(t, p, st)


def _per_level(t, p, st: _Structure) -> list[dict[str, Any]]:
    lcad = st.lca_depth(st.leaf_node[t], p)
    dt = st.depth[st.leaf_node[t]]
    out = []
    for d in range(1, st.max_depth + 1):
        mask = dt >= d
        n = int(mask.sum())
        out.append({"depth": d, "accuracy": _f((lcad[mask] >= d).mean()) if n else None, "n": n})
    return out


def per_node_accuracy(y_true, y_pred, taxonomy: Taxonomy) -> dict[str, dict[str, Any]]:
    r"""How well each internal node routes the samples that belong under it.

    For an internal node :math:`v` at depth :math:`d_v`, with :math:`S_v` the samples whose true class lies under
    :math:`v`:

    - ``accuracy`` :math:`= \frac{|\{i \in S_v : \mathrm{anc}_{d_v+1}(p_i) = \mathrm{anc}_{d_v+1}(t_i)\}|}{|S_v|}`:
      the share whose prediction falls under the same child of :math:`v` as the truth;
    - ``accuracy_given_reached``: the same, among the samples of :math:`S_v` whose prediction is under (or at)
      :math:`v` -- the node's own routing quality, free of the errors made above it;
    - ``n`` :math:`= |S_v|`, ``n_reached``, ``depth``, ``n_children``, ``name``.

    Keys are the nodes' ``/``-joined paths from the root (resolvable with ``taxonomy.node(key)``), in pre-order.
    Accuracies are None where there is no sample. Weak sub-trees show up as nodes with low accuracy.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> res = per_node_accuracy(["x", "x", "y", "z"], ["x", "y", "y", "x"], tax)
    >>> res["root"]["accuracy"], res["root/a"]["accuracy"]
    (0.75, 0.6666666666666666)
    """
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    return _per_node(t, p, st)


def _per_node(t, p, st: _Structure) -> dict[str, dict[str, Any]]:
    tnode = st.leaf_node[t]
    lcad = st.lca_depth(tnode, p)
    out = {}
    for v, node in enumerate(st.tax.nodes):
        if st.n_children[v] == 0:
            continue
        d = int(st.depth[v])
        under = st.anc[tnode, d] == v
        reached = under & (st.anc[p, d] == v)
        correct = under & (lcad >= d + 1)
        n, nr, nc = int(under.sum()), int(reached.sum()), int(correct.sum())
        out["/".join(node)] = {
            "name": node[-1], "depth": d, "n_children": int(st.n_children[v]),
            "n": n, "accuracy": nc / n if n else None,
            "n_reached": nr, "accuracy_given_reached": nc / nr if nr else None,
        }
    return out
