"""The tree model's shared trunk (taxoclass.models.trunk): where a named trunk is cut, a Keras trunk cut at a
layer, and the refusals of a trunk that does not fit."""

import keras
import numpy as np
import pytest

from taxoclass.exceptions import ModelError
from taxoclass.models.backbones import default_trunk_cut
from taxoclass.models.trunk import build_trunk


def test_no_trunk_scales_the_image_to_minus_one_one():
    stem = build_trunk(None, (8, 8, 1))
    assert stem.name == "stem" and stem.output_shape == (None, 8, 8, 1)
    img = np.zeros((1, 8, 8, 1), dtype="float32")
    img[0, 0, :3, 0] = [0.0, 127.5, 255.0]
    assert np.allclose(np.asarray(stem(img))[0, 0, :3, 0], [-1.0, 0.0, 1.0])


def test_named_trunk_whole_under_dense_heads_and_cut_before_the_last_stage_otherwise():
    whole = build_trunk("vgg_bn", (32, 32, 1), width=8, dense_nodes=True)
    cut = build_trunk("vgg_bn", (32, 32, 1), width=8, dense_nodes=False)
    cut_feats, whole_feats = cut.get_layer("features"), whole.get_layer("features")
    assert cut_feats.layers[-1].name == default_trunk_cut("vgg_bn") == "stage3_pool"
    assert len(cut_feats.layers) < len(whole_feats.layers)  # the last stage is left to the node blocks
    assert len(whole.output_shape) in (2, 4) and len(cut.output_shape) == 4
    # an explicit layer wins over "auto"; None keeps the whole network
    named = build_trunk("vgg_bn", (32, 32, 1), width=8, trunk_layer="stage3_pool", dense_nodes=True)
    assert named.output_shape == cut.output_shape
    assert build_trunk("vgg_bn", (32, 32, 1), width=8, trunk_layer=None, dense_nodes=False).output_shape == \
        whole.output_shape
    frozen = build_trunk("vgg_bn", (32, 32, 1), width=8, trainable=False)
    assert not frozen.trainable and frozen.trainable_weights == []


def _keras_trunk():
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="early")(inp)
    x = keras.layers.Conv2D(6, 3, padding="same", name="late")(x)
    return keras.Model(inp, x, name="mine")


def test_keras_trunk_kept_or_cut_at_a_layer():
    trunk = _keras_trunk()
    assert build_trunk(trunk, (16, 16, 3)) is trunk  # "auto": the model as given
    cut = build_trunk(_keras_trunk(), (16, 16, 3), trunk_layer="early")
    assert cut.name == "mine_cut" and cut.output_shape == (None, 16, 16, 4)


def test_keras_trunk_that_does_not_fit_is_refused():
    with pytest.raises(ModelError, match="'nope' is not a layer of the trunk model 'mine'"):
        build_trunk(_keras_trunk(), (16, 16, 3), trunk_layer="nope")
    with pytest.raises(ModelError, match=r"takes inputs of shape \(16, 16, 3\), but input_shape=\(32, 32, 3\)"):
        build_trunk(_keras_trunk(), (32, 32, 3))
    inp = keras.Input((16, 16, 3))
    seq = keras.Model(inp, keras.layers.Reshape((16, 48, 1, 1))(inp), name="five_d")
    with pytest.raises(ModelError, match="must output a feature map"):
        build_trunk(seq, (16, 16, 3))
