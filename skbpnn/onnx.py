"""Export a fitted BackpropClassifier to ONNX, through skl2onnx.

Importing this module registers a converter for
:class:`~skbpnn.BackpropClassifier` with skl2onnx, so that
``skl2onnx.to_onnx`` converts the estimator alone or as the last step of a
:class:`~sklearn.pipeline.Pipeline`; :func:`to_onnx` does the same in one
call and can write the file. The graph computes what the estimator computes:

============  ==========================  ==========================
target        ``label``                   ``probabilities``
============  ==========================  ==========================
binary        ``classes_[z > 0]``         ``[1 - h, h]``
multiclass    ``classes_[argmax z]``      ``h / sum(h)``
multilabel    ``z > 0``, (n, K) int64     ``h``
============  ==========================  ==========================

with ``z`` the output layer's input and ``h = g(z)``. The probabilities are
computed from ``log g(z) = min(z, 0) - log(1 + exp(-|z|))``, which stays
finite for every ``z``: onnxruntime's ``Sigmoid`` is exactly 0 below about
-17 in float32 (-40 in float64), and ``h / sum(h)`` taken from it would be
0 / 0 far from the training data. float32 input is computed in float32,
float64 input in float64. The classifier options of skl2onnx apply:
``zipmap`` (True, False or "columns"), ``nocl`` and ``output_class_labels``.

skl2onnx is an optional dependency (``pip install "skbpnn[onnx]"``). This
module imports without it; :func:`register` and :func:`to_onnx` then raise
an ImportError whose message, :data:`INSTALL_HINT`, says how to install it.
"""

import numbers
import warnings

import numpy as np

__all__ = ["INSTALL_HINT", "register", "to_onnx"]

#: The one-line message of the ImportError raised when skl2onnx is missing.
INSTALL_HINT = 'ONNX export needs skl2onnx: pip install "skbpnn[onnx]"'

_registered = False


def _skl2onnx():
    try:
        import skl2onnx
    except ModuleNotFoundError as exc:
        if exc.name not in ("skl2onnx", "onnx"):
            raise  # installed but broken: its own error says more
        raise ImportError(INSTALL_HINT) from exc
    return skl2onnx


def register():
    """Register the BackpropClassifier converter with skl2onnx.

    Importing :mod:`skbpnn.onnx` already does this when skl2onnx is
    installed; calling it again does nothing. Call it to fail early (before
    a long fit, say) when skl2onnx is missing.

    Raises
    ------
    ImportError
        skl2onnx is not installed; the message is :data:`INSTALL_HINT`.
    """
    global _registered
    skl2onnx = _skl2onnx()
    if _registered:
        return
    from . import BackpropClassifier

    skl2onnx.update_registered_converter(
        BackpropClassifier,
        "SkbpnnBackpropClassifier",
        _calculate_output_shapes,
        _convert,
        options={
            "zipmap": [True, False, "columns"],
            "nocl": [False, True],
            "output_class_labels": [False, True],
        },
    )
    _registered = True


