"""Binary parity tasks of Geiger, Spigler, Jacot & Wyart (arXiv:1906.08034), as numpy arrays.

Protocol (as in the paper's code, github.com/mariogeiger/feature_lazy, `dataset/__init__.py`):

1. Pool the train and test splits of the dataset.
2. Balance the classes: keep the same number m of examples of every original class (m = the
   smallest class count), each class subsampled at random with the data seed.
3. Order the balanced pool with the data seed (a stratified shuffle, see `balanced_order`): every
   prefix holds each class within one example of its share and labels +1/-1 within one of equal.
4. Label y = +1 if the class index is even, -1 if odd. The class index is the position of the class
   in the dataset's class list (`CLASSES`): digits/objects 0..9 for MNIST, Fashion-MNIST and CIFAR10;
   letters 1..26 for EMNIST letters, so 'a' (label 1) has index 0 and y = +1, as in the original code.
5. Centre by subtracting the mean image, taken over the whole balanced pool (train and test points
   and unused points alike, as the original code did), then scale every image to norm sqrt(d),
   d = number of input values (784 for the MNIST family, 3072 for CIFAR10).
6. Train = the first n_train points, test = the next n_test (disjoint by construction).
7. Optional PCA on the first `pca` principal components, fitted on the training points only
   (see `pca_project` for the scaling with and without whitening).

Images stay images, `[n, H, W, C]`, unless PCA is on (`[n, pca]`); the synthetic task is `[n, dim]`.

Sources: "idx" (raw IDX files, e.g. Debian's dataset-fashion-mnist), "tfds" (tensorflow-datasets,
imported lazily) and "synthetic" (no files). Every user-facing failure is a one-line `DataError`
naming the config key and value and saying what to do.
"""

import contextlib
import dataclasses
import gzip
import io
import os
import zlib
from typing import Sequence

import numpy as np

from lazyfeat_tf.config import DataError
from lazyfeat_tf.config.choices import DTYPES, IMAGE_SHAPES

# Original class labels of each dataset; y = +1 for an even position in this list, -1 for odd.
CLASSES = {
    "mnist": tuple(range(10)),
    "fashion_mnist": tuple(range(10)),
    "emnist_letters": tuple(range(1, 27)),
    "cifar10": tuple(range(10)),
    "synthetic": (0, 1),
}
TFDS_NAMES = {
    "mnist": "mnist",
    "fashion_mnist": "fashion_mnist",
    "emnist_letters": "emnist/letters",
    "cifar10": "cifar10",
}

# IDX type byte -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclasses.dataclass(frozen=True)
class BinaryTask:
    """A binary task.

    x_train `[n_train, *input_shape]`, y_train `[n_train]` (+1/-1), x_test `[n_test, *input_shape]`,
    y_test `[n_test]`; x and y share one float dtype.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str

    @property
    def input_shape(self) -> tuple:
        """Shape of one input, e.g. `(28, 28, 1)`, `(32, 32, 3)` or `(pca,)`."""
        return tuple(self.x_train.shape[1:])


# ----------------------------------------------------------------------------------------------
# Sources


def read_idx(path: str) -> np.ndarray:
    """Read one IDX file (gzip-compressed or plain) into an array of its declared shape and type.

    Format: 2 zero bytes, a type byte, a byte with the number of dims k, k big-endian uint32 sizes,
    then the big-endian data.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise DataError(f"{path} is truncated or corrupt ({type(error).__name__}: {error}); "
                            "re-download or reinstall the IDX files") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()}); "
                        "point --config.data.path at a directory of IDX files")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated (header of {ndim} dims needs {header} bytes, file has "
                        f"{len(raw)}); re-download or reinstall the IDX files")
    shape = tuple(int(s) for s in np.frombuffer(raw[4:header], dtype=">u4"))
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) != header + count * dtype.itemsize:
        raise DataError(f"{path} is truncated or corrupt (shape {shape} needs "
                        f"{header + count * dtype.itemsize} bytes, file has {len(raw)}); "
                        "re-download or reinstall the IDX files")
    x = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return x.astype(dtype.newbyteorder("="))


