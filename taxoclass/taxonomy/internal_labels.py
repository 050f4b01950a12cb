"""Samples labelled at an internal node of the taxonomy (``Copepoda`` while others are ``Calanoida`` below it).

Real annotations mix depths: an expert names some objects to species and others only to order. taxoclass trains
on both (the default, ``internal_labels="masked"``): a sample labelled at an internal node X trains only the
decisions *above* X, and is scored at X's depth.

**The label codes.** Labels become integer codes in ``0 .. n_codes(tax) - 1``: code ``c < L`` is class ``c`` (the
usual class index, ``L = tax.n_classes``), code ``L + i`` is node ``i`` of ``tax.nodes`` (pre-order). Data sets
without internal labels only ever hold codes below ``L``, exactly the class indices they always had.

- tree models: the targets of code ``L + i`` are those of any class under node ``i``, kept only at the classifier
  nodes strictly above node ``i`` (:func:`extended_targets`); the per-node losses below the label are masked.
- flat models: the loss is ``-log(sum of the probabilities of the classes under the node)``
  (:class:`taxoclass.models.partial_labels.NodeCrossentropy`); for a class it is plain cross-entropy.
- metrics (:func:`depth_scores`): a sample labelled at X counts as correct when the predicted class lies under X;
  its hierarchical precision and recall compare X's path (root excluded) with the predicted class's path cut at
  X's depth.

The alternative, ``internal_labels="own-class"``, gives X an extra leaf ``X (other)`` (:func:`own_class_name`) that
holds the objects labelled X; every model then sees ordinary class labels.

>>> from taxoclass import Taxonomy
>>> tax = Taxonomy.from_paths([["Copepoda", "Calanoida"], ["Copepoda", "Cyclopoida"], ["Appendicularia"]])
>>> encode_labels(tax, ["Calanoida", "Copepoda", "Appendicularia"]).tolist()   # L = 3; Copepoda is node 1
[0, 4, 2]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from taxoclass.exceptions import DataError

__all__ = ["INTERNAL_LABELS", "n_codes", "code_nodes", "encode_labels", "internal_label_names", "members",
           "label_mass", "label_hits", "extended_targets", "depth_scores", "own_class_name", "internal_classes", "internal_label_count", "check_internal_options"]

#: the ways of training on samples labelled at an internal node
INTERNAL_LABELS = ("masked", "own-class")


def own_class_name(node: str) -> str:
    """The leaf that ``internal_labels="own-class"`` adds under an internal node for the objects labelled there.

    >>> own_class_name("Copepoda")
    'Copepoda (other)'
    """
    return f"{node} (other)"


def internal_classes(paths: Mapping[str, Sequence[str]]) -> list[str]:
    """The names (keys of ``paths``, each a root-to-node path) whose path is a strict prefix of another's: the
    labels that sit at an internal node, in the order of ``paths``.

    >>> internal_classes({"Copepoda": ("living", "Copepoda"), "Calanoida": ("living", "Copepoda", "Calanoida")})
    ['Copepoda']
    """
    prefixes = {tuple(p[:k]) for p in paths.values() for k in range(1, len(p))}
    return [name for name, p in paths.items() if tuple(p) in prefixes]


def n_codes(tax) -> int:
    """Number of label codes: the classes, then every node.

    >>> from taxoclass import Taxonomy
    >>> n_codes(Taxonomy.from_paths([["a", "x"], ["a", "y"]]))     # 2 classes + 3 nodes (a = the root, x, y)
    5
    """
    return tax.n_classes + len(tax.nodes)


def code_nodes(tax) -> np.ndarray:
    """Node index (into ``tax.nodes``) of every label code, shape ``(n_codes,)``."""
    return np.concatenate([np.asarray(tax.leaf_nodes, dtype=np.int64), np.arange(len(tax.nodes), dtype=np.int64)])


def _internal_index(tax) -> dict[str, int]:
    """Unique names of the non-root internal nodes -> node index (ambiguous names are left out)."""
    counts: dict[str, list[int]] = {}
    for i, node in enumerate(tax.nodes):
        counts.setdefault(node[-1], []).append(i)
    leaves = set(int(v) for v in tax.leaf_nodes)
    return {name: idx[0] for name, idx in counts.items()
            if len(idx) == 1 and idx[0] != 0 and idx[0] not in leaves}


def internal_label_names(tax, labels: Iterable[str]) -> list[str]:
    """The labels (sorted, once each) that are internal nodes of ``tax`` rather than classes.

    >>> from taxoclass import Taxonomy
    >>> internal_label_names(Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]]), ["x", "a", "a"])
    ['a']
    """
    index = _internal_index(tax)
    classes = set(tax.classes)
    return sorted({str(v) for v in labels if str(v) not in classes and str(v) in index})


def encode_labels(tax, labels, *, what: str = "labels") -> np.ndarray:
    """Class names and internal-node names -> label codes (int64); see the module docstring.

    Names that are neither a class nor a unique internal node (the root excluded) are refused by
    :meth:`Taxonomy.encode`'s one message. Integer labels are class indices, as for :meth:`Taxonomy.encode`.
    """
    arr = labels if isinstance(labels, np.ndarray) else np.asarray(list(labels), dtype=object)
    if arr.dtype.kind in "iu" or not arr.size:
        return tax.encode(arr, what=what)
    values = [str(v) for v in arr.tolist()]
    classes = set(tax.classes)
    if all(v in classes for v in values):
        return tax.encode(np.asarray(values, dtype=object), what=what)
    index = _internal_index(tax)
    bad = [v for v in values if v not in classes and v not in index]
    if bad:
        tax.encode(np.asarray(bad, dtype=object), what=what)  # raises the one class-mismatch message
    L = tax.n_classes
    ci = {c: k for k, c in enumerate(tax.classes)}
    return np.fromiter((ci[v] if v in ci else L + index[v] for v in values), dtype=np.int64, count=len(values))


def members(tax) -> np.ndarray:
    """``(n_codes, L)`` bool: ``members[c, l]`` when class ``l`` lies under the node of code ``c`` (for a class
    code: the class itself)."""
    anc = np.asarray(tax.ancestor_table)[np.asarray(tax.leaf_nodes)]  # (L, height + 1): each class's path
    nodes = code_nodes(tax)
    depth = np.asarray(tax.depths)[nodes]
    return anc[:, depth].T == nodes[:, None]


def label_mass(tax, codes, proba) -> np.ndarray:
    """The probability each sample gives to its label: its class's probability, or the summed probability of
    the classes under its node.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> label_mass(tax, encode_labels(tax, ["x", "a"]), [[.5, .3, .2], [.5, .3, .2]]).round(2).tolist()
    [0.5, 0.8]
    """
    P = np.asarray(proba, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.int64)
    L = tax.n_classes
    out = np.empty(len(codes))
    leaf = codes < L
    out[leaf] = P[np.flatnonzero(leaf), codes[leaf]]
    if (~leaf).any():
        out[~leaf] = (P[~leaf] * members(tax)[codes[~leaf]]).sum(axis=1)
    return out


def label_hits(tax, codes, predicted) -> np.ndarray:
    """Whether each predicted class index lies under (or is) the sample's label."""
    codes = np.asarray(codes, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if (codes < tax.n_classes).all():
        return codes == predicted
    return members(tax)[codes, predicted]


def extended_targets(tax, targets, classifier_nodes) -> np.ndarray:
    """The tree model's target table extended to every label code: ``(n_codes, K)``.

    ``targets`` is the ``(L, K)`` table of :class:`~taxoclass.models.tree_structure.TreeStructure` (child index
    at each classifier node on a class's path, -1 elsewhere) and ``classifier_nodes`` its K node paths. The row of
    a node is the row of its first class with the decisions at the node and below it masked (-1); the rows of the
    classes are ``targets`` unchanged.
    """
    targets = np.asarray(targets, dtype=np.int32)
    nodes = code_nodes(tax)
    first_leaf = np.argmax(members(tax), axis=1)  # every node has a class under it
    node_depth = np.asarray(tax.depths)[nodes]
    k_depth = np.array([len(n) - 1 for n in classifier_nodes], dtype=np.int64)
    keep = k_depth[None, :] < node_depth[:, None]
    return np.where(keep, targets[first_leaf], -1).astype(np.int32)


def depth_scores(tax, codes, proba) -> dict:
    """Scores of samples at their label's own depth (see the module docstring), as a JSON-able dict:
    ``n_samples``, ``accuracy`` (predicted class under the label) and micro hierarchical precision, recall and
    F1 against the label's path.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> s = depth_scores(tax, encode_labels(tax, ["a", "a"]), [[.1, .8, .1], [.1, .1, .8]])
    >>> s["accuracy"], s["hierarchical_f1_micro"]
    (0.5, 0.5)
    """
    codes = np.asarray(codes, dtype=np.int64)
    P = np.asarray(proba, dtype=np.float64)
    if len(codes) != len(P):
        raise DataError(f"{len(codes)} labels but {len(P)} rows of probabilities; give one per sample.")
    if not len(codes):
        return {"n_samples": 0, "accuracy": None, "hierarchical_precision_micro": None,
                "hierarchical_recall_micro": None, "hierarchical_f1_micro": None}
    pred = P.argmax(axis=1)
    anc = np.asarray(tax.ancestor_table)
    depths = np.asarray(tax.depths)
    true_node = code_nodes(tax)[codes]
    pred_node = np.asarray(tax.leaf_nodes)[pred]
    d_true, d_pred = depths[true_node], depths[pred_node]
    cut = np.minimum(d_true, d_pred)
    ta, pa = anc[true_node], anc[pred_node]
    levels = np.arange(1, anc.shape[1])[None, :]
    hits = ((ta[:, 1:] == pa[:, 1:]) & (levels <= cut[:, None])).sum(axis=1)
    prec = hits.sum() / max(cut.sum(), 1)
    rec = hits.sum() / max(d_true.sum(), 1)
    return {"n_samples": int(len(codes)), "accuracy": float(label_hits(tax, codes, pred).mean()),
            "hierarchical_precision_micro": float(prec), "hierarchical_recall_micro": float(rec),
            "hierarchical_f1_micro": float(0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))}


