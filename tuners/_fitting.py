"""How each family of estimators takes coreset weights, and early stopping on a weighted
validation split of the coreset.

Every fit of a search, a refit and an ensemble member goes through :func:`fit_weighted`, which
asks the first registered :class:`FitAdapter` that matches the estimator how to fit it:

- the default passes the weights as ``sample_weight`` (a Pipeline routes them to its last
  step; a Pipeline ending in a boosted model fits that model through its adapter below).
  With ``normalize_weights`` they are scaled to mean 1 and every penalty whose meaning
  depends on the weights' scale is rescaled to match (``C`` times the mean; a Ridge ``alpha``
  divided by it), so the optimum is the one of the raw weights, found faster by iterative
  solvers, and the fitted estimator reports the caller's values.
- gradient-boosted trees (scikit-learn's HistGradientBoosting*, LightGBM, XGBoost) get the raw
  weights, whatever ``normalize_weights`` says: their sum stands for the rows of the data, so
  parameters in hessian or weight units (``l2_regularization``, ``min_child_weight``,
  ``reg_lambda``, ``min_sum_hessian_in_leaf``) mean on a coreset what they mean on all rows.
  Parameters counted in rows (``min_samples_leaf``, ``min_child_samples``) do not: a coreset
  of m of n rows has n / m times fewer rows in every leaf.
- when a boosted model asks for early stopping (LightGBM ``early_stopping_round`` or its
  aliases, XGBoost ``early_stopping_rounds``, HistGradientBoosting ``early_stopping=True``, or
  ``"auto"`` when the weights stand for more than 10,000 rows, as it would decide on the data),
  :data:`VALIDATION_FRACTION` of the training rows is held out (stratified by class for
  classifiers, seeded by the estimator's ``random_state``), passed to the library as its
  validation set with its weights (``eval_sample_weight``, ``sample_weight_eval_set``,
  ``sample_weight_val``), and the rest trains with weights scaled to keep their total. The
  validation loss is then the coreset's unbiased estimate of the loss on the rows it stands for.
- HistGradientBoosting (alone or as a Pipeline's last step) bins weighted rows by weighted
  quantiles; scikit-learn 1.8-1.9 computes them one percentile at a time, most of a coreset
  fit's time. Its adapter has :mod:`tuners._hgb_binning` compute the same thresholds in one
  sort per feature during the fit (bit for bit the same models).
"""

from __future__ import annotations

import inspect
from numbers import Integral, Real

import numpy as np

from ._hgb_binning import fast_weighted_binning

#: Share of a boosted model's training rows held out for its early stopping.
VALIDATION_FRACTION = 0.1
#: HistGradientBoosting's ``early_stopping="auto"`` turns it on above this many rows.
HGB_AUTO_ROWS = 10_000


class FitAdapter:
    """Fits one family of estimators on weighted rows. Subclasses override :meth:`matches`
    and, if the family needs it, :meth:`fit` and :attr:`rescales_weights`."""

    #: Whether ``normalize_weights`` applies (weights to mean 1, penalties rescaled).
    rescales_weights: bool = True

    def matches(self, estimator) -> bool:
        return True

    def fit(self, estimator, X, y, weights):
        key = "sample_weight"
        if hasattr(estimator, "steps"):  # a Pipeline routes it to its last step
            key = f"{estimator.steps[-1][0]}__sample_weight"
        return estimator.fit(X, y, **{key: weights})


_ADAPTERS: list[FitAdapter] = []


def register_fit_adapter(adapter: FitAdapter) -> FitAdapter:
    """Make ``adapter`` fit the estimators it matches (later registrations are asked first)."""
    _ADAPTERS.insert(0, adapter)
    return adapter


def adapter_for(estimator) -> FitAdapter:
    return next((a for a in _ADAPTERS if a.matches(estimator)), _DEFAULT)


_DEFAULT = FitAdapter()


def _module(estimator) -> str:
    return type(estimator).__module__.split(".")[0]


