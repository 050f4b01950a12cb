"""A non-editable install works (issue 11, defect 4): the wheel holds every package and the shipped taxonomies, and
an installed taxoclass loads them from any folder (package data read with importlib.resources)."""

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_package_is_listed_in_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.relative_to(ROOT).parts[:-1]) for p in (ROOT / "taxoclass").rglob("__init__.py")}
    assert found | {"taxoclass.taxonomies"} == listed


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A wheel built from this tree, installed (no dependencies) in a fresh venv that borrows the test venv's
    third-party packages through a .pth line (so TensorFlow is not downloaded again)."""
    tmp = tmp_path_factory.mktemp("pkg")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp / "dist"), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp / "dist").glob("taxoclass-*.whl"))
    venv = tmp / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # plain path line: the test venv's packages are importable, its .pth files (the editable taxoclass) are not run
    Path(site, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                           "--no-index", str(wheel)], capture_output=True, text=True)
    assert inst.returncode == 0, inst.stderr[-2000:]
    return wheel, venv


def test_the_wheel_holds_the_shipped_taxonomies(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in (ROOT / "taxonomies").glob("*.tsv"):
        assert f"taxoclass/taxonomies/{f.name}" in names


def test_an_installed_taxoclass_loads_shipped_taxonomies_from_any_folder(installed, tmp_path):
    _, venv = installed
    cifar = tmp_path / "cifar10"
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for c in classes:
        (cifar / "train" / c).mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(cifar / "train" / c / "0.png")
    code = ("import taxoclass, sys; from taxoclass import load_dataset, load_taxonomy; "
            "ds = load_dataset('cifar10', sys.argv[1]); "
            "print(taxoclass.__file__); print(ds.taxonomy.n_classes, ds.taxonomy.lca('cat', 'dog')[-1]); "
            "print(load_taxonomy('taxonomies/ndsb_plankton.tsv').n_classes)")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    run = subprocess.run([str(venv / "bin" / "python"), "-c", code, str(cifar)], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    where, cifar_line, ndsb = run.stdout.split("\n")[:3]
    assert where.startswith(str(venv)), where  # the installed copy, not this source tree
    assert cifar_line.split()[0] == "10" and int(ndsb) == 121
    cli = subprocess.run([str(venv / "bin" / "taxoclass"), "taxonomy", "show", "taxonomies/cifar10.tsv"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "airplane" in cli.stdout