def to_onnx(
    model,
    X,
    path=None,
    *,
    dtype=np.float64,
    zipmap=False,
    nocl=False,
    output_class_labels=False,
    target_opset=None,
):
    """Convert a fitted BackpropClassifier, or a Pipeline ending in one, to ONNX.

    Parameters
    ----------
    model : BackpropClassifier or Pipeline
        Fitted. Every step of a Pipeline needs a skl2onnx converter.
    X : array-like, DataFrame or int
        A sample of the input (one row is enough): its dtype is the graph's
        input type, float32 or float64, and a DataFrame gives one input per
        column, as ``skl2onnx.to_onnx`` does. An int is the number of
        features of a single input named ``"X"`` of type ``dtype``.
    path : str or path-like, default=None
        Where to write the model; None writes nothing.
    dtype : {np.float64, np.float32}, default=np.float64
        The input type when ``X`` is an int.
    zipmap : bool or "columns", default=False
        False gives the two tensors ``label`` and ``probabilities``; True
        turns the probabilities into skl2onnx's list of dicts, "columns"
        into one output per class.
    nocl : bool, default=False
        Labels are class indices instead of ``classes_``.
    output_class_labels : bool, default=False
        A third output holding ``classes_`` (with ``zipmap=False`` only).
    target_opset : int or None, default=None
        The ONNX opset; None is skl2onnx's default.

    Returns
    -------
    onx : onnx.ModelProto
        The model; ``onx.SerializeToString()`` is what ``path`` receives.

    Raises
    ------
    ImportError
        skl2onnx is not installed; the message is :data:`INSTALL_HINT`.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skbpnn import BackpropClassifier
    >>> from skbpnn.onnx import to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0))
    >>> onx = to_onnx(model.fit(X, y), X[:1])
    >>> [v.name for v in onx.graph.input], [v.name for v in onx.graph.output]
    (['X'], ['label', 'probabilities'])
    """
    skl2onnx = _skl2onnx()
    register()
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from sklearn.preprocessing import StandardScaler

    from . import BackpropClassifier

    options = {
        BackpropClassifier: {
            "zipmap": zipmap,
            "nocl": nocl,
            "output_class_labels": output_class_labels,
        },
        # skl2onnx's default multiplies by 1 / scale_ where scikit-learn
        # divides by scale_; with float32 input far from the training data
        # that last-bit difference moved probabilities by 1e-5. "div"
        # subtracts and divides in the input's type, as scikit-learn >= 1.8
        # does (earlier versions compute float32 input in float64).
        StandardScaler: {"div": "div"},
    }
    if isinstance(X, numbers.Integral):
        tensor_type = {np.float32: FloatTensorType, np.float64: DoubleTensorType}[
            np.dtype(dtype).type
        ]
        onx = skl2onnx.to_onnx(
            model,
            initial_types=[("X", tensor_type([None, int(X)]))],
            options=options,
            target_opset=target_opset,
        )
    else:
        onx = skl2onnx.to_onnx(model, X, options=options, target_opset=target_opset)
    if path is not None:
        with open(path, "wb") as f:
            f.write(onx.SerializeToString())
    return onx


def _target_kind(clf):
    """The kind of target: binary, multiclass or multilabel, from public behaviour."""
    if clf.n_outputs_ == 1:
        return "binary"
    # Multiclass and multilabel networks both have one output unit per class;
    # predict tells them apart: it returns a 2-D indicator matrix for
    # multilabel targets. (The row's values do not matter.)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature")
        y = clf.predict(np.zeros((1, clf.n_features_in_)))
    return "multilabel" if y.ndim == 2 else "multiclass"


def _label_values(classes):
    """``classes`` as ONNX label values: int64 or UTF-8 strings.

    As in skl2onnx's own converters, bool and integral float labels become
    int64 and everything else must be strings.
    """
    classes = np.asarray(classes)
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        ints = classes.astype(np.int64)
        if not np.array_equal(ints, classes):
            raise ValueError(
                "ONNX labels are int64 or strings: the float class labels "
                f"{classes} are not all integers."
            )
        return ints
    if not all(isinstance(c, str) for c in classes):
        raise ValueError(
            f"ONNX labels are int64 or strings, got class labels {classes!r}."
        )
    return np.array([c.encode("utf-8") for c in classes], dtype=object)


def _calculate_output_shapes(operator):
    """skl2onnx shape calculator: the types and shapes of label, probabilities."""
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import check_input_and_output_numbers
    from skl2onnx.common.utils_classifier import get_label_classes

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    input_type = operator.inputs[0].type
    if not isinstance(input_type, (FloatTensorType, DoubleTensorType)):
        raise TypeError(
            "BackpropClassifier's ONNX graph takes float32 or float64 input, "
            f"got {type(input_type).__name__}: convert X with X.astype(np.float32) "
            "or X.astype(np.float64)."
        )
    clf = operator.raw_operator
    zipmap = operator.scope_inst.get_options(clf, dict(zipmap=True))["zipmap"]
    if zipmap is True and isinstance(input_type, DoubleTensorType):
        raise TypeError(
            "zipmap=True needs float32 input: ONNX's ZipMap takes float32 "
            "probabilities. Use zipmap=False or 'columns' with float64 input."
        )
    n = operator.inputs[0].get_first_dimension()
    labels = _label_values(get_label_classes(operator.scope_inst, clf))
    K = len(labels)
    if _target_kind(clf) == "multilabel":
        operator.outputs[0].type = Int64TensorType([n, K])
    elif labels.dtype == object:
        operator.outputs[0].type = StringTensorType([n])
    else:
        operator.outputs[0].type = Int64TensorType([n])
    operator.outputs[1].type = type(input_type)([n, K])


