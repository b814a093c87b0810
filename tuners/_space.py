"""Search-space entries: lists, scikit-optimize-style ranges, scipy and Optuna distributions.

A range is ``(low, high)`` or ``(low, high, prior)`` with prior ``"uniform"`` (default) or
``"log-uniform"``; two ints give an integer range (both ends included), as in scikit-optimize.
"""

from __future__ import annotations

from numbers import Integral, Real

from scipy import stats

PRIORS = ("uniform", "log-uniform")


def _is_range(entry) -> bool:
    return isinstance(entry, tuple) and len(entry) in (2, 3)


def _check_range(name: str, entry, caller: str) -> tuple:
    low, high = entry[0], entry[1]
    prior = entry[2] if len(entry) == 3 else "uniform"
    numbers = all(isinstance(v, Real) and not isinstance(v, bool) for v in (low, high))
    if (
        not numbers
        or not low < high
        or prior not in PRIORS
        or (prior == "log-uniform" and low <= 0)
    ):
        raise ValueError(
            f"The search range of {name!r} in {caller} must be (low, high) or (low, high, prior) "
            f"with numbers low < high (low > 0 for 'log-uniform') and prior in {list(PRIORS)}. "
            f"Got {entry!r} instead."
        )
    integer = isinstance(low, Integral) and isinstance(high, Integral)
    return low, high, prior == "log-uniform", integer


def to_scipy(space: dict, caller: str) -> dict:
    """Ranges become scipy.stats distributions, for scikit-learn's ParameterSampler."""
    converted = {}
    for name, entry in space.items():
        if _is_range(entry):
            low, high, log, integer = _check_range(name, entry, caller)
            if integer:
                entry = stats.randint(low, high + 1)  # log-uniform ints: rare, sampled uniformly
            elif log:
                entry = stats.loguniform(low, high)
            else:
                entry = stats.uniform(low, high - low)
        converted[name] = entry
    return converted


def to_optuna(space: dict, caller: str) -> tuple[dict, dict]:
    """Optuna distributions for each entry, and for list entries the list itself (Optuna's
    categorical choices must be plain scalars, so a list is sampled by position)."""
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    distributions, choices = {}, {}
    for name, entry in space.items():
        if isinstance(entry, BaseDistribution):
            distributions[name] = entry
        elif _is_range(entry):
            low, high, log, integer = _check_range(name, entry, caller)
            kind = IntDistribution if integer else FloatDistribution
            distributions[name] = kind(low, high, log=log)
        elif isinstance(entry, list) and entry:
            choices[name] = list(entry)
            distributions[name] = CategoricalDistribution(list(range(len(entry))))
        else:
            raise ValueError(
                f"The search space of {name!r} in {caller} must be a non-empty list, a range "
                f"(low, high[, prior]) or an Optuna distribution. Got {entry!r} instead."
            )
    return distributions, choices
