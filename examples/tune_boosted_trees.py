"""Tune gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier) on a coreset.

A coreset's weights stand for the rows it summarises, and HistGradientBoostingClassifier
takes them as ``sample_weight``. Successive halving tries every candidate on the root coreset
and moves the best ones down the tree, to bigger coresets. ``max_bins`` is kept small: with
sample weights scikit-learn finds every bin edge of every feature by a separate weighted
percentile, which dominates the fit time of a small coreset at the default 255 bins.

    python examples/tune_boosted_trees.py
"""

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

from coreset_engine import CoresetTree
from coreset_engine.synthetic import make_synthetic
from tuners import HalvingSearch

X, y = make_synthetic(200_000, n_features=10, n_classes=2, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
tree = CoresetTree(coreset_size=1_000, chunk_size=40_000, random_state=0).build(X_train, y_train)

grid = {"learning_rate": [0.05, 0.2], "max_leaf_nodes": [7, 15]}
model = HistGradientBoostingClassifier(max_iter=20, max_bins=32, random_state=0)
search = HalvingSearch(model, grid, scoring="roc_auc", cv=3, factor=2, random_state=0)
search.fit(tree)
for level, n_candidates in zip(search.n_resources_, search.n_candidates_):
    print(f"tree level {level} ({len(tree.get_coreset(level)):,} rows): {n_candidates} candidates")
print(f"best {search.best_params_}, cv AUC {search.best_score_:.4f}")
print(f"test AUC of the refit best model: {search.score(X_test, y_test):.4f}")
