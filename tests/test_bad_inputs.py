"""Every bad input ends clean: exit status 2 (or the documented exception), one message line, no traceback, and the
output location exactly as it was (a checksum of the whole work folder before and after).

Most cases call ``taxoclass.cli.main.main`` in-process (fast); a few run the real command in a subprocess to check
that no traceback reaches the terminal. Every fixture is generated here.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from taxoclass.cli.main import main
from taxoclass.exceptions import ClusteringError, DataError, TaxoclassError, TaxonomyError

CLASSES = {"red_square": "warm", "red_disc": "warm", "blue_square": "cold", "blue_disc": "cold"}
TINY = ["--image-size", "8", "--epochs", "1", "--block-filters", "4", "--head-units", "4", "--batch-size", "8"]


def _images(root: Path, classes=CLASSES, n=5):
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (10, 10, 3), dtype=np.uint8) // (k + 1)).save(
                root / name / f"{i}.png")


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """Inputs (read-only for the cases) and a finished run."""
    d = tmp_path_factory.mktemp("inputs")
    _images(d / "imgs")
    _images(d / "one_class", {"only": "x"})
    (d / "tax.tsv").write_text("class\tlineage\n" + "".join(f"{c}\t{g}/{c}\n" for c, g in CLASSES.items()))
    (d / "tax_other.tsv").write_text("class\tlineage\na\tg/a\nb\tg/b\n")
    (d / "other_manifest.csv").write_text("path,label,split\nelsewhere/1.png,x,train\nelsewhere/2.png,x,val\n"
                                         "elsewhere/3.png,x,test\n")
    (d / "empty.csv").write_text("")
    (d / "two_cols.csv").write_text("a,b\n1,2\n")
    (d / "text_model.taxoclass").write_text("not a model")
    (d / "not_utf8.tsv").write_bytes(b"class\tlineage\n\xff\xfe\tg/\xff\n")
    (d / "cycle.txt").write_text("a\tb\nb\tc\nc\ta\n")
    (d / "deep.json").write_text('{"a":' * 600 + "null" + "}" * 600)
    (d / "deep.yaml").write_text("[" * 600 + "a" + "]" * 600)
    (d / "deep.nwk").write_text("(" * 600 + "a" + ")x" * 600 + ";")
    (d / "chain.txt").write_text("".join(f"n{i}\tn{i + 1}\n" for i in range(5000)))
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    (d / "bomb.yaml").write_text("\n".join(levels) + "\n")
    (d / "passwd.csv").write_text("file,label\n../../../../etc/passwd,a\nimgs/red_disc/0.png,b\n")
    (d / "absolute.csv").write_text("file,label\n/etc/hostname,a\nimgs/red_disc/0.png,b\n")
    np.save(d / "complex.npy", np.array([[1 + 2j, 0], [0, 1]]))
    np.save(d / "huge.npy", np.full((3, 3), 1e308))
    np.save(d / "nan.npy", np.array([[1.0, np.nan], [0, 1]]))
    np.save(d / "nonsquare.npy", np.ones((2, 3)))
    np.save(d / "ok.npy", np.array([[5.0, 1], [1, 5]]))
    (d / "labels3.txt").write_text("a\nb\nc\n")
    run = d / "run"
    assert main(["train", str(d / "imgs"), "--taxonomy", str(d / "tax.tsv"), *TINY, "-o", str(run)]) == 0
    model = run / "model.taxoclass"
    # damaged model files: metadata without the taxonomy / classes, invalid JSON
    import zipfile

    with zipfile.ZipFile(model) as zf:
        meta, keras_blob = json.loads(zf.read("metadata.json")), zf.read("model.keras")
    for name, change in (("no_taxonomy", lambda m: m.pop("taxonomy")), ("no_classes", lambda m: m.pop("classes")),
                         ("bad_parents", lambda m: m["taxonomy"].update(parents=[5, 7]))):
        m = json.loads(json.dumps(meta))
        change(m)
        with zipfile.ZipFile(d / f"{name}.taxoclass", "w") as zf:
            zf.writestr("metadata.json", json.dumps(m))
            zf.writestr("model.keras", keras_blob)
    with zipfile.ZipFile(d / "bad_json.taxoclass", "w") as zf:
        zf.writestr("metadata.json", "{not json")
        zf.writestr("model.keras", keras_blob)
    return d


@pytest.fixture
def work(tmp_path, fx):
    """The output location of a case: a finished run, a file, an unfinished run with other options."""
    w = tmp_path / "work"
    w.mkdir()
    shutil.copytree(fx / "run", w / "done")
    (w / "a_file").write_text("x")
    shutil.copytree(fx / "run", w / "unfinished")
    (w / "unfinished" / "model.taxoclass").unlink()
    (w / "old.csv").write_text("file\n")
    return w


def snapshot(folder: Path) -> dict:
    """Name -> content hash of everything under ``folder`` (hidden files included)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def run_cli(argv):
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def _sub(s: str, fx: Path, w: Path) -> str:
    return s.replace("{F}", str(fx)).replace("{W}", str(w)).replace("{M}", str(fx / "run" / "model.taxoclass"))


