"""The from-scratch backbone families (resnet_small, vgg_bn) and the one registry everything derives from."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from taxoclass.data.pipeline import get_preprocessing  # noqa: E402
from taxoclass.exceptions import ModelError  # noqa: E402
from taxoclass.models.backbones import (BACKBONES, DEFAULT_BACKBONE, backbone_help, backbone_names,  # noqa: E402
                                        build_backbone, default_trunk_cut, preprocess_module)
from taxoclass.models.flat import FlatClassifier  # noqa: E402
from taxoclass.models.tree import TRUNKS  # noqa: E402


def test_one_registry_feeds_trunks_preprocessing_and_help():
    names = backbone_names()
    assert names == tuple(BACKBONES) and TRUNKS == names
    assert DEFAULT_BACKBONE in names
    assert backbone_names(pretrained=False) == ("resnet_small", "vgg_bn", "small_cnn")
    assert set(backbone_names(pretrained=True)) == {"inception_v3", "mobilenet_v2", "resnet50", "densenet121",
                                                    "efficientnet_b0"}
    assert [line.split(":")[0] for line in backbone_help().splitlines()] == list(names)
    # every pretrained backbone has a keras.applications preprocess_input; the from-scratch ones need none
    for name in names:
        fn = get_preprocessing(name)
        assert (fn is None) == (preprocess_module(name) is None) == (not BACKBONES[name].imagenet)
    x = np.array([[0.0, 255.0]], "float32")
    assert get_preprocessing("inception_v3")(x.copy()).tolist() == [[-1.0, 1.0]]


@pytest.mark.parametrize("name, width, depth, shape, expected", [
    ("resnet_small", None, None, (48, 48, 1), (None, 6, 6, 128)),
    ("resnet_small", 16, 2, (40, 40, 3), (None, 5, 5, 64)),
    ("vgg_bn", None, None, (48, 48, 1), (None, 3, 3, 256)),
    ("vgg_bn", 8, 2, (32, 32, 1), (None, 2, 2, 64)),
])
def test_output_shapes(name, width, depth, shape, expected):
    net = build_backbone(name, shape, width=width, depth=depth)
    assert net.output_shape == expected
    x = np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype("float32")
    assert np.asarray(net(x, training=False)).shape == (2, *expected[1:])


@pytest.mark.parametrize("name", ["resnet_small", "vgg_bn"])
def test_default_size_is_cpu_sized_and_width_depth_scale_it(name):
    n = build_backbone(name, (48, 48, 1)).count_params()
    assert 150_000 <= n <= 400_000
    assert build_backbone(name, (48, 48, 1), width=16).count_params() < n / 3  # ~ width squared
    assert build_backbone(name, (48, 48, 1), depth=2).count_params() > 1.5 * n


def test_residual_blocks_per_stage_follow_depth():
    net = build_backbone("resnet_small", (32, 32, 1), depth=2).get_layer("features")
    adds = [layer.name for layer in net.layers if isinstance(layer, keras.layers.Add)]
    assert adds == [f"stage{s}_block{b}_add" for s in (1, 2, 3) for b in (1, 2)]


@pytest.mark.parametrize("name", backbone_names(pretrained=False))
def test_default_trunk_cut_is_before_the_last_stage(name):
    whole = build_backbone(name, (48, 48, 1))
    cut = build_backbone(name, (48, 48, 1), cut_layer=default_trunk_cut(name))
    assert len(cut.output_shape) == 4
    assert cut.output_shape[1] == 2 * whole.output_shape[1]  # one pooling/stride less
    assert cut.count_params() < whole.count_params()
    assert default_trunk_cut("inception_v3") is None


def test_width_and_depth_are_checked():
    with pytest.raises(ModelError, match="width=16 sizes a from-scratch backbone .*resnet_small.*not inception_v3"):
        build_backbone("inception_v3", (75, 75, 3), width=16)
    with pytest.raises(ModelError, match="depth=2 sizes a from-scratch backbone"):
        build_backbone("small_cnn", (32, 32, 1), depth=2)
    for bad in (0, -1, 2.5, True, "32"):
        with pytest.raises(ModelError, match="width=.* is not valid; expected an integer from 1 to 1024"):
            build_backbone("resnet_small", (32, 32, 1), width=bad)
    with pytest.raises(ModelError, match="depth=17 is not valid; expected an integer from 1 to 16"):
        build_backbone("vgg_bn", (32, 32, 1), depth=17)
    with pytest.raises(ModelError, match="width=8 sizes a from-scratch backbone"):
        FlatClassifier(backbone="mobilenet_v2", width=8).fit(np.zeros((2, 32, 32, 3)), ["a", "b"])


def _bars(n, seed):
    """Three classes told apart by where a bright bar lies (top, middle, bottom), on noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(60, 25, (n, 16, 16, 1))
    for i, c in enumerate(y):
        X[i, 2 + 5 * c: 5 + 5 * c, 2:14] += 150
    return np.clip(X, 0, 255).astype("float32"), np.array(["top", "middle", "bottom"])[y]


@pytest.mark.parametrize("name", ["resnet_small", "vgg_bn"])
def test_trains_from_scratch_on_a_separable_problem(name):
    X, y = _bars(240, seed=0)
    Xt, yt = _bars(150, seed=1)
    clf = FlatClassifier(backbone=name, width=8, input_shape=(16, 16, 1), weights=None, head_units=(),
                         dropout=0.0, epochs=(0, 6), fine_tune_learning_rate=3e-3, final_epochs=0,
                         batch_size=32, random_state=0).fit(X, y, verbose=0)
    assert (clf.predict(Xt) == yt).mean() >= 0.8  # chance: 1/3
