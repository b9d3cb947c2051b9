"""Names and content encoding shared by the kernel-drift writer and the TensorBoard plugin.

Nothing here imports TensorFlow: the plugin (loaded by TensorBoard at start-up) and the writer
(called by the training loop) both use this module, so the two sides cannot drift apart.

What one checkpoint writes (one `Event`, so a checkpoint is never half visible):

Ordinary scalars (plugin "scalars", `DATA_CLASS_SCALAR`; they show in Time Series and keep 1000
points per series with TensorBoard's default sample limits):

- ``kernel_drift/t``: physical time t of gradient flow at this step;
- ``kernel_drift/<split>/total``: ||Theta_t - Theta_0||_F / ||Theta_0||_F on the split's probes;
- ``kernel_drift/<split>/layers/<layer>``: the same restricted to one layer's contribution;
- ``kernel_drift/<split>/alignment``: y^T Theta_t y / (||Theta_t||_F ||y||^2);
- ``kernel_drift/<split>/effective_rank``.

Plugin tensors (plugin "kernel_drift", `DATA_CLASS_TENSOR`):

- ``kernel_drift/run_metadata``: scalar string tensor, JSON of alpha, alpha*sqrt(h), h, seed, extra;
- ``kernel_drift/record``: scalar string tensor, JSON of the checkpoint's scalar measurements
  (self-contained copy of the record without the arrays; also what enables the tab);
- ``kernel_drift/eigenvalues/<split>``: float64 vector, top eigenvalues of Theta_t, descending;
- ``kernel_drift/eigenvalues_t0/<split>``: the same for the record at t = 0 only (content
  ``"initial": true``), written once so that TensorBoard's sampling always keeps Theta_0's spectrum;
- ``kernel_drift/heatmap``: float32 m x m matrix, (Theta_t - Theta_0) / ||Theta_0||_F on a fixed
  subsample of train probes.

Every plugin tensor carries `SummaryMetadata.plugin_data.content` = UTF-8 JSON
``{"version": 1, "kind": ...}``; readers skip content whose version they do not know.
"""

import json
import re

PLUGIN_NAME = "kernel_drift"
SCALARS_PLUGIN_NAME = "scalars"  # TensorBoard's own scalar plugin (Time Series reads it)

# Version of the plugin-tensor encoding. Bump when the meaning of a tag or payload changes; the
# reader accepts every version <= PROTOCOL_VERSION it knows how to decode.
PROTOCOL_VERSION = 1

TAG_PREFIX = PLUGIN_NAME + "/"

# Scalar tags.
T_TAG = TAG_PREFIX + "t"
TOTAL = "total"
LAYERS = "layers"
ALIGNMENT = "alignment"
EFFECTIVE_RANK = "effective_rank"
PER_SPLIT_SCALARS = (TOTAL, ALIGNMENT, EFFECTIVE_RANK)

# Plugin-tensor kinds and tags.
KIND_RUN_METADATA = "run_metadata"
KIND_RECORD = "record"
KIND_EIGENVALUES = "eigenvalues"
KIND_HEATMAP = "heatmap"
KINDS = (KIND_RUN_METADATA, KIND_RECORD, KIND_EIGENVALUES, KIND_HEATMAP)

RUN_METADATA_TAG = TAG_PREFIX + KIND_RUN_METADATA
RECORD_TAG = TAG_PREFIX + KIND_RECORD
HEATMAP_TAG = TAG_PREFIX + KIND_HEATMAP

# Keys of a drift record (see summary.write_drift_record).
RECORD_KEYS = ("t", "drift", "alignment", "eigenvalues", "effective_rank", "heatmap")

_SPLIT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Split names that would make scalar and tensor tags ambiguous.
RESERVED_SPLITS = frozenset(("t",) + KINDS)
MAX_LAYER_NAME = 256


def check_split(split):
    """Returns `split` if it is a usable split name (e.g. "train", "test"), else raises ValueError."""
    if not isinstance(split, str) or not _SPLIT_RE.match(split) or split in RESERVED_SPLITS:
        raise ValueError(
            "Split names must match [A-Za-z0-9_.-]{1,64} and not be one of %s; received %r"
            % (sorted(RESERVED_SPLITS), split)
        )
    return split


def check_layer(layer):
    """Returns `layer` if it is a usable layer name, else raises ValueError."""
    if (
        not isinstance(layer, str)
        or not layer
        or len(layer) > MAX_LAYER_NAME
        or any(ord(c) < 32 for c in layer)
    ):
        raise ValueError(
            "Layer names must be non-empty strings of at most %d printable characters; received %r"
            % (MAX_LAYER_NAME, layer)
        )
    return layer


def total_tag(split):
    return "%s%s/%s" % (TAG_PREFIX, split, TOTAL)


def layer_tag(split, layer):
    return "%s%s/%s/%s" % (TAG_PREFIX, split, LAYERS, layer)


def alignment_tag(split):
    return "%s%s/%s" % (TAG_PREFIX, split, ALIGNMENT)


def effective_rank_tag(split):
    return "%s%s/%s" % (TAG_PREFIX, split, EFFECTIVE_RANK)


def eigenvalues_tag(split):
    return "%s%s/%s" % (TAG_PREFIX, KIND_EIGENVALUES, split)


def initial_eigenvalues_tag(split):
    """Tag of the spectrum of Theta_0 (written once, at t = 0, so sample limits never drop it)."""
    return "%s%s_t0/%s" % (TAG_PREFIX, KIND_EIGENVALUES, split)


def parse_scalar_tag(tag):
    """Inverse of the scalar tag builders.

    Returns `("t", None, None)` for the time tag, `(split, kind, None)` for total, alignment and
    effective rank, `(split, "layers", layer)` for a layer's drift, and None for any other tag.
    """
    if not tag.startswith(TAG_PREFIX):
        return None
    rest = tag[len(TAG_PREFIX):]
    if rest == "t":
        return ("t", None, None)
    split, sep, tail = rest.partition("/")
    if not sep or not _SPLIT_RE.match(split) or split in RESERVED_SPLITS:
        return None
    if tail in PER_SPLIT_SCALARS:
        return (split, tail, None)
    if tail.startswith(LAYERS + "/") and len(tail) > len(LAYERS) + 1:
        return (split, LAYERS, tail[len(LAYERS) + 1:])
    return None


def encode_content(kind, **fields):
    """Bytes for `SummaryMetadata.plugin_data.content` of a plugin tensor of the given kind."""
    if kind not in KINDS:
        raise ValueError("Unknown kernel_drift content kind %r; expected one of %s" % (kind, KINDS))
    payload = {"version": PROTOCOL_VERSION, "kind": kind}
    payload.update(fields)
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def decode_content(content):
    """Parses plugin content written by `encode_content`.

    Returns the dict, or None when the content is not valid kernel_drift content or comes from a
    newer protocol version than this reader knows (the caller then ignores the series).
    """
    try:
        payload = json.loads(bytes(content).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError):
        return None
    if not isinstance(payload, dict):
        return None
    version = payload.get("version")
    if not isinstance(version, int) or not 1 <= version <= PROTOCOL_VERSION:
        return None
    if payload.get("kind") not in KINDS:
        return None
    return payload


def create_summary_metadata(kind, **fields):
    """`SummaryMetadata` proto for a plugin tensor (TensorBoard's protos; no TensorFlow)."""
    from tensorboard.compat.proto import summary_pb2  # light: protobuf only

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=encode_content(kind, **fields)
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def create_scalar_metadata():
    """`SummaryMetadata` of an ordinary scalar, as `tf.summary.scalar` writes it."""
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=SCALARS_PLUGIN_NAME),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )
