"""Tests of taxoclass.clustering: the greedy error-based clustering of a confusion matrix."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.cluster.hierarchy import linkage as scipy_linkage
from scipy.spatial.distance import squareform

from taxoclass.clustering import (ConfusionClustering, cluster_confusion, normalize_confusion, sweep,
                                  symmetrize_confusion)
from taxoclass.data import ImageSet
from taxoclass.exceptions import ClusteringError, TaxoclassError
from taxoclass.taxonomy import Taxonomy

MODES = ["product", "hadamard", "mean"]
LINKAGES = ["sum", "mean", "max"]


# ------------------------------------------------------------------------------------------------ helpers
def block_cm(sizes=(3, 2, 4, 1, 2), seed=0, images=1000):
    """Counts of a classifier whose errors stay mostly inside blocks of look-alike classes, plus noise."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    blk = np.repeat(np.arange(len(sizes)), sizes)
    cm = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        same = np.flatnonzero((blk == blk[i]) & (np.arange(n) != i))
        other = np.flatnonzero(blk != blk[i])
        p = np.zeros(n)
        p[i] = 0.66 if same.size else 0.96
        if same.size:
            p[same] = 0.3 * rng.dirichlet(np.full(same.size, 20.0))
        p[other] = 0.04 * rng.dirichlet(np.ones(other.size))
        cm[i] = rng.multinomial(images, p)
    return cm, blk


def partition(clusters):
    return sorted(sorted(c) for c in clusters)


def components_above(S, beta, labels):
    """Connected components of the graph {S[i, j] > beta}, with networkx."""
    g = nx.Graph()
    g.add_nodes_from(labels)
    n = len(labels)
    g.add_edges_from((labels[i], labels[j]) for i in range(n) for j in range(i + 1, n) if S[i, j] > beta)
    return partition(nx.connected_components(g))


def naive_greedy(S, beta, linkage, max_size=None):
    """The algorithm exactly as written in the issue, cubic: for reference only.

    Cluster similarities are recomputed from the thresholded S over all class pairs of the two clusters.
    """
    n = S.shape[0]
    W = np.where(S > beta, S, 0.0)
    np.fill_diagonal(W, 0.0)
    members = {i: [i] for i in range(n)}
    agg = {"sum": np.sum, "mean": np.mean, "max": np.max}[linkage]
    merges = []
    while True:
        best, pair = 0.0, None
        keys = sorted(members)
        for ai, a in enumerate(keys):
            for b in keys[ai + 1:]:
                if max_size is not None and len(members[a]) + len(members[b]) > max_size:
                    continue
                v = agg(W[np.ix_(members[a], members[b])])
                if v > best:
                    best, pair = v, (a, b)
        if pair is None:
            return merges, members
        a, b = pair
        members[a] = members[a] + members.pop(b)
        merges.append((a, b, best))


def random_cm(seed, n, density):
    rng = np.random.default_rng(seed)
    cm = rng.random((n, n)) * (rng.random((n, n)) < density)
    cm[np.diag_indices(n)] += rng.uniform(0.5, 3.0, n)
    return cm


# ------------------------------------------------------------------------------------------------ blocks
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("symmetrize,betas", [("product", [0.03, 0.05, 0.08, 0.11]),
                                              ("mean", [0.02, 0.04, 0.06]),
                                              ("hadamard", [0.0005, 0.001, 0.003])])
def test_block_diagonal_with_noise_gives_its_blocks(seed, symmetrize, betas):
    cm, blk = block_cm(seed=seed)
    labels = [f"c{i}" for i in range(len(blk))]
    expected = partition([[labels[i] for i in np.flatnonzero(blk == b)] for b in np.unique(blk)])
    for beta in betas:
        for link in LINKAGES:
            res = cluster_confusion(cm, beta, classes=labels, symmetrize=symmetrize, linkage=link)
            assert partition(res.clusters) == expected, (beta, link)
            assert len(res.merges) == len(labels) - len(expected)


