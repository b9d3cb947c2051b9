"""What every entry point shares: quiet TensorFlow start-up and one-line errors for bad input."""

import os
import sys

from absl import app

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

USER_ERRORS = (ValueError, FileNotFoundError)


def run_or_exit(fn, *args):
    """Call `fn(*args)`; a user error (bad config, data or workdir) becomes one line on stderr and exit 2."""
    try:
        return fn(*args)
    except USER_ERRORS as error:
        if not type(error).__module__.startswith("lazyfeat_tf"):
            raise
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)


def parse_flags(argv):
    """absl flag parsing where an unknown `--config.<key>` is one line on stderr and exit 2."""
    try:
        return app.parse_flags_with_usage(argv)
    except (AttributeError, KeyError) as error:
        overrides = " ".join(a for a in argv[1:] if a.startswith("--config."))
        print(f"error: unknown config key in {overrides}: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