_IDX_PARTS = (
    ("train_images", "train", "images-idx3-ubyte"),
    ("train_labels", "train", "labels-idx1-ubyte"),
    ("test_images", "test", "images-idx3-ubyte"),
    ("test_labels", "test", "labels-idx1-ubyte"),
)


def _idx_stems(name: str) -> dict:
    """File names without .gz: MNIST layout (train-*, t10k-*) or EMNIST (emnist-letters-{split}-*)."""
    if name == "emnist_letters":
        return {part: f"emnist-letters-{split}-{kind}" for part, split, kind in _IDX_PARTS}
    return {part: f"{'train' if split == 'train' else 't10k'}-{kind}"
            for part, split, kind in _IDX_PARTS}


def idx_files(path: str, name: str) -> dict:
    """Paths of the four IDX files of `name` in directory `path` (`.gz` preferred over plain).

    Returns {"train_images", "train_labels", "test_images", "test_labels"} -> path; raises
    `DataError` if the directory or a file is missing.
    """
    stems = _idx_stems(name)
    expected = ", ".join(s + ".gz" for s in stems.values())
    get = ("install Debian's dataset-fashion-mnist" if name == "fashion_mnist"
           else f"download the IDX files of {name}")
    fix = f"{get} or point --config.data.path at a directory of IDX files"
    root = os.path.expanduser(str(path))
    if not path or not os.path.isdir(root):
        raise DataError(f"data.path={path!r} has no IDX files for {name} (not a directory; "
                        f"expected {expected}); {fix}")
    found = {}
    for part, stem in stems.items():
        candidates = [os.path.join(root, stem + ext) for ext in (".gz", "")]
        hits = [c for c in candidates if os.path.isfile(c)]
        if not hits:
            raise DataError(f"data.path={path!r} has no IDX files for {name} (expected {expected}; "
                            f"missing {stem}[.gz]); {fix}")
        found[part] = hits[0]
    return found


def check_available(data) -> None:
    """Raise `DataError` when the files of the task `data` (a `config.DataSpec`) are missing: the
    four IDX files of source "idx" (tfds and synthetic data are checked when loaded)."""
    if data.source == "idx":
        idx_files(data.path, data.name)


def load_idx_pool(path: str, name: str):
    """Pool the train and test IDX files of `name` in `path`.

    Returns images uint8 `[N, 28, 28, 1]` and labels int64 `[N]`, N = n_train_split + n_test_split.
    EMNIST images are stored transposed relative to MNIST; they are transposed back here.
    """
    files = idx_files(path, name)
    images, labels = [], []
    for split in ("train", "test"):
        x, y = read_idx(files[f"{split}_images"]), read_idx(files[f"{split}_labels"])
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"data.path={path!r}: {split} IDX files of {name} have shapes {x.shape} "
                            f"and {y.shape}, expected [N, H, W] images and [N] labels; "
                            "point --config.data.path at a directory of IDX files")
        if name == "emnist_letters":
            x = x.transpose(0, 2, 1)
        images.append(x[..., None])
        labels.append(y.astype(np.int64))
    return np.concatenate(images), np.concatenate(labels)


