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
from lazyfeat_tf.config.scales import decades, half_decades, pick, standard_sizes

FIGURES = ("test_error_vs_alpha",)
SCALES = ("reduced", "article")



def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.data.source, config.data.name, config.data.path = "tfds", "mnist", ""  # path: tfds data_dir
    standard_sizes(config, scale)
    config.dynamics.num_records = 80
    return config


def get_sweep(scale="reduced"):
    widths, ash, seeds = pick(
        scale,
        reduced=((25, 50, 100), decades(-3, 3), (0, 1)),
        article=((100, 300, 1000), half_decades(-4, 7), tuple(range(20))),
    )
    return sweep.seeds_widths_ash(seeds, widths, ash)
