"""Output folders and files (taxoclass._files): staged --overwrite, rollback, locks, stale leftovers, kill -9 during
the swap, disk full, and names that are not UTF-8 end to end."""

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from taxoclass._files import OutputError, atomic_write, prepare_output_dir, prepare_output_file, temp_dir
from taxoclass.cli.main import main

TINY = ["--image-size", "8", "--epochs", "1", "--block-filters", "4", "--head-units", "4", "--batch-size", "8"]
HOLD = ("import sys, time\nfrom taxoclass._files import prepare_output_dir\n"
        "with prepare_output_dir(sys.argv[1], overwrite=True) as out:\n"
        "    (out.path / 'new.txt').write_text('new')\n    print('held', flush=True)\n    time.sleep(60)\n")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _old_run(target: Path) -> None:
    target.mkdir()
    (target / "old.txt").write_text("old")


def test_a_failed_block_leaves_the_location_as_it_was(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with prepare_output_dir(target) as out:
            (out.path / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert _names(tmp_path) == []
    _old_run(target)
    with pytest.raises(RuntimeError):
        with prepare_output_dir(target, overwrite=True) as out:
            (out.path / "new.txt").write_text("x")
            assert (target / "old.txt").read_text() == "old"  # the old result stays until the new one is complete
            raise RuntimeError("boom")
    assert _names(tmp_path) == ["out"] and _names(target) == ["old.txt"]


def test_overwrite_swaps_in_the_complete_new_result(tmp_path):
    target = tmp_path / "out"
    _old_run(target)
    with pytest.raises(OutputError, match="already holds files"):
        prepare_output_dir(target)
    with prepare_output_dir(target, overwrite=True) as out:
        assert out.path != target and out.path.parent == tmp_path
        (out.path / "new.txt").write_text("new")
    assert _names(tmp_path) == ["out"] and _names(target) == ["new.txt"]


def test_stale_parts_are_removed_and_a_half_swapped_old_result_is_restored(tmp_path):
    target = tmp_path / "p.csv"
    (tmp_path / ".p.csv.abc123.part").write_text("complete but never renamed")
    (tmp_path / ".other.csv.x.part").write_text("not ours")
    with prepare_output_file(target) as out, atomic_write(out.path) as fh:
        fh.write("file\n")
    assert _names(tmp_path) == [".other.csv.x.part", "p.csv"]
    # a kill between the two renames of the fallback swap: the old result sits aside, nothing at the target
    run = tmp_path / "run"
    aside = tmp_path / ".run.k1.old.part"
    aside.mkdir()
    (aside / "model.taxoclass").write_text("old")
    staged = tmp_path / ".run.k2.part"
    staged.mkdir()
    with prepare_output_dir(run, overwrite=True) as out:
        assert (run / "model.taxoclass").read_text() == "old"  # restored on entry
        (out.path / "model.taxoclass").write_text("new")
    assert not aside.exists() and not staged.exists() and (run / "model.taxoclass").read_text() == "new"


def test_a_locked_output_is_refused_naming_the_process(tmp_path):
    target = tmp_path / "run"
    _old_run(target)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputError, match=f"in use by another taxoclass command \\(pid {holder.pid} "):
            with prepare_output_dir(target, overwrite=True):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert _names(target) == ["old.txt"]  # killed before its swap: the old result is intact
    assert any(p.name.endswith(".part") for p in tmp_path.iterdir())  # its staging folder is left ...
    with prepare_output_dir(target, overwrite=True) as out:
        (out.path / "again.txt").write_text("x")
    assert _names(tmp_path) == ["run"]  # ... and removed (with the stale lock file) by the next command


@pytest.mark.parametrize("fallback", [False, True], ids=["atomic-exchange", "two-renames"])
def test_kill_9_during_the_swap_leaves_the_old_or_the_new_result(tmp_path, fallback):
    target = tmp_path / "run"
    _old_run(target)
    env = dict(os.environ, TAXOCLASS_TEST_SWAP_PAUSE="2")
    if fallback:
        env["TAXOCLASS_TEST_SWAP_FALLBACK"] = "1"
    script = HOLD.replace("time.sleep(60)", "pass")
    for pauses in (1, 2):  # killed at the first pause (before the swap) and at the second (inside it)
        p = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(pauses):
            assert p.stderr.readline().strip() == "[taxoclass-test] swap"
        p.send_signal(signal.SIGKILL)
        p.wait()
        with prepare_output_dir(target, overwrite=True) as out:  # the next command repairs and cleans up
            seen = {n: (target / n).read_text() for n in _names(target)}
            assert seen in ({"old.txt": "old"}, {"new.txt": "new"}), seen
            for n, text in seen.items():
                (out.path / n).write_text(text)
        assert _names(tmp_path) == ["run"]


def test_disk_full_is_one_line_and_keeps_the_old_file(tmp_path, capsys):
    import numpy as np

    cm = tmp_path / "cm.npy"
    np.save(cm, np.eye(20) * 5 + 1)
    out = tmp_path / "tree.json"
    out.write_text("old")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, hard))  # writes beyond 200 bytes fail (EFBIG)
    try:
        rc = main(["cluster-confusion", str(cm), "--beta", "0.05", "--levels", "all", "-o", str(out),
                   "--overwrite"])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert f"cannot write {out}: the file is larger than the system allows" in err and ".part" not in err
    assert out.read_text() == "old" and _names(tmp_path) == ["cm.npy", "tree.json"]


