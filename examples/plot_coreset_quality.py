"""Plot what a coreset buys: loss ratio and test AUC against coreset size for sensitivity
sampling and a uniform sample, and the validation scores of a search. Writes two PNG files.

Needs matplotlib: pip install coreset-engine[plots]

    python examples/plot_coreset_quality.py
"""

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from coreset_engine import sample_coreset
from coreset_engine.evaluation import fit_logistic, logistic_objective, loss_ratio
from coreset_engine.plot import plot_loss_ratio, plot_search
from coreset_engine.synthetic import make_synthetic
from tuners import GridSearch

X, y = make_synthetic(100_000, n_features=8, n_classes=2, random_state=0)
X = (X - X.mean(axis=0)) / X.std(axis=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
full_objective = logistic_objective(fit_logistic(X_train, y_train), X_train, y_train, C=1.0)

runs = []  # one row per (method, size, seed): the table plot_loss_ratio takes
for method in ("uniform", "sensitivity"):
    for size in (300, 1_000, 3_000):
        for seed in range(3):
            coreset = sample_coreset(X_train, y_train, size, method=method, random_state=seed)
            model = fit_logistic(coreset.X, coreset.y, coreset.weights)
            runs.append({"method": method, "size": size, "seed": seed,
                         "loss_ratio": loss_ratio(model, full_objective, X_train, y_train),
                         "auc": roc_auc_score(y_test, model.decision_function(X_test))})  # fmt: skip
plot_loss_ratio(runs, path="coreset_quality.png", title="synthetic, 80,000 training rows")
print("wrote coreset_quality.png")

coreset = sample_coreset(X_train, y_train, 2_000, random_state=0)
search = GridSearch(LogisticRegression(), {"C": [1e-4, 1e-3, 1e-2, 0.1, 1, 10]},
                    scoring="roc_auc", cv=5, random_state=0).fit(coreset)  # fmt: skip
plot_search(search, path="search.png")
print(f"wrote search.png (best C = {search.best_params_['C']})")
