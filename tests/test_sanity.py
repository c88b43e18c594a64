"""Sanity signals: superstimulus ratio, specificity rank and noise share, checked on a net whose
activations are the pixels themselves (so the right answers are plain numpy)."""
import dataclasses

import keras
import numpy as np
import pytest
from skimage import data

from actmax_widgets import visualize_filters
from actmax_widgets.evidence import dataset_examples, measures
from actmax_widgets.evidence.sanity import SanitySignals, sanity_signals

SIZE = 16


@pytest.fixture
def pixel_net():
    """Channel c of layer 'colours' is colour c of the image: a 1×1 identity convolution."""
    image = keras.Input((SIZE, SIZE, 3))
    colours = keras.layers.Conv2D(3, 1, use_bias=False, name="colours")(image)
    model = keras.Model(image, colours)
    model.get_layer("colours").set_weights([np.eye(3, dtype="float32").reshape(1, 1, 3, 3)])
    return model


@pytest.fixture
def natural():
    """Eight 16-px crops of scikit-image's cat, uint8."""
    cat = data.chelsea()
    return np.stack([cat[y:y + SIZE * 8:8, x:x + SIZE * 8:8] for y in (0, 100) for x in (0, 80, 160, 240)])


def test_ratio_and_rank_equal_the_numbers_worked_out_by_hand(pixel_net, natural):
    examples = dataset_examples(pixel_net, "colours", images=natural, top_k=3, cache=False, progress=False)
    result = visualize_filters(pixel_net, "colours", [0, 1, 2], max_iter=3, seed=0)
    assert result.sanity is None
    signals = sanity_signals(pixel_net, result, examples)
    assert result.sanity is signals  # attached
    raw = result.raw_images
    for i in range(3):
        # Strongest position of colour i on the image ÷ the brightest colour-i pixel of the photos.
        np.testing.assert_allclose(signals.superstimulus[i], raw[i, ..., i].max() / natural[..., i].max(), rtol=1e-5)
        means = raw[i].mean(axis=(0, 1))
        assert signals.rank[i] == 1 + np.sum(np.delete(means, i) >= means[i])
    assert signals.channels == 3 and signals.images_scanned == len(natural)

    # The same three images of colour (120, 60, 30) with one white pixel: ranks 1, 2, 3 by the mean,
    # and each target's strongest position is that white pixel (255).
    image = np.full((SIZE, SIZE, 3), [120.0, 60.0, 30.0], "float32")
    image[3, 3] = 255.0
    result = dataclasses.replace(result, raw_images=np.stack([image] * 3))
    signals = sanity_signals(pixel_net, result, examples)
    assert signals.rank.tolist() == [1, 2, 3]
    np.testing.assert_allclose(signals.superstimulus, 255.0 / natural.max(axis=(0, 1, 2)), rtol=1e-5)


def test_a_joint_target_ranks_by_its_best_member_and_has_no_ratio(pixel_net, natural):
    examples = dataset_examples(pixel_net, "colours", images=natural, top_k=2, cache=False, progress=False)
    result = visualize_filters(pixel_net, "colours", [[0, 2]], max_iter=3, seed=0)
    signals = sanity_signals(pixel_net, result, examples)
    means = result.raw_images[0].mean(axis=(0, 1))
    assert signals.rank[0] == min(1 + np.sum(np.delete(means, c) >= means[c]) for c in (0, 2))
    assert np.isnan(signals.superstimulus[0])
    badge = signals.badges(0)[0]
    assert (badge["text"], badge["level"]) == ("–", "warn") and "joint" in badge["tooltip"]


def test_noise_has_a_higher_high_frequency_share_than_a_photo():
    photo = data.chelsea()[:128, :128][None]
    noise = np.random.default_rng(0).uniform(0, 255, (1, 128, 128, 3))
    photo_share, noise_share = measures.high_frequency_share(photo)[0], measures.high_frequency_share(noise)[0]
    assert photo_share < 0.1 < 0.5 < noise_share  # white noise: 1 - π/16 ≈ 0.80 of its energy


