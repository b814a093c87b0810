"""``model_loss``: coresets for tree models (gradient-boosted trees, random forests), sampled by
a cheap pilot model's per-row loss gradient.

A boosted tree's split gains are sums of the rows' loss gradients (and hessians): rows the
current model already fits well move no split. LightGBM's GOSS (Ke et al., NeurIPS 2017) keeps
the rows with large gradients and subsamples the rest, reweighted, at every boosting round.
``model_loss`` does it once, for the whole tree and every model tuned on it: each node fits the
tree's pilot (a weighted L2 logistic regression, ``coreset_engine._pilot``: at a leaf on a
class-stratified sample of the leaf, at a merge on the merged rows) and scores row i, standing
for w_i raw rows, by

    w_i * (MODEL_LOSS_FLOOR + 1 - p_pilot(y_i | x_i)),

1 - p(y | x) being the size of the logistic loss's gradient in the logit (binary; for several
classes it is within a factor sqrt(2) of the gradient's norm). The draw is the engine's: each
class its own budget with a floor, without replacement, Horvitz-Thompson weights 1 / pi_i, so
every weighted sum over the coreset is an unbiased estimate of the sum over the rows. The floor
keeps every row's inclusion probability at least MODEL_LOSS_FLOOR / (1 + MODEL_LOSS_FLOOR) of
the largest, so regions the linear pilot fits well (where a tree may still split) keep rows.

No leverage term: tree models are invariant to feature scaling, and leverage rewards extreme
feature values, which trees bin away. It is a heuristic (no coreset guarantee for trees),
measured against uniform and ``sensitivity`` by ``python -m benchmarks.bench_models``
(docs/TUNING.md, section models).
"""

from __future__ import annotations

import numpy as np

from .._cpu import sensitivity_scores
from ._base import NodeStats, SamplingMethod, register_method

#: Score of a row the pilot fits perfectly, against 1 + floor for one it gets entirely wrong.
MODEL_LOSS_FLOOR = 0.25


def gradient_factor(X, labels, pilot, n_classes: int, floor: float = MODEL_LOSS_FLOOR):
    """floor + 1 - p_pilot(label_i | x_i) for every row (1 + floor for a label the pilot never
    saw): the fused scoring kernel with an empty leverage projection."""
    empty = np.zeros((X.shape[1] + 1, 0))
    return sensitivity_scores(X, empty, 1.0, None, labels, pilot, floor, n_classes)


@register_method
class ModelLossMethod(SamplingMethod):
    """Rows in proportion to a pilot's loss gradient (plus a floor), class-stratified."""

    name = "model_loss"
    uses_pilot = True

    def scores(
        self, X, y, weights, stats: NodeStats, pilot=None, sketch=None, backend=None
    ) -> np.ndarray:
        base = np.ones(X.shape[0]) if weights is None else np.array(weights, dtype=np.float64)
        if pilot is None:  # before the pilot (it is fitted on a sample drawn by these)
            return base
        return base * self.pilot_factor(X, y, pilot, stats.class_counts.size)

    def pilot_factor(self, X, y, pilot, n_classes: int, backend=None) -> np.ndarray:
        return gradient_factor(X, y, pilot, n_classes)
