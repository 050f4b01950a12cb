"""BaseClassifier: label checks, fit on arrays and datasets, class weights, save/load and its refusals."""

import json
import zipfile

import numpy as np
import pytest

from taxoclass import Taxonomy
from taxoclass.exceptions import ClassMismatchError, DataError, ModelError
from taxoclass.models.base import BaseClassifier, taxonomy_from_dict, taxonomy_to_dict

keras = pytest.importorskip("keras")


class TinyClassifier(BaseClassifier):
    """A minimal subclass: mean colour -> dense softmax (enough to exercise the base)."""

    def __init__(self, taxonomy, input_shape=(4, 4, 3), epochs=30, batch_size=16, learning_rate=0.05,
                 random_state=0):
        self.taxonomy = taxonomy
        self.input_shape = input_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _build_model(self):
        inp = keras.Input(self.input_shape)
        x = keras.layers.Rescaling(1 / 255.0)(inp)
        x = keras.layers.GlobalAveragePooling2D()(x)
        out = keras.layers.Dense(len(self.classes_), activation="softmax")(x)
        return keras.Model(inp, out)


TAX = Taxonomy.from_paths([["warm", "red"], ["warm", "yellow"], ["cold", "blue"]])
COLOURS = {"red": (230, 20, 20), "yellow": (230, 230, 20), "blue": (20, 20, 230)}


def colour_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(list(COLOURS), n)
    X = np.stack([np.full((4, 4, 3), COLOURS[c]) for c in y]).astype("float32")
    X += rng.normal(0, 10, X.shape).astype("float32")
    return np.clip(X, 0, 255), y


