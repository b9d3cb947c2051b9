"""What every entry point shares: one-line errors for bad input and a quiet TensorFlow start-up.

Flags are parsed and config files loaded without TensorFlow (`lazyfeat_tf.config` is a leaf of the
package); an entry point checks its inputs, then imports TensorFlow with `import_tensorflow_quietly`
and does the work.
"""

import contextlib
import gc
import os
import re
import sys
import tempfile

from absl import flags, logging

from lazyfeat_tf import compilation_cache, cpu_threads
from lazyfeat_tf.errors import UserError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TENSORFLOW_STARTUP_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]"
    r"|To enable the following instructions:)"
)
"""Log lines TensorFlow's C++ libraries write to stderr when imported, whatever TF_CPP_MIN_LOG_LEVEL
says (TF 2.21: oneDNN, CUDA and CPU-feature notices)."""


def run_or_exit(fn, *args, **kwargs):
    """Call `fn(*args, **kwargs)`; a user error (bad config, data or workdir) becomes one line on stderr
    and exit 2, Ctrl-C one line and exit 130 (runs resume from their last checkpoint)."""
    try:
        return fn(*args, **kwargs)
    except UserError as error:
        fail(error)
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr, flush=True)
        sys.exit(130)


@contextlib.contextmanager
def _without_tensorflow_startup_lines():
    """Holds back what is written to file descriptor 2 inside the block and then writes it out
    without the `TENSORFLOW_STARTUP_LINE`s (everything else, e.g. a usage error, is kept)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode(errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not TENSORFLOW_STARTUP_LINE.match(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def import_tensorflow_quietly():
    """Import TensorFlow without its start-up log lines on stderr (TF 2.21 writes them before its
    logging is initialized, whatever TF_CPP_MIN_LOG_LEVEL says). Entry points call it after parsing
    their flags and checking their inputs, before the work that needs TensorFlow. The persistent
    XLA cache (`lazyfeat_tf.compilation_cache`) is turned on first. The ~350,000 objects the import
    leaves are then moved out of the garbage collector's sight (`gc.freeze`): each full collection
    would walk them all (0.18 s, about once per demo-size run). On CPUs its thread pools get one
    intra-op thread per row block of the gradient flow (`lazyfeat_tf.cpu_threads.configure`)."""
    compilation_cache.enable()
    with _without_tensorflow_startup_lines():
        import tensorflow as tf
    gc.freeze()
    cpu_threads.configure()
    tf.get_logger().setLevel("ERROR")  # e.g. the TPU initialization's INFO lines before a one-line error
    logging.set_verbosity(logging.ERROR)


def fail(message):
    """One line `error: <message>` on stderr and exit 2 (bad input)."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    sys.exit(2)


def _config_file(argv):
    return next((a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")), "")


def _fail_for_config_argument(error, argv):
    """One line and exit 2 when loading the config file failed on its argument (`FILE:ARG`): a
    `UserError` of its `get_config` (e.g. an unknown scale; config_flags re-raises it inside a
    traceback), or a `get_config` that takes no argument. Returns otherwise."""
    chain = []
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    config_file = _config_file(argv)
    user_errors = [e for e in chain if isinstance(e, UserError)]
    if user_errors:  # the last one is the original; config_flags wraps it in a copy with a traceback
        fail(f"--config={config_file}: {user_errors[-1]}")
    path, _, argument = config_file.partition(":")
    if argument and any("get_config() takes 0 positional arguments" in str(e) for e in chain):
        fail(f"--config={config_file}: {path} takes no argument after ':'; use --config={path}")


def parse_flags(argv):
    """absl flag parsing where every bad input is one line on stderr and exit 2: a flag's value, an
    unknown flag or `--config.<key>`, a missing required flag, a config file that is missing, does not
    compile or whose `get_config` raises, and a stray positional argument."""
    try:
        remaining = flags.FLAGS(argv)
        if "config" in flags.FLAGS and flags.FLAGS["config"].value is not None:
            flags.FLAGS["config"].value.to_dict()  # config_flags defers a loading failure to the first use
    except flags.Error as error:
        _fail_for_config_argument(error, argv)
        fail(f"{error} (see --helpshort)")
    except (AttributeError, KeyError) as error:
        while error.args and isinstance(error.args[0], BaseException):  # ml_collections nests a KeyError
            error = error.args[0]
        detail = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)  # no repr
        if "get_config" in detail:
            fail(f"--config={_config_file(argv)} defines no get_config(): see configs/fc_softplus.py")
        overrides = " ".join(a for a in argv[1:] if a.startswith("--config."))
        fail(f"unknown config key in {overrides}: {detail}")
    except Exception as error:  # the config file itself: missing, a syntax error, get_config raising
        _fail_for_config_argument(error, argv)
        path = _config_file(argv)
        if not os.path.isfile(path) and not os.path.isfile(path.rsplit(":", 1)[0]):
            fail(f"--config={path}: no such file; give a config file, e.g. --config=configs/fc_softplus.py")
        first = (str(error).strip().splitlines() or [""])[0]
        fail(f"--config={_config_file(argv)} cannot be loaded ({type(error).__name__}: {first}); "
             "check the file, e.g. python -c \"import runpy; runpy.run_path('FILE')['get_config']()\"")
    if len(remaining) > 1:
        fail(f"unexpected arguments: {' '.join(remaining[1:])}; every input is a --flag (see --helpshort)")
    return remaining
