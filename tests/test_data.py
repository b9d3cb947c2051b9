"""Tests of lazyfeat_tf.data: IDX parsing, the balancing/centring/normalisation protocol, PCA,
the tfds path (mocked) and the one-line errors. Offline and fast; fixtures are written to tmp dirs."""

import dataclasses
import gzip
import os
import struct

import numpy as np
import pytest

from lazyfeat_tf import config as config_lib
from lazyfeat_tf import data

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
N_PER_CLASS_TRAIN, N_PER_CLASS_TEST = 5, 2  # fake MNIST-like pool: 10 classes x 7 = 70 images


# ----------------------------------------------------------------------------------------------
# Fixtures


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as an IDX file by hand: magic (0, 0, type, ndim), big-endian dims, data."""
    codes = {np.dtype("uint8"): 0x08, np.dtype("int16"): 0x0B, np.dtype("int32"): 0x0C,
             np.dtype("float32"): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: str, array: np.ndarray, gz: bool) -> None:
    raw = idx_bytes(array)
    with open(path + (".gz" if gz else ""), "wb") as f:
        f.write(gzip.compress(raw) if gz else raw)


def fake_image(label: int, uid: int) -> np.ndarray:
    """28x28 uint8: row `label` is 255 (identifies the class), row 20 encodes `uid` in bits of 40."""
    img = np.zeros((28, 28), np.uint8)
    img[label, :] = 255
    img[20, :] = 40 * ((uid >> np.arange(28)) & 1)
    return img


def decode_label(x: np.ndarray, rows=range(10)) -> np.ndarray:
    """Class of fake images (after centring/scaling): the brightest of the class rows."""
    x = x.reshape(len(x), 28, 28)
    return np.asarray(rows)[np.argmax(x[:, list(rows), :].sum(axis=2), axis=1)]


def make_mnist_dir(root, gz=True) -> str:
    """A fake MNIST-format directory with 5 train and 2 test images per class, all distinct."""
    uid = 0
    for split, prefix, per_class in (("train", "train", N_PER_CLASS_TRAIN),
                                     ("test", "t10k", N_PER_CLASS_TEST)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
        images = []
        for label in labels:
            images.append(fake_image(int(label), uid))
            uid += 1
        write_idx(os.path.join(root, f"{prefix}-images-idx3-ubyte"), np.stack(images), gz)
        write_idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte"), labels, gz)
    return str(root)


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    return make_mnist_dir(tmp_path_factory.mktemp("fake_mnist"))


def config(**overrides):
    """The `config.DataSpec` of the defaults with `overrides` (validated on construction)."""
    return config_lib.DataSpec(**overrides)


def fake_config(mnist_dir, **overrides):
    base = dict(name="mnist", source="idx", path=mnist_dir, n_train=40, n_test=30)
    base.update(overrides)
    return config(**base)


def synthetic_config(**overrides):
    base = dict(name="synthetic", source="synthetic", path="", n_train=100, n_test=50, dim=8)
    base.update(overrides)
    return config(**base)


def flat_norms(x):
    return np.linalg.norm(np.asarray(x, np.float64).reshape(len(x), -1), axis=1)


# ----------------------------------------------------------------------------------------------
# IDX parser


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_hand_written_bytes(tmp_path, gz):
    raw = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes([1, 2, 3, 4, 5, 255])
    path = tmp_path / "a-idx2-ubyte"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    x = data.read_idx(str(path))
    assert x.dtype == np.uint8 and x.shape == (2, 3)
    np.testing.assert_array_equal(x, [[1, 2, 3], [4, 5, 255]])

    # int16 is big-endian: 0x0102 = 258, 0xFFFE = -2
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    path = tmp_path / "b-idx1"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    np.testing.assert_array_equal(data.read_idx(str(path)), [258, -2])


def test_read_idx_round_trip_float(tmp_path):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    write_idx(str(tmp_path / "f"), a, gz=False)
    np.testing.assert_array_equal(data.read_idx(str(tmp_path / "f")), a)


@pytest.mark.parametrize("raw, words", [
    (bytes([1, 0, 8, 1, 0, 0, 0, 1, 7]), "magic"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]), "magic"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 7]), "truncated"),
])
def test_read_idx_rejects_bad_files(tmp_path, raw, words):
    path = tmp_path / "bad"
    path.write_bytes(raw)
    with pytest.raises(data.DataError) as e:
        data.read_idx(str(path))
    assert words in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_plain_idx_files_are_found(tmp_path):
    root = make_mnist_dir(tmp_path, gz=False)
    images, labels = data.load_idx_pool(root, "mnist")
    assert images.shape == (70, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [7] * 10)


def test_emnist_letters_are_transposed(tmp_path):
    """EMNIST IDX images are stored transposed: a bright column L in the file is row L once loaded."""
    for split in ("train", "test"):
        labels = np.arange(1, 27, dtype=np.uint8)
        stored = np.zeros((26, 28, 28), np.uint8)
        for i, label in enumerate(labels):
            stored[i, :, label] = 255  # column `label` in the file
        write_idx(str(tmp_path / f"emnist-letters-{split}-images-idx3-ubyte"), stored, gz=True)
        write_idx(str(tmp_path / f"emnist-letters-{split}-labels-idx1-ubyte"), labels, gz=True)
    images, labels = data.load_idx_pool(str(tmp_path), "emnist_letters")
    assert images.shape == (52, 28, 28, 1)
    for img, label in zip(images[..., 0], labels):
        assert np.all(img[label, :] == 255) and img.sum() == 255 * 28

    task = data.load_task(config(name="emnist_letters", source="idx", path=str(tmp_path),
                                 n_train=30, n_test=22))
    letters = decode_label(np.concatenate([task.x_train, task.x_test]), rows=range(1, 27))
    # 'a' (label 1) has class index 0 -> +1, 'b' -> -1, ...
    np.testing.assert_array_equal(np.concatenate([task.y_train, task.y_test]),
                                  np.where((letters - 1) % 2 == 0, 1.0, -1.0))


# ----------------------------------------------------------------------------------------------
# Protocol


def test_parity_labels_from_fake_idx(mnist_dir):
    task = data.load_task(fake_config(mnist_dir))
    for x, y in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
        classes = decode_label(x)
        np.testing.assert_array_equal(y, np.where(classes % 2 == 0, 1.0, -1.0))
    assert set(np.unique(task.y_train)) == {-1.0, 1.0}


def test_parity_labels_function():
    np.testing.assert_array_equal(data.parity_labels(np.array([0, 1, 2, 9]), range(10)),
                                  [1, -1, 1, -1])
    np.testing.assert_array_equal(data.parity_labels(np.array([1, 2, 26]), range(1, 27)),
                                  [1, -1, -1])


def test_balanced_order_balances_pool_and_prefixes():
    rng = np.random.default_rng(123)
    labels = rng.integers(0, 10, size=2000)
    labels[:5] = 11  # not a class: dropped
    idx = data.balanced_order(labels, range(10), np.random.default_rng(0))
    m = np.bincount(labels[labels < 10]).min()
    assert len(idx) == 10 * m and len(np.unique(idx)) == len(idx)
    np.testing.assert_array_equal(np.bincount(labels[idx], minlength=10), [m] * 10)
    y = data.parity_labels(labels[idx], range(10))
    for n in (1, 7, 33, 100, 555, len(idx)):
        counts = np.bincount(labels[idx[:n]], minlength=10)
        assert counts.max() - counts.min() <= 1, n
        assert abs(y[:n].sum()) <= 1, n
    # the class order within rounds of 10 is shuffled, not a fixed 0, 1, 2, ... cycle
    rounds = {tuple(labels[idx[10 * r:10 * r + 10]]) for r in range(20)}
    assert len(rounds) > 10


def test_loaded_task_is_balanced(mnist_dir):
    task = data.load_task(fake_config(mnist_dir, n_train=41, n_test=29))
    y = np.concatenate([task.y_train, task.y_test])
    assert y.sum() == 0  # the whole balanced pool (70 points) is used here
    assert abs(task.y_train.sum()) <= 1 and abs(task.y_test.sum()) <= 1
    counts = np.bincount(decode_label(task.x_train), minlength=10)
    assert counts.max() - counts.min() <= 1


def test_centring_and_scaling():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(50, 4, 4, 2)).astype(np.uint8)
    idx = rng.permutation(50)[:37]
    mean = data.pool_mean(x, idx, chunk=8)  # chunked accumulation
    np.testing.assert_allclose(mean, x[idx].astype(np.float64).mean(axis=0), rtol=1e-12)
    centred = x[idx] - mean
    np.testing.assert_allclose(centred.mean(axis=0), 0.0, atol=1e-10)
    scaled = data.normalize(centred)
    assert scaled.shape == (37, 4, 4, 2)
    np.testing.assert_allclose(flat_norms(scaled), np.sqrt(32), rtol=1e-12)
    # scaling each point is a positive factor: directions are unchanged
    np.testing.assert_allclose(np.sign(scaled), np.sign(centred))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_image_has_norm_sqrt_d(mnist_dir, dtype):
    task = data.load_task(fake_config(mnist_dir), dtype=dtype)
    for x, y in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
        assert x.dtype == np.dtype(dtype) and y.dtype == np.dtype(dtype)
        assert x.shape[1:] == (28, 28, 1)
        np.testing.assert_allclose(flat_norms(x), 28.0, rtol=1e-5)
    assert task.input_shape == (28, 28, 1) and task.name == "mnist"


def test_determinism_and_seed(mnist_dir):
    a = data.load_task(fake_config(mnist_dir, seed=3))
    b = data.load_task(fake_config(mnist_dir, seed=3))
    c = data.load_task(fake_config(mnist_dir, seed=4))
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_train, c.x_train)


def test_train_and_test_are_disjoint(mnist_dir):
    task = data.load_task(fake_config(mnist_dir))
    def uid(x):  # row 20 holds the image id in bits; centring keeps a set bit > 0, a clear one <= 0
        return set((x.reshape(len(x), 28, 28)[:, 20, :] > 0) @ (1 << np.arange(28)))

    train, test = uid(task.x_train), uid(task.x_test)
    assert len(train) == len(task.x_train) and len(test) == len(task.x_test)
    assert not train & test


def test_synthetic_task():
    task = data.load_task(synthetic_config(seed=1), dtype="float64")
    assert task.x_train.shape == (100, 8) and task.x_test.shape == (50, 8)
    assert task.input_shape == (8,)
    np.testing.assert_allclose(flat_norms(task.x_train), np.sqrt(8), rtol=1e-12)
    assert task.y_train.sum() == 0 and abs(task.y_test.sum()) <= 1
    # the teacher is sign(x1 x2) (labels computed before centring: allow a few flips)
    agree = np.mean(np.sign(task.x_train[:, 0] * task.x_train[:, 1]) == task.y_train)
    assert agree > 0.9
    again = data.load_task(synthetic_config(seed=1), dtype="float64")
    np.testing.assert_array_equal(task.x_train, again.x_train)
    other = data.load_task(synthetic_config(seed=2), dtype="float64")
    assert not np.array_equal(task.x_train, other.x_train)


# ----------------------------------------------------------------------------------------------
# PCA


def test_pca_whitening_gives_identity_covariance():
    task = data.load_task(synthetic_config(pca=5, whiten=True, n_train=200), dtype="float64")
    assert task.x_train.shape == (200, 5) and task.x_test.shape == (50, 5)
    assert task.input_shape == (5,)
    cov = np.cov(task.x_train.T, bias=True)
    np.testing.assert_allclose(cov, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(task.x_train.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(np.mean(np.sum(task.x_train ** 2, axis=1)), 5.0, rtol=1e-10)


def test_pca_without_whitening_keeps_relative_variances():
    task = data.load_task(synthetic_config(pca=5, n_train=200), dtype="float64")
    cov = np.cov(task.x_train.T, bias=True)
    variances = np.diag(cov)
    np.testing.assert_allclose(cov - np.diag(variances), 0.0, atol=1e-10)  # diagonal
    assert np.all(np.diff(variances) <= 1e-12)  # sorted, largest first
    assert variances[0] > variances[-1]
    np.testing.assert_allclose(variances.sum(), 5.0, rtol=1e-10)  # mean ||x||^2 = pca


def test_pca_on_images(mnist_dir):
    task = data.load_task(fake_config(mnist_dir, pca=12, whiten=True), dtype="float64")
    assert task.x_train.shape == (40, 12) and task.x_test.shape == (30, 12)
    np.testing.assert_allclose(np.cov(task.x_train.T, bias=True), np.eye(12), atol=1e-8)


def test_pca_whitening_of_a_flat_component_fails():
    x = np.zeros((10, 3))
    x[:, 0] = np.arange(10)
    with pytest.raises(data.DataError, match=r"data.pca=2 .*component 2"):
        data.pca_project(x, x, 2, whiten=True)


# ----------------------------------------------------------------------------------------------
# Real data and tfds


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR),
                    reason=f"{FASHION_DIR} missing (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_idx():
    images, labels = data.load_idx_pool(FASHION_DIR, "fashion_mnist")
    assert images.shape == (70000, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [7000] * 10)
    task = data.load_task(config(n_train=500, n_test=300))
    assert task.x_train.shape == (500, 28, 28, 1) and task.x_test.shape == (300, 28, 28, 1)
    assert task.x_train.dtype == np.float32
    np.testing.assert_allclose(flat_norms(task.x_train), 28.0, rtol=1e-5)
    assert abs(task.y_train.sum()) <= 1 and abs(task.y_test.sum()) <= 1
    with pytest.raises(data.DataError, match=r"exceeds the 70000 points available for fashion_mnist"):
        data.load_task(config(n_train=69000, n_test=1001))


@pytest.fixture
def tfds_mock():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=600):
        yield tfds


@pytest.mark.parametrize("name, shape", [("fashion_mnist", (28, 28, 1)), ("cifar10", (32, 32, 3)),
                                         ("emnist_letters", (28, 28, 1))])
def test_tfds_source_with_mock_data(tfds_mock, name, shape):
    images, labels = data.load_tfds_pool(name)
    assert images.shape == (600, *shape) and labels.shape == (600,)
    task = data.load_task(config(name=name, source="tfds", path="", n_train=30, n_test=20))
    assert task.x_train.shape == (30, *shape) and task.x_test.shape == (20, *shape)
    np.testing.assert_allclose(flat_norms(task.x_train), np.sqrt(np.prod(shape)), rtol=1e-5)
    assert abs(task.y_train.sum()) <= 1 and set(np.unique(task.y_test)) == {-1.0, 1.0}


def test_tfds_failure_is_one_line(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")

    def broken_load(*args, **kwargs):
        raise RuntimeError("no network here\nsecond line of the traceback")

    monkeypatch.setattr(tfds, "load", broken_load)
    with pytest.raises(data.DataError) as e:
        data.load_task(config(source="tfds", path=""))
    msg = str(e.value)
    assert "\n" not in msg
    for part in ("data.source='tfds'", "'fashion_mnist'", "no network here",
                 "--config.data.source=idx --config.data.path=DIR"):
        assert part in msg
    assert "second line" not in msg


# ----------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("overrides, parts", [
    (dict(name="foo"), ["data.name='foo'", "is not one of", "--config.data.name"]),
    (dict(source="web"), ["data.source='web'", "is not one of"]),
    (dict(name="cifar10", source="idx"), ["data.source='idx'", "data.name='cifar10'", "tfds"]),
    (dict(source="synthetic"), ["data.source='synthetic'", "data.name='fashion_mnist'"]),
    (dict(n_train=0), ["data.n_train=0", "> 0"]),
    (dict(n_test=-3), ["data.n_test=-3", "> 0"]),
    (dict(seed=-1), ["data.seed=-1", ">= 0"]),
    (dict(pca=-1), ["data.pca=-1", "[0, 784]"]),
    (dict(pca=785), ["data.pca=785", "[0, 784]"]),
    (dict(whiten=True), ["data.whiten=True", "data.pca"]),
    (dict(pca=100, n_train=100, whiten=True), ["data.pca=100", "data.n_train=100"]),
    (dict(name="synthetic", source="synthetic", dim=0), ["data.dim=0", "> 0"]),
    (dict(path="/nonexistent/dir"), ["data.path='/nonexistent/dir'", "has no IDX files",
                                     "fashion_mnist", "train-images-idx3-ubyte.gz",
                                     "dataset-fashion-mnist", "--config.data.path"]),
])
def test_config_errors_are_one_line(overrides, parts):
    with pytest.raises(data.DataError) as e:  # from the spec's own checks, or (files) from load_task
        data.load_task(config(**overrides))
    msg = str(e.value)
    assert "\n" not in msg
    for part in parts:
        assert part in msg, (part, msg)


def test_missing_idx_file(tmp_path):
    root = make_mnist_dir(tmp_path)
    os.remove(os.path.join(root, "t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(data.DataError) as e:
        data.load_task(config(name="mnist", path=root))
    msg = str(e.value)
    assert f"data.path={root!r}" in msg and "t10k-labels-idx1-ubyte" in msg and "\n" not in msg


def test_pool_too_small(mnist_dir):
    with pytest.raises(data.DataError) as e:
        data.load_task(fake_config(mnist_dir, n_train=60, n_test=11))
    msg = str(e.value)
    assert "data.n_train=60 + data.n_test=11 exceeds the 70 points available for mnist" in msg
    assert "\n" not in msg


def test_bad_dtype_and_missing_field(mnist_dir):
    with pytest.raises(data.DataError, match="dtype='float16'"):
        data.load_task(fake_config(mnist_dir), dtype="float16")
    assert data.load_task(fake_config(mnist_dir), dtype=np.float64).x_train.dtype == np.float64
    run = config_lib.base_config()
    run.alpha_sqrt_h = 1.0
    run.data.unlock()
    run.data.pcaa = 3
    with pytest.raises(config_lib.ConfigError, match="config.data.pcaa: no such field; the fields are dim, "):
        config_lib.resolve(run)


def test_default_config_fields():
    c = config_lib.DataSpec()
    assert (c.name, c.source, c.path) == ("fashion_mnist", "idx", "/usr/share/datasets/fashion-mnist")
    assert (c.n_train, c.n_test, c.seed, c.pca, c.whiten, c.dim) == (1000, 1000, 0, 0, False, 16)
    assert config_lib.base_config().data.to_dict() == dataclasses.asdict(c)  # one schema
