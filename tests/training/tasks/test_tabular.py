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
    with pytest.raises(ValueError, match=r"pass --target price \(target='price' in Python\)"):
        csv_task(regression_csv(tmp_path))  # the last column, fractional: not taken as a label
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


def test_regression_loss_is_said_in_info(tmp_path):
    t = csv_task(regression_csv(tmp_path), target="price")
    assert t.info["loss"].startswith("MSE of the target standardised with the train split's mean")
    assert t.info["loss_scale"] == pytest.approx(t.info["target_std"] ** 2)
    assert csv_task(species_csv(tmp_path), label="species").info["loss"] == "cross-entropy"


# ---- the malformed-CSV battery --------------------------------------------------------------
# Each row writes one file (bytes, so encodings are exact) and states the exact outcome: the
# ValueError (whose message must name the file) or what was loaded.
def table(label_values=None, n=30, header="a,b,label", sep=","):
    """A small valid table: two features, a label cycling through ``label_values``."""
    labels = label_values or ["x", "y", "z"]
    return header + "\n" + "".join(f"{i}{sep}{i % 7 * 0.5}{sep}{labels[i % len(labels)]}\n"
                                   for i in range(n))


def replace_line(text, k, line):
    lines = text.splitlines()
    lines[k - 1] = line
    return "\n".join(lines) + "\n"


