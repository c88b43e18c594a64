"""Which input pixels one output position of a layer sees: its receptive field, from the graph.

Each position of a conv layer's output sees a window of the input: the kernels, strides, padding
and dilation of every layer on the way decide its size, the step between neighbouring positions
and where position 0's window starts. This module walks the model's graph once (convolutions,
depthwise and separable convolutions, pooling, zero padding and cropping, element-wise layers such
as BatchNormalization and activations, and merges such as Add and Concatenate) and composes them:

    size_out   = size_in + (dilation * (kernel - 1)) * stride_in
    offset_out = offset_in - pad_before * stride_in
    stride_out = stride_in * stride

A merge takes the union of its inputs' windows. A squeeze-and-excite gate (a 1 × 1 tensor
broadcast over the feature map) is global but only scales each position, so it is left out: the
box shows what the position itself looks at. A dense unit (after Flatten or global pooling) sees
the whole image; so does anything after a layer this module does not know that changes the
spatial size (named in ``ReceptiveField.unknown``).
"""
from __future__ import annotations

import dataclasses

# Layers with a kernel that slides: (kernel attribute, strides attribute, dilation attribute).
_SLIDING = {
    "Conv1D": ("kernel_size", "strides", "dilation_rate"), "Conv2D": ("kernel_size", "strides", "dilation_rate"),
    "Conv3D": ("kernel_size", "strides", "dilation_rate"),
    "DepthwiseConv1D": ("kernel_size", "strides", "dilation_rate"),
    "DepthwiseConv2D": ("kernel_size", "strides", "dilation_rate"),
    "SeparableConv1D": ("kernel_size", "strides", "dilation_rate"),
    "SeparableConv2D": ("kernel_size", "strides", "dilation_rate"),
    "MaxPooling1D": ("pool_size", "strides", None), "MaxPooling2D": ("pool_size", "strides", None),
    "MaxPooling3D": ("pool_size", "strides", None), "AveragePooling1D": ("pool_size", "strides", None),
    "AveragePooling2D": ("pool_size", "strides", None), "AveragePooling3D": ("pool_size", "strides", None),
}


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """The input window of each output position, per spatial axis (rows, columns).

    Output position ``p`` sees input pixels ``offset + p * stride`` up to ``offset + p * stride +
    size - 1`` (``offset`` may be negative: padding). ``whole_image``: every position (a dense unit)
    sees the whole image; ``size`` is then the image's.
    """

    size: tuple
    stride: tuple
    offset: tuple
    whole_image: bool = False
    unknown: str | None = None  # a layer whose effect on positions is not known (then whole_image)

    def box(self, position, image_shape):
        """``(top, left, bottom, right)`` (bottom/right exclusive) of the field of output
        ``position``, clipped to an image of ``image_shape`` (H, W): the pixels it sees."""
        if self.whole_image:
            return (0, 0) + tuple(int(side) for side in image_shape[:2])
        starts = [o + p * s for o, p, s in zip(self.offset, position, self.stride)]
        tops = [max(0, start) for start in starts]
        bottoms = [min(int(side), start + size) for start, size, side in zip(starts, self.size, image_shape)]
        return tuple(tops) + tuple(bottoms)

    def window(self, position, image_shape):
        """The box a patch is cut from: the field's size (at most the image's), centred on the
        field and moved inside the image. It holds every pixel of ``box`` (a field reaching past
        the edge sees padding there), so a patch is always a crop of the photo."""
        if self.whole_image:
            return self.box(position, image_shape)
        starts, ends = [], []
        for o, p, s, size, side in zip(self.offset, position, self.stride, self.size, image_shape):
            length = min(size, int(side))
            centre = o + p * s + (size - 1) / 2
            start = min(max(int(round(centre - (length - 1) / 2)), 0), int(side) - length)
            starts.append(start)
            ends.append(start + length)
        return tuple(starts) + tuple(ends)


def of_layer(cut_model, channels_first=False) -> ReceptiveField:
    """The receptive field of ``cut_model``'s output (a model from the image to one layer, with
    concrete spatial sizes, as ``model_cut.cut_at`` builds) in its input's pixels."""
    image = cut_model.inputs[0]
    image_size = _spatial(image.shape, channels_first)
    fields = {id(image): ReceptiveField((1,) * len(image_size), (1,) * len(image_size), (0,) * len(image_size))}
    for depth in sorted(cut_model._nodes_by_depth, reverse=True):  # the input has the highest depth
        for node in cut_model._nodes_by_depth[depth]:
            if not node.input_tensors:
                continue
            inputs = [(t, fields[id(t)]) for t in node.input_tensors if id(t) in fields]
            for output in node.output_tensors:
                fields[id(output)] = _through(node.operation, inputs, output, channels_first, image_size)
    field = fields[id(cut_model.outputs[0])]
    if field.whole_image:
        return dataclasses.replace(field, size=image_size, stride=(0,) * len(image_size),
                                   offset=(0,) * len(image_size))
    return field


