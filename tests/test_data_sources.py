"""Every source kind loads: class folders (flat and nested lineage), tables, EcoTaxa, arrays, IDX, zip; and the
shared real datasets (NDSB plankton folder, Fashion-MNIST IDX, CIFAR-10 zip)."""

import gzip
import io
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from taxoclass.data import ImageSet, from_idx, load_images, load_source
from taxoclass.exceptions import DataError, TaxonomyError


def _img(path, value=0, size=(10, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(path)


def test_folder_flat(tmp_path):
    for c, n in (("zeta", 2), ("alpha", 3)):
        for i in range(n):
            _img(tmp_path / c / f"{i}.png", 10 * i)
    (tmp_path / "alpha" / "notes.txt").write_text("ignored")
    (tmp_path / "alpha" / ".hidden.png").write_bytes(b"macOS junk")
    ds = ImageSet.from_folder(tmp_path)
    assert ds.classes == ("alpha", "zeta")
    assert ds.counts() == {"alpha": 3, "zeta": 2}
    assert ds.taxonomy is None and len(ds.bad_files) == 0
    assert ds.sizes.tolist()[0] == [8, 10]
    assert ds.encode().tolist() == [0, 0, 0, 1, 1]
    nested = tmp_path / "zeta" / "sub"
    _img(nested / "x.png")
    with pytest.raises(DataError, match="nested_lineage"):
        ImageSet.from_folder(tmp_path)


def test_folder_nested_lineage(tmp_path):
    _img(tmp_path / "crustaceans" / "copepods" / "calanoid" / "a.png")
    _img(tmp_path / "crustaceans" / "copepods" / "cyclopoid" / "b.png")
    _img(tmp_path / "crustaceans" / "amphipods" / "c.png")
    _img(tmp_path / "detritus" / "d.png")
    ds = ImageSet.from_folder(tmp_path, nested_lineage=True)
    assert ds.classes == ("amphipods", "calanoid", "cyclopoid", "detritus")
    assert ds.taxonomy.lineage("calanoid")[-3:] == ["crustaceans", "copepods", "calanoid"]
    assert ds.taxonomy.lca("calanoid", "cyclopoid")[-1] == "copepods"
    assert ds.labels.tolist() == ["amphipods", "calanoid", "cyclopoid", "detritus"]
    _img(tmp_path / "crustaceans" / "copepods" / "e.png")  # images in an internal node
    with pytest.raises(TaxonomyError, match="copepods"):
        ImageSet.from_folder(tmp_path, nested_lineage=True)


def test_table_with_missing_files_lists_all(tmp_path):
    for name in ("w1.jpg", "w2.jpg", "w3.jpg"):
        _img(tmp_path / "train" / name)
    (tmp_path / "train.csv").write_text("Image,Id\nw1.jpg,whale_a\nw2.jpg,whale_b\nw3.jpg,whale_a\n")
    ds = ImageSet.from_table(tmp_path / "train.csv", tmp_path / "train")
    assert ds.classes == ("whale_a", "whale_b") and ds.labels.tolist() == ["whale_a", "whale_b", "whale_a"]
    (tmp_path / "bad.csv").write_text("Image,Id\nw1.jpg,a\ngone1.jpg,b\nw3.jpg,a\ngone2.jpg,c\n")
    with pytest.raises(DataError) as err:
        ImageSet.from_table(tmp_path / "bad.csv", tmp_path / "train")
    msg = str(err.value)
    assert "2 of 4" in msg and "gone1.jpg (line 3)" in msg and "gone2.jpg (line 5)" in msg
    with pytest.raises(DataError, match="no column 'species'"):
        ImageSet.from_table(tmp_path / "train.csv", tmp_path / "train", label_column="species")
    (tmp_path / "odd.csv").write_text("a,b\nw1.jpg,x\n")
    with pytest.raises(DataError, match="file_column"):
        ImageSet.from_table(tmp_path / "odd.csv", tmp_path / "train")


def test_ecotaxa_export(tmp_path):
    for name in ("1.jpg", "2.jpg", "3.jpg", "4.jpg"):
        _img(tmp_path / "imgs" / name)
    rows = [
        "img_file_name\tobject_id\tobject_annotation_category\tobject_annotation_hierarchy",
        "[t]\t[t]\t[t]\t[t]",
        "imgs/1.jpg\to1\tCalanoida\tliving>Animalia>Copepoda>Calanoida",
        "imgs/2.jpg\to2\tCyclopoida\tliving>Animalia>Copepoda>Cyclopoida",
        "imgs/3.jpg\to3\tdetritus\tnot-living>detritus",
        "imgs/4.jpg\to4\tCalanoida\tliving>Animalia>Copepoda>Calanoida",
    ]
    (tmp_path / "export.tsv").write_text("\n".join(rows) + "\n")
    ds = ImageSet.from_ecotaxa(tmp_path / "export.tsv")
    assert ds.classes == ("Calanoida", "Cyclopoida", "detritus")
    assert ds.counts() == {"Calanoida": 2, "Cyclopoida": 1, "detritus": 1}
    assert ds.taxonomy.lca("Calanoida", "Cyclopoida")[-1] == "Copepoda"
    assert ds.taxonomy.lineage("detritus")[-2:] == ["not-living", "detritus"]
    assert load_source(ecotaxa=tmp_path / "export.tsv").classes == ds.classes
    (tmp_path / "broken.tsv").write_text("img_file_name\tlabel\nimgs/1.jpg\tx\n")
    with pytest.raises(DataError, match="object_annotation_category"):
        ImageSet.from_ecotaxa(tmp_path / "broken.tsv")


def test_arrays_and_validation():
    x = np.arange(2 * 5 * 6 * 3, dtype=np.uint8).reshape(2, 5, 6, 3)
    ds = ImageSet.from_arrays(x, ["b", "a"])
    assert ds.kind == "array" and ds.classes == ("a", "b") and ds.encode().tolist() == [1, 0]
    xo, yo = load_images(ds, image_size=(5, 6))
    np.testing.assert_array_equal(xo, x.astype(np.float32))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        ImageSet.from_arrays(np.full((1, 4, 4), -0.5), ["a"])
    with pytest.raises(DataError, match="shape"):
        ImageSet.from_arrays(np.zeros((4, 4)), ["a"] * 4)
    with pytest.raises(DataError, match="outside"):
        ImageSet.from_arrays(np.zeros((2, 4, 4)), [0, 5], classes=["a", "b"])
    with pytest.raises(DataError, match="2 images but 3 labels"):
        ImageSet.from_arrays(np.zeros((2, 4, 4)), [0, 1, 1])


def _write_idx(path, arr, code=0x08):
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(">u1").tobytes())


def test_idx_round_trip_and_errors(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (7, 28, 28), dtype=np.uint8)
    y = np.array([0, 1, 2, 0, 1, 2, 2], np.uint8)
    _write_idx(tmp_path / "img-idx3-ubyte.gz", x)
    _write_idx(tmp_path / "lab-idx1-ubyte.gz", y)
    ds = from_idx(tmp_path / "img-idx3-ubyte.gz", tmp_path / "lab-idx1-ubyte.gz", classes=["t", "u", "v"])
    np.testing.assert_array_equal(ds.array[..., 0], x)
    assert ds.labels.tolist() == ["t", "u", "v", "t", "u", "v", "v"]
    (tmp_path / "classes.txt").write_text("shirt\nshoe\nbag\n")
    ds2 = load_source(tmp_path / "img-idx3-ubyte.gz", tmp_path / "lab-idx1-ubyte.gz")
    assert ds2.classes == ("shirt", "shoe", "bag")
    with pytest.raises(DataError, match="swapped"):
        from_idx(tmp_path / "lab-idx1-ubyte.gz", tmp_path / "img-idx3-ubyte.gz")
    (tmp_path / "junk.gz").write_bytes(gzip.compress(b"hello world"))
    with pytest.raises(DataError, match="magic"):
        from_idx(tmp_path / "junk.gz", tmp_path / "lab-idx1-ubyte.gz")


def test_zip_in_place(tmp_path):
    src = tmp_path / "data.zip"
    with zipfile.ZipFile(src, "w") as zf:
        for split_name in ("train", "test"):
            for c, v in (("cat", 40), ("dog", 200)):
                for i in range(2):
                    im = Image.new("RGB", (6, 6), (v, v, v))
                    buf = io.BytesIO()
                    im.save(buf, "PNG")
                    zf.writestr(f"{split_name}/{c}/{i}.png", buf.getvalue())
        zf.writestr("test/dog/broken.png", b"not a png")
    ds = ImageSet.from_zip(src, subdir="train")
    assert ds.kind == "zip" and ds.classes == ("cat", "dog") and len(ds) == 4
    x, y = load_images(ds, image_size=6)
    np.testing.assert_array_equal(x[y == 0], 40)
    np.testing.assert_array_equal(x[y == 1], 200)
    with pytest.warns(UserWarning, match="broken.png"):
        test = load_source(src, subdir="test")
    assert len(test) == 4
    with pytest.raises(DataError, match="subdir"):
        ImageSet.from_zip(src)


# ---------------------------------------------------------------- real data (skipped when absent)
def test_ndsb_plankton_folder(shared_datasets):
    root = shared_datasets / "ndsb_plankton"
    ds = ImageSet.from_folder(root / "images", check=False)
    assert len(ds) == 24265 and len(ds.classes) == 121
    assert list(ds.classes) == (root / "classes.txt").read_text().split()
    sub = ds.subset(np.arange(0, len(ds), 97)).check()
    assert len(sub) == len(range(0, len(ds), 97)) and not sub.bad_files
    x, y = load_images(sub, image_size=64, channels=1, pad_value=255)
    assert x.shape == (len(sub), 64, 64, 1) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 255
    # non-square images are padded with the white background: their corners are 255
    tall_or_wide = np.abs(sub.sizes[:, 0] - sub.sizes[:, 1]) > 0.2 * sub.sizes.max(axis=1)
    assert tall_or_wide.sum() > 5
    assert np.all(x[tall_or_wide][:, [0, -1]][:, :, [0, -1]] == 255)


def test_fashion_mnist_idx(shared_datasets):
    root = shared_datasets / "fashion_mnist"
    ds = load_source(root / "t10k-images-idx3-ubyte.gz", root / "t10k-labels-idx1-ubyte.gz")
    assert len(ds) == 10000 and ds.classes[0] == "T-shirt/top"
    assert set(ds.counts().values()) == {1000}
    x, y = load_images(ds.subset(np.arange(64)), image_size=28, channels=1)
    np.testing.assert_array_equal(x, ds.array[:64].astype(np.float32))


def test_cifar10_zip(shared_datasets):
    root = shared_datasets / "cifar10"
    ds = ImageSet.from_zip(root / "cifar10_jpg.zip", subdir="test", check=False)
    assert len(ds) == 10000 and list(ds.classes) == (root / "classes.txt").read_text().split()
    assert set(ds.counts().values()) == {1000}
    sub = ds.subset(np.arange(0, 10000, 125)).check()
    assert not sub.bad_files and not sub.convert.any()
    x, y = load_images(sub, image_size=32)
    with zipfile.ZipFile(root / "cifar10_jpg.zip") as zf:
        ref = np.stack([np.asarray(Image.open(io.BytesIO(zf.read(k))).convert("RGB")) for k in sub.keys])
    assert x.shape == (80, 32, 32, 3)
    diff = np.abs(x - ref)  # tf and PIL JPEG decoders agree up to chroma-upsampling rounding
    assert diff.max() <= 8 and diff.mean() < 1.0
    assert y.tolist() == [ds.classes.index(k.split("/")[1]) for k in sub.keys]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), h=st.integers(1, 9), w=st.integers(1, 9), n_classes=st.integers(1, 5),
       gz=st.booleans(), data=st.data())
