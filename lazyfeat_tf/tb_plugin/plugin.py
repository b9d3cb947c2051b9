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
  layers, last step and t, and a status/message for runs without (complete) kernel data or with
  data this reader cannot decode (status "unreadable", the tags in "unreadable": they are skipped);
- ``/series?run=R[&run=R2...][&include=layers,alignment,effective_rank][&downsample=N]``: drift
  (total, and per layer on demand) vs step and physical time t, for up to 32 runs per request;
- ``/final``: last drift of every run with its metadata (the collapse plot: drift vs alpha*sqrt(h)
  grouped by h);
- ``/eigenvalues?run=R[&step=S]``: top eigenvalues at the checkpoint nearest to S (default: the
  last one) and at the first kept checkpoint, with the list of kept checkpoints;
- ``/heatmap?run=R[&step=S]``: (Theta_t - Theta_0)/||Theta_0||_F on the train probe subsample;
- ``/limits``: the request limits the frontend must respect (``max_runs_per_series_request``);
- ``/static/*``: the frontend, ES modules loaded from ``index.js`` (files of the static folder only).

Modules: this one (the TBPlugin and its routes), `provider_reader` (data-provider reads),
`response_bodies` (JSON bodies), `http_io` (query arguments, JSON answers, static files),
`metadata` (tags and encodings shared with the writer, `summary`).

This module imports no TensorFlow: TensorBoard imports it at start-up.
"""

import os

from tensorboard import plugin_util
from tensorboard.plugins import base_plugin

from lazyfeat_tf.tb_plugin import http_io
from lazyfeat_tf.tb_plugin import metadata
from lazyfeat_tf.tb_plugin import provider_reader
from lazyfeat_tf.tb_plugin import response_bodies
from lazyfeat_tf.tb_plugin.provider_reader import ALL_SAMPLES as _ALL

_STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MAX_RUNS_PER_SERIES_REQUEST = 32
SERIES_INCLUDES = (metadata.LAYERS, metadata.ALIGNMENT, metadata.EFFECTIVE_RANK)
DEFAULT_SERIES_POINTS = 1000


class KernelDriftPlugin(base_plugin.TBPlugin):
    """Backend of the "Kernel drift" tab, on TensorBoard's data_provider API."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._provider = context.data_provider
        hint = (context.sampling_hints or {}).get(metadata.PLUGIN_NAME)
        self._tensor_downsample = _hint_to_downsample(hint)

    # -- TBPlugin interface ---------------------------------------------------------------------

    def get_plugin_apps(self):
        return {
            "/runs": http_io.json_app(self._runs),
            "/series": http_io.json_app(self._series),
            "/final": http_io.json_app(self._final),
            "/eigenvalues": http_io.json_app(self._eigenvalues),
            "/heatmap": http_io.json_app(self._heatmap),
            "/limits": http_io.json_app(self._limits),
            "/static/*": http_io.static_app(_STATIC_DIR, "/data/plugin/%s/static/" % metadata.PLUGIN_NAME),
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

    # -- routes -----------------------------------------------------------------------------------

    def _reader(self, request):
        environ = request.environ
        return provider_reader.ProviderReader(
            self._provider, plugin_util.context(environ), plugin_util.experiment_id(environ),
            self._tensor_downsample,
        )

    def _runs(self, request):
        return response_bodies.runs_body(self._reader(request).logdir())

    def _series(self, request):
        runs = http_io.run_args(request, max_runs=MAX_RUNS_PER_SERIES_REQUEST)
        include = http_io.include_arg(request, SERIES_INCLUDES)
        downsample = http_io.int_arg(request, "downsample", default=DEFAULT_SERIES_POINTS, minimum=0)
        reader = self._reader(request)
        reader.check_runs(runs)
        scalar_tags = reader.kernel_scalar_tags(runs)
        data = reader.read_scalars(runs, response_bodies.series_tags(runs, scalar_tags, include))
        return {"series": [
            response_bodies.run_series(run, scalar_tags.get(run, {}), data.get(run, {}), downsample)
            for run in runs
        ]}

    def _final(self, request):
        reader = self._reader(request)
        points, skipped, needs_t_lookup = response_bodies.final_points(reader.logdir())
        response_bodies.add_drift_times(points, reader.t_series(needs_t_lookup))
        return {"points": points, "skipped": skipped}

    def _checkpoint_data(self, request, kind):
        """Common part of /eigenvalues and /heatmap.

        Returns (run, step argument, {tag: [TensorDatum]}, {tag: content}, {step: t}, kept info).
        """
        (run,) = http_io.run_args(request, max_runs=1)
        step = http_io.int_arg(request, "step", default=None, minimum=0)
        reader = self._reader(request)
        reader.check_runs([run])
        tensor_tags, _ = reader.plugin_tensor_tags([run])
        contents = {tag: c for tag, (c, _) in tensor_tags.get(run, {}).items() if c["kind"] == kind}
        data = reader.read_tensors([run], list(contents) + [metadata.RECORD_TAG]).get(run, {})
        t_by_step = dict(reader.t_series([run]).get(run, []))
        info = response_bodies.checkpoint_info(len(data.get(metadata.RECORD_TAG, [])), len(t_by_step))
        return run, step, {tag: data.get(tag, []) for tag in contents}, contents, t_by_step, info

    def _eigenvalues(self, request):
        run, step, data, contents, t_by_step, info = self._checkpoint_data(
            request, metadata.KIND_EIGENVALUES
        )
        return dict(response_bodies.eigenvalues_body(run, step, data, contents, t_by_step), **info)

    def _heatmap(self, request):
        run, step, data, _, t_by_step, info = self._checkpoint_data(request, metadata.KIND_HEATMAP)
        series = data.get(metadata.HEATMAP_TAG, [])
        return dict(response_bodies.heatmap_body(run, step, series, t_by_step), **info)

    def _limits(self, _request):
        return {"max_runs_per_series_request": MAX_RUNS_PER_SERIES_REQUEST}


def _hint_to_downsample(hint):
    """`--samples_per_plugin` value -> downsample argument; 0 or None mean every kept sample."""
    if isinstance(hint, int) and not isinstance(hint, bool) and hint > 0:
        return hint
    return _ALL
