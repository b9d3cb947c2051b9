"""What every entry point shares: quiet TensorFlow start-up and one-line errors for bad input."""

import os
import sys

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