def _spatial(shape, channels_first):
    spatial = shape[2:] if channels_first else shape[1:-1]
    return tuple(int(side) if side is not None else None for side in spatial)


def _through(operation, inputs, output, channels_first, image_size) -> ReceptiveField:
    """The field of ``output`` of ``operation`` given its inputs' ``(tensor, field)``."""
    if len(output.shape) < 3:  # (batch, units): a dense unit, or global pooling
        return _whole(inputs, None)
    out_size = _spatial(output.shape, channels_first)
    # A 1 x 1 tensor broadcast over a larger map (a squeeze-and-excite gate) only scales positions.
    own = [(t, f) for t, f in inputs if not (_is_point(t, channels_first) and not all(s == 1 for s in out_size))]
    if any(field.whole_image for _, field in own):
        return _whole(own, None)
    name = type(operation).__name__
    if name in _SLIDING and len(own) == 1:
        return _slide(operation, own[0], out_size, channels_first)
    if name.startswith("ZeroPadding") and len(own) == 1:
        return _shift(own[0][1], [-before for before, _ in _pairs(operation.padding, len(out_size))])
    if name.startswith("Cropping") and len(own) == 1:
        return _shift(own[0][1], [before for before, _ in _pairs(operation.cropping, len(out_size))])
    # Element-wise (BatchNormalization, activations, Rescaling, a keras.ops expression) and merges
    # (Add, Concatenate, Multiply): positions keep their place; the union of the inputs' windows.
    aligned = [field for tensor, field in own if _spatial(tensor.shape, channels_first) == out_size]
    if aligned and len(aligned) == len(own):
        return _union(aligned)
    if all(side == 1 for side in out_size):  # global pooling that keeps the spatial axes
        return _whole(inputs, None)
    return _whole(inputs, operation.name)


def _is_point(tensor, channels_first):
    return all(side == 1 for side in _spatial(tensor.shape, channels_first))


def _whole(inputs, unknown):
    unknown = unknown or next((field.unknown for _, field in inputs if field.unknown), None)
    return ReceptiveField((), (), (), whole_image=True, unknown=unknown)


def _as_tuple(value, rank):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank


def _pairs(padding, rank):
    """Keras's padding/cropping argument as ``(before, after)`` per axis."""
    if isinstance(padding, int):
        return [(padding, padding)] * rank
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def _slide(operation, input_and_field, out_size, channels_first):
    tensor, field = input_and_field
    in_size = _spatial(tensor.shape, channels_first)
    kernel_attr, stride_attr, dilation_attr = _SLIDING[type(operation).__name__]
    rank = len(out_size)
    kernels = _as_tuple(getattr(operation, kernel_attr), rank)
    strides = _as_tuple(getattr(operation, stride_attr) or kernels, rank)
    dilations = _as_tuple(getattr(operation, dilation_attr), rank) if dilation_attr else (1,) * rank
    padding = getattr(operation, "padding", "valid").lower()
    size, offset = [], []
    for axis in range(rank):
        extent = dilations[axis] * (kernels[axis] - 1) + 1
        if padding == "same":  # TensorFlow's rule: the extra pixel of an odd total goes after
            before = max((out_size[axis] - 1) * strides[axis] + extent - in_size[axis], 0) // 2
        elif padding == "causal":
            before = extent - 1
        else:
            before = 0
        size.append(field.size[axis] + (extent - 1) * field.stride[axis])
        offset.append(field.offset[axis] - before * field.stride[axis])
    stride = tuple(s * k for s, k in zip(field.stride, strides))
    return ReceptiveField(tuple(size), stride, tuple(offset))


def _shift(field, pixels_per_axis):
    offset = tuple(o + p * s for o, p, s in zip(field.offset, pixels_per_axis, field.stride))
    return dataclasses.replace(field, offset=offset)


def _union(fields):
    if len(fields) == 1:
        return fields[0]
    starts = [min(f.offset[a] for f in fields) for a in range(len(fields[0].offset))]
    ends = [max(f.offset[a] + f.size[a] for f in fields) for a in range(len(starts))]
    stride = tuple(max(f.stride[a] for f in fields) for a in range(len(starts)))
    return ReceptiveField(tuple(e - s for s, e in zip(starts, ends)), stride, tuple(starts))

