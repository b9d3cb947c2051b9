"""The one base class of every user-facing error of the package.

A `UserError` is an input the user can fix (a config value, a data file, a workdir, a sweep or
report argument). Its message is one line that names the offending value and a fix. The entry
points (`launch/*.py`) print it as `error: <message>` and exit with status 2; sweeps do not retry a
run that failed with one. Every other exception is a bug or an environment failure and keeps its
traceback.
"""


class UserError(ValueError):
    """An input the user can fix; the message is one line naming the value and a fix."""
