"""Read user data files (.npz, .csv) into plain arrays, or fail with one clear line.

Loaders only parse and check: they return features as float32 ``(n, d)`` and
raw labels (numbers as float64, or text), and leave deciding the task to
:func:`gossip.data.datasets.from_arrays`. Every problem a user can cause is a
:class:`DataError` whose message starts with ``data file PATH:``.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gossip.errors import DataError


@dataclass(frozen=True, eq=False)
class RawData:
    """What a file holds, before labels are interpreted.

    ``y`` is float64 when every label is a number, otherwise an array of str
    (class names such as ``"setosa"``). ``feature_names`` is empty when the
    file does not name its columns (npz).
    """

    x: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]


@contextmanager
def reading(where: str, unreadable: str, *formats: type[Exception]) -> Iterator[None]:
    """Turn what can go wrong reading a user's file into one DataError line.

    The file-system errors come first (they are OSErrors too); ``formats``
    are the parser's own errors, reported as ``unreadable (detail)``.
    """
    try:
        yield
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{where}: is a directory, not a file") from None
    except PermissionError:
        raise DataError(f"{where}: permission denied") from None
    except UnicodeDecodeError:
        raise DataError(f"{where}: not UTF-8 text") from None
    except formats as exc:
        raise DataError(f"{where}: {unreadable} ({exc})") from None


def read_npz(path: str) -> RawData:
    """Read arrays ``x`` (n, ...) and ``y`` (n,) from a NumPy archive; pickles are refused."""
    where = f"data file {path}"
    with (
        reading(where, "not a readable .npz archive", zipfile.BadZipFile, EOFError, OSError),
        # object arrays need pickle, which we never allow
        reading(where, "cannot read arrays without pickle", ValueError),
    ):
        with Path(path).open("rb") as handle:
            magic = handle.read(4)
        if magic != b"PK\x03\x04":  # np.load would try a pickle or return a bare .npy array
            raise DataError(f"{where}: not a .npz archive (write one with numpy.savez)")
        with np.load(path, allow_pickle=False) as archive:
            names = sorted(archive.files)
            missing = [key for key in ("x", "y") if key not in names]
            if missing:
                found = ", ".join(names) if names else "none"
                raise DataError(
                    f"{where}: no array {missing[0]!r} (arrays: {found}); "
                    "save features as 'x' and labels as 'y'"
                )
            x, y = archive["x"], archive["y"]
    return RawData(x=_npz_features(x, where), y=_npz_labels(y, x.shape, where), feature_names=())


def _npz_features(x: np.ndarray, where: str) -> np.ndarray:
    """Features as float32 (n, d): a 1-D ``x`` is one feature, trailing dims are flattened."""
    if x.ndim == 0:
        raise DataError(f"{where}: array 'x' is a scalar; expected shape (samples, features)")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}: array 'x' has dtype {x.dtype}; features must be numeric")
    if x.shape[0] == 0:
        raise DataError(f"{where}: array 'x' has no rows")
    flat = x.reshape(x.shape[0], -1) if x.ndim != 1 else x.reshape(-1, 1)
    if flat.shape[1] == 0:
        raise DataError(f"{where}: array 'x' has no features (shape {x.shape})")
    _require_finite(flat, "array 'x'", where)
    return flat.astype(np.float32)


def _npz_labels(y: np.ndarray, x_shape: tuple[int, ...], where: str) -> np.ndarray:
    """Labels as float64 (numbers) or str (class names), one per row of ``x``."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{where}: array 'y' has shape {y.shape}; expected one label per row")
    if y.shape[0] != x_shape[0]:
        raise DataError(f"{where}: 'x' has {x_shape[0]} rows but 'y' has {y.shape[0]} labels")
    if y.dtype.kind in "US":
        return y.astype(str)
    if y.dtype.kind not in "biuf":
        raise DataError(f"{where}: array 'y' has dtype {y.dtype}; labels must be numbers or text")
    _require_finite(y.reshape(-1, 1), "array 'y'", where)
    return y.astype(np.float64)