TRAIN = "train {F}/imgs --taxonomy {F}/tax.tsv " + " ".join(TINY)
FLAT = "train {F}/imgs --model flat --backbone small_cnn " + " ".join(TINY)
EVAL = "evaluate {M} {F}/imgs"
PRED = "predict {M} {F}/imgs/red_disc/0.png"
BENCH = "benchmark {F}/imgs --backbone small_cnn --image-size 8 --epochs 1 --models flat"
TAX = "taxonomy validate"

# (case id, command line, words the message must contain)
CLI_CASES = [
    # -- train: every option checked before anything is written (issue: "Failed runs leave files behind")
    ("train-epochs-0-overwrite-keeps-run", TRAIN + " --epochs 0 -o {W}/done --overwrite", "epochs=0"),
    ("train-image-size-0", TRAIN + " --image-size 0 -o {W}/new", "image_size=0"),
    ("train-image-size-neg", TRAIN + " --image-size -1 -o {W}/new", "image_size=-1"),
    ("train-image-size-huge", TRAIN + " --image-size 100000 -o {W}/new", "1024"),
    ("train-batch-size-0", TRAIN + " --batch-size 0 -o {W}/new", "batch_size=0"),
    ("train-batch-memory", TRAIN + " --batch-size 4096 --image-size 1024 -o {W}/new", "GiB"),
    ("train-pad-nan", TRAIN + " --pad-value nan -o {W}/new", "pad_value=nan"),
    ("train-pad-300", TRAIN + " --pad-value 300 -o {W}/new", "pad_value=300"),
    ("train-lr-nan", TRAIN + " --learning-rate nan -o {W}/new", "learning_rate=nan"),
    ("train-lr-negative", TRAIN + " --learning-rate -1 -o {W}/new", "learning_rate=-1"),
    ("train-fine-tune-gt-epochs", FLAT + " --fine-tune-epochs 5 -o {W}/new", "fine_tune_epochs=5"),
    ("train-unknown-backbone", FLAT.replace("small_cnn", "resnet9000") + " -o {W}/new", "resnet9000"),
    ("train-backbone-too-small", FLAT.replace("small_cnn", "inception_v3") + " -o {W}/new", "75"),
    ("train-missing-weights", FLAT + " --weights {F}/nope.h5 -o {W}/new", "does not exist"),
    ("train-manifest-other-data", TRAIN + " --manifest {F}/other_manifest.csv -o {W}/new", "manifest"),
    ("train-flat-one-class", "train {F}/one_class --model flat " + " ".join(TINY) + " -o {W}/new", "2 classes"),
    ("train-val-test-too-big", TRAIN + " --val-size 0.6 --test-size 0.5 -o {W}/new", "nothing to train"),
    ("train-seed-negative", TRAIN + " --seed -1 -o {W}/new", "seed=-1"),
    ("train-early-stopping-negative", TRAIN + " --early-stopping -1 -o {W}/new", "early_stopping"),
    ("train-epochs-not-int", TRAIN + " --epochs ten -o {W}/new", "--epochs"),
    ("train-taxonomy-missing", "train {F}/imgs --taxonomy {F}/nope.tsv -o {W}/new", "nope.tsv"),
    ("train-taxonomy-other-classes", "train {F}/imgs --taxonomy {F}/tax_other.tsv -o {W}/new", "class"),
    ("train-taxonomy-not-utf8", "train {F}/imgs --taxonomy {F}/not_utf8.tsv -o {W}/new", "UTF-8"),
    ("train-source-missing", "train {F}/nowhere --taxonomy {F}/tax.tsv -o {W}/new", "nowhere"),
    ("train-output-is-file", TRAIN + " -o {W}/a_file", "not a folder"),
    ("train-output-parent-missing", TRAIN + " -o {W}/no/such/dir", "does not exist"),
    ("train-output-holds-run", TRAIN + " -o {W}/done", "already holds files"),
    ("train-resume-nothing", TRAIN + " --resume -o {W}/new", "no unfinished run"),
    ("train-resume-other-options", TRAIN.replace("--image-size 8", "--image-size 12") + " -o {W}/unfinished",
     "image_size"),
    ("train-coarse-levels-flat", FLAT + " --coarse-levels 1 -o {W}/new", "flat model has no taxonomy levels"),
    ("train-coarse-levels-too-deep", TRAIN + " --trunk vgg_bn --coarse-levels 2 -o {W}/new", "depths from 1 to 1"),
    ("train-coarse-levels-no-trunk", TRAIN + " --trunk none --coarse-levels 1 -o {W}/new", "vgg_bn (4 stages)"),
    ("train-coarse-weight-alone", TRAIN + " --coarse-loss-weight 0.5 -o {W}/new", "add --coarse-levels"),
    ("train-coarse-weight-zero", TRAIN + " --coarse-levels 1 --coarse-loss-weight 0 -o {W}/new", "(0, 10]"),
    ("train-taxonomy-and-confusion", TRAIN + " --from-confusion {F}/nan.npy -o {W}/new", "not both"),
    ("train-table-escapes-root", "train --table {F}/passwd.csv --image-root {F} --model flat -o {W}/new",
     "outside the image root"),
    ("train-table-absolute-path", "train --table {F}/absolute.csv --image-root {F} --model flat -o {W}/new",
     "outside the image root"),
    # -- evaluate
    ("evaluate-k-0", EVAL + " -k 0 -o {W}/ev", "-k=0"),
    ("evaluate-k-negative", EVAL + " -k -3 -o {W}/ev", "-k=-3"),
    ("evaluate-model-missing", "evaluate {F}/nope.taxoclass {F}/imgs -o {W}/ev", "does not exist"),
    ("evaluate-model-not-zip", "evaluate {F}/text_model.taxoclass {F}/imgs -o {W}/ev", "not a zip"),
    ("evaluate-model-no-taxonomy", "evaluate {F}/no_taxonomy.taxoclass {F}/imgs -o {W}/ev", "damaged"),
    ("evaluate-model-no-classes", "evaluate {F}/no_classes.taxoclass {F}/imgs -o {W}/ev", "damaged"),
    ("evaluate-model-bad-parents", "evaluate {F}/bad_parents.taxoclass {F}/imgs -o {W}/ev", "damaged"),
    ("evaluate-model-bad-json", "evaluate {F}/bad_json.taxoclass {F}/imgs -o {W}/ev", "damaged"),
    ("evaluate-model-is-folder", "evaluate {F}/run {F}/imgs -o {W}/ev", "does not exist"),
    ("evaluate-output-holds-run", EVAL + " -o {W}/done", "already holds files"),
    ("evaluate-output-is-file", EVAL + " -o {W}/a_file", "not a folder"),
    ("evaluate-manifest-other-data", EVAL + " --manifest {F}/other_manifest.csv -o {W}/ev", "manifest"),
    ("evaluate-unknown-class", "evaluate {M} {F}/one_class -o {W}/ev", "only"),
    ("evaluate-threshold-2", EVAL + " --threshold 2 -o {W}/ev", "between 0 and 1"),
    ("evaluate-split-bogus", EVAL + " --split holdout -o {W}/ev", "holdout"),
    # -- predict
    ("predict-top-k-0", PRED + " --top-k 0 -o {W}/p.csv", "--top-k=0"),
    ("predict-top-k-negative", PRED + " --top-k -1 -o {W}/p.csv", "--top-k=-1"),
    ("predict-top-k-too-many", PRED + " --top-k 99 -o {W}/p.csv", "top_k"),
    ("predict-csv-empty", "predict {M} --csv {F}/empty.csv -o {W}/p.csv", "empty.csv"),
    ("predict-csv-no-file-column", "predict {M} --csv {F}/two_cols.csv -o {W}/p.csv", "--file-column"),
    ("predict-dir-missing", "predict {M} --dir {F}/nowhere -o {W}/p.csv", "not a folder"),
    ("predict-image-missing", "predict {M} {F}/nope.png -o {W}/p.csv", "do not exist"),
    ("predict-no-images", "predict {M} -o {W}/p.csv", "no images"),
    ("predict-output-exists", PRED + " -o {W}/old.csv", "already exists"),
    ("predict-output-is-folder", PRED + " -o {W}/done", "is a folder"),
    ("predict-threshold-negative", PRED + " --threshold -0.5 -o {W}/p.csv", "between 0 and 1"),
    ("predict-damaged-model", "predict {F}/no_classes.taxoclass {F}/imgs/red_disc/0.png -o {W}/p.csv", "damaged"),
    # -- benchmark: checked before a model is trained
    ("benchmark-max-size-0", BENCH + ",error_tree --max-cluster-size 0 -o {W}/b", "max_cluster_size=0"),
    ("benchmark-unknown-model", BENCH + ",forest -o {W}/b", "forest"),
    ("benchmark-error-tree-alone", BENCH.replace("--models flat", "--models error_tree") + " -o {W}/b",
     "add 'flat'"),
    ("benchmark-epochs-0", BENCH + " --epochs 0 -o {W}/b", "epochs=0"),
    ("benchmark-image-size-0", BENCH + " --image-size 0 -o {W}/b", "image_size=0"),
    ("benchmark-unknown-backbone", BENCH.replace("small_cnn", "vit_giant") + " -o {W}/b", "vit_giant"),
    ("benchmark-max-per-class-0", BENCH + " --max-per-class 0 -o {W}/b", "max_per_class=0"),
    ("benchmark-output-holds-run", BENCH + " -o {W}/done", "already holds files"),
    ("benchmark-beta-2", BENCH + " --beta 2 -o {W}/b", "between 0 and 1"),
    # -- data inspect
    ("inspect-max-pixels-0", "data inspect {F}/imgs --max-pixels 0", "--max-pixels=0"),
    ("inspect-max-pixels-negative", "data inspect {F}/imgs --max-pixels -1", "--max-pixels=-1"),
    ("inspect-top-negative", "data inspect {F}/imgs --top -1", "--top=-1"),
    ("inspect-jobs-0", "data inspect {F}/imgs --jobs 0", "--jobs=0"),
    ("inspect-missing", "data inspect {F}/nowhere", "nowhere"),
    ("inspect-table-escapes-root", "data inspect --table {F}/passwd.csv --image-root {F}", "outside the image root"),
    # -- taxonomy
    ("taxonomy-missing", TAX + " {F}/nope.tsv", "nope.tsv"),
    ("taxonomy-show-max-depth-negative", "taxonomy show {F}/tax.tsv --max-depth -1", "--max-depth"),
    ("taxonomy-cycle", TAX + " {F}/cycle.txt", "cycle"),
    ("taxonomy-not-utf8", TAX + " {F}/not_utf8.tsv", "UTF-8"),
    ("taxonomy-deep-json", TAX + " {F}/deep.json", "256 levels"),
    ("taxonomy-deep-yaml", TAX + " {F}/deep.yaml", "256 levels"),
    ("taxonomy-deep-newick", TAX + " {F}/deep.nwk", "256 levels"),
    ("taxonomy-chain", "taxonomy show {F}/chain.txt", "256 levels"),
    ("taxonomy-alias-bomb", TAX + " {F}/bomb.yaml", "aliases"),
    ("taxonomy-convert-exists", "taxonomy convert {F}/tax.tsv --to json -o {W}/a_file", "already exists"),
    ("taxonomy-convert-onto-folder", "taxonomy convert {F}/tax.tsv --to json -o {W}/done --overwrite", "is a folder"),
    ("taxonomy-convert-no-folder", "taxonomy convert {F}/tax.tsv --to json -o {W}/none/t.json", "does not exist"),
    # -- cluster-confusion
    ("cluster-complex", "cluster-confusion {F}/complex.npy", "complex"),
    ("cluster-overflow", "cluster-confusion {F}/huge.npy", "largest float"),
    ("cluster-nan", "cluster-confusion {F}/nan.npy", "NaN"),
    ("cluster-not-square", "cluster-confusion {F}/nonsquare.npy", "square"),
    ("cluster-classes-wrong-count", "cluster-confusion {F}/complex.npy --classes {F}/labels3.txt", "class names"),
    ("cluster-max-size-0", "cluster-confusion {F}/ok.npy --max-cluster-size 0", "max_cluster_size"),
    ("cluster-out-exists", "cluster-confusion {F}/nan.npy -o {W}/a_file", "already exists"),
    ("cluster-out-onto-folder", "cluster-confusion {F}/ok.npy -o {W}/done --overwrite", "is a folder"),
]


