"""Tables in memory (pandas, polars, pyarrow) as pyarrow tables, and which of a table's columns
are features, which of those are categorical, and the float dtype the features become."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def is_table(data) -> bool:
    """A pandas or polars DataFrame, or a pyarrow Table or RecordBatch."""
    module = type(data).__module__.split(".")[0]
    return module in ("pandas", "polars", "pyarrow") and hasattr(data, "columns")


def as_arrow_table(data, name: str = "X"):
    """A pyarrow Table holding the same columns (no copy where pyarrow can avoid one)."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if type(data).__module__.startswith("polars"):
        return data.to_arrow()
    try:
        return pa.Table.from_pandas(data, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise TypeError(
            f"{name} has a column pyarrow cannot convert (mixed types in one column?): {error}"
        ) from None


def slice_rows(data, start: int, stop: int):
    """Rows start..stop of a table in memory, in its own type."""
    if hasattr(data, "iloc"):
        return data.iloc[start:stop]
    if hasattr(data, "slice") and type(data).__module__.startswith("pyarrow"):
        return data.slice(start, stop - start)
    if type(data).__module__.startswith("polars"):
        return data.slice(start, stop - start)
    return data[start:stop]


def is_numeric_type(kind) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind) or pa.types.is_null(kind)
    )  # fmt: skip


def is_category_type(kind) -> bool:
    """Strings, bytes and dictionaries (pandas categoricals, Parquet dictionary columns)."""
    import pyarrow as pa

    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind) or pa.types.is_dictionary(kind)
        or pa.types.is_string_view(kind) or pa.types.is_binary_view(kind)
    )  # fmt: skip


@dataclass(frozen=True)
class FeaturePlan:
    """Which columns are features (in order), which of them are categorical, and the dtype."""

    columns: tuple[str, ...]
    categorical: tuple[str, ...]
    dtype: np.dtype


def plan_features(schema, x, y: str | None, categorical_features, where: str) -> FeaturePlan:
    """Decide the feature columns of a table with ``schema`` (a pyarrow Schema).

    ``x``: column names, or None for every column but ``y``. Categorical: string, bytes and
    dictionary columns, plus the columns named in ``categorical_features``. The dtype is float32
    when every numeric feature column is float32, else float64. Other column types (dates,
    lists) are an error naming the column."""
    import pyarrow as pa

    names = list(schema.names)
    if y is not None and y not in names:
        raise KeyError(f"The label column {y!r} was not found in {where}. Columns: {names}.")
    if x is None:
        columns = [name for name in names if name != y]
    else:
        columns = [x] if isinstance(x, str) else list(x)
        missing = [name for name in columns if name not in names]
        if missing:
            raise KeyError(
                f"The feature columns {missing} were not found in {where}. Columns: {names}."
            )
        if y in columns:
            raise ValueError(f"The label column {y!r} is also listed as a feature column (x).")
    if not columns:
        raise ValueError(f"{where} has no feature columns besides the label column {y!r}.")
    if len(set(columns)) != len(columns):
        raise ValueError(f"The feature columns of {where} repeat a name: {columns}.")
    forced = set(_categorical_names(categorical_features, columns, where))
    categorical, numeric_types = [], []
    for name in columns:
        kind = schema.field(name).type
        if name in forced or is_category_type(kind):
            categorical.append(name)
        elif is_numeric_type(kind):
            numeric_types.append(kind)
        else:
            raise TypeError(
                f"The feature column {name!r} of {where} has type {kind}: features must be "
                "numbers, bools, strings or categoricals. Convert it, or name it in "
                "categorical_features."
            )
    all_float32 = bool(numeric_types) and all(kind == pa.float32() for kind in numeric_types)
    dtype = np.dtype(np.float32 if all_float32 else np.float64)
    return FeaturePlan(tuple(columns), tuple(categorical), dtype)


def _categorical_names(categorical_features, columns, where) -> list[str]:
    if categorical_features is None or isinstance(categorical_features, str):
        return []
    names = list(categorical_features)
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise KeyError(
            f"The 'categorical_features' {unknown} are not feature columns of {where}. "
            f"Feature columns: {list(columns)}."
        )
    return names
