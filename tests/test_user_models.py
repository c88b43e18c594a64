"""The user's own model: reloaded files with Keras's default names, names TensorFlow refuses,
pretrained bases nested in a model, token inputs, and a zoo of the models people bring."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers

from core_helpers import zero_mean_kernels

from actmax_widgets import ActMaxWidget, catalogue, cli, model_cut, model_facts, names, visualization
from actmax_widgets import visualize_activation, visualize_filters

ACT_ONLY = dict(tv_weight=0, lp_norm_weight=0)  # the activation alone: the best image is the most active


# --- a reloaded model with Keras's default names ---------------------------------------------

# Layer names a fresh process gives by default, and which the library's own operations (the
# losses' keras.ops, a new input) also get from a fresh counter.
_DEFAULT_NAMED = """
import keras
from keras import layers
inputs = keras.Input((32, 32, 3), name="input_layer")
a = layers.Conv2D(8, 3, padding="same", name="conv2d")(inputs)
a = layers.BatchNormalization(name="batch_normalization")(a)
a = layers.ReLU(name="re_lu")(a)
b = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2d_1")(a)
added = layers.Add(name="add")([a, b])
x = layers.Subtract(name="subtract")([added, a])
x = layers.Multiply(name="multiply")([x, b])
x = layers.Maximum(name="maximum")([x, a])
x = layers.Activation("relu", name="activation")(x)
x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
outputs = layers.Dense(10, activation="softmax", name="dense")(x)
keras.Model(inputs, outputs, name="functional").save(PATH)
"""

_RUN_EVERYTHING = """
import json, sys, traceback
import keras
from actmax_widgets import model_cut, visualize_activation, visualize_filters
model = keras.models.load_model(PATH)
quick = dict(max_iter=2, seed=0)
cases = {
    "filters at the add": lambda: visualize_filters(model, "add", [0, 1], **quick),
    "BN folded, target head": lambda: visualize_filters(model, "conv2d_1", [0, 1], **quick),
    "each merge layer": lambda: [visualize_filters(model, name, [0], **quick)
                                 for name in ("subtract", "multiply", "maximum", "activation")],
    "resized (a new input)": lambda: visualize_filters(model, "add", [0], image_size=24, **quick),
    "guided backprop copy": lambda: visualize_filters(model, "add", [0], backprop_modifier="guided", **quick),
    "ReLU warm-up copy": lambda: visualize_filters(model, "add", [0], relu_warmup=2, **quick),
    "bfloat16 copy": lambda: visualize_filters(model, "conv2d_1", [0], precision="bfloat16", **quick),
    "fourier style": lambda: visualize_filters(model, "add", [0], style="fourier", **quick),
    "diverse copies": lambda: visualize_filters(model, "add", [0, 0], diversity=1.0, **quick),
    "linear output copy": lambda: visualize_filters(model_cut.with_linear_activation(model, "dense"), "dense",
                                                    [3], **quick),
    "keras-vis visualize_activation": lambda: visualize_activation(model, "add", 0, max_iter=2),
    "keras-vis on the softmax": lambda: visualize_activation(model, "dense", 3, max_iter=2),
}
failures = {}
for name, case in cases.items():
    try:
        case()
    except Exception as error:
        failures[name] = f"{type(error).__name__}: {error}"[:300]
