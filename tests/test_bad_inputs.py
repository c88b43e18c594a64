"""Every bad input to the core's API gets a clear error: the exception type, and a message that
names the argument, shows the bad value and says what to pass instead (issue #12).

Each case is ``(call, exception, words)``: ``call(net)`` makes the call on a tiny model, and every
string in ``words`` must appear in the message (the argument, the value, the fix). Errors must
come before any compiling, so these run in milliseconds. Unusual inputs that are meaningful are
accepted (``ACCEPTED``), each with the reason.
"""
import math
import os
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from actmax_widgets import (backprop_modifiers, grad_modifiers, parameterizations, precision, styles,
                            visualize_activation, visualize_activation_with_losses, visualize_filters)
from actmax_widgets.callbacks import Print
from actmax_widgets.input_modifiers import Jitter
from actmax_widgets.losses import ActivationMaximization
from actmax_widgets.optimizer import Optimizer
from actmax_widgets.regularizers import LPNorm, TotalVariation
from actmax_widgets.target_head import TargetChannelActivations
from actmax_widgets.utils import model_input
from actmax_widgets.visualization import compiled_for
from core_helpers import SIZE, conv_layers, functional, zero_mean_kernels

NAN, INF = float("nan"), float("inf")
IMAGE = np.full((SIZE, SIZE, 3), 128.0, "float32")


@pytest.fixture(scope="module")
def net():
    keras.utils.set_random_seed(0)
    return zero_mean_kernels(functional((SIZE, SIZE, 3), conv_layers(), "bad_inputs_net"))


def filters(**kwargs):
    """visualize_filters on conv2 filter 0 for one step, with ``kwargs`` changed."""
    def call(net):
        args = {"layer": "conv2", "filter_indices": [0], "max_iter": 1, "seed": 0, **kwargs}
        return visualize_filters(args.pop("model", net), args.pop("layer"), args.pop("filter_indices"), **args)
    return call


def activation(**kwargs):
    """keras-vis's visualize_activation on conv2 filter 0 for one step, with ``kwargs`` changed."""
    def call(net):
        args = {"layer_idx": "conv2", "filter_indices": 0, "max_iter": 1, "seed": 0, **kwargs}
        return visualize_activation(net, args.pop("layer_idx"), args.pop("filter_indices"), **args)
    return call


def with_losses(losses=None, **kwargs):
    """visualize_activation_with_losses with an ActivationMaximization loss (or ``losses(net)``)."""
    def call(net):
        chosen = losses(net) if losses else [(ActivationMaximization(net.get_layer("conv2"), 0), 1)]
        return visualize_activation_with_losses(model_input(net), chosen, **{"max_iter": 1, **kwargs})
    return call


def optimizer(init=None, **minimize):
    """``Optimizer(...)`` with ``init`` changed, then ``minimize(**minimize)``."""
    def call(net):
        losses = [(ActivationMaximization(net.get_layer("conv2"), 0), 1)]
        made = Optimizer(model_input(net), **{"losses": losses, **(init or {})})
        return made.minimize(**{"max_iter": 1, "verbose": False, **minimize})
    return call


def image_of(net):
    return model_input(net)


