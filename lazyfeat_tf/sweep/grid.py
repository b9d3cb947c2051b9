"""Declaring a sweep's grid and expanding it into runs (no training, no TensorFlow).

A grid is a list of {dotted config key: value} override dicts; `axis`, `product` and `chain` build
one, `load_sweep` reads it from a config file's `get_sweep()`, `expand` turns it into `SweepRun`s
with their names and full configs.
"""

import collections
import copy
import importlib.util
import itertools
import os

from lazyfeat_tf import config as config_lib
from lazyfeat_tf.errors import UserError



class SweepError(UserError):
    """A sweep declaration or sweep directory that cannot be used; the message is one line."""


# ----------------------------------------------------------------------------------------------
# Declaring grids


def axis(key, values):
    """One swept key: `[{key: v} for v in values]`."""
    values = list(values)
    if not values:
        raise SweepError(f"sweep axis {key!r} has no values")
    return [{key: value} for value in values]


def product(*grids):
    """Cartesian product of grids (lists of override dicts); the first grid varies slowest."""
    points = []
    for combination in itertools.product(*grids):
        point = {}
        for part in combination:
            overlap = set(point) & set(part)
            if overlap:
                raise SweepError(f"sweep.product: key {sorted(overlap)[0]!r} is swept by two grids")
            point.update(part)
        points.append(point)
    return points


def chain(*grids):
    """The points of several grids one after the other."""
    return [point for grid in grids for point in grid]


def seeds_widths_ash(seeds, widths, ash, *outer):
    """The grid of most article configs: `product(*outer, seed, model.width, alpha_sqrt_h)`, the
    `outer` grids slowest, then the seeds (a sweep stopped early has whole seeds)."""
    return product(*outer, axis("seed", seeds), axis("model.width", widths), axis("alpha_sqrt_h", ash))


def split_config_file(config_file):
    """(path, args) of a `--config` value as config_flags splits it: "f.py:article" gives
    ("f.py", ("article",)), "f.py" gives ("f.py", ())."""
    path, *args = config_file.split(":", 1)
    return path, tuple(args)


def load_config_module(config_file):
    """The config file of `config_file` ("path" or "path:arg") imported as a module (what
    `config_flags` does with it)."""
    path, _ = split_config_file(config_file)
    if not os.path.isfile(path):
        raise SweepError(f"--config={config_file!r}: no such file")
    name = "_lazyfeat_config_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call_config_function(config_file, name, default=None):
    """`name(*args)` of the config file `config_file` ("path:arg" passes "arg", as to `get_config`),
    or `default` when the file defines no such function."""
    module = load_config_module(config_file)
    function = getattr(module, name, None)
    if not callable(function):
        return default
    return function(*split_config_file(config_file)[1])


def load_sweep(config_file):
    """The points of `get_sweep()` in the config file `config_file` (a list of dicts)."""
    points = call_config_function(config_file, "get_sweep")
    if points is None:
        raise SweepError(f"--config={config_file!r} defines no get_sweep(): declare the grid there "
                         "(see lazyfeat_tf/sweep/__init__.py)")
    return points


def load_figures(config_file):
    """The article figures the config file declares (its `FIGURES`, names registered in
    `lazyfeat_tf.report.article`), as a tuple; () when it declares none. Raises SweepError for a
    name that is not registered."""
    from lazyfeat_tf.report.article import unknown_figure  # numpy only: no TensorFlow, no matplotlib

    figures = getattr(load_config_module(config_file), "FIGURES", ())
    if isinstance(figures, str) or not all(isinstance(f, str) for f in figures):
        raise SweepError(f"--config={config_file!r}: FIGURES must be a tuple of figure names, got {figures!r}")
    unknown = unknown_figure(figures)
    if unknown:
        raise SweepError(f"--config={config_file!r}: FIGURES names an {unknown}")
    return tuple(figures)


# ----------------------------------------------------------------------------------------------
# Expanding a grid into runs


class SweepRun:
    """One point of a sweep: its directory name, its overrides and its full run config."""

    def __init__(self, name, overrides, config):
        self.name, self.overrides, self.config = name, overrides, config

    def __repr__(self):
        return f"SweepRun({self.name!r})"


def _plain(value):
    """numpy scalars to Python numbers (ConfigDict and JSON want those)."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    return value


def apply_overrides(config, overrides):
    """A copy of `config` with `overrides` ({dotted key: value}) set; raises SweepError.

    Setting `alpha` or `alpha_sqrt_h` clears the other one (a run has exactly one).
    """
    config = copy.deepcopy(config)
    for key, value in overrides.items():
        *parents, last = key.split(".")
        node = config
        try:
            for part in parents:
                node = node[part]
            node[last]  # noqa: B018 - the key must exist
        except (KeyError, AttributeError, TypeError):
            raise SweepError(f"sweep point {overrides}: the config has no field {key!r}") from None
        try:
            if not parents and last in config_lib.SCALE_KEYS:
                config_lib.set_scale(node, last, _plain(value))
            else:
                node[last] = _plain(value)
        except (TypeError, ValueError) as error:
            raise SweepError(f"sweep point {overrides}: cannot set {key}={value!r} "
                             f"({str(error).splitlines()[0]})") from None
    return config


def format_value(value):
    """A value as it appears in a run name: floats with 4 significant digits."""
    value = _plain(value)
    if isinstance(value, bool) or value is None:
        text = str(value).lower()
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return text.replace(os.sep, "_").replace(" ", "")


def short_keys(points):
    """{dotted key: name used in run names}: the last component unless two keys share it."""
    keys = list(dict.fromkeys(key for point in points for key in point))
    lasts = collections.Counter(key.rsplit(".", 1)[-1] for key in keys)
    return {key: key.rsplit(".", 1)[-1] if lasts[key.rsplit(".", 1)[-1]] == 1 else key for key in keys}


def run_name(overrides, names=None):
    """Directory name of a point: `key=value` pairs joined by commas, in the point's order."""
    names = names or short_keys([overrides])
    if not overrides:
        return "base"
    return ",".join(f"{names[key]}={format_value(value)}" for key, value in overrides.items())


def expand(config, points):
    """The `SweepRun`s of `points` on the base `config`; raises SweepError on a bad grid."""
    if not isinstance(points, (list, tuple)) or not all(isinstance(p, dict) for p in points):
        raise SweepError(f"get_sweep() must return a list of dicts, got {type(points).__name__}")
    if not points:
        raise SweepError("get_sweep() returned no points")
    names = short_keys(points)
    runs, seen = [], {}
    for point in points:
        point = {str(k): _plain(v) for k, v in point.items()}
        name = run_name(point, names)
        if name in seen:
            raise SweepError(f"sweep points {seen[name]} and {point} have the same run name {name!r}; "
                             "make them differ in the first 4 significant digits")
        seen[name] = point
        runs.append(SweepRun(name, point, apply_overrides(config, point)))
    return runs
