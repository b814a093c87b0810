"""The ``"torch"`` search backend: all fits of a LogisticRegression search in one batched solve.

``GridSearch(LogisticRegression(), {"C": [...]}, backend="torch")`` (also RandomSearch,
BayesSearch, HalvingSearch) hands every (candidate, fold) pair of a round to
:func:`tuners._torch_logistic.newton_solve` as one batch member: folds are weight masks over
the searched rows, so 256 values of C times 5 folds are one batched Newton solve, on a CUDA GPU
when PyTorch sees one. Scores are computed on the device for the scorers whose formula is
known (None, i.e. ``estimator.score``; "accuracy", "roc_auc", "neg_log_loss", weighted like
scikit-learn's); any other scorer gets a real fitted LogisticRegression per fit (its
``coef_``/``intercept_`` set from the batched solution), so every scorer works.

The chosen configuration is the one the ``"sklearn"`` backend chooses: the solver converges to
the exact optimum of scikit-learn's objective (see ``_torch_logistic``). Differences come only
from scikit-learn's own stopping tolerance (lbfgs stops at ``tol=1e-4`` by default).

``cv_results_`` is filled as with the other backends; ``mean_fit_time`` is the time of the
batched solve divided by the number of fits it held (and ``mean_score_time`` likewise). All
fits of a round are solved before the first result is reported, so callbacks run after the
round (they can still stop the next one).

``best_estimator_`` is refit by the search with scikit-learn on the CPU, as with every backend:
a genuine LogisticRegression, with the estimator's own solver settings.

Candidates the batched solver cannot express (``l1_ratio > 0`` / ``penalty`` "l1" or
"elasticnet", ``solver="liblinear"`` which penalises the intercept, ``dual=True``, invalid
parameter values, folds whose training rows lack a class) are fitted with scikit-learn exactly
as ``backend="sklearn"`` would, with a warning naming the parameter. Another estimator than
LogisticRegression (a Pipeline included) raises a TypeError.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from ._backends import FitResult, FitSettings, FitTask, JoblibBackend, register_backend
from ._torch_parts import import_torch

CALLER = "the 'torch' search backend"


class TorchLogisticBackend:
    """Batched search backend for LogisticRegression in PyTorch; registered as ``"torch"``.

    Parameters
    ----------
    n_jobs : int or None
        The search's ``n_jobs``: CPU threads of PyTorch while solving on the CPU (None:
        PyTorch's setting), and joblib workers for candidates fitted by scikit-learn.
    device : {"auto", "cpu", "cuda"}, default "auto"
        "auto": CUDA when PyTorch sees a GPU.
    precision : {"auto", "float64", "mixed"}, default "auto"
        "mixed" builds and factors the Newton Hessians in float32, the rest in float64 (as
        accurate, faster where float64 is slow); "auto" is float64 on the CPU and on GPUs with
        fast float64 (A100, H100, H200, ...), "mixed" on others. See ``_torch_logistic``.
    tol, max_iter :
        Newton stopping rule: max |gradient| of the normalised objective <= ``tol`` (1e-8,
        or the estimator's ``tol`` if smaller), at most ``max_iter`` (100) iterations. The
        estimator's own ``max_iter`` is not used: Newton needs ~5-10 iterations.

    Other settings than the default are reached by registering a variant, for example
    ``register_backend("torch-cpu", functools.partial(TorchLogisticBackend, device="cpu"))``.
    """

    def __init__(self, *, n_jobs=None, device="auto", precision="auto", tol=1e-8,
                 max_iter=100):  # fmt: skip
        self.n_jobs = n_jobs
        self.device = device
        self.precision = precision
        self.tol = tol
        self.max_iter = max_iter

    def run(self, tasks: list[FitTask], settings: FitSettings):
        """Fit and score all tasks (in batches), then yield their results in task order."""
        yield from self._run(list(tasks), settings)

    # ------------------------------------------------------------------------ internals
    def _run(self, tasks: list[FitTask], settings: FitSettings) -> list[FitResult]:
        estimator = settings.estimator
        if not isinstance(estimator, LogisticRegression):
            raise TypeError(
                "The 'estimator' parameter of a search with backend='torch' must be a "
                "sklearn.linear_model.LogisticRegression (the torch backend batches its "
                f"fits). Got {type(estimator).__name__} instead; use backend='sklearn'."
            )
        torch = import_torch("The 'torch' search backend")
        from ._torch_logistic import resolve_device, resolve_precision

        device = resolve_device(torch, self.device, CALLER)
        precision = resolve_precision(torch, self.precision, device, CALLER)
        results: list[FitResult | None] = [None] * len(tasks)
        threads = _cpu_threads(self.n_jobs) if device.type == "cpu" else None
        previous = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            fallback = _Batcher(self, torch, device, precision, settings).solve(tasks, results)
        finally:
            if threads:
                torch.set_num_threads(previous)
        if fallback:
            reasons = sorted({reason for _, reason in fallback})
            warnings.warn(
                f"The torch backend fitted {len(fallback)} of {len(tasks)} fits with "
                f"scikit-learn instead, because of {'; '.join(reasons)}.",
                UserWarning,
                stacklevel=4,
            )
            indices = [index for index, _ in fallback]
            sklearn_fits = JoblibBackend(n_jobs=self.n_jobs).run(
                [tasks[i] for i in indices], settings
            )
            for index, result in zip(indices, sklearn_fits):
                results[index] = result
        return results


def _cpu_threads(n_jobs) -> int | None:
    if n_jobs is None:
        return None
    cores = os.cpu_count() or 1
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)


def unsupported_reason(estimator, params: dict) -> str | None:
    """Why the batched solver cannot fit ``estimator`` with ``params`` (None: it can)."""
    try:
        clone(estimator).set_params(**params)._validate_params()
    except (ValueError, TypeError) as error:  # scikit-learn rejects it: let it fail the same way
        return f"invalid parameters ({type(error).__name__})"
    merged = {**estimator.get_params(), **params}
    C, penalty, l1_ratio = merged["C"], merged["penalty"], merged["l1_ratio"]
    no_penalty = penalty is None or (penalty == "deprecated" and C == np.inf)
    if penalty not in ("deprecated", "l2", None):
        return f"penalty={penalty!r} (only L2 is batched)"
    if penalty == "deprecated" and not no_penalty and l1_ratio not in (0, None):
        return f"l1_ratio={l1_ratio!r} (only L2, l1_ratio=0, is batched)"
    if merged["solver"] == "liblinear":
        return "solver='liblinear' (it penalises the intercept, a different optimum)"
    if merged["dual"]:
        return "dual=True"
    return None


def group_key(params: dict):
    """Candidates with equal keys share one batched solve (they differ only in C or in
    settings that do not change the optimum: solver, tol, max_iter, ...)."""
    class_weight = params["class_weight"]
    if isinstance(class_weight, dict):
        class_weight = ("dict", tuple(sorted((repr(k), float(v)) for k, v in class_weight.items())))
    return bool(params["fit_intercept"]), class_weight


def inverse_C(params: dict) -> float:
    """1 / C of a candidate (0: no penalty, as for penalty=None or C=inf)."""
    if params["penalty"] is None or params["C"] == np.inf:
        return 0.0
    return 1.0 / float(params["C"])


class _Batcher:
    """One ``run``: groups tasks, solves each group in batches, scores them."""

    def __init__(self, backend, torch, device, precision: str, settings: FitSettings):
        self.backend, self.torch, self.device = backend, torch, device
        self.dtype, self.precision = torch.float64, precision
        self.settings = settings
        rows = settings.rows
        self.classes, codes = np.unique(rows.y, return_inverse=True)
        self.X = torch.as_tensor(np.ascontiguousarray(rows.X), device=device).to(self.dtype)
        self.codes = torch.as_tensor(codes.astype(np.int64), device=device)
        self.metric = fast_metric(settings.scorer, settings.estimator)
        self.problems: dict = {}
        self.folds: list[tuple] = []  # (train, test) of each distinct split
        self.fold_ids: dict = {}
        self.test_cache: dict = {}

    def solve(self, tasks: list[FitTask], results: list) -> list[tuple[int, str]]:
        estimator = self.settings.estimator
        base = estimator.get_params()
        groups: dict = {}
        fallback: list[tuple[int, str]] = []
        checked: dict = {}
        for index, task in enumerate(tasks):
            key = repr(sorted(task.params.items(), key=lambda item: item[0]))
            if key not in checked:
                checked[key] = unsupported_reason(estimator, task.params)
            reason = checked[key]
            fold = self._fold_id(task)
            if reason is None and self.folds[fold][2] is not None:
                reason = self.folds[fold][2]
            if reason is not None:
                fallback.append((index, reason))
                continue
            params = {**base, **task.params}
            groups.setdefault(group_key(params), []).append((index, fold, inverse_C(params)))
        for (fit_intercept, class_weight), members in groups.items():
            if isinstance(class_weight, tuple):  # a dict, as given
                class_weight = {**base, **tasks[members[0][0]].params}["class_weight"]
            tol = min(
                [self.backend.tol]
                + [float({**base, **tasks[index].params}["tol"]) for index, _, _ in members]
            )
            self._solve_group(tasks, members, fit_intercept, class_weight, tol, results)
        return fallback

    def _fold_id(self, task: FitTask) -> int:
        key = (id(task.train), None if task.test is None else id(task.test))
        if key in self.fold_ids:
            return self.fold_ids[key]
        content = (task.train.tobytes(), None if task.test is None else task.test.tobytes())
        if content not in self.fold_ids:
            self.fold_ids[content] = len(self.folds)
            train_classes = np.unique(self.settings.rows.y[task.train])
            problem = None
            if train_classes.size < 2:
                problem = "training rows of a single class"
            elif train_classes.size != self.classes.size:
                problem = "training rows missing a class"
            self.folds.append((task.train, task.test, problem))
        self.fold_ids[key] = self.fold_ids[content]
        return self.fold_ids[content]

    def _problem(self, fit_intercept: bool):
        from ._torch_logistic import LogisticProblem, hessian_dtype, working_budget

        if fit_intercept not in self.problems:
            self.problems[fit_intercept] = LogisticProblem(
                self.torch, self.X, self.codes, self.classes.size, fit_intercept=fit_intercept,
                budget=working_budget(self.torch, self.device),
                hessian_dtype=hessian_dtype(self.torch, self.precision),
            )  # fmt: skip
        return self.problems[fit_intercept]

    def _fold_weights(self, folds):
        """(F, n) training weights of the given folds: row weights times how often each row
        is in the fold's training rows (0 for held-out rows)."""
        rows = self.settings.rows
        matrix = np.zeros((len(folds), len(rows)))
        for i, fold in enumerate(folds):
            matrix[i] = rows.weights * np.bincount(self.folds[fold][0], minlength=len(rows))
        return self.torch.as_tensor(matrix, device=self.device).to(self.dtype)

    def _solve_group(self, tasks, members, fit_intercept, class_weight, tol, results) -> None:
        from ._torch_logistic import apply_class_weight, newton_solve, synchronize

        torch, backend = self.torch, self.backend
        problem = self._problem(fit_intercept)
        folds = sorted({fold for _, fold, _ in members})
        position = {fold: i for i, fold in enumerate(folds)}
        fold_weights = self._fold_weights(folds)
        member_fold = torch.as_tensor([position[f] for _, f, _ in members], device=self.device)
        inv_C = torch.as_tensor([c for _, _, c in members], device=self.device).to(self.dtype)
        chunk = max(1, problem.budget // problem.member_cost())
        thetas, iters, converged = [], [], []
        synchronize(torch, self.device)
        started = time.perf_counter()
        for start in range(0, len(members), chunk):
            stop = start + chunk
            W = apply_class_weight(
                torch, fold_weights[member_fold[start:stop]], self.codes, self.classes,
                class_weight, CALLER,
            )  # fmt: skip
            theta, n_iter, ok, _ = newton_solve(
                problem, W, inv_C[start:stop], tol=tol, max_iter=backend.max_iter
            )
            thetas.append(theta)
            iters.append(n_iter)
            converged.append(ok)
        theta = torch.cat(thetas)
        synchronize(torch, self.device)
        fit_seconds = (time.perf_counter() - started) / len(members)
        converged = torch.cat(converged).cpu().numpy()
        n_iter = torch.cat(iters).cpu().numpy()
        if not converged.all():
            warnings.warn(
                f"The torch backend's Newton solver did not converge in "
                f"max_iter={backend.max_iter} iterations for {int((~converged).sum())} of "
                f"{len(members)} fits.",
                ConvergenceWarning,
                stacklevel=5,
            )
        finite = torch.isfinite(theta).all(dim=(1, 2)).cpu().numpy()
        for fold in folds:
            chosen = [i for i, (_, f, _) in enumerate(members) if f == fold]
            self._score_fold(tasks, members, chosen, fold, theta, n_iter, finite, fit_seconds,
                             results)  # fmt: skip

    def _test_rows(self, fold: int):
        """(rows, X tensor, codes tensor, weights tensor) of a fold's held-out rows."""
        if fold not in self.test_cache:
            test = self.folds[fold][1]
            rows = self.settings.validation if test is None else self.settings.rows.take(test)
            torch = self.torch
            X = torch.as_tensor(np.ascontiguousarray(rows.X), device=self.device).to(self.dtype)
            codes = np.searchsorted(self.classes, rows.y).clip(0, self.classes.size - 1)
            known = self.classes[codes] == rows.y
            codes = np.where(known, codes, -1)
            self.test_cache[fold] = (
                rows, X, torch.as_tensor(codes.astype(np.int64), device=self.device),
                torch.as_tensor(rows.weights, device=self.device).to(self.dtype),
            )  # fmt: skip
        return self.test_cache[fold]

    def _score_fold(self, tasks, members, chosen, fold, theta, n_iter, finite, fit_seconds,
                    results) -> None:  # fmt: skip
        from ._torch_logistic import synchronize

        torch, settings = self.torch, self.settings
        test_rows, X, codes, weights = self._test_rows(fold)
        d = X.shape[1]
        synchronize(torch, self.device)
        started = time.perf_counter()
        index = torch.as_tensor(chosen, device=self.device)
        block = theta[index]  # (M, n_out, d1)
        scores, error = None, None
        metric = self.metric if _metric_applies(self.metric, self.classes, codes) else None
        if metric is not None:
            eta = block[:, :, :d] @ X.T
            if block.shape[2] > d:
                eta = eta + block[:, :, d:]
            scores = device_scores(torch, metric, eta, codes, weights).cpu().numpy()
        else:
            coefs = block.double().cpu().numpy()
            scores = np.empty(len(chosen))
            for j, member in enumerate(chosen):
                task = tasks[members[member][0]]
                model = _fitted_model(settings.estimator, task.params, self.classes,
                                      coefs[j], d, int(n_iter[member]))  # fmt: skip
                try:
                    scores[j] = settings.scorer(
                        model, test_rows.X, test_rows.y, sample_weight=test_rows.weights
                    )
                except Exception as exc:
                    if isinstance(settings.error_score, str):
                        raise
                    scores[j] = np.nan
                    error = error or f"score failed: {type(exc).__name__}: {exc}"
        synchronize(torch, self.device)
        score_seconds = (time.perf_counter() - started) / len(chosen)
        for j, member in enumerate(chosen):
            task_index = members[member][0]
            task = tasks[task_index]
            message = None
            if not finite[member]:
                message = "fit failed: FloatingPointError: non-finite coefficients"
            elif np.isnan(scores[j]) and error is not None:
                message = error
            if message is not None and isinstance(settings.error_score, str):
                raise FloatingPointError(message)
            score = float(settings.error_score) if message is not None else float(scores[j])
            results[task_index] = FitResult(
                task.candidate, task.split, score, fit_seconds, score_seconds,
                int(task.train.size), message,
            )  # fmt: skip


def _fitted_model(estimator, params, classes, theta, n_features, n_iter):
    from ._torch_logistic import set_solution

    model = clone(estimator).set_params(**params)
    intercept = theta[:, n_features] if theta.shape[1] > n_features else np.zeros(theta.shape[0])
    return set_solution(model, classes, theta[:, :n_features], intercept, n_iter)


# ------------------------------------------------------------------------------ scoring
def fast_metric(scorer, estimator):
    """("accuracy" | "roc_auc" | "roc_auc_proba" | "log_loss", sign) when ``scorer`` is one
    whose weighted formula the device code reproduces, else None (a real model is scored)."""
    try:
        from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
        from sklearn.metrics._scorer import _PassthroughScorer, _Scorer
    except ImportError:  # private names moved: score real models
        return None
    if isinstance(scorer, _PassthroughScorer):
        return ("accuracy", 1.0) if type(estimator).score is ClassifierMixin.score else None
    if type(scorer) is not _Scorer or getattr(scorer, "_kwargs", None):
        return None
    function, sign = scorer._score_func, float(scorer._sign)
    response = scorer._response_method
    first = response if isinstance(response, str) else response[0]
    if function is accuracy_score and first == "predict":
        return "accuracy", sign
    if function is roc_auc_score and first in ("decision_function", "predict_proba"):
        return ("roc_auc" if first == "decision_function" else "roc_auc_proba"), sign
    if function is log_loss and first == "predict_proba":
        return "log_loss", sign
    return None


def _metric_applies(metric, classes, codes) -> bool:
    """roc_auc needs two classes, both among the held-out rows; log_loss needs the held-out
    labels to be the model's classes. Otherwise scikit-learn decides (error or value)."""
    if metric is None:
        return False
    if metric[0] == "accuracy":
        return True
    present = np.unique(codes.cpu().numpy())
    if metric[0] in ("roc_auc", "roc_auc_proba"):
        return classes.size == 2 and present.tolist() == [0, 1]
    return present.tolist() == list(range(classes.size))


def device_scores(torch, metric, eta, codes, weights):
    """Weighted scores (M,) of decision values ``eta`` (M, n_out, n) on held-out rows with
    class numbers ``codes`` (-1: a label the model does not know) and ``weights``."""
    name, sign = metric
    total = weights.sum()
    if name == "accuracy":
        if eta.shape[1] == 1:
            predicted = (eta[:, 0] > 0).long()
        else:
            predicted = eta.argmax(dim=1)
        return sign * ((predicted == codes).to(weights.dtype) * weights).sum(dim=1) / total
    if name in ("roc_auc", "roc_auc_proba"):
        score = eta[:, 0] if name == "roc_auc" else torch.sigmoid(eta[:, 0])
        return sign * weighted_auc(torch, score, codes == 1, weights)
    # log loss of predict_proba, clipped to [eps, 1 - eps] as scikit-learn does
    eps = torch.finfo(eta.dtype).eps
    if eta.shape[1] == 1:
        p1 = torch.sigmoid(eta[:, 0])
        p = torch.where(codes == 1, p1, 1 - p1)
    else:
        p = torch.softmax(eta, dim=1).gather(1, codes.expand(eta.shape[0], -1)[:, None])[:, 0]
    losses = -torch.log(p.clamp(eps, 1 - eps))
    return sign * (losses * weights).sum(dim=1) / total


def weighted_auc(torch, scores, positive, weights):
    """Weighted ROC AUC of each row of ``scores`` (M, n): the weighted probability that a
    positive row scores above a negative one, ties counting 1/2 (the trapezoidal area under
    scikit-learn's weighted ROC curve)."""
    order = torch.argsort(scores, dim=1)
    ordered = torch.gather(scores, 1, order)
    pos = (weights * positive)[order]
    neg = (weights * ~positive)[order]
    M, n = scores.shape
    zero = torch.zeros((M, 1), dtype=neg.dtype, device=neg.device)
    below = torch.cat([zero, torch.cumsum(neg, dim=1)], dim=1)  # negative weight before j
    # [left, right): the run of positions holding the same score as position j
    starts = torch.ones((M, n), dtype=torch.bool, device=scores.device)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = torch.ones_like(starts)
    ends[:, :-1] = starts[:, 1:]
    position = torch.arange(n, device=scores.device).expand(M, n)
    left = torch.cummax(torch.where(starts, position, 0), dim=1).values
    right = torch.where(ends, position + 1, n).flip(1).cummin(dim=1).values.flip(1)
    neg_below = torch.gather(below, 1, left)
    neg_tied = torch.gather(below, 1, right) - neg_below
    total_pos, total_neg = pos.sum(dim=1), neg.sum(dim=1)
    return (pos * (neg_below + 0.5 * neg_tied)).sum(dim=1) / (total_pos * total_neg)


register_backend("torch", TorchLogisticBackend)