CASES = {
    # --- visualize_filters: wrong types ------------------------------------------------------
    "max_iter float": (filters(max_iter=2.5), TypeError, ["max_iter=2.5", "integer", "max_iter=200"]),
    "max_iter str": (filters(max_iter="10"), TypeError, ["max_iter='10'", "integer"]),
    "max_iter None": (filters(max_iter=None), TypeError, ["max_iter=None", "max_iter=200"]),
    "max_iter bool": (filters(max_iter=True), TypeError, ["max_iter=True", "integer"]),
    "seed str": (filters(seed="abc"), TypeError, ["seed='abc'", "seed=0"]),
    "seed float": (filters(seed=1.5), TypeError, ["seed=1.5", "seed=0"]),
    "seed list": (filters(seed=[1]), TypeError, ["seed=[1]", "seed=0"]),
    "batch_size float": (filters(batch_size=2.0), TypeError, ["batch_size=2.0", "batch_size=32"]),
    "batch_size str": (filters(batch_size="32"), TypeError, ["batch_size='32'", "batch_size=32"]),
    "image_size float": (filters(image_size=64.5), TypeError, ["image_size=64.5", "image_size=128"]),
    "image_size str": (filters(image_size="64"), TypeError, ["image_size='64'", "image_size=128"]),
    "image_size tuple of str": (filters(image_size=(16, "x")), TypeError, ["image_size=(16, 'x')", "8..4096"]),
    "filter index bool": (filters(filter_indices=[True]), TypeError, ["filter_indices entry True", "[0, 5]"]),
    "filter_indices bool": (filters(filter_indices=True), TypeError, ["filter_indices entry True", "ints"]),
    "filter index str": (filters(filter_indices=["3"]), TypeError, ["filter_indices entry '3'", "[0, 5]"]),
    "filter index float": (filters(filter_indices=[1.5]), TypeError, ["filter_indices entry 1.5", "ints"]),
    "filter index nested too deep": (filters(filter_indices=[[[1]]]), TypeError, ["filter_indices entry [1]"]),
    "layer bool": (filters(layer=True), TypeError, ["layer=True", "layer's name"]),
    "layer float": (filters(layer=1.5), TypeError, ["1.5", "layer index, name"]),
    "model is a path": (filters(model="model.keras"), TypeError, ["model='model.keras'", "load_model"]),
    "model None": (filters(model=None), TypeError, ["model=None", "keras.Model"]),
    "act_max_weight str": (filters(act_max_weight="1"), TypeError, ["act_max_weight='1'", "number"]),
    "tv_weight str": (filters(tv_weight="10"), TypeError, ["tv_weight='10'", "number"]),
    "tv_weight None": (filters(tv_weight=None), TypeError, ["tv_weight=None", "number"]),
    "lp_norm_weight list": (filters(lp_norm_weight=[1]), TypeError, ["lp_norm_weight=[1]", "number"]),
    "learning rate str": (filters(optimizer_settings={"optimizer": "adam", "learning_rate": "0.05"}), TypeError,
                          ["optimizer_settings['learning_rate']='0.05'", "0.05"]),
    "optimizer_settings str": (filters(optimizer_settings="adam"), TypeError,
                               ["optimizer_settings='adam'", "'learning_rate': 0.05"]),
    "param number": (filters(param=42), TypeError, ["param=42", "'pixel'"]),
    "input_modifiers str": (filters(input_modifiers="jitter"), TypeError, ["input_modifiers='jitter'", "Jitter(0.05)"]),
    "input_modifiers entry": (filters(input_modifiers=[5]), TypeError, ["input_modifiers[0]=5", "Jitter(0.05)"]),
    "input modifier class": (filters(input_modifiers=[Jitter]), TypeError, ["input_modifiers[0]", "Jitter()"]),
    "input_range None": (filters(input_range=None), TypeError, ["input_range=None", "input_range=(0, 255)"]),
    "input_range str": (filters(input_range="0-255"), TypeError, ["input_range='0-255'", "(low, high)"]),
    "input_range number": (filters(input_range=255), TypeError, ["input_range=255", "(low, high)"]),
    "input_range with str": (filters(input_range=(0, "255")), TypeError, ["input_range[1]='255'", "(0, 255)"]),
    "seed_input str": (filters(seed_input="photo.png"), TypeError, ["seed_input='photo.png'", "numeric array"]),
    "seed_input ragged": (filters(seed_input=[[1, 2], [3]]), TypeError, ["seed_input=", "numeric array"]),
    "labels str": (filters(labels="cat"), TypeError, ["labels='cat'", "['cat', 'dog']"]),
    "labels number": (filters(labels=5), TypeError, ["labels=5", "one string per unit"]),
    "snapshot_every float": (filters(snapshot_every=1.5), TypeError, ["snapshot_every=1.5", "integer"]),
    "on_snapshot str": (filters(on_snapshot="print"), TypeError, ["on_snapshot='print'", "function"]),
    "on_start number": (filters(on_start=5), TypeError, ["on_start=5", "function"]),
    "stop_event bool": (filters(stop_event=True), TypeError, ["stop_event=True", "threading.Event"]),
    "relu_warmup float": (filters(relu_warmup=2.5), TypeError, ["relu_warmup=2.5", "relu_warmup=16"]),
    "norm_grads str": (filters(norm_grads="yes"), TypeError, ["norm_grads='yes'", "True or False"]),
    "uncap_relu6 str": (filters(uncap_relu6="no"), TypeError, ["uncap_relu6='no'", "True or False"]),
    "jit_compile int": (filters(jit_compile=2), TypeError, ["jit_compile=2", "True or False"]),
    # --- visualize_filters: out of range -----------------------------------------------------
    "max_iter zero": (filters(max_iter=0), ValueError, ["max_iter=0", "at least 1"]),
    "max_iter negative": (filters(max_iter=-5), ValueError, ["max_iter=-5", "at least 1"]),
    "batch_size zero": (filters(batch_size=0), ValueError, ["batch_size=0", "at least 1"]),
    "batch_size negative": (filters(batch_size=-1), ValueError, ["batch_size=-1", "at least 1"]),
    "image_size zero": (filters(image_size=0), ValueError, ["image_size=0", "8..4096"]),
    "image_size negative": (filters(image_size=-16), ValueError, ["image_size=-16", "8..4096"]),
    "image_size too small": (filters(image_size=7), ValueError, ["image_size=7", "8..4096"]),
    "image_size huge": (filters(image_size=10**6), ValueError, ["image_size=1000000", "8..4096"]),
    "image_size side zero": (filters(image_size=(16, 0)), ValueError, ["image_size=(16, 0)", "8..4096"]),
    "image_size empty": (filters(image_size=()), ValueError, ["image_size=()", "image_size=128"]),
    "image_size wrong rank": (filters(image_size=(16, 16, 16)), ValueError, ["image_size (16, 16, 16)", "2 spatial"]),
    "input_range empty": (filters(input_range=()), ValueError, ["input_range=()", "(low, high)"]),
    "input_range one number": (filters(input_range=(1,)), ValueError, ["input_range=(1,)", "(low, high)"]),
    "input_range three numbers": (filters(input_range=(0, 1, 2)), ValueError, ["input_range=(0, 1, 2)", "(low, high)"]),
    "input_range reversed": (filters(input_range=(255, 0)), ValueError, ["input_range=(255, 0)", "reversed",
                                                                         "(0.0, 255.0)"]),
    "input_range zero width": (filters(input_range=(5, 5)), ValueError, ["input_range=(5, 5)", "low < high"]),
    "input_range NaN": (filters(input_range=(0, NAN)), ValueError, ["input_range[1]=nan", "finite"]),
    "input_range infinite": (filters(input_range=(-INF, 1)), ValueError, ["input_range[0]=-inf", "finite"]),
    "act_max_weight NaN": (filters(act_max_weight=NAN), ValueError, ["act_max_weight=nan", "finite"]),
    "lp_norm_weight negative": (filters(lp_norm_weight=-1), ValueError, ["lp_norm_weight=-1", ">= 0"]),
    "tv_weight negative": (filters(tv_weight=-0.5), ValueError, ["tv_weight=-0.5", ">= 0"]),
    "tv_weight infinite": (filters(tv_weight=INF), ValueError, ["tv_weight=inf", "finite"]),
    "tv_weight NaN": (filters(tv_weight=NAN), ValueError, ["tv_weight=nan", "finite"]),
    "diversity negative": (filters(diversity=-1), ValueError, ["diversity=-1", ">= 0"]),
    "diversity NaN": (filters(diversity=NAN), ValueError, ["diversity=nan", "finite"]),
    "learning rate NaN": (filters(optimizer_settings={"optimizer": "adam", "learning_rate": NAN}), ValueError,
                          ["optimizer_settings['learning_rate']=nan", "positive finite"]),
    "learning rate negative": (filters(optimizer_settings={"optimizer": "adam", "learning_rate": -0.1}), ValueError,
                               ["optimizer_settings['learning_rate']=-0.1", "greater than 0", "0.05"]),
    "learning rate zero": (filters(optimizer_settings={"learning_rate": 0}), ValueError,
                           ["optimizer_settings['learning_rate']=0", "greater than 0"]),
    "filter index negative": (filters(filter_indices=[-1]), ValueError, ["filter_indices", "-1 is out of range",
                                                                         "0..7"]),
    "filter index too large": (filters(filter_indices=[8]), ValueError, ["filter_indices", "8 is out of range",
                                                                         "0..7"]),
    "filter_indices empty": (filters(filter_indices=[]), ValueError, ["filter_indices is empty", "at least one"]),
    "joint target empty": (filters(filter_indices=[[]]), ValueError, ["filter_indices", "empty joint target",
                                                                      "[[0, 5]]"]),
    "layer index out of range": (filters(layer=99), ValueError, ["99 is out of range", "0..4"]),
    "snapshot_every zero": (filters(snapshot_every=0), ValueError, ["snapshot_every=0", "at least 1"]),
    "snapshot_seconds negative": (filters(snapshot_seconds=-1), ValueError, ["snapshot_seconds=-1", "at least 0"]),
    "relu_warmup negative": (filters(relu_warmup=-1), ValueError, ["relu_warmup=-1", "relu_warmup=16"]),
    "seed_input NaN": (filters(seed_input=np.full((SIZE, SIZE, 3), NAN)), ValueError,
                       ["seed_input", "768 NaN or infinite", "np.nan_to_num"]),
    "seed_input one Inf": (filters(seed_input=np.where(np.arange(SIZE * SIZE * 3).reshape(IMAGE.shape) == 5,
                                                       INF, IMAGE)), ValueError, ["seed_input", "1 NaN or infinite"]),
    "seed_input wrong shape": (filters(seed_input=np.zeros((5, 5, 3))), ValueError,
                               ["seed_input has image shape (5, 5, 3)", "(16, 16, 3)", "resize"]),
    "seed_input wrong channels": (filters(seed_input=np.zeros((SIZE, SIZE, 1))), ValueError,
                                  ["seed_input has image shape (16, 16, 1)", "resize"]),
    "seed_input empty": (filters(seed_input=np.zeros((0,))), ValueError, ["seed_input=", "empty", "(H, W, 3)"]),
    "seed_input with fourier": (filters(seed_input=IMAGE, param="fourier"), ValueError, ["seed_input", "param='pixel'"]),
    # --- visualize_filters: unknown names ----------------------------------------------------
    "objective unknown": (filters(objective="max"), ValueError, ["objective 'max'", "'mean', 'center', 'negative'"]),
    "objective None": (filters(objective=None), ValueError, ["objective None", "'mean'"]),
    "optimizer unknown": (filters(optimizer_settings={"optimizer": "adamm"}), ValueError,
                          ["optimizer_settings['optimizer']='adamm'", "'adam'"]),
    "param unknown": (filters(param="pixels"), ValueError, ["param 'pixels'", "did you mean 'pixel'"]),
    "style unknown": (filters(style="lucent"), ValueError, ["style 'lucent'", "'fourier'"]),
    "style list": (filters(style=["fourier"]), ValueError, ["style ['fourier']", "'fourier'"]),
    "precision unknown": (filters(precision="half"), ValueError, ["precision 'half'", "'bfloat16'"]),
    "precision fp32": (filters(precision="fp32"), ValueError, ["precision 'fp32'", "'float32'"]),
    "precision None": (filters(precision=None), ValueError, ["precision None", "'float32'"]),
    "grad_modifier unknown": (filters(grad_modifier="negative"), ValueError, ["grad_modifier 'negative'", "negate"]),
    "grad_modifier number": (filters(grad_modifier=5), ValueError, ["grad_modifier 5", "negate"]),
    "backprop_modifier unknown": (filters(backprop_modifier="guidance"), ValueError,
                                  ["backprop_modifier 'guidance'", "'guided'"]),
    "layer name unknown": (filters(layer="conv3"), ValueError, ["conv3", "conv2"]),
    # --- visualize_activation (keras-vis's signature) ----------------------------------------
    "va max_iter zero": (activation(max_iter=0), ValueError, ["max_iter=0", "at least 1"]),
    "va max_iter float": (activation(max_iter=1.5), TypeError, ["max_iter=1.5", "integer"]),
    "va keyword typo": (activation(max_itr=5), TypeError, ["max_itr", "did you mean 'max_iter'"]),
    "va unknown keyword": (activation(colour="red"), TypeError, ["colour", "accepted:"]),
    "va input_range None": (activation(input_range=None), TypeError, ["input_range=None", "(0, 255)"]),
    "va input_range reversed": (activation(input_range=(1, 0)), ValueError, ["input_range=(1, 0)", "reversed"]),
    "va seed_input NaN": (activation(seed_input=np.full((SIZE, SIZE, 3), NAN)), ValueError, ["seed_input", "NaN"]),
    "va seed_input wrong shape": (activation(seed_input=np.zeros((8, 8, 3))), ValueError,
                                  ["seed_input has shape (8, 8, 3)", "(16, 16, 3)", "resize"]),
    "va tv_weight negative": (activation(tv_weight=-1), ValueError, ["tv_weight=-1", ">= 0"]),
    "va lp_norm_weight NaN": (activation(lp_norm_weight=NAN), ValueError, ["lp_norm_weight=nan", "finite"]),
    "va act_max_weight str": (activation(act_max_weight="1"), TypeError, ["act_max_weight='1'", "number"]),
    "va filter index bool": (activation(filter_indices=[True]), TypeError, ["filter_indices entry True"]),
    "va filter index too large": (activation(filter_indices=9), ValueError, ["9 is out of range", "0..7"]),
    "va layer_idx bool": (activation(layer_idx=False), TypeError, ["layer_idx=False", "layer's name"]),
    "va verbose str": (activation(verbose="no"), TypeError, ["verbose='no'", "True or False"]),
    "va callbacks not a list": (activation(callbacks=Print()), TypeError, ["callbacks=", "[Print()]"]),
    "va callbacks entry": (activation(callbacks=[5]), TypeError, ["callbacks[0]=5", "Print()"]),
    "va style unknown": (activation(style="pixel"), ValueError, ["style 'pixel'", "'keras-vis'"]),
    "va seed str": (activation(seed="abc"), TypeError, ["seed='abc'", "seed=0"]),
    "va grad_modifier unknown": (activation(grad_modifier="negative"), ValueError, ["grad_modifier 'negative'"]),
    "va input_modifiers entry": (activation(input_modifiers=[5]), TypeError, ["input_modifiers[0]=5"]),
    "va param unknown": (activation(param="fourierr"), ValueError, ["param 'fourierr'", "'fourier'"]),
    "va relu_warmup negative": (activation(relu_warmup=-3), ValueError, ["relu_warmup=-3"]),
    "va image_size str": (activation(image_size="big"), TypeError, ["image_size='big'", "image_size=128"]),
    "va optimizer unknown": (activation(optimizer_settings={"optimizer": "sgdd"}), ValueError,
                             ["optimizer_settings['optimizer']='sgdd'", "'sgd'"]),
    "va backprop_modifier unknown": (activation(backprop_modifier="deconvolution"), ValueError,
                                     ["backprop_modifier 'deconvolution'", "'rectified'"]),
    # --- visualize_activation_with_losses ----------------------------------------------------
    "vawl losses None": (with_losses(lambda net: None), TypeError, ["losses=None", "(loss, weight) pairs"]),
    "vawl loss without weight": (with_losses(lambda net: [ActivationMaximization(net.get_layer("conv2"), 0)]),
                                 TypeError, ["losses[0]=", "(loss, weight) pair"]),
    "vawl layer as loss": (with_losses(lambda net: [(net.get_layer("conv2"), 1)]), TypeError,
                           ["losses[0]", "no build_loss()", "ActivationMaximization(layer, 0)"]),
    "vawl weight NaN": (with_losses(lambda net: [(ActivationMaximization(net.get_layer("conv2"), 0), NAN)]),
                        ValueError, ["losses[0] weight=nan", "finite"]),
    "vawl weight str": (with_losses(lambda net: [(ActivationMaximization(net.get_layer("conv2"), 0), "1")]),
                        TypeError, ["losses[0] weight='1'", "finite weight"]),
    "vawl max_iter negative": (with_losses(max_iter=-1), ValueError, ["max_iter=-1", "at least 1"]),
    "vawl seed_input Inf": (with_losses(seed_input=np.full((SIZE, SIZE, 3), INF)), ValueError,
                            ["seed_input", "infinite"]),
    "vawl input_range one number": (with_losses(input_range=(1,)), ValueError, ["input_range=(1,)", "(0, 255)"]),
    "vawl keyword typo": (with_losses(seeed=1), TypeError, ["seeed", "did you mean 'seed'"]),
    # --- Optimizer ---------------------------------------------------------------------------
    "Optimizer input_range None": (optimizer({"input_range": None}), TypeError, ["input_range=None", "(0, 255)"]),
    "Optimizer norm_grads str": (optimizer({"norm_grads": "yes"}), TypeError, ["norm_grads='yes'", "True or False"]),
    "Optimizer losses str": (optimizer({"losses": "activation"}), TypeError, ["losses='activation'", "(loss, weight)"]),
    "Optimizer wrt_tensor": (lambda net: Optimizer(model_input(net), [(ActivationMaximization(
        net.get_layer("conv1"), [0]), 1)], wrt_tensor="conv1"), TypeError, ["wrt_tensor='conv1'", ".output"]),
    "minimize max_iter zero": (optimizer(max_iter=0), ValueError, ["max_iter=0", "at least 1"]),
    "minimize seed str": (optimizer(seed="x"), TypeError, ["seed='x'", "seed=0"]),
    "minimize seed_input NaN": (optimizer(seed_input=np.full((SIZE, SIZE, 3), NAN)), ValueError, ["seed_input", "NaN"]),
    "minimize seed_input shape": (optimizer(seed_input=np.zeros((2, SIZE, SIZE, 3))), ValueError,
                                  ["seed_input has shape (2, 16, 16, 3)", "resize"]),
    "minimize callbacks entry": (optimizer(callbacks=[object()]), TypeError, ["callbacks[0]", "Print()"]),
    "minimize optimizer unknown": (optimizer(optimizer_settings={"optimizer": "nope"}), ValueError,
                                   ["optimizer_settings['optimizer']='nope'", "'rmsprop'"]),
    "minimize image_size zero": (optimizer(image_size=0), ValueError, ["image_size=0", "8..4096"]),
    "minimize relu_warmup str": (optimizer(relu_warmup="16"), TypeError, ["relu_warmup='16'", "relu_warmup=16"]),
    "minimize grad_modifier unknown": (optimizer(grad_modifier="invert_it"), ValueError,
                                       ["grad_modifier 'invert_it'", "invert"]),
    "minimize param unknown": (optimizer(param="lucid"), ValueError, ["param 'lucid'", "'pixel'"]),
    # --- losses and regularizers -------------------------------------------------------------
    "ActivationMaximization bool index": (lambda net: ActivationMaximization(net.get_layer("conv2"), [True]),
                                          TypeError, ["filter_indices=True", "[0, 5]"]),
    "ActivationMaximization negative index": (lambda net: ActivationMaximization(net.get_layer("conv2"), -1),
                                              ValueError, ["filter_indices=-1", ">= 0"]),
    "ActivationMaximization str index": (lambda net: ActivationMaximization(net.get_layer("conv2"), "3"),
                                         TypeError, ["filter_indices='3'", "[0, 5]"]),
    "LPNorm p below 1": (lambda net: LPNorm(image_of(net), p=0.5), ValueError, ["p=0.5", "[1, inf)", "p=6.0"]),
    "LPNorm p NaN": (lambda net: LPNorm(image_of(net), p=NAN), ValueError, ["p=nan", "finite"]),
    "LPNorm p str": (lambda net: LPNorm(image_of(net), p="6"), TypeError, ["p='6'", "p=6.0"]),
    "LPNorm p negative infinity": (lambda net: LPNorm(image_of(net), p=-INF), ValueError, ["p=-inf", "finite"]),
    "TotalVariation beta zero": (lambda net: TotalVariation(image_of(net), beta=0), ValueError,
                                 ["beta=0", "greater than 0", "beta=2.0"]),
    "TotalVariation beta negative": (lambda net: TotalVariation(image_of(net), beta=-2), ValueError, ["beta=-2"]),
    "TotalVariation beta str": (lambda net: TotalVariation(image_of(net), beta="2"), TypeError, ["beta='2'"]),
    "TotalVariation beta NaN": (lambda net: TotalVariation(image_of(net), beta=NAN), ValueError, ["beta=nan"]),
    # --- input, grad and backprop modifiers --------------------------------------------------
    "Jitter negative": (lambda net: Jitter(-0.1), ValueError, ["jitter=-0.1", "positive", "Jitter(0.05)"]),
    "Jitter NaN": (lambda net: Jitter(NAN), ValueError, ["jitter=nan", "finite"]),
    "Jitter infinite": (lambda net: Jitter(INF), ValueError, ["jitter=inf", "finite"]),
    "Jitter str": (lambda net: Jitter("a"), TypeError, ["jitter='a'", "Jitter(0.05)"]),
    "Jitter bool": (lambda net: Jitter(True), TypeError, ["jitter=True", "Jitter(0.05)"]),
    "Jitter empty": (lambda net: Jitter([]), ValueError, ["Jitter(jitter=[])", "Jitter(0.05)"]),
    "Jitter one negative of two": (lambda net: Jitter((0.1, -2)), ValueError, ["jitter=-2", "positive"]),
    "grad_modifiers.get unknown": (lambda net: grad_modifiers.get("neg"), ValueError, ["grad_modifier 'neg'", "negate"]),
    "grad_modifiers.get list": (lambda net: grad_modifiers.get(["negate"]), ValueError,
                                ["grad_modifier ['negate']", "negate"]),
    "backprop_modifiers.get number": (lambda net: backprop_modifiers.get(3), ValueError,
                                      ["backprop_modifier 3", "'guided'"]),
    # --- styles, parameterizations, precision ------------------------------------------------
    "styles.get wrong case": (lambda net: styles.get("Fourier"), ValueError, ["style 'Fourier'",
                                                                             "did you mean 'fourier'"]),
    "styles.get None": (lambda net: styles.get(None), ValueError, ["style None", "'keras-vis'"]),
    "parameterizations.get unknown": (lambda net: parameterizations.get("spectral"), ValueError,
                                      ["param 'spectral'", "'pixel', 'fourier'"]),
    "parameterizations.get object": (lambda net: parameterizations.get(object()), TypeError,
                                     ["param=<object", "init_params"]),
    "FourierImage decay negative": (lambda net: parameterizations.FourierImage(decay=-1), ValueError,
                                    ["decay=-1", "decay=1.0"]),
    "FourierImage decay str": (lambda net: parameterizations.FourierImage(decay="1"), TypeError, ["decay='1'"]),
    "FourierImage init_std zero": (lambda net: parameterizations.FourierImage(init_std=0), ValueError,
                                   ["init_std=0", "0.01"]),
    "FourierImage decorrelate str": (lambda net: parameterizations.FourierImage(decorrelate="yes"), TypeError,
                                     ["decorrelate='yes'", "True or False"]),
    "precision.check unknown": (lambda net: precision.check("bf16"), ValueError, ["precision 'bf16'", "'bfloat16'"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_error(net, case):
    call, error_type, words = CASES[case]
    with pytest.raises(error_type) as raised:
        call(net)
    message = str(raised.value)
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"
    assert "Traceback" not in message and "in user code" not in message and len(message) < 400


# Unusual inputs that mean something, accepted: (call, check of the result, why).
ACCEPTED = {
    "numpy array of indices": (filters(filter_indices=np.array([0, 3])), lambda r: r.targets == [0, 3],
                               "arrays of indices are what np.argsort & co. return"),
    "numpy int index": (filters(filter_indices=[np.int64(2)]), lambda r: r.targets == [2],
                        "numpy integers are integers"),
    "joint target": (filters(filter_indices=[[1, 2]]), lambda r: r.targets == [[1, 2]], "keras-vis's joint list"),
    "image_size tuple": (filters(image_size=(SIZE, SIZE)), lambda r: r.images.shape[1:3] == (SIZE, SIZE),
                         "(H, W) as documented"),
    "image_size list": (filters(image_size=[SIZE, SIZE]), lambda r: r.images.shape[1:3] == (SIZE, SIZE),
                        "a list is a sequence of sides too"),
    "image_size numpy int": (filters(image_size=np.int64(SIZE)), lambda r: r.images.shape[1] == SIZE,
                             "numpy integers are integers"),
    "seed numpy int": (filters(seed=np.int64(3)), lambda r: r.seed == 3, "numpy integers are integers"),
    "max_iter numpy int": (filters(max_iter=np.int32(2)), lambda r: r.steps == 2, "numpy integers are integers"),
    "input_range floats": (filters(input_range=(0.0, 1.0)), lambda r: 0 <= r.images.min() <= r.images.max() <= 1,
                           "models taking [0, 1] images"),
    "input_range array": (filters(input_range=np.array([-1, 1])), lambda r: len(r.images) == 1,
                          "an array pair is a pair"),
    "one input modifier": (filters(input_modifiers=Jitter(0.05)), lambda r: len(r.images) == 1,
                           "one modifier is a list of one"),
    "seed_input with batch axis": (filters(seed_input=IMAGE[None]), lambda r: len(r.images) == 1,
                                   "one image with its batch axis"),
    "seed_input as nested lists": (filters(seed_input=IMAGE.tolist()), lambda r: len(r.images) == 1,
                                   "array-like"),
    "weights as numpy floats": (filters(tv_weight=np.float32(1.5), lp_norm_weight=np.float64(0)),
                                lambda r: len(r.images) == 1, "numpy floats are numbers"),
    "negative act_max_weight (keras-vis)": (activation(act_max_weight=-1), lambda image: image.shape == (SIZE, SIZE, 3),
                                            "keras-vis minimized an activation that way"),
    "LPNorm p infinity": (lambda net: LPNorm(image_of(net), p=math.inf), lambda loss: loss.p == math.inf,
                          "the max norm, documented"),
    "Jitter per dimension": (lambda net: Jitter((0.1, 2)), lambda j: j.offsets_for((16, 16)) == [1, 2],
                             "one value per dimension, documented"),
    "stop_event": (filters(stop_event=threading.Event()), lambda r: len(r.images) == 1, "a threading.Event"),
    "verbose=0 (keras-vis)": (activation(verbose=0), lambda image: image.shape == (SIZE, SIZE, 3),
                              "keras-vis only tested `if verbose:`; Keras code writes verbose=0"),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_unusual_but_meaningful_input_is_accepted(net, case):
    call, check, _why = ACCEPTED[case]
    assert check(call(net))


# --- a global mixed-precision policy: result.precision says what really ran ------------------


@pytest.fixture
def global_policy():
    """Set keras's global dtype policy for a test; float32 again afterwards."""
    previous = keras.mixed_precision.global_policy().name
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy(previous)


@pytest.fixture(params=["first layer", "second layer"])
def tiny_conv(request):
    """A conv net whose target 'conv' reads the (float32) input itself, or another conv's output."""
    def build():
        inputs = x = keras.Input((SIZE, SIZE, 3))
        if request.param == "second layer":
            x = keras.layers.Conv2D(4, 3, activation="relu", name="first")(x)
        return keras.Model(inputs, keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x))
    return build


def computed_dtype(model, **settings):
    """The dtype the step that ``visualize_filters`` runs computes the target layer's activations
    in: the layer's output from the step's loss model, or, where only the target channels are
    computed (``target_head``), the head's output on the loss model's trunk."""
    compiled, _ = compiled_for(model, "conv", **settings)
    target = compiled.problem.losses[0]
    trunk = compiled.problem.loss_model(np.zeros((1, SIZE, SIZE, 3), "float32"))[0]
    if isinstance(target, TargetChannelActivations):
        return target.head(trunk, tf.constant([0, 1])).dtype.name
    return trunk.dtype.name


@pytest.mark.parametrize("policy, computed", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
@pytest.mark.parametrize("asked", ["float32", "auto"])
def test_model_built_under_a_mixed_policy_reports_what_it_computes(global_policy, tiny_conv, policy, computed, asked):
    global_policy(policy)
    model = tiny_conv()
    result = visualize_filters(model, "conv", [0, 1], max_iter=2, seed=0, precision=asked)
    assert computed_dtype(model, precision=asked) == computed
    assert result.precision == computed


def test_policy_set_after_the_model_was_built_leaves_it_float32(global_policy, tiny_conv):
    model = tiny_conv()
    global_policy("mixed_bfloat16")
    result = visualize_filters(model, "conv", [0], max_iter=2, seed=0)
    assert computed_dtype(model) == "float32"
    assert result.precision == "float32"


def test_asked_bfloat16_under_a_float16_policy_runs_bfloat16(global_policy, tiny_conv):
    model = tiny_conv()
    global_policy("mixed_float16")
    result = visualize_filters(model, "conv", [0], max_iter=2, seed=0, precision="bfloat16")
    assert computed_dtype(model, precision="bfloat16") == "bfloat16"
    assert result.precision == "bfloat16"


# --- many filters: chunks of batch_size, never one batch of all ------------------------------


def test_five_thousand_targets_run_in_chunks_of_the_batch_size():
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(5000, name="wide")(inputs))
    targets = list(range(5000))
    batches, totals = [], set()

    def on_start(info, needs_compile):
        batches.append(needs_compile)

    result = visualize_filters(model, "wide", targets, max_iter=1, batch_size=32, seed=0, tv_weight=0,
                               lp_norm_weight=0, on_start=on_start, on_snapshot=lambda s: totals.add(s.total_steps),
                               snapshot_every=1, input_range=(-1, 1))
    compiled, _ = compiled_for(model, "wide")
    # 5000 / 32 makes 157 even chunks of 32 (the last padded): one traced batch size only.
    assert totals == {157}
    assert compiled.is_traced(32) and not compiled.is_traced(5000)
    assert result.targets == targets and result.images.shape == (5000, 8)
    assert result.activation_history.shape == (1, 5000) and not np.isnan(result.activation_history).any()


def test_a_backend_without_gradients_is_refused_naming_keras_backend():
    """KERAS_BACKEND=numpy (Keras has no gradients there): one clear error, not a trace from inside."""
    script = ("import keras\nfrom actmax_widgets import visualize_filters\n"
              "i = keras.Input((8, 8, 3))\nm = keras.Model(i, keras.layers.Conv2D(2, 3, name='c')(i))\n"
              "visualize_filters(m, 'c', [0], max_iter=2)\n")
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "KERAS_BACKEND": "numpy"},
                          capture_output=True, text=True, timeout=300)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0
    assert last.startswith("RuntimeError: KERAS_BACKEND='numpy'") and "'tensorflow', 'jax' and 'torch'" in last
