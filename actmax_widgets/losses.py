"""Losses: what the optimizer minimizes.

As in keras-vis, a loss is an object with a ``name`` and a ``build_loss()`` that returns a symbolic
expression built with ``keras.ops`` from a layer's ``output`` and/or the model input. The optimizer
wires all losses of a problem into one Keras model from the input to the loss values, so a custom
loss needs nothing more than that method::

    class CentreLoss(Loss):
        name = "Centre unit"

        def __init__(self, layer, filter_idx):
            self.layer, self.filter_idx = layer, filter_idx

        def build_loss(self):
            out = self.layer.output                      # (B, H, W, C) or (B, C, H, W)
            h, w = out.shape[1] // 2, out.shape[2] // 2  # channels_last here
            return -out[:, h, w, self.filter_idx]        # one value per sample

Return one value per sample (shape ``(batch,)``) so the loss also works when many images are
optimized together; a scalar is accepted and counts for every sample.
"""
from __future__ import annotations

import keras
from keras import ops

from . import arguments, tokens, utils
from .catalogue import channel_axis_of


class Loss:
    """Base class of all losses: give it a ``name`` and a ``build_loss()``."""

    name = "Unnamed Loss"

    def __str__(self):
        return self.name

    def build_loss(self):
        """The expression to minimize, as a symbolic Keras tensor."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_loss().")


def _channel_axis_of(layer, output):
    channels_first = keras.config.image_data_format() == "channels_first"
    return channel_axis_of(layer, len(output.shape), channels_first)


def _reduce_spatial(output, channel_axis, reduction):
    """(B, channels) activations: the mean over positions, or the unit at the centre."""
    rank = len(output.shape)
    if rank == 2:
        return output
    spatial = [a for a in range(1, rank) if a != channel_axis]
    if reduction == "mean":
        return ops.mean(output, axis=spatial)
    if reduction == "center":
        index = [slice(None)] * rank
        for axis in spatial:
            size = output.shape[axis]
            if size is None:
                raise ValueError("The 'center' objective needs a layer output with known spatial size.")
            index[axis] = size // 2
        return output[tuple(index)]
    raise ValueError(f"Unknown reduction '{reduction}': use 'mean' or 'center'.")


class ActivationMaximization(Loss):
    """Maximize the activation of filters (conv channels) or units (dense outputs) of a layer.

    The loss is minus the mean activation of each index in ``filter_indices``, summed: a list is
    maximized jointly (``[1, 7]`` makes one image that excites both), as keras-vis.

    Parameters
    ----------
    layer : keras layer
        Its ``output`` is read, so it must belong to the model being optimized.
    filter_indices : int or list of int
        Channel indices for conv outputs, unit indices for dense outputs.
    """

    name = "ActivationMax Loss"

    def __init__(self, layer, filter_indices, channel_axis=None):
        self.layer = layer
        self.filter_indices = [arguments.check_int("filter_indices", index, minimum=0, fix=(
            "pass channel or unit indices >= 0, e.g. ActivationMaximization(layer, [0, 5])"))
            for index in utils.listify(filter_indices)]
        self.channel_axis = channel_axis  # default: the layer's data format, else Keras's config

    def build_loss(self):
        output = self.layer.output
        axis = self.channel_axis if self.channel_axis is not None else _channel_axis_of(self.layer, output)
        channels = _reduce_spatial(output, axis % len(output.shape), "mean")
        return -ops.sum(ops.take(channels, self.filter_indices, axis=1), axis=1)


class ChannelActivations(Loss):
    """Per-sample, per-channel activations ``(batch, channels)`` of a layer, for batched runs.

    The optimizer recognises this loss and weighs it by a per-sample target mask (which filters
    each sample maximizes: one-hot for one filter per sample, several ones for a joint target,
    -1 to minimize), passed as data, so changing the filters never retraces the compiled step.

    ``reduction='mean'`` targets a whole channel; ``'center'`` targets only the unit at the centre
    of the feature map (Lucid's "neuron" objective).

    ``grid`` (``(n_prefix, rows, cols)``, ``tokens.patch_grid``) marks a transformer's token layer
    ``(B, tokens, C)``: the class/register tokens are dropped and the patch tokens laid out on
    their grid first, so a channel is the mean over the patches and the centre is the centre patch.
    """

    name = "ActivationMax Loss"

    def __init__(self, layer, channel_axis=None, reduction="mean", grid=None):
        self.layer = layer
        self.channel_axis = channel_axis
        self.reduction = reduction
        self.grid = grid

    def build_loss(self):
        output = self.layer.output
        if self.grid is not None:
            return _reduce_spatial(tokens.to_grid(output, self.grid), 3, self.reduction)
        axis = self.channel_axis if self.channel_axis is not None else _channel_axis_of(self.layer, output)
        return _reduce_spatial(output, axis % len(output.shape), self.reduction)


class Diversity(Loss):
    """Penalise images of the same target whose features look alike (Lucid's "diversity").

    The optimizer recognises this loss: ``build_loss`` returns the layer's features
    (channels-last), and each sample's term is the mean cosine similarity between its Gram
    matrix (which channels fire together: the image's "style", whatever the layout) and those
    of the other samples in the batch that have the same target. Minimizing it makes copies of
    one filter show different things it responds to.
    """

    name = "Diversity Loss"

    def __init__(self, layer, channel_axis=None):
        self.layer = layer
        self.channel_axis = channel_axis

    def build_loss(self):
        output = self.layer.output
        rank = len(output.shape)
        axis = self.channel_axis if self.channel_axis is not None else _channel_axis_of(self.layer, output)
        axis %= rank
        if axis != rank - 1:
            output = ops.moveaxis(output, axis, -1)
        return output
