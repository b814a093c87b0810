"""Tests of tuners.VotingEnsemble and tuners.BaggingEnsemble on coresets."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from coreset_engine import CoresetTree
from tuners import BaggingEnsemble, VotingEnsemble


def make_data(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] - X[:, 1] + rng.normal(scale=0.7, size=n) > 0).astype(np.int64)
    return X, y


@pytest.fixture(scope="module")
def tree():
    X, y = make_data()
    return CoresetTree(coreset_size=400, chunk_size=2500, random_state=0).build(X, y)


MEMBERS = [
    ("lr", LogisticRegression()),
    ("nb", GaussianNB()),
    ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
]


def test_voting_soft_and_hard(tree):
    X, y = make_data(n=2000, seed=1)
    soft = VotingEnsemble(MEMBERS).fit(tree)
    proba = soft.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert soft.score(X, y) > 0.8 and set(soft.named_estimators_) == {"lr", "nb", "tree"}
    hard = VotingEnsemble(MEMBERS, voting="hard").fit(tree)
    assert not hasattr(hard, "predict_proba")
    votes = np.stack([member.predict(X) for member in hard.estimators_])
    np.testing.assert_array_equal(hard.predict(X), (votes.sum(axis=0) >= 2).astype(int))
    lone = VotingEnsemble(MEMBERS, voting="hard", weights=[0, 0, 1]).fit(tree)
    np.testing.assert_array_equal(lone.predict(X), lone.estimators_[2].predict(X))


def test_voting_members_get_the_weights():
    X, y = make_data(n=600)
    weights = np.where(y == 1, 0.01, 1.0)  # class 1 nearly weightless
    plain = VotingEnsemble(MEMBERS[:1]).fit(X, y)
    weighted = VotingEnsemble(MEMBERS[:1]).fit(X, y, sample_weight=weights)
    assert weighted.predict(X).mean() < plain.predict(X).mean() - 0.2


def test_bagging_resamples_are_independent_and_reproducible(tree):
    X, y = make_data(n=2000, seed=2)
    bagging = BaggingEnsemble(DecisionTreeClassifier(max_depth=4), n_estimators=4, random_state=0)
    bagging.fit(tree)
    seeds = {member.random_state for member in bagging.estimators_}
    assert len(bagging.estimators_) == 4 and len(seeds) == 4
    predictions = [member.predict_proba(X)[:, 1] for member in bagging.estimators_]
    assert not np.allclose(predictions[0], predictions[1])
    again = BaggingEnsemble(DecisionTreeClassifier(max_depth=4), n_estimators=4, random_state=0)
    np.testing.assert_array_equal(again.fit(tree).predict_proba(X), bagging.predict_proba(X))
    assert bagging.score(X, y) > 0.8


def test_bagging_over_coresets_of_different_seeds_and_over_leaves():
    X, y = make_data()
    trees = [CoresetTree(coreset_size=300, chunk_size=5000, random_state=s).build(X, y)
             for s in range(3)]  # fmt: skip
    by_seed = BaggingEnsemble(LogisticRegression(), n_estimators=99).fit(trees)
    assert len(by_seed.estimators_) == 3  # one member per given coreset
    by_leaves = BaggingEnsemble(LogisticRegression(), n_estimators=2, source="leaves", level=2)
    by_leaves.fit(trees[0])
    assert len(by_leaves.estimators_) == 2
    with pytest.raises(ValueError, match="'leaves' only when fit gets a CoresetTree"):
        BaggingEnsemble(LogisticRegression(), source="leaves").fit(X, y)
    with pytest.raises(ValueError, match="at most the number of tree leaves"):
        BaggingEnsemble(LogisticRegression(), n_estimators=50, source="leaves").fit(trees[0])