@pytest.mark.parametrize("symmetrize", MODES)
def test_beta_near_one_gives_singletons_and_zero_gives_one_cluster(symmetrize):
    cm, _ = block_cm(seed=1)
    n = cm.shape[0]
    for beta in (0.99, 1.0):
        res = cluster_confusion(cm, beta, symmetrize=symmetrize)
        assert res.clusters == [[str(i)] for i in range(n)]
        assert res.merges == [] and res.isolated_error == 0.0
    dense = cm + 1  # every pair confused at least once
    res = cluster_confusion(dense, 0.0, symmetrize=symmetrize)
    assert len(res.clusters) == 1 and len(res.merges) == n - 1 and res.isolated_error == pytest.approx(1.0)


def test_worked_example_numbers():
    """The 5-class example of docs/clustering.md, checked by hand."""
    cm = np.array([[80, 15, 5, 0, 0], [20, 75, 5, 0, 0], [0, 5, 90, 5, 0], [0, 0, 2, 90, 8], [0, 0, 0, 10, 90]])
    labels = ["shirt", "coat", "bag", "sandal", "sneaker"]
    res = cluster_confusion(cm, 0.1, classes=labels)
    C = cm / cm.sum(axis=1, keepdims=True)
    assert np.allclose(res.confusion, C)
    assert np.allclose(res.similarity, C @ C.T)
    # S[shirt, coat] = .8*.2 + .15*.75 + .05*.05 = 0.275; S[sandal, sneaker] = .9*.1 + .08*.9 = 0.162
    assert res.merges[0].coefficient == pytest.approx(0.275)
    assert res.merges[1].coefficient == pytest.approx(0.162)
    assert [m[:2] for m in res.merges] == [("shirt", "coat"), ("sandal", "sneaker")]
    assert res.clusters == [["shirt", "coat"], ["sandal", "sneaker"], ["bag"]]
    off = C - np.diag(np.diag(C))
    inside = off[0, 1] + off[1, 0] + off[3, 4] + off[4, 3]
    assert res.isolated_error == pytest.approx(inside / off.sum())
    assert sum(res.cluster_error) == pytest.approx(res.isolated_error)
    assert res.cluster_error[2] == 0.0
    # beta = 0.05: bag joins shirt+coat, then sandal+sneaker joins; the linkage only changes the coefficients
    third = {}
    for link in LINKAGES:
        r = cluster_confusion(cm, 0.05, classes=labels, linkage=link)
        assert r.clusters == [labels]
        assert [m[:2] for m in r.merges] == [("shirt", "coat"), ("sandal", "sneaker"), ("shirt", "bag"),
                                             ("shirt", "sandal")]
        third[link] = r.merges[2].coefficient
    assert third == pytest.approx({"sum": 0.0525 + 0.0825, "mean": (0.0525 + 0.0825) / 2, "max": 0.0825})
    capped = cluster_confusion(cm, 0.05, classes=labels, max_cluster_size=2)
    assert capped.clusters == [["shirt", "coat"], ["sandal", "sneaker"], ["bag"]]


# ------------------------------------------------------------------------------------------------ properties
matrices = st.tuples(st.integers(0, 2 ** 32 - 1), st.integers(2, 12), st.sampled_from([0.2, 0.5, 1.0]))
betas = st.sampled_from([0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.4])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrices, betas, st.sampled_from(MODES), st.sampled_from(LINKAGES))
def test_partition_equals_connected_components_above_beta(m, beta, symmetrize, link):
    cm = random_cm(*m)
    labels = [f"k{i}" for i in range(cm.shape[0])]
    res = cluster_confusion(cm, beta, classes=labels, symmetrize=symmetrize, linkage=link)
    flat = [c for cl in res.clusters for c in cl]
    assert sorted(flat) == sorted(labels)  # a partition: every class exactly once
    assert all(cl for cl in res.clusters)
    assert partition(res.clusters) == components_above(res.similarity, beta, labels)
    assert len(res.merges) == len(labels) - len(res.clusters)
    assert all(mg.coefficient > (0.0 if link == "mean" else beta) for mg in res.merges)  # mean averages in 0s
    assert 0.0 <= res.isolated_error <= 1.0 + 1e-12
    assert sum(res.cluster_error) == pytest.approx(res.isolated_error)
    assert np.allclose(res.similarity, res.similarity.T)


