"""Write the built-in data sets (digits, diabetes, clusters) into gossip/data/builtin/.

Run once, by hand, where scikit-learn is installed (the dev extra has it):

    .venv/bin/python scripts/make-builtin-data.py

digits and diabetes are scikit-learn's ``load_digits()`` and ``load_diabetes()``,
stored losslessly in the smallest exact dtype (digits: uint8 pixels 0..16 and
labels; diabetes: float64 features, int16 targets), with their feature names.
clusters is drawn here from a seeded mixture of Gaussians (:func:`clusters`),
harder than digits on purpose; its Bayes accuracy is printed. The .npz files
are zip archives written with fixed timestamps, so running this again gives the
same bytes. ``tests/unit/test_data_datasets.py`` checks the files against
scikit-learn and against :func:`clusters`.
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


CLUSTERS_CLASSES = 10
CLUSTERS_PER_CLASS = 8
"""Each class is a union of this many Gaussian blobs: a region neither convex nor connected."""
CLUSTERS_INFORMATIVE = 10
CLUSTERS_REDUNDANT = 5
CLUSTERS_NOISE = 15
CLUSTERS_SPREAD = 1.45
"""Standard deviation of blob centres, in units of the blobs' own (unit) spread. Tuned so that
the default peer model trained centrally reaches about 0.74 held-out accuracy (Bayes: 0.84)."""
CLUSTERS_LABEL_NOISE = 0.03
"""Fraction of labels redrawn uniformly at random."""
CLUSTERS_SAMPLES = 20_000
CLUSTERS_SEED = 0


def clusters_draw(
    rng: np.random.Generator, centres: np.ndarray, samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """(informative coordinates, clean class) of ``samples`` points, classes balanced."""
    y = rng.permutation(np.arange(samples) % CLUSTERS_CLASSES)
    blob = y * CLUSTERS_PER_CLASS + rng.integers(0, CLUSTERS_PER_CLASS, size=samples)
    return centres[blob] + rng.normal(size=(samples, centres.shape[1])), y


def clusters_bayes_class(signal: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The most probable clean class of each point, from the true mixture density."""
    # -|s - c|^2 / 2 up to a per-point constant, which does not change the argmax
    log_density = signal @ centres.T - 0.5 * (centres**2).sum(1)
    density = np.exp(log_density - log_density.max(1, keepdims=True))
    per_class = density.reshape(len(signal), CLUSTERS_CLASSES, CLUSTERS_PER_CLASS).sum(-1)
    best: np.ndarray = per_class.argmax(1)
    return best


def clusters() -> tuple[dict[str, np.ndarray], float]:
    """The ``clusters`` arrays, and the best accuracy any classifier can expect on them.

    10 classes, each a mixture of 8 unit Gaussian blobs around random centres in
    10 informative dimensions; 5 redundant columns (random linear mixes of the
    informative ones) and 15 pure noise columns follow; 3% of labels are
    redrawn. Features are stored as float16: a step of at most 2**-8 for
    values below 8, far below the unit noise of every blob.
    """
    rng = np.random.default_rng(CLUSTERS_SEED)
    centres = rng.normal(
        0.0, CLUSTERS_SPREAD, size=(CLUSTERS_CLASSES * CLUSTERS_PER_CLASS, CLUSTERS_INFORMATIVE)
    )
    mixing = rng.normal(size=(CLUSTERS_INFORMATIVE, CLUSTERS_REDUNDANT))
    mixing /= np.sqrt(CLUSTERS_INFORMATIVE)
    signal, y = clusters_draw(rng, centres, CLUSTERS_SAMPLES)
    noise = rng.normal(size=(CLUSTERS_SAMPLES, CLUSTERS_NOISE))
    x = np.hstack([signal, signal @ mixing, noise])
    redrawn = rng.random(CLUSTERS_SAMPLES) < CLUSTERS_LABEL_NOISE
    y[redrawn] = rng.integers(0, CLUSTERS_CLASSES, size=int(redrawn.sum()))
    names = (
        [f"informative_{i}" for i in range(CLUSTERS_INFORMATIVE)]
        + [f"redundant_{i}" for i in range(CLUSTERS_REDUNDANT)]
        + [f"noise_{i}" for i in range(CLUSTERS_NOISE)]
    )
    # Bayes accuracy on a large fresh sample of the same distribution: a redrawn
    # label is still right with chance 1/10, so noise costs (1 - 1/10) of its rate.
    fresh_signal, fresh_y = clusters_draw(
        np.random.default_rng(CLUSTERS_SEED + 1), centres, 200_000
    )
    clean = float((clusters_bayes_class(fresh_signal, centres) == fresh_y).mean())
    bayes = (1 - CLUSTERS_LABEL_NOISE) * clean + CLUSTERS_LABEL_NOISE / CLUSTERS_CLASSES
    arrays = {
        "x": x.astype(np.float16),
        "y": exact(y, np.uint8),
        "feature_names": np.array(names, dtype=str),
    }
    return arrays, bayes


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
    arrays, bayes = clusters()
    write_npz(OUT / "clusters.npz", arrays)
    print(f"clusters: Bayes accuracy {bayes:.4f}")
    for name in ("digits.npz", "diabetes.npz", "clusters.npz"):
        print(f"{OUT / name}: {(OUT / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
