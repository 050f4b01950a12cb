"""Build small EcoTaxa exports for the tests: per-sample TSVs (header, ``[t]``/``[f]`` type row, one row per
object) with tiny PNGs beside them, zipped the way EcoTaxa writes them (``<sample>/ecotaxa_<sample>.tsv``)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

COLUMNS = ["object_id", "img_file_name", "object_annotation_status", "object_annotation_category",
           "object_annotation_hierarchy", "object_depth_min"]
TYPES = ["[t]", "[t]", "[t]", "[t]", "[t]", "[f]"]

#: category -> hierarchy, EcoTaxa style: a display name with '<' for a taxon whose name occurs twice
LINEAGES = {
    "Calanoida": "living>Arthropoda>Copepoda>Calanoida",
    "Cyclopoida": "living>Arthropoda>Copepoda>Cyclopoida",
    "Copepoda": "living>Arthropoda>Copepoda",
    "tail<Appendicularia": "living>Tunicata>Appendicularia>tail",
    "Oikopleuridae": "living>Tunicata>Appendicularia>Oikopleuridae",
    "Appendicularia": "living>Tunicata>Appendicularia",
    "detritus": "not-living>detritus",
}
#: a shade per class so that a tiny CNN can tell them apart
SHADES = {"Calanoida": 30, "Cyclopoida": 80, "Copepoda": 55, "tail<Appendicularia": 140, "Oikopleuridae": 190,
          "Appendicularia": 165, "detritus": 240}


def png(shade: int, seed: int, size: int = 12) -> bytes:
    rng = np.random.default_rng(seed)
    img = np.clip(shade + rng.integers(-8, 9, (size, size)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img, "L").save(buf, format="PNG")
    return buf.getvalue()


def rows_for(objects: dict[str, int], status: str = "validated", prefix: str = "o", start: int = 0):
    """``{category: count}`` -> rows (object_id, category, status); category "" = unclassified."""
    out, n = [], start
    for cat, count in objects.items():
        for _ in range(count):
            out.append((f"{prefix}{n}", cat, status if cat else ""))
            n += 1
    return out


def write_export(target: Path, samples: dict[str, list[tuple[str, str, str]]], *, types: bool = True,
                 zipped: bool = True) -> Path:
    """Write an export: ``samples`` maps a sample name to its (object_id, category, status) rows. A zip
    (``target`` ending in .zip) or an extracted folder."""
    files: dict[str, bytes] = {}
    for sample, rows in samples.items():
        lines = ["\t".join(COLUMNS)] + (["\t".join(TYPES)] if types else [])
        for i, (oid, cat, status) in enumerate(rows):
            name = f"{oid}.png"
            lines.append("\t".join([oid, name, status, cat, LINEAGES.get(cat, ""), str(i)]))
            files[f"{sample}/{name}"] = png(SHADES.get(cat, 100), seed=hash(oid) % 1000)
        files[f"{sample}/ecotaxa_{sample}.tsv"] = ("\n".join(lines) + "\n").encode()
    target = Path(target)
    if zipped:
        with zipfile.ZipFile(target, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    else:
        for name, data in files.items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(data)
    return target


def standard_export(target: Path, *, zipped: bool = True, per_class: int = 6) -> Path:
    """Two samples; validated objects at leaves and at internal nodes (Copepoda, Appendicularia), plus predicted,
    dubious and unclassified objects that training leaves out."""
    leaves = {"Calanoida": per_class, "Cyclopoida": per_class, "tail<Appendicularia": per_class,
              "Oikopleuridae": per_class, "detritus": per_class}
    s1 = rows_for({**leaves, "Copepoda": 2}, prefix="a")
    s1 += rows_for({"Calanoida": 3}, status="predicted", prefix="ap")
    s2 = rows_for(leaves, prefix="b") + rows_for({"Appendicularia": 2}, prefix="bi")
    s2 += rows_for({"Cyclopoida": 1}, status="dubious", prefix="bd") + rows_for({"": 2}, prefix="bu")
    return write_export(target, {"sample_1": s1, "sample_2": s2}, zipped=zipped)
