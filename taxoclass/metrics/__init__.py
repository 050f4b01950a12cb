r"""Metrics for (hierarchical) classification, computed against a :class:`~taxoclass.Taxonomy`.

Every function takes the true labels, the predictions and the taxonomy:

- ``y_true``: class names or class indices (indices follow ``taxonomy.classes``);
- ``y_pred``: class names or indices, or -- for the hierarchical metrics -- any node of the tree (a unique node
  name, a path tuple or a ``/``-joined path), e.g. the deepest node a thresholded model is sure of
  (:func:`threshold_predictions`);
- ``y_proba``: an array of shape ``(N, C)`` of class probabilities (or any scores: only their ranking is used) with
  columns in ``taxonomy.classes`` order.

Notation used in the formulas below: sample :math:`i` has true class :math:`t_i` and predicted node :math:`p_i`;
:math:`\mathrm{anc}(v)` is the set of nodes on the path from the root to :math:`v`, **root excluded**, :math:`v`
included (so :math:`|\mathrm{anc}(v)| = \mathrm{depth}(v)`); :math:`\mathrm{lca}(a, b)` is the lowest common
ancestor; :math:`h(v)` is the height of node :math:`v` (longest downward path to a leaf; leaves have height 0).

:func:`evaluate_predictions` computes everything at once and returns a JSON-serialisable dict, the input of
:func:`taxoclass.report.write_report`. :func:`paired_bootstrap` says whether one model's lead over another on the
same test images is more than the luck of the split.

Examples
--------
>>> from taxoclass import Taxonomy
>>> tax = Taxonomy.from_paths([["animal", "cat"], ["animal", "dog"], ["vehicle", "car"]])
>>> hierarchical_precision_recall_f1(["cat", "dog"], ["dog", "dog"], tax)
(0.75, 0.75, 0.75)
>>> mistake_severity(["cat", "car"], ["dog", "car"], tax)
1.0
"""

from taxoclass.metrics.evaluate import evaluate_predictions
from taxoclass.metrics.flat import accuracy, balanced_accuracy, confusion_matrix, per_class_scores, top_k_accuracy
from taxoclass.metrics.hierarchical import (average_hierarchical_distance, hierarchical_f1,
                                            hierarchical_precision_recall_f1, mistake_severity, per_level_accuracy,
                                            per_node_accuracy)
from taxoclass.metrics.paired import paired_bootstrap
from taxoclass.metrics.threshold import threshold_predictions

__all__ = [
    "accuracy", "top_k_accuracy", "balanced_accuracy", "per_class_scores", "confusion_matrix",
    "hierarchical_precision_recall_f1", "hierarchical_f1", "mistake_severity", "average_hierarchical_distance",
    "per_level_accuracy", "per_node_accuracy", "threshold_predictions", "evaluate_predictions", "paired_bootstrap",
]
