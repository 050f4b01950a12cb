"""The Markdown part of a report: :func:`markdown_report`."""

from __future__ import annotations

import math

from taxoclass.report.results import _check_results, COST_ROWS, SUMMARY_ROWS


def _fmt(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    try:
        if "d}" in fmt:
            return fmt.format(int(round(float(value))))
        return fmt.format(float(value))
    except (TypeError, ValueError):
        return str(value)


def _keys_of(results: list[dict], field: str) -> list[str]:
    """The keys of ``metrics[field]`` over all results, in first-seen order.

    >>> _keys_of([{"metrics": {"per_node": {"a": 1}}}, {"metrics": {"per_node": {"b": 2, "a": 3}}}], "per_node")
    ['a', 'b']
    """
    return list(dict.fromkeys(k for r in results for k in (r["metrics"].get(field) or {})))


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(s):
        return str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- markdown
def markdown_report(results: list[dict], figures: dict[str, str] | None = None, *, title: str = "taxoclass report"
                    ) -> str:
    """The markdown text of a report: models side by side (summary, costs, per level, per node, per class).

    ``figures`` maps a caption to a relative PNG path to embed. Best values per row are in bold.

    >>> from taxoclass import Taxonomy
    >>> from taxoclass.metrics import evaluate_predictions
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> m = evaluate_predictions(["x", "z"], [[.7, .2, .1], [.1, .1, .8]], tax, k=2)
    >>> print(markdown_report([{"name": "demo", "metrics": m}]).splitlines()[6])
    | metric | demo |
    """
    results = _check_results(results)
    names = [r["name"] for r in results]
    out = [f"# {title}", "", f"Models compared: {', '.join(names)}.", ""]

    def table(rows_spec, getter):
        rows = []
        for key, label, better, fmt in rows_spec:
            vals = [getter(r, key) for r in results]
            if all(v is None for v in vals):
                continue
            cells = [_fmt(v, fmt) for v in vals]
            nums = [float(v) for v in vals if v is not None]
            if better and len(results) > 1 and len(nums) > 1:
                best = max(nums) if better == "higher" else min(nums)
                cells = [f"**{c}**" if v is not None and float(v) == best else c for c, v in zip(cells, vals)]
            arrow = {"higher": " (↑)", "lower": " (↓)"}.get(better, "")
            rows.append([label + arrow] + cells)
        return rows

    out += ["## Summary", "", _md_table(["metric"] + names,
                                        table(SUMMARY_ROWS, lambda r, k: r["metrics"].get(k))), ""]
    ks = sorted({r["metrics"].get("k") for r in results if r["metrics"].get("k") is not None})
    if ks:
        out += [f"top-k and distance@k use k = {', '.join(map(str, ks))}. Mistake severity and hierarchical "
                "distances are LCA heights in each model's taxonomy (lower is better).", ""]
    out += _versus_section(results)
    out += _calibration_section(results)
    cost_rows = table(COST_ROWS, lambda r, k: r.get(k))
    if cost_rows:
        out += ["## Cost", "", _md_table(["cost"] + names, cost_rows), ""]
    # taxonomies
    tax_rows = []
    for r in results:
        ts = r["metrics"].get("taxonomy_summary") or {}
        tax_rows.append([r["name"], _fmt(ts.get("n_nodes"), "{:d}"), _fmt(ts.get("n_internal"), "{:d}"),
                         _fmt(ts.get("height"), "{:d}")])
    if any(row[1] != "–" for row in tax_rows):
        out += ["## Taxonomies used for the hierarchical metrics", "",
                _md_table(["model", "nodes", "internal nodes", "height"], tax_rows), "",
                "Hierarchical scores are comparable across models only when they were computed on the same "
                "taxonomy.", ""]
    # per level
    depths = sorted({lvl["depth"] for r in results for lvl in r["metrics"].get("per_level") or []})
    if depths:
        rows = []
        for d in depths:
            row = [str(d)]
            for r in results:
                lvl = next((x for x in r["metrics"].get("per_level") or [] if x["depth"] == d), None)
                row.append("–" if lvl is None or lvl.get("accuracy") is None
                           else f"{lvl['accuracy']:.4f} (n={lvl['n']})")
            rows.append(row)
        out += ["## Accuracy per level", "",
                "Share of samples whose predicted ancestor at this depth is the true one.", "",
                _md_table(["depth"] + names, rows), ""]
    # per node
    node_keys = _keys_of(results, "per_node")
    if node_keys:
        rows = []
        for key in node_keys:
            row = [key]
            for r in results:
                e = (r["metrics"].get("per_node") or {}).get(key)
                row.append("–" if not e or e.get("accuracy") is None else f"{e['accuracy']:.3f} (n={e['n']})")
            rows.append(row)
        out += ["## Accuracy per internal node", "",
                "Of the samples whose true class is under the node, the share predicted under the right child. "
                "Low values point at weak sub-trees.", "", _md_table(["node"] + names, rows), ""]
    # per class
    classes = _keys_of(results, "per_class")
    if classes:
        rows = []
        for c in classes:
            sup = next(((r["metrics"]["per_class"].get(c) or {}).get("support") for r in results
                        if c in (r["metrics"].get("per_class") or {})), None)
            row = [c, _fmt(sup, "{:d}")]
            for r in results:
                e = (r["metrics"].get("per_class") or {}).get(c)
                row.append("–" if not e else f"{e['f1']:.3f} / {e['recall']:.3f}")
            rows.append(row)
        out += ["## Per class (F1 / recall)", "", _md_table(["class", "support"] + names, rows), ""]
    if figures:
        out += ["## Figures", ""]
        for caption, rel in figures.items():
            out += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    return "\n".join(out).rstrip() + "\n"


def versus_cell(diff: dict, scale: float = 1.0, fmt: str = "{:+.1f}") -> str:
    """``"+0.7 [-0.3, +1.8]"``: a paired difference (:func:`taxoclass.metrics.paired_bootstrap`) and its 95 %
    interval, times ``scale``; ``*`` when the interval excludes 0.

    >>> versus_cell({"b_minus_a": 0.012, "ci95": [0.001, 0.023], "excludes_zero": True}, 100)
    '+1.2 [+0.1, +2.3]*'
    """
    lo, hi = diff["ci95"]
    return (f"{fmt.format(diff['b_minus_a'] * scale)} [{fmt.format(lo * scale)}, {fmt.format(hi * scale)}]"
            + ("*" if diff.get("excludes_zero") else ""))


def _versus_section(results: list[dict]) -> list[str]:
    """The "Against the flat model" section: the paired differences of ``run_benchmark``'s ``vs_flat`` entries."""
    rows = [[r["name"], versus_cell(r["vs_flat"]["accuracy"], 100),
             versus_cell(r["vs_flat"]["mistake_severity"], 1, "{:+.2f}")] for r in results if r.get("vs_flat")]
    if not rows:
        return []
    views = next(r["vs_flat"].get("tta") for r in results if r.get("vs_flat"))
    return ["## Against the flat model", "",
            "Each model minus the flat model on the same test images" + (f" (with {views} test-time views)" if views
                                                                       else "") +
            ", with the 95 % interval of a paired bootstrap over the images (1,000 resamples); `*`: the interval "
            "excludes 0, so the difference is more than the luck of this test split. Top-1 in points; severity "
            "(mean LCA height of the wrong answers) on the reference taxonomy, lower is better.", "",
            _md_table(["model", "top-1 - flat (points)", "severity - flat"], rows), ""]


def _calibration_section(results: list[dict]) -> list[str]:
    """The "Calibration" and "Sure-node answers" sections (models whose metrics hold them)."""
    from taxoclass._console import number
    from taxoclass.jobs.outputs import threshold_lines

    out = []
    cal = [(r["name"], r["metrics"]["calibration"]) for r in results if r["metrics"].get("calibration")]
    if cal:
        rows = [[name, number(c["temperature"]), number(c["ece_before"]), number(c["ece_after"])] for name, c in cal]
        out += ["## Calibration", "", "Expected calibration error (ECE, 15 bins, lower is better) of the top-1 "
                "probability before and after the temperature fitted on the validation split at the end of training.",
                "", _md_table(["model", "temperature", "ECE before", "ECE after"], rows), ""]
    thr = [(r["name"], r["metrics"]["thresholded"]) for r in results if r["metrics"].get("thresholded")]
    if thr:
        out += ["## Sure-node answers", "", "Each image is answered at the deepest node whose probability reaches the "
                "threshold (\"not sure\" below it).", ""]
        for name, t in thr:
            out += [f"- **{name}**: " + "; ".join(threshold_lines(t))]
        out += [""]
    return out