def test_fit_predict_evaluate_arrays():
    X, y = colour_data()
    clf = TinyClassifier(TAX).fit(X, y, verbose=0)
    assert list(clf.classes_) == ["red", "yellow", "blue"]
    assert clf.taxonomy_ is TAX
    assert len(clf.history_["loss"]) == 30 and clf.history_["loss"][-1] < clf.history_["loss"][0]
    p = clf.predict_proba(X)
    assert p.shape == (60, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert (clf.predict(X) == y).mean() == 1.0
    ev = clf.evaluate(X, y)
    assert ev["accuracy"] == 1.0 and ev["n"] == 60 and 0 < ev["loss"] < 1.0
    assert clf.score(X, y) == 1.0
    assert "TinyClassifier: 3 classes" in clf.summary()


def test_the_estimator_trains_on_datasets_without_the_tf_data_autotuner():
    import tensorflow as tf

    X, y = colour_data(20)
    from taxoclass.models.inputs import arrays_dataset, check_dataset

    arrays = arrays_dataset(X, np.zeros(20, dtype=int), batch_size=8, shuffle=True)
    users = check_dataset(tf.data.Dataset.from_tensor_slices((X, np.zeros(20, np.int32))).batch(8), TAX, what="X")
    for ds in (arrays, users):  # the user's own dataset too: the option is set on the last stage, for the whole
        assert ds.options().autotune.enabled is False
        assert sum(len(b[0]) for b in ds) == 20


def test_int_labels_dataset_and_fit_overrides():
    tf = pytest.importorskip("tensorflow")
    X, y = colour_data()
    yi = TAX.encode(y)
    ds = tf.data.Dataset.from_tensor_slices((X, yi)).batch(8)
    clf = TinyClassifier(TAX, epochs=2).fit(ds, epochs=3, verbose=0, validation_data=(X[:10], yi[:10]))
    assert len(clf.history_["loss"]) == 3 and len(clf.history_["val_loss"]) == 3
    assert clf.epochs == 2  # fit-time override does not change the parameter
    assert clf.predict_proba(ds).shape == (60, 3)
    assert set(clf.evaluate(ds)) >= {"loss", "accuracy"}


def test_unknown_labels_listed_in_one_error_before_anything_else():
    X, y = colour_data(10)
    y = y.astype(object)
    y[0], y[1] = "green", "purple"
    with pytest.raises(ClassMismatchError, match="green, purple"):
        TinyClassifier(TAX).fit(X[:5], y, verbose=0)  # labels are checked before the X/y length mismatch
    with pytest.raises(ClassMismatchError, match="outside 0..2"):
        TinyClassifier(TAX).fit(X, np.arange(10), verbose=0)


def test_bad_inputs_raise_clear_errors():
    X, y = colour_data(10)
    with pytest.raises(DataError, match="input_shape"):
        TinyClassifier(TAX).fit(np.zeros((10, 5, 5, 3)), y)
    with pytest.raises(DataError, match="10 images but y has 9"):
        TinyClassifier(TAX).fit(X, y[:9])
    with pytest.raises(ModelError, match="epochs"):
        TinyClassifier(TAX, epochs=0).fit(X, y)
    with pytest.raises(ModelError, match="class_weight"):
        TinyClassifier(TAX).fit(X, y, class_weight="heavy")


def test_class_weight_changes_training():
    X, y = colour_data(60)
    a = TinyClassifier(TAX, epochs=1).fit(X, y, verbose=0)
    b = TinyClassifier(TAX, epochs=1).fit(X, y, verbose=0, class_weight={"red": 5.0, "blue": 0.0})
    c = TinyClassifier(TAX, epochs=1).fit(X, y, verbose=0, class_weight="balanced")
    assert a.history_["loss"][0] != pytest.approx(b.history_["loss"][0], rel=1e-3)
    assert np.isfinite(c.history_["loss"][0])


def test_save_load_roundtrip_and_refusals(tmp_path):
    X, y = colour_data()
    clf = TinyClassifier(TAX, epochs=3).fit(X, y, verbose=0)
    path = clf.save(tmp_path / "m.taxoclass")
    with pytest.raises(Exception, match="already exists"):
        clf.save(path)
    for loader in (BaseClassifier.load, TinyClassifier.load):
        back = loader(path)
        assert type(back) is TinyClassifier and back.taxonomy_ == TAX and back.epochs == 3
        np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    # an incompatible file format version is refused with both versions named
    bad = tmp_path / "old.taxoclass"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(bad, "w") as zout:
        meta = json.loads(zin.read("metadata.json"))
        meta["format_version"], meta["taxoclass_version"] = 99, "9.9.9"
        zout.writestr("metadata.json", json.dumps(meta))
        zout.writestr("model.keras", zin.read("model.keras"))
    with pytest.raises(ModelError, match="9.9.9.*format 99.*reads format 1"):
        BaseClassifier.load(bad)
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(ModelError, match="not a taxoclass model file"):
        BaseClassifier.load(tmp_path / "junk")


def test_taxonomy_json_roundtrip_keeps_order_and_artificial_root():
    t = Taxonomy.from_paths([["a", "x"], ["b", "y"], ["b", "z"]]).with_class_order(["z", "x", "y"])
    back = taxonomy_from_dict(json.loads(json.dumps(taxonomy_to_dict(t))))
    assert back == t and back.classes == ("z", "x", "y") and back.artificial_root


def test_scikit_learn_contract_is_classifier_clone_and_params_round_trip():
    """Issue 11, defect 5: ClassifierMixin first (is_classifier is False on scikit-learn >= 1.6 otherwise)."""
    from sklearn.base import clone, is_classifier

    from taxoclass.models import FlatClassifier, TreeClassifier

    for clf in (TinyClassifier(TAX, epochs=3), TreeClassifier(TAX, input_shape=(8, 8, 3), epochs=2),
                FlatClassifier(backbone="small_cnn", input_shape=(8, 8, 3), weights=None)):
        assert is_classifier(clf), type(clf).__name__
        params = clf.get_params()
        twin = clone(clf)
        assert type(twin) is type(clf) and twin is not clf
        assert twin.get_params().keys() == params.keys()
        assert all(twin.get_params()[k] is v or twin.get_params()[k] == v for k, v in params.items())
        rebuilt = type(clf)(**params)
        assert rebuilt.get_params().keys() == params.keys()
        assert clf.set_params(batch_size=7) is clf and clf.get_params()["batch_size"] == 7
    X, y = colour_data(24)
    fitted = TinyClassifier(TAX, epochs=1).fit(X, y, verbose=0)
    assert not hasattr(clone(fitted), "model_")


def test_fit_keeps_the_callers_random_state_and_random_state_still_reproduces():
    """Issue 11, defect 5: fit used keras.utils.set_random_seed, which reseeded random, numpy and TensorFlow."""
    import random

    import tensorflow as tf

    X, y = colour_data(24)
    weights = []
    # the caller's Python and NumPy seeds differ: random_state decides the initial weights, dropout and
    # augmentation; TensorFlow's global seed (11 both times) still combines with the shuffle's op seed, as TF does
    for caller_seed in (5, 6):
        def seed_everything():
            random.seed(caller_seed)
            np.random.seed(caller_seed)
            tf.random.set_seed(11)

        seed_everything()
        expected = (random.random(), np.random.random(), tf.random.uniform([4]).numpy())
        seed_everything()
        clf = TinyClassifier(TAX, epochs=2, random_state=3).fit(X, y, verbose=0)
        assert random.random() == expected[0]
        assert np.random.random() == expected[1]
        np.testing.assert_array_equal(tf.random.uniform([4]).numpy(), expected[2])
        weights.append([w.copy() for w in clf.model_.get_weights()])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_the_input_spec_is_an_estimator_parameter_saved_with_the_model(tmp_path):
    """Issue 11: image size, channels, pad value, invert and resize belong to the model (not attached by train_job),
    and model files written before they were parameters (spec under "pipeline" only) still load with theirs."""
    from sklearn.base import clone

    from taxoclass.models import TreeClassifier

    X, y = colour_data(24)
    X8 = np.repeat(np.repeat(X, 2, axis=1), 2, axis=2)
    clf = TreeClassifier(TAX, input_shape=(8, 8, 3), pad_value=0, invert=True, resize="stretch", block_filters=(4,),
                         head_units=(4,), epochs=1, random_state=0).fit(X8, y, verbose=0)
    spec = {"image_size": 8, "channels": 3, "pad_value": 0.0, "invert": True, "resize": "stretch"}
    assert clf.input_spec() == spec and clone(clf).input_spec() == spec
    path = clf.save(tmp_path / "m.taxoclass")
    assert BaseClassifier.load(path).input_spec() == spec
    # an older file: the spec only in metadata["pipeline"]
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("metadata.json"))
        keras_bytes = zf.read("model.keras")
    for key in ("pad_value", "invert", "resize"):
        del meta["params"][key]
    old = tmp_path / "old.taxoclass"
    with zipfile.ZipFile(old, "w") as zf:
        zf.writestr("metadata.json", json.dumps(meta))
        zf.writestr("model.keras", keras_bytes)
    assert BaseClassifier.load(old).input_spec() == spec
    with pytest.raises(ModelError, match="pad_value must be a pixel value"):
        TreeClassifier(TAX, input_shape=(8, 8, 3), pad_value=300, epochs=1).fit(X8, y, verbose=0)
    with pytest.raises(ModelError, match="resize must be"):
        TreeClassifier(TAX, input_shape=(8, 8, 3), resize="crop", epochs=1).fit(X8, y, verbose=0)


def test_train_job_uses_the_datasets_own_background(tmp_path):
    """Issue 11: the dataset defaults of taxoclass.datasets are the ones used (digits: black background, pad 0)."""
    from taxoclass.datasets import load_dataset
    from taxoclass.jobs import train_job

    digits = load_dataset("digits")
    assert digits.background == 0
    small = digits.subset(np.arange(100))
    assert small.background == 0
    train_job(small, tmp_path / "run", model="flat", image_size=8, channels=1, epochs=1, head_units=(8,),
              verbose=0)
    model = BaseClassifier.load(tmp_path / "run" / "model.taxoclass")
    assert model.input_spec()["pad_value"] == 0.0  # was 255: train ignored the dataset's background
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["pipeline"] == model.input_spec()
    small.background = None  # an image folder: unknown background, white padding
    train_job(small, tmp_path / "run255", model="flat", image_size=8, channels=1, epochs=1, head_units=(8,),
              verbose=0)
    assert BaseClassifier.load(tmp_path / "run255" / "model.taxoclass").input_spec()["pad_value"] == 255.0
