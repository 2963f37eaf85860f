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
Images of more than 8 bits per sample (16-bit PNG and TIFF, Pillow modes ``I;16`` and ``I``)
are scaled by their bit depth (65535 -> 255), not clipped.

Damaged and hostile folders. Only regular files are opened (without blocking, and checked
again on the open file), so a FIFO or a device named ``x.png`` cannot hang the load.
Links to files are followed; links to folders inside a class folder are not. A file that
cannot be an image (damaged, empty, unreadable, a FIFO or device, a broken or looping link)
is skipped: ``info["skipped"]`` and ``info["skipped_why"]`` name it, and one warning of the
``lrlab.training.tasks.imagefolder`` logger says it once per folder and process (a library
logs, the application decides where it goes; with no logging set up Python prints the line
alone on stderr). What cannot be skipped without changing the data is refused with a
``ValueError``: a class folder that is another class folder through a symlink, or one file
reached twice through links (its images would carry two labels, or sit in two splits);
skipping one of them would silently drop a class, so the user chooses which to remove. A
class needs 3 readable images for the stratified split (the message names the folder).

Decoding happens once per folder content: the uint8 pixels, labels and class names go to an
``.npz`` in ``cache_dir`` (default ``$LRLAB_CACHE`` or ``~/.cache/lrlab``), written
atomically and read back with ``allow_pickle=False``. The cache key hashes the class names
(empty class folders included), and for every image file its relative path, size and mtime
(ns) or why it is skipped, plus ``size``, ``grayscale`` and a format version. Stat data
rather than content hashes: hashing a 10k-image set reads every byte on every load, while
``stat`` is nearly free; any edit changes the mtime, and relative paths keep the key valid
when the folder is moved. A copy that resets mtimes only costs one re-decode.

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

import errno
import hashlib
import json
import logging
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...fileio import atomic_write
from .base import MIN_PER_CLASS, Split, Task, small_classes, split_indices, standardize
from .models import SmallCNN

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
_CACHE_VERSION = 2  # 2: high bit depths scaled, not clipped; class folders in the key


@dataclass(frozen=True)
class ImageSet:
    """Decoded images of a folder, before any float conversion.

    ``pixels`` is uint8 N x H x W x C; ``split`` is 0/1/2 (train/val/test) per image when
    the folder gives its splits, else all -1; ``files`` are paths relative to the folder;
    ``skipped`` the files left out and ``skipped_why`` why (same order).
    """

    pixels: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    classes: tuple[str, ...]
    files: tuple[str, ...]
    skipped: tuple[str, ...]
    cache_hit: bool
    cache_path: Path
    skipped_why: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Entry:
    """One candidate image file: its path relative to the root, class, split (-1: not given),
    ``stat`` (following links; None when that failed) and why it is skipped without being
    opened (None: to be decoded)."""

    rel: str
    label: str
    split: int
    st: os.stat_result | None
    why: str | None


class _Unreadable(Exception):
    """A file that is not decoded; the message says why."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("LRLAB_CACHE") or Path.home() / ".cache" / "lrlab")


def _bit_depth(im) -> int:
    """Bits per sample of a 16/32-bit integer Pillow image (modes ``I;16*`` and ``I``)."""
    if im.mode.startswith("I;16"):
        return 16
    bits = getattr(im, "tag_v2", {}).get(258)  # TIFF BitsPerSample
    if bits:
        return int(bits[0] if isinstance(bits, tuple) else bits)
    return 16 if im.format == "PNG" else 32  # Pillow < 10.1 opened 16-bit PNGs as "I"


def _to_8bit(im):
    """``im`` with integer samples of more than 8 bits scaled to 0..255 by their bit depth
    (Pillow's own conversion clips them: a 16-bit image would turn almost white)."""
    from PIL import Image

    if not (im.mode.startswith("I;16") or im.mode == "I"):
        return im
    top = 2.0 ** _bit_depth(im) - 1
    a = np.asarray(im).astype(np.float64)
    return Image.fromarray(np.clip(np.rint(a * (255 / top)), 0, 255).astype(np.uint8))


def _decode(file: Path, size: int, grayscale: bool) -> np.ndarray:
    """One image file -> uint8 array size x size x C (C = 1 or 3).

    The file is opened without blocking and checked to be a regular file on the open
    descriptor, so a FIFO or device put in place after the scan cannot hang the loader."""
    from PIL import Image

    fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _Unreadable(f"not a regular file ({_file_kind(mode)})")
        with Image.open(f) as im:
            im = _to_8bit(im).convert("L" if grayscale else "RGB")
            im = im.resize((size, size), Image.Resampling.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    return a[:, :, None] if grayscale else a


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a plain file"


def _inspect(path: Path) -> tuple[os.stat_result | None, str | None]:
    """``stat`` of ``path`` (following links) and why it cannot be an image (None: it can)."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return None, "symlink loop"
        if isinstance(e, FileNotFoundError) and os.path.islink(path):
            return None, f"broken symlink to {os.readlink(path)}"
        return None, e.strerror or type(e).__name__
    if not stat.S_ISREG(st.st_mode):
        return st, f"not a regular file ({_file_kind(st.st_mode)})"
    if st.st_size == 0:
        return st, "empty file"
    return st, None


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")


def _images_under(folder: Path) -> list[Path]:
    """Files (of any type) with an image extension under ``folder``, hidden ones left out.
    Links to files are listed; links to folders are not followed."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, f) for f in sorted(filenames)
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return found


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p))


