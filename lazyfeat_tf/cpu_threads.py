"""TensorFlow's CPU threads for training runs: one intra-op thread per row block's share of the cores.

On CPUs the gradient flow differentiates the training set as `ROW_BLOCKS` blocks of rows
(`dynamics.NetworkSystem`), independent graphs that TensorFlow's inter-op threads run at once, one
block per core on 2 cores. TensorFlow's default also gives every op as many intra-op threads as
cores: each block's products then split again over the cores the other block is using, and the
threads wait on one another. `pools(cores)` gives each block its share of the cores instead:
`cores // ROW_BLOCKS` intra-op threads (at least 1) and `cores` inter-op threads.

Measured here (2 cores, `python benchmarks/train_step.py --modes=tf.function --quick`, ms per
proposal, n = 1000, TensorFlow's default -> `pools(2)` = (1, 2)): float32 h = 16, 64, 256, 1024:
0.77 -> 0.76, 2.25 -> 1.97, 11.1 -> 10.3, 94 -> 85; float64: 2.52 -> 1.42, 6.44 -> 4.36,
29.2 -> 23.8, 200 -> 191. The demo run (configs/demo.py, kernel tracking off) took 6.3-8.2 instead
of 6.9-9.0 s.

The entry points (`launch.*`) call `configure()` right after importing TensorFlow; a sweep's workers
get the same pools through `environment(threads)` (`sweep.executors.thread_env`). A notebook on a
CPU may call `configure()` before its first TensorFlow op. This module imports TensorFlow only
inside `configure` and `set_pools`.
"""

import os

ROW_BLOCKS = 2
"""Row blocks of the gradient flow's training set on CPUs (`dynamics.default_blocks`)."""

VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
"""TensorFlow's environment variables for its two pools (read when its runtime starts)."""


def cores():
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pools(cores):
    """(intra-op threads, inter-op threads) of a training process on `cores` CPUs (an int >= 1)."""
    if not isinstance(cores, int) or isinstance(cores, bool) or cores < 1:
        raise ValueError(f"cores must be an int >= 1, received {cores!r}")
    return max(1, cores // ROW_BLOCKS), cores


def environment(threads):
    """`VARIABLES` for a process given `threads` CPUs: {"TF_NUM_INTRAOP_THREADS": ..., ...}."""
    return dict(zip(VARIABLES, map(str, pools(threads))))


def configure():
    """Set TensorFlow's pools to `pools(cores())` for this process, unless a GPU or a TPU is visible
    (one block, `dynamics.default_blocks`: TensorFlow's default suits it), `VARIABLES` are set (the
    user's or a sweep worker's choice), or TensorFlow's runtime has started with other pools (they
    are fixed then). Returns the (intra, inter) threads in place, or None when it left them alone."""
    import tensorflow as tf

    if any(os.environ.get(name) for name in VARIABLES) or any(
            tf.config.list_physical_devices(kind) for kind in ("GPU", "TPU")):
        return None
    intra, inter = pools(cores())
    try:
        set_pools(intra, inter)
    except RuntimeError:  # "cannot be modified after initialization"
        return None
    return intra, inter


def set_pools(intra, inter):
    """Give TensorFlow `intra` intra-op and `inter` inter-op threads (before its runtime starts;
    RuntimeError after)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
