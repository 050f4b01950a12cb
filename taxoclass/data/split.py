"""Stratified, seeded train / validation / test split, and the manifest CSV (path, label, split) that records it.

Flat and tree models, or two runs, read the same manifest and therefore use exactly the same images.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np

from taxoclass._files import atomic_write, check_writable
from taxoclass.exceptions import DataError

__all__ = ["split", "write_manifest", "read_manifest", "SPLITS", "RareClassWarning"]

SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = ("path", "label", "split")


class RareClassWarning(UserWarning):
    """Some classes have too few images to appear in every split."""


def _carve(idx: np.ndarray, y: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (scikit-learn) removal of about ``frac`` of ``idx``; never takes a class's last image."""
    from sklearn.model_selection import train_test_split

    if frac <= 0 or len(idx) == 0:
        return idx, idx[:0]
    counts = Counter(y[idx].tolist())
    eligible = np.array([counts[v] >= 2 for v in y[idx]], dtype=bool)
    fixed, pool = idx[~eligible], idx[eligible]
    if len(pool) == 0:
        return idx, idx[:0]
    n_take = int(round(frac * len(pool)))
    n_cls = len({v for v in y[pool]})
    if n_take == 0:
        return idx, idx[:0]
    if n_cls <= n_take <= len(pool) - n_cls:
        keep, take = train_test_split(pool, test_size=n_take, stratify=y[pool], random_state=seed)
    else:  # too few images for sklearn's stratifier: round per class, seeded
        rng = np.random.default_rng(seed)
        keep_l, take_l = [], []
        for c in sorted(set(y[pool].tolist())):
            members = rng.permutation(pool[y[pool] == c])
            k = min(int(round(frac * len(members))), len(members) - 1)
            take_l.append(members[:k])
            keep_l.append(members[k:])
        keep, take = np.concatenate(keep_l), np.concatenate(take_l)
    # at least one image of every class stays
    kept = set(y[keep].tolist())
    back = []
    for c in sorted(set(y[take].tolist()) - kept):
        back.append(int(np.flatnonzero(y[take] == c)[0]))
    if back:
        keep = np.concatenate([keep, take[back]])
        take = np.delete(take, back)
    return np.concatenate([fixed, keep]), take