def load_tfds_pool(name: str, data_dir: str = ""):
    """Pool the "train" and "test" splits of `name` from tensorflow-datasets.

    Returns images uint8 `[N, H, W, C]` and labels int64 `[N]`. EMNIST images are transposed as in the
    IDX path (tfds keeps the raw EMNIST orientation). Any failure becomes a one-line `DataError`.
    """
    tfds_name = TFDS_NAMES[name]
    said = io.StringIO()  # what tfds prints ("Downloading and preparing ..."): shown if it worked
    try:
        import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

        with contextlib.redirect_stdout(said):
            ds = tfds.load(tfds_name, split="train+test", data_dir=data_dir or None,
                           as_supervised=True)
        # Explicit batches instead of batch_size=-1: the latter batches by the split sizes, which
        # mocked datasets (tfds.testing.mock_data) do not know, and then aborts the process.
        batches = list(tfds.as_numpy(ds.batch(8192)))
        print(said.getvalue(), end="", flush=True)
    except Exception as e:  # pylint: disable=broad-except
        first = (str(e).strip().splitlines() or [""])[0]
        raise DataError(f"data.source='tfds' could not load {tfds_name!r} for data.name={name!r} "
                        f"({type(e).__name__}: {first}); check the network or data.path "
                        "(tfds data_dir), or use --config.data.source=idx --config.data.path=DIR"
                        ) from e
    if not batches:
        return np.zeros((0, *IMAGE_SHAPES[name]), np.uint8), np.zeros((0,), np.int64)
    images = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches]).astype(np.int64)
    if name == "emnist_letters":
        images = images.transpose(0, 2, 1, 3)
    return images, labels


def synthetic_pool(dim: int, n: int, seed: int):
    """Gaussian points with a nonlinear teacher ("xnor" of the first two coordinates).

    x ~ N(0, I_dim), `[2 n + 64, dim]` float64 (oversampled so that balancing leaves >= n points);
    label 0 (y = +1) if x_1 x_2 > 0 else 1 (y = -1). For dim = 1 the teacher is x_1 > 0.
    Labels are computed on the raw points, before centring.
    """
    rng = np.random.default_rng([seed, 1])  # a stream independent of the ordering stream
    x = rng.standard_normal((2 * n + 64, dim))
    score = x[:, 0] * x[:, 1] if dim > 1 else x[:, 0]
    return x, (score <= 0).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Protocol


