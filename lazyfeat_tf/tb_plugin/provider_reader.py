"""Reads kernel-drift data through TensorBoard's data provider (one request's context).

The drift curves are ordinary scalars (plugin "scalars"); eigenvalues, heatmaps, the run metadata
and the record copies are plugin tensors whose content and values are decoded with
`lazyfeat_tf.tb_plugin.metadata`. Whatever does not decode is reported per run (`Logdir.unreadable`)
and skipped: one malformed run never breaks the others.
"""

import collections

from tensorboard import errors
from tensorboard.data import provider

from lazyfeat_tf.tb_plugin import metadata

ALL_SAMPLES = 1_000_000  # "every kept sample" as a downsample argument

Logdir = collections.namedtuple("Logdir", "names scalar_tags tensor_tags run_metadata unreadable")
Logdir.__doc__ = """Every run of the logdir with what the tab needs to list it.

names: sorted run names; scalar_tags: {run: {tag: (parsed tag, last ScalarDatum)}} of the
kernel_drift/... scalars; tensor_tags: {run: {tag: (content dict, TensorTimeSeries)}} of the plugin
tensors that decode; run_metadata: {run: metadata.RunMetadata}; unreadable: {run: [tags]} of the
plugin tensors whose content or run metadata does not decode (malformed or from a newer version).
"""


class ProviderReader:
    """The data-provider calls of one request (its context and experiment id)."""

    def __init__(self, data_provider, ctx, experiment_id, tensor_downsample):
        self._provider = data_provider
        self._ctx = ctx
        self._eid = experiment_id
        self._tensor_downsample = tensor_downsample

    def run_names(self):
        return sorted(run.run_name for run in self._provider.list_runs(self._ctx, experiment_id=self._eid))

    def check_runs(self, runs):
        """Raises NotFoundError (404) for the first of `runs` that is not in the logdir."""
        known = set(self.run_names())
        for run in runs:
            if run not in known:
                raise errors.NotFoundError("unknown run %r" % (run,))

    def kernel_scalar_tags(self, runs=None):
        """{run: {tag: (parsed tag, last ScalarDatum)}} of the kernel_drift/... ordinary scalars.

        `read_last_scalars` both lists the tags and gives the last values while touching one event
        per series (`list_scalars` walks every kept event of every scalar series of the logdir).
        """
        last = self._provider.read_last_scalars(
            self._ctx, experiment_id=self._eid, plugin_name=metadata.SCALARS_PLUGIN_NAME,
            run_tag_filter=_run_filter(runs),
        )
        parsed, _ = _parse_tags(last, lambda tag, datum: metadata.parse_scalar_tag(tag))
        return {run: tags for run, tags in parsed.items() if tags}

    def plugin_tensor_tags(self, runs=None):
        """({run: {tag: (content dict, TensorTimeSeries)}}, {run: [tags whose content is unusable]})."""
        listing = self._provider.list_tensors(
            self._ctx, experiment_id=self._eid, plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=_run_filter(runs),
        )
        return _parse_tags(listing, lambda tag, series: metadata.decode_content(series.plugin_content))

    def read_tensors(self, runs, tags):
        """{run: {tag: [TensorDatum]}}, within the plugin's sample limit."""
        if not runs or not tags:
            return {}
        return self._provider.read_tensors(
            self._ctx, experiment_id=self._eid, plugin_name=metadata.PLUGIN_NAME,
            downsample=self._tensor_downsample,
            run_tag_filter=provider.RunTagFilter(runs=sorted(runs), tags=sorted(tags)),
        )

    def read_scalars(self, runs, tags):
        """{run: {tag: [ScalarDatum]}} with every kept point."""
        if not runs or not tags:
            return {}
        return self._provider.read_scalars(
            self._ctx, experiment_id=self._eid, plugin_name=metadata.SCALARS_PLUGIN_NAME,
            downsample=ALL_SAMPLES,
            run_tag_filter=provider.RunTagFilter(runs=sorted(runs), tags=sorted(tags)),
        )

    def t_series(self, runs):
        """{run: [(step, t)] sorted by step}."""
        data = self.read_scalars(runs, [metadata.T_TAG])
        return {
            run: sorted((d.step, d.value) for d in tags.get(metadata.T_TAG, []))
            for run, tags in data.items()
        }

    def run_metadata(self, runs):
        """{run: RunMetadata} from the last decodable value of each run's metadata tensor."""
        data = self.read_tensors(runs, [metadata.RUN_METADATA_TAG])
        out = {}
        for run, tags in data.items():
            for datum in reversed(tags.get(metadata.RUN_METADATA_TAG, [])):
                parsed = metadata.RunMetadata.decode(_scalar_string(datum.numpy))
                if parsed is not None:
                    out[run] = parsed
                    break
        return out

    def logdir(self):
        """A `Logdir` of every run."""
        names = self.run_names()
        scalar_tags = self.kernel_scalar_tags()
        tensor_tags, unreadable = self.plugin_tensor_tags()
        with_metadata = [r for r in names if metadata.RUN_METADATA_TAG in tensor_tags.get(r, {})]
        run_metadata = self.run_metadata(with_metadata)
        for run in with_metadata:
            if run not in run_metadata:
                unreadable.setdefault(run, []).append(metadata.RUN_METADATA_TAG)
        return Logdir(names, scalar_tags, tensor_tags, run_metadata, unreadable)


def _run_filter(runs):
    """A filter on `runs`, or None (every run) when runs is None."""
    return provider.RunTagFilter(runs=runs) if runs is not None else None


def _parse_tags(listing, parse):
    """Splits a provider listing {run: {tag: value}} by `parse(tag, value)`.

    Returns ({run: {tag: (parsed, value)}} of the tags whose parse is not None (every run stays,
    maybe with no tag), {run: [sorted tags whose parse is None]} of the runs with such tags).
    """
    parsed, rejected = {}, {}
    for run, tags in listing.items():
        parsed[run] = {}
        for tag, value in tags.items():
            result = parse(tag, value)
            if result is not None:
                parsed[run][tag] = (result, value)
            else:
                rejected.setdefault(run, []).append(tag)
    return parsed, {run: sorted(tags) for run, tags in rejected.items()}


def _scalar_string(array):
    """The bytes of a scalar string tensor's value (None for anything else)."""
    try:
        return array.item() if hasattr(array, "item") else array
    except ValueError:  # not a single element
        return None
