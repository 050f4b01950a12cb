"""``taxoclass tune``: hyper-parameter search of flat and tree models (thin layer over :func:`taxoclass.tune`)."""

from __future__ import annotations

import argparse

from taxoclass.cli._sources import add_source_arguments
from taxoclass.exceptions import TaxoclassError


def _positive(cast, expected):
    def parse(text):
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}.") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}.")
        return v
    return parse


def register(subparsers) -> None:
    from taxoclass.tuning.space import COSTS, KNOBS, OBJECTIVES

    knobs = "; ".join(f"{n} ({k.describe()})" for n, k in KNOBS.items() if n != "model")
    p = subparsers.add_parser(
        "tune", help="search the training options of flat and tree models (Optuna)",
        description="Search train's options with Optuna (TPE sampler, pruning of hopeless trials after each epoch) "
                    "on one split of the images, scored on its validation part. Writes trials.csv, "
                    "best_config.json (train_job's keyword arguments), search.png and trials/NNNN run folders into -o DIR; "
                    "the same command run again continues the study, and several processes may run it at once "
                    f"(shared --storage). Knobs and default ranges: {knobs}.")
    add_source_arguments(p)
    t = p.add_argument_group("models")
    t.add_argument("--taxonomy", metavar="FILE", help="taxonomy of the tree model (default: the data's own)")
    t.add_argument("--from-confusion", metavar="CM", help="build the tree from this confusion matrix (then beta "
                                                            "and max_cluster_size are searched)")
    t.add_argument("--models", default="flat,tree", help="model kinds to search among, comma-separated: flat, tree, "
                                                          "combined (the tree with a flat head on its trunk; "
                                                          "default flat,tree)")
    s = p.add_argument_group("search")
    s.add_argument("--trials", type=_positive(int, "a positive number of trials"), default=20, metavar="N",
                   help="finished trials the study should hold (default 20; a rerun adds only the missing ones)")
    s.add_argument("--time-budget", type=_positive(float, "a positive number of minutes"), default=None,
                   metavar="MINUTES", help="stop the search after this wall time (a trial still training is "
                                           "stopped and counted as pruned)")
    s.add_argument("--objective", choices=OBJECTIVES, default="accuracy",
                   help="validation score to optimise: accuracy (top-1, default), hf1, balanced_accuracy, severity "
                        "(minimised)")
    s.add_argument("--cost", choices=COSTS, default=None,
                   help="also minimise training seconds or parameters: accuracy vs cost, the Pareto front")
    s.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE",
                   help="fix a knob, e.g. --fix learning_rate=0.002 --fix trunk=small_cnn (repeatable)")
    s.add_argument("--space", action="append", default=[], metavar="NAME=SPEC",
                   help="narrow a knob: LOW:HIGH[:log] or A,B,C, e.g. --space learning_rate=1e-4:1e-2:log "
                        "--space image_size=48,64; block_filters/head_units values join integers with + "
                        "(32+64,64+128) (repeatable)")
    s.add_argument("--pruner", choices=("median", "hyperband", "none"), default=None,
                   help="stop hopeless trials after an epoch: median (default), hyperband or none")
    s.add_argument("--startup-trials", type=int, default=5, metavar="N",
                   help="random trials before TPE models the results, and finished trials before the median "
                        "pruner acts (default 5)")
    s.add_argument("--storage", metavar="URL", help="study database shared by several processes or machines "
                                                     "(default sqlite:///DIR/study.db; e.g. postgresql://...)")
    s.add_argument("--study-name", default="taxoclass", metavar="NAME", help="study name in --storage (default "
                                                                            "taxoclass)")
    s.add_argument("--refit", action="store_true", help="train the best configuration again on train+val into "
                                                        "DIR/refit")
    g = p.add_argument_group("every trial")
    g.add_argument("--epochs", type=int, default=10, metavar="N", help="epochs of each trial (default 10)")
    g.add_argument("--trial-budget", type=_positive(float, "a positive number of minutes"), default=None,
                   metavar="MINUTES", help="train each trial for this wall time instead of --epochs")
    g.add_argument("--batch-size", type=int, default=32, metavar="N", help="batch size (default 32)")
    g.add_argument("--channels", type=int, choices=(1, 3), default=3, help="1 = gray, 3 = RGB (default 3)")
    g.add_argument("--pad-value", type=float, default=None, metavar="V", help="background grey level used to pad "
                                                                             "(default: the data's own, else 255)")
    g.add_argument("--invert", action="store_true", help="invert images so that the background is 0")
    g.add_argument("--val-size", type=float, default=0.1, metavar="F", help="validation share (default 0.1)")
    g.add_argument("--test-size", type=float, default=0.1, metavar="F", help="test share, never seen by the "
                                                                             "search (default 0.1)")
    g.add_argument("--seed", type=int, default=0, help="seed of the split and the sampler (default 0)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="study folder")
    p.add_argument("--overwrite", action="store_true", help="start a new search in DIR, replacing the old one "
                                                            "once the new one is complete")
    p.set_defaults(func=tune_cmd)


def tune_cmd(args) -> int:
    import json

    from taxoclass._files import prepare_output_dir
    from taxoclass.cli.model_cmds import _load_data, _load_taxonomy, _progress
    from taxoclass.tuning.study import check_tune_options, may_be_study_folder, tune

    if args.taxonomy and args.from_confusion:
        raise TaxoclassError("give --taxonomy or --from-confusion, not both.")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    opts = dict(trials=args.trials, time_budget=args.time_budget, epochs=args.epochs, trial_budget=args.trial_budget,
                batch_size=args.batch_size, channels=args.channels, objective=args.objective, cost=args.cost,
                fix=args.fix, space=args.space, pruner=args.pruner, startup_trials=args.startup_trials,
                storage=args.storage, study_name=args.study_name, val_size=args.val_size, test_size=args.test_size,
                seed=args.seed)
    check_tune_options(models=models, error_tree=bool(args.from_confusion), **opts)  # before any image is read
    # early check (before the images are read); tune() checks again under the study's lock
    prepare_output_dir(args.output, overwrite=args.overwrite, resumable=None if args.overwrite else may_be_study_folder)
    tax = _load_taxonomy(args.taxonomy)
    cm = classes = None
    if args.from_confusion:
        from taxoclass.clustering import load_confusion

        cm, classes = load_confusion(args.from_confusion)
    data = _load_data(args)
    result = tune(data, args.output, models=models, taxonomy=tax, confusion=cm, confusion_classes=classes,
                  pad_value=args.pad_value, invert=args.invert, refit=args.refit, overwrite=args.overwrite,
                  progress=_progress, **opts)
    best = result["best"]
    if best is None:
        print(f"no trial finished ({result['n_trials']} pruned or failed); see {args.output}/trials.csv")
        return 1
    shown = ", ".join(f"{k}={v}" for k, v in best["arguments"].items())
    print(f"best trial {best['trial']}: {args.objective} {best['values'][0]:.4f}  ({shown})")
    for p in result["pareto"]:
        print(json.dumps(p))
    print(f"{result['n_trials']} finished trials; best configuration written to {args.output}/best_config.json")
    if "refit" in result:
        print(f"refit model written to {result['refit']['model_file']}")
    return 0