def internal_label_count(data) -> int:
    """Number of images of an ImageSet labelled at an internal node (labels that are not among its classes)."""
    known = set(data.classes)
    return int(sum(1 for v in data.labels.tolist() if v not in known))


def check_internal_options(data, *, class_weight=None, loss=None, what: str = "train") -> None:
    """Refuse the options that need class labels when ``data`` holds labels at internal nodes: balanced class
    weights (a node is no class), the flat losses ``soft_labels`` and ``hxe`` (defined on classes only) and the
    jobs that compare models on classes (``what="benchmark"``)."""
    n = internal_label_count(data)
    if not n:
        return
    fix = ("read the export with --internal-labels own-class (a class 'X (other)' per such node), or leave those "
           "objects out")
    if what != "train":
        raise DataError(f"{data.source}: {n} image(s) are labelled at an internal node; {what} needs a class for "
                        f"every image: {fix}.")
    if class_weight is not None:
        raise DataError(f"{data.source}: {n} image(s) are labelled at an internal node, which has no class weight; "
                        f"drop --class-weight (--sampling balanced works), or {fix}.")
    if loss not in (None, "crossentropy"):
        raise DataError(f"{data.source}: {n} image(s) are labelled at an internal node; --loss {loss} is defined "
                        f"on classes only: use --loss crossentropy, or {fix}.")