def test_idx_parser_round_trip(tmp_path_factory, n, h, w, n_classes, gz, data):
    tmp = tmp_path_factory.mktemp("idx")
    x = np.array(data.draw(st.lists(st.integers(0, 255), min_size=n * h * w, max_size=n * h * w)),
                 np.uint8).reshape(n, h, w)
    y = np.array(data.draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)), np.uint8)
    suffix = ".gz" if gz else ""
    for name, arr in (("i", x), ("l", y)):
        raw = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.tobytes()
        (tmp / f"{name}{suffix}").write_bytes(gzip.compress(raw) if gz else raw)
    ds = from_idx(tmp / f"i{suffix}", tmp / f"l{suffix}", classes=[f"k{i}" for i in range(n_classes)])
    np.testing.assert_array_equal(ds.array[..., 0], x)
    assert ds.labels.tolist() == [f"k{v}" for v in y]
    # a truncated image file is refused with the announced and found sizes
    raw = (tmp / f"i{suffix}").read_bytes()
    raw = gzip.decompress(raw) if gz else raw
    (tmp / "cut").write_bytes(raw[:-1])
    with pytest.raises(DataError, match="truncated IDX"):
        from_idx(tmp / "cut", tmp / f"l{suffix}", classes=[f"k{i}" for i in range(n_classes)])


