"""tf.data pipeline: aspect-preserving padding with the fill colour, inversion, channels, labels in a given class
order, caching/shuffling, augmentation that fills with the background, balanced sampling, preprocessing, TTA."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from taxoclass.data import (ImageSet, fit_to_square, load_images, make_dataset, random_affine, tta_predict,
                            tta_views)
from taxoclass.exceptions import ClassMismatchError, DataError


def _wide_black(tmp_path):
    """One 40x20 (w x h) black PNG per class folder."""
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.new("L", (40, 20), 0).save(tmp_path / c / "x.png")
    return ImageSet.from_folder(tmp_path)


def test_padding_keeps_aspect_and_fill(tmp_path):
    ds = _wide_black(tmp_path)
    x, y = load_images(ds, image_size=20, channels=1, pad_value=255)
    assert x.shape == (2, 20, 20, 1)
    img = x[0, :, :, 0]
    # 40x20 -> 20x10 content centred: rows 5..14 black, 5 rows of white (the fill) above and below
    np.testing.assert_array_equal(img[5:15], 0)
    np.testing.assert_array_equal(img[:5], 255)
    np.testing.assert_array_equal(img[15:], 255)
    # invert: background 0, object 255
    xi, _ = load_images(ds, image_size=20, channels=1, pad_value=255, invert=True)
    np.testing.assert_array_equal(xi[0, 5:15, :, 0], 255)
    np.testing.assert_array_equal(xi[0, :5, :, 0], 0)
    # gray -> RGB, other fill value
    x3, _ = load_images(ds, image_size=20, channels=3, pad_value=128)
    assert x3.shape[-1] == 3
    np.testing.assert_array_equal(x3[0, :5], 128)
    # stretch ignores the aspect ratio: no fill at all
    xs, _ = load_images(ds, image_size=20, channels=1, resize="stretch")
    np.testing.assert_array_equal(xs, 0)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 60), w=st.integers(1, 60), size=st.integers(4, 32), fill=st.integers(0, 255))
def test_fit_to_square_property(h, w, size, fill):
    obj = 255 - fill if fill != 128 else 0
    out = fit_to_square(np.full((h, w, 1), obj, np.uint8), size, pad_value=fill).numpy()[:, :, 0]
    assert out.shape == (size, size)
    rows = np.flatnonzero((out != fill).any(axis=1))
    cols = np.flatnonzero((out != fill).any(axis=0))
    nh, nw = len(rows), len(cols)
    assert max(nh, nw) == size  # the longer side fills the output
    assert abs(nh / nw - h / w) <= (1 / min(nh, nw) + 1 / size) * max(1.0, h / w) + 1e-6 or min(nh, nw) <= 1
    # content centred
    assert abs(rows[0] - (size - 1 - rows[-1])) <= 1 and abs(cols[0] - (size - 1 - cols[-1])) <= 1


def test_labels_follow_class_order_and_cache_shuffle(tmp_path):
    x = np.arange(30, dtype=np.uint8)[:, None, None].repeat(4, 1).repeat(4, 2)
    labels = ["b", "a", "c"] * 10
    ds = ImageSet.from_arrays(x, labels)
    order = ["c", "b", "a"]
    pipe = make_dataset(ds, class_order=order, image_size=4, channels=1, batch_size=7, shuffle=True, seed=5)
    epochs = []
    for _ in range(2):
        xs, ys = zip(*[(a.numpy(), b.numpy()) for a, b in pipe])
        xs, ys = np.concatenate(xs), np.concatenate(ys)
        # every image keeps its label (pixel value i -> labels[i])
        assert [order[k] for k in ys] == [labels[int(v)] for v in xs[:, 0, 0, 0]]
        assert sorted(xs[:, 0, 0, 0].tolist()) == list(range(30))
        epochs.append(xs[:, 0, 0, 0].tolist())
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    with pytest.raises(ClassMismatchError, match="c"):
        make_dataset(ds, class_order=["a", "b"])
    with pytest.raises(DataError, match="channels"):
        make_dataset(ds, channels=2)
    file_cache = tmp_path / "cache"
    xa, _ = load_images(ds, image_size=4, channels=1, cache=str(file_cache))
    xb, _ = load_images(ds, image_size=4, channels=1, cache=str(file_cache))
    np.testing.assert_array_equal(xa, xb)


def test_pipelines_run_without_the_tf_data_autotuner():
    # with it, destroying an iterator (Keras: every epoch) can wait for the autotuner's sleep: 12-17 s an epoch
    # on the NDSB tree (benchmarks/epoch_restart.py)
    x = np.arange(12, dtype=np.uint8)[:, None, None].repeat(4, 1).repeat(4, 2)
    data = ImageSet.from_arrays(x, ["a", "b"] * 6)
    for augment in (None, "plankton"):
        pipe = make_dataset(data, image_size=4, channels=1, batch_size=5, shuffle=True, seed=0, augment=augment)
        assert pipe.options().autotune.enabled is False
        assert sum(len(b) for b, _ in pipe) == 12  # and it still yields every image, in parallel batches
    assert load_images(data, image_size=4, channels=1)[0].shape == (12, 4, 4, 1)


def test_upright_augmentation_never_turns_an_image_upside_down():
    # top half white, bottom half black: "upright" may mirror left-right, shift and zoom, never flip or rotate
    x = np.zeros((64, 24, 24, 1), np.uint8)
    x[:, :12] = 255
    x[:, :, :4] = 128  # a grey left edge, to see the left-right mirror
    ds = ImageSet.from_arrays(x, ["a"] * 64)

    def run(mode):
        return np.concatenate([b for b, _ in make_dataset(ds, image_size=24, channels=1, batch_size=16, augment=mode,
                                                          pad_value=255, seed=5).as_numpy_iterator()])[..., 0]
    up = run("upright")
    assert (up[:, :5, 9:15] > 200).all() and (up[:, 16:19, 9:15] < 50).all()  # the top stays on top
    mirror = run({"rotation": 0, "flip": "horizontal", "zoom": 1, "shift": 0})  # the same flip alone: exact
    mirrored = mirror[:, 16:20, -4:].mean(axis=(1, 2)) == 128  # the grey edge now on the right
    assert 0.25 < mirrored.mean() < 0.75 and (mirror[:, :12, 6:18] == 255).all()
    plankton = run("plankton")  # any rotation, both flips: many images have their white half at the bottom
    assert (plankton[:, 17:21, 6:18].mean(axis=(1, 2)) > 128).mean() > 0.2
    with pytest.raises(DataError, match="upright"):
        make_dataset(ds, image_size=24, augment="sideways")


def test_rotation_fills_with_background():
    # black images on a white (255) background convention: rotated corners must be filled with 255
    x = np.zeros((32, 24, 24, 1), np.uint8)
    ds = ImageSet.from_arrays(x, ["a"] * 32)
    aug = {"rotation": 360, "flip": False, "shift": 0, "zoom": (1, 1), "exact": 0}
    out = np.concatenate([b for b, _ in make_dataset(ds, image_size=24, channels=1, batch_size=16, augment=aug,
                                                     pad_value=255, seed=3).as_numpy_iterator()])
    corners = out[:, [0, 0, -1, -1], [0, -1, 0, -1], 0]
    assert (corners == 255).mean() > 0.8  # all but near-multiples of 90 degrees
    assert out.min() >= 0 and out.max() <= 255
    centre = out[:, 10:14, 10:14, 0]
    np.testing.assert_array_equal(centre, 0)  # the object itself stays
    # inverted images: background 0, so the fill is 0 -- make_dataset(augment=True) picks it itself
    white = ImageSet.from_arrays(np.full((16, 24, 24, 1), 0, np.uint8), ["a"] * 16)
    outi = next(make_dataset(white, image_size=24, channels=1, batch_size=16, augment=True, invert=True,
                             pad_value=255, seed=1).as_numpy_iterator())[0]
    cornersi = outi[:, [0, 0, -1, -1], [0, -1, 0, -1], 0]
    # filled with the (inverted) background 0, not 255 like the object, wherever a corner was uncovered (the
    # plankton preset gives half of the images an exact quarter turn instead, which uncovers corners only when it
    # also moves the image by a pixel)
    moved = (cornersi < 64).any(axis=1)
    assert moved.mean() > 0.5 and (cornersi[moved] < 64).mean() > 0.7
    assert outi[:, 12, 12, 0].min() > 200  # the inverted object


def test_augmentation_differs_between_batches():
    x = np.zeros((8, 16, 16, 1), np.uint8)
    x[:, 2:6, 2:10] = 255
    # the same 8 images in 6 consecutive batches: every batch must get its own random rotations (parallel map
    # calls once read the same seed state and repeated the augmentation)
    ds = ImageSet.from_arrays(np.concatenate([x] * 6), ["a"] * 48)
    for aug in (True, keras.layers.RandomRotation(0.5, fill_mode="constant", seed=0)):
        batches = [b for b, _ in make_dataset(ds, image_size=16, channels=1, batch_size=8, augment=aug,
                                              pad_value=0, seed=0).as_numpy_iterator()]
        assert len(batches) == 6
        for i in range(6):
            for j in range(i + 1, 6):
                assert not np.array_equal(batches[i], batches[j]), (aug, i, j)
    # a new epoch draws new transforms; the same seed repeats the whole sequence
    train = make_dataset(ds, image_size=16, channels=1, batch_size=8, augment=True, pad_value=0, seed=0)
    e1, e2 = (np.concatenate([b for b, _ in train.as_numpy_iterator()]) for _ in range(2))
    assert not np.array_equal(e1, e2)
    again = make_dataset(ds, image_size=16, channels=1, batch_size=8, augment=True, pad_value=0, seed=0)
    np.testing.assert_array_equal(e1, np.concatenate([b for b, _ in again.as_numpy_iterator()]))


def test_random_affine_geometry():
    x = np.random.default_rng(0).uniform(0, 255, (64, 9, 9, 1)).astype(np.float32)
    # no rotation, zoom or shift: the identity, exactly
    same = random_affine(x, [1, 2], rotation=0, flip=False, zoom=(1, 1), shift=0).numpy()
    np.testing.assert_allclose(same, x, atol=1e-3)
    # flips only: every image is one of its 4 mirror images, and all 4 occur
    flipped = random_affine(x, [1, 2], rotation=0, flip=True, zoom=(1, 1), shift=0).numpy()
    views = [x, x[:, :, ::-1], x[:, ::-1], x[:, ::-1, ::-1]]
    which = [next(k for k, v in enumerate(views) if np.allclose(flipped[i], v[i], atol=1e-3)) for i in range(64)]
    assert set(which) == {0, 1, 2, 3}
    # zoom 2x on a centred square of side 3 doubles its side (area x4, within interpolation)
    sq = np.zeros((4, 21, 21, 1), np.float32)
    sq[:, 9:12, 9:12] = 255
    big = random_affine(sq, [0, 0], rotation=0, flip=False, zoom=(2, 2), shift=0).numpy()
    assert 4 * 9 * 0.7 <= (big > 127).sum(axis=(1, 2, 3)).mean() <= 4 * 9 * 1.5
    with pytest.raises(DataError, match="zoom"):
        make_dataset(ImageSet.from_arrays(np.zeros((2, 4, 4), np.uint8), ["a", "b"]), augment={"zoom": 0.5})


def test_exact_share_of_the_augmentation_is_not_resampled():
    x = np.random.default_rng(0).uniform(0, 255, (200, 9, 9, 1)).astype(np.float32)
    square = [np.rot90(v, k, axes=(1, 2)) for k in range(4) for v in (x, x[:, :, ::-1])]  # the 8 exact views

    def exact_copies(out):
        return np.array([any(np.allclose(out[i], v[i], atol=1e-3) for v in square) for i in range(len(x))])

    # shift 0.05 of 9 px: less than half a pixel, so an exact transform does not move the image
    every = random_affine(x, [1, 2], exact=1.0, shift=0.05).numpy()
    assert exact_copies(every).all()
    half = exact_copies(random_affine(x, [1, 2], exact=0.5, shift=0.05).numpy())
    assert 0.35 < half.mean() < 0.65
    assert not exact_copies(random_affine(x, [1, 2], exact=0.0, shift=0.05).numpy()).any()
    # no rotation allowed (upright images): an exact transform never turns the image
    up = random_affine(x, [3, 4], rotation=0, flip="horizontal", exact=1.0, shift=0.05).numpy()
    assert all(np.allclose(up[i], x[i]) or np.allclose(up[i], x[i, :, ::-1]) for i in range(len(x)))
    from taxoclass.data.augment import AUGMENT_PRESETS, check_augment_options

    assert AUGMENT_PRESETS["plankton"]["exact"] == 0.5 and AUGMENT_PRESETS["upright"]["exact"] == 0.5
    with pytest.raises(DataError, match="exact"):
        check_augment_options(exact=1.5)


def test_balanced_sampler():
    x = np.zeros((200, 4, 4), np.uint8)
    labels = ["common"] * 180 + ["rare"] * 20
    ds = ImageSet.from_arrays(x, labels)
    y = np.concatenate([t for _, t in make_dataset(ds, image_size=4, channels=1, batch_size=50,
                                                   sampling="balanced", seed=0).as_numpy_iterator()])
    assert len(y) == 200
    assert 70 <= (y == 1).sum() <= 130  # about half, instead of 10 %
    y_nat = np.concatenate([t for _, t in make_dataset(ds, image_size=4, channels=1, batch_size=50)
                            .as_numpy_iterator()])
    assert (y_nat == 1).sum() == 20


def test_preprocessing_names_and_callables():
    ds = ImageSet.from_arrays(np.array([[[0, 255]]], np.uint8).repeat(2, 1), ["a"])
    x, _ = load_images(ds, image_size=(2, 2), channels=3, preprocessing="inception_v3")
    assert x.min() == pytest.approx(-1.0) and x.max() == pytest.approx(1.0)
    x, _ = load_images(ds, image_size=(2, 2), channels=1, preprocessing=lambda t: t / 255.0)
    assert x.max() == pytest.approx(1.0)
    with pytest.raises(DataError, match="inception_v3"):
        make_dataset(ds, preprocessing="alexnet")


def test_tta_views_and_invariance():
    rng = np.random.default_rng(0)
    imgs = rng.random((5, 6, 6, 1))
    w = rng.normal(size=(36, 3))

    def proba(x):
        z = x.reshape(len(x), -1) @ w
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    p = tta_predict(proba, imgs, n_views=8)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    manual = np.mean([proba(v) for v in tta_views(imgs, 8)], axis=0)
    np.testing.assert_allclose(p, manual)
    # averaging over all 8 symmetries makes the prediction invariant to rotating or flipping the input
    np.testing.assert_allclose(tta_predict(proba, np.rot90(imgs, 1, axes=(1, 2)), 8), p, atol=1e-12)
    np.testing.assert_allclose(tta_predict(proba, imgs[:, :, ::-1], 8), p, atol=1e-12)
    assert not np.allclose(proba(imgs), p)
    views = tta_views(imgs, 8)
    assert len({v.tobytes() for v in views}) == 8
    with pytest.raises(DataError, match="square"):
        tta_views(rng.random((1, 4, 6, 1)), 8)
    assert len(tta_views(rng.random((1, 4, 6, 1)), 4)) == 4


def test_plankton_tta_views_9_to_16_are_the_first_8_turned_by_45_degrees():
    yy, xx = np.mgrid[:15, :15]
    disc = ((yy - 7) ** 2 + (xx - 7) ** 2 <= 16).astype(float)[None, :, :, None]
    bar = np.zeros((1, 15, 15, 1))
    bar[0, 7, 2:13, 0] = 1.0
    views = tta_views(np.concatenate([disc, bar]), 16, fill_value=0.0)
    assert len(views) == 16
    assert len({v.tobytes() for v in tta_views(np.random.default_rng(0).random((1, 9, 9, 1)), 16)}) == 16
    # a disc is the same turned: every view of it is (nearly) the disc; a bar turned 45 degrees lies on a diagonal
    r2 = ((yy - 7) ** 2 + (xx - 7) ** 2)[:, :, None]
    for v in views:  # the same inside and far outside; only the rim's pixels move, and the area stays
        assert (v[0][r2 <= 6] > 0.99).all() and (v[0][r2 >= 36] < 0.01).all() and abs(v[0].sum() - disc.sum()) < 1.0
    turned = views[8][1, :, :, 0]
    assert turned[7, 7] == pytest.approx(1.0) and turned[4, 10] > 0.9 and turned[10, 4] > 0.9  # rising diagonal
    assert turned[7, 2] < 0.1 and turned[4, 4] < 0.1
    for k in range(8):  # view 9 + k: view 1 + k turned the same way (the turn commutes with nothing else here)
        np.testing.assert_allclose(views[8 + k], tta_views(views[k], 9, fill_value=0.0)[8], atol=1e-5)
    # the corners a turned square uncovers get the background
    full = np.full((1, 8, 8, 1), 100.0)
    corner = tta_views(full, 9, fill_value=7.0)[8]
    assert corner[0, 0, 0, 0] == pytest.approx(7.0) and corner[0, 4, 4, 0] == pytest.approx(100.0)
    with pytest.raises(DataError, match="1 to 16"):
        tta_views(disc, 17)


def test_upright_tta_views_mirror_and_shift_never_turn():
    rng = np.random.default_rng(1)
    imgs = rng.random((3, 32, 20, 3)) * 255  # not square: upright views never need it
    views = tta_views(imgs, 8, mode="upright", fill_value=-1.0)
    assert len(views) == 8 and len({v.tobytes() for v in views}) == 8
    assert all(v.shape == imgs.shape for v in views)  # no 90-degree turn (that would swap height and width)
    s = round(20 / 16)  # 1/16 of the shorter side
    np.testing.assert_array_equal(views[0], imgs)
    np.testing.assert_array_equal(views[1], imgs[:, :, ::-1])
    # down-right: the content moves s pixels down and right, the uncovered border is the fill value
    np.testing.assert_array_equal(views[2][:, s:, s:], imgs[:, :-s, :-s])
    assert (views[2][:, :s] == -1).all() and (views[2][:, :, :s] == -1).all()
    np.testing.assert_array_equal(views[3][:, s:, s:], imgs[:, :-s, ::-1][:, :, :-s])  # mirrored, then moved
    np.testing.assert_array_equal(views[4][:, :-s, :-s], imgs[:, s:, s:])  # up-left
    np.testing.assert_array_equal(views[6][:, s:, :-s], imgs[:, :-s, s:])  # down-left
    assert round(32 / 16) == 2 and (tta_views(rng.random((1, 32, 32, 1)), 3, mode="upright")[2][:, :2] == 0).all()

    def proba(x):  # a "model" that sees only the mean brightness of the left half
        m = x[:, :, : x.shape[2] // 2].mean(axis=(1, 2, 3)) / 255
        return np.stack([m, 1 - m], axis=1)

    p = tta_predict(proba, imgs, 4, mode="upright", fill_value=0.0)
    np.testing.assert_allclose(p, np.mean([proba(v) for v in tta_views(imgs, 4, mode="upright")], axis=0))
    for bad in ("rotations", None, "auto"):
        with pytest.raises(DataError, match="plankton .* upright"):
            tta_views(imgs, 2, mode=bad)
    with pytest.raises(DataError, match="1 to 8"):
        tta_views(imgs, 9, mode="upright")


def test_upright_augmentation_leaves_half_of_the_images_unresampled():
    # black-and-white images on a white background: an exact transform (mirror, whole-pixel shift, fill 255) keeps
    # every pixel black or white, any resampling (zoom 0.9-1.1, fractional shift) makes greys
    rng = np.random.default_rng(0)
    x = np.where(rng.random((200, 16, 16, 1)) < 0.5, 0, 255).astype(np.uint8)
    ds = ImageSet.from_arrays(x, ["a"] * 200)

    def only_black_and_white(augment):
        out = np.concatenate([b for b, _ in make_dataset(ds, image_size=16, channels=1, batch_size=50, augment=augment,
                                                         pad_value=255, seed=7).as_numpy_iterator()])
        return np.isin(out.reshape(len(out), -1), (0.0, 255.0)).all(axis=1)

    assert 0.35 < only_black_and_white("upright").mean() < 0.65
    earlier = {"rotation": 0, "flip": "horizontal", "zoom": (0.9, 1.1), "shift": 0.125, "exact": 0}
    assert not only_black_and_white(earlier).any()