@pytest.mark.parametrize("case, line, words", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_cli_input_ends_clean(case, line, words, fx, work, capsys):
    argv = [_sub(a, fx, work) for a in line.split()]
    before = snapshot(work)
    capsys.readouterr()
    rc = run_cli(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("[taxoclass]")]
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0]
    assert words in lines[0], lines[0]
    assert ".part" not in lines[0]
    assert snapshot(work) == before  # the output location exactly as it was: no file written, none lost


# ---------------------------------------------------------------------------------------------------- Python API
def _data(fx):
    from taxoclass.data import ImageSet

    return ImageSet.from_folder(fx / "imgs")


API_CASES = [
    ("train_job-epochs-0", lambda fx, w: _train_job(fx, w / "done", epochs=0, overwrite=True), TaxoclassError),
    ("train_job-image-size-huge", lambda fx, w: _train_job(fx, w / "new", image_size=10 ** 5), TaxoclassError),
    ("train_job-fine-tune", lambda fx, w: _train_job(fx, w / "new", model="flat", fine_tune_epochs=3),
     TaxoclassError),
    ("train_job-bool-epochs", lambda fx, w: _train_job(fx, w / "new", epochs=True), TaxoclassError),
    ("evaluate_job-k-0", lambda fx, w: _eval_job(fx, w / "ev", k=0), TaxoclassError),
    ("predict_job-top-k--1", lambda fx, w: _predict_job(fx, w / "p.csv", top_k=-1), TaxoclassError),
    ("run_benchmark-max-size-0", lambda fx, w: _bench(fx, w / "b", max_cluster_size=0), TaxoclassError),
    ("write_report-into-run", lambda fx, w: _report(w / "done"), TaxoclassError),
    ("from_arrays-unit-floats", lambda fx, w: _arrays(np.random.default_rng(0).random((4, 5, 5))), DataError),
    ("from_arrays-nan", lambda fx, w: _arrays(np.full((4, 5, 5), np.nan)), DataError),
    ("from_arrays-complex", lambda fx, w: _arrays(np.ones((4, 5, 5), complex)), DataError),
    ("load_taxonomy-deep-json", lambda fx, w: _load_tax(fx / "deep.json"), TaxonomyError),
    ("load_taxonomy-alias-bomb", lambda fx, w: _load_tax(fx / "bomb.yaml"), TaxonomyError),
    ("cluster_confusion-complex", lambda fx, w: _cluster(np.array([[1, 1j], [0, 1]])), ClusteringError),
    ("cluster_confusion-overflow", lambda fx, w: _cluster(np.full((3, 3), 1e308)), ClusteringError),
    ("from_table-escapes-root", lambda fx, w: _table(fx / "passwd.csv", fx), DataError),
]


