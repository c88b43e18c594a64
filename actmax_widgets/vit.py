"""A small Vision Transformer built from Keras layers, for trying token layers offline.

No pretrained ViT ships with this package (the weights are hundreds of megabytes); this builds
the architecture of Dosovitskiy et al. (2021) at toy size with random weights, so the notebooks
and tests can show what visualizing a transformer involves: patch embedding, a class token,
position embeddings, attention and MLP blocks whose outputs are ``(B, tokens, C)`` (see
``actmax_widgets.tokens``). Every layer is a plain Keras layer or one of the two small ones
below, so the model clones, cuts and saves like any functional model.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="actmax_widgets")
class ClassToken(keras.layers.Layer):
    """Prepends one learned token to ``(B, patches, C)``: ``(B, 1 + patches, C)``."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="random_normal", name="token")

    def call(self, patches):
        token = ops.cast(ops.broadcast_to(self.token, (ops.shape(patches)[0], 1, patches.shape[-1])), patches.dtype)
        return ops.concatenate([token, patches], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None if input_shape[1] is None else input_shape[1] + 1, input_shape[2])


@keras.saving.register_keras_serializable(package="actmax_widgets")
class PositionEmbedding(keras.layers.Layer):
    """Adds one learned vector per token position: the model then takes one image size only."""

    def build(self, input_shape):
        self.embedding = self.add_weight(shape=(1,) + tuple(input_shape[1:]), initializer="random_normal",
                                         name="embedding")

    def call(self, tokens):
        return tokens + ops.cast(self.embedding, tokens.dtype)


# What keras.models.load_model needs to read a saved tiny_vit, whether or not this module was
# imported (the command line passes it).
CUSTOM_OBJECTS = {"actmax_widgets>ClassToken": ClassToken, "actmax_widgets>PositionEmbedding": PositionEmbedding}


def _block(x, index, dim, heads, mlp_dim):
    """Pre-norm transformer block: attention then MLP, each added back to its input."""
    prefix = f"block{index}"
    y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_norm1")(x)
    y = keras.layers.MultiHeadAttention(heads, dim // heads, name=f"{prefix}_attn")(y, y)
    x = keras.layers.Add(name=f"{prefix}_add1")([x, y])
    y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_norm2")(x)
    y = keras.layers.Dense(mlp_dim, activation="gelu", name=f"{prefix}_mlp_fc1")(y)  # the hidden units
    y = keras.layers.Dense(dim, name=f"{prefix}_mlp_fc2")(y)
    return keras.layers.Add(name=f"{prefix}_add2")([x, y])


def tiny_vit(image_size=32, patch_size=8, dim=32, depth=2, heads=2, mlp_dim=64, num_classes=10, seed=None,
             name="tiny_vit"):
    """A ViT with random weights: ``image_size`` px RGB in 0..255, ``(image_size/patch_size)²``
    patches plus a class token, ``depth`` blocks.

    Layers: ``rescaling``, ``patch_embed`` (a strided Conv2D), ``patch_tokens`` (Reshape),
    ``class_token``, ``pos_embed``, then per block ``block{i}_norm1``, ``_attn``, ``_add1``,
    ``_norm2``, ``_mlp_fc1`` (GELU: the MLP hidden units, the ones worth visualizing), ``_mlp_fc2``,
    ``_add2``; ``final_norm``, ``token_pool`` (the mean token) and ``predictions`` (logits).

    Raises
    ------
    ValueError
        If ``image_size`` is not a multiple of ``patch_size`` or ``dim`` not of ``heads``.
    """
    if image_size % patch_size:
        raise ValueError(f"image_size={image_size} is not a multiple of patch_size={patch_size}: the "
                         f"patches must tile the image, e.g. image_size={patch_size * max(1, image_size // patch_size)}.")
    if dim % heads:
        raise ValueError(f"dim={dim} is not a multiple of heads={heads}: each head gets dim/heads channels.")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    side = image_size // patch_size
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescaling")(inputs)
    x = keras.layers.Conv2D(dim, patch_size, strides=patch_size, name="patch_embed")(x)
    x = keras.layers.Reshape((side * side, dim), name="patch_tokens")(x)  # row by row, as ViT
    x = PositionEmbedding(name="pos_embed")(ClassToken(name="class_token")(x))
    for index in range(depth):
        x = _block(x, index, dim, heads, mlp_dim)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = keras.layers.GlobalAveragePooling1D(name="token_pool")(x)  # a Lambda taking the class token would not clone
    outputs = keras.layers.Dense(num_classes, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
