"""The :class:`Dataset` every peer trains on, and where data sets come from.

``load_dataset`` turns a ``--dataset`` spec into a Dataset: the built-in sets
shipped inside the package (``gossip/data/builtin/``: no network, no
scikit-learn), a seeded synthetic task, or a user's .npz/.csv file. Whether a
file is classification or regression is decided here, once, from its labels
(:func:`from_arrays`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from gossip.data.loaders import RawData, read_csv, read_npz
from gossip.errors import DataError, UsageError

Task = Literal["classification", "regression"]

MAX_CLASSES = 100
"""Integer labels with more distinct values than this are read as a regression target."""

BUILTIN = ("digits", "clusters", "diabetes", "synthetic")

PACKAGED = ("digits", "clusters", "diabetes")
"""Built-ins stored as ``gossip/data/builtin/<name>.npz`` (scikit-learn's arrays, lossless, and
a seeded 10-class mixture harder than digits; made by scripts/make-builtin-data.py, sources,
licenses and where the difficulty comes from in that directory's README)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features and labels of one task; immutable so shards and peers can share it safely.

    ``eq=False`` because arrays have no single truth value: datasets compare by
    identity. Arrays are converted to the contract dtypes on construction.
    """

    x: np.ndarray
    """Features, float32 of shape (n, d)."""
    y: np.ndarray
    """Class indices 0..num_classes-1 as int64 (classification) or float32 targets, shape (n,)."""
    task: Task
    num_classes: int
    """Number of classes of the whole data set (a shard may miss some); 0 for regression."""
    name: str
    feature_names: tuple[str, ...] = ()
    """Column names when the source has them (built-ins, CSV); empty otherwise."""
    y_offset: float = 0.0
    """Regression targets in original units are ``y * y_scale + y_offset``; see ``standardize``."""
    y_scale: float = 1.0

    def __post_init__(self) -> None:
        x = np.ascontiguousarray(self.x, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"Dataset.x must have shape (n, d), got {x.shape}")
        y = np.asarray(self.y)
        if y.shape != (x.shape[0],):
            raise ValueError(f"Dataset.y must have shape ({x.shape[0]},), got {y.shape}")
        if self.task == "classification":
            if self.num_classes < 1:
                raise ValueError("a classification Dataset needs num_classes >= 1")
            labels = y.astype(np.int64)
            if y.size and (
                not np.array_equal(labels, y)
                or labels.min() < 0
                or labels.max() >= self.num_classes
            ):
                raise ValueError(f"Dataset.y must hold class indices 0..{self.num_classes - 1}")
            y = labels
        elif self.task == "regression":
            if self.num_classes != 0:
                raise ValueError("a regression Dataset has num_classes == 0")
            y = y.astype(np.float32)
        else:
            raise ValueError(f"unknown task {self.task!r}")
        if self.feature_names and len(self.feature_names) != x.shape[1]:
            raise ValueError("Dataset.feature_names must name every feature column")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.x.shape[1])

    def subset(self, indices: np.ndarray) -> Dataset:
        """The rows at ``indices``; ``num_classes`` is kept so every shard agrees on it."""
        rows = np.asarray(indices)
        if rows.ndim != 1:
            raise ValueError(f"subset indices must be 1-D, got shape {rows.shape}")
        return replace(self, x=self.x[rows], y=self.y[rows])

    def to_original_units(self, values: np.ndarray) -> np.ndarray:
        """Map (predicted) standardized regression targets back to the file's units."""
        return np.asarray(values, dtype=np.float64) * self.y_scale + self.y_offset


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    name: str,
    feature_names: tuple[str, ...] = (),
    where: str | None = None,
) -> Dataset:
    """Build a Dataset from raw labels, deciding the task the same way for every source.

    Text labels are classes. Numeric labels are classes when all are integers
    and there are at most ``MAX_CLASSES`` distinct values, else a regression
    target. Classes are re-indexed to 0..k-1 in sorted order of their values.
    """
    where = where or f"data set {name}"
    if len(y) == 0:
        raise DataError(f"{where}: no samples")
    values, inverse = np.unique(y, return_inverse=True)
    if len(values) < 2:
        raise DataError(f"{where}: every label is {values[0].item()!r}; there is nothing to learn")
    is_text = y.dtype.kind in "US"
    integral = is_text or bool(np.all(np.asarray(values, dtype=np.float64) % 1 == 0))
    if is_text or (integral and len(values) <= MAX_CLASSES):
        return Dataset(
            x=x,
            y=inverse.reshape(-1).astype(np.int64),
            task="classification",
            num_classes=len(values),
            name=name,
            feature_names=feature_names,
        )
    return Dataset(
        x=x, y=y, task="regression", num_classes=0, name=name, feature_names=feature_names
    )