def validation_split(y, weights, *, classifier: bool, seed, fraction=VALIDATION_FRACTION):
    """(training rows, validation rows): ``fraction`` of the rows, stratified by class for a
    classifier (every class with at least two rows keeps one on each side)."""
    rng = np.random.default_rng(seed if isinstance(seed, Integral) else 0)
    n = len(y)
    groups = np.unique(y, return_inverse=True)[1] if classifier else np.zeros(n, np.int64)
    held_out = []
    for group in np.unique(groups):
        members = rng.permutation(np.flatnonzero(groups == group))
        take = round(fraction * members.size)
        if members.size >= 2:
            take = min(max(take, 1), members.size - 1)
        held_out.append(members[:take])
    validation = np.sort(np.concatenate(held_out))
    training = np.setdiff1d(np.arange(n), validation, assume_unique=True)
    return training, validation


def _split(estimator, X, y, weights):
    """Training and validation parts (X, y, weights); training weights keep the total."""
    from sklearn.base import is_classifier

    seed = estimator.get_params().get("random_state")
    train, val = validation_split(y, weights, classifier=is_classifier(estimator), seed=seed)
    scale = weights.sum() / weights[train].sum()
    return (X[train], y[train], weights[train] * scale), (X[val], y[val], weights[val])


class _BoostedTrees(FitAdapter):
    rescales_weights = False

    def early_stopping(self, estimator, weights) -> bool:
        raise NotImplementedError

    def fit(self, estimator, X, y, weights):
        if not self.early_stopping(estimator, weights):
            return estimator.fit(X, y, sample_weight=weights)
        (X_fit, y_fit, w_fit), validation = _split(estimator, X, y, weights)
        return self.fit_with_validation(estimator, X_fit, y_fit, w_fit, validation)


class HistGradientBoostingAdapter(_BoostedTrees):
    def matches(self, estimator) -> bool:
        return type(estimator).__name__ in (
            "HistGradientBoostingClassifier", "HistGradientBoostingRegressor"
        ) and _module(estimator) == "sklearn"  # fmt: skip

    def fit(self, estimator, X, y, weights):
        # the same weighted bins as scikit-learn's, several times faster (tuners._hgb_binning)
        with fast_weighted_binning():
            return super().fit(estimator, X, y, weights)

    def early_stopping(self, estimator, weights) -> bool:
        setting = estimator.get_params().get("early_stopping", "auto")
        if setting == "auto":
            return float(weights.sum()) > HGB_AUTO_ROWS
        return bool(setting)

    def fit_with_validation(self, estimator, X, y, weights, validation):
        X_val, y_val, w_val = validation
        if not _takes(estimator.fit, "X_val"):  # scikit-learn < 1.7
            return estimator.set_params(early_stopping=True).fit(
                np.concatenate([X, X_val]), np.concatenate([y, y_val]),
                sample_weight=np.concatenate([weights, w_val]),
            )  # fmt: skip
        previous = estimator.get_params()["early_stopping"]
        estimator.set_params(early_stopping=True)  # X_val is used only when it is on
        try:
            return estimator.fit(X, y, sample_weight=weights, X_val=X_val, y_val=y_val,
                                 sample_weight_val=w_val)  # fmt: skip
        finally:
            estimator.set_params(early_stopping=previous)


def _takes(function, name: str) -> bool:
    parameters = inspect.signature(function).parameters
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


#: LightGBM's names of its early-stopping parameter.
_LIGHTGBM_ROUNDS = ("early_stopping_round", "early_stopping_rounds", "early_stopping",
                    "n_iter_no_change")  # fmt: skip


class LightGBMAdapter(_BoostedTrees):
    def matches(self, estimator) -> bool:
        return _module(estimator) == "lightgbm"

    def early_stopping(self, estimator, weights) -> bool:
        params = estimator.get_params()
        return any(
            isinstance(params.get(name), Real) and not isinstance(params.get(name), bool)
            and params[name] > 0 for name in _LIGHTGBM_ROUNDS
        )  # fmt: skip

    def fit_with_validation(self, estimator, X, y, weights, validation):
        X_val, y_val, w_val = validation
        return estimator.fit(X, y, sample_weight=weights, eval_set=[(X_val, y_val)],
                             eval_sample_weight=[w_val])  # fmt: skip


