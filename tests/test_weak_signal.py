"""coreset_engine.synthetic.make_weak_signal: the weak-signal set of issue 14."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from coreset_engine.synthetic import WEAK_SIGNAL_LEVELS, make_weak_signal


def test_shape_one_hot_blocks_and_base_rate():
    X, y = make_weak_signal(50_000, random_state=3)
    assert X.shape == (50_000, 94) and X.dtype == np.float64 and y.dtype == np.int64
    start = 0
    for levels in WEAK_SIGNAL_LEVELS:  # each categorical block is one-hot: one 1 per row
        block = X[:, start : start + levels]
        assert set(np.unique(block)) == {0.0, 1.0}
        np.testing.assert_array_equal(block.sum(axis=1), 1.0)
        start += levels
    assert set(np.unique(X[:, start : start + 7])) == {0.0, 1.0}  # the binary flags
    assert abs(y.mean() - 0.15) < 0.01
    assert abs(make_weak_signal(50_000, base_rate=0.4)[1].mean() - 0.4) < 0.01


def test_rows_are_a_prefix_and_seeded():
    X, y = make_weak_signal(3_000)
    X_small, y_small = make_weak_signal(1_000)
    np.testing.assert_array_equal(X_small, X[:1_000])
    np.testing.assert_array_equal(y_small, y[:1_000])
    X_other, _ = make_weak_signal(1_000, random_state=1)
    assert not np.array_equal(X_other, X_small)
    assert make_weak_signal(10, dtype=np.float32)[0].dtype == np.float32


def test_the_signal_is_weak():
    X, y = make_weak_signal(200_000)
    model = LogisticRegression(max_iter=1_000).fit(X[:150_000], y[:150_000])
    auc = roc_auc_score(y[150_000:], model.decision_function(X[150_000:]))
    assert 0.62 < auc < 0.69, auc


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"n_rows": 0}, ValueError, "n_rows"),
        ({"n_rows": 10, "signal": 0.0}, ValueError, "signal"),
        ({"n_rows": 10, "base_rate": 1.0}, ValueError, "base_rate"),
        ({"n_rows": 10, "base_rate": "0.2"}, TypeError, "base_rate"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, error, words):
    with pytest.raises(error, match=words):
        make_weak_signal(**kwargs)
