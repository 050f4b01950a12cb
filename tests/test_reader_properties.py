"""Property tests for every reader: random bytes and random structures either load or raise the package's own
error type (TaxoclassError), never anything else, and within hypothesis' deadline (no hang, no blow-up)."""

import contextlib
import io
import json
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from taxoclass.clustering import cluster_confusion, load_confusion
from taxoclass.exceptions import TaxoclassError
from taxoclass.taxonomy import load_taxonomy, loads_taxonomy, read_classes

FAST = settings(max_examples=int(__import__("os").environ.get("PROP_EXAMPLES", 60)), deadline=timedelta(seconds=3),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FORMATS = ["json", "yaml", "tsv", "csv", "edges", "newick", "ecotaxa"]
SUFFIX = {"json": ".json", "yaml": ".yaml", "tsv": ".tsv", "csv": ".csv", "edges": ".txt", "newick": ".nwk",
          "ecotaxa": ".tsv"}

names = st.text(st.sampled_from("abcxyz_ é/>;|\t,()':[]*&-"), min_size=0, max_size=6)
nested = st.recursive(st.one_of(st.none(), names, st.integers(-3, 3), st.booleans()),
                      lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(names, kids, max_size=4)),
                      max_leaves=30)


@contextlib.contextmanager
def _file(data: bytes, suffix: str):
    """A temporary file holding ``data``, removed afterwards."""
    fh = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    fh.write(data)
    fh.close()
    try:
        yield Path(fh.name)
    finally:
        Path(fh.name).unlink()


def _loads_or_our_error(call):
    try:
        return call()
    except TaxoclassError as exc:
        assert str(exc).strip(), "an error needs a message"
        return None


# ---------------------------------------------------------------------------------------------------- taxonomies
@FAST
@given(fmt=st.sampled_from(FORMATS), data=st.binary(max_size=400))
def test_taxonomy_files_of_random_bytes(fmt, data):
    with _file(data, SUFFIX[fmt]) as path:
        tax = _loads_or_our_error(lambda: load_taxonomy(path, fmt))
        if tax is not None:
            assert tax.n_classes >= 1


@FAST
@given(fmt=st.sampled_from(FORMATS), text=st.text(st.sampled_from("ab\t\n,;/>()':[]{}-*&! \"#%x1"), max_size=300))
def test_taxonomy_text_of_random_characters(fmt, text):
    _loads_or_our_error(lambda: loads_taxonomy(text, fmt))


@FAST
@given(obj=nested, fmt=st.sampled_from(["json", "yaml"]))
def test_taxonomy_of_random_nested_structures(obj, fmt):
    text = json.dumps(obj) if fmt == "json" else yaml.safe_dump(obj)
    tax = _loads_or_our_error(lambda: loads_taxonomy(text, fmt))
    if tax is not None:
        assert len(set(tax.classes)) == tax.n_classes


@FAST
@given(rows=st.lists(st.lists(names, min_size=1, max_size=4), max_size=12), fmt=st.sampled_from(["tsv", "csv"]))
def test_taxonomy_tables_of_random_rows(rows, fmt):
    sep = "\t" if fmt == "tsv" else ","
    text = "\n".join(sep.join(r) for r in rows)
    _loads_or_our_error(lambda: loads_taxonomy(text, fmt))


@FAST
@given(data=st.binary(max_size=200))
def test_class_lists_of_random_bytes(data):
    with _file(data, ".txt") as path:
        _loads_or_our_error(lambda: read_classes(path))


# ---------------------------------------------------------------------------------------------------- label tables
@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("root")
    for name in ("a.png", "b.png"):
        Image.new("L", (4, 4)).save(root / name)
    return root


@FAST
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".tsv"]))
def test_label_tables_of_random_bytes(data, suffix, image_root):
    from taxoclass.data import ImageSet

    with _file(data, suffix) as path:
        _loads_or_our_error(lambda: ImageSet.from_table(path, image_root, check=False))


@FAST
@given(rows=st.lists(st.tuples(st.sampled_from(["a.png", "b.png", "../a.png", "/etc/hostname", "c.png", "", " "]),
                               names), max_size=6),
       header=st.sampled_from([("file", "label"), ("path", "class"), ("x", "y"), ("file", "file")]))
def test_label_tables_of_random_rows(rows, header, image_root):
    from taxoclass.data import ImageSet

    text = ",".join(header) + "\n" + "".join(f"{f},{lab}\n" for f, lab in rows)
    with _file(text.encode("utf-8"), ".csv") as path:
        ds = _loads_or_our_error(lambda: ImageSet.from_table(path, image_root, check=False))
        if ds is not None:  # what loads stays inside the image root
            assert all(not str(k).startswith(("/", "..")) for k in ds.keys)


@FAST
@given(data=st.binary(max_size=300))
def test_manifests_of_random_bytes(data):
    from taxoclass.data import read_manifest

    with _file(data, ".csv") as path:
        _loads_or_our_error(lambda: read_manifest(path))


# ---------------------------------------------------------------------------------------------------- confusion files
@FAST
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".npy", ".csv", ".tsv", ".txt"]))
def test_confusion_files_of_random_bytes(data, suffix):
    with _file(data, suffix) as path:
        loaded = _loads_or_our_error(lambda: load_confusion(path))
        if loaded is not None:
            _loads_or_our_error(lambda: cluster_confusion(loaded[0], 0.05, labels=loaded[1]))


dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.complex128, np.bool_, np.float16])


@FAST
@given(m=arrays(dtypes, st.tuples(st.integers(0, 5), st.integers(0, 5))), beta=st.floats(-1, 2))
def test_confusion_arrays_of_random_values(m, beta):
    buf = io.BytesIO()
    np.save(buf, m)
    with _file(buf.getvalue(), ".npy") as path:
        loaded = _loads_or_our_error(lambda: load_confusion(path))
        if loaded is not None:
            res = _loads_or_our_error(lambda: cluster_confusion(loaded[0], beta, labels=loaded[1]))
            if res is not None:  # a clustering of real, finite input covers every class once
                assert sorted(c for g in res.clusters for c in g) == sorted(res.labels)


@FAST
@given(rows=st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), names),
                              min_size=1, max_size=4), min_size=1, max_size=5))
def test_confusion_tables_of_random_cells(rows):
    with _file("\n".join(",".join(r) for r in rows).encode(), ".csv") as path:
        loaded = _loads_or_our_error(lambda: load_confusion(path))
        if loaded is not None:
            _loads_or_our_error(lambda: cluster_confusion(loaded[0], 0.05, labels=loaded[1]))