@settings(max_examples=50, deadline=None)
@given(matrices, betas, st.sampled_from(LINKAGES), st.sampled_from([None, 1, 2, 3, 5]))
def test_merges_equal_the_naive_cubic_algorithm(m, beta, link, max_size):
    cm = random_cm(*m)
    res = cluster_confusion(cm, beta, linkage=link, max_cluster_size=max_size)
    ref, members = naive_greedy(res.similarity, beta, link, max_size)
    assert [(int(mg.n), int(mg.m)) for mg in res.merges] == [(a, b) for a, b, _ in ref]
    assert [mg.coefficient for mg in res.merges] == pytest.approx([c for _, _, c in ref], rel=1e-9)
    assert partition(res.clusters) == partition([[str(i) for i in v] for v in members.values()])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(3, 14))
def test_max_and_mean_linkage_agree_with_scipy_single_and_average(seed, n):
    """max = single linkage and mean = UPGMA on the distance 1 - S: same merge heights."""
    cm = random_cm(seed, n, 1.0)
    for link, method in [("max", "single"), ("mean", "average")]:
        res = cluster_confusion(cm, 0.0, linkage=link, symmetrize="mean")
        D = 1.0 - res.similarity
        np.fill_diagonal(D, 0.0)
        Z = scipy_linkage(squareform(D, checks=False), method=method)
        assert sorted(1.0 - mg.coefficient for mg in res.merges) == pytest.approx(sorted(Z[:, 2]), abs=1e-12)


def birkhoff_counts(seed, n, k):
    """Integer counts with equal row and column sums (a sum of permutation matrices): C(cm.T) == C(cm).T."""
    rng = np.random.default_rng(seed)
    cm = np.zeros((n, n), dtype=np.int64)
    for w in rng.integers(1, 20, size=k):
        cm[np.arange(n), rng.permutation(n)] += w
    return cm


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(2, 10), st.integers(1, 6), betas,
       st.sampled_from(["hadamard", "mean"]), st.sampled_from(LINKAGES))
def test_transposing_the_input_changes_nothing_in_symmetric_modes(seed, n, k, beta, symmetrize, link):
    cm = birkhoff_counts(seed, n, k)
    a = cluster_confusion(cm, beta, symmetrize=symmetrize, linkage=link)
    b = cluster_confusion(cm.T, beta, symmetrize=symmetrize, linkage=link)
    assert np.array_equal(a.similarity, b.similarity)
    assert a.clusters == b.clusters
    assert a.merges == b.merges


@settings(max_examples=50, deadline=None)
@given(matrices, betas, st.sampled_from(MODES), st.sampled_from(LINKAGES), st.randoms(use_true_random=False))
def test_permuting_the_classes_permutes_the_clusters(m, beta, symmetrize, link, rnd):
    cm = random_cm(*m)
    n = cm.shape[0]
    labels = [f"k{i}" for i in range(n)]
    perm = list(range(n))
    rnd.shuffle(perm)
    a = cluster_confusion(cm, beta, classes=labels, symmetrize=symmetrize, linkage=link)
    # keep clear of values within rounding of beta (BLAS may sum in another order after permuting)
    off = a.similarity[~np.eye(n, dtype=bool)]
    assume(np.all(np.abs(off - beta) > 1e-9))
    b = cluster_confusion(cm[np.ix_(perm, perm)], beta, classes=[labels[p] for p in perm], symmetrize=symmetrize,
                          linkage=link)
    assert partition(a.clusters) == partition(b.clusters)
    assert sorted(mg.coefficient for mg in a.merges) == pytest.approx(sorted(mg.coefficient for mg in b.merges))


