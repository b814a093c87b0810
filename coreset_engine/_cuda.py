"""The CUDA backend: a leaf's row passes on an NVIDIA GPU (``CoresetTree(backend="cuda")``).

A leaf chunk is copied to the GPU once; three passes then read it there:

* scan: finite check, column max |x| and float64 sums (``_cuda_kernels.scan_columns``, per-block
  partials reduced on the host in a fixed order), and the 64-bit row hashes, bit-identical to the
  CPU's (``hash_rows_tiled``), so duplicate merging, which stays on the CPU, groups the same rows;
* Gram matrix: cuBLAS through torch (or cupy): float32 products over blocks of 8192 rows summed
  in float64, as the CPU sums per-thread partial products (float64 products when float32 could
  overflow, as on the CPU). TF32 is switched off for these products;
* scores: one cuBLAS GEMM X @ [P | W] (P the leverage projection from the inverted Cholesky
  factor, computed on the host: (d + 1) x (d + 1); W the pilot's coefficients), then the fused
  kernel of the CPU path (``fused_scores_tiled_*``). Scores come back as float64 for the draw.

Chunks below :data:`MIN_ROWS` rows (and every merge of two coresets) run on the CPU. The draw,
duplicate merging and pilot fits always do. The GPU results equal the CPU's up to float
rounding (hashes, column max and first bad row exactly), so trees built on either backend are
samples from the same distribution, not bit-identical.

GEMM library: torch (preferred) or cupy, or the environment variable ``CORESET_ENGINE_GEMM``
(``torch`` | ``cupy``). Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, for tests) the
kernels run on the CPU and the GEMMs in torch on the CPU (or NumPy, without torch).
"""

from __future__ import annotations

import functools
import os
import warnings
from contextlib import contextmanager

import numpy as np

from ._backend import CpuRows
from ._cpu import RowScan, score_matrix
from ._linalg import gram_from_products

#: Chunks with fewer rows run on the CPU: upload and launches would cost more than they save.
#: Merges (2 x coreset_size rows) stay below it.
MIN_ROWS = 262_144
#: Rows per float32 partial Gram matrix (the partials are summed in float64).
GRAM_BLOCK_ROWS = 8192
#: Rows multiplied (and converted, for float64 products) at once: bounds temporary GPU memory.
GROUP_ROWS = 4_194_304
#: Row blocks of the scan kernel, a fixed function of the row count (never of the GPU), so the
#: float64 column sums are the same on every run.
MAX_SCAN_BLOCKS = 1024
_SCAN_ROWS_PER_BLOCK = 2048
#: Blocks of the tiled kernels (grid-stride loops cover any row count).
MAX_TILE_BLOCKS = 16384
_GEMM_ENV = "CORESET_ENGINE_GEMM"
_GEMM_LIBRARIES = ("torch", "cupy", "numpy")


def simulated() -> bool:
    """True under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, read when Numba loads)."""
    try:
        from numba.core import config

        if getattr(config, "ENABLE_CUDASIM", False):
            return True
    except ImportError:
        pass
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def _import_numba_cuda():
    if not hasattr(np, "row_stack"):  # removed in NumPy 2.5; numba-cuda <= 0.30 still uses it
        np.row_stack = np.vstack
    from numba import cuda

    return cuda


def unavailable_reason() -> str | None:
    """None when the CUDA backend can run here, else a phrase saying why not."""
    try:
        cuda = _import_numba_cuda()
    except Exception as error:  # numba-cuda missing or broken
        return f"numba.cuda cannot be imported ({error})"
    if not simulated():
        try:
            available = bool(cuda.is_available())
        except Exception:
            available = False
        if not available:
            return "no usable CUDA GPU was found (numba.cuda.is_available() is False)"
    try:
        library()
    except RuntimeError as error:
        return str(error)
    return None


def auto_selects_gpu() -> bool:
    """What ``backend="auto"`` decides: a real GPU with numba-cuda and a GEMM library."""
    return not simulated() and unavailable_reason() is None


class _Unusable(Exception):
    pass


