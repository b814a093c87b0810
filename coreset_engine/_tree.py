"""The coreset tree: merge-and-reduce over row chunks.

Leaves are coresets of chunks; a parent is a coreset of its two children's union. Complete
subtrees are kept on a binary-counter stack (Bentley-Saxe), so streaming keeps O(log n) open
nodes and appending rows later (``partial_build``) continues the same tree. The root is made by
merging the stack; those "spine" nodes are rebuilt after every append.

Every node also carries the exact Gram matrix and class counts of all raw rows below it (both
are additive), so scores at a merge are computed against the full data the node stands for,
not against its weighted sample.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

from ._backend import check_backend, get_backend
from ._build import BinaryCounter, BuildSettings, Node, leaf_node, merge_nodes
from ._coreset import Coreset
from ._cpu import blas_single_thread, n_workers, worker_threads
from ._dask import is_dask_collection
from ._encoding import ArrayEncoder
from ._inputs import (
    EncodingSettings,
    InMemoryData,
    check_encoding_params,
    file_chunks,
    first_pass,
    fit_labels,
)
from ._labels import LabelClasses
from ._malloc import reuse_freed_memory
from ._sources import ArraySegment, FileSegment, path_fingerprint
from ._validation import check_int, describe_row
from .methods import get_method
from .readers._chunks import VALID_CHUNKS
from .tasks import available_tasks, get_task

TASKS = tuple(available_tasks())

__all__ = ["CoresetTree", "Node", "TreeState"]


@dataclass
class TreeState:
    """Everything a built tree holds; replaced as a whole so a failed build changes nothing."""

    seed: int
    n_features: int
    dtype: np.dtype
    n_classes: int
    nodes: list[Node] = field(default_factory=list)
    stack: list[int] = field(default_factory=list)
    root: int = -1
    n_rows: int = 0
    n_leaves: int = 0
    #: Where the rows came from, in row order (``_sources``): files and in-memory arrays.
    segments: list = field(default_factory=list)
    #: How input rows become X (``_encoding``): plain matrices, or table columns with
    #: categorical encoding. Default: a plain matrix of n_features columns.
    encoder: object = None
    #: The label values the codes 0..n_classes-1 stand for (``_labels``). Default: 0..n-1.
    classes: LabelClasses | None = None
    #: Removed rows and label / feature overrides (``_edits.EditOverlay``), or None.
    edits: object = None

    def __post_init__(self) -> None:
        if self.encoder is None:
            self.encoder = ArrayEncoder(self.n_features, np.dtype(self.dtype))
        if self.classes is None:
            self.classes = LabelClasses.identity(self.n_classes)

    def copy_without_spine(self) -> TreeState:
        kept = [node for node in self.nodes if not node.spine]
        return TreeState(
            self.seed, self.n_features, self.dtype, self.n_classes,
            kept, list(self.stack), -1, self.n_rows, self.n_leaves, list(self.segments),
            self.encoder, self.classes, self.edits,
        )  # fmt: skip

    def encode_rows(self, features, labels, first_row: int = 0):
        """(X, label codes) of raw rows (what ``FileSource.read_rows`` returns), encoded as
        the tree's other rows; ``first_row`` numbers them in error messages."""
        return self.encoder.transform(features), self.classes.encode(labels, "y", first_row)