@settings(max_examples=50, deadline=None)
@given(matrices, st.sampled_from([0.0, 0.01, 0.05]), st.sampled_from(LINKAGES), st.integers(1, 5))
def test_max_cluster_size_is_honoured(m, beta, link, max_size):
    cm = random_cm(*m)
    labels = [f"k{i}" for i in range(cm.shape[0])]
    res = cluster_confusion(cm, beta, classes=labels, linkage=link, max_cluster_size=max_size)
    assert max(len(c) for c in res.clusters) <= max_size
    assert sorted(c for cl in res.clusters for c in cl) == sorted(labels)
    comp_of = {c: k for k, comp in enumerate(components_above(res.similarity, beta, labels)) for c in comp}
    for cl in res.clusters:  # clusters only split components, never join them
        assert len({comp_of[c] for c in cl}) == 1
    free = cluster_confusion(cm, beta, classes=labels, linkage=link)
    if max(len(c) for c in free.clusters) <= max_size:
        assert partition(res.clusters) == partition(free.clusters)


def test_max_cluster_size_splits_a_giant_group():
    cm, _ = block_cm(sizes=(12,), seed=3)
    assert len(cluster_confusion(cm, 0.01).clusters) == 1
    res = cluster_confusion(cm, 0.01, max_cluster_size=4)
    assert max(len(c) for c in res.clusters) == 4
    assert len(res.clusters) >= 3


@settings(max_examples=30, deadline=None)
@given(matrices, st.sampled_from(MODES))
def test_sweep_refines_as_beta_grows(m, symmetrize):
    cm = random_cm(*m)
    rows = sweep(cm, [0.0, 0.01, 0.03, 0.1, 0.3, 1.0], symmetrize=symmetrize)
    counts = [r["n_clusters"] for r in rows]
    iso = [r["isolated_error"] for r in rows]
    assert counts == sorted(counts) and counts[-1] == cm.shape[0]
    assert iso == sorted(iso, reverse=True) and iso[-1] == 0.0
    for r in rows:
        res = cluster_confusion(cm, r["beta"], symmetrize=symmetrize)
        assert r["largest"] == max(len(c) for c in res.clusters)
        assert r["n_groups"] + r["singletons"] == r["n_clusters"] == len(res.clusters)


@pytest.mark.parametrize("beta", [0.0, 0.01, 0.05])
def test_large_sparse_matrix_uses_the_fast_paths_correctly(beta):
    """600 classes with a few confusions each: sparse product, many components; same result as dense algebra."""
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(7)
    n = 600
    cm = np.diag(rng.integers(50, 100, n)).astype(np.int64)
    for i in range(n):
        cm[i, rng.choice(n, 3, replace=False)] += rng.integers(1, 30, 3)
    res = cluster_confusion(cm, beta)
    C = cm / cm.sum(axis=1, keepdims=True)
    assert np.allclose(res.similarity, C @ C.T, rtol=0, atol=1e-15)
    edges = (C @ C.T) > beta
    np.fill_diagonal(edges, False)
    k, lab = connected_components(edges, directed=False)
    assert len(res.clusters) == k
    for cl in res.clusters:
        assert len({lab[int(c)] for c in cl}) == 1
    assert len(res.merges) == n - k
    coefs = [m.coefficient for m in res.merges]
    if coefs:  # the global order of one greedy run: the first merge takes the largest similarity
        off = np.where(edges, C @ C.T, 0)
        assert coefs[0] == pytest.approx(off.max())