@functools.cache
def library(name: str | None = None):
    """The array and GEMM library the backend uses (cached): ``name``, else
    ``CORESET_ENGINE_GEMM``, else torch, else cupy (NumPy too under the simulator)."""
    choice = name or os.environ.get(_GEMM_ENV, "").strip().lower() or None
    if choice is not None and choice not in _GEMM_LIBRARIES:
        raise RuntimeError(
            f"the environment variable {_GEMM_ENV} must be one of {list(_GEMM_LIBRARIES)} "
            f"(got {choice!r})"
        )
    candidates = [choice] if choice else ["torch", "cupy", "numpy"]
    problems = []
    for candidate in candidates:
        try:
            return _make_library(candidate)
        except _Unusable as problem:
            problems.append(f"{candidate}: {problem}")
    raise RuntimeError(
        "no GEMM library for the GPU is usable (" + "; ".join(problems) + "); the CUDA "
        "backend needs torch built with CUDA or cupy"
    )


def _make_library(name: str):
    sim = simulated()
    if name == "torch":
        try:
            import torch
        except ImportError:
            raise _Unusable("not installed") from None
        if sim:
            return _TorchLibrary(torch, "cpu")
        if not torch.cuda.is_available():
            raise _Unusable("installed without CUDA support, or it sees no GPU")
        return _TorchLibrary(torch, "cuda")
    if name == "cupy":
        if sim:
            raise _Unusable("needs a real GPU, not the simulator")
        try:
            import cupy
        except ImportError:
            raise _Unusable("not installed") from None
        try:
            if cupy.cuda.runtime.getDeviceCount() < 1:
                raise _Unusable("sees no GPU")
        except _Unusable:
            raise
        except Exception as error:
            raise _Unusable(f"sees no GPU ({error})") from None
        return _XpLibrary(cupy, "cupy")
    if not sim:
        raise _Unusable("only under the CUDA simulator")
    return _XpLibrary(np, "numpy")


def _numba_view(obj):
    """A numba device array viewing a CUDA array (no copy, no synchronisation: kernels run on
    the library's current stream, after the work that produced ``obj``)."""
    from numba import cuda

    try:
        return cuda.as_cuda_array(obj, sync=False)
    except TypeError:  # a numba-cuda without the sync argument
        return cuda.as_cuda_array(obj)


def _numba_stream(pointer: int):
    from numba import cuda

    return cuda.external_stream(pointer) if pointer else cuda.default_stream()


def _blocked_gram(X, total, to_float64, scale, as_float64: bool) -> None:
    """Add X^T X (of X / ``scale`` when given) to the float64 device array ``total``: products
    of GRAM_BLOCK_ROWS-row blocks, batched over GROUP_ROWS rows, each summed in float64.
    Written once for torch tensors and cupy/NumPy arrays; ``to_float64`` converts one."""
    d = X.shape[1]
    for a in range(0, X.shape[0], GROUP_ROWS):
        part = X[a : a + GROUP_ROWS]
        if as_float64 or scale is not None:
            part = to_float64(part)
        if scale is not None:
            part = part / scale
        blocks = part.shape[0] // GRAM_BLOCK_ROWS
        if blocks:
            stacked = part[: blocks * GRAM_BLOCK_ROWS].reshape(blocks, GRAM_BLOCK_ROWS, d)
            total += to_float64(stacked.swapaxes(1, 2) @ stacked).sum(0)
        rest = part[blocks * GRAM_BLOCK_ROWS :]
        if rest.shape[0]:
            total += to_float64(rest.T @ rest)


