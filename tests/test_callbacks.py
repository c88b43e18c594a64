"""Callbacks (keras-vis's interface), ``verbose`` printing, GIFs, and ``Optimizer.minimize``."""
import numpy as np
import pytest
from PIL import Image

from actmax_widgets.callbacks import GifGenerator, OptimizerCallback, Print
from actmax_widgets.losses import ActivationMaximization
from actmax_widgets.optimizer import Optimizer
from actmax_widgets.regularizers import LPNorm, TotalVariation
from actmax_widgets.visualization import visualize_activation
from core_helpers import SIZE


class Recorder(OptimizerCallback):
    def __init__(self):
        self.calls = []
        self.ended = 0

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        self.calls.append((i, named_losses, overall_loss, np.array(grads), np.array(wrt_value)))

    def on_end(self):
        self.ended += 1


def _losses(model, layer="conv2", weights=(1, 10, 10)):
    image = model.input
    return [(ActivationMaximization(model.get_layer(layer), 0), weights[0]), (LPNorm(image), weights[1]),
            (TotalVariation(image), weights[2])]


def test_callback_sees_every_step_with_named_losses_in_the_model_layout(channels_first_net, data_format):
    data_format("channels_first")
    recorder = Recorder()
    optimizer = Optimizer(channels_first_net.input, _losses(channels_first_net, weights=(1, 2, 3)))
    img, grads, wrt_value = optimizer.minimize(max_iter=4, callbacks=[recorder], verbose=False, seed=0)
    assert [c[0] for c in recorder.calls] == [0, 1, 2, 3] and recorder.ended == 1
    for _, named, overall, step_grads, value in recorder.calls:
        assert [name for name, _ in named] == ["ActivationMax Loss", "L-6.0 Norm Loss", "TV(2.0) Loss"]
        assert overall == pytest.approx(sum(w * v for w, (_, v) in zip((1, 2, 3), named)), rel=1e-4)
        assert step_grads.shape == value.shape == (1, 3, SIZE, SIZE)  # the model's layout
    # minimize returns keras-vis's triple: the (channels-last) image, the last grads and input.
    assert img.shape == (SIZE, SIZE, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(grads, recorder.calls[-1][3])
    np.testing.assert_array_equal(wrt_value, recorder.calls[-1][4])


def test_zero_weight_drops_the_loss(conv_net):
    recorder = Recorder()
    Optimizer(conv_net.input, _losses(conv_net, weights=(1, 0, 10))).minimize(
        max_iter=2, callbacks=[recorder], verbose=False)
    assert [name for name, _ in recorder.calls[0][1]] == ["ActivationMax Loss", "TV(2.0) Loss"]


def test_verbose_prints_each_named_loss_each_step(conv_net, capsys):
    visualize_activation(conv_net, "conv2", 0, max_iter=3, verbose=True, seed=0)
    # keras-vis's format: pprint.pformat of the (name, value) list, which may wrap lines.
    blocks = capsys.readouterr().out.split("Iteration: ")[1:]
    assert [block.split(",")[0] for block in blocks] == ["1", "2", "3"]
    for block in blocks:
        for name in ("ActivationMax Loss", "L-6.0 Norm Loss", "TV(2.0) Loss", "overall loss"):
            assert name in block


def test_not_verbose_prints_nothing(conv_net, capsys):
    visualize_activation(conv_net, "conv2", 0, max_iter=3, seed=0)
    assert capsys.readouterr().out == ""


def test_print_format(capsys):
    Print().callback(4, [("A", 1.5), ("B", -2.0)], -0.5, None, None)
    out = capsys.readouterr().out
    assert out.startswith("Iteration: 5, named_losses: [('A', 1.5), ('B', -2.0)], overall loss: -0.5")


def test_on_end_runs_even_when_a_callback_fails(conv_net):
    class Boom(Recorder):
        def callback(self, i, *args):
            if i == 1:
                raise RuntimeError("boom")

    boom = Boom()
    with pytest.raises(RuntimeError, match="boom"):
        visualize_activation(conv_net, "conv2", 0, max_iter=5, callbacks=[boom])
    assert boom.ended == 1


@pytest.mark.parametrize("model_name", ["conv_net", "channels_first_net"])
def test_gif_generator_writes_an_animated_gif(model_name, request, tmp_path):
    model = request.getfixturevalue(model_name)
    path = tmp_path / "opt_progress"
    gif = GifGenerator(str(path), every=1)
    visualize_activation(model, "conv2", 0, max_iter=6, callbacks=[gif], seed=0)
    written = tmp_path / "opt_progress.gif"
    assert gif.path == str(written) and written.exists()
    with Image.open(written) as image:
        assert image.format == "GIF" and image.n_frames == 6
        assert image.size == (SIZE, SIZE)
        frames = []
        for k in range(image.n_frames):
            image.seek(k)
            frames.append(np.asarray(image.convert("RGB")).astype(int))
    assert any(np.abs(frames[0] - f).max() > 0 for f in frames[1:])  # the frames differ


def test_gif_generator_keeps_every_nth_frame(conv_net, tmp_path):
    gif = GifGenerator(str(tmp_path / "x.gif"))  # every=2 by default
    visualize_activation(conv_net, "conv2", 0, max_iter=7, callbacks=[gif], seed=0)
    with Image.open(tmp_path / "x.gif") as image:
        assert image.n_frames == 4  # steps 0, 2, 4, 6