def balanced_order(labels: np.ndarray, classes: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Indices of a class-balanced, shuffled pool: `[len(classes) * m]`, m = smallest class count.

    Each class is subsampled to m examples in random order. The pool is laid out in m rounds; each
    round holds one example of every class, in a random order that alternates even and odd class
    indices. Hence every prefix has each class within one of its share and y within one of balance.
    Examples whose label is not in `classes` are dropped. Needs as many even as odd class indices.
    """
    classes = list(classes)
    if len(classes) % 2:
        raise ValueError(f"need an even number of classes, got {len(classes)}")
    members = [np.flatnonzero(labels == c) for c in classes]
    m = min(len(a) for a in members)
    table = np.stack([rng.permutation(a)[:m] for a in members])  # [C, m]
    half = len(classes) // 2
    order = np.empty((m, len(classes)), dtype=np.int64)
    order[:, 0::2] = 2 * rng.permuted(np.tile(np.arange(half), (m, 1)), axis=1)
    order[:, 1::2] = 2 * rng.permuted(np.tile(np.arange(half), (m, 1)), axis=1) + 1
    return table[order, np.arange(m)[:, None]].reshape(-1)


def parity_labels(labels: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """y `[n]` float64: +1 where the label's index in `classes` is even, -1 where it is odd."""
    index = np.searchsorted(np.asarray(classes), labels)
    return np.where(index % 2 == 0, 1.0, -1.0)


def pool_mean(x: np.ndarray, idx: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Mean of `x[idx]` over the first axis, float64 `[*x.shape[1:]]`, without a float copy of the pool."""
    total = np.zeros(x.shape[1:], dtype=np.float64)
    for start in range(0, len(idx), chunk):
        total += x[idx[start:start + chunk]].sum(axis=0, dtype=np.float64)
    return total / max(len(idx), 1)


def normalize(x: np.ndarray) -> np.ndarray:
    """Scale every example of `x` `[n, ...]` to norm sqrt(d), d = number of values per example."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(len(x), -1)
    norms = np.linalg.norm(flat, axis=1)
    norms = np.where(norms > 0, norms, 1.0)  # an all-zero example stays zero
    return (flat * (np.sqrt(flat.shape[1]) / norms)[:, None]).reshape(x.shape)


def pca_project(x_train: np.ndarray, x_test: np.ndarray, k: int, whiten: bool):
    """Project on the first k principal components of the training points.

    Args:
      x_train: `[n_train, ...]`; x_test: `[n_test, ...]`; k: number of components; whiten: scaling.

    Returns `[n_train, k]`, `[n_test, k]` float64: (x - mean_train) @ V_k / s, where V_k are the top-k
    eigenvectors of the training covariance (eigenvalues lambda_1 >= ... >= lambda_k) and
    s = sqrt(lambda_i) per component if whiten (each component has variance 1 on the training points,
    the training covariance is the identity), else s = sqrt(mean_i lambda_i) (a rotation + one common
    scale, so relative variances are kept). Either way the mean of ||x||^2 over the training points
    is exactly k, the sqrt(d) norm convention with d = k; points are not projected back onto the
    sphere one by one, which would undo the whitening (as in the original code).
    """
    a = x_train.reshape(len(x_train), -1).astype(np.float64)
    b = x_test.reshape(len(x_test), -1).astype(np.float64)
    mu = a.mean(axis=0)
    a, b = a - mu, b - mu
    val, vec = np.linalg.eigh(a.T @ a / len(a))
    val, vec = val[::-1][:k], vec[:, ::-1][:, :k]
    if whiten:
        flat = val <= 1e-10 * val[0]
        if flat.any():
            raise DataError(f"data.pca={k} with data.whiten=True: component {int(np.argmax(flat)) + 1} "
                            "has no variance on the training points; lower --config.data.pca")
        scale = np.sqrt(val)
    else:
        scale = np.sqrt(np.mean(val))
    return a @ vec / scale, b @ vec / scale


def load_pool(data):
    """The raw pool of the task `data` (a `config.DataSpec`): inputs `[N, *shape]` and original labels `[N]`."""
    if data.source == "idx":
        return load_idx_pool(data.path, data.name)
    if data.source == "tfds":
        return load_tfds_pool(data.name, data.path)
    return synthetic_pool(data.dim, data.n_train + data.n_test, data.seed)


def load_task(data, dtype="float32") -> BinaryTask:
    """Load the binary parity task described by `data` (see the module docstring).

    Args:
      data: a `config.DataSpec` (validated when it was made).
      dtype: "float32" or "float64", the dtype of x and y.

    Returns:
      BinaryTask with x_train `[n_train, *input_shape]`, y_train `[n_train]` (+1/-1), x_test
      `[n_test, *input_shape]`, y_test `[n_test]`; input_shape is the image shape `[H, W, C]`, or
      `[pca]` with PCA, or `[dim]` for the synthetic task.

    Raises:
      DataError: the files are missing or unreadable, or the pool is too small.
    """
    try:
        dtype = np.dtype(dtype).name
    except TypeError:
        dtype = str(dtype)
    if dtype not in DTYPES:
        raise DataError(f"dtype={dtype!r} is not one of {', '.join(map(repr, DTYPES))}")
    name, classes = data.name, CLASSES[data.name]
    n_train, n_test = data.n_train, data.n_test
    x, labels = load_pool(data)

    idx = balanced_order(labels, classes, np.random.default_rng(data.seed))
    if n_train + n_test > len(idx):
        raise DataError(f"data.n_train={n_train} + data.n_test={n_test} exceeds the {len(idx)} points "
                        f"available for {name} ({len(classes)} balanced classes); lower "
                        "--config.data.n_train or --config.data.n_test")
    mean = pool_mean(x, idx)
    chosen = idx[:n_train + n_test]
    inputs = normalize(x[chosen] - mean)
    y = parity_labels(labels[chosen], classes)

    x_train, x_test = inputs[:n_train], inputs[n_train:]
    if data.pca:
        x_train, x_test = pca_project(x_train, x_test, data.pca, data.whiten)
    return BinaryTask(
        x_train=x_train.astype(dtype),
        y_train=y[:n_train].astype(dtype),
        x_test=x_test.astype(dtype),
        y_test=y[n_train:].astype(dtype),
        name=name,
    )
