"""Loading .npz and .csv files: round trips and one clear DataError per problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gossip.data import load_dataset
from gossip.errors import DataError


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_npz_round_trip_classification(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.array([5, 7, 5, 7, 9, 9])
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    ds = load_dataset(str(path))
    assert ds.name == "d.npz" and ds.task == "classification" and ds.num_classes == 3
    assert np.array_equal(ds.x, x.astype(np.float32))
    assert ds.y.tolist() == [0, 1, 0, 1, 2, 2]


def test_npz_regression_and_image_shaped_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "r.npz"
    np.savez(path, x=rng.normal(size=(5, 2, 3)), y=rng.normal(size=5))
    ds = load_dataset(str(path))
    assert ds.task == "regression" and ds.x.shape == (5, 6) and ds.y.dtype == np.float32


def test_csv_round_trip_with_default_last_label(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "a,b,label\n1,2.5,0\n3,4,1\n\n5,6e1,1\n")
    ds = load_dataset(path)
    assert ds.feature_names == ("a", "b") and ds.task == "classification"
    assert ds.x.tolist() == [[1, 2.5], [3, 4], [5, 60]]
    assert ds.y.tolist() == [0, 1, 1]


def test_csv_label_column_by_name_and_by_index(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "price,a,b\n1.5,0,1\n2.25,1,0\n3.0,1,1\n")
    by_name = load_dataset(path, label_column="price")
    by_index = load_dataset(path, label_column="0")
    for ds in (by_name, by_index):
        assert ds.feature_names == ("a", "b") and ds.task == "regression"
        assert ds.y.tolist() == [1.5, 2.25, 3.0]
        assert ds.x.tolist() == [[0, 1], [1, 0], [1, 1]]


def test_csv_text_labels_are_classes(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", 'x,species\n1,"setosa"\n2,virginica\n3,setosa\n')
    ds = load_dataset(path)
    assert ds.task == "classification" and ds.y.tolist() == [0, 1, 0]


CSV_ERRORS = [
    ("", "empty file"),
    ("a,b\n", "no data rows"),
    ("1,2\n3,4\n", "header row"),
    ("a,b\n1,2\n3\n", "line 3 has 1 cells but the header has 2"),
    ("a,b,y\n1,x,0\n", "line 2, column 'b': 'x' is not a number"),
    ("a,b,y\n1,,0\n", "line 2, column 'b': empty cell is not a number"),
    ("a,b,y\n1,nan,0\n", "line 2, column 'b': NaN or Inf"),
    ("a,b,y\n1,2,inf\n", "NaN or Inf"),
    ("a,b,y\n1,2,0\n1,2,\n", "line 3, label column 'y' is empty"),
    ("a,b,y\n1,2,0\n1,2,cat\n", "mixes numbers and text"),
    ("a,a,y\n1,2,0\n", "duplicate column name 'a'"),
    ("y\n1\n2\n", "no feature columns"),
    ("a,y\n1,1\n2,1\n", "every label is"),
]


@pytest.mark.parametrize(("text", "problem"), CSV_ERRORS)
def test_csv_problems_name_file_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError) as info:
        load_dataset(path)
    message = str(info.value)
    assert message.startswith(f"data file {path}: ") and problem in message
    assert "\n" not in message


def test_csv_unknown_label_column_lists_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "foo.csv", "a,b,c\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match=r"label column 'price' not found \(columns: a, b, c\)"):
        load_dataset(path, label_column="price")


def test_csv_label_index_out_of_range_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "foo.csv", "a,b,c\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match=r"label column index 7 is out of range: the file has 3 "
                       r"columns, 0 to 2 \(a, b, c\)"):  # fmt: skip
        load_dataset(path, label_column="7")


def test_csv_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.csv"
    path.write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(DataError, match="not UTF-8"):
        load_dataset(str(path))


def npz(tmp_path: Path, **arrays: np.ndarray) -> str:
    path = tmp_path / f"bad{len(list(tmp_path.iterdir()))}.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return str(path)


def test_npz_problems_name_file_and_problem(tmp_path: Path) -> None:
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    cases = [
        (npz(tmp_path, x=x), "no array 'y' (arrays: x)"),
        (npz(tmp_path, features=x, y=y), "no array 'x' (arrays: features, y)"),
        (npz(tmp_path, x=x, y=y[:3]), "'x' has 4 rows but 'y' has 3 labels"),
        (npz(tmp_path, x=np.array([["a", "b"]] * 4), y=y), "features must be numeric"),
        (npz(tmp_path, x=np.array([[1.0, np.nan]] * 4), y=y), "NaN or Inf"),
        (npz(tmp_path, x=x, y=np.array([0, 1, np.inf, 1])), "NaN or Inf"),
        (npz(tmp_path, x=np.zeros((0, 2)), y=np.zeros(0)), "no rows"),
        (npz(tmp_path, x=x, y=np.zeros((4, 2))), "one label per row"),
        (npz(tmp_path, x=np.array(1.0), y=y), "scalar"),
    ]
    for path, problem in cases:
        with pytest.raises(DataError) as info:
            load_dataset(path)
        assert str(info.value).startswith(f"data file {path}: ")
        assert problem in str(info.value), str(info.value)


def test_npz_refuses_pickled_objects(tmp_path: Path) -> None:
    path = npz(tmp_path, x=np.array([{"a": 1}] * 2, dtype=object), y=np.array([0, 1]))
    with pytest.raises(DataError, match="without pickle"):
        load_dataset(path)


def test_npz_that_is_not_an_archive(tmp_path: Path) -> None:
    text = write(tmp_path / "text.npz", "hello")
    with pytest.raises(DataError, match=r"text.npz: not a .npz archive"):
        load_dataset(text)
    bare = tmp_path / "bare.npz"
    with bare.open("wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(DataError, match=r"bare.npz: not a .npz archive"):
        load_dataset(str(bare))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match=r"broken.npz: not a readable .npz archive"):
        load_dataset(str(broken))


@pytest.mark.parametrize("name", ["missing.csv", "missing.npz"])
def test_missing_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError, match=f"data file .*{name}: no such file"):
        load_dataset(str(tmp_path / name))


def test_directory_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    with pytest.raises(DataError, match="is a directory"):
        load_dataset(str(folder))


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = write(tmp_path / "d.txt", "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"unsupported file type '.txt'; use .npz or .csv"):
        load_dataset(path)
