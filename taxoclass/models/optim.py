"""The optimizer of every taxoclass model: Keras AdamW (Adam with decoupled weight decay).

Biases and batch-normalisation parameters (gamma, beta) are not decayed, as is usual for convolutional networks.

>>> opt = make_optimizer(1e-3, weight_decay=5e-4)
>>> type(opt).__name__, round(float(opt.weight_decay), 6)
('AdamW', 0.0005)
"""

from __future__ import annotations

import numbers

import keras
import numpy as np

from taxoclass.exceptions import ModelError

__all__ = ["make_optimizer", "check_weight_decay"]

#: variables whose name contains one of these are never decayed
NO_DECAY = ("bias", "gamma", "beta")


def check_weight_decay(weight_decay) -> float:
    """``weight_decay`` as a float, or one ModelError saying what is expected."""
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real) or not (
            np.isfinite(weight_decay) and 0 <= weight_decay < 1):
        raise ModelError(f"weight_decay must be a number in [0, 1) such as 5e-4 (0 = no decay), got "
                         f"{weight_decay!r}.")
    return float(weight_decay)


def make_optimizer(learning_rate, weight_decay: float = 0.0) -> keras.optimizers.Optimizer:
    """``keras.optimizers.AdamW(learning_rate, weight_decay)`` with biases and batch-norm parameters excluded
    from the decay (plain ``Adam`` when ``weight_decay`` is 0). ``learning_rate`` may be a float or a Keras
    ``LearningRateSchedule``.
    """
    wd = check_weight_decay(weight_decay)
    lr = learning_rate if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule) else float(
        learning_rate)
    if wd == 0:
        return keras.optimizers.Adam(lr)
    opt = keras.optimizers.AdamW(lr, weight_decay=wd)
    opt.exclude_from_weight_decay(var_names=list(NO_DECAY))
    return opt
