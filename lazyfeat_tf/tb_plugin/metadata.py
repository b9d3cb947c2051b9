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
``{"version": 1, "kind": ..., <CONTENT_FIELDS of the kind>}``; readers skip content whose version
they do not know. The writer (`summary`) encodes and the plugin decodes through the functions here:
`encode_content` / `decode_content` for the content, `RunMetadata` for the run-metadata JSON, and
`ARRAY_NDIM` for the rank of the array tensors. Decoders return None on anything malformed (even
JSON nested too deeply to parse), so that one bad run never breaks the others.
"""

import dataclasses
import json
import math
import numbers
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

# Fields of each kind's content besides version and kind: name -> (type, default); a default of
# REQUIRED means the writer must give the field.
REQUIRED = object()
CONTENT_FIELDS = {
    KIND_RUN_METADATA: {},
    KIND_RECORD: {},
    KIND_EIGENVALUES: {"split": (str, REQUIRED), "initial": (bool, False)},
    KIND_HEATMAP: {"probes": (str, "train")},
}
# Rank of the array tensors of each kind (eigenvalues: a vector; heatmap: an m x m matrix).
ARRAY_NDIM = {KIND_EIGENVALUES: 1, KIND_HEATMAP: 2}

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
    """Bytes for `SummaryMetadata.plugin_data.content` of a plugin tensor of the given kind.

    `fields` are the kind's `CONTENT_FIELDS` (e.g. ``split="train"`` for eigenvalues); fields left
    out are not written and read back as their default.
    """
    if kind not in KINDS:
        raise ValueError("Unknown kernel_drift content kind %r; expected one of %s" % (kind, KINDS))
    schema = CONTENT_FIELDS[kind]
    unknown = sorted(set(fields) - set(schema))
    if unknown:
        raise ValueError("Unknown fields %s for %r content; expected some of %s"
                         % (unknown, kind, sorted(schema)))
    for name, (field_type, default) in schema.items():
        if name not in fields and default is REQUIRED:
            raise ValueError("%r content needs the field %r" % (kind, name))
        if name in fields and not isinstance(fields[name], field_type):
            raise TypeError("%r content field %r must be a %s; received %r"
                            % (kind, name, field_type.__name__, fields[name]))
    payload = {"version": PROTOCOL_VERSION, "kind": kind}
    payload.update(fields)
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def decode_content(content):
    """Parses plugin content written by `encode_content`, with every field of the kind filled in.

    Returns the dict, or None when the content is not valid kernel_drift content or comes from a
    newer protocol version than this reader knows (the caller then ignores the series).
    """
    payload = _loads(content)
    if not isinstance(payload, dict):
        return None
    version = payload.get("version")
    if not isinstance(version, int) or not 1 <= version <= PROTOCOL_VERSION:
        return None
    kind = payload.get("kind")
    if kind not in KINDS:
        return None
    for name, (field_type, default) in CONTENT_FIELDS[kind].items():
        value = payload.get(name, default)
        if value is REQUIRED or not isinstance(value, field_type):
            return None
        payload[name] = value
    return payload


@dataclasses.dataclass(frozen=True)
class RunMetadata:
    """The run's parameters, written once per run as JSON in the string tensor `RUN_METADATA_TAG`.

    Build it with `RunMetadata.create(...)` (which validates), write `encode()`, read with
    `RunMetadata.decode(text)`.

    Attributes:
      alpha: the output scale alpha of F = alpha * (f(w) - f(w0)) (article units), > 0.
      alpha_sqrt_h: the control parameter alpha * sqrt(h) (>> 1 lazy, << 1 feature), > 0.
      width: the width h of the hidden layers (channels for a CNN), >= 1.
      seed: the initialization seed of the run.
      extra: JSON object shown with the run (e.g. depth, dataset, loss).
    """

    alpha: float
    alpha_sqrt_h: float
    width: int
    seed: int
    extra: dict

    @classmethod
    def create(cls, *, alpha, alpha_sqrt_h, width, seed, extra=None):
        """Validated metadata (NumPy numbers become Python numbers).

        Raises:
          ValueError / TypeError: naming the value, on a non-finite or non-positive alpha or
            alpha_sqrt_h, a width that is not an integer >= 1, a seed that is not an integer, or an
            `extra` that is not a dict.
        """
        alpha = check_float(alpha, "alpha", allow_nan=False)
        alpha_sqrt_h = check_float(alpha_sqrt_h, "alpha_sqrt_h", allow_nan=False)
        for name, value in (("alpha", alpha), ("alpha_sqrt_h", alpha_sqrt_h)):
            if value <= 0:
                raise ValueError("%s must be > 0; received %r" % (name, value))
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
            raise ValueError("width must be an integer >= 1; received %r" % (width,))
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError("seed must be an integer; received %r" % (seed,))
        if extra is None:
            extra = {}
        if not isinstance(extra, dict):
            raise TypeError("extra must be a dict or None; received %r" % (type(extra).__name__,))
        return cls(alpha=alpha, alpha_sqrt_h=alpha_sqrt_h, width=int(width), seed=int(seed), extra=extra)

    def encode(self):
        """The JSON text written in the tensor; raises TypeError if `extra` is not plain JSON."""
        try:
            return json.dumps(dataclasses.asdict(self), default=_json_default, allow_nan=False,
                              sort_keys=True)
        except (TypeError, ValueError, RecursionError) as e:
            raise TypeError("extra must be JSON-serializable (finite numbers): %s" % e) from None

    @classmethod
    def decode(cls, text):
        """The metadata in `text` (str or UTF-8 bytes), or None if it is not valid metadata."""
        payload = _loads(text)
        if not isinstance(payload, dict):
            return None
        try:
            metadata = cls.create(**{f.name: payload.get(f.name) for f in dataclasses.fields(cls)})
        except (TypeError, ValueError):
            return None
        return dataclasses.replace(metadata, extra=_json_safe(metadata.extra))


def check_float(value, name, allow_nan=True):
    """float(value) of a Python or NumPy number; non-finite values only if `allow_nan`.

    Raises TypeError for anything that is not a number (bools and strings included) and ValueError
    for a non-finite value when `allow_nan` is False.
    """
    if isinstance(value, (bool, str, bytes)) or value is None:
        raise TypeError("%s must be a number; received %r" % (name, value))
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError("%s must be a number; received %r" % (name, value)) from None
    if not allow_nan and not math.isfinite(out):
        raise ValueError("%s must be finite; received %r" % (name, out))
    return out


def _loads(data):
    """json.loads of str or UTF-8 bytes, or None if it is not JSON (or nested too deeply)."""
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data).decode("utf-8")
        return json.loads(data)
    except (ValueError, TypeError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


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


def _json_default(obj):
    """NumPy scalars and arrays as Python numbers and lists (without importing NumPy)."""
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError("%r is not JSON-serializable" % (type(obj).__name__,))


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
