"""``tune``: an Optuna study over ``train_job`` configurations (TPE sampler, median or Hyperband pruning, an SQLite
or any SQLAlchemy database as storage, so that several processes or machines work on one study).

A study folder holds ``tune.json`` (the search's options), ``manifest.csv`` (the one split of every trial),
``study.db`` (the default storage), ``trials/NNNN/`` (one ``train`` run folder per trial) and, after every run,
``trials.csv``, ``best_config.json``, ``search.png`` (and ``pareto.csv`` with a cost, ``refit/`` with refit).
Running the same command again continues the study (a trial killed with its process is retried in its folder);
another process may run the same command at the same time and contribute trials.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Callable

from taxoclass.exceptions import TaxoclassError
from taxoclass.tuning.space import COSTS, MINIMIZED, OBJECTIVES, TREE_MODELS, SearchSpace

__all__ = ["tune", "check_tune_options", "PRUNERS", "TUNE_FILE", "default_storage"]

PRUNERS = ("median", "hyperband", "none")
TUNE_FILE = "tune.json"
STUDY_DB = "study.db"
MAX_RETRIES = 2  # a trial whose process died is retried at most this often (a config that kills it is not)


def _noop(_msg: str) -> None:
    pass


def default_storage(folder) -> str:
    """The SQLite URL of a study folder's own database.

    >>> default_storage("/tmp/search")
    'sqlite:////tmp/search/study.db'
    """
    return f"sqlite:///{Path(folder).resolve() / STUDY_DB}"


def check_tune_options(*, models=("flat", "tree"), error_tree: bool = False, trials=20, time_budget=None,
                       epochs=10, trial_budget=None, batch_size=32, channels=3, objective="accuracy", cost=None,
                       fix=None, space=None, pruner=None, startup_trials=5, storage=None, study_name="taxoclass",
                       val_size=0.1, test_size=0.1, seed=0) -> SearchSpace:
    """Every option of :func:`tune` that can be checked without the images; returns the search space.

    >>> check_tune_options(models=("flat",), fix=["learning_rate=0.01"]).knobs["learning_rate"].fixed
    0.01
    """
    from taxoclass._checks import check_choice, check_float, check_int, check_training

    try:
        import optuna  # noqa: F401
    except ImportError:
        raise TaxoclassError("taxoclass tune needs Optuna, an optional dependency: pip install 'taxoclass[tune]' "
                             "(or pip install optuna).") from None
    sp = SearchSpace(models, error_tree=error_tree, fix=fix, space=space)
    check_int("trials", trials, lo=1, hint=" (finished trials the study should hold)")
    check_float("time_budget", time_budget, lo=0, lo_open=True, none=True, hint=" minutes for the whole search")
    check_float("trial_budget", trial_budget, lo=0, lo_open=True, none=True, hint=" minutes of training per trial")
    check_choice("objective", objective, OBJECTIVES)
    if cost is not None:
        check_choice("cost", cost, COSTS)
    if pruner is not None:
        check_choice("pruner", pruner, PRUNERS)
    if cost is not None and pruner not in (None, "none"):
        raise TaxoclassError(f"--pruner {pruner} needs a single objective; an accuracy-vs-cost search (--cost "
                             f"{cost}) cannot prune (drop --pruner or --cost).")
    check_int("startup_trials", startup_trials, lo=0, hint=" (random trials before TPE)")
    if not isinstance(study_name, str) or not study_name.strip():
        raise TaxoclassError(f"study_name={study_name!r} is not valid; expected a non-empty name.")
    if storage is not None:
        _check_url(storage)
    check_training(model="flat", backbone="small_cnn", image_size=64, channels=channels, batch_size=batch_size,
                   epochs=epochs, val_size=val_size, test_size=test_size, seed=seed)
    if not val_size > 0:
        raise TaxoclassError("val_size=0 leaves no validation images to score the trials on; expected e.g. 0.1.")
    return sp


def _check_url(url) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(str(url))
    except ArgumentError:
        raise TaxoclassError(f"--storage {url!r} is not a database URL; expected e.g. sqlite:///study.db or "
                             "postgresql://user:password@host/dbname.") from None


def _is_study_folder(folder: Path) -> bool:
    return (Path(folder) / TUNE_FILE).is_file()


def _tune_lock_path(out: Path) -> Path:
    return Path(out).parent / f".{Path(out).name}.tune.lock"


def may_be_study_folder(folder: Path) -> bool:
    """For an early check before the images are read: a study folder, or one that another tune process is setting
    up right now (its lock file exists; the folder is checked again under that lock)."""
    return _is_study_folder(folder) or _tune_lock_path(folder).exists()


def _differences(old: dict, new: dict) -> list[str]:
    keys = list(dict.fromkeys([*new, *old]))
    return [f"{k}: {old.get(k, '(not recorded)')!r} -> {new.get(k, '(not recorded)')!r}" for k in keys
            if json.loads(json.dumps(old.get(k))) != json.loads(json.dumps(new.get(k)))]


def _pin_class_only_knobs(sp, data, taxonomy, progress) -> None:
    """Fix the knobs the data leave no choice for: the flat losses that use the taxonomy need one (and a class
    for every image), the lineage class layer needs one too, class weights need a class for every image (see
    :func:`taxoclass.taxonomy.internal_labels.check_internal_options`)."""
    from taxoclass.taxonomy.internal_labels import internal_label_count

    pins = []
    n = internal_label_count(data) if hasattr(data, "labels") else 0
    if n:
        why = f"{n} image(s) are labelled at an internal node, which has no class"
        pins += [("loss", "crossentropy", why), ("class_weight", "none", why)]
    elif taxonomy is None:
        pins.append(("loss", "crossentropy", "hxe and soft_labels need a taxonomy (--taxonomy FILE)"))
    if taxonomy is None:
        pins.append(("class_layer", "dense", "the lineage class layer needs a taxonomy (--taxonomy FILE)"))
    for name, value, why in pins:
        if "flat" in sp.models or name not in ("loss", "class_layer"):  # the flat model's knobs
            if sp.pin(name, value, why):
                progress(f"{name} fixed to {value}: {why}")


def tune(data, out_dir, *, models=("flat", "tree"), taxonomy=None, confusion=None, confusion_classes=None,
         trials: int = 20, time_budget: float | None = None, epochs: int = 10, trial_budget: float | None = None,
         batch_size: int = 32, channels: int = 3, pad_value: float | None = None, invert: bool = False,
         objective: str = "accuracy", cost: str | None = None, fix=None, space=None, pruner: str | None = None,
         startup_trials: int = 5, storage: str | None = None, study_name: str = "taxoclass", refit: bool = False,
         val_size: float = 0.1, test_size: float = 0.1, seed: int = 0, overwrite: bool = False,
         progress: Callable[[str], None] = _noop) -> dict:
    """Search ``train_job`` configurations of the ``models`` (``flat``, ``tree``, ``combined``: the tree with a flat
    head on its trunk) on ``data`` with Optuna.

    - ``taxonomy`` (or the data's own) is the tree model's tree, or ``confusion`` (with ``confusion_classes``)
      builds an error-based tree per trial (its ``beta`` and ``max_cluster_size`` are then searched);
    - ``trials``: finished trials the study should hold (a rerun or a second process only adds the missing ones);
      ``time_budget``: minutes for this run of the search (a trial still training then is stopped and counted as
      pruned); ``epochs`` / ``trial_budget`` (minutes): each trial's training;
    - ``objective``: ``accuracy`` (validation top-1), ``hf1``, ``balanced_accuracy`` or ``severity``, on the
      validation split; ``cost="seconds"`` or ``"params"`` makes it an accuracy-vs-cost search (Pareto front);
    - ``fix`` / ``space``: fix or narrow knobs (``["learning_rate=0.002"]``, ``{"image_size": [48, 64]}``, see
      :mod:`taxoclass.tuning.space`); ``pruner``: ``median`` (default), ``hyperband`` or ``none``;
      ``startup_trials``: random trials before TPE (and finished trials before the median pruner acts);
    - ``storage``: an SQLAlchemy URL shared by several processes (default ``sqlite:///OUT/study.db``);
    - ``refit=True``: train the best configuration again on train+val into ``OUT/refit``.

    Returns a dict: ``best`` (trial number, value, train_job arguments), ``pareto`` (with a cost), ``n_trials``
    (finished trials in the study), ``files``.

    >>> from taxoclass.datasets import load_dataset                                          # doctest: +SKIP
    >>> tune(load_dataset("digits"), "search", models=["flat"], trials=10, epochs=3)          # doctest: +SKIP
    """
    from taxoclass._files import prepare_output_dir

    if confusion is not None and taxonomy is not None:
        raise TaxoclassError("give a taxonomy or a confusion matrix for the tree, not both.")
    models = [models] if isinstance(models, str) else list(models)
    sp = check_tune_options(models=models, error_tree=confusion is not None, trials=trials, time_budget=time_budget,
                            epochs=epochs, trial_budget=trial_budget, batch_size=batch_size, channels=channels,
                            objective=objective, cost=cost, fix=fix, space=space, pruner=pruner,
                            startup_trials=startup_trials, storage=storage, study_name=study_name,
                            val_size=val_size, test_size=test_size, seed=seed)
    reference = taxonomy if taxonomy is not None else getattr(data, "taxonomy", None)
    needs_tree = [m for m in models if m in TREE_MODELS]
    if needs_tree and reference is None and confusion is None:
        raise TaxoclassError(f"the {needs_tree[0]} model needs a taxonomy: pass --taxonomy FILE, --from-confusion CM, "
                             "or search --models flat only.")
    if objective in ("hf1", "severity") and reference is None:
        raise TaxoclassError(f"--objective {objective} is measured on a taxonomy: pass --taxonomy FILE (the tree "
                             "every trial is scored on) or use accuracy / balanced_accuracy.")
    if reference is not None:
        reference.check_classes(data.classes, source=getattr(data, "source", "the data"))
    _pin_class_only_knobs(sp, data, reference if confusion is None else None, progress)
    base = {"epochs": int(epochs), "batch_size": int(batch_size), "channels": int(channels), "invert": bool(invert),
            "time_budget": trial_budget, "val_size": float(val_size), "test_size": float(test_size),
            "seed": int(seed), **({} if pad_value is None else {"pad_value": float(pad_value)})}
    settings = {"data": getattr(data, "source", "images"), "n_images": len(data), "classes": list(data.classes),
                "models": models, "tree": None if reference is None or confusion is not None else
                [reference.lineage(c) for c in reference.classes], "from_confusion": confusion is not None,
                "objective": objective, "cost": cost, "space": sp.describe(),
                "pruner": pruner or ("median" if cost is None else "none"),
                "startup_trials": int(startup_trials), "study_name": study_name, "storage": storage, **base}
    out = Path(out_dir)
    if not out.parent.is_dir():
        raise TaxoclassError(f"cannot create {out}: its folder {out.parent} does not exist; create it first.")
    tree_args = {"confusion": confusion, "confusion_classes": confusion_classes} if confusion is not None else {}
    if taxonomy is not None:
        tree_args = {"taxonomy": taxonomy}
    run = _Run(data, sp, base, tree_args, settings, reference, objective=objective, cost=cost, pruner=pruner,
               startup_trials=startup_trials, storage=storage, study_name=study_name, trials=trials,
               time_budget=time_budget, refit=refit, progress=progress)
    with _TuneLock(out):  # several tune processes on one folder wait for each other's set-up, not fail
        # checked under the lock: another process setting the folder up has written some files but not yet the
        # tune.json that makes it a study (checked outside, this process would refuse a folder "holding files")
        claim = prepare_output_dir(out, overwrite=overwrite, resumable=None if overwrite else _is_study_folder)
        _check_same_study(out, settings, overwrite=overwrite)
        if overwrite:  # the new search is staged beside the old one and replaces it only once complete
            run.overwrite = True
            with claim as o:
                return run.all(o.path, final=out)
        with claim as o:  # new or continued: written in place, the folder's lock held only while it is set up
            run.setup(o.path)
    run.search(out)
    with _TuneLock(out), prepare_output_dir(out, resumable=_is_study_folder) as o:
        return run.finish(o.path, final=out)


def _check_same_study(out: Path, settings: dict, *, overwrite: bool) -> None:
    """A folder holding a study of other options is refused (naming what differs) unless ``overwrite``."""
    if overwrite or not _is_study_folder(out):
        return
    try:
        old = json.loads((out / TUNE_FILE).read_text(encoding="utf-8")).get("settings", {})
    except (OSError, ValueError, AttributeError):
        raise TaxoclassError(f"{out / TUNE_FILE} cannot be read; pass --overwrite to start a new search in {out}.") \
            from None
    diff = _differences(old, settings)
    if diff:
        raise TaxoclassError(f"{out} holds a study with other options ({'; '.join(diff[:6])}); run the same command "
                             "again to continue it, or pass --overwrite to start a new search there.")


class _TuneLock:
    """A lock beside the study folder (``.NAME.tune.lock``) that tune processes wait for (up to 10 minutes) while
    one of them sets the folder up or writes the results; the folder's own lock refuses at once instead."""

    def __init__(self, out: Path):
        from filelock import FileLock

        self._lock = FileLock(str(_tune_lock_path(out)), timeout=600)

    def __enter__(self):
        from filelock import Timeout

        from taxoclass._files import OutputError, os_error_message

        try:
            self._lock.acquire()
        except Timeout:
            raise TaxoclassError(f"another taxoclass tune has been setting up {self._lock.lock_file} for 10 "
                                 "minutes; check that it is not stuck.") from None
        except OSError as exc:  # a folder that cannot be written in
            raise OutputError(os_error_message(exc, Path(self._lock.lock_file).parent)) from None
        return self

    def __exit__(self, *exc):
        with contextlib.suppress(OSError):
            os.unlink(self._lock.lock_file)  # while held: waiters notice the unlinked file and retry (filelock >= 4)
        self._lock.release()
        return False


class _Run:
    """The phases of one ``tune`` call: set up the folder and study, search, write the results (and refit)."""

    def __init__(self, data, space, base, tree_args, settings, reference, *, objective, cost, pruner,
                 startup_trials, storage, study_name, trials, time_budget, refit, progress):
        self.data, self.space, self.base, self.tree_args = data, space, base, tree_args
        self.settings, self.reference = settings, reference
        self.objective, self.cost, self.pruner = objective, cost, pruner or ("median" if cost is None else "none")
        self.startup_trials, self.storage_url, self.study_name = int(startup_trials), storage, study_name
        self.trials, self.time_budget, self.refit, self.progress = int(trials), time_budget, refit, progress
        self.created, self.overwrite = False, False

    def all(self, folder: Path, final: Path) -> dict:
        self.setup(folder)
        self.search(folder)
        return self.finish(folder, final=final)

    def setup(self, folder: Path) -> None:
        from taxoclass._json import write_json
        from taxoclass.data import split, write_manifest

        if not (folder / "manifest.csv").is_file():
            man = split(self.data, val_size=self.base["val_size"], test_size=self.base["test_size"],
                        seed=self.base["seed"])
            write_manifest(man, folder / "manifest.csv", overwrite=True)
        self.open_study(folder)
        if not (folder / TUNE_FILE).is_file():  # last: a folder without it is not a study (and is removed on error)
            write_json(folder / TUNE_FILE, {"settings": self.settings, "created": time.strftime("%Y-%m-%d %H:%M:%S")})

    def open_study(self, folder: Path):
        import optuna

        url = self.storage_url or default_storage(folder)
        kwargs = {"heartbeat_interval": 60, "grace_period": 180}
        name = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in
                inspect.signature(optuna.storages.RDBStorage).parameters else "failed_trial_callback")
        kwargs[name] = _retry
        engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna's words, stable since 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)
        except Exception as exc:  # sqlalchemy's OperationalError, ImportError of a missing driver, ...
            raise TaxoclassError(f"cannot open the study storage {url}: {str(exc).splitlines()[0]}; check the URL "
                                 "and that the database server is reachable.") from None
        directions = (["minimize" if self.objective in MINIMIZED else "maximize"]
                      + (["minimize"] if self.cost else []))
        try:
            optuna.create_study(storage=storage, study_name=self.study_name, directions=directions)
            self.created = True
        except optuna.exceptions.DuplicatedStudyError:
            if self.overwrite:  # a new search cannot start in a shared database that holds the old one
                raise TaxoclassError(f"--overwrite starts a new search, but {url} already holds the study "
                                     f"{self.study_name!r}; choose another --study-name.") from None
        # the process that created the study samples with `seed`; any other one (a rerun, a second worker) with
        # another seed, so that two workers never draw the same random start-up trials
        seed = self.base["seed"] if self.created else (self.base["seed"] * 7919 + os.getpid() + int(time.time()))
        sampler = optuna.samplers.TPESampler(n_startup_trials=self.startup_trials, seed=seed % 2**32,
                                             constant_liar=True)
        if self.pruner == "median":
            pruner = optuna.pruners.MedianPruner(n_startup_trials=max(self.startup_trials, 1))
        elif self.pruner == "hyperband":
            pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=self.base["epochs"])
        else:
            pruner = optuna.pruners.NopPruner()
        self.storage = storage
        self.study = optuna.load_study(study_name=self.study_name, storage=storage, sampler=sampler, pruner=pruner)
        if [d.name.lower() for d in self.study.directions] != directions:
            raise TaxoclassError(f"the study {self.study_name!r} in {url} optimises {self.study.directions}, not "
                                 f"{directions}; choose another --study-name.")
        return self.study

    def finished(self) -> int:
        from optuna.trial import TrialState

        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))

    def search(self, folder: Path) -> None:
        import optuna
        from optuna.trial import TrialState

        from taxoclass.tuning.objective import TrialObjective

        if not hasattr(self, "study"):
            self.open_study(folder)
        _fail_dead_local_trials(self.study, self.storage, self.study_name)
        left = self.trials - self.finished()
        if left <= 0:
            self.progress(f"the study already holds {self.finished()} finished trials (--trials {self.trials})")
            return
        deadline = None if self.time_budget is None else time.time() + 60.0 * self.time_budget
        objective = TrialObjective(self.data, folder / "manifest.csv", self.space, {**self.base, **self.tree_args},
                                   folder / "trials", objective=self.objective, reference=self.reference,
                                   cost=self.cost, deadline=deadline, progress=self.progress)
        self.progress(f"searching: {left} more trial(s)" + (f" within {self.time_budget} min" if deadline else ""))
        self.study.optimize(objective, n_trials=left, timeout=None if deadline is None else 60.0 * self.time_budget,
                            catch=(TaxoclassError,),
                            callbacks=[optuna.study.MaxTrialsCallback(self.trials, states=(TrialState.COMPLETE,
                                                                                           TrialState.PRUNED))])

    def finish(self, folder: Path, final: Path) -> dict:
        from taxoclass.tuning.results import best_trial, write_results

        if not hasattr(self, "study"):
            self.open_study(folder)
        files = write_results(self.study, folder, objective=self.objective, cost=self.cost, base=self.base,
                              settings=self.settings)
        best = best_trial(self.study)
        result = {"study_name": self.study_name, "storage": self.storage_url or default_storage(final),
                  "n_trials": self.finished(), "files": {k: str(final / Path(v).name) for k, v in files.items()},
                  "best": None, "pareto": []}
        if best is not None:
            result["best"] = {"trial": best.number, "values": list(best.values),
                              "arguments": best.user_attrs.get("arguments")}
        if self.cost is not None:
            result["pareto"] = [{"trial": t.number, "values": list(t.values)} for t in self.study.best_trials]
        if self.refit and best is not None:
            result["refit"] = self.refit_best(folder, final, best)
        return result

    def refit_best(self, folder: Path, final: Path, best) -> dict:
        """Train the best configuration on train + val (the test split stays untouched) into ``refit/``."""
        from taxoclass.data import read_manifest, write_manifest
        from taxoclass.jobs import train_job

        man = read_manifest(folder / "manifest.csv")
        man.loc[man["split"] == "val", "split"] = "train"
        write_manifest(man, folder / "refit_manifest.csv", overwrite=True)
        args = {**self.base, **self.tree_args, **best.user_attrs["arguments"]}
        self.progress(f"refit: trial {best.number}'s configuration on train+val ({(man['split'] == 'train').sum()} "
                      "images)")
        refit_dir = folder / "refit"
        summary = train_job(self.data, refit_dir, **args, manifest=folder / "refit_manifest.csv",
                            overwrite=(refit_dir / "model.taxoclass").exists(), verbose=0, progress=self.progress)
        return {"model_file": str(final / "refit" / "model.taxoclass"), "train_seconds": summary["train_seconds"],
                "epochs_run": summary["epochs_run"]}