def _refuse_shared_folders(root: Path, dirs: list[Path]) -> None:
    """Two class folders that are one folder (a symlink) would give its images two labels,
    or put them in two splits: refuse, naming both."""
    seen: dict[Path, Path] = {}
    for d in dirs:
        real = d.resolve()
        if real in seen:
            a, b = (x.relative_to(root).as_posix() for x in (seen[real], d))
            raise ValueError(f"imagefolder: class folders {a}/ and {b}/ under {root} are the same "
                             f"folder ({real}, reached through a symbolic link); an image must "
                             f"have one class and one split: remove the link")
        seen[real] = d


def _refuse_shared_files(root: Path, entries: list[_Entry]) -> None:
    """The same file reached twice (a symlink or hard link into another class folder, or
    into the same one) would be counted twice: refuse, naming both paths."""
    seen: dict[tuple[int, int], str] = {}
    for e in entries:
        if e.st is None or e.why is not None or not e.st.st_ino:
            continue
        key = (e.st.st_dev, e.st.st_ino)
        if key in seen:
            raise ValueError(f"imagefolder: {seen[key]} and {e.rel} under {root} are the same file "
                             f"(linked); an image must appear once: remove one of them")
        seen[key] = e.rel


def _scan(root: Path) -> tuple[list[_Entry], list[str]]:
    """Every candidate image file, and the class names (sorted)."""
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
    dirs = [(i, d) for i, top in splits for d in _class_dirs(top)]
    classes = sorted({d.name for _, d in dirs})
    if not classes:
        raise ValueError(f"imagefolder: no class folders in {root} (expected {root}/<class>/<image>)")
    _refuse_shared_folders(root, [d for _, d in dirs])
    entries = [_Entry(f.relative_to(root).as_posix(), d.name, i, *_inspect(f))
               for i, d in dirs for f in _images_under(d)]
    _refuse_shared_files(root, entries)
    return entries, classes


def _cache_key(entries: list[_Entry], classes: list[str], size: int, grayscale: bool) -> str:
    """Hash of what the decoded arrays depend on: the class names (empty folders included),
    each file's path, size and mtime (or why it is skipped), the size and the format."""
    h = hashlib.sha256(json.dumps([_CACHE_VERSION, size, grayscale, classes]).encode())
    for e in entries:
        stamp = [e.st.st_size, e.st.st_mtime_ns] if e.st is not None else []
        h.update(json.dumps([e.rel, *stamp, e.why]).encode())
    return h.hexdigest()[:24]


_CACHED = ("pixels", "labels", "split", "classes", "files", "skipped", "skipped_why")


def _load_cache(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in _CACHED}
    except FileNotFoundError:
        return None
    except Exception:  # a damaged cache file is rebuilt, never trusted
        logger.warning("imagefolder: ignoring damaged cache file %s; decoding the images again", path)
        return None


def _why(e: Exception) -> str:
    from PIL import UnidentifiedImageError

    if isinstance(e, _Unreadable):
        return str(e)
    if isinstance(e, UnidentifiedImageError):
        return "not an image Pillow can read"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    return f"cannot decode: {type(e).__name__}"


