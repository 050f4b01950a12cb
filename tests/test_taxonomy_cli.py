"""`taxoclass taxonomy show | validate | convert`: output, exit codes, one-line errors, no TensorFlow."""

import subprocess
import sys
from pathlib import Path

import pytest

from taxoclass.cli.main import main
from taxoclass.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parents[1]
NDSB = REPO / "taxonomies" / "ndsb_plankton.tsv"


def run(capsys, *argv):
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse errors and --help
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_show_ndsb_121_leaves_under_one_root(capsys):
    rc, out, err = run(capsys, "taxonomy", "show", str(NDSB))
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"{NDSB}: 121 classes, 163 nodes, depth 6")
    assert lines[1] == "root  (121 classes, height 6)"
    assert lines[2] == "  plankton  (119 classes, height 5)"
    assert sum(1 for ln in lines[1:] if ln.startswith("  ") and not ln.startswith("   ")) == 2  # two tops
    tax = load_taxonomy(NDSB)
    drawn = {ln.strip() for ln in lines[1:]}
    assert set(tax.classes) <= drawn  # every leaf is drawn
    rc, out2, _ = run(capsys, "taxonomy", "show", str(NDSB), "--max-depth", "2")
    assert rc == 0 and "    protists  (10 classes below)" in out2 and "acantharia_protist" not in out2


def test_validate_summary_and_classes(capsys, tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(load_taxonomy(NDSB).classes) + "\n")
    rc, out, err = run(capsys, "taxonomy", "validate", str(NDSB), "--classes", str(classes))
    assert rc == 0 and err == ""
    assert "classes:          121" in out and "nodes:            163" in out and "depth:            6" in out
    assert "classifier nodes: 42" in out and "matches (121 classes)" in out
    classes.write_text("artifacts\nnot_a_class\n")
    rc, out, err = run(capsys, "taxonomy", "validate", str(NDSB), "--classes", str(classes))
    assert rc == 2 and out == ""
    assert err.startswith("taxoclass: error: 1 class(es) in ") and err.count("\n") == 1
    assert "not_a_class" in err and "120 class(es) in" in err and "acantharia_protist" in err
    assert "... (120 in all)" in err and len(err.replace(str(tmp_path), "")) < 600  # a few names + the count


def test_reader_options_on_the_command_line(capsys, tmp_path):
    p = tmp_path / "fashion.tsv"
    p.write_text("class\tgroup\tsupergroup\tlineage\nT-shirt/top\tTops\tClothing\tClothing/Tops/T-shirt/top\n"
                 "Sandal\tFootwear\tFootwear\tFootwear/Sandal\n")
    rc, out, err = run(capsys, "taxonomy", "validate", str(p))
    assert rc == 2 and "--levels supergroup,group,class" in err and err.count("\n") == 1
    rc, out, err = run(capsys, "taxonomy", "show", str(p), "--levels", "supergroup,group,class")
    assert rc == 0 and "      T-shirt/top" in out.splitlines()
    q = tmp_path / "tree.dat"
    q.write_text("(a,b)r;")
    rc, out, err = run(capsys, "taxonomy", "show", str(q))
    assert rc == 2 and "cannot tell the taxonomy format from the extension '.dat'" in err
    rc, out, err = run(capsys, "taxonomy", "show", str(q), "--from", "newick")
    assert rc == 0 and out.splitlines()[1:] == ["r  (2 classes, height 1)", "  a", "  b"]


@pytest.mark.parametrize("to,ext", [("json", "json"), ("yaml", "yaml"), ("tsv", "tsv"), ("newick", "nwk")])
def test_convert_round_trips(capsys, tmp_path, to, ext):
    out_file = tmp_path / f"ndsb.{ext}"
    rc, out, err = run(capsys, "taxonomy", "convert", str(NDSB), "--to", to, "-o", str(out_file))
    assert rc == 0 and f"wrote {out_file}" in out
    orig = load_taxonomy(NDSB)
    back = load_taxonomy(out_file)
    assert back == orig.with_class_order(back.classes)


def test_convert_never_leaves_partial_or_overwritten_output(capsys, tmp_path):
    out_file = tmp_path / "out.json"
    out_file.write_text("precious")
    rc, out, err = run(capsys, "taxonomy", "convert", str(NDSB), "--to", "json", "-o", str(out_file))
    assert rc == 2 and "already exists" in err and "--overwrite" in err and out_file.read_text() == "precious"
    rc, out, err = run(capsys, "taxonomy", "convert", str(NDSB), "--to", "json", "-o", str(out_file), "--overwrite")
    assert rc == 0 and load_taxonomy(out_file).n_classes == 121
    bad = tmp_path / "bad.txt"
    bad.write_text("a\tb\nb\tc\nc\ta\n")
    target = tmp_path / "never.json"
    rc, out, err = run(capsys, "taxonomy", "convert", str(bad), "--to", "json", "-o", str(target))
    assert rc == 2 and "cycle a -> b -> c -> a" in err and err.count("\n") == 1
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "out.json"]
    rc, out, err = run(capsys, "taxonomy", "convert", str(NDSB), "--to", "json", "-o",
                       str(tmp_path / "no_dir" / "x.json"))
    assert rc == 2 and "does not exist" in err


@pytest.mark.parametrize("content,fragment", [
    ("", "the file is empty"),
    ("class\tlineage\ncat\tanimal/cat\ndog\tanimal\textra\n", "line 3: malformed line"),
    ("parent\tchild\na\tc\nb\tc\n", "line 3: node 'c' has two parents"),
    ("class\tlineage\ncat\ta/cat\ncat\ta/cat\n", "is listed twice (line 2 and line 3)"),
])
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, content, fragment):
    p = tmp_path / "t.tsv"
    p.write_text(content)
    rc, out, err = run(capsys, "taxonomy", "validate", str(p))
    assert rc == 2 and out == ""
    assert err.startswith("taxoclass: error: ") and fragment in err and str(p) in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_usage_errors_and_help(capsys):
    rc, out, err = run(capsys, "taxonomy", "show", str(NDSB), "--max-depth", "-1")
    assert rc == 2 and "--max-depth must be 0 or more" in err
    rc, out, err = run(capsys, "taxonomy", "convert", str(NDSB), "--to", "xml", "-o", "x")
    assert rc == 2 and "invalid choice: 'xml'" in err
    rc, out, err = run(capsys, "taxonomy", "show", "/nonexistent/t.tsv")
    assert rc == 2 and "no such file" in err
    for argv in (["taxonomy", "--help"], ["taxonomy", "show", "--help"], ["taxonomy", "validate", "--help"],
                 ["taxonomy", "convert", "--help"]):
        rc, out, err = run(capsys, *argv)
        assert rc == 0 and "usage: taxoclass taxonomy" in out


def test_taxonomy_commands_do_not_import_tensorflow(tmp_path):
    code = ("import sys\nfrom taxoclass.cli.main import main\n"
            f"rc = main(['taxonomy', 'validate', {str(NDSB)!r}])\n"
            f"rc += main(['taxonomy', 'convert', {str(NDSB)!r}, '--to', 'newick', '-o', {str(tmp_path / 'x.nwk')!r}])\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax', 'torch'))\n"
            "print('RC', rc, 'HEAVY', heavy)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "RC 0 HEAVY []" in res.stdout
