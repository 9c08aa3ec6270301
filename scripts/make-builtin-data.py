"""Write the built-in data sets (digits, diabetes) into gossip/data/builtin/.

Run once, by hand, where scikit-learn is installed (the dev extra has it):

    .venv/bin/python scripts/make-builtin-data.py

The arrays are scikit-learn's ``load_digits()`` and ``load_diabetes()``, stored
losslessly in the smallest exact dtype (digits: uint8 pixels 0..16 and labels;
diabetes: float64 features, int16 targets), with their feature names. The .npz
files are zip archives written with fixed timestamps, so running this again
with the same scikit-learn gives the same bytes. ``tests/unit/test_data_datasets.py``
(test_packaged_data_equals_scikit_learns) checks the files against scikit-learn.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, load_digits

OUT = Path(__file__).resolve().parents[1] / "gossip" / "data" / "builtin"
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def exact(values: np.ndarray, dtype: type[np.generic]) -> np.ndarray:
    """``values`` as ``dtype``, or an error if that would change any of them."""
    cast = values.astype(dtype)
    if not np.array_equal(cast, values):
        raise SystemExit(f"cannot store {values.dtype} as {np.dtype(dtype)} without loss")
    return cast


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A compressed .npz (what ``np.load`` reads) whose bytes depend only on the arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue(), compresslevel=9)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    write_npz(
        OUT / "digits.npz",
        {
            "x": exact(digits.data, np.uint8),
            "y": exact(digits.target, np.uint8),
            "feature_names": np.array(digits.feature_names, dtype=str),
        },
    )
    diabetes = load_diabetes()
    write_npz(
        OUT / "diabetes.npz",
        {
            "x": diabetes.data.astype(np.float64),
            "y": exact(diabetes.target, np.int16),
            "feature_names": np.array(diabetes.feature_names, dtype=str),
        },
    )
    for name in ("digits.npz", "diabetes.npz"):
        print(f"{OUT / name}: {(OUT / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
