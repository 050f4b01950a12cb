"""Per-level loss weights of a tree model: the :class:`LevelWeightSchedule` callback and their check."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np

from taxoclass.exceptions import ModelError

__all__ = ["LevelWeightSchedule"]


class LevelWeightSchedule(keras.callbacks.Callback):
    """Per-level loss weights changed during training (B-CNN's coarse-to-fine "branch training strategy").

    ``schedule`` maps a starting epoch to the weights of every level (depth of the deciding node, root = 0),
    applied from that epoch on; or it is a callable ``epoch -> weights``. :meth:`coarse_to_fine` builds the
    usual schedule.

    >>> cb = LevelWeightSchedule({0: [1.0, 0.1], 5: [1.0, 1.0]})
    >>> cb.weights_at(3), cb.weights_at(7)
    ([1.0, 0.1], [1.0, 1.0])
    """

    def __init__(self, schedule: Mapping[int, Sequence[float]] | Callable[[int], Sequence[float]]):
        super().__init__()
        if not callable(schedule):
            if not isinstance(schedule, Mapping) or not schedule:
                raise ModelError("schedule must be a non-empty {start_epoch: [weight per level]} mapping or a "
                                 "callable epoch -> weights.")
            if 0 not in schedule:
                raise ModelError(f"schedule must give the weights of epoch 0, got start epochs {sorted(schedule)}.")
            for e, w in schedule.items():
                _check_level_weights(w, None, what=f"schedule[{e}]")
        self.schedule = schedule

    @staticmethod
    def coarse_to_fine(n_levels: int, epochs: int) -> "LevelWeightSchedule":
        """Stage s (of ``n_levels``) starts at epoch ``s * epochs / (n_levels + 1)`` and weights level s by 1,
        the coarser levels by 0.1 and the finer ones by 0.01; the last stage weights every level 1 (the full
        leaf likelihood).

        >>> LevelWeightSchedule.coarse_to_fine(2, 6).schedule
        {0: [1.0, 0.01], 2: [0.1, 1.0], 4: [1.0, 1.0]}
        """
        if n_levels < 1 or epochs < 1:
            raise ModelError("coarse_to_fine needs n_levels >= 1 and epochs >= 1.")
        sched = {}
        for s in range(n_levels + 1):
            sched[int(round(s * epochs / (n_levels + 1)))] = _stage_weights(n_levels, s)
        return LevelWeightSchedule(sched)

    @staticmethod
    def coarse_to_fine_in_time(n_levels: int, budget) -> "LevelWeightSchedule":
        """The same stages over a wall-time budget (a :class:`taxoclass.training.TimeBudget`): stage s starts once
        ``s / (n_levels + 1)`` of the budget is spent (checked at the start of every epoch), since the number of
        epochs that fit is not known in advance.

        >>> from taxoclass.training import TimeBudget
        >>> LevelWeightSchedule.coarse_to_fine_in_time(2, TimeBudget(1.0)).weights_at(0)   # clock not started
        [1.0, 0.01]
        """
        if n_levels < 1:
            raise ModelError("coarse_to_fine needs n_levels >= 1.")

        def at(_epoch: int) -> list[float]:
            spent = min(budget.elapsed() / budget.seconds, 1.0)
            return _stage_weights(n_levels, min(int(spent * (n_levels + 1)), n_levels))
        return LevelWeightSchedule(at)

    def weights_at(self, epoch: int) -> list[float]:
        if callable(self.schedule):
            return [float(v) for v in self.schedule(epoch)]
        start = max(e for e in self.schedule if e <= epoch)
        return [float(v) for v in self.schedule[start]]

    def on_epoch_begin(self, epoch, logs=None):
        w = self.weights_at(epoch)
        var = getattr(self.model, "level_weights", None)
        if var is None:
            raise ModelError("LevelWeightSchedule works with tree models only (TreeClassifier).")
        _check_level_weights(w, int(var.shape[0]), what=f"level weights of epoch {epoch}")
        var.assign(np.asarray(w, dtype=np.float32))


def _stage_weights(n_levels: int, stage: int) -> list[float]:
    """Coarse-to-fine stage ``stage``: level ``stage`` weighs 1, the coarser ones 0.1, the finer ones 0.01; the last
    stage (``stage == n_levels``) weighs every level 1."""
    if stage >= n_levels:
        return [1.0] * n_levels
    return [1.0 if d == stage else (0.1 if d < stage else 0.01) for d in range(n_levels)]


def _check_level_weights(w, n_levels, *, what="level_loss_weights"):
    try:
        arr = np.asarray(w, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ModelError(f"{what} must be a list of numbers (one per level), got {w!r}.") from None
    if n_levels is not None and arr.size != n_levels:
        raise ModelError(f"{what} has {arr.size} values but the taxonomy has {n_levels} levels (depths 0.."
                         f"{n_levels - 1} of the deciding nodes); give one weight per level.")
    if not np.isfinite(arr).all() or (arr < 0).any() or not arr.any():
        raise ModelError(f"{what} must be finite, >= 0 and not all 0, got {list(arr)}.")
    return arr