class CoresetTree(BaseEstimator):
    """A merge-and-reduce tree of sensitivity-sampled coresets.

    Parameters
    ----------
    task : {"logistic_regression", "linear_regression"}
        The loss the coresets are built for. ``"logistic_regression"``: y holds class labels
        (see ``n_classes``). ``"linear_regression"``: y holds a continuous target (any int or
        float dtype; NaN, infinity or a missing value is an error naming the row), for the
        squared loss, with or without a ridge penalty; coresets hold the targets as float64
        in ``y``, there are no classes (``classes_`` and ``class_counts_`` are not set,
        ``Coreset.classes`` is None) and ``n_classes`` / ``max_classes`` do not apply.
    coreset_size : int
        Rows in every node; the root (level 0) has this many rows.
    chunk_size : int
        Rows per leaf. Memory while building is bounded by three chunks (two leaves built at
        once, the next chunk read meanwhile) plus the tree.
    n_classes : int or None
        Number of classes for integer labels 0..n_classes-1 (classes that never occur are
        allowed). None (default) takes the classes from the labels: any values (ints, -1/+1,
        bools, strings, bytes, categoricals) become ``classes_`` (sorted, as in scikit-learn)
        and the codes 0..k-1 the coresets hold (``build_from_file`` reads the label column
        once first).
    max_classes : int
        Most distinct label values accepted (default 100). Labels with more, or non-integral
        float labels, look like a continuous target: an error pointing to
        ``task="linear_regression"``.
    categorical_features : "from_dtype", None or list of str
        Table columns encoded as categories: string, bytes and categorical columns always, and
        the columns named here even if they hold numbers.
    categorical_encoding : {"onehot", "ordinal"}
        ``"onehot"`` (default): one 0/1 column per kept category; ``"ordinal"``: one column
        holding the category's number.
    max_categories : int
        Categories kept per categorical column: its most frequent values in the data the tree
        is first built from (default 32). Every other value, and any value first seen later, is
        encoded as one "<other>" category; a missing value is a category ("<missing>") of its
        own. Encoding never fails on a value.
    method : str
        Sampling method, one of :func:`coreset_engine.available_methods` for the task. For
        logistic regression ``"sensitivity"`` (default: square-root leverage made loss-aware by
        a pilot fit), ``"l2s"`` (square-root leverage alone), ``"model_loss"`` (for tuning
        tree models: rows in proportion to a pilot's loss gradient, see
        ``coreset_engine.methods._model_loss``) or ``"uniform"``; for linear
        regression ``"sensitivity"`` (default: leverage of [X, 1, y], the loss-optimal
        |residual| x sqrt(leverage) of the node's exact least-squares fit, and uniform, mixed),
        ``"leverage"`` (leverage of [X, 1, y] and uniform, half and half) or ``"uniform"``.
    deduplicate : bool
        Merge identical (x, y) rows into one row carrying their summed weight before sampling,
        in every leaf and merge. Lossless (the weighted loss is unchanged), and on data with
        repeated rows it frees the sample for informative rows. Costs a hashing pass.
    sketch_size : int or None
        None (default) computes leverage scores exactly (one GEMM with the inverted Cholesky
        factor, d + 1 columns). An int k projects that factor onto k Gaussian directions
        (Johnson-Lindenstrauss) first: the scoring GEMM shrinks from d + 1 to k columns, at the
        cost of noisier scores (a score's relative spread is about 1 / sqrt(2 k)). Worth it when
        d is large; used only when k < d + 1.
    calibrate : bool
        For ``method="sensitivity"`` (logistic regression): after each node's draw, tilt its
        weights (w_i exp(u_i . lambda), the smallest change that does it) so that, class by
        class, the weighted log-loss gradient at the node's pilot model equals that of all rows
        the node summarises (``coreset_engine._calibration``). Weights stay positive and within
        a factor 10 of the sampled ones (a class that would need more keeps its sampled
        weights). On weak-signal data it cuts the excess loss at the coreset's optimum several
        times over (docs/BENCHMARKS.md); ``False`` keeps the plain inverse-probability weights,
        whose loss estimate is unbiased: a node of more than 24 coresets (and 40,000 rows) is
        then sampled in two phases, the pilot's pass running over a first-phase sample of 12
        coresets (at least 20,000 rows; each row is drawn with about the one-phase
        probability), 3-16% faster on float32 rows, no faster on float64 ones
        (docs/BENCHMARKS.md, section two-phase-reading). Default True.
    random_state : int or None
        Seed. The same seed and data give the same tree, bit for bit, on the same backend (for
        ``"cuda"``: on the same GPU model and library versions, as cuBLAS promises).
    backend : {"cpu", "cuda", "auto"}
        Where the per-leaf row passes run (finite check and row hashes, Gram matrix, scores).
        ``"cuda"`` (logistic regression only) runs them on an NVIDIA GPU (needs ``pip install coreset-engine[cuda]``:
        numba-cuda and torch or cupy); leaves below 262,144 rows, merges, duplicate merging and
        the draw stay on the CPU. Scores match the CPU's up to float rounding, so the sampling
        distribution is the same, but trees are not bit-identical across backends. ``"auto"``
        is ``"cuda"`` when a usable GPU is found, else ``"cpu"``.
    n_jobs : int or None
        Threads for the row passes of a build (each runs serial kernels and one-thread BLAS
        over fixed blocks of rows, so the tree does not depend on it). None: the environment
        variable ``CORESET_ENGINE_THREADS`` if set, else the CPUs this process may use. On
        Dask, each task uses its worker's threads (None) or ``n_jobs``.

    Attributes
    ----------
    depth_ : int
        Deepest level: ``get_coreset(level)`` accepts 0..depth_.
    n_samples_ : int
        Rows summarised.
    n_features_in_ : int
    n_classes_ : int
    n_leaves_ : int
    class_counts_ : ndarray
        Rows of each class in the data.
    classes_ : ndarray
        The label values, sorted; the code i in a coreset's ``y`` stands for ``classes_[i]``
        (``Coreset.decoded_y``).
    feature_names_in_ : ndarray of str
        The feature columns of table input (DataFrames, Parquet, CSV, Arrow); not set for plain
        matrices.
    backend_ : str
        The backend the last build used (``"cpu"`` or ``"cuda"``; resolves ``"auto"``).

    Examples
    --------
    >>> import numpy as np
    >>> from coreset_engine import CoresetTree
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20_000, 5)); y = (X[:, 0] + rng.normal(size=20_000) > 0).astype(int)
    >>> tree = CoresetTree(coreset_size=1000, chunk_size=5000, random_state=0).build(X, y)
    >>> cs = tree.get_coreset()
    >>> len(cs), tree.depth_
    (1000, 2)
    >>> bool(abs(cs.weights.sum() / 20_000 - 1) < 0.1)
    True
    """

    def __init__(
        self,
        *,
        task: str = "logistic_regression",
        coreset_size: int = 20_000,
        chunk_size: int = 1_000_000,
        n_classes: int | None = None,
        method: str = "sensitivity",
        deduplicate: bool = True,
        sketch_size: int | None = None,
        calibrate: bool = True,
        random_state: int | None = None,
        backend: str = "cpu",
        n_jobs: int | None = None,
        max_classes: int = 100,
        categorical_features="from_dtype",
        categorical_encoding: str = "onehot",
        max_categories: int = 32,
    ):
        self.task = task
        self.coreset_size = coreset_size
        self.chunk_size = chunk_size
        self.n_classes = n_classes
        self.method = method
        self.deduplicate = deduplicate
        self.sketch_size = sketch_size
        self.calibrate = calibrate
        self.random_state = random_state
        self.backend = backend
        self.n_jobs = n_jobs
        self.max_classes = max_classes
        self.categorical_features = categorical_features
        self.categorical_encoding = categorical_encoding
        self.max_categories = max_categories

    # ----------------------------------------------------------------- parameters and state
    def _validate_params(self) -> None:
        caller = type(self).__name__
        if self.task not in TASKS:
            raise ValueError(
                f"The 'task' parameter of {caller} must be one of {list(TASKS)}. "
                f"Got {self.task!r} instead."
            )
        check_int(self.coreset_size, "coreset_size", caller)
        check_int(self.chunk_size, "chunk_size", caller)
        if self.n_classes is not None:
            check_int(self.n_classes, "n_classes", caller, minimum=2)
        if self.sketch_size is not None:
            check_int(self.sketch_size, "sketch_size", caller)
        if self.random_state is not None:
            check_int(self.random_state, "random_state", caller, minimum=0)
        if self.n_jobs is not None:
            check_int(self.n_jobs, "n_jobs", caller)
        for name in ("deduplicate", "calibrate"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(
                    f"The {name!r} parameter of {caller} must be a bool. "
                    f"Got {getattr(self, name)!r} instead."
                )
        get_method(self.method, caller, task=self.task)
        check_backend(self.backend, caller)
        check_encoding_params(self, caller)

    def _encoding_settings(self) -> EncodingSettings:
        return EncodingSettings(self.n_classes, self.max_classes, self.categorical_features,
                                self.categorical_encoding, self.max_categories,
                                self.task)  # fmt: skip

    def _resolve_backend(self) -> None:
        """Pick the backend for a build (raises if "cuda" cannot run here)."""
        caller = type(self).__name__
        if not get_task(self.task).is_classifier:
            if self.backend == "cuda":
                raise ValueError(
                    f"The 'backend' parameter of {caller} is 'cuda', which builds "
                    f"task='logistic_regression' trees only. Got task={self.task!r}: use "
                    "backend='cpu' (or 'auto', which picks the CPU for this task)."
                )
            self._backend = get_backend("cpu", caller)
        else:
            self._backend = get_backend(self.backend, caller)
        self.backend_ = self._backend.name

    def _new_state(self, n_features: int, dtype: np.dtype, n_classes: int) -> TreeState:
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
        return TreeState(int(seed), n_features, np.dtype(dtype), n_classes)

    def _check_built(self) -> TreeState:
        state = getattr(self, "_state", None)
        if state is None or state.root < 0:
            raise RuntimeError(
                f"This {type(self).__name__} has no data yet. Call build, build_from_file "
                "or load first."
            )
        return state

    # --------------------------------------------------------------------- building
    def build(self, X, y, *, client=None) -> CoresetTree:
        """Build the tree from data in memory. Returns self.

        ``X``: a NumPy array (or list), or a table: a pandas or polars DataFrame or a pyarrow
        Table, whose string and categorical columns are encoded (``categorical_encoding``).
        ``y``: the labels (any values: see ``n_classes``), or for a table the name of its label
        column. Tables are encoded chunk by chunk, never copied whole.

        Dask arrays and dataframes (``y``: a dask array or series, or a dataframe's label
        column name) are built on Dask, a task per leaf (``coreset_engine._dask``): on
        ``client``, else on dask's current scheduler (the active distributed client if there
        is one, else threads). The tree is the same as a local build of the same rows."""
        if is_dask_collection(X):
            from ._dask import build_arrays

            return build_arrays(self, X, y, client=client)
        _check_no_client(client, "build")
        self._validate_params()
        self._resolve_backend()
        data = InMemoryData(X, y)
        settings = self._encoding_settings()
        encoder = data.fit_encoder(settings)
        classes, counts = fit_labels(data.labels, settings)
        get_task(self.task).check_labels(counts, classes=classes.classes)
        codes = classes.encode(data.labels)
        state = self._new_state(encoder.n_features, encoder.dtype, classes.n_classes)
        state.encoder, state.classes = encoder, classes
        state.segments = [ArraySegment(0, data.n_rows, X, codes)]
        self._grow(state, data.chunks(encoder, codes, self.chunk_size),
                   lambda row: describe_row(row))  # fmt: skip
        self._state = state
        return self

    def partial_build(self, X, y, *, client=None) -> CoresetTree:
        """Append rows to the tree (builds it if empty). Returns self.

        The new rows become new leaves after the existing ones; row numbers continue from
        ``n_samples_``. They are encoded as the tree's first rows were (the same columns, the
        same categories: a value not seen then is "<other>"); a label that is not one of
        ``classes_`` is an error. On error the tree is left exactly as it was. Dask inputs and
        ``client`` as in :meth:`build`.
        """
        if getattr(self, "_state", None) is None:
            return self.build(X, y, client=client)
        if is_dask_collection(X):
            from ._dask import build_arrays

            return build_arrays(self, X, y, client=client, append=True)
        _check_no_client(client, "partial_build")
        self._validate_params()
        self._resolve_backend()
        old = self._state
        data = InMemoryData(X, y)
        data.encoded_matrix(old.encoder)  # wrong columns: an error before the labels
        batch = "partial_build"
        codes = old.classes.encode(data.labels, "y", old.n_rows, batch)
        state = old.copy_without_spine()
        state.segments.append(ArraySegment(old.n_rows, data.n_rows, X, codes))
        offset = old.n_rows
        self._grow(state, data.chunks(old.encoder, codes, self.chunk_size, offset),
                   lambda row: describe_row(row - offset, offset, batch))  # fmt: skip
        self._state = state
        return self

    def build_from_file(
        self, path, x=None, y: str = "y", *, format: str | None = None, progress: bool = False,
        client=None, checkpoint=None, overwrite_checkpoint: bool = False,
    ) -> CoresetTree:  # fmt: skip
        """Build the tree by streaming row chunks of a data file. Returns self.

        ``format``: ``"hdf5"``, ``"parquet"``, ``"csv"`` (also .csv.gz), ``"arrow"`` (Arrow
        IPC / Feather) or ``"zarr"`` (``coreset_engine.readers.available_formats()``); None
        picks it from the suffix. For HDF5 and Zarr ``x`` and ``y`` name the 2-D feature and
        1-D label arrays (``x`` None: "X"); for table formats ``y`` names the label column and
        ``x`` the feature columns (a list of names; None: every column but ``y``).

        The file is never loaded whole: a first pass reads the label column (and categorical
        feature columns) to fit ``classes_`` and the category encoder, then the rows are read
        in chunks in a background thread; memory is a few chunk buffers plus the tree.
        ``progress`` shows a bar with rows and rows/s.

        ``checkpoint``: a folder where the build records its state after every leaf (written
        atomically; see ``coreset_engine._checkpoint``). A build that was killed and is started
        again with the same arguments continues at the next leaf and ends with the same tree,
        bit for bit, as an uninterrupted build. A checkpoint of another build (parameters,
        file) is an error unless ``overwrite_checkpoint=True``. Not with ``client``.

        ``client``: a Dask distributed Client to build on, a task per leaf; each worker opens
        the file (the same path must reach it) and reads its own rows (formats that can be read
        from the middle: all but CSV). None (default) uses the active default client if there
        is one, else builds in this process; False always builds in this process. The tree is
        the same either way.
        """
        from ._dask import active_client, build_file
        from .readers import make_source

        if client is None and checkpoint is None:
            client = active_client()
        if client is not None and client is not False:
            if checkpoint is not None:
                raise ValueError(
                    "The 'checkpoint' parameter of build_from_file is for builds in this "
                    "process (client=False); a Dask build cannot resume."
                )
            return build_file(self, path, x, y, format=format, client=client, progress=progress)

        self._validate_params()
        self._resolve_backend()
        self.build_seconds_ = None
        started = time.perf_counter()
        source = make_source(path, format, x, y)
        journal = None
        if checkpoint is not None:
            from ._checkpoint import BuildCheckpoint

            journal = BuildCheckpoint.open(checkpoint, self, source,
                                           overwrite=overwrite_checkpoint)  # fmt: skip
        try:
            self._build_file_source(source, journal, started, progress)
        finally:
            if journal is not None:
                journal.close()
        return self

    def _build_file_source(self, source, journal, started, progress) -> None:
        with source.open() as reader:
            if journal is not None and journal.can_resume:
                state, chunks, n_rows = journal.resume(self, reader)
            else:
                first = first_pass(reader, self._encoding_settings())
                get_task(self.task).check_labels(first.class_counts, first.label_name,
                                                 first.classes.classes)  # fmt: skip
                state = self._new_state(first.encoder.n_features, first.encoder.dtype,
                                        first.classes.n_classes)  # fmt: skip
                state.encoder, state.classes = first.encoder, first.classes
                state.segments = [FileSegment(0, first.n_rows, source,
                                              path_fingerprint(source.path))]  # fmt: skip
                chunks = file_chunks(reader, first.encoder, first.classes, self.chunk_size, "y")
                n_rows = first.n_rows
                if journal is not None:
                    journal.start(state, n_rows)
            bar = _progress_bar(n_rows, progress, os.path.basename(source.path))
            if bar is not None and state.n_rows:
                bar.update(state.n_rows)
            try:
                self._grow(state, chunks, on_leaf=None if bar is None else bar.update,
                           checkpoint=journal)  # fmt: skip
            finally:
                if bar is not None:
                    bar.close()
        self._state = state
        self.build_seconds_ = time.perf_counter() - started

    def _settings(self, state: TreeState) -> BuildSettings:
        return BuildSettings(
            self.coreset_size, self.method, bool(self.deduplicate), self.sketch_size,
            state.seed, state.n_classes, self.task, bool(self.calibrate),
        )  # fmt: skip

    def _grow(self, state: TreeState, chunks, describe=None, on_leaf=None,
              checkpoint=None) -> None:  # fmt: skip
        """Add a leaf per (first row, X, labels) chunk, merging as the binary counter says,
        then make the root. The same steps (``_build``) a distributed build runs as tasks.
        ``checkpoint`` (``_checkpoint.BuildCheckpoint``) records the state after each leaf."""
        settings = self._settings(state)

        def emit(node: Node, children) -> int:
            state.nodes.append(node if children is None else node.with_children(children))
            return len(state.nodes) - 1

        counter = BinaryCounter(
            lambda left, right, spine: merge_nodes(settings, left, right, spine=spine),
            emit,
            [(state.nodes[i].height, i, state.nodes[i]) for i in state.stack],
        )

        def add(start: int, rows: int, node: Node) -> None:
            if start != state.n_rows:
                raise AssertionError("leaves must arrive in row order")
            counter.add_leaf(node)
            state.n_rows += rows
            state.n_leaves += 1
            if checkpoint is not None:
                checkpoint.commit(state, [position for _, position, _ in counter.stack])
            if on_leaf is not None:
                on_leaf(rows)

        threads = self.n_jobs or n_workers()
        with reuse_freed_memory(), blas_single_thread(), worker_threads(self.n_jobs):
            if threads < 2 or not self._backend.concurrent_leaves:
                for start, X, labels in chunks:
                    add(
                        start,
                        X.shape[0],
                        leaf_node(
                            settings, X, labels, start, state.n_leaves, self._backend, describe
                        ),
                    )
            else:
                _pipelined_leaves(
                    settings,
                    chunks,
                    state.n_leaves,
                    self._backend,
                    describe,
                    max(1, threads // LEAVES_IN_FLIGHT),
                    add,
                    threads,
                )
            state.stack = [position for _, position, _ in counter.stack]
            state.root, _ = counter.finish()

    # ---------------------------------------------------------------------- queries
    def _level_nodes(self, state: TreeState, level: int) -> list[int]:
        frontier = [state.root]
        for _ in range(level):
            frontier = [
                child
                for node_id in frontier
                for child in (state.nodes[node_id].children or (node_id,))
            ]
        return frontier

    def get_coreset(self, level: int = 0) -> Coreset:
        """The coreset at ``level``: 0 is the root (``coreset_size`` rows); level k is the union
        of the nodes k steps below it (a leaf above that depth stands for itself), so deeper
        levels hold more rows and approximate the data more closely. Weights sum to about
        ``n_samples_`` at every level. Its ``y`` holds label codes; ``decoded_y`` the labels
        (``classes_``), ``feature_names`` the names of X's columns."""
        state = self._check_built()
        depth = self.depth_
        if (
            isinstance(level, bool)
            or not isinstance(level, (int, np.integer))
            or not (0 <= level <= depth)
        ):
            raise ValueError(
                f"The 'level' parameter of get_coreset must be an int in 0..{depth} "
                f"(the tree's depth). Got {level!r} instead."
            )
        nodes = [state.nodes[i] for i in self._level_nodes(state, int(level))]
        return Coreset(
            indices=np.concatenate([n.indices for n in nodes]),
            X=np.concatenate([n.X for n in nodes]),
            y=np.concatenate([n.y for n in nodes]),
            weights=np.concatenate([n.weights for n in nodes]),
            n_total=state.nodes[state.root].stats.n_rows,
            feature_names=tuple(self.get_feature_names_out()),
            classes=state.classes.classes,
        )

    def iter_source_chunks(self, chunk_size: int | None = None, *, with_rows: bool = False):
        """Stream every row the tree summarises, in row order, from where it came: the data
        file it was built from (checked against the fingerprint taken at build time: a file
        that changed is an error) or the arrays passed to ``build`` / ``partial_build`` (the
        tree holds them by weak reference only: they must still exist).

        Yields (first row number, X chunk in the tree's dtype, label codes) with
        ``chunk_size`` rows per chunk (default: the tree's ``chunk_size``), encoded exactly as
        at build time. A chunk read from a file is valid until the next one is yielded.

        The tree's edits are applied: removed rows are left out (a chunk then holds fewer
        rows) and updated labels and features replace the data's. ``with_rows=True`` yields
        the chunk's row numbers (an array) in place of its first row number.
        """
        from ._edits import iter_edited_chunks

        state = self._check_built()
        chunk_size = check_int(
            self.chunk_size if chunk_size is None else chunk_size, "chunk_size",
            "iter_source_chunks",
        )  # fmt: skip
        for rows, X, labels in iter_edited_chunks(state, chunk_size):
            if rows.size:
                yield (rows if with_rows else int(rows[0])), X, labels

    def transform(self, X) -> np.ndarray:
        """Rows encoded exactly as the tree's X (the same columns, categories and dtype), so a
        model fitted on a coreset can predict on them: a table with the tree's feature columns
        (extra columns, such as the label, are ignored), or a matrix for a tree built from
        matrices."""
        state = self._check_built()
        if hasattr(state.encoder, "select"):
            from ._tables import is_table

            if not is_table(X):
                raise TypeError(
                    "X must be a table (pandas or polars DataFrame, pyarrow Table) with the "
                    f"columns {state.encoder.names}: the tree was built from a table. Got "
                    f"{type(X).__name__} instead."
                )
        return state.encoder.transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of X's columns: the table's columns with one-hot columns named
        ``"<column>_<category>"`` as scikit-learn's OneHotEncoder names them; ``x0, x1, ...``
        for trees built from plain matrices."""
        state = self._check_built()
        names = state.encoder.feature_names
        if names is None:
            names = [f"x{i}" for i in range(state.n_features)]
        return np.asarray(names, dtype=object)

    @property
    def feature_names_in_(self) -> np.ndarray:
        names = getattr(self._check_built().encoder, "names", None)
        if names is None:
            raise AttributeError("feature_names_in_ is set only for trees built from tables.")
        return np.asarray(names, dtype=object)

    @property
    def encoder_(self):
        """The fitted scikit-learn transformer (a ``ColumnTransformer``) that encodes table rows
        as the tree's X: the same output as :meth:`transform`. Only for trees built from
        tables."""
        encoder = self._check_built().encoder
        if not hasattr(encoder, "to_sklearn"):
            raise AttributeError("encoder_ is set only for trees built from tables.")
        return encoder.to_sklearn()

    @property
    def classes_(self) -> np.ndarray:
        classes = self._check_built().classes.classes
        if classes is None:
            raise AttributeError(f"classes_ is set only for classification trees; this one "
                                 f"is task={self.task!r}.")  # fmt: skip
        return classes.copy()

    @property
    def depth_(self) -> int:
        state = self._check_built()
        depth, frontier = 0, [state.root]
        while True:
            children = [c for i in frontier for c in (state.nodes[i].children or ())]
            if not children:
                return depth
            frontier, depth = children, depth + 1

    @property
    def n_samples_(self) -> int:
        """Rows summarised (removed rows not counted; row numbers run to the rows ever
        added)."""
        state = self._check_built()
        return int(state.nodes[state.root].stats.n_rows)

    @property
    def n_features_in_(self) -> int:
        return self._check_built().n_features

    @property
    def n_classes_(self) -> int:
        """Number of classes (0 for ``task="linear_regression"``)."""
        return self._check_built().n_classes

    @property
    def n_leaves_(self) -> int:
        return self._check_built().n_leaves

    @property
    def class_counts_(self) -> np.ndarray:
        state = self._check_built()
        if state.n_classes == 0:
            raise AttributeError(f"class_counts_ is set only for classification trees; this "
                                 f"one is task={self.task!r}.")  # fmt: skip
        return state.nodes[state.root].stats.class_counts.copy()

    def __repr__(self) -> str:
        params = (
            f"task={self.task!r}, coreset_size={self.coreset_size}, chunk_size={self.chunk_size}, "
            f"method={self.method!r}, random_state={self.random_state}"
        )
        state = getattr(self, "_state", None)
        if state is None or state.root < 0:
            return f"CoresetTree({params})"
        return (
            f"CoresetTree({params}; {state.n_rows} rows, {state.n_leaves} leaves, "
            f"depth {self.depth_})"
        )

    # ------------------------------------------------------- label review and edits
    def get_cleaning_samples(
        self, k: int, *, class_size=None, ignore_indices=None, ignore_seen: bool = False,
        model=None, scan_source: bool = True,
    ):  # fmt: skip
        """The ``k`` rows most worth a human look for a wrong label, best first.

        A row scores its miss probability 1 - p(its label | x) under a model that did not
        train on it: a pilot logistic regression fitted on the root coreset, with 5-fold
        cross-fitting for the coreset's own rows (each scored by the pilot of the other
        folds), or the fitted classifier ``model`` (its ``predict_proba``; its ``classes_``
        the tree's labels or codes). Every live row is scored: the file's (streamed once,
        checked against its fingerprint: a changed file is an error) or the arrays'; rows of
        arrays that no longer exist, or every row when ``scan_source=False``, only where the
        tree holds them (its samples). Ranking: score descending, ties by row number.

        ``class_size``: at most this many rows of any one class (an int), or a dict
        {label: most rows} (classes it does not name are left out). ``ignore_indices``: rows
        to leave out; ``ignore_seen``: leave out the rows earlier calls returned (the tree
        remembers them, and ``save`` keeps them). Returns a
        :class:`~coreset_engine._cleaning.CleaningSamples` (``indices``, ``scores``, ``y``,
        ``predicted``, ``X``, ``to_pandas()``). The same tree and arguments give the same list.
        """
        from ._cleaning import cleaning_samples

        state = self._check_built()
        result, self._state = cleaning_samples(
            self, state, k, class_size=class_size, ignore_indices=ignore_indices,
            ignore_seen=ignore_seen, model=model, scan_source=scan_source,
        )  # fmt: skip
        return result

    def update_targets(self, indices, y) -> CoresetTree:
        """Replace the labels of rows ``indices`` (row numbers of the data) by ``y`` (labels
        as in ``classes_``, one per row, or one for all). The nodes on those rows' paths to
        the root are recomputed (statistics exact; see ``_edits``); an invalid row or label
        raises before anything changes. Returns self."""
        from ._edits import labels_request

        return self._edit(labels_request(self._check_built(), indices, y, "update_targets"))

    def update_features(self, indices, X) -> CoresetTree:
        """Replace the features of rows ``indices`` by the rows of ``X`` (as given to
        ``build``: a matrix, or a table with the tree's feature columns). Returns self."""
        from ._edits import features_request

        return self._edit(features_request(self._check_built(), indices, X, "update_features"))

    def remove_samples(self, indices) -> CoresetTree:
        """Remove rows ``indices`` from the tree: statistics, samples and ``n_samples_`` no
        longer count them (row numbers of the others do not change). Returns self."""
        from ._edits import removal_request

        return self._edit(removal_request(self._check_built(), indices, "remove_samples"))

    def filter_out_samples(self, predicate) -> CoresetTree:
        """Remove every row for which ``predicate(indices, X, y)`` is True: it gets chunks of
        live rows (row numbers, encoded X, labels as in ``classes_``) and returns a boolean
        array. Streams the tree's rows once. Returns self."""
        from ._edits import removal_request, rows_matching

        state = self._check_built()
        rows = rows_matching(state, predicate, self.chunk_size, "filter_out_samples")
        return self._edit(removal_request(state, rows, "filter_out_samples"))

    def _edit(self, request) -> CoresetTree:
        from ._edits import edited_state

        self._state, self.last_recomputed_nodes_ = edited_state(self, self._state, request)
        return self

    @property
    def removed_indices_(self) -> np.ndarray:
        """Row numbers removed by ``remove_samples`` / ``filter_out_samples``, sorted."""
        edits = self._check_built().edits
        return np.zeros(0, dtype=np.int64) if edits is None else edits.removed.copy()

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the tree to an HDF5 file (atomically: a temporary file, then a rename)."""
        from ._persist import save_tree

        state = self._check_built()
        save_tree(self, state, path, inputs=[s.path for s in state.segments if hasattr(s, "path")])

    @classmethod
    def load(cls, path) -> CoresetTree:
        """Read a tree written by :meth:`save`."""
        from ._persist import load_tree

        return load_tree(cls, path)


def _progress_bar(total: int, enabled: bool, label: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rows", unit_scale=True, desc=f"building from {label}")


def _check_no_client(client, method: str) -> None:
    if client is not None:
        raise ValueError(
            f"The 'client' argument of CoresetTree.{method} is for dask arrays and dataframes. "
            "Got in-memory data: wrap it with dask.array.from_array to build on the cluster."
        )


#: Leaves a local build works on at once (each with half the row-pass threads): one leaf's
#: serial steps (pilot fit, draws) and the merges overlap another leaf's row passes. As many
#: as the file readers keep chunks valid.
LEAVES_IN_FLIGHT = VALID_CHUNKS


def _pipelined_leaves(settings, chunks, first_leaf: int, backend, describe, threads: int,
                      add, all_threads: int) -> None:  # fmt: skip
    """Build the leaves of ``chunks`` LEAVES_IN_FLIGHT at a time in a thread pool, each with
    ``threads`` row-pass threads, and hand them to ``add(start, rows, node)`` in row order in
    this thread (which merges). Once the chunks are exhausted and one leaf is left in flight
    (the last leaf, or the only one of a small input), its remaining passes run on
    ``all_threads``. A leaf is a function of its rows alone, so the tree is the one a
    sequential build makes on any number of threads; the first error in row order is raised,
    after every leaf in flight has stopped using its chunk."""
    alone = False  # the last leaf runs alone: its next passes take every thread

    def build(start, X, labels, leaf):
        with worker_threads(lambda: all_threads if alone else threads):
            return leaf_node(settings, X, labels, start, leaf, backend, describe)

    in_flight: deque = deque()
    chunks = iter(chunks)
    leaf = first_leaf
    exhausted = False

    def submit(pool, item) -> None:
        nonlocal leaf
        start, X, labels = item
        in_flight.append((start, X.shape[0], pool.submit(build, start, X, labels, leaf)))
        leaf += 1

    def submit_next(pool) -> None:
        nonlocal exhausted, alone
        item = None if exhausted else next(chunks, None)
        if item is not None:
            submit(pool, item)
        exhausted = item is None
        alone = exhausted and len(in_flight) == 1

    with ThreadPoolExecutor(LEAVES_IN_FLIGHT, thread_name_prefix="coreset-engine-leaf") as pool:
        try:
            for _ in range(LEAVES_IN_FLIGHT):  # each leaf starts as soon as its chunk is read
                item = next(chunks, None)
                if item is None:
                    exhausted = True
                    break
                submit(pool, item)
            alone = exhausted and len(in_flight) == 1  # a one-leaf input: every thread at once
            while in_flight:
                start, rows, future = in_flight.popleft()
                node = future.result()
                # taking the next chunk frees the one LEAVES_IN_FLIGHT back: its leaf is done
                submit_next(pool)
                add(start, rows, node)  # merges while the next leaves are built
        finally:
            for _, _, future in in_flight:  # an error: let the others stop using their chunks
                future.cancel()
            wait([future for _, _, future in in_flight])
