"""The run spec: one frozen, validated description of a run, resolved once from its config.

Every field of a run config is a field of one of these dataclasses, with its default and its unit;
`lazyfeat_tf.config.base_config()` is built from these defaults, so the schema is written once. A
spec checks its own fields when it is constructed (`__post_init__`) and raises `ConfigError` (or
`DataError` for the `data` block) with a one-line message naming the key, its value and a fix.
Library functions take a spec, or plain arguments taken from one, never a ConfigDict.

Units: the article's (arXiv:1906.08034). The original code used a readout divided by h, a loss
divided by alpha_code and alpha_code = sqrt(h) * alpha; its times map as
t_code / h = t / (sqrt(h) * alpha).
"""

import dataclasses
import math
import numbers

from lazyfeat_tf.config import choices
from lazyfeat_tf.errors import UserError


class ConfigError(UserError):
    """A config value that cannot be run; the message is one line naming the key and value."""


class DataError(UserError):
    """A data config that cannot be run, or data that cannot be had; one line naming the key and a fix."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split()))


def _fail(key, value, why):
    raise ConfigError(f"config.{key}={value!r}: {why}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_int(key, value):
    if not _is_int(value) or value <= 0:
        _fail(key, value, "must be a positive integer")


def check_positive(key, value, allow_zero=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        _fail(key, value, "must be a finite number " + (">= 0" if allow_zero else "> 0"))


def _boolean(key, value):
    if not isinstance(value, bool):
        _fail(key, value, "must be True or False")


def _one_of(key, value, options):
    if value not in options:
        _fail(key, value, f"must be one of {', '.join(options)}")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The network (`lazyfeat_tf.models`): article setup A ("fc") or B ("cnn")."""

    kind: str = "fc"  # "fc" (setup A) or "cnn" (setup B)
    depth: int = 3  # number of hidden layers L (fc only)
    width: int = 64  # h
    activation: str = "softplus"  # "softplus" or "relu" (normalized: E[sigma(z)^2] = 1)
    softplus_beta: float = 5.0
    use_bias: bool = False
    beta: float = 0.0  # bias scale
    # True: F = alpha (f - f0), zero at initialization; False: F = alpha f (the authors' --f0 0)
    centered: bool = True

    def __post_init__(self):
        _one_of("model.kind", self.kind, choices.ARCHITECTURES)
        _boolean("model.centered", self.centered)
        _positive_int("model.width", self.width)
        _positive_int("model.depth", self.depth)
        _one_of("model.activation", self.activation, choices.ACTIVATIONS)
        check_positive("model.softplus_beta", self.softplus_beta)
        check_positive("model.beta", self.beta, allow_zero=True)


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """The binary task (`lazyfeat_tf.data`): Fashion-MNIST from Debian's IDX files by default."""

    name: str = "fashion_mnist"  # one of choices.DATASETS
    source: str = "idx"  # one of choices.DATA_SOURCES
    path: str = "/usr/share/datasets/fashion-mnist"  # idx: directory of IDX files; tfds: data_dir
    n_train: int = 1000  # P, the training points
    n_test: int = 1000
    seed: int = 0  # the data seed: class subsampling, order, synthetic points
    pca: int = 0  # 0 = no PCA, else number of principal components kept
    whiten: bool = False  # with pca > 0: unit variance per component
    dim: int = 16  # input dimension of the synthetic task only

    @property
    def input_dim(self):
        """d, the number of input values before PCA (784, 3072 or `dim`)."""
        return self.dim if self.name == "synthetic" else math.prod(choices.IMAGE_SHAPES[self.name])

    def __post_init__(self):
        name, source = self.name, self.source
        if name not in choices.DATASETS:
            raise DataError(f"data.name={name!r} is not one of {', '.join(map(repr, choices.DATASETS))}; "
                            "set --config.data.name to one of them")
        if source not in choices.DATA_SOURCES:
            raise DataError(f"data.source={source!r} is not one of "
                            f"{', '.join(map(repr, choices.DATA_SOURCES))}; set --config.data.source to one of them")
        if source not in choices.SOURCES_OF[name]:
            raise DataError(f"data.source={source!r} cannot provide data.name={name!r}; "
                            f"use --config.data.source={choices.SOURCES_OF[name][0]}")
        for key in ("n_train", "n_test"):
            value = getattr(self, key)
            if not _is_int(value) or value <= 0:
                raise DataError(f"data.{key}={value!r} must be an integer > 0; set --config.data.{key}")
        if not _is_int(self.seed) or self.seed < 0:
            raise DataError(f"data.seed={self.seed!r} must be an integer >= 0; set --config.data.seed")
        if name == "synthetic" and (not _is_int(self.dim) or self.dim <= 0):
            raise DataError(f"data.dim={self.dim!r} must be an integer > 0 for the synthetic task; "
                            "set --config.data.dim")
        self._check_pca()

    def _check_pca(self):
        d, pca = self.input_dim, self.pca
        if not _is_int(pca) or not 0 <= pca <= d:
            raise DataError(f"data.pca={pca!r} must be an integer in [0, {d}] for {self.name} "
                            "(0 = no PCA); set --config.data.pca")
        if self.whiten and pca == 0:
            raise DataError("data.whiten=True needs data.pca > 0 (whitening acts on principal "
                            "components); set --config.data.pca or --config.data.whiten=False")
        if self.whiten and pca >= self.n_train:
            raise DataError(f"data.pca={pca} with data.whiten=True needs data.pca < "
                            f"data.n_train={self.n_train} (only n_train - 1 components have nonzero "
                            "variance); lower --config.data.pca")


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """The loss l of L = 1/(alpha^2 n) sum_mu l(F(x_mu) y_mu) (`lazyfeat_tf.losses`)."""

    name: str = "soft_hinge"  # "hinge", "soft_hinge" or "quadratic_hinge"
    soft_hinge_beta: float = 20.0  # b of the soft hinge softplus_b(1 - z)

    def __post_init__(self):
        _one_of("loss.name", self.name, choices.LOSSES)
        check_positive("loss.soft_hinge_beta", self.soft_hinge_beta)


