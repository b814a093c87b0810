"""Loaders for the real data sets used in tests, benchmarks and examples.

Four public binary-classification data sets are supported:

========================  ===========  =======  ==========================================
name                      rows         columns  file (relative to the data home)
========================  ===========  =======  ==========================================
``"kddcup99"``            494,021      118      ``kddcup99_10pct/kddcup.data_10_percent.gz``
``"skin"``                245,057      3        ``skin_nonskin/Skin_NonSkin.txt``
``"a9a"``                 32,561 (+    123      ``a9a/a9a`` and ``a9a/a9a.t``
                          16,281 test)
``"bank_marketing"``      41,188       62       ``bank_marketing/bank-additional.zip``
========================  ===========  =======  ==========================================

Every loader returns a :class:`Dataset` whose ``X`` is float64, C-contiguous, with categorical
columns one-hot encoded and **not** standardized, and whose ``y`` is int64 with values 0 and 1.
Use :func:`train_test_standardized` to get a standardized split and :func:`write_hdf5` to turn a
data set into the HDF5 file that the streaming code reads. Nothing is cached on disk.

Data files are found by :func:`find_data_home`: an explicit ``data_home`` argument, else the
folder named by the ``CORESET_ENGINE_DATA`` environment variable, the package's own ``data/``
folder (KDD Cup '99 ships with the package) and ``../shared/data`` next to a source checkout,
searched in that order. :func:`find_data_file` gives a data set's file.

The text loaders (KDD Cup '99, Skin, Bank Marketing) need pandas, imported only when they run.
"""

from __future__ import annotations

import os
import pathlib
import uuid
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "DATASETS",
    "DATA_ENV_VAR",
    "Dataset",
    "find_data_file",
    "find_data_home",
    "load_a9a",
    "load_bank_marketing",
    "load_dataset",
    "load_kddcup99",
    "load_skin",
    "train_test_standardized",
    "write_hdf5",
]

#: Environment variable that names a folder holding the data files.
DATA_ENV_VAR = "CORESET_ENGINE_DATA"

#: Data files installed with the package (KDD Cup '99).
PACKAGE_DATA = pathlib.Path(__file__).resolve().parent / "data"
_REPO_ROOT = PACKAGE_DATA.parent.parent

_KDD_FILE = "kddcup99_10pct/kddcup.data_10_percent.gz"
_SKIN_FILE = "skin_nonskin/Skin_NonSkin.txt"
_A9A_TRAIN_FILE = "a9a/a9a"
_A9A_TEST_FILE = "a9a/a9a.t"
_BANK_FILE = "bank_marketing/bank-additional.zip"
_KNOWN_FILES = (_KDD_FILE, _SKIN_FILE, _A9A_TRAIN_FILE, _BANK_FILE)
_FILES = {"kddcup99": _KDD_FILE, "skin": _SKIN_FILE, "a9a": _A9A_TRAIN_FILE,
          "bank_marketing": _BANK_FILE}  # fmt: skip

_A9A_N_FEATURES = 123

# Column names of the KDD Cup '99 files (from the UCI ``kddcup.names`` file).
_KDD_COLUMNS = (
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
)  # fmt: skip
_KDD_CATEGORICAL = ("protocol_type", "service", "flag")

_BANK_CATEGORICAL = (
    "job", "marital", "education", "default", "housing", "loan", "contact", "month",
    "day_of_week", "poutcome",
)  # fmt: skip
_BANK_MEMBERS = ("bank-additional-full.csv", "bank-additional.csv")


