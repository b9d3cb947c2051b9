"""TensorBoard "Kernel drift" tab: how far the empirical NTK moves along training.

Registered through the ``tensorboard_plugins`` entry point of setup.cfg; after installing lazyfeat_tf,
``tensorboard --logdir RUNS`` shows the tab for runs written with
`lazyfeat_tf.tb_plugin.summary` (Geiger, Spigler, Jacot & Wyart, arXiv:1906.08034: lazy vs feature
training, the kernel change ||Theta_t - Theta_0|| / ||Theta_0|| against alpha*sqrt(h)).

Sample limits. The drift curves are read from ordinary scalars (TensorBoard keeps 1000 points per
series). Eigenvalues and heatmaps are plugin tensors, of which TensorBoard keeps only a sample per
run (10 with the Python loader, 100 with the Rust data server); to keep every checkpoint start

    tensorboard --logdir RUNS --samples_per_plugin=kernel_drift=0

(0 means "all"; the tab says when checkpoints were dropped). The plugin passes
``--samples_per_plugin`` (``context.sampling_hints``) as its read limit, 0 or unset meaning all.

Routes (under ``/data/plugin/kernel_drift``; JSON; errors are ``{"error": message}`` with 400 for
malformed query parameters and 404 for unknown runs):

- ``/runs``: every run of the logdir with its metadata (alpha, alpha*sqrt(h), width h, seed), splits,
  layers, last step and t, and a status/message for runs without (complete) kernel data;
- ``/series?run=R[&run=R2...][&include=layers,alignment,effective_rank][&downsample=N]``: drift
  (total, and per layer on demand) vs step and physical time t, for up to 32 runs per request;
- ``/final``: last drift of every run with its metadata (the collapse plot: drift vs alpha*sqrt(h)
  grouped by h);
- ``/eigenvalues?run=R[&step=S]``: top eigenvalues at the checkpoint nearest to S (default: the
  last one) and at the first kept checkpoint, with the list of kept checkpoints;
- ``/heatmap?run=R[&step=S]``: (Theta_t - Theta_0)/||Theta_0||_F on the train probe subsample;
- ``/static/*``: the frontend (files of the static folder only).

This module imports no TensorFlow: TensorBoard imports it at start-up.
"""

import bisect
import json
import logging
import math
import mimetypes
import os

from werkzeug import wrappers

from tensorboard import errors
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin

from lazyfeat_tf.tb_plugin import metadata

logger = logging.getLogger(__name__)

_STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_STATIC_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_ALL = 1_000_000  # "every kept sample" as a downsample argument
MAX_RUNS_PER_SERIES_REQUEST = 32
MAX_RUN_NAME = 4096
SERIES_INCLUDES = (metadata.LAYERS, metadata.ALIGNMENT, metadata.EFFECTIVE_RANK)
DEFAULT_SERIES_POINTS = 1000
SAMPLES_FLAG = "--samples_per_plugin=%s=0" % metadata.PLUGIN_NAME


