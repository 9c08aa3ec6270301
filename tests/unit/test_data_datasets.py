"""Built-in data sets, the Dataset contract and task inference."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from gossip.data import Dataset, from_arrays, load_dataset
from gossip.errors import DataError, UsageError
from tests.scripts import load_script


def test_digits_is_ten_class_classification() -> None:
    ds = load_dataset("digits")
    assert (len(ds), ds.num_features) == (1797, 64)
    assert ds.task == "classification" and ds.num_classes == 10
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert set(np.unique(ds.y)) == set(range(10))
    assert ds.feature_names[0] == "pixel_0_0"


def test_diabetes_is_regression() -> None:
    ds = load_dataset("diabetes")
    assert (len(ds), ds.num_features) == (442, 10)
    assert ds.task == "regression" and ds.num_classes == 0
    assert ds.y.dtype == np.float32 and ds.y.shape == (442,)
    assert "bmi" in ds.feature_names


@pytest.mark.parametrize("name", ["digits", "diabetes"])
def test_packaged_data_equals_scikit_learns(name: str) -> None:
    """The files under gossip/data/builtin/ hold exactly scikit-learn's arrays."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    bunch = getattr(sklearn_datasets, f"load_{name}")()
    ours = load_dataset(name)
    theirs = from_arrays(
        bunch.data, bunch.target, name=name, feature_names=tuple(bunch.feature_names)
    )
    assert np.array_equal(ours.x, theirs.x) and np.array_equal(ours.y, theirs.y)
    assert (ours.task, ours.num_classes) == (theirs.task, theirs.num_classes)
    assert ours.feature_names == theirs.feature_names
    source = resources.files("gossip.data") / "builtin" / f"{name}.npz"
    with source.open("rb") as f, np.load(f, allow_pickle=False) as raw:
        # lossless before any conversion: float64 features compare bit for bit
        assert np.array_equal(raw["x"], bunch.data) and np.array_equal(raw["y"], bunch.target)


def make_builtin_data_script() -> ModuleType:
    """scripts/make-builtin-data.py as a module (its name has a dash; it imports scikit-learn)."""
    pytest.importorskip("sklearn")
    path = Path(__file__).resolve().parents[2] / "scripts" / "make-builtin-data.py"
    return load_script("make_builtin_data", path)


def test_clusters_is_ten_class_classification() -> None:
    ds = load_dataset("clusters")
    assert (len(ds), ds.num_features) == (20_000, 30)
    assert ds.task == "classification" and ds.num_classes == 10
    assert np.bincount(ds.y).min() > 1900  # balanced classes, a few labels redrawn
    assert ds.feature_names[0] == "informative_0" and ds.feature_names[-1] == "noise_14"


def test_packaged_clusters_is_what_the_script_makes() -> None:
    """The file holds exactly the script's draw; its Bayes accuracy is well below 1."""
    arrays, bayes = make_builtin_data_script().clusters()
    source = resources.files("gossip.data") / "builtin" / "clusters.npz"
    with source.open("rb") as f, np.load(f, allow_pickle=False) as raw:
        for name, array in arrays.items():
            assert raw[name].dtype == array.dtype and np.array_equal(raw[name], array)
    assert 0.8 < bayes < 0.9


def test_clusters_noise_columns_carry_no_class_signal() -> None:
    """Class means differ on informative columns, not on noise ones: where the difficulty is."""
    ds = load_dataset("clusters")
    means = np.stack([ds.x[ds.y == c].mean(0) for c in range(10)])
    spread = means.std(0)
    informative, noise = spread[:10], spread[15:]
    assert noise.max() < 0.1 < informative.mean()


def test_synthetic_honours_its_shape_arguments() -> None:
    ds = load_dataset("synthetic", samples=300, features=7, classes=3, seed=1)
    assert (len(ds), ds.num_features, ds.num_classes) == (300, 7, 3)
    assert ds.task == "classification" and ds.x.dtype == np.float32
    assert set(np.unique(ds.y)) == {0, 1, 2}


