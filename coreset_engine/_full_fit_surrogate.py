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

from ._full_fit_pass import Layout, PassPlan, run_pass
from ._pilot import armijo_backtrack

#: Newton iterations on the surrogate at most, and the smallest relative decrement g . step
#: (twice the predicted decrease) that ends them: the refit asks for 1e-3 of its own predicted
#: gap, as the candidate need not be much closer to the surrogate's minimiser than that.
MAX_ITERATIONS = 10
MIN_TOLERANCE = 1e-15


class CoresetSurrogate:
    """A two-class refit's coreset rows (as a chunk of the refit's passes), and the minimiser
    of the corrected model at a point."""

    def __init__(self, X, codes, weights, layout: Layout):
        self.chunk = (X, np.asarray(codes), np.asarray(weights, dtype=np.float64))
        self.layout = layout

    def _terms(self, theta, scale, hessian: bool):
        """The coreset's data term at ``theta`` over ``scale`` (the full rows' total weight):
        value, gradient and, if asked, Hessian; the sums of a pass over the coreset's rows
        (:func:`run_pass`, class factors applied there)."""
        sums = run_pass([self.chunk], self.layout, PassPlan(theta[None, None], hessian, 0, 0))
        local_hessian = sums.hessian / scale if hessian else None
        return float(sums.losses[0]) / scale, sums.gradients[0, 0] / scale, local_hessian

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
        _, local_gradient, local_hessian = self._terms(start, scale, True)
        penalty = lam * penalized[0]
        shift_gradient = gradient[0] - (local_gradient + penalty * start)
        shift_hessian = curvature - local_hessian
        tolerance = max(float(tolerance), MIN_TOLERANCE)

        def value(t):
            d = t - start
            data, _, _ = self._terms(t, scale, False)
            return (data + 0.5 * float(penalty @ (t * t)) + float(shift_gradient @ d)
                    + 0.5 * float(d @ shift_hessian @ d))  # fmt: skip

        current, t = value(start), start
        g, H = gradient[0], curvature + np.diag(penalty)
        for iteration in range(MAX_ITERATIONS):
            if iteration:
                _, g, H = self._terms(t, scale, True)
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
