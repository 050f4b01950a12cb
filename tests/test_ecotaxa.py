"""EcoTaxa both ways (issue 13 §1): export zips and folders read alike, the status filter, '<' names, objects
annotated at internal nodes (masked and own-class), and the import TSV that predict writes."""

import json

import numpy as np
import pandas as pd
import pytest
from ecotaxa_build import rows_for, standard_export, write_export

from taxoclass.cli.main import main
from taxoclass.data import ImageSet, load_source
from taxoclass.data.ecotaxa import ecotaxa_import_table, parse_status, read_ecotaxa
from taxoclass.exceptions import DataError

LEAVES = ["Calanoida", "Cyclopoida", "tail<Appendicularia", "Oikopleuridae", "detritus"]


@pytest.fixture(scope="module")
def export_zip(tmp_path_factory):
    return standard_export(tmp_path_factory.mktemp("eco") / "export.zip")


def test_zip_and_extracted_folder_read_alike(export_zip, tmp_path):
    folder = standard_export(tmp_path, zipped=False)
    z, f = read_ecotaxa(export_zip), read_ecotaxa(folder)
    assert z.kind == "zip" and f.kind == "files"
    assert sorted(z.keys.tolist()) == sorted(f.keys.tolist())
    assert sorted(z.classes) == sorted(LEAVES) and z.taxonomy == f.taxonomy
    assert len(z) == 5 * 12 + 2 + 2  # validated leaves, 2 Copepoda, 2 Appendicularia
    assert z.left_out == {"predicted": 3, "dubious": 1, "unclassified": 2}
    assert z.object_ids["sample_1/a0.png"] == "a0"
    assert z.counts()["Calanoida"] == 12
    # given as a plain SOURCE (data inspect export.zip / FOLDER), an export is recognised, not read as class folders
    assert load_source(folder).classes == f.classes and load_source(export_zip).classes == z.classes


def test_the_type_row_is_optional(tmp_path):
    rows = rows_for({"Calanoida": 2, "detritus": 2})
    a = read_ecotaxa(write_export(tmp_path / "a.zip", {"s": rows}, types=True))
    b = read_ecotaxa(write_export(tmp_path / "b.zip", {"s": rows}, types=False))
    assert a.labels.tolist() == b.labels.tolist() == ["Calanoida", "Calanoida", "detritus", "detritus"]


def test_status_filter(export_zip):
    assert len(read_ecotaxa(export_zip, status="validated,dubious")) == 64 + 1
    everything = read_ecotaxa(export_zip, status="all")
    assert len(everything) == 64 + 1 + 3 and everything.left_out == {"unclassified": 2}
    assert sorted(parse_status("Predicted, dubious")) == ["dubious", "predicted"]
    with pytest.raises(DataError, match="validated, predicted, dubious, unclassified"):
        parse_status("checked")


def test_names_with_lt_are_one_class_under_their_parent(export_zip):
    tax = read_ecotaxa(export_zip).taxonomy
    assert tax.lineage("tail<Appendicularia") == ["living", "Tunicata", "Appendicularia", "tail<Appendicularia"]
    assert [n[-1] for n in tax.children("Appendicularia")] == ["tail<Appendicularia", "Oikopleuridae"]


def test_internal_labels_masked_keep_the_node_as_label(export_zip):
    ds = read_ecotaxa(export_zip)
    assert sorted(set(ds.labels.tolist()) - set(ds.classes)) == ["Appendicularia", "Copepoda"]
    codes = ds.encode()
    L = ds.taxonomy.n_classes
    node = ds.taxonomy.node_index("Copepoda")
    assert (codes[ds.labels == "Copepoda"] == L + node).all()
    assert (codes[ds.labels == "Calanoida"] == ds.taxonomy.class_index("Calanoida")).all()


def test_internal_labels_own_class_adds_an_other_leaf(export_zip):
    ds = read_ecotaxa(export_zip, internal_labels="own-class")
    assert "Copepoda (other)" in ds.classes and "Appendicularia (other)" in ds.classes
    assert ds.taxonomy.lineage("Copepoda (other)") == ["living", "Arthropoda", "Copepoda", "Copepoda (other)"]
    assert ds.counts()["Copepoda (other)"] == 2 and set(ds.labels.tolist()) == set(ds.classes)


