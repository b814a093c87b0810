"""Batched weighted L2 logistic regression in PyTorch: many (C, weights) problems in one solve.

Every batch member ``b`` has its own inverse regularisation ``C_b`` and its own row weights
``w_b`` (a zero weight leaves a row out, so the folds of a cross-validation are weight masks
over one matrix), and minimises scikit-learn's LogisticRegression objective::

    C_b * sum_i w_bi * loss_i(coef, intercept) + 0.5 * ||coef||^2      (intercept unpenalised)

binary (one coefficient vector, sigmoid) or multinomial (one per class, softmax, intercepts
centred to sum 0 like scikit-learn's). Like scikit-learn's solvers, the code minimises the
same objective divided by ``C_b * sum_i w_bi`` (the same optimum), so its gradient tolerance
means what ``LogisticRegression(solver="newton-cholesky", tol=...)`` means.

Method: damped Newton, all members at once. The Hessians of all members come from one matrix
product ``(B, n) @ (n, q)`` with the products ``x_ij * x_ik`` of each row (``q = (d+1)(d+2)/2``
pairs, computed once), a batched Cholesky solves the Newton systems, and a backtracking
(Armijo) line search on the exact objective keeps every step a descent. Converged members drop
out of the batch. Newton needs ~5-10 iterations from zero; each costs ``2 B n q`` flops
(256 members x 20,000 rows x 55 columns: 16 GFLOP, a few ms on an H100 in float64).

Precision: everything but the Hessians is float64 (data, decision values, losses, gradients,
line search, stopping test). ``precision="float64"`` (the default on the CPU and on GPUs with
fast float64, compute capability x.0: P100, V100, A100, H100/H200, B200) builds and factors
the Hessians in float64 too; it reproduces scikit-learn's coefficients to ~1e-8 relative (the
gradient tolerance) and its validation scores to ~1e-9, so a search picks the same C.
``"mixed"`` (the default on other GPUs, which run float64 matrix products at 1/32-1/64 of
float32 speed) builds and factors them in float32: Newton with an approximate Hessian and an
exact gradient still converges to the float64 optimum, in a few more iterations, unless the
problem is very ill-conditioned (weak penalty on unscaled features), where it may stop at
``max_iter`` (``converged`` False). Plain float32 throughout was measured and rejected: its
coefficients were off by ~5e-5 relative on a well-posed problem and by 1e-2 or more at weak
penalties, more than the score differences between neighbouring values of a fine C grid.

PyTorch is imported only when a function here runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._torch_parts import import_torch

DEFAULT_TOL = 1e-8
DEFAULT_MAX_ITER = 100
ARMIJO = 1e-4  # sufficient decrease of the line search
MAX_HALVINGS = 40
CPU_BUDGET = 2**26  # elements of working memory per chunk of members on the CPU (512 MB f64)
GPU_BUDGET_FRACTION = 0.3  # of the free GPU memory
PAIR_PRODUCTS_KEPT = 2**26  # elements of pair products always kept (512 MB in float64)


# --------------------------------------------------------------------------- devices
def resolve_device(torch, device, caller: str = "fit_logistic_batch"):
    """A torch.device from "auto" (CUDA if PyTorch sees a GPU), "cpu", "cuda" or a device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(
            f"The 'device' parameter of {caller} must be 'auto', 'cpu' or 'cuda'. "
            f"Got {device!r} instead."
        )
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"The 'device' parameter of {caller} is {device!r} but PyTorch sees no CUDA GPU. "
            "Use device='cpu' or 'auto'."
        )
    return torch.device(device)


PRECISIONS = ("auto", "float64", "mixed")


def resolve_precision(torch, precision, device, caller: str = "fit_logistic_batch") -> str:
    """The precision to solve in: "float64" or "mixed" (Hessians in float32). "auto" picks
    float64 on the CPU and on GPUs with fast float64 (compute capability x.0), "mixed" on
    others. See the module docstring."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"The 'precision' parameter of {caller} must be one of {PRECISIONS}. "
            f"Got {precision!r} instead."
        )
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "float64"
    major, minor = torch.cuda.get_device_capability(device)
    return "float64" if minor == 0 and major >= 6 else "mixed"


def synchronize(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def working_budget(torch, device) -> int:
    """Elements (float64) of working memory the solver may use at once."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(2**22, int(free * GPU_BUDGET_FRACTION) // 8)
    return CPU_BUDGET


