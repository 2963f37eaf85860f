import numpy as np
import pytest
import torch

from lrlab.training.tasks.tabular import csv_task
from lrlab.training.tasks import MLP, load_task


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def species_csv(tmp_path, n=40, label="species", sep=","):
    rng = np.random.default_rng(0)
    lines = [sep.join(["length", "width", label])]
    for i in range(n):
        name = ("setosa", "versicolor", "virginica", "arctica")[i % 4]
        lines.append(sep.join([f"{rng.normal(i % 4, 0.1):.3f}", f"{rng.normal(10, 2):.3f}", name]))
    return write(tmp_path, "\n".join(lines) + "\n")


def regression_csv(tmp_path, n=50):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 3))
    y = 1000 + 50 * x[:, 0] - 20 * x[:, 2]
    rows = ["a,b,c,price"] + [f"{a:.4f},{b:.4f},{c:.4f},{v:.4f}" for (a, b, c), v in zip(x, y)]
    return write(tmp_path, "\n".join(rows) + "\n")


def test_classification_with_string_labels(tmp_path):
    t = csv_task(species_csv(tmp_path), label="species")
    assert t.kind == "classification" and t.spec.startswith("csv:")
    assert t.classes == ("arctica", "setosa", "versicolor", "virginica")
    assert (len(t.train), len(t.val), len(t.test)) == (26, 6, 8)
    assert t.train.x.shape == (26, 2) and t.train.x.dtype == torch.float32
    assert t.train.y.dtype == torch.long
    for s in (t.train, t.val, t.test):
        assert sorted(s.y.unique().tolist()) == [0, 1, 2, 3]
    assert t.info["column"] == "species" and t.info["features"] == ["length", "width"]
    assert torch.allclose(t.train.x.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(t.train.x.std(0), torch.ones(2), atol=1e-5)


def test_numeric_labels_sort_numerically(tmp_path):
    rows = "x,label\n" + "".join(f"{i},{(2, 10, 1)[i % 3]}\n" for i in range(30))
    t = csv_task(write(tmp_path, rows))
    assert t.classes == ("1", "2", "10")


def test_regression_target_standardised(tmp_path):
    t = csv_task(regression_csv(tmp_path), target="price")
    assert t.kind == "regression" and t.classes == () and t.num_classes is None
    assert t.train.y.shape == (len(t.train),) and t.train.y.dtype == torch.float32
    assert abs(float(t.train.y.mean())) < 1e-5 and abs(float(t.train.y.std()) - 1) < 1e-5
    assert 900 < t.info["target_mean"] < 1100 and t.info["target_std"] > 10
    assert t.train.x.shape[1] == 3


def test_default_column_choice(tmp_path):
    # a column named "label" wins wherever it is
    t = csv_task(write(tmp_path, "label,f\n" + "".join(f"{'ab'[i % 2]},{i}\n" for i in range(20)), "a.csv"))
    assert t.info["column"] == "label" and t.kind == "classification" and t.classes == ("a", "b")
    # then "target" (regression)
    t = csv_task(write(tmp_path, "target,f\n" + "".join(f"{i * 0.5},{i}\n" for i in range(20)), "b.csv"))
    assert t.info["column"] == "target" and t.kind == "regression"
    # else the last column, as a label
    t = csv_task(species_csv(tmp_path))
    assert t.info["column"] == "species" and t.kind == "classification"


def test_delimiter_is_sniffed(tmp_path):
    t = csv_task(species_csv(tmp_path, sep=";"))
    assert t.info["features"] == ["length", "width"] and len(t.classes) == 4


def test_non_numeric_feature_is_an_error(tmp_path):
    lines = species_csv(tmp_path).read_text().splitlines()
    lines[5] = "abc," + lines[5].split(",", 1)[1]
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"'length'.*line 6.*'abc'"):
        csv_task(path)


def test_missing_values_are_errors(tmp_path):
    lines = species_csv(tmp_path).read_text().splitlines()
    lines[3] = lines[3].split(",")[0] + ",," + lines[3].split(",")[2]
    with pytest.raises(ValueError, match=r"line 4, column 'width': missing"):
        csv_task(write(tmp_path, "\n".join(lines) + "\n"))
    lines = species_csv(tmp_path).read_text().splitlines()
    lines[7] = lines[7].rsplit(",", 1)[0] + ",NA"
    with pytest.raises(ValueError, match=r"line 8, column 'species': missing"):
        csv_task(write(tmp_path, "\n".join(lines) + "\n"))
    rows = "a,target\n1,2\n3,nan\n"
    with pytest.raises(ValueError, match=r"line 3, column 'target': missing"):
        csv_task(write(tmp_path, rows))


def test_bad_files_and_arguments(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        csv_task(write(tmp_path, ""))
    with pytest.raises(ValueError, match="no rows"):
        csv_task(write(tmp_path, "a,b,label\n\n"))
    with pytest.raises(ValueError, match="does not exist"):
        csv_task(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="line 3 has 2 fields"):
        csv_task(write(tmp_path, "a,b,label\n1,2,x\n1,2\n"))
    path = species_csv(tmp_path)
    with pytest.raises(ValueError, match="not both"):
        csv_task(path, label="species", target="width")
    with pytest.raises(ValueError, match=r"no column 'kind'.*'length'"):
        csv_task(path, label="kind")
    with pytest.raises(ValueError, match="at least 2 classes"):
        csv_task(write(tmp_path, "a,label\n1,x\n2,x\n3,x\n"))
    with pytest.raises(ValueError, match="pass target='price'"):  # last column taken as a label
        csv_task(regression_csv(tmp_path))
    with pytest.raises(ValueError, match="no feature columns"):
        csv_task(write(tmp_path, "label\nx\ny\n"))


def test_split_is_deterministic_by_seed(tmp_path):
    path = regression_csv(tmp_path)
    a, b, c = (csv_task(path, target="price", split_seed=s) for s in (3, 3, 4))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.test.y, c.test.y)
    assert (len(a.train), len(a.val), len(a.test)) == (len(c.train), len(c.val), len(c.test))


@pytest.mark.parametrize("make, kwargs, out", [(species_csv, {"label": "species"}, 4),
                                               (regression_csv, {"target": "price"}, 1)])
def test_load_task_and_one_training_step(tmp_path, make, kwargs, out):
    task = load_task(f"csv:{make(tmp_path)}", **kwargs)
    torch.manual_seed(0)
    model = task.build_model()
    assert isinstance(model, MLP)
    pred = model(task.train.x[:8])
    assert pred.shape == (8, out)
    loss = task.loss(pred, task.train.y[:8])
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())
