"""Tests of lazyfeat_tf.ntk.empirical: structured vs jacobian vs an explicit per-example reference."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from lazyfeat_tf import layers, models, ntk
from lazyfeat_tf.ntk import empirical, structured
from lazyfeat_tf.config import ModelSpec

FLOAT64_RTOL = 1e-10
FLOAT32_RTOL = 1e-5


def make_model(shape, kind="fc", depth=3, width=8, activation="softplus", use_bias=True, dtype="float64"):
    """A network of the package at alpha*sqrt(h) = 1, seed 0 (its bias scale beta = 0.5 when it has biases)."""
    spec = ModelSpec(kind=kind, depth=depth, width=width, activation=activation, use_bias=use_bias, beta=0.5)
    return models.build_model(spec, shape, alpha=1.0 / math.sqrt(width), seed=0, dtype=dtype)


FC_SHAPE = (6,)
CNN_SHAPE = (20, 20, 1)  # the smallest sides the article's CNN accepts are 19 x 19


def inputs(n, shape, seed, dtype="float64"):
    return np.random.default_rng(seed).normal(size=(n,) + shape).astype(dtype)


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def explicit_ntk(f, groups, x1, x2=None):
    """Reference: one GradientTape per example, flattened per-example gradients, contraction.

    `groups` is [(name, [variables])]; returns {name: [n1, n2] numpy kernel}.
    """

    def jacobians(x):
        rows = {name: [] for name, _ in groups}
        for i in range(len(x)):
            with tf.GradientTape() as tape:
                y = tf.reshape(f(x[i : i + 1]), [])
            all_vars = [v for _, vs in groups for v in vs]
            grads = tape.gradient(y, all_vars, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            k = 0
            for name, variables in groups:
                flat = [np.reshape(g.numpy(), -1) for g in grads[k : k + len(variables)]]
                rows[name].append(np.concatenate(flat))
                k += len(variables)
        return {name: np.stack(r) for name, r in rows.items()}

    j1 = jacobians(x1)
    j2 = j1 if x2 is None else jacobians(x2)
    return {name: j1[name] @ j2[name].T for name, _ in groups}


def our_reference(model, x1, x2=None):
    net = models.parts(model)
    groups = [
        (layer.name, [v for v in layer.trainable_weights if v.trainable]) for layer in net.parameter_layers
    ]
    return explicit_ntk(lambda x: net.readout.raw_output(net.trunk(x)), groups, x1, x2)


def assert_close(actual, expected, rtol, what):
    err = rel_err(actual, expected)
    assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol:g}"


def check_methods_agree(model, x1, x2, rtol=FLOAT64_RTOL, label=""):
    structured = ntk.empirical_ntk(model, x1, x2, method="structured", per_layer=True)
    jacobian = ntk.empirical_ntk(model, x1, x2, method="jacobian", per_layer=True)
    assert list(structured) == [layer.name for layer in models.parts(model).parameter_layers]
    assert list(jacobian) == list(structured)
    n2 = len(x1) if x2 is None else len(x2)
    for name in structured:
        assert tuple(structured[name].shape) == (len(x1), n2), f"method=structured {label} {name}: shape"
        assert_close(
            structured[name], jacobian[name], rtol, f"method=structured vs jacobian {label} layer {name}"
        )
    total = ntk.empirical_ntk(model, x1, x2, method="structured")
    assert_close(
        total, sum(np.asarray(k) for k in structured.values()), 1e-13, f"method=structured {label} sum"
    )
    return structured


def check_methods_agree_on_both_forms(model, x1, x2, label):
    """Structured = jacobian for the symmetric kernel on x1 and for x1 x x2."""
    check_methods_agree(model, x1, None, label=label + " x2=None")
    check_methods_agree(model, x1, x2, label=label + " x2!=x1")


@pytest.mark.parametrize(
    "activation,use_bias,depth",
    [("softplus", True, 3), ("softplus", False, 1), ("relu", True, 1), ("relu", False, 3)],
)
def test_structured_matches_jacobian_fc(activation, use_bias, depth):
    model = make_model(FC_SHAPE, "fc", depth, 8, activation, use_bias)
    check_methods_agree_on_both_forms(model, inputs(7, FC_SHAPE, 1), inputs(5, FC_SHAPE, 2),
                                      f"fc {activation} bias={use_bias} depth={depth}")


@pytest.mark.parametrize("activation,use_bias", [("relu", True), ("softplus", False)])
def test_structured_matches_jacobian_cnn(activation, use_bias):
    model = make_model(CNN_SHAPE, "cnn", width=3, activation=activation, use_bias=use_bias)
    check_methods_agree_on_both_forms(model, inputs(4, CNN_SHAPE, 1), inputs(3, CNN_SHAPE, 2),
                                      f"cnn {activation} bias={use_bias}")


@pytest.mark.parametrize("kind,shape", [("fc", FC_SHAPE), ("cnn", CNN_SHAPE)])
def test_both_methods_match_explicit_reference(kind, shape):
    model = make_model(shape, kind, depth=2, width=3, use_bias=True)
    x1, x2 = inputs(4, shape, 3), inputs(3, shape, 4)
    for x2_ in (None, x2):
        reference = our_reference(model, x1, x2_)
        for method in ("structured", "jacobian"):
            result = ntk.empirical_ntk(model, x1, x2_, method=method, per_layer=True)
            assert list(result) == list(reference), f"method={method}: layer names"
            for name in reference:
                assert_close(
                    result[name], reference[name], FLOAT64_RTOL, f"method={method} {kind} {name} vs explicit"
                )


def test_symmetric_kernel_is_symmetric_and_matches_cross_kernel():
    model = make_model(FC_SHAPE, "fc", width=5)
    x = inputs(6, FC_SHAPE, 5)
    for method in ("structured", "jacobian"):
        sym = ntk.empirical_ntk(model, x, method=method).numpy()
        cross = ntk.empirical_ntk(model, x, x, method=method).numpy()
        assert_close(sym, cross, 1e-14, f"method={method} x2=None vs x2=x1")
        assert_close(sym, sym.T, 1e-14, f"method={method} symmetry")


@pytest.mark.parametrize("use_bias,per_layer", [(True, True), (False, False)])
def test_symmetric_kernel_by_blocks_matches_explicit_reference(use_bias, per_layer, monkeypatch):
    """The kernel of a set with itself from its blocks on and above the diagonal (ragged blocks of 2
    rows of 7 points, the others transposed) equals the explicit contraction in float64."""
    monkeypatch.setattr(structured, "SYMMETRIC_BLOCK_ROWS", 2)
    assert structured.symmetric_rows(7) == 2
    assert structured.upper_block_pairs(5, 2) == [((0, 2), (0, 2)), ((0, 2), (2, 4)), ((0, 2), (4, 5)),
                                                 ((2, 4), (2, 4)), ((2, 4), (4, 5)), ((4, 5), (4, 5))]
    model = perturbed(make_model(FC_SHAPE, "fc", depth=3, width=5, use_bias=use_bias))
    x = inputs(7, FC_SHAPE, 18)
    reference = our_reference(model, x)
    result = ntk.empirical_ntk(model, x, per_layer=per_layer)
    if per_layer:
        assert list(result) == list(reference)
        for name in reference:
            assert_close(result[name], reference[name], FLOAT64_RTOL, f"symmetric blocks, layer {name}")
    else:
        assert_close(result, sum(reference.values()), FLOAT64_RTOL, "symmetric blocks, total")


def test_first_layer_gram_spares_the_input_gram_and_checks_its_shape(monkeypatch):
    """`input_gram=first_layer_gram(...)` gives the same kernel (symmetric, by blocks, and cross);
    a Gram of other points is a one-line error; a CNN has none."""
    model = perturbed(make_model(FC_SHAPE, "fc", depth=2, width=5))
    x1, x2 = inputs(6, FC_SHAPE, 19), inputs(4, FC_SHAPE, 20)
    for rows in (256, 2):  # one block; blocks of 2 rows
        monkeypatch.setattr(structured, "SYMMETRIC_BLOCK_ROWS", rows)
        for x2_ in (None, x2):
            gram = ntk.first_layer_gram(model, x1, x2_)
            assert tuple(gram.shape) == (6, 6 if x2_ is None else 4)
            expected = sum(our_reference(model, x1, x2_).values())
            assert_close(ntk.empirical_ntk(model, x1, x2_, input_gram=gram), expected, FLOAT64_RTOL,
                         f"input_gram, x2={'None' if x2_ is None else 'x2'}, block rows {rows}")
    with pytest.raises(ValueError, match=r"input_gram has shape \(6, 6\), the kernel is \[6, 4\]") as info:
        ntk.empirical_ntk(model, x1, x2, input_gram=ntk.first_layer_gram(model, x1))
    assert "\n" not in str(info.value)
    assert ntk.first_layer_gram(make_model(CNN_SHAPE, "cnn", width=3), inputs(2, CNN_SHAPE, 0)) is None


def test_chunking_gives_the_same_kernel(monkeypatch):
    fc = make_model(FC_SHAPE, "fc", width=5)
    cnn = make_model(CNN_SHAPE, "cnn", width=3)
    for model, shape in ((fc, FC_SHAPE), (cnn, CNN_SHAPE)):
        x1, x2 = inputs(5, shape, 6), inputs(3, shape, 7)
        for x2_ in (None, x2):
            total = sum(our_reference(model, x1, x2_).values())
            chunked = ntk.empirical_ntk(model, x1, x2_, method="structured", batch_size=2)
            assert_close(chunked, total, FLOAT64_RTOL, f"method=structured batch_size=2 {model.name}")
            if model is fc:
                chunked = ntk.empirical_ntk(model, x1, x2_, method="jacobian", batch_size=2)
                assert_close(chunked, total, FLOAT64_RTOL, "method=jacobian batch_size=2")
    # Tiny budgets: one conv output channel per block; one variable per Jacobian chunk and, for
    # the conv kernels, one sample per row block (column blocks recomputed).
    monkeypatch.setattr(structured, "STRUCTURED_CHUNK_BYTES", 1)
    monkeypatch.setattr(empirical, "JACOBIAN_CHUNK_BYTES", 8 * 3 * 40)
    x1, x2 = inputs(3, CNN_SHAPE, 8), inputs(2, CNN_SHAPE, 9)
    for x2_ in (None, x2):
        total = sum(our_reference(cnn, x1, x2_).values())
        for method in ("structured", "jacobian"):
            result = ntk.empirical_ntk(cnn, x1, x2_, method=method)
            assert_close(result, total, FLOAT64_RTOL, f"method={method} with tiny memory budgets")


def _float32_pair(kind, shape):
    model32 = make_model(shape, kind, width=6 if kind == "fc" else 3, dtype="float32")
    model64 = make_model(shape, kind, width=6 if kind == "fc" else 3, dtype="float64")
    model64.set_weights([w.astype("float64") for w in model32.get_weights()])
    return model32, model64


@pytest.mark.parametrize("kind,shape", [("fc", FC_SHAPE), ("cnn", CNN_SHAPE)])
def test_float32_eager_and_tf_function(kind, shape):
    model32, model64 = _float32_pair(kind, shape)
    x1, x2 = inputs(5, shape, 10, "float32"), inputs(4, shape, 11, "float32")
    reference = sum(our_reference(model64, x1.astype("float64"), x2.astype("float64")).values())
    for method in ("structured", "jacobian"):
        eager = ntk.empirical_ntk(model32, x1, x2, method=method)
        assert eager.dtype == tf.float32, f"method={method}: dtype {eager.dtype}"
        assert_close(eager, reference, FLOAT32_RTOL, f"method={method} float32 eager")

        @tf.function
        def compiled(a, b, method=method):
            return ntk.empirical_ntk(model32, a, b, method=method, per_layer=True)

        traced = compiled(tf.constant(x1), tf.constant(x2))
        assert isinstance(traced, dict)
        traced_total = sum(np.asarray(k) for k in traced.values())
        assert_close(traced_total, reference, FLOAT32_RTOL, f"method={method} float32 tf.function")


def test_float32_eager_calls_of_dense_nets_compile_with_xla(monkeypatch):
    """Eager float32 structured calls on a dense net run as one XLA program (float64 and CNNs do
    not), and its kernel, symmetric by ragged blocks and with the first layer's Gram or not, equals
    the explicit float64 contraction."""
    model32, model64 = _float32_pair("fc", FC_SHAPE)
    cnn32, _ = _float32_pair("cnn", CNN_SHAPE)
    assert empirical.compiles_with_xla(model32)
    assert not empirical.compiles_with_xla(model64) and not empirical.compiles_with_xla(cnn32)
    monkeypatch.setattr(structured, "SYMMETRIC_BLOCK_ROWS", 2)
    x = inputs(7, FC_SHAPE, 13, "float32")
    reference = our_reference(model64, x.astype("float64"))
    for gram in (None, ntk.first_layer_gram(model32, x)):
        per_layer = ntk.empirical_ntk(model32, x, per_layer=True, input_gram=gram)
        assert list(per_layer) == list(reference)
        for name in reference:
            assert_close(per_layer[name], reference[name], FLOAT32_RTOL, f"XLA symmetric blocks, layer {name}")
    assert empirical._structured_graph(model32, True, None)._jit_compile
    assert not empirical._structured_graph(model64, True, None)._jit_compile


def test_float64_tf_function_with_unknown_batch_size():
    model = make_model(FC_SHAPE, "fc", width=5)
    x = inputs(6, FC_SHAPE, 12)
    reference = sum(our_reference(model, x).values())
    for method in ("structured", "jacobian"):
        compiled = tf.function(
            lambda a, method=method: ntk.empirical_ntk(model, a, method=method, batch_size=2),
            input_signature=[tf.TensorSpec([None, *FC_SHAPE], tf.float64)],
        )
        result = compiled(tf.constant(x))
        assert result.dtype == tf.float64
        assert_close(result, reference, FLOAT64_RTOL, f"method={method} float64 tf.function, dynamic n")


def _hand_built_cnn(padding, strides, dtype="float64"):
    """A build_model-like model with other conv paddings / strides (trunk, trunk0, readout)."""

    def trunk(name):
        return keras.Sequential(
            [
                keras.Input((9, 9, 2), dtype=dtype),
                layers.NTKConv2D(
                    3,
                    kernel_size=3,
                    strides=strides,
                    padding=padding,
                    use_bias=True,
                    beta=0.3,
                    name="conv_a",
                    dtype=dtype,
                ),
                layers.NormalizedActivation("softplus", name="act_a", dtype=dtype),
                layers.NTKConv2D(2, kernel_size=2, strides=1, padding=padding, name="conv_b", dtype=dtype),
                layers.NormalizedActivation("relu", name="act_b", dtype=dtype),
                keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pool"),
            ],
            name=name,
        )

    keras.utils.set_random_seed(1)
    t, t0 = trunk("trunk"), trunk("trunk0")
    t0.set_weights(t.get_weights())
    t0.trainable = False
    x = keras.Input((9, 9, 2), dtype=dtype)
    readout = layers.CenteredReadout(1.0, dtype=dtype, name="readout")
    return keras.Model(x, readout([t(x), t0(x)]))


@pytest.mark.parametrize("padding,strides", [("same", 2), (0, 2), (2, 3)])
def test_conv_paddings_and_strides(padding, strides):
    model = _hand_built_cnn(padding, strides)
    assert ntk.resolve_method(model) == "structured"
    x1, x2 = inputs(4, (9, 9, 2), 13), inputs(3, (9, 9, 2), 14)
    reference = our_reference(model, x1, x2)
    result = ntk.empirical_ntk(model, x1, x2, method="structured", per_layer=True)
    for name in reference:
        assert_close(
            result[name],
            reference[name],
            FLOAT64_RTOL,
            f"method=structured padding={padding} strides={strides} {name}",
        )


def test_auto_picks_structured_for_our_models_and_jacobian_otherwise():
    ours = make_model(FC_SHAPE, "fc", width=4)
    assert ntk.resolve_method(ours) == "structured"
    assert ntk.resolve_method(ours, ntk.Method.JACOBIAN) == "jacobian"
    keras.utils.set_random_seed(0)
    plain = keras.Sequential(
        [
            keras.Input(FC_SHAPE, dtype="float64"),
            keras.layers.Dense(5, activation="tanh", dtype="float64", name="hidden"),
            keras.layers.Dense(1, dtype="float64", name="out"),
        ]
    )
    assert ntk.resolve_method(plain) == "jacobian"
    assert not ntk.supports_structured(plain)
    with pytest.raises(ValueError, match="method='structured'"):
        ntk.empirical_ntk(plain, inputs(3, FC_SHAPE, 0), method="structured")
    x1, x2 = inputs(5, FC_SHAPE, 15), inputs(4, FC_SHAPE, 16)
    groups = [(layer.name, layer.trainable_weights) for layer in plain.layers]
    reference = explicit_ntk(plain, groups, x1, x2)
    result = ntk.empirical_ntk(plain, x1, x2, per_layer=True)
    assert list(result) == ["hidden", "out"]
    for name in reference:
        assert_close(
            result[name], reference[name], FLOAT64_RTOL, f"method=auto (jacobian) plain Sequential {name}"
        )
    assert_close(
        ntk.empirical_ntk(plain, x1, x2), sum(reference.values()), FLOAT64_RTOL, "method=auto total"
    )


def test_generic_model_needs_one_output_per_example():
    keras.utils.set_random_seed(0)
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"one output per example.*\(3, 2\)"):
        ntk.empirical_ntk(plain, np.ones((3, 3), "float32"))


def test_unknown_method_and_bad_batch_size_errors():
    model = make_model(FC_SHAPE, "fc", depth=1, width=3)
    x = inputs(2, FC_SHAPE, 0)
    with pytest.raises(ValueError, match="received method='ntk_fast'") as info:
        ntk.empirical_ntk(model, x, method="ntk_fast")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="received batch_size=0"):
        ntk.empirical_ntk(model, x, batch_size=0)


def test_frozen_copy_does_not_enter_the_kernel():
    model = make_model(FC_SHAPE, "fc", depth=2, width=4)
    x = inputs(4, FC_SHAPE, 17)
    before = ntk.empirical_ntk(model, x).numpy()
    net = models.parts(model)
    for v in net.trunk0.weights:  # perturbing the frozen copy changes F but not Theta of f
        v.assign(v + 1.0)
    net.readout.kernel0.assign(net.readout.kernel0 + 1.0)
    assert_close(ntk.empirical_ntk(model, x), before, 1e-14, "method=auto after changing trunk0/kernel0")
    trainable = [v.path for v in model.trainable_variables]
    assert all(not p.startswith("trunk0") and "kernel0" not in p for p in trainable)


# ----------------------------------------------------------------------------------------------
# The kernel by blocks of rows (the frozen-kernel predictors' test kernel)


def perturbed(model, scale=0.3, seed=1):
    """`model` with its trained variables moved off their initial values (as training would)."""
    rng = np.random.default_rng(seed)
    for v in model.trainable_variables:
        v.assign(v.numpy() + scale * rng.standard_normal(v.shape).astype(v.dtype))
    return model


@pytest.mark.parametrize("kind, shape", [("fc", FC_SHAPE), ("cnn", CNN_SHAPE)])
def test_kernel_rows_are_the_blocks_of_the_whole_kernel(kind, shape, monkeypatch):
    """KernelRows yields consecutive blocks of at most `rows` rows of Theta(x_rows, x_cols) at the
    current parameters (float64, to 1e-10); `initial=True` gives those of Theta_0 and leaves the
    trained values in place, exactly; `assemble` is the whole kernel."""
    from lazyfeat_tf.ntk import predictor

    model, fresh = perturbed(make_model(shape, kind=kind)), make_model(shape, kind=kind)
    x_rows, x_cols = inputs(11, shape, seed=1), inputs(6, shape, seed=2)
    theta_t, theta_0 = (ntk.empirical_ntk(m, x_rows, x_cols).numpy() for m in (model, fresh))
    assert rel_err(theta_t, theta_0) > 1e-2
    trained = [v.numpy() for v in model.trainable_variables]
    calls = []
    monkeypatch.setattr(predictor, "empirical_ntk", lambda m, x1, x2, **kw: calls.append(len(x1)) or
                        empirical.empirical_ntk(m, x1, x2, **kw))
    for rows in (None, 4):  # the default (one block for a tiny kernel); ragged blocks of 4
        for initial, expected in ((False, theta_t), (True, theta_0)):
            calls.clear()
            kernel = predictor.KernelRows(model, x_rows, x_cols, initial=initial, rows=rows)
            blocks = list(kernel)
            lengths = [len(b) for b in blocks]
            assert max(lengths) <= (rows or 11) and sum(lengths) == 11
            # A CNN computes each block with empirical_ntk; an FC net from the operands of x_cols.
            assert calls == (lengths if kind == "cnn" else [])
            assert all(b.shape[1] == 6 and b.dtype == np.float64 for b in blocks)
            assert_close(np.concatenate(blocks), expected, FLOAT64_RTOL, f"rows={rows}, initial={initial}")
            assert_close(kernel.assemble(), expected, FLOAT64_RTOL, f"assemble, rows={rows}, initial={initial}")
    for before, v in zip(trained, model.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), before)


def test_kernel_rows_of_a_set_with_itself_assemble_from_the_upper_blocks(monkeypatch):
    """`KernelRows(model, x, x).assemble()` of a dense net mirrors its blocks on and above the
    diagonal (blocks of 2 rows of 7 points): the whole kernel at T and at w0 (float64, 1e-10)."""
    from lazyfeat_tf.ntk import predictor

    sides = []
    monkeypatch.setattr(predictor, "square_rows", lambda n: sides.append(n) or 2)
    model, fresh = perturbed(make_model(FC_SHAPE)), make_model(FC_SHAPE)
    x = inputs(7, FC_SHAPE, seed=3)
    for initial, reference in ((False, model), (True, fresh)):
        expected = ntk.empirical_ntk(reference, x).numpy()
        kernel = predictor.KernelRows(model, x, x, initial=initial).assemble()
        assert kernel.dtype == np.float64 and kernel.shape == (7, 7)
        assert_close(kernel, expected, FLOAT64_RTOL, f"symmetric assemble, initial={initial}")
        np.testing.assert_allclose(kernel, kernel.T, rtol=1e-12)
    assert sides == [7, 7]  # the blocks' side comes from square_rows
