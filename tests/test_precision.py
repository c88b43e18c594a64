"""Reduced precision: the model computes in bfloat16, the image and its gradient stay float32."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import layers

from actmax_widgets import backend, model_cut, precision, visualize_filters
from actmax_widgets.visualization import compiled_for


@pytest.fixture(scope="module")
def relu_net():
    keras.utils.set_random_seed(7)
    inputs = keras.Input((32, 32, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(x)
    return keras.Model(inputs, x)


def test_bfloat16_copy_computes_in_bfloat16_with_float32_input_and_weights(relu_net):
    reduced = model_cut.with_precision(relu_net, "bfloat16")
    assert reduced.get_layer("conv_b").compute_dtype == "bfloat16"
    assert reduced.get_layer("conv_b").kernel.dtype == "float32"
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    full, half = np.asarray(relu_net(x)), np.asarray(reduced(x)).astype("float32")
    assert np.allclose(full, half, atol=0.05 * np.abs(full).max())
    assert model_cut.with_precision(relu_net, "float32") is relu_net
    with pytest.raises(ValueError, match="'float32', 'bfloat16', 'float16'"):
        model_cut.with_precision(relu_net, "int8")


def test_bfloat16_run_raises_the_activation_like_float32(relu_net):
    options = dict(max_iter=15, seed=1, tv_weight=0, lp_norm_weight=0)
    full = visualize_filters(relu_net, "conv_b", [0, 1, 2], **options)
    half = visualize_filters(relu_net, "conv_b", [0, 1, 2], precision="bfloat16", **options)
    assert half.raw_images.dtype == np.float32
    rise_full = full.activation_history[-1] - full.activation_history[0]
    rise_half = half.activation_history[-1] - half.activation_history[0]
    assert np.all(rise_half > 0) and np.all(rise_half > 0.5 * rise_full)


# -- precision="auto": bfloat16 only where it is measured faster ----------------------------------
@pytest.fixture
def machine(monkeypatch, tmp_path):
    """Pretend to be a machine with or without AMX and a GPU."""
    def pretend(amx=True, gpu=False):
        flags = frozenset({"avx512f", "avx512_bf16"} | ({"amx_bf16", "amx_tile"} if amx else set()))
        monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
        monkeypatch.setattr(precision, "_has_gpu", lambda: gpu)
        monkeypatch.setattr(precision, "GPU_RESULTS", tmp_path / "no_gpu_run.json")  # today's rule
    return pretend


@pytest.fixture(scope="module")
def depthwise_net():
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(8, 1, activation="relu", name="expand")(inputs)
    x = layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = layers.Conv2D(8, 1, activation="relu", name="project")(x)
    return keras.Model(inputs, x)


def test_auto_picks_bfloat16_on_an_amx_cpu_for_plain_convolutions(machine, relu_net):
    machine(amx=True)
    assert precision.resolve("auto", relu_net) == "bfloat16"


def test_auto_uses_the_amx_rule_only_on_tensorflow_where_it_was_measured(machine, monkeypatch, relu_net):
    machine(amx=True)
    for other in ("jax", "torch"):
        monkeypatch.setattr(backend, "name", lambda other=other: other)
        assert precision.resolve("auto", relu_net) == "float32"  # their CPU bfloat16 was not measured
    monkeypatch.setattr(backend, "name", lambda: "tensorflow")
    assert precision.resolve("auto", relu_net) == "bfloat16"


def test_auto_keeps_float32_where_bfloat16_is_not_measured_faster(machine, relu_net, depthwise_net):
    machine(amx=True)
    assert precision.bfloat16_slow_layers(depthwise_net) == ["depthwise"]
    assert precision.resolve("auto", depthwise_net) == "float32"  # no AMX kernel for depthwise
    pooling_only = keras.Sequential([keras.Input((8, 8, 3)), layers.MaxPooling2D(2)])
    assert precision.resolve("auto", pooling_only) == "float32"  # nothing for AMX to speed up
    backbone_inside = keras.Sequential([keras.Input((32, 32, 3)), depthwise_net, layers.Conv2D(4, 1)])
    assert precision.resolve("auto", backbone_inside) == "float32"  # found inside the nested model
    machine(amx=False)
    assert precision.resolve("auto", relu_net) == "float32"
    machine(amx=True, gpu=True)
    assert precision.resolve("auto", relu_net) == "float32"


def test_explicit_precisions_pass_through_and_unknown_ones_name_the_choices(machine, depthwise_net):
    machine(amx=False)
    assert precision.resolve("bfloat16", depthwise_net) == "bfloat16"  # the user's choice wins
    assert precision.resolve("float32", depthwise_net) == "float32"
    with pytest.raises(ValueError, match="'float32', 'bfloat16', 'float16', 'auto'"):
        precision.resolve("fp8", depthwise_net)


def test_auto_run_reports_what_it_computed_in(machine, relu_net, depthwise_net):
    options = dict(max_iter=8, seed=1, image_size=32, tv_weight=0, lp_norm_weight=0)
    machine(amx=True)
    fast = visualize_filters(relu_net, "conv_b", [0, 1], precision="auto", **options)
    assert fast.precision == "bfloat16"
    kept = visualize_filters(depthwise_net, "project", [0, 1], precision="auto", **options)
    assert kept.precision == "float32"
    exact = visualize_filters(relu_net, "conv_b", [0, 1], **options)
    assert exact.precision == "float32"  # the default stays exact
    assert np.all(fast.activation_history[-1] > fast.activation_history[0])


def test_auto_judges_each_kind_of_layer_by_what_was_measured(machine):
    machine(amx=True)

    def net(*hidden, shape=(16, 16, 4)):
        inputs = keras.Input(shape)
        x = inputs
        for layer in hidden:
            x = layer(x)
        return keras.Model(inputs, x)

    assert precision.resolve("auto", net(layers.Conv2D(8, 3), layers.GroupNormalization(2))) == "bfloat16"
    assert precision.resolve("auto", net(layers.SeparableConv2D(8, 3))) == "float32"
    assert precision.resolve("auto", net(layers.Conv2D(8, 3, groups=2))) == "float32"
    assert precision.resolve("auto", net(layers.Dense(8), shape=(4,))) == "float32"  # not measured
    channels_first = net(layers.Conv2D(8, 3, data_format="channels_first"), shape=(4, 16, 16))
    assert precision.resolve("auto", channels_first) == "float32"  # not measured


class _NoDtypeArgument(layers.Layer):
    """A custom layer whose constructor takes no dtype: it cannot be rebuilt in bfloat16."""

    def __init__(self):
        super().__init__()

    def call(self, x):
        return x * 2.0


def test_auto_keeps_float32_for_a_model_that_cannot_be_rebuilt_in_bfloat16(machine):
    machine(amx=True)
    inputs = keras.Input((16, 16, 3))
    x = _NoDtypeArgument()(inputs)
    net = keras.Model(inputs, layers.Conv2D(4, 3, activation="relu", name="conv")(x))
    with pytest.raises(ValueError, match="cannot be rebuilt in bfloat16"):
        visualize_filters(net, "conv", [0], max_iter=2, precision="bfloat16")  # asked for by name
    result = visualize_filters(net, "conv", [0, 1], max_iter=2, precision="auto")
    assert result.precision == "float32"


def test_auto_shares_the_compiled_step_of_what_it_resolves_to(machine, relu_net):
    machine(amx=True)
    auto, _ = compiled_for(relu_net, "conv_a", image_size=32, precision="auto")
    named, _ = compiled_for(relu_net, "conv_a", image_size=32, precision="bfloat16")
    assert auto is named and auto.problem.precision == "bfloat16"
    with pytest.raises(ValueError, match="Unknown precision 'half'"):
        compiled_for(relu_net, "conv_a", image_size=32, precision="half")


# -- precision="auto" on a GPU: what bench/gpu.sh measured there ---------------------------------
def _gpu_results(path, speedups):
    path.write_text(json.dumps({"device": "GPU: NVIDIA H200", "bfloat16_speedup": speedups}))
    return path


def test_auto_on_a_gpu_follows_the_measured_speedups(machine, monkeypatch, tmp_path, relu_net, depthwise_net):
    machine(amx=False, gpu=True)
    active = keras.backend.backend()
    monkeypatch.setattr(precision, "GPU_RESULTS",
                        _gpu_results(tmp_path / "gpu.json", {active: {"plain": 2.6, "depthwise": 1.05}}))
    assert precision.resolve("auto", relu_net) == "bfloat16"  # measured 2.6x faster
    assert precision.resolve("auto", depthwise_net) == "float32"  # 1.05x: not clearly faster
    channels_first = keras.Sequential([keras.Input((4, 16, 16)), layers.Conv2D(8, 3, data_format="channels_first")])
    assert precision.resolve("auto", channels_first) == "float32"  # not the kind measured


def test_auto_on_a_gpu_keeps_float32_without_a_measurement_for_this_backend(machine, monkeypatch, tmp_path,
                                                                            relu_net):
    machine(amx=True, gpu=True)
    assert precision.resolve("auto", relu_net) == "float32"  # no GPU run: today's rule, AMX or not
    other = "jax" if keras.backend.backend() != "jax" else "torch"
    monkeypatch.setattr(precision, "GPU_RESULTS", _gpu_results(tmp_path / "other.json", {other: {"plain": 3.0}}))
    assert precision.resolve("auto", relu_net) == "float32"
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    monkeypatch.setattr(precision, "GPU_RESULTS", broken)
    assert precision.resolve("auto", relu_net) == "float32"