# ------------------------------------------------------------------------------------------------ taxonomy
def test_to_taxonomy_one_level_and_nested():
    cm, blk = block_cm(seed=0)
    labels = [f"c{i}" for i in range(len(blk))]
    res = cluster_confusion(cm, 0.05, classes=labels)
    tax = res.to_taxonomy()
    assert isinstance(tax, Taxonomy)
    assert tax.classes == tuple(labels)
    names = res.cluster_names()
    for cl, nm in zip(res.clusters, names):
        if nm is None:
            assert tax.parent(cl[0]) == tax.root
        else:
            assert tax.classes_under(nm) == tuple(cl) or sorted(tax.classes_under(nm)) == sorted(cl)
            assert tax.depth(cl[0]) == 2
    assert tax.height == 2
    nested = res.to_taxonomy("all")
    assert nested.classes == tuple(labels)
    # a binary tree inside each cluster: one internal node per merge (+ the root)
    assert len(nested.internal_nodes) == len(res.merges) + 1
    assert all(len(nested.children(n)) == 2 for n in nested.internal_nodes if n != nested.root)
    for cl, nm in zip(res.clusters, names):
        if nm is not None:
            assert sorted(nested.classes_under(nm)) == sorted(cl)
    # the last merge of a cluster joins the two children of its top node
    last = [mg for mg in res.merges if mg.size == 4][-1]
    top = nested.node(names[[len(c) for c in res.clusters].index(4)])
    kids = [sorted(nested.classes_under(k)) for k in nested.children(top)]
    assert any(last.n in k for k in kids) and any(last.m in k for k in kids)
    assert nested.lca(last.n, last.m) == top


def test_to_taxonomy_refuses_bad_levels_and_name_clashes():
    cm, _ = block_cm(seed=0)
    res = cluster_confusion(cm, 0.05, classes=[f"c{i}" for i in range(12)])
    with pytest.raises(ClusteringError, match="cluster_levels=2"):
        res.to_taxonomy(2)
    clash = cluster_confusion(cm, 0.05, classes=["cluster_1"] + [f"c{i}" for i in range(1, 12)])
    with pytest.raises(ClusteringError, match="prefix"):
        clash.to_taxonomy()
    assert clash.to_taxonomy(prefix="group_").n_classes == 12


def test_old_argument_names_still_work_with_a_deprecation_warning():
    """labels= became classes= and levels= became cluster_levels= (one name per concept, issue 11)."""
    cm, _ = block_cm(seed=0)
    names = [f"c{i}" for i in range(12)]
    new = cluster_confusion(cm, 0.05, classes=names)
    with pytest.warns(DeprecationWarning, match="labels= is deprecated; use classes="):
        old = cluster_confusion(cm, 0.05, labels=names)
    assert old.classes == new.classes == names and old.clusters == new.clusters
    with pytest.warns(DeprecationWarning, match="use classes="):
        assert normalize_confusion(cm, labels=names)[1] == names
    with pytest.warns(DeprecationWarning, match="levels= is deprecated; use cluster_levels="):
        nested = new.to_taxonomy(levels="all")
    assert nested == new.to_taxonomy(cluster_levels="all") and nested.height > new.to_taxonomy().height == 2
    with pytest.warns(DeprecationWarning, match=r"\.classes"):
        assert new.labels == names
    with pytest.raises(TaxoclassError, match="pass only classes="):
        cluster_confusion(cm, 0.05, classes=names, labels=names)
    with pytest.raises(TaxoclassError, match="pass only cluster_levels="):
        new.to_taxonomy("all", levels="all")


