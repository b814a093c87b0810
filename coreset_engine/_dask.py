"""Building a tree on Dask: a task per leaf on the workers, merges as a tree reduction.

The tasks are the pure steps of ``_build`` (:func:`leaf_node`, :func:`merge_nodes`), arranged
by the same :class:`BinaryCounter` as the local build, so the tree is the same bit for bit as
a local build of the same rows, on any number of workers, threads or processes. Only label
counts and the nodes (coresets with their Gram matrices and class counts) reach the client;
rows never do.

Inputs:

* dask arrays and dataframes (``CoresetTree.build`` / ``partial_build``): one leaf per
  ``chunk_size`` rows, as in a local build. The input is rechunked to that along rows (a no-op
  when its blocks already are ``chunk_size`` rows: then a leaf is a block) and to one block of
  columns. Class counts come from a first pass over the label blocks on the workers.
* a data file of any format that can be read from the middle (HDF5, Parquet, Arrow files,
  Zarr: ``build_from_file(client=...)``): a worker makes the first pass (labels and
  categorical columns), then every leaf task opens the file itself and reads its own row
  range (tasks carry the file's description and the range, never file handles).

Where the graph runs: on a distributed ``Client`` (the one given, else dask's current
scheduler when that is a client); its futures are gathered as they finish, which feeds the
progress bar and frees the workers' copies. Without a client, dask arrays are built with
``dask.compute`` on the current scheduler (threaded unless configured otherwise), a file with
the local streaming build.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
import weakref
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np

from . import _dask_tasks as tasks
from ._build import BinaryCounter
from ._encoding import ArrayEncoder
from ._sources import FileSegment
from ._validation import check_feature_dtype
from .methods import get_method
from .tasks import get_task

INSTALL_HINT = "pip install 'coreset-engine[dask]'"
#: How long the command line waits for a scheduler given by address.
CONNECT_TIMEOUT = "10s"
#: The command line's local cluster: memory and load polled every second, not every 100 and
#: 500 ms (on 2 cores the monitors of an idle 2-worker cluster took 10% of them), and glibc's
#: malloc left as it is: the nanny's MALLOC_TRIM_THRESHOLD_ also fixes the mmap threshold at
#: 128 KiB, so every temporary array of a leaf was mapped afresh (40-50 thousand page faults,
#: +20-50% CPU a leaf).
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "1s",
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


def is_dask_collection(data) -> bool:
    """Whether ``data`` is a dask array, dataframe or series (without importing dask)."""
    return callable(getattr(type(data), "__dask_graph__", None))


def require_dask(what: str) -> None:
    try:
        import dask.array  # noqa: F401
    except ImportError as error:
        raise ImportError(f"{what} needs Dask: {INSTALL_HINT}.") from error
    tasks.register_sizeof()


def active_client():
    """The default distributed Client of this process, or None (also when distributed was
    never imported: then there cannot be one)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.default_client()
    except ValueError:
        return None


# ------------------------------------------------------------------------ running the graph
@dataclass
class DaskBuildSummary:
    """What a Dask build moved and scheduled (``CoresetTree._dask_summary``)."""

    scheduler: str
    tasks: int = 0
    bytes_to_client: int = 0
    results_to_client: int = 0
    seconds: float = 0.0


