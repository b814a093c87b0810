"""Hyperparameter search, ensembles and a PyTorch classifier, on weighted coresets.

Every search and ensemble fits on a :class:`coreset_engine.CoresetTree` (its coreset at
``level``), a :class:`coreset_engine.Coreset`, or arrays with ``sample_weight``; the weights
reach every fit and every validation score. :class:`GridSearch` documents the parameters all
searches share and the validation scheme. ``backend="torch"`` fits all candidates
of a LogisticRegression search in one batched Newton solve, on a GPU when there is one
(:class:`TorchLogisticBackend`). PyTorch is imported only when a :class:`TorchClassifier` is
fitted or the torch backend runs.
"""

from ._backends import register_backend
from ._bayes import BayesSearch
from ._callbacks import StopWhenScoreReaches, StopWithoutImprovement, TimeLimit
from ._dask import DaskBackend  # registers backend="dask" (imports Dask only when used)
from ._ensemble import BaggingEnsemble, VotingEnsemble
from ._fitting import FitAdapter, register_fit_adapter
from ._grid import GridSearch, RandomSearch
from ._halving import HalvingSearch
from ._search import BaseSearch
from ._torch_backend import TorchLogisticBackend  # registers backend="torch"
from ._torch_classifier import TorchClassifier

__all__ = [
    "BaggingEnsemble",
    "BaseSearch",
    "BayesSearch",
    "DaskBackend",
    "FitAdapter",
    "GridSearch",
    "HalvingSearch",
    "RandomSearch",
    "StopWhenScoreReaches",
    "StopWithoutImprovement",
    "TimeLimit",
    "TorchClassifier",
    "TorchLogisticBackend",
    "VotingEnsemble",
    "register_backend",
    "register_fit_adapter",
]
