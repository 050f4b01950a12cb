"""The summary of a fitted tree model (``taxoclass summary``, ``TreeClassifier.summary()``): trunk, every classifier
node's size and cost, classes per level, the flat head and the coarse heads."""

from __future__ import annotations

import numpy as np

from taxoclass.models.blocks import block_flops

__all__ = ["tree_summary_lines"]


def tree_summary_lines(clf) -> list[str]:
    """The lines that :class:`~taxoclass.models.tree.TreeClassifier` adds to the common summary (``clf`` fitted)."""
    s = clf.structure_
    m = clf.model_
    stem = m.stem
    if isinstance(clf.trunk, str):
        trunk = clf.trunk
    else:  # a keras.Model trunk is not kept in the saved parameters: name it from the model itself
        trunk = "none (node blocks read the image)" if stem.name == "stem" else stem.name
    out = stem.output_shape[0] if m.coarse_heads is not None else stem.output_shape
    lines = [f"trunk: {trunk}, {stem.count_params():,} parameters, output {tuple(out[1:])}",
             f"{s.n_classifiers} classifier nodes ({len(s.nodes)} nodes, height {s.n_levels}); "
             f"{s.mean_path_classifiers():.2f} decisions on the average root-to-leaf path",
             f"{'node':<40} {'depth':>5} {'children':>8} {'classes':>7} {'params':>10} {'MFLOPs':>8}"]
    for k, node in enumerate(s.classifier_nodes):
        if m.node_heads is not None:
            params, flops = m.node_heads.node_params(k), m.node_heads.node_flops(k)
        else:
            params, flops = m.branches[k].count_params(), block_flops(m.branches[k])
        label = "/".join(node)
        label = label if len(label) <= 40 else "..." + label[-37:]
        lines.append(f"{label:<40} {len(node) - 1:>5} {s.n_children[k]:>8} "
                     f"{int((s.targets[:, k] >= 0).sum()):>7} {params:>10,} {flops / 1e6:>8.2f}")
    depth = np.array([len(n) - 1 for n in s.nodes])
    per_level = []
    for d in range(1, s.n_levels + 1):
        sel = depth == d
        per_level.append(f"level {d}: {int(sel.sum())} nodes, {int((sel & s.is_leaf).sum())} classes")
    lines.append("classes per level: " + "; ".join(per_level))
    if m.flat_head is not None:
        lines.append(f"flat head: {len(clf.classes_)}-way softmax on the trunk, {m.flat_head.count_params():,} "
                     f"parameters; leaf probabilities combined by {m.combine}, tree weight {clf.combine_weight_:.2f}")
    if m.coarse_heads is not None:
        heads = ", ".join(f"depth {d} ({n} groups)" for d, n in zip(sorted(clf.coarse_levels), m.coarse_heads.sizes))
        lines.append(f"coarse heads (training only, loss weight {m.coarse_heads.weight:g}): {heads} on the trunk's "
                     f"stages before its last, {m.coarse_heads.count_params():,} parameters")
    return lines