def _decode_all(root: Path, entries: list[_Entry], classes: list[str], size: int,
                grayscale: bool) -> dict:
    def decode(e: _Entry):
        if e.why is not None:
            return e.why
        try:
            return _decode(root / e.rel, size, grayscale)
        except Exception as err:  # Pillow raises many types on damaged files; all mean "unreadable"
            return _why(err)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(decode, entries))
    ok = [not isinstance(r, str) for r in results]
    index = {c: i for i, c in enumerate(classes)}
    channels = 1 if grayscale else 3
    return {
        "pixels": np.stack([r for r, k in zip(results, ok) if k]) if any(ok)
        else np.zeros((0, size, size, channels), np.uint8),
        "labels": np.array([index[e.label] for e, k in zip(entries, ok) if k], np.int64),
        "split": np.array([e.split for e, k in zip(entries, ok) if k], np.int8),
        "classes": np.array(classes, dtype=str),
        "files": np.array([e.rel for e, k in zip(entries, ok) if k], dtype=str),
        "skipped": np.array([e.rel for e, k in zip(entries, ok) if not k], dtype=str),
        "skipped_why": np.array([r for r, k in zip(results, ok) if not k], dtype=str),
    }


_reported: set[tuple[str, tuple[str, ...]]] = set()
_reported_lock = threading.Lock()


def _report_skipped(root: Path, skipped: tuple[str, ...], why: tuple[str, ...]) -> None:
    """Log the skipped files once per folder and set of files in this process (a population
    or a later ``lrlab test`` loading the same folder says nothing new)."""
    with _reported_lock:
        key = (str(root), skipped)
        if key in _reported:
            return
        _reported.add(key)
    shown = ", ".join(f"{f} ({w})" for f, w in zip(skipped[:5], why[:5]))
    logger.warning("imagefolder: skipped %d file(s) under %s: %s%s", len(skipped), root, shown,
                   f", and {len(skipped) - 5} more" if len(skipped) > 5 else "")