# --------------------------------------------------------------------------------------------
# Dataset container
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Dataset:
    """A binary-classification data set held in memory.

    Parameters
    ----------
    name : str
        Short name, e.g. ``"kddcup99"``.
    X : ndarray of float64, shape (n, d)
        Features, C-contiguous, categorical columns one-hot encoded (0.0 / 1.0), not
        standardized. Other array-likes are converted on construction.
    y : ndarray of int64, shape (n,)
        Labels, 0 or 1.
    feature_names : list of str, length d
        Column names of ``X``; a one-hot column is named ``"<column>=<category>"``.
    X_test : ndarray of float64, shape (n_test, d), optional
        Features of a separate test set shipped with the data (only a9a has one).
    y_test : ndarray of int64, shape (n_test,), optional
        Labels of that test set. Must be given together with ``X_test``.

    Raises
    ------
    ValueError
        If shapes disagree, labels are not 0/1, or only one of ``X_test``/``y_test`` is given.
    """

    name: str
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    feature_names: list[str] = field(repr=False)
    X_test: np.ndarray | None = field(default=None, repr=False)
    y_test: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name: expected a non-empty str, got {self.name!r}")
        X, y = _check_xy(self.X, self.y, "X", "y")
        names = list(self.feature_names)
        if len(names) != X.shape[1] or not all(isinstance(s, str) for s in names):
            raise ValueError(
                f"feature_names: expected {X.shape[1]} strings (one per column of X), "
                f"got {len(names)} items"
            )
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "feature_names", names)
        if (self.X_test is None) != (self.y_test is None):
            raise ValueError(
                "X_test, y_test: expected both or neither, got "
                f"X_test={'None' if self.X_test is None else 'an array'}, "
                f"y_test={'None' if self.y_test is None else 'an array'}"
            )
        if self.X_test is not None:
            X_test, y_test = _check_xy(self.X_test, self.y_test, "X_test", "y_test")
            if X_test.shape[1] != X.shape[1]:
                raise ValueError(
                    f"X_test: expected {X.shape[1]} columns (as X), got {X_test.shape[1]}"
                )
            object.__setattr__(self, "X_test", X_test)
            object.__setattr__(self, "y_test", y_test)

    @property
    def n_samples(self) -> int:
        """Number of rows of ``X``."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of columns of ``X``."""
        return int(self.X.shape[1])

    def __repr__(self) -> str:
        test = "" if self.X_test is None else f", X_test={self.X_test.shape}"
        return (
            f"Dataset(name={self.name!r}, X={self.X.shape}{test}, "
            f"positives={int(self.y.sum())}/{self.y.shape[0]})"
        )


