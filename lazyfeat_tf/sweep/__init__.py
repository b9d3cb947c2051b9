"""Sweeps: a grid of runs declared in a config file, trained by a local process pool or on Ray.

Declaring a sweep (big_vision style: the grid lives in the config file, next to `get_config`):

    # configs/my_sweep.py
    from lazyfeat_tf import sweep
    from lazyfeat_tf.config import base_config

    def get_config():  # the base run config, shared by every point of the grid
        config = base_config()
        config.data.n_train = 1000
        return config

    def get_sweep():  # the grid: a list of {dotted config key: value} override dicts
        return sweep.product(
            sweep.axis("model.width", [32, 128]),
            sweep.axis("alpha_sqrt_h", [0.01, 1.0, 100.0]),
            sweep.axis("seed", [0, 1]),
        )

`get_sweep()` returns a plain list of dicts; `axis`, `product` and `chain` are conveniences (a list
comprehension is fine too). Setting `alpha` or `alpha_sqrt_h` in a point clears the other, so every
point has exactly one. Command-line overrides of the launcher (`--config.data.n_train=500`) change
the base config; the grid's values win over them.

    python -m launch.sweep --config=configs/my_sweep.py --workdir=DIR [--executor=local|ray]
        [--workers=N] [--ray_address=HOST:PORT] [--max_retries=2]

Importing this package does not import TensorFlow (config files import it). Its modules:
- `grid`: declaring a grid, loading it from a config file, expanding it into named runs;
- `executors`: the `local` process pool and the `ray` executor, and the task they run;
- `runner`: `run_sweep` (lock, retries, progress, the events and failures files, summary) and the
  layout of the sweep directory DIR (`runs/<name>/`, `logs/`, `sweep.json`, `sweep.jsonl`,
  `failures.json`);
- `crossover`: the crossover finder, alpha*(h) by bisection over the sweep's runs
  (`python -m launch.crossover`).
"""

from lazyfeat_tf.cpu_threads import cores
from lazyfeat_tf.sweep.grid import (SweepError, axis, chain, expand, load_config_module, load_figures, load_sweep,
                                    product, run_name, seeds_widths_ash, short_keys)
from lazyfeat_tf.sweep.runner import DEFAULT_TRAIN_FN, run_sweep

__all__ = ["DEFAULT_TRAIN_FN", "SweepError", "axis", "chain", "cores", "expand", "load_config_module",
           "load_figures", "load_sweep", "product", "run_name", "run_sweep", "seeds_widths_ash", "short_keys"]