class _Runner:
    """Runs lists of delayed tasks on a distributed client or a local dask scheduler; counts
    what comes back."""

    def __init__(self, client=None, scheduler=None):
        self.client = client
        self.scheduler = scheduler
        self.summary = DaskBuildSummary(
            "distributed"
            if client is not None
            else getattr(scheduler, "__module__", str(scheduler))
        )

    @contextmanager
    def as_default(self):
        """Make this runner dask's scheduler (for dask's own small computes, e.g. the
        partition lengths of a dataframe)."""
        import dask

        with dask.config.set(scheduler=self.client.get if self.client else self.scheduler):
            yield

    def existing(self, node):
        """A handle for a node the tree already holds (a stack node continued by an append)."""
        import dask

        if self.client is not None:
            return self.client.scatter(node, hash=False)
        return dask.delayed(node, name=f"coreset-node-{uuid.uuid4().hex}")

    def compute(self, handles: list, on_result=None) -> list:
        """Results of ``handles`` (delayed objects), in order; ``on_result(i, result)`` is
        called as each one arrives."""
        from dask.base import collections_to_expr
        from dask.sizeof import sizeof

        if not handles:
            return []
        self.summary.tasks += len(collections_to_expr(handles).__dask_graph__())
        results = [None] * len(handles)

        def receive(i, result):
            results[i] = result
            self.summary.bytes_to_client += sizeof(result)
            self.summary.results_to_client += 1
            if on_result is not None:
                on_result(i, result)

        if self.client is not None:
            self._compute_on_client(handles, receive)
        else:
            self._compute_locally(handles, receive)
        return results

    def _compute_on_client(self, handles, receive) -> None:
        from distributed import as_completed

        futures = self.client.compute(handles)
        position = {future.key: i for i, future in enumerate(futures)}
        try:
            for future, result in as_completed(futures, with_results=True):
                i = position[future.key]
                futures[i] = None  # the client lets go: the worker frees it after its parent
                receive(i, result)
        except BaseException:
            self.client.cancel([future for future in futures if future is not None])
            raise

    def _compute_locally(self, handles, receive) -> None:
        import dask
        from dask.callbacks import Callback

        position = {handle.key: i for i, handle in enumerate(handles)}
        arrived = set()

        def posttask(key, result, dsk, state, worker_id):  # in the scheduler's thread
            if key in position:
                arrived.add(key)
                receive(position[key], result)

        with Callback(posttask=posttask):
            results = dask.compute(*handles, scheduler=self.scheduler)
        for handle, result in zip(handles, results):  # schedulers without callbacks
            if handle.key not in arrived:
                receive(position[handle.key], result)


def _runner(client, collections) -> _Runner:
    """The given client; else dask's current scheduler for ``collections``: a client when one
    is the default, else dask's local scheduler (threaded for arrays)."""
    if client is not None:
        return _Runner(client=client)
    from dask.base import get_scheduler

    scheduler = get_scheduler(collections=collections)
    owner = getattr(scheduler, "__self__", None)
    distributed = sys.modules.get("distributed")
    if distributed is not None and isinstance(owner, distributed.Client):
        return _Runner(client=owner)
    return _Runner(scheduler=scheduler)


def _grow(runner: _Runner, state, task: tasks.TaskSettings, leaves: list, on_leaf=None) -> None:
    """Add ``leaves`` ((rows, delayed leaf) in row order) to ``state`` as tasks merged by the
    binary counter, run them and put the nodes in ``state`` in the order the local build
    would: the same positions and children."""
    import dask

    first = len(state.nodes)
    handles, children = [], []

    def emit(handle, pair) -> int:
        handles.append(handle)
        children.append(pair)
        return first + len(handles) - 1

    def merge(left, right, spine: bool):
        name = f"coreset-{'spine' if spine else 'merge'}-{len(handles)}-{uuid.uuid4().hex}"
        return dask.delayed(tasks.merge, pure=True)(task, left, right, spine, dask_key_name=name)

    counter = BinaryCounter(
        merge,
        emit,
        [(state.nodes[i].height, i, runner.existing(state.nodes[i])) for i in state.stack],
    )
    for _, leaf in leaves:
        counter.add_leaf(leaf)
    stack = [position for _, position, _ in counter.stack]
    root, _ = counter.finish()

    def leaf_done(i, node):
        if children[i] is None and on_leaf is not None:
            on_leaf(node.stats.n_rows)

    nodes = runner.compute(handles, leaf_done)
    state.nodes.extend(
        node if pair is None else node.with_children(pair) for node, pair in zip(nodes, children)
    )
    state.n_rows += sum(rows for rows, _ in leaves)
    state.n_leaves += len(leaves)
    state.stack = stack
    state.root = root


