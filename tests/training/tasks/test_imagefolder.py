import logging
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


def test_shapes_labels_classes_and_stratified_split(folder, cache):
    t = imagefolder_task(folder, size=16, cache_dir=cache)
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
    a = imagefolder_task(folder, size=8, cache_dir=cache)
    b = imagefolder_task(folder, size=8, cache_dir=cache)
    c = imagefolder_task(folder, size=8, cache_dir=cache, split_seed=1)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.test.x, c.test.x)


def test_corrupt_file_skipped_and_named_once_in_one_log_line(folder, cache, caplog):
    caplog.set_level(logging.WARNING, logger="lrlab.training.tasks.imagefolder")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Python warning any more: a log record
        t = imagefolder_task(folder, size=8, cache_dir=cache)
        again = imagefolder_task(folder, size=6, cache_dir=cache)  # said once per folder
    assert [r.getMessage() for r in caplog.records] == [
        f"imagefolder: skipped 1 file(s) under {folder}: wasps/broken.jpg (not an image Pillow can read)"]
    assert caplog.records[0].levelno == logging.WARNING
    assert t.info["skipped"] == again.info["skipped"] == ["wasps/broken.jpg"]
    assert t.info["skipped_why"] == ["not an image Pillow can read"]
    assert len(t.train) + len(t.val) + len(t.test) == 24  # txt, hidden file and folder ignored


def test_second_call_hits_cache_without_decoding(folder, cache, count_decodes):
    first = imagefolder_task(folder, size=8, cache_dir=cache)
    assert len(count_decodes) == 25 and first.info["cache_hit"] is False
    assert os.path.exists(first.info["cache_path"])
    assert [p.suffix for p in cache.iterdir()] == [".npz"]  # no temporary file left behind
    count_decodes.clear()
    second = imagefolder_task(folder, size=8, cache_dir=cache)
    assert count_decodes == [] and second.info["cache_hit"] is True
    assert second.info["skipped"] == ["wasps/broken.jpg"]
    assert torch.equal(first.train.x, second.train.x) and torch.equal(first.test.y, second.test.y)
    # the cache file holds plain arrays only
    with np.load(first.info["cache_path"], allow_pickle=False) as z:
        assert z["pixels"].dtype == np.uint8 and z["pixels"].shape == (24, 8, 8, 3)


def test_cache_key_depends_on_size_and_grayscale(folder, cache, count_decodes):
    imagefolder_task(folder, size=8, cache_dir=cache)
    g = imagefolder_task(folder, size=8, grayscale=True, cache_dir=cache)
    s = imagefolder_task(folder, size=6, cache_dir=cache)
    assert len(count_decodes) == 75 and not g.info["cache_hit"] and not s.info["cache_hit"]
    assert tuple(g.train.x.shape[1:]) == (1, 8, 8) and tuple(s.train.x.shape[1:]) == (3, 6, 6)
    assert g.build_model().features[0].in_channels == 1


