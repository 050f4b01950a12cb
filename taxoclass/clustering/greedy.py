"""The greedy merge core of :func:`~taxoclass.clustering.cluster_confusion` (quadratic, one component at a time)."""

from __future__ import annotations

import heapq

import numpy as np


# ---------------------------------------------------------------------------------------------- greedy core
def _greedy_component(W: np.ndarray, linkage: str, max_size: int | None):
    """Greedy merging on one block ``W`` (symmetric, zero diagonal, entries > 0 are edges). ``W`` is modified.

    Returns a list of (n, m, coefficient, size) in local indices; the surviving index of a cluster is always its
    smallest member, so the first row reaching the global maximum gives the pair.
    """
    k = W.shape[0]
    sizes = np.ones(k, dtype=np.int64)
    rowarg = W.argmax(axis=1)
    rowmax = W[np.arange(k), rowarg]
    merges = []
    while True:
        i = int(rowmax.argmax())
        best = float(rowmax[i])
        if best <= 0.0:
            break
        j = int(rowarg[i])
        n, m = (i, j) if i < j else (j, i)
        size = int(sizes[n] + sizes[m])
        if max_size is not None and size > max_size:
            # the pair can never merge (clusters only grow): take it out and refresh the two rows
            W[n, m] = W[m, n] = 0.0
            for r in (n, m):
                a = int(W[r].argmax())
                rowarg[r], rowmax[r] = a, W[r, a]
            continue
        row_n, row_m = W[n], W[m]
        if linkage == "sum":
            new = row_n + row_m
        elif linkage == "max":
            new = np.maximum(row_n, row_m)
        else:  # mean over all pairs of classes (UPGMA): size-weighted mean of the two rows
            new = (sizes[n] * row_n + sizes[m] * row_m) / size
        new[n] = new[m] = 0.0
        W[n] = new
        W[:, n] = new
        W[m] = 0.0
        W[:, m] = 0.0
        sizes[n] = size
        sizes[m] = 0
        merges.append((n, m, best, size))
        # rows whose cached maximum was in column n or m
        stale = (rowarg == n) | (rowarg == m)
        if linkage == "mean":
            # the new entry may be lower than the old maximum: recompute those rows
            idx = np.flatnonzero(stale)
            if idx.size:
                sub = W[idx]
                a = sub.argmax(axis=1)
                rowarg[idx] = a
                rowmax[idx] = sub[np.arange(idx.size), a]
            better = new > rowmax
        else:
            # sum / max: the new entry is >= both old entries, so it is the new maximum of a stale row
            better = stale | (new > rowmax)
        better &= sizes > 0
        rowarg[better] = n
        rowmax[better] = new[better]
        a = int(new.argmax())
        rowarg[n], rowmax[n] = a, new[a]
        rowarg[m], rowmax[m] = m, -1.0
        if max_size is not None and size >= max_size:
            # a full cluster can merge with nothing: take it out at once instead of refusing its pairs one by one
            W[n] = 0.0
            W[:, n] = 0.0
            rowarg[n], rowmax[n] = n, -1.0
            idx = np.flatnonzero(rowarg == n)
            idx = idx[idx != n]
            if idx.size:
                sub = W[idx]
                a = sub.argmax(axis=1)
                rowarg[idx] = a
                rowmax[idx] = sub[np.arange(idx.size), a]
    return merges


def _greedy(S: np.ndarray, beta: float, linkage: str, max_size: int | None):
    """Greedy clustering of the whole similarity matrix; returns (cluster id per class, merges in global ids)."""
    n = S.shape[0]
    W = np.where(S > beta, S, 0.0)  # beta >= 0 and S >= 0: the edges are exactly the positive entries
    np.fill_diagonal(W, 0.0)
    active = np.flatnonzero(W.any(axis=1))
    blocks: list[np.ndarray] = []
    if active.size:
        sub = W if active.size == n else W[np.ix_(active, active)]
        if np.count_nonzero(sub) <= 0.1 * active.size ** 2:
            from scipy.sparse import csr_matrix
            from scipy.sparse.csgraph import connected_components

            _, lab = connected_components(csr_matrix(sub), directed=False)
            order = np.argsort(lab, kind="stable")
            cuts = np.flatnonzero(np.diff(lab[order])) + 1
            blocks = [active[g] for g in np.split(order, cuts)]
        else:
            blocks = [active]
    per_block = []
    for block in blocks:
        Wb = W if block.size == n else W[np.ix_(block, block)]  # no copy when all classes form one block
        seq = [(int(block[a]), int(block[b]), coef, size) for a, b, coef, size in _greedy_component(Wb, linkage,
                                                                                                     max_size)]
        if seq:
            per_block.append(seq)
    # the order of one global greedy run: components are independent, so at every step the global maximum is the
    # next merge of the component whose next merge is largest (a k-way merge of the sequences, not a sort: with
    # sum linkage a later merge can have a larger coefficient than an earlier one of the same component)
    heap = [(-seq[0][2], seq[0][0], k, 0) for k, seq in enumerate(per_block)]
    heapq.heapify(heap)
    merges = []
    while heap:
        _, _, k, pos = heapq.heappop(heap)
        merges.append(per_block[k][pos])
        if pos + 1 < len(per_block[k]):
            nxt = per_block[k][pos + 1]
            heapq.heappush(heap, (-nxt[2], nxt[0], k, pos + 1))
    # cluster of each class = its representative (smallest member) after the merges
    rep = np.arange(n)
    for a, b, _, _ in merges:
        rep[b] = a
    for x in range(n):  # representatives have smaller indices, so one forward pass resolves the chains
        rep[x] = rep[rep[x]]
    return rep, merges