def load_dataset(
    spec: str,
    *,
    label_column: str | None = None,
    samples: int = 2000,
    features: int = 20,
    classes: int = 4,
    seed: int = 0,
) -> Dataset:
    """Load ``digits``, ``clusters``, ``diabetes``, ``synthetic`` or a ``.npz``/``.csv`` path.

    ``samples``, ``features``, ``classes`` and ``seed`` only shape the synthetic
    task; ``label_column`` only applies to CSV files.
    """
    suffix = Path(spec).suffix.lower()
    if label_column is not None and suffix != ".csv":
        raise UsageError(f"a label column only applies to .csv data files, not {spec!r}")
    if spec in PACKAGED:
        return load_packaged(spec)
    if spec == "synthetic":
        return synthetic(samples=samples, features=features, classes=classes, seed=seed)
    if suffix in (".npz", ".csv"):
        raw: RawData = read_csv(spec, label_column) if suffix == ".csv" else read_npz(spec)
        return from_arrays(
            raw.x,
            raw.y,
            name=Path(spec).name,
            feature_names=raw.feature_names,
            where=f"data file {spec}",
        )
    if Path(spec).is_file():
        raise DataError(
            f"data file {spec}: unsupported file type {suffix or '(none)'!r}; use .npz or .csv"
        )
    raise DataError(
        f"unknown dataset {spec!r}; choose {', '.join(BUILTIN)}, or a .npz/.csv file path"
    )


def load_packaged(name: str) -> Dataset:
    """A built-in from the package data: exactly what scripts/make-builtin-data.py wrote."""
    if name not in PACKAGED:
        raise ValueError(f"no packaged data set {name!r}; have {', '.join(PACKAGED)}")
    source = resources.files("gossip.data") / "builtin" / f"{name}.npz"
    with source.open("rb") as f, np.load(f, allow_pickle=False) as npz:
        x, y, names = npz["x"], npz["y"], npz["feature_names"]
    return from_arrays(x, y, name=name, feature_names=tuple(str(n) for n in names))


SYNTHETIC_SEPARATION = 3.0
"""Spread of class centers in units of the noise. Tuned so a small MLP is far above chance
but far from perfect: about 0.79 test accuracy with 20 features and 4 classes (chance 0.25)."""

SYNTHETIC_LABEL_NOISE = 0.05
"""Fraction of labels replaced at random, so no model can reach 100%."""

_SYNTHETIC_STREAM = 0x5EED_DA7A
"""Mixed into the seed so the synthetic data and the splits never share a random stream."""


def synthetic(*, samples: int, features: int, classes: int, seed: int) -> Dataset:
    """A seeded classification task that is learnable but not trivial.

    Each class is a mixture of two Gaussian blobs in a random informative
    subspace (overlapping, so no model is perfect), padded with noise
    features, rotated so every column carries some signal, and given random
    per-column scales and offsets so standardization matters.
    """
    if classes < 2:
        raise UsageError(f"synthetic data needs at least 2 classes, got {classes}")
    if features < 1:
        raise UsageError(f"synthetic data needs at least 1 feature, got {features}")
    if samples < 2 * classes:
        raise UsageError(f"synthetic data needs at least 2 samples per class, got {samples}")
    if seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed}")
    rng = np.random.default_rng([seed, _SYNTHETIC_STREAM])
    informative = min(features, max(2, features // 2))
    blobs = 2
    centers = rng.normal(
        0.0, SYNTHETIC_SEPARATION / np.sqrt(informative), size=(classes * blobs, informative)
    )
    y = rng.permutation(np.arange(samples) % classes)
    blob = y * blobs + rng.integers(0, blobs, size=samples)
    signal = centers[blob] + rng.normal(size=(samples, informative))
    noise = rng.normal(size=(samples, features - informative))
    rotation, _ = np.linalg.qr(rng.normal(size=(features, features)))
    x = np.hstack([signal, noise]) @ rotation
    x = x * np.exp(rng.normal(0.0, 1.0, size=features)) + rng.normal(0.0, 3.0, size=features)
    flip = rng.random(samples) < SYNTHETIC_LABEL_NOISE
    y[flip] = rng.integers(0, classes, size=int(flip.sum()))
    return Dataset(x=x, y=y, task="classification", num_classes=classes, name="synthetic")
