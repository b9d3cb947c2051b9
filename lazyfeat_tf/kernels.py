"""The empirical tangent kernel under its first name: `lazyfeat_tf.kernels.empirical_ntk` keeps
working for users' code. The kernel code lives in `lazyfeat_tf.ntk` (see its docstring)."""

from lazyfeat_tf.ntk.empirical import METHODS, Method, empirical_ntk, resolve_method, supports_structured

__all__ = ["METHODS", "Method", "empirical_ntk", "resolve_method", "supports_structured"]