print(json.dumps(failures))
"""


_SAVED = {}


def _default_named_file(tmp_path):
    """The ``.keras`` file with Keras's default names, written once per session into the first
    caller's ``tmp_path``. Written here, not in a fresh process (which imports TensorFlow:
    seconds): every name is given explicitly, so the file is the same; only the process that
    *loads* it must be fresh (its own name counters then collide with the file's names)."""
    if "default named" not in _SAVED:
        exec(_DEFAULT_NAMED, {"PATH": str(tmp_path / "default_named.keras")})
        _SAVED["default named"] = tmp_path / "default_named.keras"
    return _SAVED["default named"]


# Run in the same fresh process after _RUN_EVERYTHING (its names come after the file's): a
# channels-first model, with oneDNN off as on AMD CPUs.
_CHANNELS_FIRST_WITHOUT_ONEDNN = """
import re
from keras import layers
from actmax_widgets import model_facts
inputs = keras.Input((3, 16, 16))
x = layers.Conv2D(4, 3, data_format="channels_first", name="conv")(inputs)
model = keras.Model(inputs, x)
runs = model_facts._channels_first_convs_run_here()
try:
    result = visualize_filters(model, "conv", [0, 1], max_iter=3, seed=0)
    outcome = "ran" if result.images.shape == (2, 16, 16, 3) else "wrong shape"
except ValueError as error:
    named = re.search(r"TF_ENABLE_ONEDNN_OPTS=1.*channels-last", str(error), re.S)
    outcome = "clear error" if named else f"unclear error: {error}"
print(json.dumps([outcome, runs]))
"""


def _fresh_process(tmp_path):
    """One fresh process (it imports TensorFlow: seconds) answers both tests below: what failed
    on the reloaded default-named model, then how a channels-first model ends. oneDNN is off in
    it, as TensorFlow sets it on AMD CPUs (this CI's default too)."""
    if "fresh process" not in _SAVED:
        code = f"PATH = {str(_default_named_file(tmp_path))!r}\n" + _RUN_EVERYTHING + _CHANNELS_FIRST_WITHOUT_ONEDNN
        env = {**__import__("os").environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
        completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                   timeout=600)
        assert completed.returncode == 0, completed.stderr[-3000:]
        failures, channels_first = completed.stdout.strip().splitlines()[-2:]
        _SAVED["fresh process"] = json.loads(failures), json.loads(channels_first), completed.stderr
    return _SAVED["fresh process"]


def test_a_reloaded_model_with_default_names_works_everywhere_in_a_fresh_process(tmp_path):
    # A fresh process: its name counters start where the file's names came from.
    failures, _, _ = _fresh_process(tmp_path)
    assert failures == {}


def test_operations_the_losses_add_yield_their_names_to_the_model():
    image = keras.Input((8, 8, 3), name="image")
    conv = layers.Conv2D(4, 3, name="conv")
    features = keras.ops.abs(conv(image))  # an operation inside the user's model
    model_op = features._keras_history.operation
    model_op.name = "my_abs"
    logits = layers.Dense(2, name="dense")(keras.ops.mean(features, axis=(1, 2)))
    # What a loss adds, with names a reloaded model's counter could give it.
    loss_ops = [keras.ops.mean(logits), keras.ops.sum(keras.ops.abs(image))]
    for out, name in zip(loss_ops, ["dense", "my_abs"]):
        out._keras_history.operation.name = name
    names.rename_clashing_operations([image], loss_ops)
    assert (conv.name, model_op.name) == ("conv", "my_abs")
    assert [out._keras_history.operation.name for out in loss_ops] == ["dense_2", "my_abs_2"]
    keras.Model(image, loss_ops)  # builds: every name is unique


# --- names TensorFlow refuses as scopes -------------------------------------------------------

@pytest.fixture(params=["my conv", "conv:1", "<conv>"])
def oddly_named(request):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3), name="the image")
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name=request.param)(inputs)
    x = layers.Conv2D(6, 3, name="after")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return zero_mean_kernels(keras.Model(inputs, layers.Dense(3, name="out")(x), name="odd names")), request.param


def test_layer_names_that_are_not_scope_names_work(oddly_named):
    model, odd = oddly_named
    assert [info.name for info in catalogue.visualizable_layers(model)] == [odd, "after", "out"]
    for layer in (odd, "after"):
        result = visualize_filters(model, layer, [0, 1], max_iter=6, seed=0, **ACT_ONLY)
        assert result.layer_name == layer
        assert np.all(result.activation_history[-1] > result.activation_history[0])
    assert visualize_activation(model, odd, 0, max_iter=2).shape == (16, 16, 3)


# --- nested models (transfer learning) --------------------------------------------------------

def _tiny_base():
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = layers.Conv2D(8, 3, padding="same", name="conv_b")(x)
    x = layers.ReLU(name="conv_b_relu")(x)
    return keras.Model(inputs, x, name="base")


def transfer_sequential():
    """keras.Sequential([preprocessing, pretrained base, pooling, new head])."""
    keras.utils.set_random_seed(1)
    base = zero_mean_kernels(_tiny_base())
    return keras.Sequential([keras.Input((16, 16, 3)), layers.Rescaling(1 / 255, name="scale"), base,
                             layers.GlobalAveragePooling2D(name="pool"),
                             layers.Dense(4, activation="softmax", name="dense")],
                            name="transfer")