class XGBoostAdapter(_BoostedTrees):
    def matches(self, estimator) -> bool:
        return _module(estimator) == "xgboost"

    def early_stopping(self, estimator, weights) -> bool:
        rounds = estimator.get_params().get("early_stopping_rounds")
        return rounds is not None and rounds > 0

    def fit_with_validation(self, estimator, X, y, weights, validation):
        X_val, y_val, w_val = validation
        return estimator.fit(X, y, sample_weight=weights, eval_set=[(X_val, y_val)],
                             sample_weight_eval_set=[w_val], verbose=False)  # fmt: skip


class _ThroughPipeline(FitAdapter):
    """A Pipeline whose last step has an adapter of its own (a boosted model): the other steps
    fit and transform the rows as ``Pipeline.fit`` does (it gives weights to the last step
    only), then the last step fits through its adapter, raw weights and early-stopping split
    included, as it would alone."""

    def __init__(self, inner: FitAdapter):
        self.inner = inner
        self.rescales_weights = inner.rescales_weights

    def fit(self, estimator, X, y, weights):
        if len(estimator.steps) > 1:
            X = estimator[:-1].fit_transform(X, y)
        self.inner.fit(estimator.steps[-1][1], X, y, weights)
        return estimator


for _adapter in (HistGradientBoostingAdapter(), LightGBMAdapter(), XGBoostAdapter()):
    register_fit_adapter(_adapter)

#: scikit-learn models whose ``alpha`` weighs the penalty against the *sum* of the weighted
#: losses (not their mean): with weights scaled to mean 1, alpha is divided by the old mean.
_ALPHA_PER_TOTAL_WEIGHT = ("Ridge", "RidgeClassifier", "KernelRidge")


def penalty_params(estimator) -> dict[str, tuple[float, str]]:
    """Parameters whose meaning depends on the weights' scale: name -> (value, "C" | "alpha").

    ``C`` (also ``step__C`` in a pipeline): scikit-learn's C-parametrised models minimise
    ``C * sum_i w_i loss_i + penalty``. ``alpha`` of Ridge-type models: ``sum_i w_i loss_i +
    alpha * penalty``."""
    out = {}
    for name, value in estimator.get_params(deep=True).items():
        if not isinstance(value, Real) or isinstance(value, bool):
            continue
        if name == "C" or name.endswith("__C"):
            out[name] = (value, "C")
        elif name == "alpha" or name.endswith("__alpha"):
            owner = estimator
            if "__" in name:
                owner = estimator.get_params(deep=True)[name.rsplit("__", 1)[0]]
            if type(owner).__name__ in _ALPHA_PER_TOTAL_WEIGHT:
                out[name] = (value, "alpha")
    return out


def fit_weighted(estimator, X, y, weights, *, normalize_weights: bool = True):
    """Fit ``estimator`` on rows with ``weights`` (see the module docstring); returns it.

    With ``normalize_weights`` (and an estimator family that rescales) the weights are scaled
    to mean 1 and every weight-scale-dependent penalty is rescaled during the fit (the same
    optimum), then put back, so the fitted estimator reports the caller's values."""
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    adapter = adapter_for(final)
    if final is not estimator:
        adapter = _DEFAULT if adapter is _DEFAULT else _ThroughPipeline(adapter)
    scaled = {}
    if normalize_weights and adapter.rescales_weights:
        mean = float(np.mean(weights))
        weights = weights / mean
        scaled = penalty_params(estimator)
        estimator.set_params(**{
            name: value * mean if kind == "C" else value / mean
            for name, (value, kind) in scaled.items()
        })  # fmt: skip
    try:
        adapter.fit(estimator, X, y, weights)
    finally:
        if scaled:
            estimator.set_params(**{name: value for name, (value, _) in scaled.items()})
    return estimator