def test_synthetic_is_deterministic_per_seed() -> None:
    a = load_dataset("synthetic", seed=3)
    b = load_dataset("synthetic", seed=3)
    c = load_dataset("synthetic", seed=4)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_synthetic_is_learnable_but_not_trivial() -> None:
    """Nearest-centroid on held-out rows: far above chance (0.25), far below perfect."""
    ds = load_dataset("synthetic", samples=2000, features=20, classes=4, seed=0)
    x = (ds.x - ds.x.mean(0)) / ds.x.std(0)
    train, test = slice(0, 1500), slice(1500, None)
    centroids = np.stack([x[train][ds.y[train] == c].mean(0) for c in range(4)])
    distances = ((x[test][:, None, :] - centroids[None]) ** 2).sum(-1)
    accuracy = float((distances.argmin(1) == ds.y[test]).mean())
    assert 0.45 < accuracy < 0.95


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [({"classes": 1}, "2 classes"), ({"features": 0}, "1 feature"), ({"samples": 3}, "samples")],
)
def test_synthetic_rejects_bad_shapes(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        load_dataset("synthetic", **kwargs)


def test_unknown_dataset_name_lists_the_choices() -> None:
    choices = r"digits, clusters, diabetes, synthetic"
    with pytest.raises(DataError, match=rf"unknown dataset 'mnist'.*{choices}"):
        load_dataset("mnist")


def test_label_column_only_applies_to_csv() -> None:
    with pytest.raises(UsageError, match=r"label column only applies to \.csv"):
        load_dataset("digits", label_column="y")


def test_subset_keeps_task_and_class_count() -> None:
    ds = load_dataset("digits")
    part = ds.subset(np.flatnonzero(ds.y == 3))
    assert len(part) == int((ds.y == 3).sum())
    assert part.num_classes == 10 and part.task == "classification"
    assert part.feature_names == ds.feature_names
    assert np.array_equal(part.x, ds.x[ds.y == 3])


def test_dataset_converts_to_contract_dtypes_and_checks_shapes() -> None:
    ds = Dataset(
        x=np.ones((3, 2)), y=np.array([0, 1, 1]), task="classification", num_classes=2, name="t"
    )
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    with pytest.raises(ValueError, match="shape"):
        Dataset(x=np.ones((3, 2)), y=np.zeros(2), task="regression", num_classes=0, name="t")
    with pytest.raises(ValueError, match="class indices"):
        Dataset(
            x=np.ones((2, 1)), y=np.array([0, 5]), task="classification", num_classes=2, name="t"
        )


def test_integer_labels_are_reindexed_classes() -> None:
    ds = from_arrays(np.zeros((4, 1)), np.array([10.0, 30.0, 10.0, 20.0]), name="t")
    assert ds.task == "classification" and ds.num_classes == 3
    assert ds.y.tolist() == [0, 2, 0, 1]


def test_text_labels_are_classes_in_sorted_order() -> None:
    ds = from_arrays(np.zeros((3, 1)), np.array(["b", "a", "b"]), name="t")
    assert ds.task == "classification" and ds.y.tolist() == [1, 0, 1]


def test_fractional_or_many_valued_labels_are_regression() -> None:
    fractional = from_arrays(np.zeros((3, 1)), np.array([0.5, 1.0, 2.0]), name="t")
    many = from_arrays(np.zeros((101, 1)), np.arange(101.0), name="t")
    hundred = from_arrays(np.zeros((100, 1)), np.arange(100.0), name="t")
    assert fractional.task == "regression" and many.task == "regression"
    assert hundred.task == "classification" and hundred.num_classes == 100


def test_a_single_label_value_is_an_error() -> None:
    with pytest.raises(DataError, match=r"t: every label is 1\.0; there is nothing to learn"):
        from_arrays(np.zeros((3, 1)), np.ones(3), name="t")