def _convert(scope, operator, container):
    """skl2onnx converter: the estimator's forward pass and outputs as nodes."""
    from skl2onnx.common._apply_operation import apply_cast, apply_clip
    from skl2onnx.common.data_types import guess_proto_type
    from skl2onnx.common.utils_classifier import get_label_classes
    from skl2onnx.proto import onnx_proto

    clf = operator.raw_operator
    proto_type = guess_proto_type(operator.inputs[0].type)
    dtype = np.float32 if proto_type == onnx_proto.TensorProto.FLOAT else np.float64
    label_name, proba_name = (v.full_name for v in operator.outputs)

    def name(hint):
        return scope.get_unique_variable_name(hint)

    def node(op_type, inputs, hint, out=None, **attrs):
        out = out or name(hint)
        container.add_node(
            op_type, inputs, out, name=scope.get_unique_operator_name(op_type), **attrs
        )
        return out

    def constant(hint, value, proto=proto_type, np_type=dtype):
        value = np.asarray(value, dtype=np_type)
        const = name(hint)
        container.add_initializer(const, proto, list(value.shape), value.ravel())
        return const

    # Forward propagation, z^(l+1) = a^(l) W_l + b_l with W_l = coefs_[l], in
    # the input's float type as the estimator computes; a^(l+1) = g(z^(l+1))
    # on the hidden layers.
    a = operator.inputs[0].full_name
    last = len(clf.coefs_) - 1
    for l, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        z = node("MatMul", [a, constant("coefficient", W)], "mul_result")
        z = node("Add", [z, constant("intercepts", b.reshape(1, -1))], "z")
        if l < last:
            a = node("Sigmoid", z, "activations")

    # log g(z) = min(z, 0) - log(1 + exp(-|z|)) and
    # log(1 - g(z)) = log g(-z) = -max(z, 0) - log(1 + exp(-|z|)): no
    # overflow, no log(0). Dropping log1p's last term where exp(-|z|) is
    # below the rounding error changes h by a relative rounding error.
    zero, one = constant("zero", 0), constant("one", 1)
    exp_neg_abs = node("Exp", node("Neg", node("Abs", z, "abs_z"), "neg"), "exp")
    log1p = node("Log", node("Add", [exp_neg_abs, one], "one_plus"), "log1p")
    log_h = node("Sub", [node("Min", [z, zero], "min_z_0"), log1p], "log_h")

    kind = _target_kind(clf)
    if kind == "binary":
        relu = node("Relu", z, "max_z_0")
        log_1mh = node("Neg", node("Add", [relu, log1p], "softplus"), "log_1mh")
        log_proba = node("Concat", [log_1mh, log_h], "log_proba", axis=1)
        node("Exp", log_proba, None, out=proba_name)
        positive = node("Greater", [z, zero], "z_positive")
        index = node("Cast", positive, "index", to=onnx_proto.TensorProto.INT64)
        index = node("Reshape", [index, constant("shape", [-1], 7, np.int64)], "flat")
    elif kind == "multiclass":
        # h_k / sum_j h_j = exp(log h_k - logsumexp_j log h_j): Softmax takes
        # the row maximum out first, so no row is 0 / 0.
        node("Softmax", log_h, None, out=proba_name, axis=1)
        index = node("ArgMax", z, "index", axis=1, keepdims=0)
    else:
        # As predict_proba: h kept strictly inside (0, 1).
        info = np.finfo(dtype)
        h = node("Exp", log_h, "h")
        apply_clip(
            scope,
            h,
            proba_name,
            container,
            min=dtype(info.tiny),
            max=dtype(1 - info.eps),
        )
        positive = node("Greater", [z, zero], "z_positive")
        apply_cast(
            scope, positive, label_name, container, to=onnx_proto.TensorProto.INT64
        )
        return

    labels = _label_values(get_label_classes(scope, clf))
    if labels.dtype == object:
        classes = name("classes")
        container.add_initializer(
            classes, onnx_proto.TensorProto.STRING, [len(labels)], list(labels)
        )
    else:
        classes = constant("classes", labels, onnx_proto.TensorProto.INT64, np.int64)
    node("Gather", [classes, index], None, out=label_name, axis=0)


try:
    register()
except ImportError:
    pass  # skl2onnx is missing: register() and to_onnx() say how to install it
