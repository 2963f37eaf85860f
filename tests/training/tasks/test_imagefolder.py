import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from lrlab.training.tasks import imagefolder
from lrlab.training.tasks.imagefolder import imagefolder_task, load_images
from lrlab.training.tasks import SmallCNN, load_task

CLASSES = ("bees", "other", "other_insects", "wasps")
COLOURS = {"bees": (250, 200, 0), "other": (0, 160, 60), "other_insects": (120, 60, 20),
           "wasps": (10, 10, 10)}


def write_class(folder, colour, n, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        shade = tuple(min(255, c + 3 * i) for c in colour)
        ext = "png" if i % 2 else "jpg"
        Image.new("RGB", (10 + 3 * i, 8 + i), shade).save(folder / f"img{i}.{ext}")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "insects"
    for c in CLASSES:
        write_class(root / c, COLOURS[c], 6)
    (root / "wasps" / "broken.jpg").write_bytes(np.random.default_rng(0).bytes(300))
    (root / "bees" / "notes.txt").write_text("not an image")
    (root / "bees" / ".hidden.png").write_bytes(b"junk")
    (root / ".ipynb_checkpoints").mkdir()
    return root


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def count_decodes(monkeypatch):
    calls = []
    real = imagefolder._decode

    def counting(file, size, grayscale):
        calls.append(file)
        return real(file, size, grayscale)

    monkeypatch.setattr(imagefolder, "_decode", counting)
    return calls


def load_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return imagefolder_task(*args, **kwargs)


def test_shapes_labels_classes_and_stratified_split(folder, cache):
    t = load_quietly(folder, size=16, cache_dir=cache)
    assert t.kind == "classification" and t.classes == CLASSES and t.num_classes == 4
    assert t.spec == f"imagefolder:{folder}"
    assert tuple(t.train.x.shape[1:]) == (3, 16, 16) and t.train.x.dtype == torch.float32
    assert (len(t.train), len(t.val), len(t.test)) == (15, 4, 5)
    assert t.info["n_train"] + t.info["n_val"] + t.info["n_test"] == 24
    for s in (t.train, t.val, t.test):  # stratified: every class in every split
        assert sorted(s.y.unique().tolist()) == [0, 1, 2, 3]
    assert torch.bincount(t.test.y).tolist() in ([2, 1, 1, 1], [1, 2, 1, 1], [1, 1, 2, 1], [1, 1, 1, 2])
    # standardised per channel with train statistics
    assert torch.allclose(t.train.x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(t.train.x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4)
    assert len(t.info["mean"]) == 3 and len(t.info["std"]) == 3


def test_split_seed_is_reproducible_and_matters(folder, cache):
    a, b = load_quietly(folder, size=8, cache_dir=cache), load_quietly(folder, size=8, cache_dir=cache)
    c = load_quietly(folder, size=8, cache_dir=cache, split_seed=1)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.test.x, c.test.x)


def test_corrupt_file_skipped_and_named_in_one_warning(folder, cache):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = imagefolder_task(folder, size=8, cache_dir=cache)
    ours = [w for w in caught if issubclass(w.category, UserWarning) and "imagefolder" in str(w.message)]
    assert len(ours) == 1
    assert "1 unreadable" in str(ours[0].message) and "wasps/broken.jpg" in str(ours[0].message)
    assert t.info["skipped"] == ["wasps/broken.jpg"]
    assert len(t.train) + len(t.val) + len(t.test) == 24  # txt, hidden file and folder ignored


def test_second_call_hits_cache_without_decoding(folder, cache, count_decodes):
    first = load_quietly(folder, size=8, cache_dir=cache)
    assert len(count_decodes) == 25 and first.info["cache_hit"] is False
    assert os.path.exists(first.info["cache_path"])
    assert [p.suffix for p in cache.iterdir()] == [".npz"]  # no temporary file left behind
    count_decodes.clear()
    second = load_quietly(folder, size=8, cache_dir=cache)
    assert count_decodes == [] and second.info["cache_hit"] is True
    assert second.info["skipped"] == ["wasps/broken.jpg"]
    assert torch.equal(first.train.x, second.train.x) and torch.equal(first.test.y, second.test.y)
    # the cache file holds plain arrays only
    with np.load(first.info["cache_path"], allow_pickle=False) as z:
        assert z["pixels"].dtype == np.uint8 and z["pixels"].shape == (24, 8, 8, 3)


def test_cache_key_depends_on_size_and_grayscale(folder, cache, count_decodes):
    load_quietly(folder, size=8, cache_dir=cache)
    g = load_quietly(folder, size=8, grayscale=True, cache_dir=cache)
    s = load_quietly(folder, size=6, cache_dir=cache)
    assert len(count_decodes) == 75 and not g.info["cache_hit"] and not s.info["cache_hit"]
    assert tuple(g.train.x.shape[1:]) == (1, 8, 8) and tuple(s.train.x.shape[1:]) == (3, 6, 6)
    assert g.build_model().features[0].in_channels == 1


def test_changing_a_file_invalidates_the_cache(folder, cache, count_decodes):
    load_quietly(folder, size=8, cache_dir=cache)
    Image.new("RGB", (40, 40), (255, 255, 255)).save(folder / "bees" / "img1.png")
    count_decodes.clear()
    t = load_quietly(folder, size=8, cache_dir=cache)
    assert t.info["cache_hit"] is False and len(count_decodes) == 25
    # same size, only the mtime changes: still invalid
    st = os.stat(folder / "bees" / "img3.png")
    os.utime(folder / "bees" / "img3.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    count_decodes.clear()
    assert load_quietly(folder, size=8, cache_dir=cache).info["cache_hit"] is False
    # adding a file too
    write_class(folder / "wasps", COLOURS["wasps"], 1, start=6)
    t = load_quietly(folder, size=8, cache_dir=cache)
    assert t.info["cache_hit"] is False and len(t.train) + len(t.val) + len(t.test) == 25


def test_damaged_cache_is_rebuilt(folder, cache, count_decodes):
    (folder / "wasps" / "broken.jpg").unlink()
    path = load_quietly(folder, size=8, cache_dir=cache).info["cache_path"]
    with open(path, "wb") as f:
        f.write(b"not a zip")
    with pytest.warns(UserWarning, match="ignoring unreadable cache"):
        t = imagefolder_task(folder, size=8, cache_dir=cache)
    assert t.info["cache_hit"] is False and np.load(path)["pixels"].shape[0] == 24


def test_default_cache_dir_from_environment(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("LRLAB_CACHE", str(tmp_path / "envcache"))
    t = load_quietly(folder, size=8)
    assert t.info["cache_path"].startswith(str(tmp_path / "envcache"))


def test_pixel_values_of_a_pure_red_image(tmp_path, cache):
    for c in ("red", "blue"):
        (tmp_path / "img" / c).mkdir(parents=True)
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "img" / "red" / "r.png")
    Image.new("RGB", (4, 4), (0, 0, 255)).save(tmp_path / "img" / "blue" / "b.png")
    images = load_images(tmp_path / "img", size=8, cache_dir=cache)
    assert images.classes == ("blue", "red") and images.labels.tolist() == [0, 1]
    red = images.pixels[images.labels == 1][0]
    assert red.shape == (8, 8, 3) and red.dtype == np.uint8
    expected = np.zeros((8, 8, 3), np.float32)
    expected[..., 0] = 1.0
    np.testing.assert_array_equal(red.astype(np.float32) / 255, expected)
    gray = load_images(tmp_path / "img", size=8, grayscale=True, cache_dir=cache)
    assert gray.pixels.shape == (2, 8, 8, 1) and set(np.unique(gray.pixels[1])) == {76}  # ITU-R 601 luma


def test_given_train_val_test_subfolders_are_respected(tmp_path, cache):
    root = tmp_path / "given"
    for split, n in (("train", 5), ("valid", 2), ("test", 3)):
        for c in ("ant", "bee"):
            write_class(root / split / c, COLOURS["bees"] if c == "bee" else COLOURS["wasps"], n)
    write_class(root / "train" / "cat", COLOURS["other"], 2)  # only in train: fine
    t = load_quietly(root, size=8, cache_dir=cache)
    assert t.classes == ("ant", "bee", "cat")
    assert (len(t.train), len(t.val), len(t.test)) == (12, 4, 6)
    assert t.info["splits"] == "given"
    assert torch.bincount(t.train.y).tolist() == [5, 5, 2] and torch.bincount(t.test.y).tolist() == [3, 3]


def write_splits(root, sizes):
    """``root/<split>/{ant,bee}/`` with ``sizes[split]`` images per class."""
    for split, n in sizes.items():
        for c in ("ant", "bee"):
            write_class(root / split / c, COLOURS["bees"] if c == "bee" else COLOURS["wasps"], n)
    return root


def test_given_train_test_only_draws_val_from_train(tmp_path, cache):
    root = write_splits(tmp_path / "given", {"train": 10, "test": 3})
    t = load_quietly(root, size=8, cache_dir=cache)
    assert (len(t.train), len(t.val), len(t.test)) == (17, 3, 6)
    assert "val drawn from train" in t.info["splits"]


def test_given_train_val_only_draws_test_from_train_not_classes_named_train(tmp_path, cache):
    root = write_splits(tmp_path / "given", {"train": 10, "val": 3})
    t = load_quietly(root, size=8, cache_dir=cache)
    assert t.classes == ("ant", "bee")
    assert (len(t.train), len(t.val), len(t.test)) == (16, 6, 4)
    assert "test drawn from train" in t.info["splits"]


def test_split_folders_without_train_are_an_error(tmp_path, cache):
    write_class(tmp_path / "x" / "test" / "ant", COLOURS["bees"], 3)
    with pytest.raises(ValueError, match="has split folders but no train/ folder"):
        load_quietly(tmp_path / "x", size=8, cache_dir=cache)


def test_empty_class_folder_is_an_error(folder, cache):
    (folder / "empty").mkdir()
    (folder / "empty" / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError, match=r"no readable images.*'empty'"):
        load_quietly(folder, size=8, cache_dir=cache)


def test_class_with_only_corrupt_files_is_an_error(folder, cache):
    (folder / "junk").mkdir()
    (folder / "junk" / "a.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="junk"):
        load_quietly(folder, size=8, cache_dir=cache)


def test_empty_and_missing_folders_are_errors(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no class folders in .*empty"):
        imagefolder_task(tmp_path / "empty", cache_dir=cache)
    with pytest.raises(ValueError, match=r"nowhere.*does not exist"):
        imagefolder_task(tmp_path / "nowhere", cache_dir=cache)
    with pytest.raises(ValueError, match="size must be a positive integer"):
        imagefolder_task(tmp_path / "empty", size=0, cache_dir=cache)


def test_load_task_and_one_training_step(folder, cache):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        task = load_task(f"imagefolder:{folder}", size=8, cache_dir=cache)
    torch.manual_seed(0)
    model = task.build_model()
    assert isinstance(model, SmallCNN)
    out = model(task.train.x[:8])
    assert out.shape == (8, 4)
    loss = task.loss(out, task.train.y[:8])
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())
    assert 0 <= task.correct(out, task.train.y[:8]) <= 8
