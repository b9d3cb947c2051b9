"""Article, figure "other" (c): test error vs alpha*sqrt(h) on EMNIST letters, h = 100.

Setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20, plain gradient flow until every
training margin reaches 1) on EMNIST letters parity (a, c, e, ... vs b, d, f, ...: the letter's
index in a..z is even or odd), P = 10,000, one width h = 100. It checks on a third dataset the
article's finding for fully connected nets: lazy training generalizes as well as or better than
feature training, with the crossover near alpha*sqrt(h) ~ 1-10.

Scales (append to the file name):
- `:reduced` (default): P = 1000, 5000 test points, h = 100, alpha*sqrt(h) = 1e-3 ... 1e3 in
  decades, 2 seeds, float32: 14 runs.
- `:article`: P = 10,000, 50,000 test points, h = 100, alpha*sqrt(h) = 1e-4 ... 1e7 in half
  decades, 10 seeds, float64: 230 runs, for accelerators.

    python -m launch.sweep --config=configs/article/emnist.py --workdir=runs/emnist
    python -m launch.report --workdir=runs/emnist
    # the article's sizes, with the datasets in a tfds data_dir of your own (e.g. on Google Drive):
    python -m launch.sweep --config=configs/article/emnist.py:article --workdir=runs/emnist_article \
        --config.data.path=/content/drive/MyDrive/tensorflow_datasets
    python -m launch.report --workdir=runs/emnist_article

EMNIST letters comes from tensorflow-datasets (`data.source="tfds"`, "emnist/letters"), which
downloads it on first use (about 0.5 GB for all of EMNIST, into its default data_dir or the one
given by --config.data.path=DIR). It cannot run offline, as on the machine these configs were
written on: run it on Colab or any machine online. Runtime not measured on EMNIST. Estimate from
Fashion-MNIST (same image shape, same sizes): the same 14 runs on Fashion-MNIST (the h = 100 runs of
`test_error_vs_alpha.py:reduced`) took 18 min in all with --workers=1 --threads=1 on a 2-core CPU
shared with other work (41-150 s per run); EMNIST needs a different number of steps, so take it as
the order of magnitude. `:article` is not measured: at P = 10,000, h = 100, float64 a gradient-flow
step took about 1-2 s here, and a run takes thousands of steps: hours per run on a CPU.
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import decades, half_decades, pick, standard_sizes

FIGURES = ("test_error_vs_alpha",)
SCALES = ("reduced", "article")



def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.model.width = 100
    config.data.source, config.data.name, config.data.path = "tfds", "emnist_letters", ""  # path: tfds data_dir
    standard_sizes(config, scale)
    config.dynamics.num_records = 80
    return config


def get_sweep(scale="reduced"):
    ash, seeds = pick(
        scale,
        reduced=(decades(-3, 3), (0, 1)),
        article=(half_decades(-4, 7), tuple(range(10))),
    )
    return sweep.product(sweep.axis("seed", seeds), sweep.axis("alpha_sqrt_h", ash))