class _TorchLibrary:
    """Device arrays are torch tensors; GEMMs are cuBLAS calls through torch."""

    name = "torch"

    def __init__(self, torch, device: str):
        self.torch = torch
        self.device = torch.device(device)
        self.gpu = self.device.type == "cuda"
        self._dtypes = {
            np.dtype(np.float32): torch.float32,
            np.dtype(np.float64): torch.float64,
            np.dtype(np.int64): torch.int64,
        }

    def upload(self, host: np.ndarray):
        host = np.ascontiguousarray(host)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # read-only input: only read here
            tensor = self.torch.from_numpy(host)
        return tensor.to(self.device) if self.gpu else tensor.clone()

    def empty(self, shape, dtype):
        return self.torch.empty(shape, dtype=self._dtypes[np.dtype(dtype)], device=self.device)

    def np_dtype(self, array) -> np.dtype:
        return next(key for key, value in self._dtypes.items() if value == array.dtype)

    def kernel_array(self, tensor, view=None):
        array = _numba_view(tensor) if self.gpu else tensor.numpy()
        return array if view is None else array.view(view)

    def flat(self, tensor):
        return tensor.reshape(-1)

    def to_host(self, tensor) -> np.ndarray:
        return tensor.cpu().numpy() if self.gpu else tensor.numpy().copy()

    def take(self, tensor, positions: np.ndarray):
        return tensor.index_select(0, self.upload(np.asarray(positions, dtype=np.int64)))

    @contextmanager
    def _ieee_float32(self):
        """float32 products in full float32 (no TF32) for the duration."""
        before = self.torch.get_float32_matmul_precision()
        if before == "highest":
            yield
            return
        self.torch.set_float32_matmul_precision("highest")
        try:
            yield
        finally:
            self.torch.set_float32_matmul_precision(before)

    def matmul(self, a, b):
        with self._ieee_float32():
            return self.torch.matmul(a, b)

    def gram(self, X, *, as_float64: bool = False, scale: np.ndarray | None = None) -> np.ndarray:
        torch = self.torch
        d = X.shape[1]
        total = torch.zeros((d, d), dtype=torch.float64, device=self.device)
        scale_t = None if scale is None else self.upload(np.asarray(scale, dtype=np.float64))
        with self._ieee_float32():
            _blocked_gram(X, total, lambda a: a.to(torch.float64), scale_t, as_float64)
        gram = self.to_host(total)
        return 0.5 * (gram + gram.T)

    def stream(self):
        if not self.gpu:
            return 0
        return _numba_stream(self.torch.cuda.current_stream().cuda_stream)

    def synchronize(self) -> None:
        if self.gpu:
            self.torch.cuda.synchronize()


class _XpLibrary:
    """Device arrays are cupy arrays (GEMMs in cuBLAS), or NumPy arrays under the simulator."""

    def __init__(self, xp, name: str):
        self.xp = xp
        self.name = name
        self.gpu = name == "cupy"

    def upload(self, host: np.ndarray):
        return self.xp.array(np.ascontiguousarray(host))  # a copy

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype=dtype)

    def np_dtype(self, array) -> np.dtype:
        return np.dtype(array.dtype)

    def kernel_array(self, array, view=None):
        array = _numba_view(array) if self.gpu else array
        return array if view is None else array.view(view)

    def flat(self, array):
        return array.reshape(-1)

    def to_host(self, array) -> np.ndarray:
        return self.xp.asnumpy(array) if self.gpu else array.copy()

    def take(self, array, positions: np.ndarray):
        return array[self.xp.asarray(np.asarray(positions, dtype=np.int64))]

    def matmul(self, a, b):
        return self.xp.matmul(a, b)  # cupy: TF32 only with CUPY_TF32=1

    def gram(self, X, *, as_float64: bool = False, scale: np.ndarray | None = None) -> np.ndarray:
        xp = self.xp
        d = X.shape[1]
        total = xp.zeros((d, d), dtype=np.float64)
        scale_x = None if scale is None else xp.asarray(np.asarray(scale, dtype=np.float64))
        _blocked_gram(X, total, lambda a: a.astype(np.float64), scale_x, as_float64)
        gram = self.to_host(total)
        return 0.5 * (gram + gram.T)

    def stream(self):
        if not self.gpu:
            return 0
        return _numba_stream(self.xp.cuda.get_current_stream().ptr)

    def synchronize(self) -> None:
        if self.gpu:
            self.xp.cuda.get_current_stream().synchronize()


@functools.lru_cache(maxsize=1)
def _kernels():
    from . import _cuda_kernels

    return _cuda_kernels


