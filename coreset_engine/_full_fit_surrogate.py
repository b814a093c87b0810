"""The coreset-corrected candidate of the full-data logistic refit (``_full_fit``), two classes.

After a pass, the refit knows at the point it holds, theta_k, the exact gradient g and Hessian H
of the full objective f (normalised by the total row weight). Newton's step minimises the
quadratic model of f there. The root coreset, held in memory, gives a model with the higher
orders too:

    s(t) = c(t) + (g - grad c(theta_k)) . (t - theta_k)
           + (t - theta_k) . (H - hess c(theta_k)) . (t - theta_k) / 2,

c the same objective (penalty included) over the coreset's weighted rows. s matches f's value
up to a constant, gradient and Hessian at theta_k, and takes the rest of its shape from the
coreset (the gradient correction is that of variance-reduced subsampled Newton, Derezinski et
al. 2022). Its minimiser, found in memory by Newton's method with backtracking, is one more
candidate of the next pass, which evaluates it on all rows like the others: a poor one is not
taken. From the coreset's own optimum on a9a it came within 1e-6 of the full optimum in at most
4 passes for 22 of 24 trees, Newton's steps for 8 and the refit's damped ones for 20
(``python -m benchmarks.bench_newton_tail``; docs/BENCHMARKS.md, section newton-tail).
"""

from __future__ import annotations

import numpy as np

from ._full_fit_pass import Layout, binary_hessian
from ._pilot import armijo_backtrack

#: Newton iterations on the surrogate at most, and the smallest relative decrement g . step
#: (twice the predicted decrease) that ends them: the refit asks for 1e-3 of its own predicted
#: gap, as the candidate need not be much closer to the surrogate's minimiser than that.
MAX_ITERATIONS = 10
MIN_TOLERANCE = 1e-15


class CoresetSurrogate:
    """A two-class refit's coreset rows (float64, each with its sign and weight times class
    factor), and the minimiser of the corrected model at a point."""

    def __init__(self, X, codes, weights, layout: Layout):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.signs = np.where(np.asarray(codes) == 1, 1.0, -1.0)
        self.weights = np.asarray(weights, dtype=np.float64) * layout.class_factors[codes]
        self.fit_intercept = layout.fit_intercept

    def _terms(self, theta, scale, order):
        """The coreset's data term over ``scale`` (the full rows' total weight): value, and
        with ``order`` >= 1 its gradient, >= 2 its Hessian."""
        d = self.X.shape[1]
        values = self.X @ theta[:d]
        if self.fit_intercept:
            values += theta[d]
        margins = self.signs * values
        weights = self.weights / scale
        value = float(weights @ np.logaddexp(0.0, -margins))
        if order == 0:
            return value, None, None
        miss = 0.5 * (1.0 - np.tanh(0.5 * margins))  # 1 / (1 + exp(margin)), no overflow
        residuals = -weights * self.signs * miss
        gradient = self.X.T @ residuals
        if self.fit_intercept:
            gradient = np.append(gradient, residuals.sum())
        if order == 1:
            return value, gradient, None
        small = np.exp(-np.abs(margins))
        curvature = weights * small / np.square(1.0 + small)
        hessian = binary_hessian(self.X, curvature, self.fit_intercept)
        return value, gradient, hessian

    def minimiser(self, theta, gradient, curvature, lam, penalized, live, scale, tolerance):
        """The surrogate's minimiser over the ``live`` coefficients from ``theta`` (1, width):
        ``gradient`` the full objective's at theta (penalty included), ``curvature`` its data
        term's Hessian there, ``lam`` the penalty's factor on ``penalized`` coefficients,
        ``scale`` the full rows' total weight. Newton's method with backtracking, until the
        decrement is below ``tolerance`` (relative; floored at MIN_TOLERANCE) or
        MAX_ITERATIONS; its first step is the full objective's Newton step (the surrogate's
        gradient and Hessian there are the full ones). None where it makes no step (the
        surrogate not positive definite, or no decrease)."""
        start = theta[0].copy()
        _, local_gradient, local_hessian = self._terms(start, scale, 2)
        penalty = lam * penalized[0]
        shift_gradient = gradient[0] - (local_gradient + penalty * start)
        shift_hessian = curvature - local_hessian
        tolerance = max(float(tolerance), MIN_TOLERANCE)

        def value(t):
            d = t - start
            data, _, _ = self._terms(t, scale, 0)
            return (data + 0.5 * float(penalty @ (t * t)) + float(shift_gradient @ d)
                    + 0.5 * float(d @ shift_hessian @ d))  # fmt: skip

        current, t = value(start), start
        g, H = gradient[0], curvature + np.diag(penalty)
        for iteration in range(MAX_ITERATIONS):
            if iteration:
                _, g, H = self._terms(t, scale, 2)
                g = g + penalty * t + shift_gradient + shift_hessian @ (t - start)
                H = H + np.diag(penalty) + shift_hessian
            sub = H[np.ix_(live, live)]
            try:
                factor = np.linalg.cholesky(0.5 * (sub + sub.T))
            except np.linalg.LinAlgError:
                break
            step = np.zeros_like(t)
            step[live] = -np.linalg.solve(factor.T, np.linalg.solve(factor, g[live]))
            decrement = -float(g @ step)
            if not decrement > tolerance * max(abs(current), 1e-300):
                break
            found = armijo_backtrack(value, t, step, current, decrement, 1e-10)
            if found is None:
                break
            length, current = found
            t = t + length * step
        if np.array_equal(t, start) or not np.all(np.isfinite(t)):
            return None
        return t[None]