def _task_settings(tree, state) -> tasks.TaskSettings:
    settings = tree._settings(state)
    return tasks.TaskSettings(
        settings,
        np.dtype(state.dtype),
        tree._backend.name,
        tree.n_jobs,
        type(get_method(settings.method, task=settings.task)),
    )


def _leaf_name(leaf: int, token: str) -> str:
    return f"coreset-leaf-{leaf}-{token}"


# ------------------------------------------------------------------------- dask collections
def as_dask_arrays(X, y, runner: _Runner | None = None):
    """(X as a 2-D dask array with known row chunks, y as a 1-D dask array). ``X`` is a dask
    array or dataframe; ``y`` a dask array or series, an in-memory array of labels, or (with a
    dataframe) the name of its label column. Only partition lengths are computed."""
    import dask.array as da

    if isinstance(y, str) and hasattr(X, "columns"):
        if y not in X.columns:
            raise KeyError(f"The label column {y!r} is not a column of X: {list(X.columns)}.")
        X, y = X.drop(columns=[y]), X[y]
    with runner.as_default() if runner is not None else nullcontext():
        if hasattr(X, "dtypes"):
            dtypes = X.dtypes if hasattr(X.dtypes, "items") else {"X": X.dtypes}
            text = [name for name, kind in dict(dtypes).items() if np.dtype(kind).kind not in "biuf"]
            if text:
                raise TypeError(
                    f"The dask dataframe's columns {text} are not numeric. Dask builds take "
                    "numeric columns; for categorical or string columns write the data to "
                    "Parquet and use build_from_file(path, client=...), whose first pass fits "
                    "the category encoder."
                )
        if hasattr(X, "to_dask_array"):
            X = X.to_dask_array(lengths=True)
        if hasattr(y, "to_dask_array"):
            y = y.to_dask_array(lengths=True)
        if not isinstance(X, da.Array):
            raise TypeError(f"X must be a dask array or dataframe. Got {type(X).__name__}.")
        if X.ndim != 2:
            raise ValueError(
                "X must be a 2-D array of shape (n_rows, n_features). "
                f"Got an array of shape {X.shape} instead."
            )
        if any(np.isnan(size) for size in X.chunks[0]):
            X = X.compute_chunk_sizes()
        if not isinstance(y, da.Array):
            y = np.asarray(y)
            y = da.from_array(y, chunks=X.chunks[0] if y.shape[:1] == X.shape[:1] else -1)
        elif any(np.isnan(size) for size in y.chunks[0]):
            y = y.compute_chunk_sizes()
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels. Got shape {y.shape} instead.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must have at least one row and one column. Got shape {X.shape}.")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y must have the same number of rows. Got {X.shape[0]} rows in X and "
            f"{y.shape[0]} labels in y."
        )
    return X, y


