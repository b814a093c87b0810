"""What bounds refit="full"'s passes: Newton-type iterations from the root coreset's optimum.

``fit_logistic_full(tree)`` starts at the optimum of the full objective's restriction to the
tree's root coreset and takes one (damped) Newton step per pass over all rows. How many passes
it needs to come within 1e-6 of the full-data optimum is bounded by how fast Newton-type
iterations converge from that start. This runs, in plain float64 NumPy (not the engine's code),
from the same start, for each data set (standardized training split, C = 1), class weight and
the trees of random_state 0 .. ``--seeds`` - 1:

- **newton**: exact Newton steps, every row's gradient and Hessian, no damping (one pass each:
  what a refit that takes only Newton's steps would need);
- **coreset-corrected**: each step goes to the minimiser of the root coreset's own objective
  plus the full-minus-coreset differences of gradient and Hessian at the current point (a
  surrogate that matches the full objective to second order there and takes the higher orders
  from the coreset; the gradient correction is that of variance-reduced subsampled Newton,
  Derezinski et al. 2022), solved in memory: still one pass a step, more work between passes;
- **coreset-corrected, rare rows exact**: the same with the rows of the coreset's rarest
  columns held exactly (the rows of all rows off their column's majority value there, in
  place of the coreset's own such rows; as many as the coreset expects, up to its own size):
  what the engine's surrogate does since 2026-12-08, written again in NumPy;
- **sample-corrected m**: the same with a uniform sample of m of all rows (weights n / m), a
  new one each step, instead of the coreset: what an in-memory sample of that size would buy;
- **engine**: ``fit_logistic_full(tree)`` itself, the pass after which the point it holds is
  within 1e-6; **engine passes**: the passes it takes until its own stopping test (Newton's
  predicted gap at most its ``tol``, 1e-7) holds.

Gaps are (objective - optimum) / optimum, objective ``sum_i cw_i loss_i + ||coef||^2 / 2``;
the optimum from exact Newton on all rows to a relative decrement of 1e-15. **passes to 1e-6**:
the first pass after which the point held is within 1e-6 (the pass that evaluates the start is
pass 1, the point after step k is evaluated by pass k + 1; "-" if not within ``--steps``).

    python -m benchmarks.bench_newton_tail --datasets a9a --seeds 24 --markdown docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from coreset_engine import CoresetTree, fit_logistic_full
from coreset_engine.datasets import load_dataset, train_test_standardized

TARGET = 1e-6


class Rows:
    """Weighted rows [x, 1] with labels as signs; the C = 1 objective and its derivatives."""

    def __init__(self, X, signs, weights, penalty):
        self.Z = np.hstack([np.asarray(X, dtype=np.float64), np.ones((X.shape[0], 1))])
        self.signs, self.weights, self.penalty = signs, weights, penalty

    def value(self, theta) -> float:
        margins = self.signs * (self.Z @ theta)
        losses = np.logaddexp(0.0, -margins)
        return float(self.weights @ losses) + 0.5 * float(self.penalty @ theta**2)

    def gradient(self, theta) -> np.ndarray:
        margins = self.signs * (self.Z @ theta)
        miss = 0.5 * (1.0 - np.tanh(0.5 * margins))
        return self.Z.T @ (-self.weights * self.signs * miss) + self.penalty * theta

    def hessian(self, theta) -> np.ndarray:
        small = np.exp(-np.abs(self.Z @ theta))
        root = self.Z * np.sqrt(self.weights * small / (1.0 + small) ** 2)[:, None]
        return root.T @ root + np.diag(self.penalty)


def minimise(value, gradient, hessian, theta, tol=1e-15, max_steps=100):
    """Newton with backtracking (Armijo) until the decrement is below ``tol`` x |value|."""
    current = value(theta)
    for _ in range(max_steps):
        g, H = gradient(theta), hessian(theta)
        step = -np.linalg.solve(H, g)
        decrement = -float(g @ step)
        if decrement <= tol * abs(current):
            break
        t = 1.0
        while t > 1e-12:
            candidate = value(theta + t * step)
            if candidate <= current - 1e-4 * t * decrement:
                break
            t *= 0.5
        else:
            break
        theta, current = theta + t * step, candidate
    return theta


def corrected_step(full: Rows, local: Rows, theta):
    """The minimiser of local(t) + (g_full - g_local)(theta).(t - theta)
    + (t - theta).(H_full - H_local)(theta).(t - theta) / 2."""
    dg = full.gradient(theta) - local.gradient(theta)
    dH = full.hessian(theta) - local.hessian(theta)

    def value(t):
        d = t - theta
        return local.value(t) + float(dg @ d) + 0.5 * float(d @ dH @ d)

    return minimise(value, lambda t: local.gradient(t) + dg + dH @ (t - theta),
                    lambda t: local.hessian(t) + dH, theta.copy())  # fmt: skip


def with_rare_rows(local_X, local_codes, local_weights, X, codes, budget):
    """The coreset's rows with the rows of all rows that are off their column's majority
    value in its rarest columns in place of its own such rows (plain NumPy, the rule of the
    engine's ``_full_fit_surrogate.rare_columns``: a column's base is its value on more than
    half the coreset's rows, its expected rows off base the weights of its coreset rows off
    base, the rarest taken while they add up to at most ``budget``; none if more than twice
    that turn up). Returns (X, codes, row weights before class factors)."""
    expected = np.full(local_X.shape[1], np.inf)
    base = np.zeros(local_X.shape[1])
    for j in range(local_X.shape[1]):
        values, counts = np.unique(local_X[:, j], return_counts=True)
        if 2 * counts.max() > local_X.shape[0]:
            base[j] = values[np.argmax(counts)]
            expected[j] = float(local_weights @ (local_X[:, j] != base[j]))
    order = np.argsort(expected, kind="stable")
    taken = order[np.cumsum(expected[order]) <= budget]
    off = (X[:, taken] != base[taken]).any(axis=1)
    if taken.size == 0 or not off.any() or off.sum() > 2 * budget:
        return local_X, local_codes, local_weights
    keep = ~(local_X[:, taken] != base[taken]).any(axis=1)
    return (np.vstack([local_X[keep], X[off]]), np.concatenate([local_codes[keep], codes[off]]),
            np.concatenate([local_weights[keep], np.ones(int(off.sum()))]))  # fmt: skip


def passes_to(gaps) -> int | None:
    within = [k for k, g in enumerate(gaps) if g <= TARGET]
    return within[0] + 1 if within else None


def run_case(name, X, y, class_weight, args) -> dict:
    classes = np.unique(y)
    size = min(20_000, len(y) // 10)
    factors = np.ones(2)
    if class_weight == "balanced":
        factors = len(y) / (2.0 * np.bincount(np.searchsorted(classes, y)))
    penalty = np.append(np.ones(X.shape[1]), 0.0)
    codes = np.searchsorted(classes, y)
    full = Rows(X, np.where(codes == 1, 1.0, -1.0), factors[codes], penalty)
    results = {"newton": [], "coreset-corrected": [], "coreset-corrected, rare rows exact": [],
               "engine": [], "engine passes": []}  # fmt: skip
    for m in args.samples:
        results[f"sample-corrected {m:,}"] = []
    first_gaps = {}
    optimum = None
    for seed in range(args.seeds):
        tree = CoresetTree(coreset_size=size, random_state=seed).build(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            engine = fit_logistic_full(tree, C=1.0, class_weight=class_weight)
        report = engine.full_fit_
        if optimum is None:  # exact Newton on all rows, from the engine's refit
            start = np.append(engine.coef_[0], engine.intercept_[0])
            optimum = full.value(minimise(full.value, full.gradient, full.hessian, start))
        coreset = tree.get_coreset()
        local_codes = np.searchsorted(classes, np.asarray(getattr(coreset, "decoded_y", coreset.y)))
        local = Rows(coreset.X, np.where(local_codes == 1, 1.0, -1.0),
                     coreset.weights * factors[local_codes], penalty)  # fmt: skip
        start = minimise(local.value, local.gradient, local.hessian, np.zeros(X.shape[1] + 1))
        rare_X, rare_codes, rare_weights = with_rare_rows(
            np.asarray(coreset.X, dtype=np.float64), local_codes, coreset.weights,
            np.asarray(X, dtype=np.float64), codes, coreset.X.shape[0])  # fmt: skip
        rare = Rows(rare_X, np.where(rare_codes == 1, 1.0, -1.0),
                    rare_weights * factors[rare_codes], penalty)  # fmt: skip
        rng = np.random.default_rng(seed)
        runs = {"engine": [(value - optimum) / optimum for value in report.objectives]}
        for method in results:
            if method.startswith("engine"):
                continue
            theta, gaps = start, [(full.value(start) - optimum) / optimum]
            for _ in range(args.steps):
                if method == "newton":
                    theta = theta - np.linalg.solve(full.hessian(theta), full.gradient(theta))
                elif method == "coreset-corrected":
                    theta = corrected_step(full, local, theta)
                elif method == "coreset-corrected, rare rows exact":
                    theta = corrected_step(full, rare, theta)
                else:
                    m = min(int(method.rsplit(" ", 1)[1].replace(",", "")), len(y))
                    rows = np.sort(rng.choice(len(y), m, replace=False))
                    sample = Rows(X[rows], full.signs[rows], full.weights[rows] * len(y) / m,
                                  penalty)  # fmt: skip
                    theta = corrected_step(full, sample, theta)
                gaps.append((full.value(theta) - optimum) / optimum)
            runs[method] = gaps
        for method, gaps in runs.items():
            results[method].append(passes_to(gaps))
        results["engine passes"].append(report.passes)
        if seed == 0:
            first_gaps = runs
        print(f"{name} {class_weight} seed {seed}: " + ", ".join(
            f"{method} {passes_to(gaps)}" for method, gaps in runs.items()
        ) + f" (engine stops after {report.passes})", flush=True)  # fmt: skip
    return {"data": name, "class_weight": class_weight, "rows": len(y), "coreset": size,
            "results": results, "seed0": first_gaps}  # fmt: skip


def table(cases) -> str:
    lines = [
        ("| data | class_weight | method | passes to 1e-6, seeds 0, 1, ... | mean | at most 4 | "
         "gap by pass, seed 0 |"),
        "|---|---|---|---|---:|---:|---|",
    ]
    for case in cases:
        for method, passes in case["results"].items():
            reached = [p for p in passes if p is not None]
            mean = f"{np.mean(reached):.2f}" if len(reached) == len(passes) else "-"
            within = sum(p is not None and p <= 4 for p in passes)
            gaps = case["seed0"].get(method)
            shown = ", ".join(f"{g:.0e}" for g in gaps[:7]) if gaps is not None else ""
            listed = ", ".join("-" if p is None else str(p) for p in passes)
            lines.append(
                f"| {case['data']} | {case['class_weight']} | {method} | {listed} | {mean} | "
                f"{within} of {len(passes)} | {shown} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="a9a")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--samples", default="5000,20000",
                        help="sizes of the uniform samples (comma-separated; empty: none)")  # fmt: skip
    parser.add_argument("--markdown", default=None,
                        help="write the section --section of this Markdown file")  # fmt: skip
    parser.add_argument("--section", default="newton-tail")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.steps < 1:
        parser.error(f"--seeds and --steps must be at least 1, got {args.seeds}, {args.steps}")
    args.samples = [int(s) for s in args.samples.split(",") if s]
    command = "python -m benchmarks.bench_newton_tail " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    cases = []
    with threadpool_limits(1):
        for name in args.datasets.split(","):
            X, _, y, _ = train_test_standardized(load_dataset(name))
            if np.unique(y).size != 2:
                raise ValueError(f"--datasets: {name} has {np.unique(y).size} classes, not 2")
            for class_weight in (None, "balanced"):
                cases.append(run_case(name, X, y, class_weight, args))
    text = table(cases)
    print(text)
    if args.markdown:
        from coreset_cli.bench.report import write_section

        write_section(args.markdown, args.section, "\n".join([
            ("## What bounds refit=\"full\"'s passes: Newton-type steps from the coreset's "
             "optimum"),
            "",
            f"Produced by `{command}` on {started} ({len(os.sched_getaffinity(0))} cores).",
            "",
            __doc__.split("\n\n", 1)[1].split("\n    python")[0].strip(),
            "",
            text,
        ]))  # fmt: skip
    return cases


if __name__ == "__main__":
    main()
