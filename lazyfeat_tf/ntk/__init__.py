"""The empirical neural tangent kernel and what is measured with it.

- `empirical`: `empirical_ntk(model, x1, x2=None, method=..., per_layer=...)`, the `[n1, n2]`
  kernel Theta of the raw output f (structured derivatives or a generic Jacobian contraction);
- `structured`: the structured method (operands of a set of points, kernels by blocks of them,
  `first_layer_gram` for points whose kernel is computed again and again);
- `metrics`: drift, kernel-label alignment, top eigenvalues, effective rank of a kernel;
- `tracker`: `KernelTracker`, those metrics on fixed train/test probes along training;
- `predictor`: `FrozenKernelPredictor`, the linear model on a frozen Theta trained with the run's
  loss and gradient flow (the lazy baseline);
- `full_drift`: `full_set_drift(model, x)`, the drift of the kernel of a whole set, by blocks of
  rows (`initial_parameters(model)` puts the initial weights in place for a while);
- `running`: `RunningMoments`, when the running-kernel predictors are trained (fractions of the
  loss drop) and what they found;
- `observer`: `KernelObserver`, what a training run measures at its records and at its end.

Reference:
    Geiger, Spigler, Jacot & Wyart (2020), "Disentangling feature and lazy training in deep neural
    networks", J. Stat. Mech. 113301, arXiv:1906.08034.
"""

from lazyfeat_tf.ntk.empirical import METHODS, Method, empirical_ntk, resolve_method, supports_structured
from lazyfeat_tf.ntk.full_drift import full_set_drift, initial_parameters
from lazyfeat_tf.ntk.metrics import effective_rank, kernel_alignment, relative_drift, top_eigenvalues
from lazyfeat_tf.ntk.observer import KernelObserver, predictor_options
from lazyfeat_tf.ntk.predictor import FrozenKernelPredictor, KernelSystem
from lazyfeat_tf.ntk.running import RunningMoments
from lazyfeat_tf.ntk.structured import first_layer_gram
from lazyfeat_tf.ntk.tracker import TOTAL, KernelTracker

__all__ = [
    "METHODS", "Method", "empirical_ntk", "first_layer_gram", "resolve_method", "supports_structured",
    "full_set_drift",
    "initial_parameters", "RunningMoments",
    "effective_rank", "kernel_alignment", "relative_drift", "top_eigenvalues",
    "KernelObserver", "predictor_options", "FrozenKernelPredictor", "KernelSystem", "TOTAL", "KernelTracker",
]