def load_images(path, size: int = 32, grayscale: bool = False, cache_dir=None) -> ImageSet:
    """Decode every image under ``path`` (or read them from the cache); see the module doc.

    Files that are not images (damaged, empty, unreadable, FIFOs and devices, broken or
    looping symlinks) are skipped and named, once per folder, in one warning of the
    ``lrlab.training.tasks.imagefolder`` logger. A class without any readable image, a class
    folder or file reached twice through links, an empty folder or a missing path raise
    ``ValueError``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"imagefolder: size must be a positive integer, got {size!r}")
    root = Path(path).expanduser().resolve()
    entries, classes = _scan(root)
    key = _cache_key(entries, classes, size, grayscale)
    tag = "".join(c if c.isalnum() or c in "-_" else "_" for c in root.name)[:40]
    name = f"imagefolder-{tag}-{size}{'L' if grayscale else ''}-{key}.npz"
    cache_path = Path(cache_dir or default_cache_dir()).expanduser() / name

    cached = _load_cache(cache_path)
    hit = cached is not None and cached["classes"].tolist() == classes
    if not hit:
        cached = _decode_all(root, entries, classes, size, grayscale)

    counts = np.bincount(cached["labels"], minlength=len(classes))
    empty = [c for c, n in zip(classes, counts) if n == 0]
    if empty:
        raise ValueError(f"imagefolder: no readable images for class(es) {empty} under {root}")
    if not hit:
        atomic_write(cache_path, lambda f: np.savez(f, **cached))
    skipped = tuple(str(s) for s in cached["skipped"])
    why = tuple(str(s) for s in cached["skipped_why"])
    if skipped:
        _report_skipped(root, skipped, why)
    return ImageSet(cached["pixels"], cached["labels"], cached["split"], tuple(classes),
                    tuple(str(f) for f in cached["files"]), skipped, hit, cache_path, why)


def _from_train(labels: np.ndarray, split: np.ndarray, seed: int, into: int, frac: float) -> np.ndarray:
    """Move a stratified ``frac`` of the train split (0) to split ``into`` (1 val, 2 test)."""
    from sklearn.model_selection import train_test_split

    tr = np.flatnonzero(split == 0)
    strat = labels[tr] if len(np.unique(labels[tr])) > 1 else None
    _, moved = train_test_split(tr, test_size=frac, random_state=seed, stratify=strat)
    split = split.copy()
    split[moved] = into
    return split


def _refuse_small_classes(root: Path, images: ImageSet, where: np.ndarray, within: str,
                          minimum: int) -> None:
    """Name the class folders with too few images for the stratified draws to come."""
    counts = np.bincount(images.labels[where], minlength=len(images.classes))
    small = small_classes(counts, minimum)
    if small:
        shown = ", ".join(f"{root / within / images.classes[i]} ({counts[i]})" for i in small[:5])
        more = f" and {len(small) - 5} more" if len(small) > 5 else ""
        raise ValueError(
            f"imagefolder: too few readable images in class folder(s) {shown}{more}: a stratified "
            f"train/val/test split needs at least {minimum} per class; add images, or remove "
            f"the folder" + ("" if within else ", or give the splits as train/, val/ and test/"))


def _split(root: Path, images: ImageSet, split_seed: int) -> tuple[tuple[np.ndarray, ...], str]:
    """Train/val/test indices of ``images`` and how they were made."""
    split = images.split
    try:
        if split[0] == -1:
            _refuse_small_classes(root, images, np.arange(len(split)), "", MIN_PER_CLASS)
            return (split_indices(images.labels, len(split), split_seed),
                    f"stratified, split_seed={split_seed}")
        draws = [(into, name, frac) for into, name, frac in [(2, "test", 0.2), (1, "val", 0.15)]
                 if not (split == into).any()]
        train_dir = next(f.split("/")[0] for f, s in zip(images.files, split) if s == 0)
        _refuse_small_classes(root, images, split == 0, train_dir, 1 + len(draws))
        for into, _, frac in draws:
            split = _from_train(images.labels, split, split_seed, into, frac)
    except ValueError as e:
        if str(e).startswith("imagefolder:"):
            raise
        raise ValueError(f"imagefolder: cannot split the {len(split)} images of {root} "
                         f"({len(images.classes)} classes) stratified: {e}; add images, or give "
                         f"the splits as train/, val/ and test/ folders") from None
    how = "given" + (f"; {' and '.join(n for _, n, _ in draws)} drawn from train, "
                     f"split_seed={split_seed}" if draws else "")
    return tuple(np.flatnonzero(split == i) for i in range(3)), how


def imagefolder_task(path, size: int = 32, split_seed: int = 0, grayscale: bool = False,
                     cache_dir=None) -> Task:
    """A classification task from an image folder: images as float C x size x size in [0, 1],
    standardised per channel with the train split's mean and std; a ``SmallCNN``.

    ``info`` holds the split sizes, skipped files (and why), whether the cache was hit, the
    cache path and the per-channel ``mean``/``std`` (of [0, 1] pixels) to apply to new images.
    A class needs at least 3 readable images when the split is drawn (2 in ``train/`` when
    only val is drawn from it); fewer is a ``ValueError`` naming the class folder.
    """
    images = load_images(path, size=size, grayscale=grayscale, cache_dir=cache_dir)
    root = Path(path).expanduser().resolve()
    parts, how = _split(root, images, split_seed)

    x = torch.from_numpy(images.pixels).permute(0, 3, 1, 2).float().div_(255)
    y = torch.from_numpy(images.labels)
    xs = standardize(*(x[p] for p in parts), dims=(0, 2, 3))
    x_train = x[parts[0]]
    channels, n_classes = x.shape[1], len(images.classes)
    info = {
        "n_train": len(parts[0]), "n_val": len(parts[1]), "n_test": len(parts[2]),
        "splits": how,
        "size": size, "grayscale": grayscale,
        "skipped": list(images.skipped), "skipped_why": list(images.skipped_why),
        "cache_hit": images.cache_hit,
        "cache_path": str(images.cache_path),
        "mean": x_train.mean(dim=(0, 2, 3)).tolist(),
        "std": x_train.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist(),
    }
    return Task(f"imagefolder:{path}", *(Split(xi, y[p]) for xi, p in zip(xs, parts)),
                build_model=lambda: SmallCNN(channels, n_classes), kind="classification",
                classes=images.classes, info=info)
