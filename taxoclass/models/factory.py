"""The models a comparison can name: one list (:data:`MODEL_NAMES`) and one factory (:func:`make_estimator`).

``run_benchmark`` (and anything else comparing models) builds every model through :func:`make_estimator`, so the
tree models and the flat model share the same backbone: the flat model's backbone is the trees' shared trunk
(whole under the default dense node heads; cut before its last stage for ``small_cnn`` node blocks, see
:func:`taxoclass.models.backbones.default_trunk_cut`), and ``weights`` initialise
both.

- ``"flat"``: :class:`~taxoclass.models.flat.FlatClassifier`, one softmax over the classes on the backbone;
- ``"flat_block"``: a one-level tree (root -> every class) on the trunk: the tree's node block as a flat classifier,
  which separates the effect of the hierarchy from that of the architecture;
- ``"taxonomy_tree"``: :class:`~taxoclass.models.tree.TreeClassifier` on the given taxonomy;
- ``"error_tree"``: the same on the error-based taxonomy (built from the flat model's confusion by the caller);
- ``"combined"``: the taxonomy tree with a flat softmax head on the same trunk, trained jointly, leaf
  probabilities combined per leaf (``combine="mean"``).

>>> from taxoclass.taxonomy import Taxonomy
>>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
>>> clf = make_estimator("combined", tax, backbone="resnet_small", input_shape=(32, 32, 1), epochs=3)
>>> type(clf).__name__, clf.flat_head, clf.trunk
('TreeClassifier', True, 'resnet_small')
>>> make_estimator("flat", tax, backbone="resnet_small", input_shape=(32, 32, 1), epochs=3).epochs
(0, 3)
"""

from __future__ import annotations

from taxoclass.exceptions import ModelError

__all__ = ["MODEL_NAMES", "TREE_MODELS", "make_estimator"]

from taxoclass.models import MODEL_NAMES  # noqa: E402 - the one list, importable without TensorFlow
#: the names built as a TreeClassifier on a taxonomy
TREE_MODELS = ("flat_block", "taxonomy_tree", "error_tree", "combined")


def make_estimator(name: str, taxonomy, *, backbone: str = "resnet_small", weights=None, width=None, depth=None,
                   input_shape=(64, 64, 3), epochs: int = 10, head_units=(64,), block_filters=(32, 64), trunk="auto",
                   flat_options: dict | None = None, tree_options: dict | None = None, **common):
    """An unfitted estimator for model ``name`` (one of :data:`MODEL_NAMES`).

    - ``taxonomy``: the :class:`~taxoclass.Taxonomy` of the tree models (its classes, in order, are those of
      every model; ``"flat_block"`` uses only its classes).
    - ``backbone``, ``weights``, ``width``, ``depth``: the flat model's backbone; also the trees' shared trunk
      unless ``trunk`` names another one (``trunk=None``: node blocks on the image; ``"auto"``: the backbone).
      ``weights`` initialise the trunk whenever it is a named backbone.
    - ``epochs``: every model's epochs (a from-scratch flat model trains all of them as its fine-tuning phase;
      with pretrained ``weights`` half train the head first).
    - ``head_units``: the node heads' (and the flat model's) dense layers; ``block_filters``: the node blocks.
    - ``flat_options`` / ``tree_options``: more keyword arguments for FlatClassifier / TreeClassifier only (e.g.
      ``{"loss": "hxe"}`` or ``{"level_schedule": "coarse_to_fine"}``).
    - ``common``: keyword arguments of both (``batch_size``, ``learning_rate``, ``weight_decay``,
      ``label_smoothing``, ``random_state``, ``lr_schedule``, ``time_budget``, ...).
    """
    from taxoclass.models.flat import FlatClassifier
    from taxoclass.models.tree import TreeClassifier
    from taxoclass.taxonomy import Taxonomy

    if name not in MODEL_NAMES:
        raise ModelError(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}.")
    if not isinstance(taxonomy, Taxonomy):
        raise ModelError(f"taxonomy must be a taxoclass.Taxonomy, got {type(taxonomy).__name__}.")
    epochs = int(epochs)
    if name == "flat":
        if weights is None:  # from scratch: one phase, the whole network, at the common learning rate
            phases = {"epochs": (0, epochs), "final_epochs": 0}
            if "learning_rate" in common:
                phases["fine_tune_learning_rate"] = common["learning_rate"]
        else:
            phases = {"epochs": (epochs - epochs // 2, epochs // 2)}
        return FlatClassifier(taxonomy, backbone=backbone, weights=weights, width=width, depth=depth,
                              input_shape=tuple(input_shape), head_units=tuple(head_units),
                              **{**phases, **common, **(flat_options or {})})
    if isinstance(trunk, str) and trunk == "auto":
        trunk_kw = {"trunk": backbone, "trunk_weights": weights, "width": width, "depth": depth}
    else:  # another named trunk also starts from ``weights``; a keras.Model or None has no weights to load
        named = isinstance(trunk, str)
        trunk_kw = {"trunk": trunk, "trunk_weights": weights if named else None, "width": width if named else None,
                    "depth": depth if named else None}
    tax = Taxonomy.from_paths([[c] for c in taxonomy.classes], root="root") if name == "flat_block" else taxonomy
    return TreeClassifier(tax, input_shape=tuple(input_shape), block_filters=tuple(block_filters),
                          head_units=tuple(head_units), epochs=epochs, flat_head=name == "combined", **trunk_kw,
                          **{**common, **(tree_options or {})})
