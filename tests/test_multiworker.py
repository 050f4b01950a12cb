"""--strategy multiworker: Keras 3 cannot train under MultiWorkerMirroredStrategy (keras-team/keras#20585; the
two-worker reproduction is benchmarks/multiworker.py), so taxoclass refuses it with one clear message before
anything is read or written. When a Keras release fixes it, the first test fails: lift the guard in
taxoclass/training.py and turn this file into the two-worker test."""

import pytest

keras = pytest.importorskip("keras")

from taxoclass.cli.main import main  # noqa: E402
from taxoclass.exceptions import ModelError  # noqa: E402
from taxoclass.training import get_strategy  # noqa: E402


def test_multiworker_is_refused_with_the_reason_on_keras_3():
    assert int(keras.__version__.split(".")[0]) >= 3
    with pytest.raises(ModelError, match=r"keras-team/keras#20585.*--strategy auto"):
        get_strategy("multiworker")


def test_train_refuses_multiworker_before_reading_or_writing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "no_such_images"), "--strategy", "multiworker", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "multiworker" in err and "keras-team/keras#20585" in err and "Traceback" not in err
    assert not out.exists()