def split(data, *, val_size: float = 0.1, test_size: float = 0.1, seed: int = 0):
    """Split images into train / val / test, stratified by class, reproducibly; returns the manifest.

    ``data`` is an :class:`~taxoclass.data.ImageSet` or a ``(keys, labels)`` pair. The result is a pandas
    DataFrame with columns ``path`` (the ImageSet key), ``label``, ``split`` in the data's order; it depends only
    on the (path, label) pairs and ``seed``, not on the order they are listed in.

    Rare classes are handled deliberately: every class keeps at least one image in train; a class with one image
    is train-only; a class with two images puts one in train and one in test (or in val when ``test_size=0``);
    classes with three or more images are split by scikit-learn's stratified ``train_test_split``. Classes that
    miss val or test get one :class:`RareClassWarning`.

    >>> m = split((["a1", "a2", "a3", "a4", "b1"], ["a", "a", "a", "a", "b"]), val_size=0.25, test_size=0.25)
    >>> sorted(m.columns), m.loc[m.label == "b", "split"].tolist()
    (['label', 'path', 'split'], ['train'])
    """
    import pandas as pd

    for name, v in (("val_size", val_size), ("test_size", test_size)):
        if not (isinstance(v, (int, float)) and 0 <= v < 1):
            raise DataError(f"{name}={v!r} is not valid; expected a fraction in [0, 1).")
    if val_size + test_size >= 1:
        raise DataError(f"val_size + test_size = {val_size + test_size:g} leaves nothing to train on; expected a "
                        "sum below 1 (e.g. 0.1 and 0.1).")
    if isinstance(data, tuple) and len(data) == 2:
        keys, labels = (np.asarray(list(a), dtype=object) for a in data)
    else:
        keys, labels = np.asarray(data.keys, dtype=object), np.asarray(data.labels, dtype=object)
    if len(keys) != len(labels):
        raise DataError(f"{len(keys)} paths but {len(labels)} labels; give one label per image.")
    if len(keys) == 0:
        raise DataError("no images to split.")
    dup = [k for k, n in Counter(keys.tolist()).items() if n > 1]
    if dup:
        raise DataError(f"{len(dup)} path(s) occur twice ({', '.join(map(str, dup[:10]))}); list each image once.")
    labels = np.array([str(v) for v in labels], dtype=object)
    order = np.argsort(keys.astype(str), kind="stable")
    y = labels
    counts = Counter(labels.tolist())
    assign = np.empty(len(keys), dtype=object)
    assign[:] = "train"
    rng = np.random.default_rng(seed)
    rare = [c for c in sorted(counts) if counts[c] < 3]
    rare_set = set(rare)
    for c in rare:
        members = order[labels[order] == c]
        members = rng.permutation(members)
        if len(members) == 2:
            second = "test" if test_size > 0 else "val" if val_size > 0 else "train"
            assign[members[1]] = second
    common = order[np.array([labels[i] not in rare_set for i in order], dtype=bool)]
    rest, test = _carve(common, y, test_size, seed)
    val_frac = val_size / (1 - test_size) if test_size < 1 else 0
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys))
    train, val = _carve(rest[np.argsort(rank[rest], kind="stable")], y, val_frac, seed + 1)
    assign[test] = "test"
    assign[val] = "val"
    # report classes missing from val/test
    missing = {}
    for s, frac in (("val", val_size), ("test", test_size)):
        if frac > 0:
            present = set(labels[assign == s].tolist())
            gone = [c for c in sorted(counts) if c not in present]
            if gone:
                missing[s] = gone
    if missing:
        desc = "; ".join(f"no {s} image for {len(v)} class(es): {', '.join(v[:15])}"
                         + (" ..." if len(v) > 15 else "") for s, v in missing.items())
        warnings.warn(f"split: too few images in some classes ({desc}); these classes are trained on but cannot "
                      "be evaluated there. Collect more images or merge them into a parent class.",
                      RareClassWarning, stacklevel=2)
    return pd.DataFrame({"path": keys.astype(str), "label": labels.astype(str), "split": assign.astype(str)})


def write_manifest(manifest, path, *, overwrite: bool = False):
    """Write a split manifest CSV (columns path, label, split), atomically; refuses to overwrite by default.

    >>> m = split((["x1", "x2", "y1"], ["x", "x", "y"]), val_size=0, test_size=0.5)
    >>> write_manifest(m, "/tmp/__taxoclass_manifest.csv", overwrite=True).name
    '__taxoclass_manifest.csv'
    """
    _validate(manifest, str(path))
    path = check_writable(path, overwrite=overwrite)
    with atomic_write(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        manifest.loc[:, list(MANIFEST_COLUMNS)].to_csv(fh, index=False)
    return path


def read_manifest(path):
    """Read a manifest CSV written by :func:`write_manifest`; checks columns, split names and duplicates.

    >>> read_manifest("/tmp/__taxoclass_manifest.csv").split.tolist()   # doctest: +SKIP
    """
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding_errors="surrogateescape")
    except FileNotFoundError:
        raise DataError(f"{path}: manifest not found; write one with taxoclass.data.write_manifest.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse the manifest ({str(exc).strip()}); expected CSV with columns "
                        "path,label,split.") from None
    _validate(df, str(path))
    return df.loc[:, list(MANIFEST_COLUMNS)].reset_index(drop=True)


def _validate(df, where: str) -> None:
    absent = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if absent:
        raise DataError(f"{where}: manifest column(s) {', '.join(absent)} missing; expected path,label,split.")
    bad = [(i + 2, v) for i, v in enumerate(df["split"].tolist()) if v not in SPLITS]
    if bad:
        raise DataError(f"{where}: unknown split name(s) " + ", ".join(f"{v!r} (line {ln})" for ln, v in bad[:20])
                        + f"; expected one of {', '.join(SPLITS)}.")
    dups = df["path"][df["path"].duplicated()].tolist()
    if dups:
        raise DataError(f"{where}: path(s) listed twice: {', '.join(dups[:20])}; each image belongs to one split.")