@dataclasses.dataclass(frozen=True)
class DynamicsSpec:
    """The training dynamics (`lazyfeat_tf.dynamics`, `lazyfeat_tf.stochastic`); times in article units."""

    kind: str = "gradient_flow"  # or "sgd" (minibatch, momentum) or "adam"
    max_dout: float = 0.1  # gradient flow: bound on max |dF| per step
    max_dgrad: float = 1e-4  # gradient flow: bound on ||dg||^2 / (||g|| ||g'||)
    tau: float = 0.0  # gradient flow: momentum time constant (0 = none)
    dt0: float = 1.0  # gradient flow: first time step
    learning_rate: float = 0.1  # sgd/adam: the optimizer's learning rate (scaled by step_crossover's rule)
    momentum: float = 0.9  # sgd
    batch_size: int = 32  # sgd/adam
    # sgd/adam: the alpha*sqrt(h) c where the step rule of lazyfeat_tf.stochastic.step_rule turns.
    # 0 = no rule: the learning rate is learning_rate at every alpha and t = step * learning_rate.
    # c > 0, sgd: lr = learning_rate * min(1, alpha*sqrt(h) / c) and t advances by lr / (1 - momentum)
    # per step (article time units); adam: lr = learning_rate * min(1, c / (alpha*sqrt(h))).
    step_crossover: float = 0.0
    max_steps: int = 100_000  # budget of accepted steps
    max_time: float = 1e12  # budget of physical time t
    max_wall_time: float = 0.0  # budget in seconds (0 = none)
    num_records: int = 80  # log-spaced record steps between 0 and max_steps
    # compile the step loop with XLA; off: on CPUs whole runs took 1.1-1.9x longer with it, compilation
    # included (python benchmarks/train_step.py --whole-runs)
    jit_compile: bool = False
    # gradient flow: tell jumps of the gradient (a ReLU unit switching for a training point) from its
    # smooth change, so that the flow crosses kinks instead of stalling on them (lazyfeat_tf.dynamics,
    # rule 4); for ReLU networks
    cross_kinks: bool = False

    def __post_init__(self):
        _one_of("dynamics.kind", self.kind, choices.DYNAMICS)
        _boolean("dynamics.cross_kinks", self.cross_kinks)
        for key in ("max_dout", "max_dgrad", "dt0", "learning_rate", "max_time"):
            check_positive(f"dynamics.{key}", getattr(self, key))
        for key in ("tau", "max_wall_time", "step_crossover"):
            check_positive(f"dynamics.{key}", getattr(self, key), allow_zero=True)
        if not isinstance(self.momentum, numbers.Real) or not 0 <= self.momentum < 1:
            _fail("dynamics.momentum", self.momentum, "must be in [0, 1)")
        for key in ("batch_size", "max_steps", "num_records"):
            _positive_int(f"dynamics.{key}", getattr(self, key))


