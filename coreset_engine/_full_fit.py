"""Logistic regression on all rows, exactly, in a few streamed passes.

A coreset's model is within a fraction of a percent of the full-data optimum; this finishes
the job: damped Newton (IRLS) passes over all rows the tree was built from (or arrays, or any
stream of chunks), warm-started at the coreset's solution, minimising scikit-learn's
LogisticRegression objective::

    C * sum_i s_i * cw_{y_i} * loss_i(coef, intercept) + ||coef||^2 / 2

(``s`` sample weights, ``cw`` class weights, the intercept unpenalised, multinomial
coefficients in scikit-learn's symmetric form), so the model that comes back is the one
``LogisticRegression(C=C, class_weight=...).fit(X, y)`` would return, to solver tolerance.

Each pass (``_full_fit_pass``) reads all rows once and sums, chunk by chunk, the loss and its
gradient at a few candidate points: the Newton step from the point held and Levenberg-Marquardt
damped versions of it and, for two classes from a tree, first of all the minimiser of the
coreset-corrected model (``_full_fit_surrogate``: the root coreset's own objective corrected to
match the full one's gradient and Hessian at the point held, solved in memory; the rows of the
columns the coreset holds fewest rows of, collected in the first pass, held exactly). At the
first candidate it also sums the exact Hessian (two classes: a weighted Gram matrix per chunk,
as the build accumulates its Gram; at another candidate a sample's, as below) or, for K > 2
classes
(whose exact Hessian costs ~K^2 / 2 Gram matrices per pass), draws a priority sample of rows
with probability proportional to their share of the Hessian's trace, from which the Hessian at
any candidate is estimated after the pass (subsampled Newton: losses and gradients stay exact,
so the optimum is the exact one; the approximate curvature only slows convergence from
quadratic to fast linear). The pass then moves to the candidate with the lowest loss among
those that decrease it enough (Armijo): a trust region tried at several radii at once, its
trial losses summed in the same pass as the next gradient, so a step never increases the
objective; when no candidate decreases it, the next pass tries stronger dampings from the
same point. ``benchmarks/bench_refit.py`` measures passes, the gap to scikit-learn's optimum
and the cost against a build on every data set here.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from ._cpu import blas_single_thread
from ._full_fit_pass import Layout, PassPlan, run_pass, sample_hessian
from ._full_fit_surrogate import CoresetSurrogate, ExactRows
from ._validation import as_feature_matrix, check_int

CALLER = "fit_logistic_full"
#: Candidate points per pass: theta + the Newton step damped by mu times a diagonal scale
#: (Levenberg-Marquardt; with two classes Marquardt's scaling by each coefficient's curvature
#: bound sum_i w_i x_ij^2 / 4, else the Hessian's mean diagonal), for mu = 0 and mu = c, 10 c, ...
#: from the last mu that worked, divided by 10 (INITIAL_DAMPING at first); after a pass in
#: which none decreased the objective, stronger dampings only. Each candidate adds a column to
#: two GEMMs and a loop over the rows (K of each for K classes). After an accepted Newton step
#: the next one is nearly always accepted too, so it comes alone. (A coreset-corrected
#: candidate, USE_CORESET_CANDIDATE, comes first, before these, and alone after it was
#: accepted; after it failed alone, Newton's and the dampings of a new point.) Counts: after
#: a new point, after a new point reached by a Newton step, after a failed pass. (With the mean diagonal
#: and 3 candidates, the warm start on KDD Cup '99's 20,000-row coreset took about twice as
#: many in-memory passes: docs/BENCHMARKS.md, section refit-reading.)
CANDIDATES = (4, 1, 4)
#: After a new point, beside the coreset-corrected candidate: Newton's step and this many
#: candidates in all (see _newton).
CANDIDATES_BESIDE_CORESET = 2
MULTINOMIAL_CANDIDATES = (2, 1, 2)
INITIAL_DAMPING = 1e-2
#: The smallest damping. Two classes: the bound can be far above the curvature (rows at large
#: margins, as on KDD Cup '99), so a damping must go far below 1e-3 (the floor before the
#: bound's scaling) for the damped steps to come close to Newton's where Newton's own
#: overshoots. More classes (damping by the mean diagonal): 1e-3, as before.
MIN_DAMPING = 1e-9
MULTINOMIAL_MIN_DAMPING = 1e-3
#: Give up (rounding level) when even this damping decreases nothing.
MAX_DAMPING = 1e12
ARMIJO = 1e-4
#: Rows of the Hessian sample per coefficient (at least MIN_HESSIAN_ROWS).
HESSIAN_ROWS_PER_COEFFICIENT = 50
MIN_HESSIAN_ROWS = 20_000
#: Two classes, a tree's refit: each pass after one that took a candidate also evaluates the
#: minimiser of the coreset-corrected model (:mod:`._full_fit_surrogate`), first among the
#: candidates, so the exact Hessian is summed at it (where another is taken, the next
#: Hessian comes from the sample, as after a damped step). Passes with and without it over
#: the trees of 24 seeds: docs/BENCHMARKS.md, "refit-seeds-reading".
USE_CORESET_CANDIDATE = True
#: ... and holds exactly the rows of all rows off their usual value in the columns the coreset
#: represents by the fewest rows (a rare category of a one-hot block), collected in the first
#: pass (:class:`._full_fit_surrogate.ExactRows`). Passes with and without them:
#: docs/BENCHMARKS.md, "refit-seeds-reading".
USE_EXACT_ROWS = True
DEFAULT_ARRAY_CHUNK = 1_000_000
#: The warm start on a tree's coreset: solved to this relative gap, with a Hessian from this
#: many of its rows (cheaper passes). Its optimum is ~1e-3 from the full one, but a loose
#: solve cost full passes before the coreset-corrected candidate (1e-5: a9a 6 passes, 1e-8:
#: 4). With it and its exact rare rows, 1e-6 takes as many full passes as 1e-8 on KDD Cup '99
#: and Bank Marketing and fewer on a9a (2.83 against 3.00, seeds 0-5), for 10-15% less of
#: KDD Cup '99's warm start (0.57 against 0.67 s); 1e-5 and looser take more passes
#: (scratch, /tmp/s30/wtol.py, printed only, 2026-12-08).
WARM_START_TOL = 1e-6
WARM_START_HESSIAN_ROWS = 5000


@dataclass
class FullFitReport:
    """How :func:`fit_logistic_full` went (``model.full_fit_``), one entry per pass.

    ``objectives``: ``sum_i s_i cw_i loss_i + ||coef||^2 / (2 C)`` over all rows at the point
    held after the pass (the form of :func:`coreset_engine.evaluation.logistic_objective`).
    ``predicted_gaps``: the Newton estimate of how far that is above the optimum, relative
    (None after a pass that accepted no candidate). ``dampings``: the damping of the
    candidate the pass accepted (0: the Newton step; None: the first pass, which evaluates
    the start, or a pass that accepted the coreset-corrected candidate; nan: none decreased
    the objective, and the next pass tries stronger dampings, or Newton's step and the usual
    dampings where the coreset-corrected candidate came alone). ``steps``: which candidate
    each pass accepted: "start" (the first pass), "coreset" (the coreset-corrected one,
    :mod:`._full_fit_surrogate`), "newton", "damped" or "none". ``exact_rows``: rows the
    coreset-corrected candidate's model holds exactly, collected in the first pass (rows off
    their usual value in the columns the coreset represents by the fewest rows; 0: none, or
    more than twice as many as the coreset has rows turned up).
    ``passes`` counts every read of the data, a read to count labels included
    (``label_pass``)."""

    passes: int = 0
    objectives: list = field(default_factory=list)
    predicted_gaps: list = field(default_factory=list)
    dampings: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    pass_seconds: list = field(default_factory=list)
    converged: bool = False
    n_rows: int = 0
    hessian: str = "exact"
    hessian_rows: int = 0
    warm_start: str = "zeros"
    warm_start_seconds: float = 0.0
    label_pass: bool = False
    exact_rows: int = 0
    hessian_sweeps: int = 0
    seconds: float = 0.0


@dataclass
class _Source:
    """Chunks of (X, class codes, sample weights or None) and what is known up front."""

    chunks: Callable  # chunk_size -> iterator
    classes: np.ndarray | None
    class_totals: np.ndarray | None
    n_features: int | None
    coreset: object = None  # a tree's root coreset, for the warm start
    raw: Callable | None = None  # a callable source as given (for counting its labels)


def fit_logistic_full(
    data,
    y=None,
    *,
    sample_weight=None,
    C: float = 1.0,
    class_weight=None,
    fit_intercept: bool = True,
    warm_start=None,
    tol: float = 1e-7,
    max_passes: int = 10,
    chunk_size: int | None = None,
    hessian: str = "auto",
    hessian_rows: int | None = None,
    random_state: int = 0,
    callback: Callable | None = None,
) -> LogisticRegression:
    """Fit L2 logistic regression on all rows by streamed Newton passes.

    Parameters
    ----------
    data : CoresetTree, array-like of shape (n_samples, n_features), or callable
        A :class:`CoresetTree`: all rows it was built from (``tree.iter_source_chunks``: its
        data file, or the arrays passed to ``build`` while they exist), warm-started at the
        solution on its root coreset. An array: ``y`` (and ``sample_weight``) go with it. A
        callable: ``data()`` returns a fresh iterator of ``(X, y)`` or ``(X, y, w)`` chunks
        each time it is called (one call per pass).
    y : array-like of shape (n_samples,), optional
        Labels, with an array ``data`` only.
    sample_weight : array-like of shape (n_samples,), optional
        Row weights, with an array ``data`` only.
    C : float, default 1.0
        Inverse regularisation strength, > 0; ``np.inf`` for no penalty.
    class_weight : None, "balanced" or dict
        As in LogisticRegression; "balanced" uses the class totals of all rows (a tree knows
        them; a callable source is read once more to count them).
    fit_intercept : bool, default True
    warm_start : None, fitted LogisticRegression or array of shape (n_out, n_features [+ 1])
        Where Newton starts. None: the solution on the tree's root coreset (a tree), else 0.
    tol : float, default 1e-7
        Stop when the Newton estimate of the remaining decrease of the objective is at most
        ``tol`` times the objective: a relative gap to the optimum (not scikit-learn's
        gradient tolerance). Each pass reads all rows, so the default stops as soon as the
        objective is within 1e-7 of the optimum; the coefficients are then within about
        sqrt(1e-7) relative of scikit-learn's, and predictions agree to ~1e-4.
    max_passes : int, default 10
        Reads of the data at most (a ConvergenceWarning if ``tol`` is not reached).
    chunk_size : int or None
        Rows per chunk read (default: the tree's ``chunk_size``, or 1,000,000).
    hessian : {"auto", "exact", "sampled"}, default "auto"
        "exact" accumulates the exact Hessian every pass; "sampled" builds it from a priority
        sample of ``hessian_rows`` rows drawn during the pass. "auto": exact for two
        classes, sampled for more (where the exact one costs ~K^2 / 2 Gram matrices a pass).
    hessian_rows : int or None
        Rows of the Hessian sample (default: 50 per coefficient, at least 20,000).
    random_state : int, default 0
        Seeds the Hessian sample (its uniforms are fixed by row number, so the result does
        not depend on ``chunk_size``).
    callback : callable, optional
        ``callback(report)`` after every pass, with the :class:`FullFitReport` so far.

    Returns
    -------
    LogisticRegression
        Fitted (``classes_``, ``coef_``, ``intercept_``, ``n_iter_`` = passes), with the
        :class:`FullFitReport` in ``full_fit_``.

    Examples
    --------
    >>> import numpy as np
    >>> from coreset_engine import CoresetTree, fit_logistic_full
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50_000, 4)); y = (X[:, 0] + rng.logistic(size=50_000) > 0).astype(int)
    >>> tree = CoresetTree(coreset_size=2000, chunk_size=10_000, random_state=0).build(X, y)
    >>> model = fit_logistic_full(tree, C=1.0)
    >>> model.full_fit_.converged, model.full_fit_.passes <= 4
    (True, True)
    """
    return _fit_full(data, y, sample_weight, C, class_weight, fit_intercept, warm_start, tol,
                     max_passes, chunk_size, hessian, hessian_rows, random_state,
                     callback)  # fmt: skip


def _fit_full(data, y, sample_weight, C, class_weight, fit_intercept, warm_start, tol,
              max_passes, chunk_size, hessian, hessian_rows, random_state, callback,
              lazy_hessian=False):  # fmt: skip
    """:func:`fit_logistic_full`. ``lazy_hessian`` (rows in memory: the warm start on a
    coreset): a pass of several candidates sums no Hessian; where it takes the first, a sweep
    over the rows sums it there (``FullFitReport.hessian_sweeps``), so the passes that take
    another candidate (whose Hessian comes from the sample) do not pay for it."""
    started = time.perf_counter()
    _check_params(C, tol, max_passes, hessian, hessian_rows)
    source = _resolve_source(data, y, sample_weight)
    report = FullFitReport()
    chunk_size = _chunk_size(data, chunk_size)
    if source.classes is None or (class_weight == "balanced" and source.class_totals is None):
        _count_labels(source, chunk_size, warm_start)
        report.passes, report.label_pass = 1, True
    classes = source.classes
    if classes.size < 2:
        raise ValueError(
            f"{CALLER} needs rows of at least 2 classes. Got only class {classes.tolist()}."
        )
    layout = Layout(classes.size, int(source.n_features), bool(fit_intercept),
                    _class_factors(class_weight, classes, source.class_totals))  # fmt: skip
    mode = hessian if hessian != "auto" else ("exact" if layout.n_out == 1 else "sampled")
    report.hessian = mode
    report.hessian_rows = hessian_rows or max(
        MIN_HESSIAN_ROWS, HESSIAN_ROWS_PER_COEFFICIENT * layout.n_out * layout.width
    )
    warm_started = time.perf_counter()
    theta, report.warm_start = _initial_theta(warm_start, source, layout, C, class_weight)
    report.warm_start_seconds = time.perf_counter() - warm_started
    with blas_single_thread():
        theta = _newton(source, chunk_size, layout, theta, C, mode, tol, max_passes, report,
                        random_state, callback, lazy_hessian)  # fmt: skip
    report.seconds = time.perf_counter() - started
    model = _to_estimator(theta, layout, classes, C, class_weight, report)
    if not report.converged:
        warnings.warn(
            f"{CALLER} did not reach tol={tol} in max_passes={max_passes} passes (predicted "
            f"relative gap {report.predicted_gaps[-1] if report.predicted_gaps else 'unknown'}"
            "). Increase max_passes.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return model


# --------------------------------------------------------------------------- Newton
def _newton(source, chunk_size, layout, theta, C, mode, tol, max_passes, report, seed, callback,
            lazy_hessian=False):  # fmt: skip
    """Passes until the predicted gap is below ``tol``; returns the last accepted point."""
    points = theta[None]  # the first pass evaluates the start
    objective = gradient = slopes = None
    center = INITIAL_DAMPING  # Levenberg-Marquardt damping, adapted as steps succeed or fail
    dampings, failed = np.zeros(1), False
    penalized = _penalized(layout)
    bound = None  # two classes: the normalised column second moments (the first pass)
    surrogate = _surrogate(source, layout)  # the coreset-corrected candidate's rows, if any
    rare = surrogate.rare_columns() if surrogate is not None and USE_EXACT_ROWS else None
    collector = ExactRows(rare) if rare is not None else None  # the first pass's rare rows
    kinds = ["start"]
    pass_started = time.perf_counter()
    while report.passes < max_passes:
        exact = mode == "exact"
        # the sample gives the Hessian at any candidate but the first (at all of them when
        # sampled); a pass of one point with an exact Hessian needs none
        # (not the coreset-corrected model's Hessian there: from its correction at the point
        # held, its Newton decrement stopped a review's refit 5e-7 above the optimum, tol 1e-7)
        sample_rows = 0 if exact and len(points) == 1 else report.hessian_rows
        lazy = lazy_hessian and exact and len(points) > 1  # the Hessian after the pass
        plan = PassPlan(points, exact and not lazy, sample_rows, _pass_key(seed, report.passes),
                        column_squares=bound is None and layout.n_out == 1)  # fmt: skip
        chunks = source.chunks(chunk_size)
        if collector is not None:
            chunks = collector.watch(chunks)
        sums = run_pass(chunks, layout, plan)
        if collector is not None:
            surrogate, collector = surrogate.with_exact_rows(collector), None
            report.exact_rows = surrogate.exact_rows
        report.passes += 1
        report.n_rows = sums.n_rows
        weight = sums.total_weight
        if not weight > 0:
            raise ValueError(
                f"{CALLER} needs rows of positive total weight (sample weights times class "
                f"weights). Got {weight!r} over {sums.n_rows} rows."
            )
        if sums.column_squares is not None:
            bound = sums.column_squares / weight
        lam = 0.0 if np.isinf(C) else 1.0 / (C * weight)
        values = sums.losses / weight + 0.5 * lam * (points**2 * penalized).sum(axis=(1, 2))
        if objective is None:
            chosen = 0
        else:  # the lowest candidate among those that decrease enough (Armijo)
            # (a slope >= 0, which the coreset-corrected candidate could have: no increase)
            decreasing = np.flatnonzero(values <= objective + ARMIJO * np.minimum(slopes, 0.0))
            chosen = decreasing[np.argmin(values[decreasing])] if decreasing.size else None
        failed = chosen is None
        if failed:  # stronger dampings from the same point
            center = max(center, dampings[-1] * 10.0)
            report.dampings.append(math.nan)
            report.steps.append("none")
            report.predicted_gaps.append(None)
        else:
            if objective is not None:
                kind = kinds[chosen]
                report.dampings.append(None if kind == "coreset" else float(dampings[chosen]))
                report.steps.append(kind)
                floor = MIN_DAMPING if layout.n_out == 1 else MULTINOMIAL_MIN_DAMPING
                center = max(floor, dampings[chosen] / 10 or center / 10)
            else:
                report.dampings.append(None)
                report.steps.append("start")
            theta, objective = points[chosen], float(values[chosen])
            gradient = sums.gradients[chosen] / weight + lam * theta * penalized
            if chosen == 0 and lazy:
                again = run_pass(source.chunks(chunk_size), layout,
                                 PassPlan(points[:1], True, 0, 0))  # fmt: skip
                report.hessian_sweeps += 1
                curvature = again.hessian / weight
            elif chosen == 0 and sums.hessian is not None:
                curvature = sums.hessian / weight
            else:
                curvature = sample_hessian(sums.sample, theta, layout) / weight
            system = _newton_system(curvature, lam, penalized, layout, bound)
            newton = _steps(system, gradient, np.zeros(1))
            gap = -0.5 * float((newton * gradient).sum()) / max(abs(objective), 1e-300)
            report.predicted_gaps.append(gap)  # Newton's decrement
            report.converged = gap <= tol
        report.objectives.append(objective * weight)
        report.pass_seconds.append(time.perf_counter() - pass_started)
        if callback is not None:
            callback(report)
        if report.converged or center > MAX_DAMPING or report.passes >= max_passes:
            break  # converged, or no decrease even along tiny steps: at rounding level
        pass_started = time.perf_counter()  # the next pass's candidates count in its time
        steps, dampings, kinds = _candidates(layout, system, gradient, center, failed,
                                             report.steps[-1], kinds)  # fmt: skip
        if surrogate is not None and not failed:
            corrected = surrogate.minimiser(theta, gradient, curvature, lam, penalized,
                                            system[3], weight, 1e-3 * gap)  # fmt: skip
            if corrected is not None and report.steps[-1] == "coreset":  # alone after itself
                steps, dampings, kinds = (corrected - theta)[None], np.zeros(1), ["coreset"]
            elif corrected is not None:
                # beside it, Newton's step and the first damping only: over the trees of 24 seeds
                # on the four real sets a damped step beside it was never taken (227 of 228
                # passes took it, one Newton's), and with few features each candidate costs
                # about a tenth of a pass (Skin)
                keep = CANDIDATES_BESIDE_CORESET
                steps, dampings, kinds = steps[:keep], dampings[:keep], kinds[:keep]
                steps = np.concatenate([(corrected - theta)[None], steps])
                dampings = np.concatenate([[0.0], dampings])
                kinds = ["coreset", *kinds]
        slopes = (steps * gradient).sum(axis=(1, 2))  # < 0: descent directions
        points = theta[None] + steps
    return theta


def _candidates(layout, system, gradient, center, failed, last, kinds):
    """Steps of the next pass's candidates but the coreset-corrected one: (steps, dampings,
    kinds). After Newton's step or the corrected one was taken, the next is nearly always taken
    too, so Newton's comes alone (after the corrected one was taken, the corrected one alone
    instead; after Newton's, the corrected one before it); after a pass in which none
    decreased the objective, stronger dampings, or Newton's step and the usual dampings where
    the corrected candidate came alone and failed."""
    lone_failed = failed and kinds == ["coreset"]
    after_newton = not failed and last in ("newton", "coreset")
    dampings = _dampings(layout, center, failed and not lone_failed, after_newton)
    steps = _steps(system, gradient, dampings)
    return steps, dampings, ["newton" if mu == 0 else "damped" for mu in dampings]


def _surrogate(source, layout: Layout) -> CoresetSurrogate | None:
    """The coreset-corrected candidate's rows: a tree's root coreset, two classes (a coreset
    row of a class the refit does not know, or no coreset: None)."""
    coreset = source.coreset
    if coreset is None or layout.n_out != 1 or not USE_CORESET_CANDIDATE:
        return None
    labels = np.asarray(getattr(coreset, "decoded_y", coreset.y))
    codes = np.minimum(np.searchsorted(source.classes, labels), source.classes.size - 1)
    if labels.size == 0 or not np.array_equal(source.classes[codes], labels):
        return None
    return CoresetSurrogate(coreset.X, codes, coreset.weights, layout)


def _dampings(layout: Layout, center: float, failed: bool, after_newton: bool) -> np.ndarray:
    """Damping of each candidate, relative to the scale of :func:`_newton_system` (two
    classes: the curvature bound's diagonal; more: the Hessian's mean diagonal): after a new point
    the Newton step (0) and Levenberg-Marquardt steps from the last damping that worked;
    after a pass in which none decreased the objective, only stronger ones."""
    fresh, newton, after_failure = CANDIDATES if layout.n_out == 1 else MULTINOMIAL_CANDIDATES
    if failed:
        return center * 10.0 ** np.arange(after_failure)
    count = newton if after_newton else fresh
    return np.concatenate([[0.0], center * 10.0 ** np.arange(count - 1)])


def _newton_system(curvature, lam, penalized, layout, bound=None):
    """Eigendecomposition of the Hessian H of the normalised objective (the penalty added),
    scaled to D^-1 H D^-1 (D: see below), over the coefficients the objective depends on.
    ``bound``: two classes, sum_i w_i x_ij^2 / sum_i w_i per coefficient (the intercept's 1).
    Returns (eigenvalues, eigenvectors, the diagonal of D, which coefficients are live)."""
    n_out = layout.n_out
    H = curvature + np.diag(np.tile(lam * penalized[0], n_out))
    if n_out > 1:
        # the multinomial loss does not change when a vector is added to every class's
        # coefficients; along the unpenalised such directions (the intercepts, all of them
        # without penalty) H is singular. The gradient is orthogonal to them, so a positive
        # term there leaves the step unchanged.
        free = (penalized[0] == 0) | (lam == 0)
        scale = max(float(np.mean(np.diag(H))), 1e-300) / n_out
        H = H + np.kron(np.ones((n_out, n_out)), np.diag(free * scale))
    H = 0.5 * (H + H.T)
    # a coefficient with no curvature and no penalty (a column of zeros, C = inf) does not
    # move the objective: its gradient is 0 and its step stays 0. Two classes: a column with
    # any value but 0 is live even where its rows' curvature underflows (the bound's scale
    # damps its step)
    live = np.diag(H) > 0
    if bound is not None:
        live |= bound > 0
    H = H[np.ix_(live, live)]
    diagonal = np.diag(H)
    if n_out == 1:
        # Marquardt's scaling (in coordinates where the scale's diagonal is 1, so a damping mu
        # adds mu times each coefficient's own scale, and rare one-hot columns are not swamped
        # by the mean's), by the curvature bound: p (1 - p) <= 1/4, so H <= X^T W X / 4
        # (Boehning's bound), whose diagonal is fixed, not by H's own diagonal. A coefficient
        # whose rows sit at large margins has almost no curvature left, so a damping relative
        # to it barely shortened its step: on a9a, after a step that put a rare column's few
        # rows on the wrong side, Newton's step along it was ~100 times too long and the
        # damping had to climb to 1,000 for every coefficient (two trees in 24 stopped
        # unconverged at 10 passes; docs/BENCHMARKS.md, section refit-seeds-reading)
        if bound is not None:
            diagonal = np.maximum(diagonal, 0.25 * bound[live] + lam * penalized[0][live])
        root = np.sqrt(np.maximum(diagonal, max(float(diagonal.max(initial=0.0)), 1e-300) * 1e-12))
    else:
        # mu times the mean diagonal: with each coefficient's own, steps along the flat
        # directions only the penalty curves (every class's coefficients of a feature moved
        # together) stalled, and a refit stopped within tol of the objective 0.5% from
        # scikit-learn's coefficients
        mean = float(np.mean(diagonal)) if diagonal.size else 1.0
        root = np.full(diagonal.size, np.sqrt(max(mean, 1e-300)))
    eigenvalues, vectors = np.linalg.eigh(H / root[:, None] / root[None, :])
    top = float(eigenvalues[-1]) if eigenvalues.size else 1.0
    floor = max(top, 1e-300) * 1e-14  # rounding: never a negative curvature
    return np.maximum(eigenvalues, floor), vectors, root, live


def _steps(system, gradient, dampings) -> np.ndarray:
    """-(H + mu * D^2)^-1 g for each damping mu over the live coefficients (D: the scaling of
    :func:`_newton_system`), 0 for the others; shape (J, n_out, width)."""
    eigenvalues, vectors, root, live = system
    projected = vectors.T @ (gradient.reshape(-1)[live] / root)
    steps = np.zeros((len(dampings), live.size))
    for j, mu in enumerate(dampings):
        steps[j, live] = -(vectors @ (projected / (eigenvalues + mu))) / root
    return steps.reshape(len(dampings), *gradient.shape)


def _penalized(layout: Layout) -> np.ndarray:
    penalized = np.ones((1, layout.width))
    if layout.fit_intercept:
        penalized[0, -1] = 0.0
    return penalized


def _penalty(theta, penalized) -> float:
    return float(((theta * theta) * penalized).sum())


def _pass_key(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([int(seed), index]).generate_state(1, np.uint64)[0])


# --------------------------------------------------------------------------- inputs
def _check_params(C, tol, max_passes, hessian, hessian_rows) -> None:
    if isinstance(C, bool) or not isinstance(C, (int, float, np.number)) or not C > 0:
        raise ValueError(
            f"The 'C' parameter of {CALLER} must be a float > 0 (np.inf: no penalty). "
            f"Got {C!r} instead."
        )
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.number)) or not tol >= 0:
        raise ValueError(f"The 'tol' parameter of {CALLER} must be a float >= 0. Got {tol!r}.")
    check_int(max_passes, "max_passes", CALLER)
    if hessian not in ("auto", "exact", "sampled"):
        raise ValueError(
            f"The 'hessian' parameter of {CALLER} must be one of ['auto', 'exact', 'sampled']. "
            f"Got {hessian!r} instead."
        )
    if hessian_rows is not None:
        check_int(hessian_rows, "hessian_rows", CALLER)


def _chunk_size(data, chunk_size) -> int:
    if chunk_size is not None:
        return check_int(chunk_size, "chunk_size", CALLER)
    return int(data.chunk_size) if _is_tree(data) else DEFAULT_ARRAY_CHUNK


def _is_tree(data) -> bool:
    return hasattr(data, "iter_source_chunks") and hasattr(data, "class_counts_")


def _resolve_source(data, y, sample_weight) -> _Source:
    if _is_tree(data):
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"{CALLER} takes y and sample_weight only with an array; a CoresetTree streams "
                "its own rows and labels."
            )
        present, classes, totals = tree_class_totals(data)
        lookup = np.full(data.class_counts_.size, -1, dtype=np.int64)
        lookup[present] = np.arange(present.size)

        def tree_chunks(chunk_size):
            # rows read and encoded exactly as the build read them (categories, dtype); the
            # labels come as the tree's codes, the model gets the label values (classes_)
            for _, X, labels in data.iter_source_chunks(chunk_size):
                yield X, lookup[labels], None

        return _Source(tree_chunks, classes, totals, data.n_features_in_,
                       data.get_coreset())  # fmt: skip
    if callable(data) and not hasattr(data, "shape"):
        if y is not None or sample_weight is not None:
            raise ValueError(f"{CALLER} takes y and sample_weight only with an array.")
        return _callable_source(data)
    if y is None:
        raise ValueError(f"{CALLER} needs y with an array X (or pass a CoresetTree).")
    X = as_feature_matrix(data)
    labels = np.asarray(y)
    if labels.shape != (X.shape[0],):
        raise ValueError(
            f"y must have shape ({X.shape[0]},) to match X. Got {labels.shape} instead."
        )
    classes, codes = np.unique(labels, return_inverse=True)
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=np.float64)
        valid = weights.shape == labels.shape and np.all(np.isfinite(weights))
        if not valid or np.any(weights < 0):
            raise ValueError(
                f"The 'sample_weight' parameter of {CALLER} must be {labels.size} finite "
                f"floats >= 0. Got shape {weights.shape} instead."
            )
    totals = np.bincount(codes, weights=weights, minlength=classes.size).astype(np.float64)

    def array_chunks(chunk_size):
        for start in range(0, X.shape[0], chunk_size):
            part = slice(start, start + chunk_size)
            yield X[part], codes[part], None if weights is None else weights[part]

    return _Source(array_chunks, classes, totals, X.shape[1])


def tree_class_totals(tree) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the label codes present in a tree's rows, their label values, their row counts as
    floats): the classes and class totals a full refit of the tree uses."""
    counts = np.asarray(tree.class_counts_)
    present = np.flatnonzero(counts)
    return present, tree_classes(tree)[present], counts[present].astype(np.float64)


def tree_classes(tree) -> np.ndarray:
    """The label value of each of a tree's label codes (``classes_``; the codes themselves for
    a tree that does not know them)."""
    n_codes = tree.class_counts_.size
    classes = getattr(tree, "classes_", None)
    if classes is None or len(classes) != n_codes:
        return np.arange(n_codes)
    return np.asarray(classes)


def _callable_source(make_chunks) -> _Source:
    source = _Source(None, None, None, None)

    def chunks(chunk_size):
        for item in make_chunks():
            X, labels, weights = _unpack_chunk(item)
            if source.n_features is not None and X.shape[1] != source.n_features:
                raise ValueError(
                    f"Every chunk must have {source.n_features} features. Got {X.shape[1]}."
                )
            codes = np.searchsorted(source.classes, labels)
            codes = np.minimum(codes, source.classes.size - 1)
            unknown = source.classes[codes] != labels
            if unknown.any():
                raise ValueError(
                    f"A chunk holds label {labels[np.flatnonzero(unknown)[0]]!r}, not among "
                    f"the classes {source.classes.tolist()}."
                )
            yield X, codes, weights

    source.chunks, source.raw = chunks, make_chunks
    return source


def _unpack_chunk(item):
    if not isinstance(item, tuple) or len(item) not in (2, 3):
        raise ValueError(
            f"The chunks of a callable data source of {CALLER} must be tuples (X, y) or "
            f"(X, y, w). Got {type(item).__name__} instead."
        )
    X = as_feature_matrix(item[0])
    labels = np.asarray(item[1])
    weights = None if len(item) == 2 else np.asarray(item[2], dtype=np.float64)
    if labels.shape != (X.shape[0],) or (weights is not None and weights.shape != labels.shape):
        raise ValueError(
            f"A chunk of a callable data source of {CALLER} has {X.shape[0]} rows but labels "
            f"of shape {labels.shape}" + ("" if weights is None else f", weights {weights.shape}")
        )
    return X, labels, weights


def _count_labels(source: _Source, chunk_size: int, warm_start) -> None:
    """One read of a callable source: its classes, class totals and number of features."""
    totals: dict = {}
    for item in source.raw():
        X, labels, weights = _unpack_chunk(item)
        source.n_features = X.shape[1] if source.n_features is None else source.n_features
        values, inverse = np.unique(labels, return_inverse=True)
        sums = np.bincount(inverse, weights=weights, minlength=values.size)
        for value, total in zip(values.tolist(), sums.tolist()):
            totals[value] = totals.get(value, 0.0) + total
    if source.n_features is None:
        raise ValueError(f"The callable data source of {CALLER} yielded no chunks.")
    source.classes = np.array(sorted(totals))
    source.class_totals = np.array([totals[c] for c in source.classes], dtype=np.float64)


def _class_factors(class_weight, classes, totals) -> np.ndarray:
    if class_weight is None:
        return np.ones(classes.size)
    if isinstance(class_weight, str) and class_weight == "balanced":
        return totals.sum() / (classes.size * np.maximum(totals, 1e-300))
    if isinstance(class_weight, dict):
        # scikit-learn's compute_class_weight as for LogisticRegression, but a label is looked
        # up as itself first: it turns "0" into 0 before the lookup, so a dict keyed by digit
        # strings (the labels themselves) matched nothing
        factors = np.ones(classes.size)
        matched = set()
        for i, label in enumerate(classes.tolist()):
            keys = [label] + ([int(label)] if isinstance(label, str) and label.isdigit() else [])
            key = next((k for k in keys if k in class_weight), None)
            if key is not None:
                factors[i] = class_weight[key]
                matched.add(key)
        unused = [key for key in class_weight if key not in matched]
        if unused and len(matched) < classes.size:
            raise ValueError(
                f"The 'class_weight' parameter of {CALLER} names labels that are not classes "
                f"of the rows: {unused}. The classes are {classes.tolist()}."
            )
        return factors
    raise ValueError(
        f"The 'class_weight' parameter of {CALLER} must be None, 'balanced' or a dict. "
        f"Got {class_weight!r} instead."
    )


def _initial_theta(warm_start, source, layout, C, class_weight):
    shape = (layout.n_out, layout.width)
    if warm_start is None and source.coreset is not None:
        model = _fit_coreset(source.coreset, layout, C, source.classes)
        if model is not None:
            return _theta_from_model(model, layout, source.classes), "coreset"
        return np.zeros(shape), "zeros"
    if warm_start is None:
        return np.zeros(shape), "zeros"
    if hasattr(warm_start, "coef_"):
        return _theta_from_model(warm_start, layout, source.classes, strict=True), "given"
    theta = np.asarray(warm_start, dtype=np.float64)
    if theta.shape == (layout.n_out, layout.n_features) and layout.fit_intercept:
        theta = np.hstack([theta, np.zeros((layout.n_out, 1))])
    if theta.shape != shape:
        raise ValueError(
            f"The 'warm_start' parameter of {CALLER} must be a fitted LogisticRegression or an "
            f"array of shape {shape}. Got shape {theta.shape} instead."
        )
    return theta.copy(), "given"


def _theta_from_model(model, layout, classes, *, strict=False):
    shape = (layout.n_out, layout.width)
    coef = np.asarray(model.coef_, dtype=np.float64)
    model_classes = np.asarray(getattr(model, "classes_", classes))
    same = model_classes.shape == classes.shape and np.all(model_classes == classes)
    if not same or coef.shape != (layout.n_out, layout.n_features):
        if strict:
            raise ValueError(
                f"The 'warm_start' model of {CALLER} must have classes {classes.tolist()} and "
                f"{layout.n_features} features. Got classes {model_classes.tolist()} and "
                f"coef_ of shape {coef.shape}."
            )
        return np.zeros(shape)
    theta = np.zeros(shape)
    theta[:, : layout.n_features] = coef
    if layout.fit_intercept:
        theta[:, -1] = np.asarray(model.intercept_, dtype=np.float64).reshape(-1)
    return theta


def _fit_coreset(coreset, layout, C, classes):
    """The same objective on the tree's root coreset (:func:`solve_on_coreset`). None if the
    coreset lacks a class."""
    labels = np.asarray(getattr(coreset, "decoded_y", coreset.y))  # values, as classes
    return solve_on_coreset(coreset.X, labels, coreset.weights, classes, layout.class_factors,
                            C, layout.fit_intercept)  # fmt: skip


def solve_tree_objective_on_rows(tree, X, labels, weights, C, class_weight, fit_intercept,
                                 warm_start=None):  # fmt: skip
    """The objective ``fit_logistic_full(tree, C=C, class_weight=class_weight,
    fit_intercept=fit_intercept)`` minimises over all the tree's rows (its classes and, for
    "balanced", its class counts), solved on the given weighted rows in memory by
    :func:`solve_on_coreset`: the warm start of ``refit="full"`` in ``tuners``. Raises
    ValueError for a class_weight that does not fit the tree's classes."""
    _, classes, totals = tree_class_totals(tree)
    factors = _class_factors(class_weight, classes, totals)
    return solve_on_coreset(X, labels, weights, classes, factors, C, fit_intercept, warm_start)


def solve_on_coreset(X, labels, weights, classes, class_factors, C, fit_intercept,
                     warm_start=None):  # fmt: skip
    """The full refit's objective (its per-class factors ``class_factors`` of ``classes``,
    from all rows) on weighted rows held in memory, solved by the same method to
    WARM_START_TOL, from ``warm_start``: tighter than the coreset's own distance to the full
    optimum (~1e-3), so the full passes start where Newton's steps are good. The factors go
    into the row weights (no class_weight to look labels up in). None if the rows lack a
    class."""
    labels = np.asarray(labels)
    if not np.array_equal(np.unique(labels), classes):
        return None
    factors = class_factors[np.searchsorted(classes, labels)]
    weights = np.asarray(weights, dtype=np.float64) * factors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _fit_full(X, labels, weights, C, None, fit_intercept, warm_start, WARM_START_TOL,
                         100, None, "auto", WARM_START_HESSIAN_ROWS, 0, None,
                         lazy_hessian=True)  # fmt: skip


# --------------------------------------------------------------------------- output
def _to_estimator(theta, layout, classes, C, class_weight, report) -> LogisticRegression:
    theta = theta.copy()
    if layout.n_out > 1:  # scikit-learn's symmetric form: unpenalised coordinates centred
        free = np.zeros(layout.width, dtype=bool)
        if layout.fit_intercept:
            free[-1] = True
        if np.isinf(C):
            free[:] = True
        theta[:, free] -= theta[:, free].mean(axis=0)
    model = LogisticRegression(C=C, class_weight=class_weight, fit_intercept=layout.fit_intercept)
    model.classes_ = np.asarray(classes)
    model.coef_ = np.ascontiguousarray(theta[:, : layout.n_features])
    model.intercept_ = theta[:, -1].copy() if layout.fit_intercept else np.zeros(layout.n_out)
    model.n_features_in_ = layout.n_features
    model.n_iter_ = np.array([report.passes], dtype=np.int32)
    model.full_fit_ = report
    return model
