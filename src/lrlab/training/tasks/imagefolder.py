"""Image-folder tasks: a class-per-folder image set, decoded once and cached.

Layouts (``PATH`` is what ``imagefolder:PATH`` names)::

    PATH/<class>/*.jpg                      split here, stratified by ``split_seed``
    PATH/train/<class>/*.jpg                splits used as given; ``valid`` or ``validation``
    PATH/val/<class>/*.jpg                  may stand for ``val``; with ``train`` and ``test``
    PATH/test/<class>/*.jpg                 only, val is drawn (stratified) from train

Images are found recursively inside each class folder by extension (``IMAGE_EXTENSIONS``);
hidden files and folders and non-image files are ignored. Classes are the folder names,
sorted (with given splits: the union over the splits; every class needs a readable image
somewhere). Each image is converted to RGB (or L) and resized to ``size x size`` with
Pillow's BILINEAR filter (for downscaling Pillow widens the filter to the scale factor, so it
averages the whole source footprint, i.e. it is antialiased); the aspect ratio is not kept.

Decoding happens once per folder content: the uint8 pixels, labels and class names go to an
``.npz`` in ``cache_dir`` (default ``$LRLAB_CACHE`` or ``~/.cache/lrlab``), written
atomically and read back with ``allow_pickle=False``. The cache key hashes, for every image
file, its relative path, size and mtime (ns), plus ``size``, ``grayscale`` and a format
version. Stat data rather than content hashes: hashing a 10k-image set reads every byte on
every load, while ``stat`` is nearly free; any edit changes the mtime, and relative paths
keep the key valid when the folder is moved. A copy that resets mtimes only costs one
re-decode.

    >>> import tempfile, PIL.Image, pathlib
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = pathlib.Path(tmp.name)
    >>> for c, colour in [("bee", "yellow"), ("wasp", "black")]:
    ...     (root / c).mkdir()
    ...     for i in range(10):
    ...         PIL.Image.new("RGB", (20, 12), colour).save(root / c / f"{i}.png")
    >>> t = imagefolder_task(root, size=8, cache_dir=root / "cache")
    >>> t.classes, tuple(t.train.x.shape), len(t.val), len(t.test)
    (('bee', 'wasp'), (13, 3, 8, 8), 3, 4)
    >>> tmp.cleanup()
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...fileio import atomic_write
from .base import Split, Task, split_indices, standardize
from .models import SmallCNN

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
_CACHE_VERSION = 1


@dataclass(frozen=True)
class ImageSet:
    """Decoded images of a folder, before any float conversion.

    ``pixels`` is uint8 N x H x W x C; ``split`` is 0/1/2 (train/val/test) per image when
    the folder gives its splits, else all -1; ``files`` are paths relative to the folder.
    """

    pixels: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    classes: tuple[str, ...]
    files: tuple[str, ...]
    skipped: tuple[str, ...]
    cache_hit: bool
    cache_path: Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("LRLAB_CACHE") or Path.home() / ".cache" / "lrlab")


def _decode(file: Path, size: int, grayscale: bool) -> np.ndarray:
    """One image file -> uint8 array size x size x C (C = 1 or 3)."""
    from PIL import Image

    with Image.open(file) as im:
        im = im.convert("L" if grayscale else "RGB").resize((size, size), Image.Resampling.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    return a[:, :, None] if grayscale else a


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")


def _images_under(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, f) for f in sorted(filenames)
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return found


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p))


def _scan(root: Path) -> tuple[list[tuple[str, str, int]], list[str]]:
    """(relative path, class, split) for every image file, and the class names (sorted)."""
    if not root.is_dir():
        raise ValueError(f"imagefolder: {root} does not exist or is not a folder")
    subdirs = {p.name.lower(): p for p in _class_dirs(root)}
    given = {s: next((subdirs[n] for n in names if n in subdirs), None) for s, names in SPLIT_NAMES.items()}
    if any(given.values()):  # split folders: the splits are given (missing ones come from train)
        if given["train"] is None:
            raise ValueError(f"imagefolder: {root} has split folders but no train/ folder")
        splits = [(i, given[s]) for i, s in enumerate(SPLIT_NAMES) if given[s] is not None]
    else:
        splits = [(-1, root)]
    classes = sorted({d.name for _, top in splits for d in _class_dirs(top)})
    if not classes:
        raise ValueError(f"imagefolder: no class folders in {root} (expected {root}/<class>/<image>)")
    entries = [(f.relative_to(root).as_posix(), d.name, i)
               for i, top in splits for d in _class_dirs(top) for f in _images_under(d)]
    return entries, classes


def _cache_key(root: Path, entries, size: int, grayscale: bool) -> str:
    h = hashlib.sha256(json.dumps([_CACHE_VERSION, size, grayscale]).encode())
    for rel, _, _ in entries:
        st = (root / rel).stat()
        h.update(json.dumps([rel, st.st_size, st.st_mtime_ns]).encode())
    return h.hexdigest()[:24]


def _load_cache(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in ("pixels", "labels", "split", "classes", "files", "skipped")}
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged cache file is rebuilt, never trusted
        warnings.warn(f"imagefolder: ignoring unreadable cache {path}: {e}", stacklevel=3)
        return None


def load_images(path, size: int = 32, grayscale: bool = False, cache_dir=None) -> ImageSet:
    """Decode every image under ``path`` (or read them from the cache); see the module doc.

    Unreadable files are skipped and named in one ``UserWarning``; a class without any
    readable image, an empty folder or a missing path raise ``ValueError``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"imagefolder: size must be a positive integer, got {size!r}")
    root = Path(path).expanduser().resolve()
    entries, classes = _scan(root)
    key = _cache_key(root, entries, size, grayscale)
    tag = "".join(c if c.isalnum() or c in "-_" else "_" for c in root.name)[:40]
    name = f"imagefolder-{tag}-{size}{'L' if grayscale else ''}-{key}.npz"
    cache_path = Path(cache_dir or default_cache_dir()).expanduser() / name

    cached = _load_cache(cache_path)
    if cached is None:
        def decode(rel):
            try:
                return _decode(root / rel, size, grayscale)
            except Exception:  # Pillow raises many types on damaged files; all mean "unreadable"
                return None

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            arrays = list(pool.map(decode, [rel for rel, _, _ in entries]))
        ok = [a is not None for a in arrays]
        index = {c: i for i, c in enumerate(classes)}
        channels = 1 if grayscale else 3
        cached = {
            "pixels": np.stack([a for a in arrays if a is not None]) if any(ok)
            else np.zeros((0, size, size, channels), np.uint8),
            "labels": np.array([index[c] for (_, c, _), k in zip(entries, ok) if k], np.int64),
            "split": np.array([s for (_, _, s), k in zip(entries, ok) if k], np.int8),
            "classes": np.array(classes, dtype=str),
            "files": np.array([rel for (rel, _, _), k in zip(entries, ok) if k], dtype=str),
            "skipped": np.array([rel for (rel, _, _), k in zip(entries, ok) if not k], dtype=str),
        }
        hit = False
    else:
        hit = True

    counts = np.bincount(cached["labels"], minlength=len(classes))
    empty = [c for c, n in zip(classes, counts) if n == 0]
    if empty:
        raise ValueError(f"imagefolder: no readable images for class(es) {empty} under {root}")
    if not hit:
        atomic_write(cache_path, lambda f: np.savez(f, **cached))
    skipped = tuple(str(s) for s in cached["skipped"])
    if skipped:
        warnings.warn(f"imagefolder: skipped {len(skipped)} unreadable file(s) under {root}: "
                      + ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else ""),
                      UserWarning, stacklevel=2)
    return ImageSet(cached["pixels"], cached["labels"], cached["split"], tuple(classes),
                    tuple(str(f) for f in cached["files"]), skipped, hit, cache_path)