def build_arrays(tree, X, y, *, client=None, append: bool = False):
    """``tree.build`` (``append``: ``partial_build``) of dask collections. Returns the tree; on
    error it is unchanged."""
    require_dask("CoresetTree.build with dask arrays or dataframes")
    import dask

    tree._validate_params()
    tree._resolve_backend()
    started = time.perf_counter()
    token = uuid.uuid4().hex
    original = (X, y)
    runner = _runner(client, [c for c in (X, y) if is_dask_collection(c)])
    X, y = as_dask_arrays(X, y, runner)
    old = getattr(tree, "_state", None) if append else None
    if old is None:
        dtype = check_feature_dtype(X.dtype, "X")
        classes, counts = _label_classes(runner, y, token, tree._encoding_settings())
        get_task(tree.task).check_labels(counts, classes=classes.classes)
        state = tree._new_state(X.shape[1], dtype, classes.n_classes)
        state.classes = classes
        describe, batch = tasks.RowDescriber(0, None), None
    else:
        if not isinstance(old.encoder, ArrayEncoder):
            raise TypeError(
                f"X must be a table with the columns {old.encoder.names}: the tree was built "
                "from a table, and dask inputs are appended as numeric arrays. Got a dask "
                "array instead."
            )
        if X.shape[1] != old.n_features:
            raise ValueError(
                f"X must have {old.n_features} features, as the rows already in the tree. "
                f"Got {X.shape[1]} instead."
            )
        check_feature_dtype(X.dtype, "X")
        state = old.copy_without_spine()
        describe, batch = tasks.RowDescriber(old.n_rows, "partial_build"), "partial_build"
    state.segments.append(DaskSegment(state.n_rows, X.shape[0], *original))
    task = _task_settings(tree, state)
    rows = _leaf_chunks(X.shape[0], tree.chunk_size)
    X = X.rechunk((rows, (X.shape[1],)), method="tasks")  # no-op if already so
    y = y.rechunk((rows,), method="tasks")
    leaves = []
    for i, (X_block, y_block, start) in enumerate(
        zip(
            X.to_delayed(optimize_graph=False).ravel(),
            y.to_delayed(optimize_graph=False),
            _starts(rows),
        )
    ):
        offset, leaf = state.n_rows + int(start), state.n_leaves + i
        leaves.append(
            (
                rows[i],
                dask.delayed(tasks.leaf_from_blocks, pure=True)(
                    task,
                    X_block,
                    y_block,
                    offset,
                    leaf,
                    describe,
                    state.classes,
                    batch,
                    dask_key_name=_leaf_name(leaf, token),
                ),
            )
        )
    _grow(runner, state, task, leaves)
    runner.summary.seconds = time.perf_counter() - started
    tree._state = state
    tree._dask_summary = runner.summary
    return tree


def _label_classes(runner: _Runner, y, token: str, settings):
    """The labels' first pass, a small task per block (labels checked on the way), merged on
    the client: (LabelClasses, rows per class)."""
    import dask

    blocks = zip(y.to_delayed(optimize_graph=False), _starts(y.chunks[0]))
    passes = runner.compute(
        [
            dask.delayed(tasks.count_labels, pure=True)(
                block, int(start), settings, dask_key_name=f"coreset-labels-{i}-{token}"
            )
            for i, (block, start) in enumerate(blocks)
        ]
    )
    total = passes[0]
    for later in passes[1:]:
        total.merge(later)
    return total.result()


def _leaf_chunks(n_rows: int, chunk_size: int) -> tuple[int, ...]:
    return tuple(min(chunk_size, n_rows - start) for start in range(0, n_rows, chunk_size))


def _starts(sizes) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


class DaskSegment:
    """Rows ``offset .. offset + n_rows`` of the tree are dask collections given to ``build``
    or ``partial_build``. Held by weak reference, as in-memory arrays are (a persisted array
    would otherwise stay in the cluster's memory for the tree's life); streamed back chunk by
    chunk with ``dask.compute`` on the current scheduler, never computed whole."""

    def __init__(self, offset: int, n_rows: int, X, y):
        self.offset = offset
        self.n_rows = n_rows
        self._X = _weak(X)
        self._y = y if isinstance(y, str) else _weak(y)

    def _alive(self):
        y = self._y if isinstance(self._y, str) else (self._y and self._y())
        X = self._X and self._X()
        return X, y

    def check_available(self) -> None:
        X, y = self._alive()
        if X is None or y is None:
            raise RuntimeError(
                f"Rows {self.offset}..{self.offset + self.n_rows - 1} of the tree were passed "
                "as dask collections that no longer exist (the tree keeps only weak references "
                "to them and does not save them), so they cannot be streamed again. Keep them, "
                "or build from a file."
            )

    def iter_chunks(self, chunk_size: int, encoder, classes):
        import dask

        self.check_available()
        X, y = as_dask_arrays(*self._alive())
        for start in range(0, self.n_rows, chunk_size):
            stop = min(self.n_rows, start + chunk_size)
            X_chunk, y_chunk = dask.compute(X[start:stop], y[start:stop])
            first = self.offset + start
            yield (
                first,
                np.ascontiguousarray(X_chunk, dtype=encoder.dtype),
                classes.encode(np.asarray(y_chunk), "y", first),
            )


