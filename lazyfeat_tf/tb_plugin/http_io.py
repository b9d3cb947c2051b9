"""HTTP side of the kernel-drift plugin: query arguments, JSON answers and the static files.

Errors are answered as ``{"error": message}``: 400 for malformed query parameters
(`tensorboard.errors.InvalidArgumentError`), 404 for unknown runs (`NotFoundError`), 405 for
anything but GET. Every answer goes through `tensorboard.backend.http_util.Respond` (nosniff).
"""

import json
import mimetypes
import os

from tensorboard import errors
from tensorboard.backend import http_util
from werkzeug import wrappers

MAX_RUN_NAME = 4096

_STATIC_TYPES = {
    ".js": "text/javascript",  # ES modules: browsers refuse to run them with any other type
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def json_app(handler):
    """WSGI app answering GET with the JSON body `handler(request)` returns (errors as above)."""

    @wrappers.Request.application
    def app(request):
        try:
            if request.method not in ("GET", "HEAD"):
                return json_response(request, {"error": "only GET is supported"}, 405)
            return json_response(request, handler(request), 200)
        except errors.InvalidArgumentError as e:
            return json_response(request, {"error": _detail(e)}, 400)
        except errors.NotFoundError as e:
            return json_response(request, {"error": _detail(e)}, 404)
        except errors.PublicError as e:
            return json_response(request, {"error": _detail(e)}, e.http_code)

    return app


def json_response(request, body, code):
    """Strict JSON (no NaN) with <, > and & escaped."""
    text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    # Run names are data: never let them read as markup even if a client sniffs (defense in depth).
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return http_util.Respond(request, text, "application/json", code=code)


def _detail(error):
    # PublicError's str() is "<Code name>: <details>"; the details are what a user needs.
    return getattr(error, "details", None) or str(error)


# ------------------------------------------------------------------------------------------------
# Query arguments (InvalidArgumentError, i.e. 400, on anything malformed).


def run_args(request, max_runs):
    """The distinct `run` parameters, in order: 1 to `max_runs` plausible run names."""
    runs = request.args.getlist("run")
    if not runs:
        raise errors.InvalidArgumentError("missing query parameter 'run'")
    unique = []
    for run in runs:
        if not run or len(run) > MAX_RUN_NAME or "\x00" in run:
            raise errors.InvalidArgumentError("malformed run name")
        if run not in unique:
            unique.append(run)
    if len(unique) > max_runs:
        raise errors.InvalidArgumentError(
            "at most %d run(s) per request; received %d" % (max_runs, len(unique))
        )
    return unique


def int_arg(request, name, default, minimum):
    """The query parameter `name` as an int >= `minimum` (ASCII digits only), or `default`."""
    values = request.args.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise errors.InvalidArgumentError("query parameter %r given more than once" % name)
    raw = values[0].strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise errors.InvalidArgumentError(
            "query parameter %r must be an integer >= %d; received %r" % (name, minimum, values[0][:40])
        )
    value = int(raw)
    if value < minimum:
        raise errors.InvalidArgumentError(
            "query parameter %r must be >= %d; received %d" % (name, minimum, value)
        )
    return value


def include_arg(request, allowed):
    """The set of comma-separated `include` items, each one of `allowed`."""
    items = set()
    for raw in request.args.getlist("include"):
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            if item not in allowed:
                raise errors.InvalidArgumentError(
                    "include must list some of %s; received %r" % (", ".join(allowed), item[:40])
                )
            items.add(item)
    return items


# ------------------------------------------------------------------------------------------------
# Static files.


def static_app(directory, marker):
    """WSGI app serving the plain files of `directory` at ``.../<marker><name>``, nothing else.

    Only names listed in `directory` when the app is made are served: no separators, no "..", no
    hidden files, no subfolders, and the resolved path must stay inside `directory` (links).
    ES modules importing each other with relative URLs (``./charts.js``) resolve to siblings here.
    """
    root = os.path.realpath(directory)
    try:
        names = frozenset(
            name for name in os.listdir(root) if os.path.isfile(os.path.join(root, name))
        )
    except OSError:
        names = frozenset()

    @wrappers.Request.application
    def app(request):
        index = request.path.find(marker)
        name = request.path[index + len(marker):] if index >= 0 else ""
        if not name or name not in names or "/" in name or "\\" in name or name.startswith("."):
            return http_util.Respond(request, "Not found", "text/plain", code=404)
        full = os.path.realpath(os.path.join(root, name))
        if os.path.dirname(full) != root:
            return http_util.Respond(request, "Not found", "text/plain", code=404)
        ext = os.path.splitext(name)[1].lower()
        content_type = _STATIC_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        with open(full, "rb") as f:
            content = f.read()
        return http_util.Respond(request, content, content_type)

    return app