def _train_job(fx, out, **kw):
    from taxoclass.taxonomy import load_taxonomy
    from taxoclass.jobs import train_job

    opts = dict(taxonomy=load_taxonomy(fx / "tax.tsv"), image_size=8, epochs=1, block_filters=(4,),
                head_units=(4,), batch_size=8)
    opts.update(kw)
    return train_job(_data(fx), out, **opts)


def _eval_job(fx, out, **kw):
    from taxoclass.jobs import evaluate_job

    return evaluate_job(fx / "run" / "model.taxoclass", _data(fx), out, **kw)


def _predict_job(fx, out, **kw):
    from taxoclass.jobs import predict_job, unlabelled_images

    return predict_job(fx / "run" / "model.taxoclass", unlabelled_images([fx / "imgs/red_disc/0.png"]), out, **kw)


def _bench(fx, out, **kw):
    from taxoclass.comparison import run_benchmark

    return run_benchmark(_data(fx), models=["flat", "error_tree"], backbone="small_cnn", image_size=8, epochs=1,
                         out_dir=out, progress=None, **kw)


def _report(out):
    from taxoclass import Taxonomy
    from taxoclass.metrics import evaluate_predictions
    from taxoclass.report import write_report

    tax = Taxonomy.from_paths([["a", "x"], ["b", "y"]])
    return write_report([{"name": "m", "metrics": evaluate_predictions(["x", "y"], [[.9, .1], [.2, .8]], tax)}], out)