@contextmanager
def _launching():
    """Silence launch-time warnings: small grids (tests) and, under the simulator, NumPy's
    overflow warnings for the hash's intended uint64 wraparound."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Gg]rid size.*")
        if simulated():
            warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _tile_threads(kernels) -> int:
    """Threads (and at most rows) per block of the tiled kernels. The simulator runs every
    thread as a Python thread, so it gets small blocks (the same code, smaller tiles)."""
    return 32 if simulated() else kernels.TILE_THREADS


class CudaBackend:
    """``backend="cuda"``: leaves of at least :data:`MIN_ROWS` rows run their passes on the GPU."""

    name = "cuda"

    @property
    def concurrent_leaves(self) -> bool:
        """Whether a build may run leaves in several threads at once: on a GPU yes (the same
        tree, 2.3x faster on an H200: ``python -m benchmarks.gpu_pipeline``); Numba's simulator
        runs one kernel at a time."""
        return not simulated()

    def rows(self, X: np.ndarray, labels: np.ndarray):
        if X.shape[0] < MIN_ROWS:
            return CpuRows(X, labels)
        return CudaRows.upload(X, labels)


class CudaRows:
    """A chunk of rows (X and int64 labels) resident on the GPU, and the passes over it."""

    on_device = True

    def __init__(self, lib, X, labels):
        self.lib = lib
        self.X = X
        self.labels = labels
        self.n, self.d = (int(size) for size in X.shape)
        self.dtype = lib.np_dtype(X)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"X on the GPU must be float32 or float64. Got {self.dtype} instead.")

    @classmethod
    def upload(cls, X: np.ndarray, labels: np.ndarray, lib=None) -> CudaRows:
        """Copy a host chunk to the GPU (once; every pass reuses it)."""
        lib = lib or library()
        return cls(lib, lib.upload(X), lib.upload(np.asarray(labels, dtype=np.int64)))

    @classmethod
    def from_device(cls, X, labels, lib=None) -> CudaRows:
        """Rows already on the GPU (arrays of the GEMM library: torch tensors or cupy arrays)."""
        return cls(lib or library(), X, labels)

    def take(self, positions: np.ndarray) -> CudaRows:
        """The rows at ``positions``, gathered on the GPU."""
        return CudaRows(
            self.lib, self.lib.take(self.X, positions), self.lib.take(self.labels, positions)
        )

    # ------------------------------------------------------------------------------ scan
    def scan_device(self, hashes: bool = False):
        """(first bad row or -1, col_max, col_sum, row hashes as a device int64 array holding
        the uint64 bits, or None). Hashes are skipped when a row is bad, as the tree stops."""
        lib, n, d = self.lib, self.n, self.d
        if n == 0 or d == 0:
            return -1, np.zeros(d), np.zeros(d), lib.empty(n, np.int64) if hashes else None
        kernels = _kernels()
        stream = lib.stream()
        blocks = max(1, min(MAX_SCAN_BLOCKS, _ceil_div(n, _SCAN_ROWS_PER_BLOCK)))
        partial_sum = lib.empty((blocks, d), np.float64)
        partial_max = lib.empty((blocks, d), np.float64)
        partial_bad = lib.empty((blocks, d), np.int64)
        grid = (blocks, _ceil_div(d, kernels.SCAN_COLUMNS))
        with _launching():
            kernels.scan_columns[grid, (kernels.SCAN_COLUMNS, kernels.SCAN_ROWS), stream](
                lib.kernel_array(self.X),
                lib.kernel_array(partial_sum),
                lib.kernel_array(partial_max),
                lib.kernel_array(partial_bad),
            )
        bad = int(lib.to_host(partial_bad).min())
        first_bad = bad if bad < n else -1
        col_max = lib.to_host(partial_max).max(axis=0)
        col_sum = lib.to_host(partial_sum).sum(axis=0)
        out = None
        if hashes:
            out = lib.empty(n, np.int64)
            if first_bad < 0:
                self._hash(out, stream)
        return first_bad, col_max, col_sum, out

    def _hash(self, out, stream) -> None:
        lib, n, d = self.lib, self.n, self.d
        kernels = _kernels()
        itemsize = self.dtype.itemsize
        word = np.uint64 if (d * itemsize) % 8 == 0 else np.uint32  # as _cpu.row_words
        k = d * itemsize // np.dtype(word).itemsize
        words = lib.kernel_array(lib.flat(self.X), view=word)
        labels = lib.kernel_array(self.labels)
        hashes = lib.kernel_array(out, view=np.uint64)
        with _launching():
            if k <= kernels.HASH_TILE_WORDS:
                threads = _tile_threads(kernels)
                tile_rows = min(threads, kernels.HASH_TILE_WORDS // k)
                blocks = min(MAX_TILE_BLOCKS, _ceil_div(n, tile_rows))
                kernels.hash_rows_tiled[blocks, threads, stream](
                    words, k, n, labels, tile_rows, hashes
                )
            else:
                blocks = min(MAX_TILE_BLOCKS, _ceil_div(n, 256))
                kernels.hash_rows_global[blocks, 256, stream](words, k, n, labels, hashes)

    def scan(self, hashes: bool = False) -> RowScan:
        """As :func:`coreset_engine._cpu.scan_rows` on these rows and labels."""
        first_bad, col_max, col_sum, out = self.scan_device(hashes)
        if out is not None:
            out = self.lib.to_host(out).view(np.uint64)
        return RowScan(first_bad, col_max, col_sum, out)

    # ------------------------------------------------------------------------------ Gram
    def gram_with_intercept(self, col_max: np.ndarray, col_sum: np.ndarray, *,
                            float64_products: bool = False) -> np.ndarray:  # fmt: skip
        """As :func:`coreset_engine._linalg.gram_with_intercept`: [X, 1]^T [X, 1], float64
        (the same choice of products, :func:`~coreset_engine._linalg.gram_from_products`)."""

        def products(kind: str, col_scale: np.ndarray | None = None) -> np.ndarray:
            if kind == "native":
                return self.lib.gram(self.X)
            if kind == "scaled":
                return self.lib.gram(self.X, scale=col_scale)
            return self.lib.gram(self.X, as_float64=True)

        return gram_from_products(self.n, self.dtype, col_max, col_sum, products,
                                  float64_products=float64_products)  # fmt: skip

    # ---------------------------------------------------------------------------- scores
    def sensitivity_scores(
        self,
        X: np.ndarray | None,
        projection: np.ndarray,
        inv_n: float,
        weights: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        pilot=None,
        floor: float = 0.0,
        n_classes: int = 0,
    ) -> np.ndarray:
        """:func:`coreset_engine._cpu.sensitivity_scores` on the resident rows (float64, on the
        host). ``X`` and ``labels`` are the host copies of these rows, only checked: the GPU
        copies are used."""
        if X is not None and X.shape[0] != self.n:
            raise ValueError(f"X has {X.shape[0]} rows; the rows on the GPU are {self.n}.")
        out = self.scores_device(projection, inv_n, weights, pilot, floor, n_classes)
        return self.lib.to_host(out)

    def scores_device(self, projection, inv_n, weights=None, pilot=None, floor=0.0, n_classes=0):
        """The scores as a float64 array on the GPU."""
        lib, n = self.lib, self.n
        kernels = _kernels()
        k = projection.shape[1]
        use_pilot = pilot is not None
        matrix, bias, column_of_label, binary = score_matrix(projection, pilot, n_classes,
                                                             self.dtype)  # fmt: skip
        m = matrix.shape[1]
        unit = weights is None
        if unit:
            weights = np.ones(1)
        elif len(weights) != n:
            raise ValueError(f"weights has {len(weights)} entries; the rows on the GPU are {n}.")
        weights_d = lib.kernel_array(lib.upload(np.asarray(weights, dtype=np.float64)))
        bias_d = lib.kernel_array(lib.upload(bias))
        columns_d = lib.kernel_array(lib.upload(np.asarray(column_of_label, dtype=np.int64)))
        labels_d = lib.kernel_array(self.labels)
        matrix_d = lib.upload(matrix)
        out = lib.empty(n, np.float64)
        out_d = lib.kernel_array(out)
        if self.dtype.itemsize == 4:
            tiled, tile_elements = kernels.fused_scores_tiled_f32, kernels.SCORE_TILE_F32
        else:
            tiled, tile_elements = kernels.fused_scores_tiled_f64, kernels.SCORE_TILE_F64
        threads = _tile_threads(kernels)
        tile_rows = min(threads, tile_elements // m)
        stream = lib.stream()
        flags = (float(inv_n), float(floor), bool(unit), bool(use_pilot), bool(binary))
        for a in range(0, n, GROUP_ROWS):
            rows = min(n, a + GROUP_ROWS) - a
            products = lib.matmul(self.X[a : a + rows], matrix_d)  # (rows, m), X's dtype
            U = lib.kernel_array(lib.flat(products))
            common = (U, m, rows, k, bias_d, labels_d, weights_d, columns_d, a, *flags)
            with _launching():
                if tile_rows >= 1:
                    blocks = min(MAX_TILE_BLOCKS, _ceil_div(rows, tile_rows))
                    tiled[blocks, threads, stream](*common, tile_rows, out_d)
                else:
                    blocks = min(MAX_TILE_BLOCKS, _ceil_div(rows, 256))
                    kernels.fused_scores_global[blocks, 256, stream](*common, out_d)
        return out
