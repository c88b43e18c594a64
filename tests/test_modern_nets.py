"""Modern networks: a ViT's token layers, ConvNeXt and EfficientNetV2 (random weights, tiny sizes).

The ViT is ``actmax_widgets.vit.tiny_vit`` (32 px, 8 px patches: 4 × 4 patches + a class token,
width 32, two blocks); the ConvNeXt and EfficientNetV2 are keras.applications' own builders at
32 px with few blocks, so every test here runs in seconds.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from actmax_widgets import catalogue, image_sizes, styles, tokens, vit
from actmax_widgets.visualization import visualize_filters

MLP = "block1_mlp_fc1"  # the hidden units of the last block's MLP: 64 of them


@pytest.fixture(scope="module")
def vit_model():
    return vit.tiny_vit(seed=0)


def _no_regularizers():
    # Random weights give activations of about 0.1, which keras-vis's norm and TV weights
    # (10 each) outweigh; with them off the objective alone shows whether the unit can rise.
    return {"recipe": styles.KERAS_VIS.replace(lp_norm_weight=0, tv_weight=0)}


def test_vit_mlp_unit_visualizes_and_its_patch_tokens_rise(vit_model):
    result = visualize_filters(vit_model, MLP, [0, 1, 2], max_iter=25, seed=0, **_no_regularizers())
    history = np.asarray(result.activation_history)
    assert result.images.shape == (3, 32, 32, 3)
    assert np.all(history[-1] > history[0] + 0.5), history[[0, -1]]
    # The objective is the mean over the 16 patch tokens: the class token sees the whole image and
    # no place in it. Recompute it on the images the run made.
    cut = keras.Model(vit_model.inputs[0], vit_model.get_layer(MLP).output)
    out = np.asarray(cut(result.raw_images.astype("float32")))
    patches = np.array([out[k, 1:, unit].mean() for k, unit in enumerate([0, 1, 2])])
    every_token = np.array([out[k, :, unit].mean() for k, unit in enumerate([0, 1, 2])])
    np.testing.assert_allclose(history[-1], patches, rtol=0.05, atol=0.02)
    assert np.max(np.abs(patches - every_token)) > 0.05  # the two reductions do differ here


def test_token_layers_are_listed_with_their_patch_grid(vit_model):
    infos = {info.name: info for info in catalogue.visualizable_layers(vit_model)}
    mlp = infos[MLP]
    assert (mlp.kind, mlp.n_filters, mlp.grid) == ("tokens", 64, (1, 4, 4))
    assert mlp.description == f"{MLP} — tokens 64 ch (4×4 patches + class token)"
    assert infos["block0_attn"].kind == "tokens" and infos["block0_attn"].n_filters == 32
    assert infos["patch_embed"].kind == "conv2d"  # before the tokens: an ordinary feature map
    assert infos["predictions"].kind == "dense"
    assert tokens.patch_grid(vit_model, MLP) == (1, 4, 4)
    with pytest.raises(ValueError, match=r"layer='patch_embed'.*conv2d.*pick a token layer"):
        tokens.patch_grid(vit_model, "patch_embed")


@pytest.mark.parametrize("n_tokens, image_size, grid", [
    (17, (32, 32), (1, 4, 4)),  # class token + 4 × 4
    (16, (32, 32), (0, 4, 4)),  # no class token (a pooled ViT)
    (197, (224, 224), (1, 14, 14)),  # ViT-B/16
    (261, (224, 224), (5, 16, 16)),  # DINOv2-style: class + 4 registers, 14 px patches
    (9, (32, 64), (1, 2, 4)),  # a wide image: the grid keeps its aspect
])
def test_grid_for_finds_prefix_and_patch_grid(n_tokens, image_size, grid):
    assert tokens.grid_for(n_tokens, image_size) == grid


def test_a_planted_token_lands_on_its_image_patch(vit_model):
    # Before attention each token sees only its own 8 × 8 patch: the gradient of the token that
    # to_grid puts at (row, col) must be non-zero exactly on that patch of the image.
    cut = keras.Model(vit_model.inputs[0], vit_model.get_layer("pos_embed").output)
    image = tf.random.uniform((1, 32, 32, 3), 0, 255, seed=1)
    for row, col in [(0, 0), (1, 3), (3, 2)]:
        with tf.GradientTape() as tape:
            tape.watch(image)
            grid = tokens.to_grid(cut(image), (1, 4, 4))
            value = tf.reduce_sum(grid[:, row, col])
        where = np.abs(tape.gradient(value, image).numpy()[0]).sum(axis=-1) > 0
        expected = np.zeros((32, 32), bool)
        expected[row * 8:(row + 1) * 8, col * 8:(col + 1) * 8] = True
        np.testing.assert_array_equal(where, expected)
    planted = np.zeros((2, 17, 3), "float32")
    planted[1, 1 + 2 * 4 + 3, 2] = 7.0  # patch token (row 2, col 3) of sample 1
    laid_out = np.asarray(tokens.to_grid(planted, (1, 4, 4)))
    assert laid_out.shape == (2, 4, 4, 3) and laid_out[1, 2, 3, 2] == 7.0 and laid_out.sum() == 7.0


def test_to_grid_refuses_a_tensor_of_another_token_count():
    with pytest.raises(ValueError, match=r"\(2, 10, 3\) does not hold grid=\(1, 4, 4\).*\(batch, 17, channels\)"):
        tokens.to_grid(np.zeros((2, 10, 3), "float32"), (1, 4, 4))


def test_a_sequence_model_keeps_conv1d():
    inputs = keras.Input((16, 4))
    model = keras.Model(inputs, keras.layers.Conv1D(8, 3, name="conv")(inputs))
    assert catalogue.describe_layer(model, "conv").kind == "conv1d"


def test_fixed_size_vit_says_which_size_works(vit_model):
    sizes = image_sizes.sizes_for(vit_model, MLP)
    assert sizes.fixed and sizes.fixed_by == "patch_tokens"
    with pytest.raises(ValueError) as caught:
        visualize_filters(vit_model, MLP, [0], max_iter=2, image_size=48)
    message = str(caught.value)
    assert "image_size=(48, 48)" in message and "'patch_tokens'" in message and "Use image_size=32" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no Keras trace under it


def test_attribution_and_evidence_refuse_token_layers_clearly(vit_model):
    from actmax_widgets.attribution import activation_maps, grad_cam
    from actmax_widgets.evidence import dataset_examples

    photo = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype("float32")
    with pytest.raises(ValueError, match=rf"layer '{MLP}'.*no 2-D map"):
        activation_maps(vit_model, MLP, [0], photo)
    with pytest.raises(ValueError, match=rf"layer='{MLP}'.*tokens"):
        dataset_examples(vit_model, MLP, [0], images=np.stack([photo] * 4), progress=False, cache=False)
    with pytest.raises(ValueError, match=rf"penultimate_layer='{MLP}'.*transformer's tokens.*patch embedding"):
        grad_cam(vit_model, "predictions", [1], photo[None], penultimate_layer=MLP)
    # Grad-CAM's own choice of feature maps is the patch embedding (a conv): a map of the image.
    assert grad_cam(vit_model, "predictions", [1], photo[None]).shape == (1, 32, 32)


# --- ConvNeXt and EfficientNetV2 ---------------------------------------------------------------

def _small_convnext():
    # keras.applications' ConvNeXt builder with one block per stage and narrow stages: the same
    # layers as ConvNeXtTiny (stem and downsampling Sequentials, depthwise 7 × 7, LayerNorm,
    # Dense pointwise convs with GELU, LayerScale, `x + y` residual ops) at a fraction of the cost.
    from keras.src.applications.convnext import ConvNeXt

    return ConvNeXt(depths=[1, 1, 1, 1], projection_dims=[16, 32, 48, 64], default_size=32, name="convnext_small",
                    include_top=False, weights=None, input_shape=(32, 32, 3))


def _small_efficientnetv2():
    from keras.src.applications.efficientnet_v2 import EfficientNetV2

    return EfficientNetV2(width_coefficient=0.25, depth_coefficient=0.2, default_size=32, include_top=False,
                          weights=None, input_shape=(32, 32, 3), name="efficientnetv2-b0")  # B0's blocks


def test_convnext_layers_are_listed_and_one_rises():
    model = _small_convnext()
    kinds = {(info.class_name, info.kind) for info in catalogue.visualizable_layers(model)}
    assert {("LayerScale", "conv2d"), ("LayerNormalization", "conv2d"), ("Dense", "conv2d"),
            ("Conv2D", "conv2d")} <= kinds
    layer = "convnext_small_stage_1_block_0_pointwise_conv_1"  # 4 × 32 MLP hidden units, as a ViT's
    info = catalogue.describe_layer(model, layer)
    assert (info.kind, info.n_filters) == ("conv2d", 128)
    result = visualize_filters(model, layer, [0, 5], max_iter=15, seed=0, **_no_regularizers())
    history = np.asarray(result.activation_history)
    assert np.all(history[-1] > history[0]), history[[0, -1]]


def test_efficientnetv2_layers_are_listed_and_one_rises():
    model = _small_efficientnetv2()
    infos = catalogue.visualizable_layers(model)
    classes = {info.class_name for info in infos}
    assert {"Conv2D", "DepthwiseConv2D", "BatchNormalization", "Activation", "Multiply"} <= classes
    assert {info.kind for info in infos} == {"conv2d"}
    layer = catalogue.default_layer(model).name
    result = visualize_filters(model, layer, [0, 1], max_iter=15, seed=0, **_no_regularizers())
    history = np.asarray(result.activation_history)
    assert np.all(history[-1] > history[0]), history[[0, -1]]


def test_widget_lists_and_runs_a_token_layer(vit_model):
    from actmax_widgets import ActMaxWidget

    widget = ActMaxWidget(vit_model, layer=MLP, filters=[0, 1], prepare=False, precision="float32")
    widget.controls.preset.value = "keras-vis defaults"  # the quickest to compile
    assert (f"{MLP} — tokens 64 ch (4×4 patches + class token)", MLP) in widget.controls.layer.options
    widget.controls.steps.value = 4
    widget.run(blocking=True)
    assert widget.grid.state == "done" and len(widget.grid.tiles) == 2
    assert widget.images.shape == (2, 32, 32, 3)  # the ViT's own size: its patch grid takes no other


def test_cli_lists_and_renders_a_token_layer(vit_model, tmp_path, capsys, monkeypatch):
    from actmax_widgets import cli

    path = str(tmp_path / "vit.keras")
    vit_model.save(path)
    for name in vit.CUSTOM_OBJECTS:  # as in a fresh `python -m actmax_widgets`, where vit is not imported
        monkeypatch.delitem(keras.saving.get_custom_objects(), name)
    assert cli.main(["--model", path, "--list-layers"]) == 0
    assert f"{MLP} — tokens 64 ch (4×4 patches + class token)" in capsys.readouterr().out.splitlines()
    out = tmp_path / "grid.png"
    assert cli.main(["--model", path, "--layer", MLP, "--filters", "0-1", "--steps", "2", "--style", "keras-vis",
                     "--out", str(out)]) == 0
    assert out.exists()
