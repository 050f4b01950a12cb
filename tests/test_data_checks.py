"""Bad files: every kind is found when the dataset is built; unreadable ones skipped (or raised), odd ones
converted; ``taxoclass data inspect`` lists exactly the broken files."""

import io
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from taxoclass.cli.main import main
from taxoclass.data import BadFilesWarning, ImageSet, check_file, load_images, pil_decode
from taxoclass.exceptions import DataError

BAD = {"truncated.jpg", "empty.jpg", "text.jpg", "bomb.png"}
CONVERT = {"sixteen.png", "rgba.png", "cmyk.jpg", "palette.png"}
BOMB_LIMIT = 1_000_000


def make_collection(root):
    """Two classes; class 'odd' holds every bad-file kind; returns root."""
    good, odd = root / "good", root / "odd"
    good.mkdir(parents=True)
    odd.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(good / f"g{i}.jpg", quality=90)
    Image.fromarray(np.full((16, 16), 77, np.uint8)).save(good / "gray.png")
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG", quality=95)
    (odd / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (odd / "empty.jpg").write_bytes(b"")
    (odd / "text.jpg").write_text("species,count\ncopepod,12\n")
    Image.new("L", (1200, 1000), 255).save(odd / "bomb.png")  # 1.2 Mpx > BOMB_LIMIT, tiny on disk
    Image.fromarray(np.full((12, 12), 51400, np.uint16)).save(odd / "sixteen.png")  # 51400 / 257 = 200
    rgba = np.zeros((12, 12, 4), np.uint8)
    rgba[:, 6:] = (255, 0, 0, 255)  # left half fully transparent (RGB 0), right half opaque red
    Image.fromarray(rgba, "RGBA").save(odd / "rgba.png")
    Image.new("CMYK", (12, 12), (0, 255, 255, 0)).save(odd / "cmyk.jpg", quality=100)  # red
    pal = Image.new("P", (12, 12), 1)
    pal.putpalette([0, 0, 0, 0, 128, 255] + [0] * 762)
    pal.save(odd / "palette.png")
    return root


@pytest.fixture
def collection(tmp_path):
    return make_collection(tmp_path / "imgs")


def test_each_bad_kind_is_classified(collection):
    odd = collection / "odd"
    status = {p.name: check_file(p.name, path=p, max_pixels=BOMB_LIMIT) for p in odd.iterdir()}
    assert {k for k, v in status.items() if v.status == "bad"} == BAD
    assert {k for k, v in status.items() if v.status == "convert"} == CONVERT
    assert "0 bytes" in status["empty.jpg"].reason
    assert "text" in status["text.jpg"].reason
    assert "truncated" in status["truncated.jpg"].reason
    assert "pixel limit" in status["bomb.png"].reason and "1200x1000" in status["bomb.png"].reason
    assert status["sixteen.png"].mode == "I;16"
    # the pixel limit is ours, not PIL's global: a generous limit lets the big image through
    assert check_file("bomb.png", path=odd / "bomb.png", max_pixels=2_000_000).status == "ok"
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # untouched


def test_folder_skips_unreadable_with_one_warning(collection):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ds = ImageSet.from_folder(collection, max_pixels=BOMB_LIMIT)
    bad_warnings = [w for w in rec if issubclass(w.category, BadFilesWarning)]
    assert len(bad_warnings) == 1
    msg = str(bad_warnings[0].message)
    assert "4 unreadable image(s) of 12" in msg
    for name in BAD:
        assert name in msg
    assert len(ds) == 8
    assert {b.key.split("/")[-1] for b in ds.bad_files} == BAD
    assert {k.split("/")[-1] for k, c in zip(ds.keys, ds.convert) if c} == CONVERT


def test_on_error_raise_lists_them_all(collection):
    with pytest.raises(DataError) as err:
        ImageSet.from_folder(collection, on_error="raise", max_pixels=BOMB_LIMIT)
    for name in BAD:
        assert name in str(err.value)
    with pytest.raises(DataError, match="on_error"):
        ImageSet.from_folder(collection, on_error="skip")


def test_converted_files_decode_correctly_in_the_pipeline(collection):
    ds = ImageSet.from_folder(collection, on_error="ignore", max_pixels=BOMB_LIMIT)
    odd = ds.subset([i for i, k in enumerate(ds.keys) if k.startswith("odd/")])
    x, _ = load_images(odd, image_size=12, channels=3, pad_value=255)
    got = {k.split("/")[-1]: img for k, img in zip(odd.keys, x)}
    np.testing.assert_allclose(got["sixteen.png"], 200, atol=0.5)  # scaled, not clipped to 255
    np.testing.assert_array_equal(got["rgba.png"][:, :5], 255)  # transparent -> background colour
    np.testing.assert_array_equal(got["rgba.png"][:, 7:], np.broadcast_to([255, 0, 0], (12, 5, 3)))
    assert np.all(np.abs(got["cmyk.jpg"] - [255, 0, 0]) <= 3)
    np.testing.assert_array_equal(got["palette.png"], np.broadcast_to([0, 128, 255], (12, 12, 3)))
    # gray output of a converted file
    x1, _ = load_images(odd, image_size=12, channels=1)
    assert x1.shape[-1] == 1
    np.testing.assert_allclose(x1[list(odd.keys).index("odd/sixteen.png")], 200, atol=0.5)


def test_pil_decode_modes():
    buf = io.BytesIO()
    Image.fromarray(np.array([[0, 65535]], np.uint16)).save(buf, "PNG")
    assert pil_decode(buf.getvalue(), 1)[..., 0].tolist() == [[0, 255]]
    buf = io.BytesIO()
    Image.new("LA", (2, 1), (10, 0)).save(buf, "PNG")
    assert pil_decode(buf.getvalue(), 1, background=0)[..., 0].tolist() == [[0, 0]]


def test_inspect_lists_exactly_the_broken_files(collection, capsys):
    rc = main(["data", "inspect", str(collection), "--format", "json", "--max-pixels", str(BOMB_LIMIT)])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["images"] == 8 and out["classes"] == 2
    assert out["per_class"] == {"odd": 4, "good": 4} or out["per_class"] == {"good": 4, "odd": 4}
    assert sorted(b["file"].split("/")[-1] for b in out["unreadable"]) == sorted(BAD)
    assert out["converted"] == 4
    rc = main(["data", "inspect", str(collection), "--max-pixels", str(BOMB_LIMIT)])
    text = capsys.readouterr().out
    assert rc == 0 and "unreadable: 4" in text
    listed = [ln.strip().split(":")[0].split("/")[-1] for ln in text.splitlines() if ln.startswith("  ") and
              "/odd/" in ln]
    assert sorted(listed) == sorted(BAD)


def test_inspect_unreadable_source_exits_2(tmp_path, capsys):
    assert main(["data", "inspect", str(tmp_path / "nothing")]) == 2
    assert "not found" in capsys.readouterr().err
    only_bad = tmp_path / "bad" / "cls"
    only_bad.mkdir(parents=True)
    (only_bad / "a.jpg").write_bytes(b"")
    assert main(["data", "inspect", str(tmp_path / "bad")]) == 2
    assert "no readable image" in capsys.readouterr().err


def test_inspect_does_not_import_tensorflow(collection):
    code = ("import sys; from taxoclass.cli.main import main; "
            f"rc = main(['data', 'inspect', {str(collection)!r}]); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'tensorflow imported'; "
            "sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
