"""Coresets of in-memory arrays: a one-shot coreset, a tree grown batch by batch, and how close
a model fitted on them comes to the model fitted on all rows (the loss ratio; 1 is perfect).

    python examples/build_tree_from_arrays.py
"""

import numpy as np

from coreset_engine import CoresetTree, sample_coreset
from coreset_engine.evaluation import fit_logistic, logistic_objective, loss_ratio
from coreset_engine.synthetic import make_synthetic

X, y = make_synthetic(200_000, n_features=8, n_classes=2, random_state=0)
X = (X - X.mean(axis=0)) / X.std(axis=0)
full_objective = logistic_objective(fit_logistic(X, y), X, y, C=1.0)

# one-shot: one leaf holding every row
coreset = sample_coreset(X, y, 2_000, random_state=0)
ratio = loss_ratio(fit_logistic(coreset.X, coreset.y, coreset.weights), full_objective, X, y)
print(f"one-shot sensitivity coreset of {len(coreset):,} rows: loss ratio {ratio:.4f}")

# the same budget drawn uniformly, for comparison
uniform = sample_coreset(X, y, 2_000, method="uniform", random_state=0)
ratio = loss_ratio(fit_logistic(uniform.X, uniform.y, uniform.weights), full_objective, X, y)
print(f"uniform sample of {len(uniform):,} rows:             loss ratio {ratio:.4f}")

# a tree grown as batches arrive (e.g. one file or one day at a time)
tree = CoresetTree(coreset_size=2_000, chunk_size=25_000, random_state=0)
for batch in np.array_split(np.arange(len(y)), 4):
    tree.partial_build(X[batch], y[batch])
root = tree.get_coreset()
ratio = loss_ratio(fit_logistic(root.X, root.y, root.weights), full_objective, X, y)
print(f"tree of {tree.n_leaves_} leaves, root of {len(root):,} rows:  loss ratio {ratio:.4f}")