def _weak(obj):
    try:
        return weakref.ref(obj)
    except TypeError:  # lists and the like: not kept
        return None


# ---------------------------------------------------------------------------------- files
def build_file(tree, path, x, y: str, *, format=None, client, progress: bool = False,
               on_leaf=None):  # fmt: skip
    """``tree.build_from_file`` on a distributed client: a worker makes the first pass (labels
    and categorical columns: the tree's ``classes_`` and encoder), then every leaf task reads
    its own rows. Returns the tree; on error it is unchanged."""
    require_dask("CoresetTree.build_from_file on a Dask client")
    import dask

    from ._tree import _progress_bar

    tree._validate_params()
    tree._resolve_backend()
    tree.build_seconds_ = None
    started = time.perf_counter()
    token = uuid.uuid4().hex
    runner = _Runner(client=client)
    path = os.path.abspath(os.fspath(path))
    [(source, first, fingerprint)] = runner.compute(
        [
            dask.delayed(tasks.file_first_pass)(
                path, format, x, y, tree._encoding_settings(),
                dask_key_name=f"coreset-labels-{token}",
            )
        ]
    )  # fmt: skip
    get_task(tree.task).check_labels(first.class_counts, first.label_name,
                                     first.classes.classes)  # fmt: skip
    n_rows = first.n_rows
    state = tree._new_state(first.encoder.n_features, first.encoder.dtype,
                            first.classes.n_classes)  # fmt: skip
    state.encoder, state.classes = first.encoder, first.classes
    state.segments = [FileSegment(0, n_rows, source, fingerprint)]
    task = _task_settings(tree, state)
    leaves = [
        (
            min(n_rows, a + tree.chunk_size) - a,
            dask.delayed(tasks.leaf_from_file, pure=True)(
                task,
                tasks.FileRows(source, a, min(n_rows, a + tree.chunk_size), fingerprint),
                leaf,
                first.encoder,
                first.classes,
                "y",
                dask_key_name=_leaf_name(leaf, token),
            ),
        )
        for leaf, a in enumerate(range(0, n_rows, tree.chunk_size))
    ]
    bar = _progress_bar(n_rows, progress, os.path.basename(path))

    def leaf_done(rows: int) -> None:
        if bar is not None:
            bar.update(rows)
        if on_leaf is not None:
            on_leaf(rows)

    try:
        _grow(runner, state, task, leaves, leaf_done)
    finally:
        if bar is not None:
            bar.close()
    runner.summary.seconds = time.perf_counter() - started
    tree._state = state
    tree._dask_summary = runner.summary
    tree.build_seconds_ = runner.summary.seconds
    return tree


# --------------------------------------------------------------------------- command line
@contextmanager
def cluster_client(workers: int | None = None, scheduler: str | None = None, echo=None):
    """A distributed Client for the command line: a LocalCluster of ``workers`` single-threaded
    worker processes, or the cluster at ``scheduler``; None for neither (a local build)."""
    if workers is None and scheduler is None:
        yield None
        return
    if workers is not None and scheduler is not None:
        raise ValueError(
            "Give --workers (a local cluster) or --scheduler (a running one), not both."
        )
    require_dask("Building on a Dask cluster")
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as error:
            raise ValueError(
                f"Could not reach the Dask scheduler at {scheduler!r}: {error}"
            ) from None
        with client:
            if echo is not None:
                echo(
                    f"Dask cluster at {scheduler}: {len(client.scheduler_info()['workers'])} "
                    f"workers, dashboard {client.dashboard_link}"
                )
            yield client
        return
    import dask

    with (
        dask.config.set(LOCAL_CLUSTER_CONFIG),
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        if echo is not None:
            echo(
                f"Dask LocalCluster: {workers} worker processes, dashboard {client.dashboard_link}"
            )
        yield client