def _arrays(x):
    from taxoclass.data import ImageSet

    return ImageSet.from_arrays(x, ["a", "b", "a", "b"])


def _load_tax(path):
    from taxoclass.taxonomy import load_taxonomy

    return load_taxonomy(path)


def _cluster(m):
    from taxoclass.clustering import cluster_confusion

    return cluster_confusion(m, 0.05)


def _table(table, root):
    from taxoclass.data import ImageSet

    return ImageSet.from_table(table, root)


@pytest.mark.parametrize("case, call, exc_type", API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_api_input_raises_the_documented_error(case, call, exc_type, fx, work):
    before = snapshot(work)
    with pytest.raises(exc_type) as info:
        call(fx, work)
    assert "\n" not in str(info.value).strip()
    assert snapshot(work) == before


def test_the_suite_covers_at_least_60_bad_inputs():
    assert len(CLI_CASES) + len(API_CASES) >= 60


# ---------------------------------------------------------------------------------------------------- real processes
@pytest.mark.parametrize("line", ["taxonomy validate {F}/deep.json", "data inspect {F}/imgs --top -1",
                                  "cluster-confusion {F}/complex.npy"])
def test_no_traceback_reaches_the_terminal(line, fx):
    argv = [_sub(a, fx, fx) for a in line.split()]
    res = subprocess.run([sys.executable, "-m", "taxoclass.cli.main", *argv], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
