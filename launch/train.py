"""Train one network: `python -m launch.train --config=configs/fc_softplus.py --workdir=DIR`.

Override any config field on the command line, e.g.
`--config.alpha_sqrt_h=0.01 --config.model.width=64 --config.data.n_train=1000`.
Running the same command again on the same workdir resumes an interrupted run and does not redo a
finished one.
"""

from absl import app, flags
from ml_collections import config_flags

from launch.common import import_tensorflow_quietly, parse_flags, run_or_exit
_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to an ml_collections config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (created; resumed if it holds this run).")


def main(argv):
    del argv  # parse_flags refuses positional arguments
    from lazyfeat_tf import preflight

    spec = run_or_exit(preflight.check_run, _CONFIG.value, _WORKDIR.value)  # every check, before TensorFlow
    import_tensorflow_quietly()
    from lazyfeat_tf import train

    run_or_exit(train.train_and_evaluate, spec, _WORKDIR.value)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main, flags_parser=parse_flags)