def transfer_functional():
    """A functional model that calls the base like a layer."""
    keras.utils.set_random_seed(1)
    base = zero_mean_kernels(_tiny_base())
    inputs = keras.Input((16, 16, 3), name="image")
    x = base(layers.Rescaling(1 / 255, name="scale")(inputs), training=False)
    outputs = layers.Dense(4, activation="softmax", name="dense")(layers.GlobalAveragePooling2D(name="pool")(x))
    return keras.Model(inputs, outputs, name="transfer_functional")


@pytest.fixture(params=[transfer_sequential, transfer_functional])
def transfer(request):
    return request.param()


def _inner_activation(model, image):
    """Brute force: the base's conv_b_relu channels (spatial mean) on ``image`` (0..255), through
    the outer model's preprocessing and a keras.Model of the nested graph itself."""
    base = model.get_layer("base")
    inner = keras.Model(base.input, base.get_layer("conv_b_relu").output)
    return keras.ops.convert_to_numpy(inner(np.asarray(image, "float32")[None] / 255)).mean(axis=(0, 1, 2))


def test_catalogue_lists_and_describes_the_layers_inside_a_nested_model(transfer):
    names = [info.name for info in catalogue.visualizable_layers(transfer)]
    assert names == ["base/conv_a", "base/conv_b", "base/conv_b_relu", "dense"]
    info = catalogue.describe_layer(transfer, "base/conv_b")
    assert (info.name, info.kind, info.n_filters) == ("base/conv_b", "conv2d", 8)
    inner = transfer.get_layer("base").get_layer("conv_b")
    assert catalogue.describe_layer(transfer, inner).name == "base/conv_b"  # the layer object too
    assert catalogue.describe_layer(transfer, "base").name == "base/conv_b_relu"  # the base: its output
    with pytest.raises(ValueError, match=r"No layer with name 'base/conv_z'.*'<nested model>/<layer>'"):
        catalogue.describe_layer(transfer, "base/conv_z")


def test_a_nested_channel_rises_when_optimized_at_the_outer_input(transfer):
    result = visualize_filters(transfer, "base/conv_b_relu", [0, 3, 5], max_iter=12, seed=0, **ACT_ONLY)
    assert result.layer_name == "base/conv_b_relu"
    history = result.activation_history
    assert np.all(history[-1] > history[0] + 1e-3)
    for row, channel in enumerate([0, 3, 5]):
        brute = _inner_activation(transfer, result.raw_images[row])[channel]
        # The returned image is the most active one seen: what the run reported for it.
        np.testing.assert_allclose(brute, np.nanmax(history[:, row]), rtol=1e-3, atol=1e-5)


def test_a_nested_layer_batched_equals_one_at_a_time(transfer):
    settings = dict(max_iter=6, seed=4)
    batched = visualize_filters(transfer, "base/conv_b", [1, 6], **settings)
    for row, channel in enumerate([1, 6]):
        alone = visualize_filters(transfer, "base/conv_b", [channel], **settings)
        np.testing.assert_allclose(batched.raw_images[row], alone.raw_images[0], rtol=1e-4, atol=1e-3)


def test_visualize_activation_takes_a_nested_layer(transfer):
    image = visualize_activation(transfer, "base/conv_b", 2, max_iter=8, **ACT_ONLY, seed=0)
    assert image.shape == (16, 16, 3) and image.std() > 0


def test_a_keras_applications_base_in_a_sequential_model():
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None)
    model = keras.Sequential([base, layers.GlobalAveragePooling2D(), layers.Dense(10)])
    names = [info.name for info in catalogue.visualizable_layers(model)]
    target = f"{base.name}/block_5_add"
    assert target in names and names[-1] == model.layers[-1].name
    result = visualize_filters(model, target, [0, 1], max_iter=2, seed=0)
    assert result.layer_name == target and result.images.shape == (2, 32, 32, 3)


def test_a_model_nested_two_deep_with_names_the_outer_model_also_uses():
    keras.utils.set_random_seed(5)
    inner = keras.Sequential([keras.Input((16, 16, 3)), layers.Conv2D(4, 3, name="conv"), layers.ReLU(name="relu")],
                             name="inner")
    middle_in = keras.Input((16, 16, 3))
    middle = keras.Model(middle_in, layers.Conv2D(5, 1, name="conv")(inner(middle_in)), name="middle")
    outer = keras.Sequential([keras.Input((16, 16, 3)), layers.Conv2D(3, 1, name="conv"), middle,
                              layers.GlobalAveragePooling2D(name="pool"), layers.Dense(2, name="dense")])
    names = [info.name for info in catalogue.visualizable_layers(outer)]
    assert names == ["conv", "middle/inner/conv", "middle/inner/relu", "middle/conv", "dense"]
    for name, channels in (("middle/inner/conv", 4), ("middle/conv", 5), ("conv", 3)):
        result = visualize_filters(outer, name, [0, 1], max_iter=5, seed=0, **ACT_ONLY)
        assert result.layer_name == name and catalogue.describe_layer(outer, name).n_filters == channels
        assert np.all(result.activation_history[-1] > result.activation_history[0])


