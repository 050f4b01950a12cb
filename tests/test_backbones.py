"""Backbone registry: sizes, preprocessing, local weights files, cut layers, safe saving."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

keras = pytest.importorskip("keras")

from taxoclass.exceptions import ModelError  # noqa: E402
from taxoclass.models.backbones import BACKBONES, ImagePreprocess, backbone_spec, build_backbone  # noqa: E402

APPLICATIONS = [n for n, s in BACKBONES.items() if s.application is not None]


def test_registry_lists_the_documented_backbones():
    assert set(BACKBONES) == {"inception_v3", "mobilenet_v2", "resnet50", "densenet121", "efficientnet_b0",
                              "resnet_small", "vgg_bn", "small_cnn"}
    assert backbone_spec("inception_v3").min_size == 75
    with pytest.raises(ModelError, match="unknown backbone 'vgg99'.*inception_v3"):
        backbone_spec("vgg99")


@pytest.mark.parametrize("name", list(BACKBONES))
def test_each_backbone_refuses_an_input_below_its_minimum(name):
    m = BACKBONES[name].min_size
    with pytest.raises(ModelError, match=rf"at least {m}x{m} pixels"):
        build_backbone(name, (m - 1, m + 10, 3))


@pytest.mark.parametrize("name", APPLICATIONS)
def test_each_application_builds_at_its_minimum_on_grayscale(name):
    m = BACKBONES[name].min_size
    net = build_backbone(name, (m, m, 1))
    assert len(net.output_shape) == 4
    x = np.random.default_rng(0).uniform(0, 255, (2, m, m, 1)).astype("float32")
    out = net(x, training=False)
    assert out.shape[0] == 2 and np.all(np.isfinite(out))


def test_bad_shapes_and_channels_are_refused():
    with pytest.raises(ModelError, match=r"\(height, width, channels\)"):
        build_backbone("small_cnn", (64, 64))
    with pytest.raises(ModelError, match="1 \\(grayscale\\) or 3 \\(RGB\\) channels, got 4"):
        build_backbone("mobilenet_v2", (64, 64, 4))
    assert build_backbone("small_cnn", (16, 16, 4)).output_shape == (None, 2, 2, 128)


@settings(max_examples=20, deadline=None)
@given(arrays(np.float32, (2, 3, 4, 3), elements=st.floats(0, 255, width=32)))
def test_preprocess_layer_matches_keras_applications(images):
    apps = keras.applications
    for mode, reference in (("tf", apps.inception_v3.preprocess_input), ("caffe", apps.resnet50.preprocess_input),
                            ("torch", apps.densenet.preprocess_input)):
        ours = np.asarray(ImagePreprocess(mode)(images))
        np.testing.assert_allclose(ours, reference(images.copy()), rtol=1e-5, atol=1e-4)


def test_grayscale_is_repeated_to_rgb_before_scaling():
    gray = np.array([[[[0.0], [255.0]]]], "float32")
    out = np.asarray(ImagePreprocess("tf", gray_to_rgb=True)(gray))
    assert out.tolist() == [[[[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]]]


@pytest.mark.parametrize("saved", ["features", "whole backbone"])
def test_local_weights_file_written_here_loads(tmp_path, saved):
    x = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    source = build_backbone("mobilenet_v2", (32, 32, 3))
    path = tmp_path / "mobilenet_notop.weights.h5"
    (source.get_layer("features") if saved == "features" else source).save_weights(path)
    expected = np.asarray(source(x, training=False))

    fresh = build_backbone("mobilenet_v2", (32, 32, 3))
    loaded = build_backbone("mobilenet_v2", (32, 32, 3), weights=path)
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), expected, rtol=1e-5, atol=1e-6)
    for a, b in zip(loaded.weights, source.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # a fresh random backbone really differs, so the comparisons above can fail
    assert not np.array_equal(np.asarray(fresh.weights[0]), np.asarray(source.weights[0]))
    if saved == "features":  # the same file serves a backbone cut at an inner layer (loaded before cutting)
        cut = build_backbone("mobilenet_v2", (32, 32, 3), weights=path, cut_layer="block_3_expand_relu")
        assert cut.output_shape == (None, 8, 8, 144)
        first_conv = cut.get_layer("features").layers[1]
        np.testing.assert_array_equal(np.asarray(first_conv.kernel),
                                      np.asarray(source.get_layer("features").layers[1].kernel))


def test_a_partly_matching_weights_file_is_refused(tmp_path):
    # the 1-channel small_cnn file has a first kernel of the wrong shape for a 3-channel small_cnn
    path = tmp_path / "gray.weights.h5"
    build_backbone("small_cnn", (32, 32, 1)).get_layer("features").save_weights(path)
    with pytest.raises(ModelError, match="cannot load weights file"):
        build_backbone("small_cnn", (32, 32, 3), weights=path)


def test_weights_argument_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        build_backbone("small_cnn", (32, 32, 1), weights=tmp_path / "missing.weights.h5")
    with pytest.raises(ModelError, match="small_cnn has no ImageNet weights"):
        build_backbone("small_cnn", (32, 32, 1), weights="imagenet")
    other = tmp_path / "mobilenet.weights.h5"
    build_backbone("mobilenet_v2", (32, 32, 3)).get_layer("features").save_weights(other)
    with pytest.raises(ModelError, match="cannot load weights file .*mobilenet.weights.h5"):
        build_backbone("small_cnn", (32, 32, 3), weights=other)
    with pytest.raises(ModelError, match="weights must be"):
        build_backbone("small_cnn", (32, 32, 3), weights=3)


def test_cut_layer_by_name_and_index_and_errors():
    net = build_backbone("inception_v3", (75, 75, 3), cut_layer="mixed2")
    assert net.output_shape == (None, 7, 7, 288)
    full = build_backbone("small_cnn", (32, 32, 3))
    by_index = build_backbone("small_cnn", (32, 32, 3), cut_layer=4)  # block1_pool
    assert by_index.output_shape == (None, 16, 16, 32)
    assert full.output_shape == (None, 4, 4, 128)
    with pytest.raises(ModelError, match="cut_layer 'nope' is not a layer of backbone small_cnn"):
        build_backbone("small_cnn", (32, 32, 3), cut_layer="nope")
    with pytest.raises(ModelError, match="not a layer"):
        build_backbone("small_cnn", (32, 32, 3), cut_layer=99)


def test_saved_backbone_reloads_in_safe_mode_and_predicts_identically(tmp_path):
    net = build_backbone("small_cnn", (24, 24, 1))
    x = np.random.default_rng(2).uniform(0, 255, (4, 24, 24, 1)).astype("float32")
    path = tmp_path / "net.keras"
    net.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(np.asarray(again(x, training=False)), np.asarray(net(x, training=False)))
    assert again.get_layer("preprocess").get_config()["mode"] == "unit"


def test_without_preprocessing_the_backbone_takes_prepared_inputs():
    raw = build_backbone("mobilenet_v2", (32, 32, 3))
    bare = build_backbone("mobilenet_v2", (32, 32, 3), include_preprocessing=False)
    bare.set_weights(raw.get_weights())
    x = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    prepared = keras.applications.mobilenet_v2.preprocess_input(x.copy())
    np.testing.assert_allclose(np.asarray(bare(prepared, training=False)), np.asarray(raw(x, training=False)),
                               rtol=1e-4, atol=1e-5)
    assert all(layer.name != "preprocess" for layer in bare.layers)