def test_data_inspect_detects_an_ecotaxa_zip(export_zip, capsys):
    assert main(["data", "inspect", str(export_zip), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["classes"] == 5 and report["images"] == 64
    assert report["labelled_at_internal_node"] == {"Appendicularia": 2, "Copepoda": 2}
    assert report["left_out_by_status"] == {"dubious": 1, "predicted": 3, "unclassified": 2}
    assert "left out 6 object(s) by status" in err
    assert load_source(ecotaxa=export_zip, status="all").left_out == {"unclassified": 2}


def test_bad_exports_get_one_clear_message(tmp_path):
    empty = tmp_path / "empty.zip"
    import zipfile

    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(DataError, match="no EcoTaxa TSV found"):
        read_ecotaxa(empty)
    z = write_export(tmp_path / "x.zip", {"s": rows_for({"Calanoida": 3})})
    with zipfile.ZipFile(z) as src, zipfile.ZipFile(tmp_path / "holes.zip", "w") as dst:
        for n in src.namelist():
            if n != "s/o1.png":
                dst.writestr(n, src.read(n))
    with pytest.raises(DataError, match=r"1 of 3 image\(s\) named by img_file_name are not in the export: s/o1.png"):
        read_ecotaxa(tmp_path / "holes.zip")
    with pytest.raises(DataError, match="no object left with status predicted"):
        read_ecotaxa(z, status="predicted")


def test_one_tsv_with_image_root_still_reads(tmp_path):
    write_export(tmp_path, {"s": rows_for({"Calanoida": 2, "detritus": 2})}, zipped=False)
    ds = ImageSet.from_ecotaxa(tmp_path / "s" / "ecotaxa_s.tsv")
    assert ds.kind == "files" and sorted(ds.classes) == ["Calanoida", "detritus"] and len(ds) == 4


def test_import_table_columns_and_type_row():
    t = ecotaxa_import_table(["o1", "o2"], ["Calanoida", "Copepoda (other)"], [0.91, 0.4],
                             ["Copepoda", "living"], [0.99, 1.0])
    assert t.columns.tolist() == ["object_id", "object_annotation_category", "object_annotation_status",
                                  "object_taxoclass_probability", "object_taxoclass_sure_node",
                                  "object_taxoclass_sure_probability"]
    assert t.iloc[0].tolist() == ["[t]", "[t]", "[t]", "[f]", "[t]", "[f]"]
    assert t.iloc[2, 1] == "Copepoda" and t.iloc[1, 2] == "predicted"  # 'X (other)' goes back as X


def test_read_import_file(tmp_path):
    """What predict --format ecotaxa writes parses back as EcoTaxa reads it: header, type row, one row per id."""
    path = tmp_path / "import.tsv"
    ecotaxa_import_table(["o1"], ["Calanoida"], [0.5]).to_csv(path, sep="\t", index=False)
    df = pd.read_csv(path, sep="\t", dtype=str, skiprows=[1])
    assert df["object_id"].tolist() == ["o1"] and np.isclose(float(df["object_taxoclass_probability"][0]), 0.5)


# ------------------------------------------------------------------------------------------ the reader, at random
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ecotaxa_build import LINEAGES  # noqa: E402

STATUS_WORDS = ["validated", "predicted", "dubious", ""]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objects=st.lists(st.tuples(st.sampled_from(sorted(LINEAGES) + [""]), st.sampled_from(STATUS_WORDS)),
                        min_size=1, max_size=12),
       samples=st.integers(1, 3), types=st.booleans(),
       keep=st.sets(st.sampled_from(["validated", "predicted", "dubious", "unclassified"]), min_size=1))
def test_the_reader_keeps_exactly_the_chosen_objects(tmp_path_factory, objects, samples, types, keep):
    """Random exports (categories at any depth, '<' names, statuses, 1-3 samples, with or without type row): the
    objects read are those with a category and a kept status, each with its category as label (masked) and every
    other object counted in left_out under its status."""
    rows = {f"s{k}": [] for k in range(samples)}
    for i, (cat, status) in enumerate(objects):
        rows[f"s{i % samples}"].append((f"o{i}", cat, status if cat else ""))
    path = write_export(tmp_path_factory.mktemp("rnd") / "x.zip", rows, types=types)
    status_of = {f"o{i}": ((s if c else "") or "unclassified") for i, (c, s) in enumerate(objects)}
    expect = {f"o{i}": c for i, (c, s) in enumerate(objects) if c and status_of[f"o{i}"] in keep}
    if not expect:
        with pytest.raises(DataError, match="no object left with status"):
            read_ecotaxa(path, status=",".join(sorted(keep)))
        return
    ds = read_ecotaxa(path, status=",".join(sorted(keep)))
    got = {ds.object_ids[k]: lab for k, lab in zip(ds.keys.tolist(), ds.labels.tolist())}
    assert got == expect
    left = {}
    for oid, st_ in status_of.items():
        if oid not in expect:
            left[st_] = left.get(st_, 0) + 1
    assert ds.left_out == left
    for lab in set(expect.values()):  # every label is a class or a node of the tree, at its EcoTaxa lineage
        assert ds.taxonomy.lineage(lab) == LINEAGES[lab].split(">")[:-1] + [lab]


def test_class_only_options_are_refused_with_node_labels(export_zip, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--ecotaxa", str(export_zip), "--class-weight", "balanced", "-o", str(out)]) == 2
    assert "4 image(s) are labelled at an internal node" in capsys.readouterr().err and not out.exists()
    assert main(["train", "--ecotaxa", str(export_zip), "--model", "flat", "--loss", "hxe", "-o", str(out)]) == 2
    assert "--loss hxe is defined on classes only" in capsys.readouterr().err
    assert main(["benchmark", "--ecotaxa", str(export_zip), "-o", str(tmp_path / "b")]) == 2
    assert "benchmark needs a class for every image" in capsys.readouterr().err


def test_load_taxonomy_of_a_mixed_depth_export(tmp_path):
    from taxoclass.taxonomy import load_taxonomy

    standard_export(tmp_path, zipped=False)
    tax = load_taxonomy(tmp_path / "sample_2" / "ecotaxa_sample_2.tsv")  # Appendicularia objects beside its children
    assert "Appendicularia" not in tax.classes and tax.is_leaf("tail<Appendicularia")
    assert [n[-1] for n in tax.children("Appendicularia")] == ["tail<Appendicularia", "Oikopleuridae"]