# --------------------------------------------------------------------------- the problem
class LogisticProblem:
    """What all members share: the rows (with a column of ones for the intercept), the labels
    and the products of feature pairs the Hessians are built from.

    ``X`` is a float64 tensor, ``codes`` the class numbers 0..n_classes-1 (a LongTensor on
    the same device); ``hessian_dtype`` float32 builds and factors the Hessians in float32.
    """

    def __init__(self, torch, X, codes, n_classes: int, *, fit_intercept: bool, budget: int,
                 hessian_dtype=None):  # fmt: skip
        self.torch = torch
        self.n_classes = int(n_classes)
        self.n_out = 1 if n_classes == 2 else self.n_classes
        self.fit_intercept = bool(fit_intercept)
        n = X.shape[0]
        if fit_intercept:
            X = torch.cat([X, torch.ones((n, 1), dtype=X.dtype, device=X.device)], dim=1)
        self.X1 = X.contiguous()
        self.n_rows, self.d1 = n, X.shape[1]
        self.codes = codes
        self.dtype, self.device = X.dtype, X.device
        self.eps = torch.finfo(X.dtype).eps
        self.hdtype = X.dtype if hessian_dtype is None else hessian_dtype
        if self.n_out == 1:
            self.target = (codes == 1).to(X.dtype).reshape(1, 1, n)  # (1, 1, n)
            self.sign = 1 - 2 * self.target[:, 0]  # (1, n): loss_i = log(1 + exp(sign_i eta_i))
            self.zero = torch.zeros((), dtype=X.dtype, device=X.device)
        else:
            onehot = torch.nn.functional.one_hot(codes, self.n_classes).to(X.dtype)
            self.target = onehot.T.reshape(1, self.n_classes, n)  # (1, K, n)
        self.iu, self.ju = torch.triu_indices(self.d1, self.d1, device=X.device)
        self.n_pairs_features = int(self.iu.numel())
        self.penalized = torch.ones(self.d1, dtype=X.dtype, device=X.device)
        if fit_intercept:
            self.penalized[-1] = 0.0
        # class pairs (k <= l) of the multinomial Hessian blocks
        K = self.n_out
        ki, li = torch.triu_indices(K, K, device=X.device)
        self.class_pairs = (ki, li)
        self.n_class_pairs = int(ki.numel())
        index = torch.empty((K, K), dtype=torch.long, device=X.device)
        index[ki, li] = torch.arange(self.n_class_pairs, device=X.device)
        index[li, ki] = torch.arange(self.n_class_pairs, device=X.device)
        self.pair_index = index
        self.budget = int(budget)
        self.row_block = max(1, min(n, self.budget // (4 * max(self.n_pairs_features, 1))))
        # products of feature pairs per row, kept unless they are large (then rebuilt by row
        # blocks for every Hessian, several times slower)
        keep = n * self.n_pairs_features <= max(self.budget // 2, PAIR_PRODUCTS_KEPT)
        self.Z = self._pair_products(0, n) if keep else None

    def _pair_products(self, start: int, stop: int):
        """(rows, q) products x_ij * x_ik, j <= k, in ``triu_indices`` order."""
        rows = self.X1[start:stop].to(self.hdtype)
        out = self.torch.empty((rows.shape[0], self.n_pairs_features), dtype=self.hdtype,
                               device=self.device)  # fmt: skip
        offset = 0
        for j in range(self.d1):
            width = self.d1 - j
            self.torch.mul(rows[:, j : j + 1], rows[:, j:], out=out[:, offset : offset + width])
            offset += width
        return out

    def member_cost(self) -> int:
        """Working elements per member, for chunking a batch."""
        p = self.n_out * self.d1
        return (8 * self.n_out + 2 + self.n_class_pairs) * self.n_rows + (
            self.n_class_pairs * self.n_pairs_features + 4 * p * p
        )

    # ---------------------------------------------------------------- pieces of Newton
    def linear(self, theta):
        """Decision values (A, n_out, n) of coefficients (A, n_out, d1) on the rows."""
        return theta @ self.X1.T

    def losses(self, eta):
        """Per-row losses (A, n) of decision values (A, n_out, n)."""
        torch = self.torch
        if self.n_out == 1:
            return torch.logaddexp(self.sign * eta[:, 0], self.zero)
        return torch.logsumexp(eta, dim=1) - (self.target * eta).sum(dim=1)

    def objective(self, eta, weights, theta, lam):
        """sum_i w_i loss_i + lam / 2 ||coef||^2 per member (weights summing to 1)."""
        data = (weights * self.losses(eta)).sum(dim=1)
        return data + 0.5 * lam * ((theta * theta) * self.penalized).sum(dim=(1, 2))

    def probabilities(self, eta):
        torch = self.torch
        if self.n_out == 1:
            return torch.sigmoid(eta)
        return torch.softmax(eta, dim=1)

    def gradient(self, prob, weights, theta, lam):
        residual = weights[:, None, :] * (prob - self.target)  # (A, n_out, n)
        return residual @ self.X1 + lam[:, None, None] * theta * self.penalized

    def hessian(self, prob, weights, lam):
        """(A, p, p) Hessians, p = n_out * d1, index k * d1 + j for class k, feature j."""
        torch = self.torch
        A, K, d1 = prob.shape[0], self.n_out, self.d1
        if K == 1:
            curvature = (weights * prob[:, 0] * (1 - prob[:, 0]))[:, None, :]  # (A, 1, n)
        else:
            ki, li = self.class_pairs
            curvature = -prob[:, ki] * prob[:, li]  # (A, P, n)
            diagonal = ki == li
            curvature[:, diagonal] += prob
            curvature *= weights[:, None, :]
        packed = self._hessian_products(curvature.to(self.hdtype))  # (A, P, q)
        blocks = torch.zeros((A, packed.shape[1], d1, d1), dtype=self.hdtype, device=self.device)
        blocks[..., self.iu, self.ju] = packed
        blocks[..., self.ju, self.iu] = packed
        if K == 1:
            H = blocks[:, 0]
        else:
            H = blocks[:, self.pair_index]  # (A, K, K, d1, d1)
            H = H.permute(0, 1, 3, 2, 4).reshape(A, K * d1, K * d1)
        penalty = (lam[:, None] * self.penalized.repeat(K)).to(self.hdtype)
        H.diagonal(dim1=1, dim2=2).add_(penalty)
        if K > 1:
            self._fix_multinomial_null_space(H, lam)
        return H

    def _hessian_products(self, curvature):
        """sum_i curvature[a, c, i] * x_ij * x_ik for the upper-triangle pairs (j, k)."""
        A, P, n = curvature.shape
        flat = curvature.reshape(A * P, n)
        if self.Z is not None:
            return (flat @ self.Z).reshape(A, P, -1)
        out = None
        for start in range(0, n, self.row_block):
            stop = min(n, start + self.row_block)
            part = flat[:, start:stop] @ self._pair_products(start, stop)
            out = part if out is None else out + part
        return out.reshape(A, P, -1)

    def _fix_multinomial_null_space(self, H, lam):
        """The multinomial loss does not change when a vector is added to every class's
        coefficients; unpenalised coordinates (the intercept, all of them when C is
        infinite) make H singular along those directions. The gradient is orthogonal to them,
        so adding c * u u^T for each such direction u gives the same Newton step, now from a
        positive definite matrix."""
        torch = self.torch
        A, K, d1 = H.shape[0], self.n_out, self.d1
        free = (self.penalized == 0)[None, :] | (lam == 0)[:, None]  # (A, d1)
        scale = H.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(1e-12) / K  # (A,)
        extra = torch.diag_embed(free.to(H.dtype) * scale[:, None])  # (A, d1, d1)
        H.view(A, K, d1, K, d1).add_(extra[:, None, :, None, :])

    def center(self, theta, lam):
        """Multinomial coefficients in scikit-learn's symmetric form: intercepts summing to 0
        (and every coefficient, for members without penalty)."""
        if self.n_out == 1:
            return theta
        free = (self.penalized == 0)[None, :] | (lam == 0)[:, None]  # (A, d1)
        mean = theta.mean(dim=1, keepdim=True)
        return theta - mean * free[:, None, :].to(theta.dtype)


# --------------------------------------------------------------------------- Newton
def newton_solve(problem: LogisticProblem, weights, inv_C, *, tol=DEFAULT_TOL,
                 max_iter=DEFAULT_MAX_ITER):  # fmt: skip
    """Solve every member, in chunks that fit the problem's memory budget.

    ``weights``: (B, n) non-negative tensor (rows with weight 0 are left out); ``inv_C``:
    (B,) tensor of 1 / C (0: no penalty). Returns (theta (B, n_out, d1), n_iter (B,),
    converged (B,), max |gradient| (B,)), tensors on the problem's device.
    """
    torch = problem.torch
    B = weights.shape[0]
    chunk = max(1, problem.budget // problem.member_cost())
    parts = [
        _newton_chunk(
            problem, weights[start : start + chunk], inv_C[start : start + chunk], tol, max_iter
        )
        for start in range(0, B, chunk)
    ]
    return tuple(torch.cat(column) for column in zip(*parts))


def _newton_chunk(problem: LogisticProblem, weights, inv_C, tol, max_iter):
    torch = problem.torch
    B = weights.shape[0]
    dtype, device = problem.dtype, problem.device
    total = weights.sum(dim=1)
    if not bool(torch.all(total > 0)):
        raise ValueError("Every batch member needs a positive total weight.")
    lam_all = inv_C.to(dtype) / total
    theta = torch.zeros((B, problem.n_out, problem.d1), dtype=dtype, device=device)
    n_iter = torch.zeros(B, dtype=torch.long, device=device)
    converged = torch.zeros(B, dtype=torch.bool, device=device)
    gmax = torch.full((B,), math.inf, dtype=dtype, device=device)
    # the state of the members still iterating (compacted as members finish)
    ids = torch.arange(B, device=device)
    th = theta.clone()
    w = weights / total[:, None]
    lam = lam_all
    eta = torch.zeros((B, problem.n_out, problem.n_rows), dtype=dtype, device=device)
    f = problem.objective(eta, w, th, lam)
    finishing = torch.zeros(B, dtype=torch.bool, device=device)
    stalled = torch.zeros(B, dtype=torch.bool, device=device)
    # a Newton decrement this small relative to the objective is at rounding level: the full
    # step is taken without line search and the member stops after it
    tiny = 1e3 * problem.eps
    for iteration in range(max_iter + 1):
        prob = problem.probabilities(eta)
        G = problem.gradient(prob, w, th, lam)
        g = G.abs().amax(dim=(1, 2))
        gmax[ids] = g
        good = (g <= tol) | finishing
        converged[ids[good]] = True
        keep = ~(good | stalled)
        if iteration == max_iter or not bool(keep.any()):
            theta[ids] = th
            break
        if not bool(keep.all()):
            theta[ids[~keep]] = th[~keep]
            ids, th, w, lam, eta, f = ids[keep], th[keep], w[keep], lam[keep], eta[keep], f[keep]
            prob, G = prob[keep], G[keep]
        A, p = th.shape[0], th.shape[1] * th.shape[2]
        H = problem.hessian(prob, w, lam)
        step = _newton_step(torch, H, G.reshape(A, p).to(H.dtype)).to(dtype).reshape(th.shape)
        del H
        del prob
        decrement = -(G * step).sum(dim=(1, 2))  # > 0 for a descent direction
        shift = problem.linear(step)
        small = decrement <= tiny * f.abs().clamp_min(1e-300)
        t = torch.ones(A, dtype=dtype, device=device)
        accepted = small.clone()
        f_new = f.clone()
        for _ in range(MAX_HALVINGS):
            trial = problem.objective(
                eta + t[:, None, None] * shift, w, th + t[:, None, None] * step, lam
            )
            now = ~accepted & (trial <= f - ARMIJO * t * decrement)
            f_new = torch.where(now | small, trial, f_new)
            accepted |= now
            if bool(accepted.all()):
                break
            t = torch.where(accepted, t, 0.5 * t)
        t = torch.where(accepted, t, torch.zeros_like(t))  # no descent found: stop there
        th = th + t[:, None, None] * step
        eta = eta + t[:, None, None] * shift
        f = f_new
        n_iter[ids] += 1
        finishing, stalled = small, ~accepted
        if iteration + 1 < max_iter and bool(finishing.any()):
            eta = torch.where(finishing[:, None, None], problem.linear(th), eta)
    theta = problem.center(theta, lam_all)
    return theta, n_iter, converged, gmax


def _newton_step(torch, H, gradient):
    """Solve H s = -g for every member (Cholesky; a jittered H, then -g, where that fails)."""
    rhs = -gradient[:, :, None]
    L, info = torch.linalg.cholesky_ex(H)
    step = torch.cholesky_solve(rhs, L)[:, :, 0]
    bad = info != 0
    if bool(bad.any()):
        eye = torch.eye(H.shape[1], dtype=H.dtype, device=H.device)
        jitter = 1e-8 * H[bad].diagonal(dim1=1, dim2=2).abs().amax(dim=1).clamp_min(1e-12)
        L2, info2 = torch.linalg.cholesky_ex(H[bad] + jitter[:, None, None] * eye)
        fixed = torch.cholesky_solve(rhs[bad], L2)[:, :, 0]
        fixed = torch.where((info2 != 0)[:, None], -gradient[bad], fixed)
        step[bad] = fixed
    return step


# --------------------------------------------------------------------------- public API
@dataclass
class LogisticBatch:
    """Solutions of :func:`fit_logistic_batch`, one per member (numpy arrays).

    ``coef`` has shape (B, n_out, n_features) and ``intercept`` (B, n_out), ``n_out`` being 1
    for two classes (the coefficients of ``classes[1]``) and n_classes otherwise: member
    ``b`` is ``LogisticRegression.coef_ = coef[b]``, ``intercept_ = intercept[b]``.
    """

    classes: np.ndarray
    C: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    max_abs_gradient: np.ndarray
    device: str
    precision: str

    def to_estimator(self, member: int, **params):
        """A fitted scikit-learn LogisticRegression holding member ``member``'s solution."""
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(**{"C": float(self.C[member]), **params})
        return set_solution(model, self.classes, self.coef[member], self.intercept[member],
                            int(self.n_iter[member]))  # fmt: skip


def set_solution(model, classes, coef, intercept, n_iter: int):
    """Make a LogisticRegression fitted with the given solution, as its own fit would."""
    model.classes_ = np.asarray(classes)
    model.coef_ = np.ascontiguousarray(coef, dtype=np.float64)
    model.intercept_ = np.asarray(intercept, dtype=np.float64).copy()
    model.n_features_in_ = int(model.coef_.shape[1])
    model.n_iter_ = np.array([n_iter], dtype=np.int32)
    return model


def fit_logistic_batch(X, y, C, sample_weight=None, *, class_weight=None, fit_intercept=True,
                       tol=DEFAULT_TOL, max_iter=DEFAULT_MAX_ITER, device="auto",
                       precision="auto") -> LogisticBatch:  # fmt: skip
    """Fit one weighted L2 logistic regression per value of ``C`` (and weight row), at once.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Labels (any type); ``classes`` are ``np.unique(y)``, at least 2.
    C : float or array-like of shape (B,)
        Inverse regularisation strengths, > 0 (``np.inf``: no penalty).
    sample_weight : None, array-like of shape (n_samples,) or (B, n_samples)
        Row weights >= 0, shared by all members or one row per member (0 leaves a row out:
        cross-validation folds are weight masks). Each member needs a positive total.
    class_weight : None, "balanced" or dict
        As in LogisticRegression; "balanced" uses each member's weighted class totals.
    fit_intercept : bool, default True
    tol : float, default 1e-8
        Stop a member when max |gradient| of its objective divided by ``C * sum(w)`` is at
        most ``tol`` (scikit-learn's newton-cholesky criterion), or when its Newton decrement
        reaches rounding level.
    max_iter : int, default 100
        Newton iterations at most; members still above ``tol`` have ``converged`` False.
    device : {"auto", "cpu", "cuda"}, default "auto"
        "auto": CUDA when PyTorch sees a GPU.
    precision : {"auto", "float64", "mixed"}, default "auto"
        "mixed" builds and factors the Hessians in float32 (the rest stays float64, so the
        solution is as accurate); "auto": float64 on the CPU and on GPUs with fast float64,
        "mixed" on others. See the module docstring.

    Returns
    -------
    LogisticBatch
    """
    torch = import_torch("fit_logistic_batch")
    caller = "fit_logistic_batch"
    device = resolve_device(torch, device, caller)
    precision = resolve_precision(torch, precision, device, caller)
    dtype = torch.float64
    X = np.asarray(X)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number) or not np.all(np.isfinite(X)):
        raise ValueError(
            f"X must be a 2-d array of finite numbers. Got shape {X.shape} ({X.dtype}) instead."
        )
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},). Got {y.shape} instead.")
    classes, codes = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(
            "fit_logistic_batch needs samples of at least 2 classes in the data, but the data "
            f"contains only one class: {classes[0]!r}"
        )
    C = check_C(C, caller)
    weights = _member_weights(sample_weight, C.size, X.shape[0], caller)
    Xt = torch.as_tensor(np.ascontiguousarray(X), device=device).to(dtype)
    codes_t = torch.as_tensor(codes.astype(np.int64), device=device)
    W = torch.as_tensor(weights, device=device).to(dtype)
    if W.shape[0] != C.size:
        W = W.expand(C.size, -1)
    W = apply_class_weight(torch, W, codes_t, classes, class_weight, caller)
    problem = LogisticProblem(
        torch, Xt, codes_t, classes.size, fit_intercept=fit_intercept,
        budget=working_budget(torch, device), hessian_dtype=hessian_dtype(torch, precision),
    )  # fmt: skip
    inv_C = torch.as_tensor(1.0 / C, device=device).to(dtype)
    theta, n_iter, converged, gmax = newton_solve(problem, W, inv_C, tol=tol, max_iter=max_iter)
    theta = theta.double().cpu().numpy()
    coef = theta[:, :, : X.shape[1]]
    intercept = theta[:, :, -1] if fit_intercept else np.zeros(theta.shape[:2])
    return LogisticBatch(
        classes, C, np.ascontiguousarray(coef), np.ascontiguousarray(intercept),
        n_iter.cpu().numpy(), converged.cpu().numpy(), gmax.double().cpu().numpy(),
        str(device), precision,
    )  # fmt: skip


def hessian_dtype(torch, precision: str):
    return torch.float32 if precision == "mixed" else torch.float64


def check_C(C, caller: str) -> np.ndarray:
    values = np.atleast_1d(np.asarray(C, dtype=np.float64))
    if values.ndim != 1 or values.size == 0 or np.any(np.isnan(values)) or np.any(values <= 0):
        raise ValueError(
            f"The 'C' parameter of {caller} must be floats > 0 (np.inf: no penalty). "
            f"Got {C!r} instead."
        )
    return values


def _member_weights(sample_weight, n_members: int, n_rows: int, caller: str) -> np.ndarray:
    if sample_weight is None:
        return np.ones((1, n_rows))
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.ndim == 1:
        weights = weights[None, :]
    if weights.ndim != 2 or weights.shape[1] != n_rows or weights.shape[0] not in (1, n_members):
        raise ValueError(
            f"The 'sample_weight' parameter of {caller} must have shape ({n_rows},) or "
            f"({n_members}, {n_rows}). Got {np.shape(sample_weight)} instead."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"The 'sample_weight' parameter of {caller} must be finite and >= 0.")
    if np.any(weights.sum(axis=1) <= 0):
        raise ValueError(
            f"The 'sample_weight' parameter of {caller} must give every member a positive "
            "total weight."
        )
    return weights


def apply_class_weight(torch, W, codes, classes, class_weight, caller: str):
    """Multiply member weights (B, n) by class weights as LogisticRegression does: "balanced"
    gives class k the weight ``total / (n_classes * total_k)`` of each member's weights."""
    if class_weight is None:
        return W
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"The 'class_weight' parameter of {caller} must be None, 'balanced' or a dict. "
                f"Got {class_weight!r} instead."
            )
        K = len(classes)
        totals = torch.zeros((W.shape[0], K), dtype=W.dtype, device=W.device)
        totals.index_add_(1, codes, W)
        present = totals > 0
        factors = W.sum(dim=1, keepdim=True) / (present.sum(dim=1, keepdim=True) * totals)
        factors = torch.where(present, factors, torch.ones_like(factors))
        return W * factors[:, codes]
    if isinstance(class_weight, dict):
        from sklearn.utils.class_weight import compute_class_weight

        factors = compute_class_weight(class_weight, classes=classes, y=classes)
        factors = torch.as_tensor(factors, device=W.device).to(W.dtype)
        return W * factors[codes][None, :]
    raise ValueError(
        f"The 'class_weight' parameter of {caller} must be None, 'balanced' or a dict. "
        f"Got {class_weight!r} instead."
    )
