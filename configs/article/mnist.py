"""Article, figure "MNIST / CIFAR10" (MNIST panels): test error vs alpha per width, and vs alpha*sqrt(h).

The same panels as the Fashion-MNIST figure "test error" (b) and (c) (`test_error_vs_alpha.py`), on
MNIST parity (even vs odd digit): setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20,
plain gradient flow until every training margin reaches 1), P = 10,000, h = 100, 300, 1000, 20
seeds in the article. It shows whether the lazy/feature crossover sits at the same alpha*sqrt(h) on
another dataset, and which regime generalizes better there (the article: for fully connected nets
lazy is as good as or better than feature).

Scales (append to the file name):
- `:reduced` (default): P = 1000, 5000 test points, h = 25, 50, 100, alpha*sqrt(h) = 1e-3 ... 1e3
  in decades, 2 seeds, float32: 42 runs.
- `:article`: P = 10,000, 50,000 test points, h = 100, 300, 1000, alpha*sqrt(h) = 1e-4 ... 1e7 in
  half decades, 20 seeds, float64: 1380 runs, for accelerators.

    python -m launch.sweep --config=configs/article/mnist.py --workdir=runs/mnist
    python -m launch.report --workdir=runs/mnist
    # the article's sizes, with the datasets in a tfds data_dir of your own (e.g. on Google Drive):
    python -m launch.sweep --config=configs/article/mnist.py:article --workdir=runs/mnist_article \
        --config.data.path=/content/drive/MyDrive/tensorflow_datasets
    python -m launch.report --workdir=runs/mnist_article

MNIST comes from tensorflow-datasets (`data.source="tfds"`), which downloads it on first use (into
its default data_dir, or the one given by --config.data.path=DIR). It cannot run offline, as on the
machine these configs were written on: run it on Colab or any machine online. Runtime not measured
on MNIST. Estimate from Fashion-MNIST (same image shape, same sizes): the same 42-run grid on
Fashion-MNIST (`test_error_vs_alpha.py:reduced`) took 54 min with --workers=1 --threads=1 on a
2-core CPU shared with other work (27-150 s per run, all converged); MNIST needs a different number
of steps, so take it as the order of magnitude. `:article` is not measured: at P = 10,000, h = 100,
float64 a gradient-flow step took about 1-2 s here, and a run takes thousands of steps: hours per
run on a CPU.
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import pick

FIGURES = ("test_error_vs_alpha",)
SCALES = ("reduced", "article")


def _half_decades(low, high):
    """alpha*sqrt(h) from 10^low to 10^high in half decades (4 significant digits)."""
    return tuple(float(f"{10 ** (k / 2):.4g}") for k in range(2 * low, 2 * high + 1))


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.data.source, config.data.name, config.data.path = "tfds", "mnist", ""  # path: tfds data_dir
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 5000), article=(10_000, 50_000))
    config.dtype = pick(scale, reduced="float32", article="float64")
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.num_records = 80
    return config


def get_sweep(scale="reduced"):
    widths, ash, seeds = pick(
        scale,
        reduced=((25, 50, 100), tuple(10.0 ** k for k in range(-3, 4)), (0, 1)),
        article=((100, 300, 1000), _half_decades(-4, 7), tuple(range(20))),
    )
    return sweep.product(sweep.axis("seed", seeds), sweep.axis("model.width", widths),
                         sweep.axis("alpha_sqrt_h", ash))
