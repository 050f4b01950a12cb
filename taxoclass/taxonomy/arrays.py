"""The array views of a :class:`~taxoclass.taxonomy.Taxonomy` that metrics, models and reports share, its label
encoding, its one threshold rule and its ranking of the classes (``mode="soft"`` by probability, ``mode="risk"``
by expected mistake severity).

A mixin that ``Taxonomy`` inherits. Node indices follow ``taxonomy.nodes`` (pre-order, root = 0); class indices
follow ``taxonomy.classes``. Every array is built once per taxonomy and cached; treat them as read-only.

>>> from taxoclass import Taxonomy
>>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
>>> tax.ancestor_table.tolist()        # nodes: root, a, x, y, b, z
[[0, -1, -1], [0, 1, -1], [0, 1, 2], [0, 1, 3], [0, 4, -1], [0, 4, 5]]
>>> tax.threshold([[0.3, 0.3, 0.4]], 0.55).tolist()     # P(a) = 0.6 >= 0.55, neither x nor y reaches it
[1]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from taxoclass.exceptions import ClassMismatchError, DataError, TaxoclassError


#: how the classes of a probability vector are ranked: "soft" by probability, "risk" by expected mistake severity
RANKINGS = ("soft", "risk")


def check_ranking(mode) -> str:
    """``mode`` if it names a ranking of :data:`RANKINGS`; one TaxoclassError otherwise."""
    if mode not in RANKINGS:
        raise TaxoclassError(f"mode {mode!r} is not valid for ranking classes; expected one of "
                             f"{', '.join(RANKINGS)}.")
    return mode


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class TaxonomyArrays:
    """Cached arrays, label encoding and the threshold rule of :class:`~taxoclass.taxonomy.Taxonomy`."""

    def _cached(self, key: str, build):
        cache = self.__dict__.setdefault("_array_cache", {})
        if key not in cache:
            cache[key] = build()
        return cache[key]

    # ------------------------------------------------------------------ arrays
    @property
    def depths(self) -> np.ndarray:
        """Depth of every node (root = 0), shape (n_nodes,)."""
        return self._cached("depths", lambda: _readonly(self._depth.copy()))

    @property
    def parents(self) -> np.ndarray:
        """Parent index of every node (-1 for the root), shape (n_nodes,)."""
        return self._cached("parents", lambda: _readonly(self._parent.copy()))

    @property
    def leaf_nodes(self) -> np.ndarray:
        """Node index of every class (class order), shape (n_classes,)."""
        return self._cached("leaf_nodes", lambda: _readonly(self._leaf_node_idx.copy()))

    @property
    def class_of_node(self) -> np.ndarray:
        """Class index of every node (-1 for internal nodes), shape (n_nodes,)."""
        def build():
            out = np.full(len(self._nodes), -1, dtype=np.int64)
            out[self._leaf_node_idx] = np.arange(len(self._classes))
            return _readonly(out)
        return self._cached("class_of_node", build)

    @property
    def ancestor_table(self) -> np.ndarray:
        """``A[v, d]`` = the ancestor of node v at depth d (v itself at its own depth), -1 below v;
        shape (n_nodes, height + 1). Row ``A[leaf_nodes[c]]`` is class c's root-to-leaf path."""
        def build():
            n = len(self._nodes)
            out = np.full((n, int(self._depth.max()) + 1), -1, dtype=np.int64)
            par = self._parent.tolist()
            for v in range(n):  # pre-order: a parent's row is filled before its children's
                d = int(self._depth[v])
                if v:
                    out[v, :d] = out[par[v], :d]
                out[v, d] = v
            return _readonly(out)
        return self._cached("ancestor_table", build)

    @property
    def child_table(self) -> np.ndarray:
        """``C[v, j]`` = index of the j-th child of node v, -1 past the last child; shape (n_nodes, max children)."""
        def build():
            width = max((len(c) for c in self._children), default=0) or 1
            out = np.full((len(self._nodes), width), -1, dtype=np.int64)
            for v, kids in enumerate(self._children):
                out[v, :len(kids)] = kids
            return _readonly(out)
        return self._cached("child_table", build)

    @property
    def membership(self) -> np.ndarray:
        """``M[c, v]`` = 1.0 when class c lies under node v (v on c's path, root and leaf included);
        shape (n_classes, n_nodes). ``proba @ M`` gives every node's probability (:meth:`node_proba`)."""
        def build():
            anc = self.ancestor_table[self._leaf_node_idx]
            out = np.zeros((len(self._classes), len(self._nodes)), dtype=np.float64)
            rows = np.repeat(np.arange(len(self._classes)), anc.shape[1])
            keep = anc.reshape(-1) >= 0
            out[rows[keep], anc.reshape(-1)[keep]] = 1.0
            return _readonly(out)
        return self._cached("membership", build)

    # ------------------------------------------------------------------ labels
    def encode(self, labels: Iterable, *, what: str = "labels") -> np.ndarray:
        """Class names (or integer class indices) -> class indices (int64).

        Every unknown name or out-of-range index is listed in ONE :class:`ClassMismatchError`; the one label
        encoder of taxoclass (models, metrics and data use it).

        >>> from taxoclass import Taxonomy
        >>> Taxonomy.from_paths([["a", "x"], ["b", "y"]]).encode(["y", "x"]).tolist()
        [1, 0]
        """
        arr = labels if isinstance(labels, np.ndarray) else np.asarray(list(labels), dtype=object)
        n = len(self._classes)
        if arr.ndim != 1:
            raise DataError(f"{what} must be one-dimensional (one label per sample), got shape {arr.shape}.")
        if arr.size and (arr.dtype.kind in "iu" or (arr.dtype == object and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in arr.tolist()))):
            idx = arr.astype(np.int64)
            bad = np.unique(idx[(idx < 0) | (idx >= n)])
            if bad.size:
                raise ClassMismatchError(
                    f"{what}: {bad.size} class index(es) are outside 0..{n - 1} (the taxonomy has {n} classes): "
                    f"{', '.join(map(str, bad[:20].tolist()))}{' ...' if bad.size > 20 else ''}; pass class names "
                    "or indices in taxonomy.classes order.")
            return idx
        if arr.dtype.kind in "fcb" or (arr.dtype == object and any(
                isinstance(v, (float, bool, np.floating, np.bool_)) for v in arr.tolist())):
            raise DataError(f"{what} holds numbers that are not class indices (floats or booleans); pass class "
                            "names or integer class indices.")
        ci = self._class_index
        values = arr.tolist()
        missing = sorted({str(v) for v in values if v not in ci})
        if missing:
            internal = [m for m in missing if m in self._by_name]
            hint = (f" ({', '.join(internal[:5])} {'is an internal node' if len(internal) == 1 else 'are internal nodes'}"
                    "; labels must be classes, the leaves)") if internal else ""
            raise ClassMismatchError(
                f"{what}: {len(missing)} label(s) are not classes of the taxonomy: {', '.join(missing[:20])}"
                f"{' ...' if len(missing) > 20 else ''}{hint}. Fix the labels, add the classes to the taxonomy "
                "or remove those samples.")
        return np.fromiter((ci[v] for v in values), dtype=np.int64, count=len(values))

    # ------------------------------------------------------------------ probabilities
    def _class_proba(self, proba) -> np.ndarray:
        P = np.asarray(proba, dtype=np.float64)
        if P.ndim != 2 or P.shape[1] != len(self._classes):
            raise DataError(f"class probabilities must have shape (N, {len(self._classes)}) (one column per class "
                            f"in taxonomy.classes order), got shape {P.shape}.")
        return P

    def node_proba(self, proba) -> np.ndarray:
        """Probability of every node (sum of its classes' probabilities), shape (N, n_nodes), from class
        probabilities (N, n_classes) in ``classes`` order."""
        P = self._class_proba(proba)
        return P @ self.membership

    def expected_severity(self, proba) -> np.ndarray:
        """The expected mistake severity of answering each class, shape (N, n_classes): for sample i and class c,
        ``sum_t proba[i, t] * h(lca(c, t))`` with ``h`` the LCA height of :func:`~taxoclass.metrics.mistake_severity`
        (0 for the true class itself). The answer with the lowest value is the Bayes decision for that cost
        (*conditional risk minimisation*, Karthik et al., "No Cost Likelihood Manipulation at Test Time for Making
        Better Mistakes", ICLR 2021); see :meth:`ranked_classes`.

        >>> from taxoclass import Taxonomy
        >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])   # heights: x-y 1, x-z 2
        >>> tax.expected_severity([[0.4, 0.3, 0.3]]).round(2).tolist()
        [[0.9, 1.0, 1.4]]
        """
        P = self._class_proba(proba)
        return P @ self.leaf_matrices()["lca_height"].astype(np.float64)  # symmetric: h(c, t) = h(t, c)

    def ranked_classes(self, proba, mode: str = "soft", k: int | None = None) -> np.ndarray:
        """Class indices of every sample, best first, shape (N, k) (all classes when ``k`` is None).

        **The ranking** used by ``predict``, ``evaluate``, ``serve`` and ``evaluate_predictions`` for the given
        ``mode``:

        - ``"soft"``: by probability (the top one is the argmax, the most likely class).
        - ``"risk"``: first the class with the lowest :meth:`expected_severity` (ties: the more probable, then
          the first): the answer whose mistakes, when it is wrong, are expected to be the mildest in the tree. When
          the model is torn between two sister species and a distant class, it answers a sister. The other classes
          follow by probability, so the alternatives (top-k) are the most likely ones, as in ``"soft"``. On a flat
          taxonomy (every mistake costs the same) it equals ``"soft"``.

        >>> from taxoclass import Taxonomy
        >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
        >>> P = [[0.3, 0.3, 0.4]]     # z is the most likely class, but the mass of a (x or y) is 0.6
        >>> tax.ranked_classes(P, "soft").tolist(), tax.ranked_classes(P, "risk").tolist()
        ([[2, 0, 1]], [[0, 2, 1]])
        """
        check_ranking(mode)
        P = self._class_proba(proba)
        order = np.argsort(-P, axis=1, kind="stable")
        if mode == "risk":  # rounded so that sums differing only by float error tie, and go to the likelier class
            best = np.lexsort((-P, np.round(self.expected_severity(P), 9)), axis=-1)[:, :1]
            rest = order[order != best].reshape(len(P), -1)  # the others, still by probability
            order = np.concatenate([best, rest], axis=1)
        return order if k is None else order[:, :k]

    def threshold(self, proba, threshold: float) -> np.ndarray:
        """The node each sample is confidently assigned to, as node indices (into ``nodes``), shape (N,).

        **The rule** (the one used by ``TreeClassifier.predict(threshold=)``, ``evaluate_predictions(threshold=)``,
        ``threshold_predictions`` and ``taxoclass predict --threshold``): a node's probability is the sum of its
        classes' probabilities. Start at the root; while the most probable child of the current node has a
        probability >= ``threshold``, move to it; return the node where this stops (the root when no top-level
        node reaches the threshold, a class when the model is sure of it). Ties between children go to the first
        child. For ``threshold > 0.5`` at most one child can reach it, so the result is simply the deepest node
        whose probability is >= ``threshold``. A tiny tolerance (1e-9) absorbs rounding.

        >>> from taxoclass import Taxonomy
        >>> tax = Taxonomy.from_paths([["a", "x1"], ["a", "x2"], ["a", "x3"], ["b", "z1"], ["b", "z2"]])
        >>> [tax.nodes[v][-1] for v in tax.threshold([[0.2, 0.2, 0.2, 0.4, 0.0]], 0.55)]
        ['a']
        """
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
                or not 0.0 <= float(threshold) <= 1.0:
            raise TaxoclassError(f"threshold must be a probability between 0 and 1, got {threshold!r}.")
        node_p = self.node_proba(proba)
        kids = self.child_table
        n = len(node_p)
        rows = np.arange(n)
        cur = np.zeros(n, dtype=np.int64)
        t = float(threshold) - 1e-9
        for _ in range(int(self._depth.max())):
            k = kids[cur]  # (N, width)
            p = np.where(k >= 0, node_p[rows[:, None], np.maximum(k, 0)], -np.inf)
            best = p.argmax(axis=1)
            go = p[rows, best] >= t
            if not go.any():
                break
            cur = np.where(go, k[rows, best], cur)
        return cur