@dataclasses.dataclass(frozen=True)
class KernelsSpec:
    """Kernel measurements during training (`lazyfeat_tf.ntk.KernelObserver`)."""

    track: bool = True  # measure the kernel at every record
    n_probe_train: int = 128  # train probes (the first points of the training set)
    n_probe_test: int = 128  # test probes
    n_eigenvalues: int = 10
    heatmap_size: int = 16
    method: str = "auto"  # "auto", "structured" or "jacobian" (see lazyfeat_tf.ntk.empirical_ntk)
    predictors: bool = True  # frozen-kernel predictors on Theta_0 and Theta_T (full train set)
    save: bool = True  # initial and final probe kernels to kernels.npz
    # ||Theta_T - Theta_0|| / ||Theta_0|| on the whole train and test sets at the end (by blocks)
    full_drift: bool = True
    # Running-kernel predictors: fractions f in [0, 1] of the drop of the unscaled loss alpha^2 L;
    # at the first record with alpha^2 L <= (1 - f) alpha^2 L_0 (f = 1: at the end of training) the
    # frozen-Theta_t predictor is trained; () = none (lazyfeat_tf.ntk.running)
    running_fractions: tuple = ()

    def __post_init__(self):
        for key in ("n_probe_train", "n_probe_test", "n_eigenvalues", "heatmap_size"):
            _positive_int(f"kernels.{key}", getattr(self, key))
        _one_of("kernels.method", self.method, choices.KERNEL_METHODS)
        _boolean("kernels.full_drift", self.full_drift)
        fractions = self.running_fractions
        if not isinstance(fractions, (list, tuple)) or not all(
                isinstance(f, numbers.Real) and not isinstance(f, bool) and 0 <= f <= 1 for f in fractions):
            _fail("kernels.running_fractions", fractions, "must be a list of numbers in [0, 1], e.g. (0.5, 1.0)")
        object.__setattr__(self, "running_fractions", tuple(sorted(float(f) for f in set(fractions))))


SECTIONS = {"model": ModelSpec, "data": DataSpec, "loss": LossSpec, "dynamics": DynamicsSpec,
            "kernels": KernelsSpec}
"""The config's blocks, in the order they are validated."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run: the output scale, the seed, the precision, where it runs, and its blocks.

    `alpha` and `alpha_sqrt_h` are both filled in (the config gives exactly one of them).
    """

    alpha: float  # the output scale of F = alpha (f - f0)
    alpha_sqrt_h: float  # the control parameter alpha * sqrt(h): >> 1 lazy, << 1 feature
    seed: int = 0  # initialization seed
    dtype: str = "float32"  # or "float64" (the original code ran in float64)
    # Where the run executes: "auto", "tpu", "gpu" or "cpu" (see lazyfeat_tf.accelerators). Not part
    # of a run's identity: a run started on one accelerator resumes on another.
    distribute: str = "auto"
    model: ModelSpec = dataclasses.field(default_factory=ModelSpec)
    data: DataSpec = dataclasses.field(default_factory=DataSpec)
    loss: LossSpec = dataclasses.field(default_factory=LossSpec)
    dynamics: DynamicsSpec = dataclasses.field(default_factory=DynamicsSpec)
    kernels: KernelsSpec = dataclasses.field(default_factory=KernelsSpec)
    checkpoint_every_secs: float = 10.0  # at most one checkpoint this often (and always at the end)

    def __post_init__(self):
        check_positive("alpha", self.alpha)
        if not _is_int(self.seed) or self.seed < 0:
            _fail("seed", self.seed, "must be an integer >= 0")
        _one_of("dtype", self.dtype, choices.DTYPES)
        _one_of("distribute", self.distribute, choices.DISTRIBUTE)
        check_positive("checkpoint_every_secs", self.checkpoint_every_secs, allow_zero=True)
        if self.model.kind == "cnn" and (self.data.pca or self.data.name == "synthetic"):
            _fail("model.kind", "cnn", "needs image inputs: use data.pca=0 and an image dataset")
        if self.dynamics.kind != "gradient_flow" and self.dynamics.batch_size > self.data.n_train:
            _fail("dynamics.batch_size", self.dynamics.batch_size, f"exceeds data.n_train={self.data.n_train}")

    @property
    def width(self):
        """h, the width of the network."""
        return self.model.width

    def to_json(self):
        """The run's identity as written to config.json: every field but `distribute`."""
        resolved = dataclasses.asdict(self)
        resolved.pop("distribute")
        resolved["kernels"]["running_fractions"] = list(self.kernels.running_fractions)  # as JSON reads it
        return resolved