def _check_xy(X: Any, y: Any, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert to float64 C-contiguous ``X`` and int64 0/1 ``y`` of matching length."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{x_name}: expected a 2-D array, got {X.ndim} dimension(s)")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or y_arr.shape[0] != X.shape[0]:
        raise ValueError(
            f"{y_name}: expected a 1-D array of length {X.shape[0]} (rows of {x_name}), "
            f"got shape {y_arr.shape}"
        )
    bad = (y_arr != 0) & (y_arr != 1)
    if bad.any():
        raise ValueError(
            f"{y_name}: expected labels 0 and 1 only, got {np.unique(y_arr[bad])[:5].tolist()}"
        )
    return X, np.ascontiguousarray(y_arr, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Locating files
# --------------------------------------------------------------------------------------------


def _as_path(value: Any, param: str) -> pathlib.Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{param}: expected a str or os.PathLike path, got {type(value).__name__}")
    if isinstance(value, str) and not value:
        raise ValueError(f"{param}: expected a non-empty path, got ''")
    return pathlib.Path(value).expanduser()


def _candidate_homes(data_home: str | os.PathLike[str] | None) -> list[pathlib.Path]:
    if data_home is not None:
        return [_as_path(data_home, "data_home")]
    homes = []
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        homes.append(pathlib.Path(env).expanduser())
    homes.append(PACKAGE_DATA)
    homes.append(_REPO_ROOT.parent / "shared" / "data")
    return homes


def find_data_home(
    data_home: str | os.PathLike[str] | None = None,
    relpath: str | Sequence[str] | None = None,
) -> pathlib.Path:
    """Return the folder to read data files from.

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        Folder to use. When given it is the only place searched: a file missing there is an
        error, never silently read from somewhere else.
        When omitted, these folders are searched in order:

        1. the folder named by the ``CORESET_ENGINE_DATA`` environment variable, if set;
        2. the ``data/`` folder inside the installed ``coreset_engine`` package, which holds
           KDD Cup '99;
        3. ``../shared/data`` relative to the root of a source checkout.
    relpath : str or sequence of str, optional
        File path(s), relative to the data home, that must exist there; the first folder
        holding all of them wins. When omitted, the first folder holding any of the known data
        files wins (for an explicit ``data_home``: the folder itself, if it is a directory).

    Returns
    -------
    pathlib.Path
        The chosen folder.

    Raises
    ------
    FileNotFoundError
        If no candidate folder qualifies; the message lists every path looked at.
    TypeError
        If ``data_home`` or ``relpath`` has the wrong type.
    """
    if relpath is None:
        wanted: tuple[str, ...] | None = None
    elif isinstance(relpath, str):
        wanted = (relpath,)
    elif isinstance(relpath, Sequence) and relpath and all(isinstance(r, str) for r in relpath):
        wanted = tuple(relpath)
    else:
        raise TypeError(f"relpath: expected a str or a non-empty sequence of str, got {relpath!r}")

    homes = _candidate_homes(data_home)
    looked: list[str] = []
    for home in homes:
        if wanted is not None:
            paths = [home / r for r in wanted]
            looked.extend(str(p) for p in paths)
            if all(p.is_file() for p in paths):
                return home
        elif data_home is not None:
            looked.append(str(home))
            if home.is_dir():
                return home
        else:
            paths = [home / r for r in _KNOWN_FILES]
            looked.extend(str(p) for p in paths)
            if any(p.is_file() for p in paths):
                return home
    what = "data files" if wanted is None else ", ".join(repr(r) for r in wanted)
    hint = (
        ""
        if data_home is not None
        else f" Pass data_home=... or set the {DATA_ENV_VAR} environment variable."
    )
    raise FileNotFoundError(
        f"data_home: expected a folder holding {what}; looked at: {'; '.join(looked)}.{hint}"
    )


def _resolve(relpath: str, data_home: str | os.PathLike[str] | None) -> pathlib.Path:
    return find_data_home(data_home, relpath) / relpath


def find_data_file(name: str, data_home: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """The path of the file of data set ``name`` (for a9a: its training file), found as
    :func:`find_data_home` finds folders.

    Examples
    --------
    >>> find_data_file("kddcup99").name
    'kddcup.data_10_percent.gz'
    """
    if name not in _FILES:
        raise ValueError(
            f"The 'name' parameter of find_data_file must be one of {sorted(_FILES)}. "
            f"Got {name!r} instead."
        )
    return _resolve(_FILES[name], data_home)


# --------------------------------------------------------------------------------------------
# Encoding helpers
# --------------------------------------------------------------------------------------------


def _import_pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is installed in development
        raise ImportError(
            "The KDD Cup '99, Skin and Bank Marketing loaders need pandas: pip install pandas"
        ) from exc
    return pd


def _category_codes(series: Any, source: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(categories, codes)`` of a pandas Series, categories sorted as strings."""
    pd = _import_pandas()
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        cats = np.asarray(series.cat.categories, dtype=str)
    else:
        codes, uniques = pd.factorize(series)
        cats = np.asarray(uniques, dtype=str)
    if (codes < 0).any():
        raise ValueError(f"{source}: column {series.name!r} has missing values")
    order = np.argsort(cats, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    used = np.bincount(codes, minlength=cats.size) > 0
    # Drop unused categories and renumber so codes index the sorted, used categories.
    keep = used[order]
    new_index = np.cumsum(keep) - 1
    return cats[order][keep], new_index[rank][codes].astype(np.intp)


def _encode_frame(
    df: Any, categorical: Sequence[str], source: pathlib.Path
) -> tuple[np.ndarray, list[str]]:
    """Turn a pandas DataFrame into float64 ``X`` with categoricals one-hot, in column order.

    Categories of a column are sorted, so the column layout does not depend on row order.
    """
    n = len(df)
    blocks: list[tuple[np.ndarray, np.ndarray | None]] = []
    names: list[str] = []
    for col in df.columns:
        if col in categorical:
            cats, codes = _category_codes(df[col], source)
            blocks.append((codes, cats))
            names.extend(f"{col}={c}" for c in cats)
        else:
            values = df[col].to_numpy(dtype=np.float64)
            if np.isnan(values).any():
                raise ValueError(f"{source}: column {col!r} has missing or non-numeric values")
            blocks.append((values, None))
            names.append(col)
    X = np.zeros((n, len(names)), dtype=np.float64)
    rows = np.arange(n)
    j = 0
    for values, cats in blocks:
        if cats is None:
            X[:, j] = values
            j += 1
        else:
            X[rows, j + values] = 1.0
            j += len(cats)
    return X, names


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------


def load_kddcup99(data_home: str | os.PathLike[str] | None = None) -> Dataset:
    """Load the KDD Cup '99 10% data set as a binary normal-vs-attack problem.

    494,021 network connections with 41 features. The categorical columns ``protocol_type``,
    ``service`` and ``flag`` are one-hot encoded (categories sorted), giving 118 columns.
    ``y`` is 0 for ``normal.`` and 1 for any of the 22 attack types (97,278 / 396,743 rows).

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        Folder holding ``kddcup99_10pct/kddcup.data_10_percent.gz``; see :func:`find_data_home`.

    Returns
    -------
    Dataset
        With ``name="kddcup99"`` and no test set.

    Raises
    ------
    FileNotFoundError
        If the file is not found.
    ImportError
        If pandas is not installed (``pip install pandas``).
    ValueError
        If the file is malformed.
    """
    pd = _import_pandas()
    path = _resolve(_KDD_FILE, data_home)
    dtypes = {c: ("category" if c in _KDD_CATEGORICAL else np.float64) for c in _KDD_COLUMNS}
    dtypes["label"] = "category"
    try:
        df = pd.read_csv(
            path,
            header=None,
            names=[*_KDD_COLUMNS, "label"],
            dtype=dtypes,
            compression="gzip",
            engine="c",
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: expected 42 comma-separated fields per row: {exc}") from exc
    labels = df.pop("label")
    names_seen = np.asarray(labels.cat.categories, dtype=str)
    if (labels.cat.codes.to_numpy() < 0).any() or not np.char.endswith(names_seen, ".").all():
        raise ValueError(
            f"{path}: expected every label to end in '.', e.g. 'normal.', "
            f"got {sorted(names_seen.tolist())[:5]}"
        )
    y = (labels != "normal.").to_numpy(dtype=np.int64)
    X, names = _encode_frame(df, _KDD_CATEGORICAL, path)
    return Dataset("kddcup99", X, y, names)


def load_skin(data_home: str | os.PathLike[str] | None = None) -> Dataset:
    """Load the UCI Skin Segmentation data set.

    245,057 pixels with 3 integer features (B, G, R). The file's label 1 (skin, 50,859 rows)
    becomes ``y = 1`` and label 2 (non-skin, 194,198 rows) becomes ``y = 0``.

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        Folder holding ``skin_nonskin/Skin_NonSkin.txt``; see :func:`find_data_home`.

    Returns
    -------
    Dataset
        With ``name="skin"``, feature names ``["B", "G", "R"]`` and no test set.

    Raises
    ------
    FileNotFoundError
        If the file is not found.
    ImportError
        If pandas is not installed (``pip install pandas``).
    ValueError
        If the file is malformed.
    """
    pd = _import_pandas()
    path = _resolve(_SKIN_FILE, data_home)
    try:
        raw = pd.read_csv(path, sep="\t", header=None, dtype=np.int64, engine="c").to_numpy()
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: expected 4 tab-separated integers per row: {exc}") from exc
    if raw.ndim != 2 or raw.shape[1] != 4:
        raise ValueError(f"{path}: expected 4 columns (B, G, R, label), got {raw.shape[1]}")
    label = raw[:, 3]
    if not np.isin(label, (1, 2)).all():
        raise ValueError(f"{path}: expected labels 1 (skin) and 2 (non-skin) only")
    X = np.ascontiguousarray(raw[:, :3], dtype=np.float64)
    return Dataset("skin", X, (label == 1).astype(np.int64), ["B", "G", "R"])


def _read_svmlight(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_svmlight_file

    try:
        Xs, labels = load_svmlight_file(
            str(path), n_features=_A9A_N_FEATURES, dtype=np.float64, zero_based=False
        )
    except ValueError as exc:
        raise ValueError(
            f"{path}: expected LIBSVM format with 1-based indices <= {_A9A_N_FEATURES}: {exc}"
        ) from exc
    if not np.isin(labels, (-1.0, 1.0)).all():
        raise ValueError(f"{path}: expected labels -1 and +1 only")
    return np.ascontiguousarray(Xs.toarray()), (labels > 0).astype(np.int64)


def load_a9a(data_home: str | os.PathLike[str] | None = None) -> Dataset:
    """Load the LIBSVM a9a data set (binarized UCI Adult) with its official test split.

    32,561 training and 16,281 test rows with 123 binary features (the test file never uses
    feature 123, but both arrays have 123 columns). Labels -1/+1 become 0/1.
    Needs scikit-learn (``sklearn.datasets.load_svmlight_file``).

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        Folder holding ``a9a/a9a`` and ``a9a/a9a.t``; see :func:`find_data_home`.

    Returns
    -------
    Dataset
        With ``name="a9a"``, feature names ``"f1"`` ... ``"f123"`` (the LIBSVM indices) and
        ``X_test`` / ``y_test`` set.

    Raises
    ------
    FileNotFoundError
        If either file is not found.
    ValueError
        If a file is malformed.
    """
    home = find_data_home(data_home, (_A9A_TRAIN_FILE, _A9A_TEST_FILE))
    X, y = _read_svmlight(home / _A9A_TRAIN_FILE)
    X_test, y_test = _read_svmlight(home / _A9A_TEST_FILE)
    names = [f"f{i}" for i in range(1, _A9A_N_FEATURES + 1)]
    return Dataset("a9a", X, y, names, X_test=X_test, y_test=y_test)


def load_bank_marketing(data_home: str | os.PathLike[str] | None = None) -> Dataset:
    """Load the UCI Bank Marketing data set (``bank-additional-full.csv``).

    41,188 phone-marketing contacts; ``y`` is 1 if the client subscribed a term deposit
    (4,640 rows) and 0 otherwise. The 10 categorical columns (``job``, ``marital``,
    ``education``, ``default``, ``housing``, ``loan``, ``contact``, ``month``, ``day_of_week``,
    ``poutcome``) are one-hot encoded with every category kept, ``"unknown"`` included, and
    the 9 numeric columns are kept as they are (``pdays = 999`` means "not contacted before").
    That gives 62 columns.

    The ``duration`` column (length of the call) is **dropped**: UCI documents that it leaks
    the target, since it is unknown before the call and ``duration = 0`` implies ``y = 0``.

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        Folder holding ``bank_marketing/bank-additional.zip``; see :func:`find_data_home`.
        The CSV is read from inside the zip; ``bank-additional-full.csv`` is used, or, with a
        warning, the 4,119-row ``bank-additional.csv`` if the zip lacks the full file.

    Returns
    -------
    Dataset
        With ``name="bank_marketing"`` and no test set.

    Raises
    ------
    FileNotFoundError
        If the zip is not found.
    ImportError
        If pandas is not installed (``pip install pandas``).
    ValueError
        If the zip holds no suitable CSV or the CSV is malformed.
    """
    pd = _import_pandas()
    path = _resolve(_BANK_FILE, data_home)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path}: expected a zip archive: {exc}") from exc
    with zf:
        members = [
            m
            for m in zf.namelist()
            if not m.startswith("__MACOSX/") and not pathlib.PurePosixPath(m).name.startswith(".")
        ]
        by_name = {pathlib.PurePosixPath(m).name: m for m in members}
        chosen = next((by_name[n] for n in _BANK_MEMBERS if n in by_name), None)
        if chosen is None:
            raise ValueError(
                f"{path}: expected a member named {' or '.join(_BANK_MEMBERS)}, got {members}"
            )
        if not chosen.endswith(_BANK_MEMBERS[0]):
            warnings.warn(
                f"{path} has no {_BANK_MEMBERS[0]}; loading the smaller {chosen}",
                UserWarning,
                stacklevel=2,
            )
        with zf.open(chosen) as fh:
            try:
                df = pd.read_csv(fh, sep=";", engine="c")
            except (ValueError, pd.errors.ParserError) as exc:
                raise ValueError(f"{path}:{chosen}: expected a ';'-separated CSV: {exc}") from exc
    expected = {*_BANK_CATEGORICAL, "duration", "y"}
    missing = sorted(expected - set(df.columns))
    if missing:
        raise ValueError(f"{path}:{chosen}: expected columns {missing}, got {list(df.columns)}")
    target = df.pop("y").to_numpy(dtype=str)
    if not np.isin(target, ("yes", "no")).all():
        raise ValueError(f"{path}:{chosen}: expected y to be 'yes' or 'no' only")
    df = df.drop(columns="duration")
    X, names = _encode_frame(df, _BANK_CATEGORICAL, path)
    return Dataset("bank_marketing", X, (target == "yes").astype(np.int64), names)


#: Loader for each data-set name accepted by :func:`load_dataset`.
DATASETS: dict[str, Callable[..., Dataset]] = {
    "kddcup99": load_kddcup99,
    "skin": load_skin,
    "a9a": load_a9a,
    "bank_marketing": load_bank_marketing,
}


def load_dataset(name: str, data_home: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        One of the keys of :data:`DATASETS`: ``"kddcup99"``, ``"skin"``, ``"a9a"``,
        ``"bank_marketing"``.
    data_home : str or os.PathLike, optional
        Passed to the loader; see :func:`find_data_home`.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        If ``name`` is not a known data set; the message lists the valid names.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"name: expected one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](data_home)


# --------------------------------------------------------------------------------------------
# Splitting and writing
# --------------------------------------------------------------------------------------------


def train_test_standardized(
    dataset: Dataset,
    *,
    test_size: float = 0.2,
    random_state: int | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split a data set and standardize both parts with the training mean and std.

    Parameters
    ----------
    dataset : Dataset
        The data. If it ships a test set (``dataset.X_test`` is not None, as for a9a) that is
        the test part and ``test_size`` / ``random_state`` are not used; otherwise a stratified
        :func:`sklearn.model_selection.train_test_split` is made.
    test_size : float in (0, 1) or int >= 1, default 0.2
        Fraction, or number, of rows put in the test part.
    random_state : int or None, default 0
        Seed of the split.

    Returns
    -------
    X_train, X_test : ndarray of float64, C-contiguous
        Standardized with the training columns' mean and standard deviation; columns whose
        training std is 0 are only centred (std taken as 1). These are new arrays: the data
        set is not modified.
    y_train, y_test : ndarray of int64

    Raises
    ------
    TypeError
        If ``dataset`` is not a :class:`Dataset` or an argument has the wrong type.
    ValueError
        If ``test_size`` is out of range.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset: expected a Dataset, got {type(dataset).__name__}")
    n = dataset.n_samples
    if isinstance(test_size, (bool, np.bool_)) or not isinstance(
        test_size, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"test_size: expected a float or an int, got {type(test_size).__name__}")
    if isinstance(test_size, (int, np.integer)):
        if not 1 <= test_size < n:
            raise ValueError(f"test_size: expected an int in [1, {n - 1}], got {test_size}")
    elif not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size: expected a float in (0, 1), got {test_size}")
    if random_state is not None and (
        isinstance(random_state, (bool, np.bool_))
        or not isinstance(random_state, (int, np.integer))
    ):
        raise TypeError(f"random_state: expected an int or None, got {random_state!r}")

    if dataset.X_test is not None:
        X_tr = dataset.X.copy()
        X_te = dataset.X_test.copy()
        y_tr = dataset.y.copy()
        y_te = dataset.y_test.copy()
    else:
        from sklearn.model_selection import train_test_split

        X_tr, X_te, y_tr, y_te = train_test_split(
            dataset.X,
            dataset.y,
            test_size=test_size,
            random_state=random_state,
            stratify=dataset.y,
        )
        X_tr = np.ascontiguousarray(X_tr)
        X_te = np.ascontiguousarray(X_te)
    mean = X_tr.mean(axis=0)
    std = X_tr.std(axis=0)
    std[std == 0] = 1.0
    X_tr -= mean
    X_tr /= std
    X_te -= mean
    X_te /= std
    return X_tr, X_te, y_tr.astype(np.int64, copy=False), y_te.astype(np.int64, copy=False)


def write_hdf5(
    path: str | os.PathLike[str],
    X: Any,
    y: Any,
    *,
    x_name: str = "X",
    y_name: str = "y",
    chunk_rows: int | None = None,
    dtype: Any = np.float32,
) -> None:
    """Write ``X`` and ``y`` to an HDF5 file, atomically.

    The file holds two datasets: ``x_name`` with ``X`` cast to ``dtype`` and stored in row
    chunks of shape ``(chunk_rows, d)``, and ``y_name`` with ``y`` as int64. Nothing is
    compressed. The data are first written to a temporary file in the same folder, which is
    then renamed over ``path`` with :func:`os.replace`, so a failure never leaves a
    half-written file at ``path`` (an existing file there is replaced only on success).
    Needs h5py.

    Parameters
    ----------
    path : str or os.PathLike
        Output file. Its folder must exist.
    X : array-like of shape (n, d)
        Features, n >= 1 and d >= 1, all finite.
    y : array-like of shape (n,)
        Integer labels.
    x_name, y_name : str, default "X", "y"
        Names of the two HDF5 datasets; must differ.
    chunk_rows : int, optional
        Rows per chunk. Default: as many rows as fit in about 1 MiB (at least 1). Capped at n.
    dtype : floating dtype, default numpy.float32
        Storage type of ``X``.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If shapes disagree, ``X`` is empty or not finite, ``y`` is not integer-valued, or
        ``chunk_rows`` < 1.
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    import h5py

    out = _as_path(path, "path")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"path: expected an existing folder, got {str(out.parent)!r}")
    for pname, value in (("x_name", x_name), ("y_name", y_name)):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{pname}: expected a non-empty str, got {value!r}")
    if x_name == y_name:
        raise ValueError(f"x_name, y_name: expected different names, got {x_name!r} twice")
    try:
        out_dtype = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype: expected a numpy floating dtype, got {dtype!r}") from exc
    if not np.issubdtype(out_dtype, np.floating):
        raise TypeError(f"dtype: expected a numpy floating dtype, got {out_dtype}")

    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X: expected a non-empty 2-D array, got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise TypeError(f"X: expected a numeric array, got dtype {X.dtype}")
    n, d = X.shape
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or y_arr.shape[0] != n:
        raise ValueError(f"y: expected a 1-D array of length {n} (rows of X), got {y_arr.shape}")
    y64 = y_arr.astype(np.int64)
    if not np.array_equal(y64, y_arr):
        raise ValueError("y: expected integer-valued labels, got non-integer values")

    if chunk_rows is None:
        rows = max(1, (1 << 20) // (d * out_dtype.itemsize))
    elif isinstance(chunk_rows, (bool, np.bool_)) or not isinstance(chunk_rows, (int, np.integer)):
        raise TypeError(f"chunk_rows: expected an int or None, got {chunk_rows!r}")
    elif chunk_rows < 1:
        raise ValueError(f"chunk_rows: expected an int >= 1, got {chunk_rows}")
    else:
        rows = int(chunk_rows)
    rows = min(rows, n)

    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        with h5py.File(tmp, "x") as fh:
            dset = fh.create_dataset(x_name, shape=(n, d), dtype=out_dtype, chunks=(rows, d))
            # Convert in blocks of whole chunks (~64 MiB) to bound the extra memory.
            step = rows * max(1, (64 << 20) // max(1, rows * d * out_dtype.itemsize))
            for start in range(0, n, step):
                block = np.asarray(X[start : start + step], dtype=out_dtype)
                if not np.isfinite(block).all():
                    raise ValueError(f"X: expected finite values, got NaN or inf near row {start}")
                dset[start : start + block.shape[0]] = block
            fh.create_dataset(y_name, data=y64)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