def test_temp_folders_of_dead_processes_are_removed():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = Path(tempfile.gettempdir()) / f"taxoclass-{dead}-zz"
    stale.mkdir(exist_ok=True)
    (stale / "model.keras").write_bytes(b"x")
    with temp_dir() as tmp:
        assert tmp.is_dir() and not stale.exists()
    assert not tmp.exists()


# ---------------------------------------------------------------------------------------------------- end to end
BAD_NAME = b"bad\xff\xfename.png"


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory):
    """Two classes whose file names are not UTF-8 or not ASCII."""
    root = tmp_path_factory.mktemp("odd") / "imgs"
    rng = np.random.default_rng(1)
    for k, cls in enumerate(("algae", "copépode")):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (9, 9), dtype=np.uint8) // (k + 1)).save(
                root / cls / f"ünï{i}.png")
    data = (root / "algae" / "0.png")
    Image.fromarray(rng.integers(0, 255, (9, 9), dtype=np.uint8)).save(data)
    os.rename(os.fsencode(data), os.fsencode(root / "algae") + b"/" + BAD_NAME)
    return root


def _train_cmd(images, run):
    return ["train", str(images), "--model", "flat", "--backbone", "small_cnn", *TINY, "-o", str(run)]


@pytest.fixture(scope="module")
def flat_run(odd_images, tmp_path_factory):
    run = tmp_path_factory.mktemp("flat") / "run"
    assert main(_train_cmd(odd_images, run)) == 0
    return run


def _copy_run(flat_run, tmp_path):
    import shutil

    return Path(shutil.copytree(flat_run, tmp_path / "run"))


def test_non_utf8_and_unicode_names_work_end_to_end(odd_images, flat_run, tmp_path, capsys):
    run = flat_run
    assert os.fsdecode(BAD_NAME) in (run / "manifest.csv").read_bytes().decode("utf-8", "surrogateescape")
    out = tmp_path / "p.csv"
    assert main(["predict", str(run / "model.taxoclass"), "--dir", str(odd_images), "-o", str(out)]) == 0
    rows = out.read_bytes().decode("utf-8", "surrogateescape").splitlines()
    assert len(rows) == 12 and any(os.fsdecode(BAD_NAME) in r for r in rows)
    # a plain one-column list of paths, with the header `file`
    listing = tmp_path / "list.csv"
    listing.write_text("file\n" + "".join(f"{p}\n" for p in sorted((odd_images / "copépode").iterdir())))
    out2 = tmp_path / "p2.csv"
    assert main(["predict", str(run / "model.taxoclass"), "--csv", str(listing), "-o", str(out2)]) == 0
    assert len(out2.read_text().splitlines()) == 6
    capsys.readouterr()


def test_resume_continues_the_same_run_and_overwrite_replaces_it(odd_images, flat_run, tmp_path, capsys):
    run = _copy_run(flat_run, tmp_path)
    cmd = _train_cmd(odd_images, run)
    (run / "model.taxoclass").unlink()  # as if killed before the end (the run is unfinished)
    assert main(cmd) == 0  # the same command continues it
    assert "unfinished run" in capsys.readouterr().err and (run / "model.taxoclass").is_file()
    first = (run / "model.taxoclass").read_bytes()
    assert main([*cmd[:-2], "--epochs", "2", "-o", str(run), "--overwrite"]) == 0
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    assert (run / "model.taxoclass").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging folder, no lock file left


def test_kill_9_during_the_swap_of_a_real_overwrite(odd_images, flat_run, tmp_path):
    run = _copy_run(flat_run, tmp_path)
    cmd = _train_cmd(odd_images, run)
    old = (run / "model.taxoclass").read_bytes()
    env = dict(os.environ, TAXOCLASS_TEST_SWAP_PAUSE="60", TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.Popen([sys.executable, "-m", "taxoclass.cli.main", *cmd[:-2], "--epochs", "2", "-o", str(run),
                          "--overwrite"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in p.stderr:  # progress lines, then the test hook's marker
            if line.strip() == "[taxoclass-test] swap":
                break
        else:
            pytest.fail("the command ended before its swap")
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    assert (run / "model.taxoclass").read_bytes() == old  # killed before the exchange: the old run, complete
    assert json.loads((run / "config.json").read_text())["epochs"] == 1
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "run"]
    assert leftovers and all(n.startswith(".run.") for n in leftovers)
    from taxoclass.models.base import BaseClassifier

    assert BaseClassifier.load(run / "model.taxoclass").taxonomy_.n_classes == 2
