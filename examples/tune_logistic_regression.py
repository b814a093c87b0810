"""Tune logistic regression on a coreset tree, then score the refit best model on held-out rows.

``l1_ratio`` 0 is the L2 penalty and 1 the L1 penalty (recent scikit-learn deprecates
``penalty``); liblinear supports both.

    python examples/tune_logistic_regression.py
"""

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from coreset_engine import CoresetTree
from coreset_engine.synthetic import make_synthetic
from tuners import GridSearch

X, y = make_synthetic(200_000, n_features=10, n_classes=2, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

tree = CoresetTree(coreset_size=3_000, chunk_size=40_000, random_state=0).build(X_train, y_train)
grid = {"C": [0.001, 0.01, 0.1, 1.0], "l1_ratio": [0, 1], "solver": ["liblinear"]}
search = GridSearch(LogisticRegression(), grid, scoring="roc_auc", cv=5, random_state=0)
search.fit(tree)  # every fit and every validation score uses the coreset's weights

results = search.cv_results_
for i in results["rank_test_score"].argsort()[:5]:
    print(f"rank {results['rank_test_score'][i]}: cv AUC {results['mean_test_score'][i]:.4f}"
          f"  {results['params'][i]}")  # fmt: skip
print(f"best {search.best_params_}, fitted on {search.n_rows_fitted_:,} coreset rows in all")
print(f"test AUC of the refit best model: {search.score(X_test, y_test):.4f}")