MALFORMED = [  # (id, file bytes, csv_task keyword arguments, error regex or expected outcome)
    ("huge field", replace_line(table(), 5, "4,2," + "x" * 200_000).encode(), {},
     r"line 5: a field is longer than 131,072 characters"),
    ("unclosed quote", replace_line(table(n=30_000), 3, '1,2,"x').encode(), {},
     r"line 3: a field is longer than 131,072 characters; .* a quote \(\"\) is probably left open"),
    ("latin-1", table(["café", "thé", "crème"], header="größe,b,label").encode("latin-1"), {},
     {"classes": ("café", "crème", "thé"), "features": ["größe", "b"], "encoding": "cp1252"}),
    ("latin-1 only", table(["a\x81", "b", "c"]).encode("latin-1"), {},
     {"classes": ("a\x81", "b", "c"), "features": ["a", "b"], "encoding": "latin-1"}),
    ("utf-8 with BOM", table(["é", "è", "ê"]).encode("utf-8-sig"), {},
     {"classes": ("è", "é", "ê"), "features": ["a", "b"], "encoding": "utf-8-sig"}),
    ("utf-16 with BOM", table(["é", "è", "ê"]).encode("utf-16"), {},
     {"classes": ("è", "é", "ê"), "features": ["a", "b"], "encoding": "utf-16"}),
    ("utf-16-le without BOM", table(["é", "è", "ê"]).encode("utf-16-le"), {},
     {"classes": ("è", "é", "ê"), "features": ["a", "b"], "encoding": "utf-16-le"}),
    ("utf-16-be without BOM", table(["é", "è", "ê"]).encode("utf-16-be"), {},
     {"classes": ("è", "é", "ê"), "features": ["a", "b"], "encoding": "utf-16-be"}),
    ("utf-32 with BOM", table().encode("utf-32"), {},
     {"classes": ("x", "y", "z"), "features": ["a", "b"], "encoding": "utf-32"}),
    ("damaged utf-16", table().encode("utf-16") + b"\x00\xd8", {},
     r"looks like UTF-16 but is not valid UTF-16 \(byte \d+: .*\); save it as UTF-8"),
    ("NUL bytes", b"a,b,label\n1,\x00\x00\x00\x012,x\n", {},
     r"contains NUL bytes: it is not a text table"),
    ("+1e308 feature", replace_line(table(), 6, "1e308,1,x").encode(), {},
     r"feature column 'a' of {path}: line 6 has '1e308', outside float32's range"),
    ("-1e308 feature", replace_line(table(), 4, "3,-1e308,x").encode(), {},
     r"feature column 'b' of {path}: line 4 has '-1e308', outside float32's range"),
    ("inf feature", replace_line(table(), 4, "3,inf,x").encode(), {},
     r"feature column 'b' of {path}: line 4 has 'inf', outside float32's range"),
    ("1e308 target", replace_line(table(["1.5", "2", "3"], header="a,b,y"), 4, "3,1,1e308").encode(),
     {"target": "y"},
     r"target column 'y' of {path}: line 4 has '1e308', outside float32's range"),
    ("large but float32 features", replace_line(table(), 4, "3,3e38,x").encode(), {},
     {"classes": ("x", "y", "z"), "features": ["a", "b"], "encoding": "utf-8"}),
    ("1 and 1.0 labels", table(["1", "1.0", "0", "0.0", "1e0", "2.50", "2.5"]).encode(), {},
     {"classes": ("0", "1", "2.5"), "features": ["a", "b"], "encoding": "utf-8"}),
    ("missing target hint", ("a,b,price\n" + "".join(f"{i},{i % 3},{100 + i * 1.25}\n"
                                                    for i in range(40))).encode(), {},
     r"the last one, 'price', holds 40 distinct numbers, not all whole: a regression target\? "
     r"For regression pass --target price \(target='price' in Python\); "
     r"for classes pass --label price \(label='price' in Python\)\.$"),
    ("many whole numbers", table([str(i) for i in range(25)], n=100, header="a,b,k").encode(), {},
     r"the last one, 'k', holds 25 distinct whole numbers: a regression target\? .*--target k"),
    ("too many classes for the rows", table([str(i) for i in range(25)], n=100).encode(), {},
     r"cannot split the 100 rows of {path} stratified by 'label' \(25 classes\): The test_size = 20 "
     r"should be greater or equal to the number of classes = 25; if it is a regression target, "
     r"pass --target label \(target='label' in Python\)$"),
    ("few whole numbers", table(["3", "1", "2"]).encode(), {},
     {"classes": ("1", "2", "3"), "features": ["a", "b"], "encoding": "utf-8"}),
    ("named numeric label, too few rows", table([str(i) for i in range(25)], n=30).encode(),
     {"label": "label"}, r"label column 'label' of {path}: too few rows for class\(es\) '0' \(2\), "
     r"'1' \(2\), '2' \(2\), '3' \(2\), '4' \(2\) and 20 more; "
     r"a stratified train/val/test split needs at least 3 per class; "
     r"if it is a regression target, pass --target label \(target='label' in Python\)$"),
    ("one-row class", (table(n=30) + "1,1,w\n").encode(), {},
     r"too few rows for class\(es\) 'w' \(1\); .* at least 3 per class$"),
    ("ragged rows", b"a,b,label\n1,2,x\n1,2\n", {}, r"{path} line 3 has 2 fields, the header has 3"),
    ("empty file", b"", {}, r"csv: {path} is empty"),
    ("header only", b"a,b,label\n", {}, r"csv: {path} has a header but no rows"),
    ("blank lines only", b"\n\n\n", {}, r"csv: {path} is empty"),
]


@pytest.mark.parametrize("content, kwargs, expected", [r[1:] for r in MALFORMED],
                         ids=[r[0] for r in MALFORMED])
def test_malformed_csv(tmp_path, content, kwargs, expected):
    import re

    path = tmp_path / "data.csv"
    path.write_bytes(content)
    if isinstance(expected, str):
        with pytest.raises(ValueError) as caught:
            csv_task(path, **kwargs)
        message = str(caught.value)
        assert str(path) in message and len(message) < 600 and "\n" not in message
        assert re.search(expected.format(path=re.escape(str(path))), message), message
    else:
        t = csv_task(path, **kwargs)
        got = {"classes": t.classes, "features": t.info["features"], "encoding": t.info["encoding"]}
        assert got == expected
        assert all(torch.isfinite(s.x).all() for s in (t.train, t.val, t.test))


def test_numeric_labels_are_one_class_per_value(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(table(["1", "1.0", "0", "0.00", "+1"], n=30))
    t = csv_task(path)
    assert t.classes == ("0", "1")
    y = torch.cat([t.train.y, t.val.y, t.test.y])
    assert torch.bincount(y).tolist() == [12, 18]  # rows 2, 3 of every 5 are 0; the rest 1