def test_ecotaxa_export_gives_the_same_tree_as_load_taxonomy(tmp_path):
    """One EcoTaxa parser (issue 11, defect 2): same nodes, same classes, no spurious `tail/tail<...` node."""
    from taxoclass.taxonomy import load_taxonomy

    rows = ["img_file_name\tobject_annotation_category\tobject_annotation_hierarchy",
            "[t]\t[t]\t[t]",
            "imgs/1.jpg\ttail<Appendicularia\tliving>Appendicularia>tail",
            "imgs/2.jpg\tOikopleuridae\tliving>Appendicularia>Oikopleuridae",
            "imgs/3.jpg\ttail<Chaetognatha\tliving>Chaetognatha>tail",
            "imgs/4.jpg\tSagittoidea\tliving>Chaetognatha>Sagittoidea",
            "imgs/5.jpg\tdetritus\tnot-living>detritus",
            "imgs/6.jpg\ttail<Appendicularia\tliving>Appendicularia>tail"]
    for i in range(1, 7):
        _img(tmp_path / "imgs" / f"{i}.jpg")
    (tmp_path / "export.tsv").write_text("\n".join(rows) + "\n")
    from_file = load_taxonomy(tmp_path / "export.tsv")
    from_images = ImageSet.from_ecotaxa(tmp_path / "export.tsv").taxonomy
    assert from_images.nodes == from_file.nodes and from_images.classes == from_file.classes
    assert from_file.classes == ("tail<Appendicularia", "Oikopleuridae", "tail<Chaetognatha", "Sagittoidea",
                                 "detritus")
    assert from_images.lineage("tail<Appendicularia") == ["living", "Appendicularia", "tail<Appendicularia"]
    assert len(from_images.nodes) == 10  # root, living, 2 groups, 4 classes, not-living, detritus