def _retry(study, trial) -> None:
    """Queue a trial whose process died again, with the same values and its run folder (which train_job then
    continues from its last finished epoch); at most :data:`MAX_RETRIES` times."""
    retries = int(trial.user_attrs.get("retries", 0))
    if retries >= MAX_RETRIES or not trial.params:
        return
    attrs = {"retries": retries + 1, "retry_of": trial.number}
    if trial.user_attrs.get("run_dir"):
        attrs["run_dir"] = trial.user_attrs["run_dir"]
    study.enqueue_trial(trial.params, user_attrs=attrs)


def _alive(pid: int) -> bool:
    from taxoclass._files import _alive as alive

    return alive(pid)


def _fail_dead_local_trials(study, storage, study_name: str) -> None:
    """Mark FAIL the running trials of this machine whose process no longer runs (killed), and retry them; trials
    of other machines are failed by the storage's heartbeat once it is older than its grace period."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    host = socket.gethostname()
    study_id = storage.get_study_id_from_name(study_name)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if t.user_attrs.get("host") != host or not isinstance(pid, int) or _alive(pid):
            continue
        try:
            tid = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            if storage.set_trial_state_values(tid, TrialState.FAIL):
                _retry(study, t)
        except UpdateFinishedTrialError:  # another process got there first
            continue