def test_the_cli_and_the_widget_take_a_nested_layer(transfer, tmp_path):
    path, out = tmp_path / "transfer.keras", tmp_path / "grid.png"
    transfer.save(path)
    assert cli.main(["--model", str(path), "--layer", "base/conv_b", "--filters", "0-1", "--steps", "3",
                     "--size", "16", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    widget = ActMaxWidget(transfer, layer="base/conv_b", prepare=False, steps=3, image_size=16,
                          precision="float32")
    result = widget.run(blocking=True)
    assert result.layer_name == "base/conv_b" and result.steps == 3
    widget.controls.linear_output.value = True  # a linear copy of the working model answers too
    widget.controls.layer.value = "dense"
    assert widget.run(blocking=True).layer_name == "dense"
    widget.close()


def test_a_linear_output_copy_of_a_model_with_a_nested_base(transfer):
    linear = model_cut.with_linear_activation(transfer, "dense")
    logits = visualize_filters(linear, "dense", [1], max_iter=4, seed=0, **ACT_ONLY).activation_history
    assert logits[-1, 0] > logits[0, 0]


# --- integer (token) inputs -------------------------------------------------------------------

def text_model():
    keras.utils.set_random_seed(2)
    tokens = keras.Input((20,), dtype="int32", name="tokens")
    x = layers.Embedding(50, 8, name="embedding")(tokens)
    x = layers.Conv1D(6, 3, name="conv")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(tokens, layers.Dense(2, name="dense")(x), name="text")


def test_an_integer_input_is_refused_before_tracing_and_the_suggested_fix_works(monkeypatch):
    model = text_model()

    def no_tracing(*args, **kwargs):
        raise AssertionError("a compiled step was built for a model that cannot be optimized")

    monkeypatch.setattr(visualization, "CompiledOptimizer", no_tracing)
    with pytest.raises(TypeError, match=r"integer input \(int32.*no gradient.*keras.Model\("
                                        r"model.get_layer\('embedding'\)\.output, model.output\)"):
        visualize_filters(model, "conv", [0], max_iter=2)
    monkeypatch.undo()
    # What the message suggests.
    sub = keras.Model(model.get_layer("embedding").output, model.output)
    result = visualize_filters(sub, "conv", [0, 1], max_iter=8, seed=0, **ACT_ONLY)
    assert result.images.shape == (2, 20, 8)
    assert np.all(result.activation_history[-1] > result.activation_history[0])


# --- the zoo: models people bring, through the core, the CLI and the widget -------------------

def mnist_like():
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(4, 3, name="conv")(inputs)
    return keras.Model(inputs, layers.Dense(10)(layers.Flatten()(x)), name="mnist_like")


def cifar_like():
    inputs = keras.Input((32, 32, 3))
    x = layers.MaxPooling2D()(layers.Conv2D(6, 3, name="conv")(inputs))
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(layers.Flatten()(x)), name="cifar_like")


def reloaded(tmp_path):
    return keras.models.load_model(_default_named_file(tmp_path))


@keras.saving.register_keras_serializable(package="test_user_models")
class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(4, 3, name="conv")
        self.pool = layers.GlobalAveragePooling2D()
        self.head = layers.Dense(3)

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


def subclassed():
    model = Subclassed(name="subclassed")
    model(np.zeros((1, 16, 16, 3), "float32"))  # called, so built: still no graph of layers
    return model


def multi_input():
    image, extra = keras.Input((16, 16, 3)), keras.Input((4,))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, name="conv")(image))
    return keras.Model([image, extra], layers.Dense(2)(layers.Concatenate()([x, extra])), name="multi_input")


def multi_output():
    inputs = keras.Input((16, 16, 3))
    trunk = layers.Conv2D(4, 3, activation="relu", name="trunk")(inputs)
    a = layers.Dense(2, name="head_a")(layers.GlobalAveragePooling2D()(trunk))
    b = layers.Conv2D(5, 3, name="branch_conv")(trunk)
    b = layers.Dense(3, name="head_b")(layers.GlobalAveragePooling2D()(b))
    return keras.Model(inputs, [a, b], name="multi_output")


