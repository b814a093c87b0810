"""Sampling methods. Each is a small module registering one :class:`SamplingMethod`."""

from ._base import (
    NodeStats,
    SamplingMethod,
    available_methods,
    get_method,
    method_classes,
    register_method,
)
from ._least_squares import LeastSquaresSensitivityMethod, LeverageMethod
from ._model_loss import ModelLossMethod
from ._sensitivity import RootLeverageMethod, SensitivityMethod
from ._uniform import UniformMethod

__all__ = [
    "LeastSquaresSensitivityMethod",
    "LeverageMethod",
    "ModelLossMethod",
    "NodeStats",
    "RootLeverageMethod",
    "SamplingMethod",
    "SensitivityMethod",
    "UniformMethod",
    "available_methods",
    "get_method",
    "method_classes",
    "register_method",
]