class KernelDriftPlugin(base_plugin.TBPlugin):
    """Backend of the "Kernel drift" tab, on TensorBoard's data_provider API."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._provider = context.data_provider
        hint = (context.sampling_hints or {}).get(metadata.PLUGIN_NAME)
        self._tensor_downsample = _hint_to_downsample(hint)
        try:
            self._static_files = frozenset(
                name for name in os.listdir(_STATIC_DIR)
                if os.path.isfile(os.path.join(_STATIC_DIR, name))
            )
        except OSError:
            self._static_files = frozenset()

    # -- TBPlugin interface ---------------------------------------------------------------------

    def get_plugin_apps(self):
        return {
            "/runs": self._route(self._runs),
            "/series": self._route(self._series),
            "/final": self._route(self._final),
            "/eigenvalues": self._route(self._eigenvalues),
            "/heatmap": self._route(self._heatmap),
            "/static/*": self._serve_static,
        }

    def is_active(self):
        return False  # the tab is enabled by data_plugin_names() meeting list_plugins()

    def data_plugin_names(self):
        return (metadata.PLUGIN_NAME,)

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(
            es_module_path="/static/index.js",
            tab_name="Kernel drift",
            disable_reload=True,  # the tab refreshes itself (TensorBoard's button does not reach iframes)
        )

    # -- plumbing ---------------------------------------------------------------------------------

    def _route(self, handler):
        @wrappers.Request.application
        def app(request):
            try:
                if request.method not in ("GET", "HEAD"):
                    return _json_response(request, {"error": "only GET is supported"}, 405)
                body = handler(request)
                return _json_response(request, body, 200)
            except errors.InvalidArgumentError as e:
                return _json_response(request, {"error": _detail(e)}, 400)
            except errors.NotFoundError as e:
                return _json_response(request, {"error": _detail(e)}, 404)
            except errors.PublicError as e:
                return _json_response(request, {"error": _detail(e)}, e.http_code)

        return app

    def _ctx(self, request):
        environ = request.environ
        return plugin_util.context(environ), plugin_util.experiment_id(environ)

    def _run_names(self, ctx, eid):
        return sorted(run.run_name for run in self._provider.list_runs(ctx, experiment_id=eid))

    def _check_runs(self, ctx, eid, runs):
        known = set(self._run_names(ctx, eid))
        for run in runs:
            if run not in known:
                raise errors.NotFoundError("unknown run %r" % (run,))

    def _kernel_scalar_tags(self, ctx, eid, runs=None):
        """{run: {tag: (parsed tag, last ScalarDatum)}} of the kernel_drift/... ordinary scalars.

        `read_last_scalars` both lists the tags and gives the last values while touching one event
        per series (`list_scalars` walks every kept event of every scalar series of the logdir).
        """
        last = self._provider.read_last_scalars(
            ctx, experiment_id=eid, plugin_name=metadata.SCALARS_PLUGIN_NAME, run_tag_filter=_run_filter(runs)
        )
        parsed = _parse_tags(last, lambda tag, datum: metadata.parse_scalar_tag(tag))
        return {run: tags for run, tags in parsed.items() if tags}

    def _plugin_tensor_tags(self, ctx, eid, runs=None):
        """{run: {tag: (content dict, TensorTimeSeries)}} of kernel_drift tensors we can decode."""
        listing = self._provider.list_tensors(
            ctx, experiment_id=eid, plugin_name=metadata.PLUGIN_NAME, run_tag_filter=_run_filter(runs)
        )
        return _parse_tags(listing, lambda tag, series: metadata.decode_content(series.plugin_content))

    def _read_tensors(self, ctx, eid, runs, tags):
        if not runs or not tags:
            return {}
        return self._provider.read_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=self._tensor_downsample,
            run_tag_filter=provider.RunTagFilter(runs=sorted(runs), tags=sorted(tags)),
        )

    def _read_metadata(self, ctx, eid, runs):
        data = self._read_tensors(ctx, eid, runs, [metadata.RUN_METADATA_TAG])
        out = {}
        for run, tags in data.items():
            for datum in reversed(tags.get(metadata.RUN_METADATA_TAG, [])):
                parsed = _parse_run_metadata(datum.numpy)
                if parsed is not None:
                    out[run] = parsed
                    break
        return out

    def _t_series(self, ctx, eid, runs):
        """{run: [(step, t)] sorted by step}."""
        data = self._provider.read_scalars(
            ctx,
            experiment_id=eid,
            plugin_name=metadata.SCALARS_PLUGIN_NAME,
            downsample=_ALL,
            run_tag_filter=provider.RunTagFilter(runs=sorted(runs), tags=[metadata.T_TAG]),
        )
        return {
            run: sorted((d.step, d.value) for d in tags.get(metadata.T_TAG, []))
            for run, tags in data.items()
        }

    def _every_run(self, ctx, eid):
        """(run names, their kernel scalar tags, their plugin tensor tags, their run metadata)."""
        names = self._run_names(ctx, eid)
        scalar_tags = self._kernel_scalar_tags(ctx, eid)
        tensor_tags = self._plugin_tensor_tags(ctx, eid)
        run_metadata = self._read_metadata(
            ctx, eid, [r for r in names if metadata.RUN_METADATA_TAG in tensor_tags.get(r, {})]
        )
        return names, scalar_tags, tensor_tags, run_metadata

    # -- /runs ----------------------------------------------------------------------------------

    def _runs(self, request):
        ctx, eid = self._ctx(request)
        names, scalar_tags, tensor_tags, run_metadata = self._every_run(ctx, eid)
        runs = []
        for name in names:
            scalars = scalar_tags.get(name, {})
            tensors = tensor_tags.get(name, {})
            splits, layers, metrics = set(), set(), set()
            for info, _ in scalars.values():
                split, kind, layer = info
                if split == "t":
                    continue
                splits.add(split)
                if kind == metadata.LAYERS:
                    layers.add(layer)
                elif kind != metadata.TOTAL:
                    metrics.add(kind)
            eig_splits = sorted({
                c.get("split") for c, _ in tensors.values()
                if c["kind"] == metadata.KIND_EIGENVALUES and isinstance(c.get("split"), str)
                and not c.get("initial")
            })
            t_last = scalars[metadata.T_TAG][1] if metadata.T_TAG in scalars else None
            entry = {
                "run": name,
                "has_kernel_data": bool(scalars or tensors),
                "metadata": run_metadata.get(name),
                "splits": sorted(splits),
                "layers": sorted(layers),
                "metrics": sorted(metrics),
                "eigenvalue_splits": eig_splits,
                "has_heatmap": metadata.HEATMAP_TAG in tensors,
                "last_step": t_last.step if t_last is not None else None,
                "last_t": _finite_or_none(t_last.value) if t_last is not None else None,
            }
            entry["status"], entry["message"] = _run_status(entry, has_t=t_last is not None)
            runs.append(entry)
        message = None
        if not names:
            message = (
                "No runs in this logdir yet. Runs appear here when the training loop writes kernel "
                "checkpoints with lazyfeat_tf.tb_plugin.summary.write_drift_record."
            )
        elif not any(r["has_kernel_data"] for r in runs):
            message = (
                "None of the %d runs has kernel-drift data. Enable kernel checkpoints in the "
                "training config (write_drift_record) to fill this tab." % len(runs)
            )
        return {
            "version": metadata.PROTOCOL_VERSION,
            "runs": runs,
            "message": message,
            "samples_flag": SAMPLES_FLAG,
        }

    # -- /series ------------------------------------------------------------------------------

    def _series(self, request):
        ctx, eid = self._ctx(request)
        runs = _run_args(request, max_runs=MAX_RUNS_PER_SERIES_REQUEST)
        include = _include_arg(request)
        downsample = _int_arg(request, "downsample", default=DEFAULT_SERIES_POINTS, minimum=0)
        self._check_runs(ctx, eid, runs)

        scalar_tags = self._kernel_scalar_tags(ctx, eid, runs)
        wanted = set()
        for run in runs:
            for tag, (info, _) in scalar_tags.get(run, {}).items():
                split, kind, _layer = info
                if split == "t" or kind == metadata.TOTAL or kind in include:
                    wanted.add(tag)
        data = {}
        if wanted:
            data = self._provider.read_scalars(
                ctx,
                experiment_id=eid,
                plugin_name=metadata.SCALARS_PLUGIN_NAME,
                downsample=_ALL,
                run_tag_filter=provider.RunTagFilter(runs=runs, tags=sorted(wanted)),
            )
        out = []
        for run in runs:
            out.append(_assemble_series(run, scalar_tags.get(run, {}), data.get(run, {}), downsample))
        return {"series": out}

    # -- /final -------------------------------------------------------------------------------

    def _final(self, request):
        ctx, eid = self._ctx(request)
        names, scalar_tags, tensor_tags, run_metadata = self._every_run(ctx, eid)
        last = {
            run: {tag: datum for tag, (_, datum) in tags.items()}
            for run, tags in scalar_tags.items()
        }
        points, skipped = [], []
        needs_t_lookup = {}
        t_series = {}
        for name in names:
            if name not in scalar_tags and name not in tensor_tags:
                continue
            md = run_metadata.get(name)
            values = last.get(name, {})
            t_datum = values.get(metadata.T_TAG)
            drift = {}
            for tag, datum in values.items():
                info = metadata.parse_scalar_tag(tag)
                if info and info[1] == metadata.TOTAL:
                    drift[info[0]] = {"value": _finite_or_none(datum.value), "step": datum.step}
            if md is None:
                skipped.append({"run": name, "reason": "no run metadata (alpha, h)"})
                continue
            if not drift:
                skipped.append({"run": name, "reason": "no kernel checkpoint yet"})
                continue
            point = {"run": name, "drift": drift}
            point.update({k: md[k] for k in ("alpha", "alpha_sqrt_h", "width", "seed")})
            point["step"] = t_datum.step if t_datum is not None else None
            point["t"] = _finite_or_none(t_datum.value) if t_datum is not None else None
            for entry in drift.values():
                if t_datum is None or entry["step"] != t_datum.step:
                    needs_t_lookup[name] = True
            points.append(point)
        if needs_t_lookup:
            t_series = self._t_series(ctx, eid, list(needs_t_lookup))
        for point in points:
            lookup = dict(t_series.get(point["run"], [])) if point["run"] in needs_t_lookup else {}
            for entry in point["drift"].values():
                if point["run"] in needs_t_lookup:
                    entry["t"] = _finite_or_none(lookup.get(entry["step"]))
                else:
                    entry["t"] = point["t"]
        return {"points": points, "skipped": skipped}

    # -- /eigenvalues and /heatmap --------------------------------------------------------------

    def _checkpoint_data(self, request, kind):
        """Common part of /eigenvalues and /heatmap.

        Returns (run, step argument, {tag: [TensorDatum]}, {tag: content}, {step: t}, info).
        """
        ctx, eid = self._ctx(request)
        (run,) = _run_args(request, max_runs=1)
        step = _int_arg(request, "step", default=None, minimum=0)
        self._check_runs(ctx, eid, [run])
        tensor_tags = self._plugin_tensor_tags(ctx, eid, [run]).get(run, {})
        tags = {tag: c for tag, (c, _) in tensor_tags.items() if c["kind"] == kind}
        data = self._read_tensors(ctx, eid, [run], list(tags) + [metadata.RECORD_TAG])
        data = data.get(run, {})
        t_by_step = dict(self._t_series(ctx, eid, [run]).get(run, []))
        records_kept = len(data.get(metadata.RECORD_TAG, []))
        info = {
            "checkpoints": len(t_by_step),
            "records_kept": records_kept,
            "downsampled": records_kept < len(t_by_step),
        }
        if info["downsampled"]:
            info["message"] = (
                "TensorBoard kept %d of the %d checkpoints of this run; start it with %s to keep "
                "every checkpoint's eigenvalues and heatmap." % (records_kept, len(t_by_step), SAMPLES_FLAG)
            )
        return run, step, {tag: data.get(tag, []) for tag in tags}, tags, t_by_step, info

    def _eigenvalues(self, request):
        run, step, data, contents, t_by_step, info = self._checkpoint_data(
            request, metadata.KIND_EIGENVALUES
        )
        by_split, initial_by_split = {}, {}
        for tag, series in data.items():
            content = contents[tag]
            split = content.get("split")
            if not isinstance(split, str):
                continue
            kept = {}
            for datum in series:
                values = _vector(datum.numpy)
                if values is not None:
                    kept[datum.step] = values
            if not kept:
                continue
            if content.get("initial") is True:
                step0 = min(kept)
                initial_by_split[split] = (step0, kept[step0])
            else:
                by_split[split] = kept
        steps = sorted(set().union(*[set(k) for k in by_split.values()])) if by_split else []
        body = {"run": run, "steps": steps, "t": [_finite_or_none(t_by_step.get(s)) for s in steps]}
        body.update(info)
        if not steps:
            body.update(step=None, eigenvalues={}, initial=None, message=(
                "This run recorded no eigenvalues (record['eigenvalues'] is optional)."
            ))
            return body
        chosen = _nearest(steps, step)
        body["step"] = chosen
        body["t_step"] = _finite_or_none(t_by_step.get(chosen))
        body["eigenvalues"] = {s: v[chosen] for s, v in by_split.items() if chosen in v}
        if initial_by_split:
            first = min(s for s, _ in initial_by_split.values())
            initial = {split: v for split, (s, v) in initial_by_split.items() if s == first}
        else:  # written before eigenvalues_t0 existed: the first checkpoint TensorBoard kept
            first = steps[0]
            initial = {s: v[first] for s, v in by_split.items() if first in v}
        body["initial"] = {
            "step": first,
            "t": _finite_or_none(t_by_step.get(first)),
            "eigenvalues": initial,
        }
        return body

    def _heatmap(self, request):
        run, step, data, _contents, t_by_step, info = self._checkpoint_data(
            request, metadata.KIND_HEATMAP
        )
        kept = {}
        for datum in data.get(metadata.HEATMAP_TAG, []):
            matrix = _matrix(datum.numpy)
            if matrix is not None:
                kept[datum.step] = matrix
        steps = sorted(kept)
        body = {"run": run, "steps": steps, "t": [_finite_or_none(t_by_step.get(s)) for s in steps]}
        body.update(info)
        if not steps:
            body.update(step=None, values=None, message=(
                "This run recorded no kernel heatmap (record['heatmap'] is optional)."
            ))
            return body
        chosen = _nearest(steps, step)
        values = kept[chosen]
        finite = [abs(v) for row in values for v in row if v is not None]
        body.update(
            step=chosen,
            t_step=_finite_or_none(t_by_step.get(chosen)),
            values=values,
            abs_max=max(finite) if finite else 0.0,
        )
        return body

    # -- /static/* --------------------------------------------------------------------------------

    @wrappers.Request.application
    def _serve_static(self, request):
        marker = "/data/plugin/%s/static/" % metadata.PLUGIN_NAME
        path = request.path
        index = path.find(marker)
        name = path[index + len(marker):] if index >= 0 else ""
        # Only plain file names of the static folder: no separators, no "..", no hidden files.
        if (
            not name
            or name not in self._static_files
            or "/" in name
            or "\\" in name
            or name.startswith(".")
        ):
            return http_util.Respond(request, "Not found", "text/plain", code=404)
        full = os.path.realpath(os.path.join(_STATIC_DIR, name))
        if os.path.dirname(full) != os.path.realpath(_STATIC_DIR):
            return http_util.Respond(request, "Not found", "text/plain", code=404)
        ext = os.path.splitext(name)[1].lower()
        content_type = _STATIC_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        with open(full, "rb") as f:
            content = f.read()
        return http_util.Respond(request, content, content_type)


# ------------------------------------------------------------------------------------------------
# Helpers (pure functions).


def _run_filter(runs):
    """A filter on `runs`, or None (every run) when runs is None."""
    return provider.RunTagFilter(runs=runs) if runs is not None else None


def _parse_tags(listing, parse):
    """{run: {tag: (parse(tag, value), value)}} of a provider listing {run: {tag: value}}, keeping the
    tags whose parse is not None (every run stays, maybe with no tag)."""
    out = {}
    for run, tags in listing.items():
        out[run] = {}
        for tag, value in tags.items():
            parsed = parse(tag, value)
            if parsed is not None:
                out[run][tag] = (parsed, value)
    return out


def _hint_to_downsample(hint):
    """`--samples_per_plugin` value -> downsample argument; 0 or None mean every kept sample."""
    if isinstance(hint, int) and not isinstance(hint, bool) and hint > 0:
        return hint
    return _ALL


def _detail(error):
    # PublicError's str() is "<Code name>: <details>"; the details are what a user needs.
    return getattr(error, "details", None) or str(error)


def _json_response(request, body, code):
    text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    # Run names are data: never let them read as markup even if a client sniffs (defense in depth).
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return http_util.Respond(request, text, "application/json", code=code)


def _run_args(request, max_runs):
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


def _int_arg(request, name, default, minimum):
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


def _include_arg(request):
    items = set()
    for raw in request.args.getlist("include"):
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            if item not in SERIES_INCLUDES:
                raise errors.InvalidArgumentError(
                    "include must list some of %s; received %r" % (", ".join(SERIES_INCLUDES), item[:40])
                )
            items.add(item)
    return items


def _finite_or_none(value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _parse_run_metadata(array):
    try:
        raw = array.item() if hasattr(array, "item") else array
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        payload = json.loads(raw)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    out = {}
    for key in ("alpha", "alpha_sqrt_h"):
        value = _finite_or_none(payload.get(key))
        if value is None or value <= 0:
            return None
        out[key] = value
    for key in ("width", "seed"):
        value = payload.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        out[key] = value
    extra = payload.get("extra")
    out["extra"] = _json_safe(extra) if isinstance(extra, dict) else {}
    return out


def _json_safe(obj, depth=0):
    """Copy of a decoded JSON value with non-finite floats as None (strict JSON out)."""
    if depth > 20:
        return None
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v, depth + 1) for v in obj]
    return obj


def _vector(array):
    try:
        if array.ndim != 1 or array.size == 0:
            return None
        return [_finite_or_none(v) for v in array.tolist()]
    except (AttributeError, TypeError, ValueError):
        return None


def _matrix(array):
    try:
        if array.ndim != 2 or array.size == 0:
            return None
        return [[_finite_or_none(v) for v in row] for row in array.tolist()]
    except (AttributeError, TypeError, ValueError):
        return None


def _nearest(steps, step):
    """The kept step nearest to `step` (the last one when `step` is None); `steps` sorted."""
    if step is None:
        return steps[-1]
    i = bisect.bisect_left(steps, step)
    candidates = steps[max(0, i - 1): i + 1]
    return min(candidates, key=lambda s: (abs(s - step), s))


def _thin(n, k):
    """Indices of at most k of n points, evenly spread, always keeping the first and the last."""
    if k <= 0 or n <= k:
        return range(n)
    if k == 1:
        return [n - 1]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _assemble_series(run, tags, data, downsample):
    """Aligns the run's kernel scalars on the steps where t is known."""
    t_by_step = {d.step: d.value for d in data.get(metadata.T_TAG, [])}
    steps = sorted(t_by_step)
    keep = _thin(len(steps), downsample)
    steps = [steps[i] for i in keep]
    splits = {}
    for tag, (info, _) in sorted(tags.items()):
        split, kind, layer = info
        if split == "t" or tag not in data:
            continue
        by_step = {d.step: d.value for d in data[tag]}
        values = [_finite_or_none(by_step.get(s)) for s in steps]
        entry = splits.setdefault(split, {})
        if kind == metadata.LAYERS:
            entry.setdefault(metadata.LAYERS, {})[layer] = values
        else:
            entry[kind] = values
    body = {
        "run": run,
        "steps": steps,
        "t": [_finite_or_none(t_by_step[s]) for s in steps],
        "splits": splits,
        "num_checkpoints": len(t_by_step),
        "message": None,
    }
    if not tags:
        body["message"] = "This run has no kernel-drift scalars."
    elif not steps:
        body["message"] = "No kernel checkpoint with a physical time t yet."
    elif not any(t and t > 0 for t in body["t"]):
        body["message"] = "Only the initial checkpoint (t = 0) so far: nothing to draw on log axes."
    return body


def _run_status(entry, has_t):
    if not entry["has_kernel_data"]:
        return "no_kernel_data", "No kernel-drift data in this run."
    if not has_t:
        if entry["metadata"] is not None:
            return "waiting", "Run started; no kernel checkpoint written yet."
        return "incomplete", "Kernel-drift data without checkpoints (t); the run may be half-written."
    if entry["metadata"] is None:
        return "no_metadata", (
            "No run metadata (alpha, h): drawn in grey and left out of the collapse plot."
        )
    if entry["last_t"] is not None and entry["last_t"] <= 0:
        return "initial_only", "Only the initial checkpoint (t = 0) so far."
    return "ok", None
