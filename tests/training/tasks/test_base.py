"""Tasks: the digits default, splits, standardisation, the Task contract."""

import numpy as np
import pytest
import torch

from lrlab.training.tasks import MLP, SmallCNN, Split, Task, load_task, split_indices, standardize
from lrlab.training.tasks.digits import digits


def test_digits_split_is_fixed_stratified_and_standardised():
    t = load_task("digits")
    assert (len(t.train), len(t.val), len(t.test)) == (1167, 270, 360)
    assert t.classes == tuple(str(i) for i in range(10)) and t.options == {}
    for part in (t.train, t.val, t.test):
        counts = torch.bincount(part.y, minlength=10).float()
        assert counts.min() / counts.max() > 0.8  # every class in every split, in proportion
    assert abs(float(t.train.x.mean())) < 1e-5 and float(t.train.x.std()) == pytest.approx(1.0, abs=0.05)
    assert torch.equal(load_task("digits").test.y, t.test.y)
    other = load_task("digits", split_seed=1)
    assert other.options == {"split_seed": 1} and not torch.equal(other.test.y, t.test.y)
    assert digits() is digits()  # loaded once per process


def test_split_indices_partition_and_are_reproducible():
    y = np.repeat(np.arange(4), 25)
    tr, va, te = split_indices(y, 100, seed=3)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(100))
    assert (len(tr), len(va), len(te)) == (65, 15, 20)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), split_indices(y, 100, seed=3)))


def test_standardize_uses_train_statistics_only():
    a, b = torch.tensor([[1.0], [3.0]]), torch.tensor([[5.0]])
    sa, sb = standardize(a, b)
    assert sa.flatten().tolist() == pytest.approx([-0.7071068, 0.7071068])
    assert float(sb) == pytest.approx((5 - 2) / 2 ** 0.5)


def test_task_contract_errors():
    s = Split(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long))
    empty = Split(torch.zeros(0, 1), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="split: x has 2 rows but y has 1"):
        Split(torch.zeros(2, 1), torch.zeros(1))
    with pytest.raises(ValueError, match="task t: the val split is empty"):
        Task("t", s, empty, s, lambda: MLP(1, 2))
    with pytest.raises(ValueError, match="kind must be 'classification' or 'regression'"):
        Task("t", s, s, s, lambda: MLP(1, 2), kind="ranking")
    with pytest.raises(ValueError, match="unknown task 'mnist'; use digits, imagefolder:PATH or csv:PATH"):
        load_task("mnist")


def test_default_models_fit_their_inputs():
    assert SmallCNN(3, 4)(torch.zeros(2, 3, 32, 32)).shape == (2, 4)
    assert SmallCNN(1, 10)(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert MLP(5, 1)(torch.zeros(3, 5)).shape == (3, 1)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in SmallCNN(1, 2).modules())


def test_an_option_a_loader_does_not_take_is_one_line(tiny_csv):
    from lrlab.training.tasks import load_task

    with pytest.raises(ValueError, match=r"^task_options: digits takes split_seed, not nope$"):
        load_task("digits", nope=1)
    with pytest.raises(ValueError, match=r"^task_options: csv takes .*label.*, not size$"):
        load_task(f"csv:{tiny_csv}", label="label", size=3)


# ---- Task objects as users build them, TaskInfo, built-in models ---------------------------
def _toy(**kw):
    import torch

    from lrlab.training.tasks import Split, Task

    x = torch.randn(30, 1, 8, 8)
    y = torch.arange(30) % 3
    s = Split(x, y)
    return Task(**{"spec": "mine", "train": s, "val": s, "test": s,
                   "build_model": lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)),
                   "classes": ("a", "b", "c"), **kw})


def _nan_model():
    import torch

    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    with torch.no_grad():
        m[1].bias.fill_(float("nan"))
    return m


def test_bad_data_is_one_line():
    import torch

    from lrlab.training.tasks import Split

    x = torch.randn(30, 1, 8, 8)
    x[3, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="task mine: train inputs hold NaN or infinite values"):
        _toy(train=Split(x, torch.arange(30) % 3)).checked()
    a, b = Split(torch.randn(30, 4), torch.randn(30, 2)), Split(torch.randn(30, 4), torch.randn(30, 3))
    with pytest.raises(ValueError, match=r"val targets are \(3,\) per example, train's are \(2,\)"):
        _toy(kind="regression", train=a, val=b, test=a, classes=(),
             build_model=lambda: torch.nn.Linear(4, 2)).checked()


def test_a_task_never_prints_its_tensors():
    t = _toy()
    assert repr(t) == ("Task('mine', classification, train Split(30 x (1, 8, 8), y () torch.int64), "
                       "val 30, test 30)")
    assert t.model_info.input_shape == (1, 8, 8) and t.model_info.outputs == 3


@pytest.mark.parametrize("change, message", [
    ({"build_model": 5}, "build_model must be a function"),
    ({"classes": ()}, "a classification task needs its classes"),
    ({"classes": ("a", "b")}, "train targets run 0..2, not within the 2 classes"),
    ({"build_model": lambda: 5}, "its model is a int, not a torch.nn.Module"),
    ({"build_model": lambda: __import__("torch").nn.Linear(3, 3)}, "cannot take a batch of (2, 1, 8, 8)"),
    ({"build_model": lambda: __import__("torch").nn.Sequential(
        __import__("torch").nn.Flatten(), __import__("torch").nn.Linear(64, 64))},
     "maps a batch of (2, 1, 8, 8) to (2, 64), not (2, 3)"),
    ({"build_model": lambda: __import__("torch").nn.Sequential(
        __import__("torch").nn.Flatten(), __import__("torch").nn.Linear(64, 3),
        __import__("torch").nn.Unflatten(1, (3, 1)))}, "to (2, 3, 1), not (2, 3)"),
    ({"build_model": lambda: __import__("torch").nn.Sequential(__import__("torch").nn.Flatten(),
                                                               __import__("torch").nn.ReLU())},
     "its model has no trainable parameters"),
    ({"build_model": lambda: __import__("torch").nn.Sequential(
        __import__("torch").nn.Flatten(), __import__("torch").nn.Linear(64, 3)).requires_grad_(False)},
     "its model has no trainable parameters"),
    ({"build_model": lambda: _nan_model()}, "gives NaN or infinite outputs before any training"),
    ({"build_model": lambda: (_ for _ in ()).throw(SystemExit(3))}, "its model raised SystemExit: 3"),
])
def test_a_bad_task_is_one_line(change, message):
    with pytest.raises(ValueError) as e:
        _toy(**change).checked()
    assert message in str(e.value) and "\n" not in str(e.value) and "tensor(" not in str(e.value)


def test_built_in_models_fit_the_task():
    import torch

    from lrlab.experiments.spec import MODELS as NAMES
    from lrlab.training.tasks import MODELS, ResNet, model_factory

    assert set(NAMES) == {"default", *MODELS}
    t = _toy()
    for name in MODELS:
        m = t.with_model(model_factory(name), name).build_model()
        assert m(t.train.x[:4]).shape == (4, 3)
    assert isinstance(t.with_model(model_factory("resnet")).build_model(), ResNet)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in ResNet(1, 3).modules())
    with pytest.raises(ValueError, match="model resnet: needs images"):
        from lrlab.training.tasks import Split

        flat = Split(torch.randn(30, 5), torch.arange(30) % 3)
        _toy(train=flat, val=flat, test=flat).with_model(model_factory("resnet"), "resnet")