# ------------------------------------------------------------------------------------------------ spectral
def test_spectral_recovers_clean_blocks_and_refuses_missing_k():
    cm, blk = block_cm(sizes=(3, 3, 4), seed=2)
    labels = [f"c{i}" for i in range(len(blk))]
    res = cluster_confusion(cm, classes=labels, method="spectral", n_clusters=3)
    assert res.method == "spectral" and res.merges == []
    expected = partition([[labels[i] for i in np.flatnonzero(blk == b)] for b in range(3)])
    assert partition(res.clusters) == expected
    assert res.isolated_error == cluster_confusion(cm, 0.05, classes=labels).isolated_error
    assert res.to_taxonomy().n_classes == 10
    with pytest.raises(ClusteringError, match="n_clusters"):
        cluster_confusion(cm, method="spectral")
    with pytest.raises(ClusteringError, match="n_clusters"):
        cluster_confusion(cm, method="spectral", n_clusters=11)
    with pytest.raises(ClusteringError, match="n_clusters"):
        cluster_confusion(cm, n_clusters=3)  # greedy
    with pytest.raises(ClusteringError, match="cluster_levels='all'"):
        res.to_taxonomy("all")


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("cm,kwargs,match", [
    ([[1, 2, 3], [4, 5, 6]], {}, "square"),
    (np.zeros((0, 0)), {}, "empty"),
    ([[5]], {}, "1 x 1"),
    ([[1, np.nan], [1, 1]], {}, "NaN"),
    ([[1, np.inf], [1, 1]], {}, "infinite"),
    ([[1, -1], [1, 1]], {}, "negative"),
    ([[1, 1], [1, 1]], {"beta": -0.1}, "beta"),
    ([[1, 1], [1, 1]], {"beta": 1.5}, "beta"),
    ([[1, 1], [1, 1]], {"beta": float("nan")}, "beta"),
    ([[1, 1], [1, 1]], {"classes": ["a", "b", "c"]}, "3 class names"),
    ([[1, 1], [1, 1]], {"classes": ["a", "a"]}, "twice"),
    ([[1, 1], [0, 0]], {}, "all zeros"),
    ([[1, 1], [1, 1]], {"symmetrize": "sum"}, "symmetrize"),
    ([[1, 1], [1, 1]], {"linkage": "single"}, "linkage"),
    ([[1, 1], [1, 1]], {"method": "kmeans"}, "method"),
    ([[1, 1], [1, 1]], {"max_cluster_size": 0}, "max_cluster_size"),
    ([["a", "b"], ["c", "d"]], {}, "numbers"),
])
def test_bad_input_raises_one_clear_error(cm, kwargs, match):
    with pytest.raises(ClusteringError, match=match) as info:
        cluster_confusion(cm, **kwargs)
    assert isinstance(info.value, TaxoclassError)
    assert "\n" not in str(info.value)


def test_drop_empty_leaves_out_unseen_classes():
    cm = [[8, 1, 1, 0], [0, 0, 0, 0], [2, 0, 8, 0], [0, 3, 0, 7]]
    with pytest.raises(ClusteringError, match="'b'"):
        cluster_confusion(cm, classes=list("abcd"))
    res = cluster_confusion(cm, 0.05, classes=list("abcd"), drop_empty=True)
    assert res.classes == ["a", "c", "d"] and res.dropped == ["b"]
    # fractions stay relative to all of a class's images (d: 3 of its 10 went to the dropped class)
    assert res.confusion[2].tolist() == pytest.approx([0.0, 0.0, 0.7])
    assert partition(res.clusters) == [["a", "c"], ["d"]]
    C, kept, dropped = normalize_confusion(cm, classes=list("abcd"), drop_empty=True)
    assert C.shape == (3, 3) and kept == ["a", "c", "d"] and dropped == ["b"]


def test_fractions_and_dataframes_are_accepted():
    pd = pytest.importorskip("pandas")
    cm, _ = block_cm(seed=1)
    frac = cm / cm.sum(axis=1, keepdims=True)
    a = cluster_confusion(cm, 0.05)
    b = cluster_confusion(frac * 0.5, 0.05)  # any row scale
    assert a.clusters == b.clusters
    df = pd.DataFrame(cm, index=[f"n{i}" for i in range(12)], columns=[f"n{i}" for i in range(12)])
    assert cluster_confusion(df, 0.05).classes == [f"n{i}" for i in range(12)]
    assert np.allclose(symmetrize_confusion(frac, "mean"), (frac + frac.T) / 2)


def test_result_object_summary_and_dict():
    cm, _ = block_cm(seed=0)
    res = cluster_confusion(cm, 0.05)
    assert isinstance(res, ConfusionClustering)
    assert res.S is res.similarity and res.C is res.confusion
    d = res.to_dict()
    assert [c["classes"] for c in d["clusters"]] == res.clusters
    assert d["isolated_error"] == pytest.approx(res.isolated_error, abs=1e-6)
    text = res.summary()
    assert text.count("\n") == len(res.clusters)  # one line per cluster + the isolated-error line
    assert "isolated error" in text.splitlines()[-1]
    assert res.cluster_of[res.clusters[0][0]] == 0