def test_a_noise_image_gets_the_noise_warning_and_a_smooth_one_does_not(pixel_net, natural):
    examples = dataset_examples(pixel_net, "colours", images=natural, top_k=2, cache=False, progress=False)
    result = visualize_filters(pixel_net, "colours", [0, 1], max_iter=2, seed=0)
    smooth = np.broadcast_to(np.linspace(0, 255, SIZE)[None, :, None], (SIZE, SIZE, 3))
    noise = np.random.default_rng(1).uniform(0, 255, (SIZE, SIZE, 3))
    result = dataclasses.replace(result, raw_images=np.stack([smooth, noise]).astype("float32"))
    signals = sanity_signals(pixel_net, result, examples, natural_images=natural)
    np.testing.assert_allclose(signals.natural_high_frequency,
                               np.median(measures.high_frequency_share(natural)), rtol=1e-6)
    levels = [[b["level"] for b in signals.badges(i) if b["name"] == "noise"][0] for i in (0, 1)]
    assert levels == ["ok", "warn"]


def test_badges_say_the_numbers_in_words():
    signals = SanitySignals(layer="conv", targets=[3, 7], superstimulus=np.array([1.8, 0.4]), rank=np.array([1, 7]),
                            channels=100, high_frequency=np.array([0.03, 0.2]), natural_high_frequency=0.04,
                            images_scanned=50)
    first, second = signals.badges(0), signals.badges(1)
    assert [b["name"] for b in first] == ["superstimulus", "specificity", "noise"]
    assert [(b["text"], b["level"]) for b in first] == [("1.8×", "ok"), ("#1 of 100", "ok"), ("0.8× detail", "ok")]
    assert [(b["text"], b["level"]) for b in second] == [("0.4×", "warn"), ("#7 of 100", "warn"),
                                                         ("5.0× detail", "warn")]
    assert "50 natural images" in first[0]["tooltip"] and "filter 3" in first[0]["tooltip"]
    assert "6 respond to this picture even more than filter 7" in second[1]["tooltip"]
    assert "noise" in second[2]["tooltip"]


def test_a_number_next_to_its_limit_is_not_rounded_onto_the_other_side():
    signals = SanitySignals(layer="conv", targets=[0, 1], superstimulus=np.array([0.97, 1.0]), rank=np.array([1, 1]),
                            channels=8, high_frequency=np.array([0.0812, 0.08]), natural_high_frequency=0.04,
                            images_scanned=50)
    assert [(b["text"], b["level"]) for b in signals.badges(0)][::2] == [("0.97×", "warn"), ("2.03× detail", "warn")]
    assert [(b["text"], b["level"]) for b in signals.badges(1)][::2] == [("1.0×", "ok"), ("2.0× detail", "ok")]


def test_bench_quality_measures_with_the_package_functions():
    quality = pytest.importorskip("bench.quality")
    assert quality.high_frequency_share is measures.high_frequency_share
    assert quality.channel_means is measures.channel_means and quality.rank_of is measures.rank_of


def test_bad_inputs_name_the_argument_the_value_and_the_fix(pixel_net, natural, conv_net):
    examples = dataset_examples(pixel_net, "colours", images=natural, top_k=2, cache=False, progress=False)
    result = visualize_filters(pixel_net, "colours", [0], max_iter=2, seed=0)
    with pytest.raises(TypeError, match=r"result=.*not an ActMaxResult.*visualize_filters"):
        sanity_signals(pixel_net, result.images, examples)
    with pytest.raises(TypeError, match=r"examples=.*not an Examples.*dataset_examples"):
        sanity_signals(pixel_net, result, {"patches": []})
    other = visualize_filters(conv_net, "conv1", [0], max_iter=2, seed=0)
    with pytest.raises(ValueError, match=r"layer 'colours'.*layer 'conv1'.*dataset_examples\(model, 'conv1'\)"):
        sanity_signals(conv_net, other, examples)
    signals = sanity_signals(pixel_net, result, examples)
    with pytest.raises(ValueError, match=r"i=1 is too large.*0\.\.0"):
        signals.badges(1)
