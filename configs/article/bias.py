"""Article, figure "bias": hidden layers with biases (beta = 0.1) against none.

Setup A (FC, L = 3, Softplus beta = 5, soft hinge b = 20, plain gradient flow until every training
margin reaches 1), Fashion-MNIST parity, without biases (the article's default) and with biases
z^l = sigma(W^l z^(l-1) / sqrt(n) + beta b^l), b^l ~ N(0, 1), beta = 0.1 (`model.use_bias=True,
model.beta=0.1`). The article compares the two test-error curves vs alpha*sqrt(h) at h = 100.

Scales (append to the file name):
- `:reduced` (default): P = 1000, 5000 test points, h = 100, alpha*sqrt(h) = 1e-3 ... 1e3 in
  decades, 2 seeds, float32: 28 runs.
- `:article`: P = 10,000 and 50,000 test points, h = 100, alpha*sqrt(h) = 1e-4 ... 1e7 in half
  decades, 10 seeds, float64: 460 runs, out of reach of a CPU.

    python -m launch.sweep --config=configs/article/bias.py --workdir=runs/article/bias --workers=1 --threads=1
    python -m launch.report --workdir=runs/article/bias

The report draws the two variants as two families (config.json differs in model.use_bias and model.beta).

Measured here (reduced): the 28 runs' own wall times add up to 12 min (17-46 s each; 1 worker x 1
thread on the shared 2-core CPU, load average 5-10, in two invocations), all converged. The bias
lowers the error by 0.1-0.3 points from alpha*sqrt(h) = 0.01 on (4.30% vs 4.63% at 0.01, 4.99% vs
5.13% at 1000) and changes nothing at 1e-3 (docs/REPRODUCTION.md).
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import decades, half_decades, pick, standard_sizes

FIGURES = ("bias",)
SCALES = ("reduced", "article")
VARIANTS = ({"model.use_bias": False, "model.beta": 0.0}, {"model.use_bias": True, "model.beta": 0.1})


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    standard_sizes(config, scale)
    config.dynamics.num_records = 40
    config.kernels.predictors = False
    return config


def get_sweep(scale="reduced"):
    widths, ash, seeds = pick(
        scale,
        reduced=((100,), decades(-3, 3), (0, 1)),
        article=((100,), half_decades(-4, 7), tuple(range(10))),
    )
    return sweep.seeds_widths_ash(seeds, widths, ash, list(VARIANTS))