@pytest.mark.parametrize("text, message", [("shirt\n\nshoe\nbag\n", "line 2: blank line"),
                                           ("shirt\nshoe\nshirt\n", "line 3: class 'shirt' is listed twice")])
def test_every_reader_refuses_a_classes_file_with_blank_lines_or_duplicates(tmp_path, text, message):
    """One classes.txt reader (issue 11, defect 3): a blank line would shift every later label index."""
    from taxoclass.taxonomy import read_classes

    x = np.zeros((3, 4, 4), dtype=np.uint8)
    _write_idx(tmp_path / "img-idx3-ubyte.gz", x)
    _write_idx(tmp_path / "lab-idx1-ubyte.gz", np.array([0, 1, 2], np.uint8))
    for name in ("shirt", "shoe", "bag"):
        _img(tmp_path / "folder" / name / "1.png")
    (tmp_path / "classes.txt").write_text(text)
    with pytest.raises(TaxonomyError, match=message):
        read_classes(tmp_path / "classes.txt")
    with pytest.raises(TaxonomyError, match=message):
        load_source(tmp_path / "img-idx3-ubyte.gz", tmp_path / "lab-idx1-ubyte.gz")  # finds classes.txt
    with pytest.raises(TaxonomyError, match=message):
        from_idx(tmp_path / "img-idx3-ubyte.gz", tmp_path / "lab-idx1-ubyte.gz", classes=tmp_path / "classes.txt")
    with pytest.raises(TaxonomyError, match=message):
        ImageSet.from_folder(tmp_path / "folder", classes=tmp_path / "classes.txt")