def test_changing_a_file_invalidates_the_cache(folder, cache, count_decodes):
    imagefolder_task(folder, size=8, cache_dir=cache)
    Image.new("RGB", (40, 40), (255, 255, 255)).save(folder / "bees" / "img1.png")
    count_decodes.clear()
    t = imagefolder_task(folder, size=8, cache_dir=cache)
    assert t.info["cache_hit"] is False and len(count_decodes) == 25
    # same size, only the mtime changes: still invalid
    st = os.stat(folder / "bees" / "img3.png")
    os.utime(folder / "bees" / "img3.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    count_decodes.clear()
    assert imagefolder_task(folder, size=8, cache_dir=cache).info["cache_hit"] is False
    # adding a file too
    write_class(folder / "wasps", COLOURS["wasps"], 1, start=6)
    t = imagefolder_task(folder, size=8, cache_dir=cache)
    assert t.info["cache_hit"] is False and len(t.train) + len(t.val) + len(t.test) == 25


def test_damaged_cache_is_rebuilt(folder, cache, count_decodes, caplog):
    (folder / "wasps" / "broken.jpg").unlink()
    path = imagefolder_task(folder, size=8, cache_dir=cache).info["cache_path"]
    with open(path, "wb") as f:
        f.write(b"not a zip")
    with caplog.at_level(logging.WARNING, logger="lrlab.training.tasks.imagefolder"):
        t = imagefolder_task(folder, size=8, cache_dir=cache)
    assert [r.getMessage() for r in caplog.records] == [
        f"imagefolder: ignoring damaged cache file {path}; decoding the images again"]
    assert t.info["cache_hit"] is False and np.load(path)["pixels"].shape[0] == 24


def test_default_cache_dir_from_environment(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("LRLAB_CACHE", str(tmp_path / "envcache"))
    t = imagefolder_task(folder, size=8)
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
    t = imagefolder_task(root, size=8, cache_dir=cache)
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
    t = imagefolder_task(root, size=8, cache_dir=cache)
    assert (len(t.train), len(t.val), len(t.test)) == (17, 3, 6)
    assert "val drawn from train" in t.info["splits"]


def test_given_train_val_only_draws_test_from_train_not_classes_named_train(tmp_path, cache):
    root = write_splits(tmp_path / "given", {"train": 10, "val": 3})
    t = imagefolder_task(root, size=8, cache_dir=cache)
    assert t.classes == ("ant", "bee")
    assert (len(t.train), len(t.val), len(t.test)) == (16, 6, 4)
    assert "test drawn from train" in t.info["splits"]


def test_split_folders_without_train_are_an_error(tmp_path, cache):
    write_class(tmp_path / "x" / "test" / "ant", COLOURS["bees"], 3)
    with pytest.raises(ValueError, match="has split folders but no train/ folder"):
        imagefolder_task(tmp_path / "x", size=8, cache_dir=cache)


def test_empty_class_folder_is_an_error(folder, cache):
    (folder / "empty").mkdir()
    (folder / "empty" / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError, match=r"no readable images.*'empty'"):
        imagefolder_task(folder, size=8, cache_dir=cache)


def test_class_with_only_corrupt_files_is_an_error(folder, cache):
    (folder / "junk").mkdir()
    (folder / "junk" / "a.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="junk"):
        imagefolder_task(folder, size=8, cache_dir=cache)


def test_empty_and_missing_folders_are_errors(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no class folders in .*empty"):
        imagefolder_task(tmp_path / "empty", cache_dir=cache)
    with pytest.raises(ValueError, match=r"nowhere.*does not exist"):
        imagefolder_task(tmp_path / "nowhere", cache_dir=cache)
    with pytest.raises(ValueError, match="size must be a positive integer"):
        imagefolder_task(tmp_path / "empty", size=0, cache_dir=cache)


def test_load_task_and_one_training_step(folder, cache):
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


# ---- the damaged / hostile folder battery ---------------------------------------------------
# Each row damages a clean folder (ant/ and bee/, 5 images each) and states the exact outcome:
# the files skipped and why (the load goes on), or the ValueError and what it names. Rows whose
# bug was a hang run the load in a subprocess under a timeout, so a regression fails, not hangs.
def load_outcome(root, cache, probe=()):
    """What loading ``root`` gives: {"error": message} or the skipped files and why, the image
    count, the classes and the distinct pixel values of the ``probe`` files."""
    from lrlab.training.tasks.imagefolder import imagefolder_task, load_images

    try:
        t = imagefolder_task(root, size=4, cache_dir=cache)
    except ValueError as e:
        return {"error": str(e)}
    images = load_images(root, size=4, cache_dir=cache)
    pixels = {f: sorted(set(images.pixels[images.files.index(f)].ravel().tolist())) for f in probe}
    return {"skipped": dict(zip(t.info["skipped"], t.info["skipped_why"])),
            "n": t.info["n_train"] + t.info["n_val"] + t.info["n_test"],
            "classes": list(t.classes), "pixels": pixels}


def outcome(root, cache, probe=(), isolated=False):
    """``load_outcome``, in a subprocess under a timeout when ``isolated``."""
    if not isolated:
        return load_outcome(root, cache, probe)
    import inspect
    import json
    import subprocess
    import sys

    script = (inspect.getsource(load_outcome) + "\nimport json, sys\n"
              "print(json.dumps(load_outcome(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))")
    done = subprocess.run([sys.executable, "-c", script, str(root), str(cache), json.dumps(list(probe))],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def fifo(root, _):
    os.mkfifo(root / "ant" / "x.png")


def dangling_symlink(root, _):
    (root / "ant" / "gone.png").symlink_to("nowhere.png")


def symlink_loop(root, _):
    (root / "bee" / "a.png").symlink_to("b.png")
    (root / "bee" / "b.png").symlink_to("a.png")


def device(root, _):
    (root / "bee" / "zero.png").symlink_to("/dev/zero")


def zero_byte(root, _):
    (root / "ant" / "zero.png").write_bytes(b"")


def unreadable(root, monkeypatch):
    locked = root / "ant" / "locked.png"
    Image.new("RGB", (4, 4), "red").save(locked)
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads anything: make the open fail as it would for a user
        real_open = os.open

        def refusing_open(path, *args, **kwargs):
            if str(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)


def directory_named_png(root, _):
    write_class(root / "ant" / "x.png", COLOURS["bees"], 1)   # a folder: searched, not opened
    (root / "bee" / "y.png").mkdir()


def sixteen_bit(root, _):
    Image.fromarray(np.full((6, 6), 30000, np.uint16)).save(root / "bee" / "deep.png")


def symlinked_class(root, _):
    (root / "bee_copy").symlink_to("bee")


def hard_linked_file(root, _):
    os.link(root / "ant" / "img0.jpg", root / "bee" / "dup.jpg")


def one_image_class(root, _):
    write_class(root / "wasp", COLOURS["wasps"], 1)


def fifo_only_class(root, _):
    (root / "wasp").mkdir()
    os.mkfifo(root / "wasp" / "x.png")


def empty_class_after_caching(root, cache):
    assert "error" not in outcome(root, cache)  # cached
    (root / "empty_class").mkdir()


def skipped(files, n=10, classes=("ant", "bee"), pixels=None):
    return {"skipped": files, "n": n, "classes": list(classes), "pixels": pixels or {}}


HOSTILE = [  # (damage, expected outcome or error regex, probe files, run isolated)
    (fifo, skipped({"ant/x.png": "not a regular file (a FIFO)"}), (), True),
    (fifo_only_class, r"no readable images for class\(es\) \['wasp'\] under {root}", (), True),
    (dangling_symlink, skipped({"ant/gone.png": "broken symlink to nowhere.png"}), (), False),
    (symlink_loop, skipped({"bee/a.png": "symlink loop", "bee/b.png": "symlink loop"}), (), False),
    (device, skipped({"bee/zero.png": "not a regular file (a character device)"}), (), True),
    (zero_byte, skipped({"ant/zero.png": "empty file"}), (), False),
    (unreadable, skipped({"ant/locked.png": "permission denied"}), (), False),
    (directory_named_png, skipped({}, n=11), ("ant/x.png/img0.jpg",), False),
    (sixteen_bit, skipped({}, n=11, pixels={"bee/deep.png": [117]}), ("bee/deep.png",), False),
    (symlinked_class, r"class folders bee/ and bee_copy/ under {root} are the same folder "
                      r"\({root}/bee, reached through a symbolic link\)", (), False),
    (hard_linked_file, r"ant/img0.jpg and bee/dup.jpg under {root} are the same file", (), False),
    (one_image_class, r"too few readable images in class folder\(s\) {root}/wasp \(1\): "
                      r"a stratified train/val/test split needs at least 3 per class", (), False),
    (empty_class_after_caching, r"no readable images for class\(es\) \['empty_class'\]", (), False),
]


@pytest.mark.parametrize("damage, expected, probe, isolated", HOSTILE, ids=[r[0].__name__ for r in HOSTILE])
def test_hostile_folder(tmp_path, monkeypatch, damage, expected, probe, isolated):
    import re

    root, cache = tmp_path / "set", tmp_path / "cache"
    for c in ("ant", "bee"):
        write_class(root / c, COLOURS["bees" if c == "bee" else "wasps"], 5)
    damage(root, cache if damage is empty_class_after_caching else monkeypatch)
    got = outcome(root, cache, probe, isolated)
    if isinstance(expected, str):
        assert "error" in got, got
        assert re.search(expected.format(root=re.escape(str(root))), got["error"]), got["error"]
    else:
        if expected["pixels"] == {} and probe:  # probed only to show the file was loaded
            expected = {**expected, "pixels": got["pixels"]}
        assert got == expected


def test_sixteen_bit_images_are_scaled_by_their_bit_depth(tmp_path, cache):
    values = np.array([[0, 257, 30000, 65535]], np.uint16)
    for c in ("a", "b"):
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(values).save(tmp_path / "img" / c / f"{i}.png")
            Image.fromarray(values).save(tmp_path / "img" / c / f"{i}.tif")
    for grayscale, channels in ((True, 1), (False, 3)):
        images = load_images(tmp_path / "img", size=4, grayscale=grayscale, cache_dir=cache)
        assert images.pixels.shape == (12, 4, 4, channels) and images.skipped == ()
        # 65535 -> 255, 30000 -> 116.7 -> 117, 257 -> 1 (was: all clipped to 255 but 0)
        expected = np.repeat(np.repeat(np.array([0, 1, 117, 255], np.uint8)[None, :, None], 4, 0),
                             channels, 2)
        for px in images.pixels:
            np.testing.assert_array_equal(px, expected)


def test_skipped_files_are_one_plain_line_on_stderr_once_per_folder(tmp_path):
    """With no logging set up (the library never configures it), the user sees the one line
    on stderr: no 'UserWarning', no source line, and a second load of the folder is silent."""
    import subprocess
    import sys

    root = tmp_path / "set"
    for c in ("ant", "bee"):
        write_class(root / c, COLOURS["bees"], 4)
    (root / "bee" / "broken.png").write_bytes(b"\x89PNG damaged")
    script = ("import sys; from lrlab.training.tasks.imagefolder import imagefolder_task as t; "
              "t(sys.argv[1], size=4, cache_dir=sys.argv[2]); t(sys.argv[1], size=4, cache_dir=sys.argv[2])")
    done = subprocess.run([sys.executable, "-c", script, str(root), str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (f"imagefolder: skipped 1 file(s) under {root}: "
                           f"bee/broken.png (not an image Pillow can read)\n")


def test_empty_class_added_after_caching_is_named_and_cache_key_sees_it(folder, cache, count_decodes):
    first = imagefolder_task(folder, size=8, cache_dir=cache)
    (folder / "empty_class").mkdir()
    with pytest.raises(ValueError, match=r"no readable images for class\(es\) \['empty_class'\]"):
        imagefolder_task(folder, size=8, cache_dir=cache)
    (folder / "empty_class").rmdir()
    count_decodes.clear()
    again = imagefolder_task(folder, size=8, cache_dir=cache)
    assert again.info["cache_hit"] and count_decodes == [] and again.classes == first.classes


def test_small_classes_in_given_train_folder_are_named(tmp_path, cache):
    root = write_splits(tmp_path / "given", {"train": 10, "test": 3})
    write_class(root / "train" / "cat", COLOURS["other"], 1)
    with pytest.raises(ValueError, match=rf"class folder\(s\) {root}/train/cat \(1\): .* at least 2"):
        imagefolder_task(root, size=8, cache_dir=cache)
    write_class(root / "train" / "cat", COLOURS["other"], 1, start=1)
    assert imagefolder_task(root, size=8, cache_dir=cache).classes == ("ant", "bee", "cat")