def _from_train(labels: np.ndarray, split: np.ndarray, seed: int, into: int, frac: float) -> np.ndarray:
    """Move a stratified ``frac`` of the train split (0) to split ``into`` (1 val, 2 test)."""
    from sklearn.model_selection import train_test_split

    tr = np.flatnonzero(split == 0)
    strat = labels[tr] if len(np.unique(labels[tr])) > 1 else None
    _, moved = train_test_split(tr, test_size=frac, random_state=seed, stratify=strat)
    split = split.copy()
    split[moved] = into
    return split


def imagefolder_task(path, size: int = 32, split_seed: int = 0, grayscale: bool = False,
                     cache_dir=None) -> Task:
    """A classification task from an image folder: images as float C x size x size in [0, 1],
    standardised per channel with the train split's mean and std; a ``SmallCNN``.

    ``info`` holds the split sizes, skipped files, whether the cache was hit, the cache path
    and the per-channel ``mean``/``std`` (of [0, 1] pixels) to apply to new images.
    """
    images = load_images(path, size=size, grayscale=grayscale, cache_dir=cache_dir)
    split = images.split
    if split[0] == -1:
        parts = split_indices(images.labels, len(split), split_seed)
        how = f"stratified, split_seed={split_seed}"
    else:
        drawn = []
        for into, name, frac in [(2, "test", 0.2), (1, "val", 0.15)]:
            if not (split == into).any():
                split = _from_train(images.labels, split, split_seed, into, frac)
                drawn.append(name)
        how = "given" + (f"; {' and '.join(drawn)} drawn from train, split_seed={split_seed}"
                         if drawn else "")
        parts = tuple(np.flatnonzero(split == i) for i in range(3))

    x = torch.from_numpy(images.pixels).permute(0, 3, 1, 2).float().div_(255)
    y = torch.from_numpy(images.labels)
    xs = standardize(*(x[p] for p in parts), dims=(0, 2, 3))
    x_train = x[parts[0]]
    channels, n_classes = x.shape[1], len(images.classes)
    info = {
        "n_train": len(parts[0]), "n_val": len(parts[1]), "n_test": len(parts[2]),
        "splits": how,
        "size": size, "grayscale": grayscale,
        "skipped": list(images.skipped), "cache_hit": images.cache_hit,
        "cache_path": str(images.cache_path),
        "mean": x_train.mean(dim=(0, 2, 3)).tolist(),
        "std": x_train.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist(),
    }
    return Task(f"imagefolder:{path}", *(Split(xi, y[p]) for xi, p in zip(xs, parts)),
                build_model=lambda: SmallCNN(channels, n_classes), kind="classification",
                classes=images.classes, info=info)
