"""Tasks: the losses a tree's coresets are built for, one module each."""

from ._base import Task, available_tasks, get_task, register_task
from ._linear import LinearRegressionTask
from ._logistic import LogisticRegressionTask

__all__ = [
    "LinearRegressionTask",
    "LogisticRegressionTask",
    "Task",
    "available_tasks",
    "get_task",
    "register_task",
]