# ------------------------------------------------------------------------------------------------ real data

@pytest.fixture(scope="module")
def fashion_confusion():
    from conftest import SHARED_DATASETS

    root = SHARED_DATASETS / "fashion_mnist"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    n = 6000
    train = ImageSet.from_idx(root / "train-images-idx3-ubyte.gz", root / "train-labels-idx1-ubyte.gz")
    held_out = ImageSet.from_idx(root / "t10k-images-idx3-ubyte.gz", root / "t10k-labels-idx1-ubyte.gz")
    X = train.array[:n].reshape(n, -1).astype(np.float32) / 255
    y = train.encode()[:n]
    Xt = held_out.array.reshape(len(held_out), -1).astype(np.float32) / 255
    yt = held_out.encode()
    names = list(train.classes)
    # one BLAS thread: with several test workers on 2 cores, threaded BLAS spins and is 100x slower
    with threadpool_limits(limits=1):
        model = make_pipeline(PCA(30, random_state=0), StandardScaler(), LogisticRegression(max_iter=500))
        pred = model.fit(X, y).predict(Xt)
    return confusion_matrix(yt, pred, labels=range(10)), names, float((pred == yt).mean())


@pytest.mark.shared
def test_real_fashion_mnist_confusions_are_grouped(fashion_confusion):
    cm, names, acc = fashion_confusion
    assert 0.7 < acc < 0.9  # a small, imperfect model: there are errors to cluster
    tops = {"T-shirt/top", "Pullover", "Coat", "Shirt"}
    shoes = {"Sandal", "Sneaker", "Ankle boot"}
    for beta in (0.05, 0.06, 0.08):
        res = cluster_confusion(cm, beta, classes=names)
        where = res.cluster_of
        assert len({where[c] for c in tops}) == 1, (beta, res.clusters)
        assert len({where[c] for c in shoes}) == 1, (beta, res.clusters)
        assert where["Shirt"] != where["Sneaker"]
        assert len(res.clusters[where["Sneaker"]]) == 3  # footwear alone
        assert where["Trouser"] not in {where["Shirt"], where["Sneaker"]}
        assert res.isolated_error > 0.8
    tax = cluster_confusion(cm, 0.05, classes=names).to_taxonomy()
    assert tax.lca("Sandal", "Ankle boot") == tax.lca("Sneaker", "Sandal") != tax.root
    assert tax.lca("Shirt", "Sneaker") == tax.root


def test_beta_is_chosen_so_the_error_tree_does_not_degenerate():
    from taxoclass.clustering import default_max_group, error_clustering

    # 4 blocks of 3 classes confused with each other, plus confusion spread over every class (a weak model)
    n, b = 12, 3
    C = np.full((n, n), 0.3 / (n - b))
    for k in range(0, n, b):
        C[k:k + b, k:k + b] = 0.3 / (b - 1)
    np.fill_diagonal(C, 0.4)
    labels = [f"c{i}" for i in range(n)]
    fixed = cluster_confusion(C, 0.05, labels=labels)
    assert [len(c) for c in fixed.clusters] == [12]  # beta = 0.05: one group of everything
    said = []
    res = error_clustering(C, labels, progress=said.append)
    assert sorted(map(sorted, res.clusters)) == sorted(sorted(labels[k:k + b]) for k in range(0, n, b))
    assert res.beta in (0.075, 0.1, 0.15) and res.isolated_error == pytest.approx(0.5)
    assert len(said) == 1 and f"beta={res.beta}" in said[0] and "at most 7 classes" in said[0]
    assert default_max_group(n) == 7
    # an explicit beta is an override
    assert [len(c) for c in error_clustering(C, labels, beta=0.05).clusters] == [12]
    # no beta keeps groups small enough: the cap does
    capped = error_clustering(C, labels, max_cluster_size=2, progress=said.append)
    assert max(len(c) for c in capped.clusters) <= 2 and capped.isolated_error > 0
    assert "capped at 2" in said[-1]