def channels_first():
    inputs = keras.Input((3, 16, 16))
    x = layers.Conv2D(4, 3, data_format="channels_first", name="conv")(inputs)
    x = layers.GlobalAveragePooling2D(data_format="channels_first")(x)
    return keras.Model(inputs, layers.Dense(2)(x), name="channels_first")


# (builder, layer, None where it works, else (error type, what the message must say))
ZOO = {
    "mnist-like": (mnist_like, "conv", None),
    "cifar-like": (cifar_like, "conv", None),
    "transfer-learning": (transfer_sequential, "base/conv_b", None),
    "reloaded default names": (reloaded, "add", None),
    "subclassed": (subclassed, "conv", (TypeError, r"no symbolic input.*Rebuild it as a functional model")),
    "multi-input": (multi_input, "conv", (ValueError, r"has 2 inputs.*single-input model")),
    "multi-output": (multi_output, "branch_conv", None),
    "channels-first": (channels_first, "conv", None if model_facts._channels_first_convs_run_here() else
                       (ValueError, r"channels-first convolutions \(conv\).*TF_ENABLE_ONEDNN_OPTS=1.*"
                                    r"rebuild the model channels-last")),
    "text": (text_model, "conv", (TypeError, r"integer input \(int32.*no gradient.*get_layer\('embedding'\)")),
}


def _build(case, tmp_path):
    builder = ZOO[case][0]
    model = builder(tmp_path) if builder is reloaded else builder()
    return zero_mean_kernels(model)


@pytest.mark.parametrize("case", list(ZOO))
def test_zoo_core(case, tmp_path):
    _, layer, failure = ZOO[case]
    model = _build(case, tmp_path)
    if failure is not None:
        with pytest.raises(failure[0], match=failure[1]):
            visualize_filters(model, layer, [0, 1], max_iter=3)
        return
    result = visualize_filters(model, layer, [0, 1], max_iter=4, seed=0, **ACT_ONLY)
    assert np.all(result.activation_history[-1] > result.activation_history[0])


@pytest.mark.parametrize("case", list(ZOO))
def test_zoo_cli(case, tmp_path, capsys):
    _, layer, failure = ZOO[case]
    model = _build(case, tmp_path)
    path, out = tmp_path / "model.keras", tmp_path / "grid.png"
    model.save(path)
    code = cli.main(["--model", str(path), "--layer", layer, "--filters", "0-1", "--steps", "3",
                     "--out", str(out)])
    if failure is not None:
        err = capsys.readouterr().err
        assert code == 2 and re.search(failure[1], err) and "Traceback" not in err
        return
    assert code == 0 and out.stat().st_size > 0


@pytest.mark.parametrize("case", list(ZOO))
def test_zoo_cli_lists_layers(case, tmp_path, capsys):
    _, layer, failure = ZOO[case]
    path = tmp_path / "model.keras"
    _build(case, tmp_path).save(path)
    code = cli.main(["--model", str(path), "--list-layers"])
    out, err = capsys.readouterr()
    if failure is not None and case != "channels-first":  # listing computes nothing: it works there
        assert code == 2 and re.search(failure[1], err) and "Traceback" not in err, err
        return
    assert code == 0 and layer in [line.split(" — ")[0] for line in out.splitlines()], out


@pytest.mark.parametrize("case", list(ZOO))
def test_zoo_widget(case, tmp_path):
    _, layer, failure = ZOO[case]
    model = _build(case, tmp_path)
    if failure is not None:  # said when the widget is made, or else when it runs
        with pytest.raises(failure[0], match=failure[1]):
            ActMaxWidget(model, prepare=False, steps=3).run(blocking=True)
        return
    widget = ActMaxWidget(model, layer=layer, prepare=False, steps=3, precision="float32")
    result = widget.run(blocking=True)
    assert result.layer_name == layer and result.steps == 3 and len(result.images) > 0
    widget.close()


def test_channels_first_without_onednn_runs_or_names_the_fix(tmp_path):
    """Whatever this process's oneDNN setting, a user on an AMD CPU has it off by default. There a
    channels-first model must either run (where the CPU has channels-first kernels) or stop before
    any tracing with the error naming TF_ENABLE_ONEDNN_OPTS=1."""
    _, (outcome, runs), stderr = _fresh_process(tmp_path)
    assert outcome == ("ran" if runs else "clear error"), (outcome, runs, stderr[-3000:])
