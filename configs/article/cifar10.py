"""Article, figure "MNIST / CIFAR10" (CIFAR10 panels): gradient flow vs Adam, test error vs alpha*sqrt(h).

A fully connected net on CIFAR10 parity (airplane, bird, deer, frog, ship vs automobile, cat, dog,
horse, truck: the class index is even or odd), 32 x 32 x 3 inputs, h = 100, P = 10,000, trained two
ways at every alpha*sqrt(h):
- plain gradient flow, setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20, until
  every training margin reaches 1);
- Adam (minibatches of 32, learning rate 1e-3) on the hinge loss, until every training margin
  reaches 1 (the authors' `main_adam.py`), without the frozen-kernel predictors (see `DYNAMICS`).
It shows whether the lazy/feature picture of the gradient flow (the crossover near alpha*sqrt(h) ~
1-10, lazy as good as or better than feature for FC nets) survives a practical optimizer.

Scales (append to the file name):
- `:reduced` (default): P = 1000, 5000 test points, h = 100, alpha*sqrt(h) = 1e-3 ... 1e3 in
  decades, 2 seeds, both dynamics, float32: 28 runs.
- `:article`: P = 10,000, 50,000 test points (the whole balanced pool of 60,000 images), h = 100,
  alpha*sqrt(h) = 1e-4 ... 1e7 in half decades, 10 seeds, both dynamics, float64: 460 runs, for
  accelerators.

    python -m launch.sweep --config=configs/article/cifar10.py --workdir=runs/cifar10
    python -m launch.report --workdir=runs/cifar10
    # the article's sizes, with the datasets in a tfds data_dir of your own (e.g. on Google Drive):
    python -m launch.sweep --config=configs/article/cifar10.py:article --workdir=runs/cifar10_article \
        --config.data.path=/content/drive/MyDrive/tensorflow_datasets
    python -m launch.report --workdir=runs/cifar10_article

CIFAR10 comes from tensorflow-datasets (`data.source="tfds"`), which downloads it on first use
(about 160 MB, into its default data_dir or the one given by --config.data.path=DIR). It cannot
run offline, as on the machine these configs were written on: run it on Colab or any machine
online. Runtime not measured on CIFAR10. Estimate from Fashion-MNIST: the `:reduced` grid's seed 0
on Fashion-MNIST (784 inputs; P, h and the dynamics as here) took 12 min with --workers=1
--threads=1 on a 2-core CPU shared with other work, 32-95 s per run (Adam 530 to 18,700 steps,
more in the feature regime; gradient flow 1700 to 3600). With 3072 inputs the first layer costs 4x
more, and CIFAR10 needs another number of steps: expect of the order of an hour for the 28 runs.
`:article` is not measured: at P = 10,000, h = 100, float64 a gradient-flow step took about 1-2 s
here on Fashion-MNIST, and a run takes thousands of steps: hours per run on a CPU.
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import decades, half_decades, pick

FIGURES = ("test_error_vs_alpha", "gradient_flow_vs_adam")
SCALES = ("reduced", "article")
DYNAMICS = [  # the swept dynamics, each with its loss
    {"dynamics.kind": "gradient_flow", "loss.name": "soft_hinge", "kernels.predictors": True},
    # The frozen-kernel predictors follow the adaptive gradient flow on the run's loss, which crawls on
    # the hinge (its gradient jumps as margins cross 1): at P = 1000 it reached t = 2 in 100,000 steps
    # with 15.6% test error, against 5.2% converged on the soft hinge. Off for Adam.
    {"dynamics.kind": "adam", "loss.name": "hinge", "kernels.predictors": False},
]



def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.model.width = 100
    config.data.source, config.data.name, config.data.path = "tfds", "cifar10", ""  # path: tfds data_dir
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 5000), article=(10_000, 50_000))
    config.dtype = pick(scale, reduced="float32", article="float64")
    config.dynamics.learning_rate = 1e-3  # Adam's (the gradient flow ignores it)
    config.dynamics.batch_size = 32  # Adam's
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.num_records = 80
    return config


def get_sweep(scale="reduced"):
    ash, seeds = pick(
        scale,
        reduced=(decades(-3, 3), (0, 1)),
        article=(half_decades(-4, 7), tuple(range(10))),
    )
    return sweep.product(sweep.axis("seed", seeds), DYNAMICS, sweep.axis("alpha_sqrt_h", ash))