def _require_finite(values: np.ndarray, what: str, where: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{where}: {what} contains NaN or Inf (first at row {row}, column {col})")


def read_csv(path: str, label_column: str | None = None) -> RawData:
    """Read a CSV with a header row; ``label_column`` is a name or 0-based index (default last).

    Feature cells must be numbers; label cells may be numbers or text (class
    names). Blank lines are skipped; error messages give the file's line number.
    """
    where = f"data file {path}"
    header, rows, lines = _read_rows(path, where)
    label = _label_index(header, label_column, where)
    features = [i for i in range(len(header)) if i != label]
    if not features:
        raise DataError(f"{where}: no feature columns besides the label {header[label]!r}")
    table = np.asarray(rows, dtype=str)
    x = _numeric_block(table[:, features], [header[i] for i in features], lines, where)
    y = _label_values(table[:, label], header[label], lines, where)
    return RawData(x=x.astype(np.float32), y=y, feature_names=tuple(header[i] for i in features))


def _read_rows(path: str, where: str) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rectangular data rows and each row's line number."""
    with (
        reading(where, "cannot read CSV", OSError, csv.Error),
        Path(path).open(newline="", encoding="utf-8-sig") as handle,
    ):
        reader = csv.reader(handle)
        header: list[str] | None = None
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{where}: line {reader.line_num} has {len(row)} cells "
                    f"but the header has {len(header)}"
                )
            rows.append(row)
            lines.append(reader.line_num)
    if header is None:
        raise DataError(f"{where}: empty file; expected a header row and data rows")
    if all(_is_number(cell) for cell in header):
        raise DataError(f"{where}: first row is all numbers; a header row naming columns is needed")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(f"{where}: duplicate column name {duplicates[0]!r} in the header")
    if not rows:
        raise DataError(f"{where}: no data rows after the header")
    return header, rows, lines


def _label_index(header: list[str], label_column: str | None, where: str) -> int:
    """Position of the label: a header name first, else a 0-based index, else the last column."""
    if label_column is None:
        return len(header) - 1
    if label_column in header:
        return header.index(label_column)
    if label_column.strip().isdecimal():
        index = int(label_column)
        if index < len(header):
            return index
        raise DataError(
            f"{where}: label column index {index} is out of range: the file has "
            f"{len(header)} columns, 0 to {len(header) - 1} ({', '.join(header)})"
        )
    raise DataError(
        f"{where}: label column {label_column!r} not found (columns: {', '.join(header)})"
    )


def _numeric_block(cells: np.ndarray, names: list[str], lines: list[int], where: str) -> np.ndarray:
    """Parse feature cells as float64; name the first bad cell by line and column."""
    try:
        values = cells.astype(np.float64)
    except ValueError:
        values = np.empty(cells.shape, dtype=np.float64)
        for (row, col), cell in np.ndenumerate(cells):
            if not _is_number(cell):
                shown = repr(cell.strip()) if cell.strip() else "empty cell"
                raise DataError(
                    f"{where}: line {lines[row]}, column {names[col]!r}: {shown} is not a number"
                ) from None
            values[row, col] = float(cell)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{where}: line {lines[row]}, column {names[col]!r}: NaN or Inf is not allowed"
        )
    return values


def _label_values(cells: np.ndarray, name: str, lines: list[int], where: str) -> np.ndarray:
    """Labels as float64 when all are numbers, as text when none are; a mix is an error."""
    stripped = np.char.strip(cells)
    empty = np.flatnonzero(stripped == "")
    if empty.size:
        raise DataError(f"{where}: line {lines[int(empty[0])]}, label column {name!r} is empty")
    numeric = np.array([_is_number(cell) for cell in stripped], dtype=bool)
    if not numeric.any():
        return stripped.astype(str)
    if not numeric.all():
        row = int(np.flatnonzero(~numeric)[0])
        raise DataError(
            f"{where}: label column {name!r} mixes numbers and text "
            f"(line {lines[row]}: {str(stripped[row])!r})"
        )
    values = _numeric_block(stripped.reshape(-1, 1), [name], lines, where)
    return values[:, 0]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


__all__ = ["RawData", "read_csv", "read_npz"]
