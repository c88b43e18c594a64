"""Attribution on small nets whose answer is known: saliency, Grad-CAM and activation maps point
at a planted pattern, agree with a hand computation, batch exactly, and refuse bad input clearly."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from actmax_widgets import activation_maps, grad_cam, heatmap_overlay, saliency_maps, top_predictions
from attribution_nets import SIDE, detector_net, mass_near, peak, planted


@pytest.mark.parametrize("where, decoy_at", [((8, 24), (24, 8)), ((22, 10), (6, 6))])
def test_maps_point_at_the_planted_pattern_not_the_decoy(where, decoy_at):
    model = detector_net()
    image = planted(where, decoy_at)
    cam = grad_cam(model, "score", 0, image)[0]
    assert cam.shape == (SIDE, SIDE)
    # The pool halves the resolution: the peak is within a pooled cell of the pattern.
    assert np.abs(np.subtract(peak(cam), where)).max() <= 2
    assert mass_near(cam, where, 4) > 0.8
    saliency = saliency_maps(model, "score", 0, image)[0]
    assert mass_near(saliency, where, 2) > 0.95  # the gradient lives in the detector's 3×3 window
    fires = activation_maps(model, "detector", [0], image)[0]
    assert peak(fires) == tuple(where) and fires[decoy_at] == 0.0


def test_no_pattern_no_evidence_and_gradcam_follows_the_target_class():
    model = detector_net()
    blank = grad_cam(model, "score", 0, np.zeros((SIDE, SIDE, 1), "float32"))[0]
    assert blank.max() == 0.0  # nothing fires: an empty map, not noise scaled up
    against = grad_cam(model, "score", 1, planted((8, 24)))[0]  # unit 1 = minus the evidence
    assert against.max() == 0.0  # Grad-CAM's ReLU keeps evidence FOR the target only


def test_gradcam_default_feature_maps_are_keras_vis_choice(conv_net):
    """keras-vis searched model.layers[:layer_idx - 1] backwards for a conv/pooling layer."""
    model = detector_net()
    image = planted((8, 24))
    assert np.allclose(grad_cam(model, "score", 0, image), grad_cam(model, "score", 0, image, penultimate_layer="pool"))
    assert not np.allclose(grad_cam(model, "score", 0, image),
                           grad_cam(model, "score", 0, image, penultimate_layer="detector"))
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    assert np.allclose(grad_cam(conv_net, "predictions", 1, images),
                       grad_cam(conv_net, "predictions", 1, images, penultimate_layer="conv2"))


def test_gradcam_equals_a_hand_computation_at_full_resolution(conv_net):
    """conv1 keeps the input's size ('same'), so nothing is resized: Grad-CAM is exactly
    relu(sum_k mean(d logit / d A_k) A_k), scaled to [0, 1]."""
    images = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    logits = keras.Model(conv_net.inputs[0], [conv_net.get_layer("conv1").output, conv_net.get_layer("pool").output])
    kernel, bias = conv_net.get_layer("predictions").get_weights()
    with tf.GradientTape() as tape:
        features, pooled = logits(images)
        score = tf.reduce_sum((tf.matmul(pooled, kernel) + bias)[:, 2])
    grads = tape.gradient(score, features).numpy()
    cam = np.maximum((grads.mean(axis=(1, 2), keepdims=True) * features.numpy()).sum(-1), 0)
    expected = (cam - cam.min((1, 2), keepdims=True)) / (np.ptp(cam, (1, 2), keepdims=True) + 1e-7)
    np.testing.assert_allclose(grad_cam(conv_net, "predictions", 2, images, penultimate_layer="conv1"), expected,
                               atol=1e-4)


def test_saliency_equals_the_input_gradient_of_the_logit(conv_net):
    images = np.random.default_rng(2).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    x = tf.constant(images)
    kernel, bias = conv_net.get_layer("predictions").get_weights()
    pooled = keras.Model(conv_net.inputs[0], conv_net.get_layer("pool").output)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum((tf.matmul(pooled(x), kernel) + bias)[:, 3])
    grads = np.abs(tape.gradient(score, x).numpy()).max(-1)
    expected = (grads - grads.min((1, 2), keepdims=True)) / (np.ptp(grads, (1, 2), keepdims=True) + 1e-7)
    np.testing.assert_allclose(saliency_maps(conv_net, "predictions", 3, images), expected, atol=1e-4)
    signed = saliency_maps(conv_net, "predictions", 3, images, grad_modifier=None, keepdims=True)
    assert signed.shape == (2, 16, 16, 3)


def test_guided_plain_and_rectified_differ(conv_net):
    image = np.random.default_rng(3).uniform(0, 255, (16, 16, 3)).astype("float32")
    maps = {m: saliency_maps(conv_net, "predictions", 1, image, backprop_modifier=m, grad_modifier=None)[0]
            for m in (None, "guided", "rectified")}
    for a, b in [(None, "guided"), (None, "rectified"), ("guided", "rectified")]:
        assert np.abs(maps[a] - maps[b]).mean() > 0.01, (a, b)
    cams = [grad_cam(conv_net, "predictions", 1, image, penultimate_layer="conv1", backprop_modifier=m)[0]
            for m in (None, "guided")]
    assert np.abs(cams[0] - cams[1]).mean() > 0.01


def test_batched_equals_one_at_a_time(conv_net):
    rng = np.random.default_rng(4)
    images = rng.uniform(0, 255, (5, 16, 16, 3)).astype("float32")
    targets = [0, 3, [1, 2], 2, 0]
    for function, options in [(saliency_maps, {}), (saliency_maps, {"backprop_modifier": "guided"}),
                              (grad_cam, {}), (grad_cam, {"plus_plus": True})]:
        batched = function(conv_net, "predictions", targets, images, batch_size=2, **options)
        alone = np.stack([function(conv_net, "predictions", [t], im, **options)[0] for t, im in zip(targets, images)])
        np.testing.assert_allclose(batched, alone, atol=1e-5)
    # One image, several classes; one class, several images.
    by_class = grad_cam(conv_net, "predictions", [0, 1, 2], images[0])
    np.testing.assert_allclose(by_class[1], grad_cam(conv_net, "predictions", 1, images[0])[0], atol=1e-6)
    assert grad_cam(conv_net, "predictions", 1, images).shape == (5, 16, 16)


def test_smoothgrad_is_reproducible_and_smoother(conv_net):
    image = np.random.default_rng(5).uniform(0, 255, (16, 16, 3)).astype("float32")
    first = saliency_maps(conv_net, "predictions", 1, image, smooth_samples=16, seed=7)
    np.testing.assert_array_equal(first, saliency_maps(conv_net, "predictions", 1, image, smooth_samples=16, seed=7))
    plain = saliency_maps(conv_net, "predictions", 1, image)

    def roughness(heat):
        return np.abs(np.diff(heat, axis=-1)).mean() + np.abs(np.diff(heat, axis=-2)).mean()

    assert roughness(first) < roughness(plain)


def test_gradcam_plus_plus_differs_and_stays_in_range(conv_net):
    images = np.random.default_rng(6).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    plain = grad_cam(conv_net, "predictions", 1, images, penultimate_layer="conv1")
    plus = grad_cam(conv_net, "predictions", 1, images, penultimate_layer="conv1", plus_plus=True)
    assert plus.min() >= 0 and plus.max() <= 1 and np.abs(plus - plain).mean() > 0.01


def test_photos_in_any_form_are_fitted_to_the_model(conv_net, tmp_path):
    from PIL import Image

    photo = np.random.default_rng(7).integers(0, 256, (40, 64, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    from_file = grad_cam(conv_net, "predictions", 1, tmp_path / "p.png")
    from_array = grad_cam(conv_net, "predictions", 1, photo)
    from_bytes = grad_cam(conv_net, "predictions", 1, (tmp_path / "p.png").read_bytes())
    assert from_file.shape == (1, 16, 16)
    np.testing.assert_allclose(from_file, from_array, atol=1e-5)
    np.testing.assert_allclose(from_file, from_bytes, atol=1e-5)
    mixed = saliency_maps(conv_net, "predictions", [0, 1], [tmp_path / "p.png", photo[:16, :16]])
    assert mixed.shape == (2, 16, 16)


def test_activation_maps_and_top_predictions_for_the_widget(conv_net):
    image = np.random.default_rng(8).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    maps = activation_maps(conv_net, "conv2", [0, 3, 5], image)
    assert maps.shape == (3, 16, 16) and maps.dtype == np.float32 and maps.min() >= 0 and maps.max() <= 1
    top = top_predictions(conv_net, image, k=3)
    assert [name for _, name, _ in top] == [f"class {i}" for i, _, _ in top]
    probabilities = [p for _, _, p in top]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-6
    logits = top_predictions(detector_net(), planted((8, 24)), k=2)  # a linear output: softmaxed
    assert logits[0][0] == 0 and abs(sum(p for _, _, p in logits) - 1) < 1e-6


def test_heatmap_overlay_blends_jet_over_the_photo():
    photo = np.full((4, 6, 3), 100, np.uint8)
    heat = np.zeros((4, 6), "float32")
    heat[0, 0] = 1.0
    np.testing.assert_array_equal(heatmap_overlay(photo, heat, alpha=0.0), photo)
    full = heatmap_overlay(photo, heat, alpha=1.0)
    assert tuple(full[0, 0]) == (128, 0, 0) and tuple(full[1, 1]) == (0, 0, 128)  # jet: dark red, dark blue
    with pytest.raises(ValueError, match=r"heat has shape \(3, 3\)"):
        heatmap_overlay(photo, np.zeros((3, 3)))


@pytest.mark.parametrize("call, error, words", [
    (lambda m: grad_cam(m, "predictions", 1, np.zeros((16, 16, 2), "float32")), ValueError,
     ["images has shape (16, 16, 2)"]),
    (lambda m: grad_cam(m, "predictions", 1, np.zeros((3, 16, 16), np.uint8)), ValueError,
     ["shape (3, 16, 16)", "np.moveaxis"]),
    (lambda m: grad_cam(m, "predictions", 1, np.zeros((16, 16, 3)), penultimate_layer="pool"), ValueError,
     ["penultimate_layer='pool'", "no spatial map", "pick a conv or pooling layer"]),
    (lambda m: grad_cam(m, "predictions", 9, np.zeros((16, 16, 3))), ValueError, ["index 9 is out of range", "0..3"]),
    (lambda m: grad_cam(m, "predictions", "cat", np.zeros((16, 16, 3))), TypeError,
     ["targets entry 'cat' is not an integer"]),
    (lambda m: grad_cam(m, "predictions", [0, 1, 2], np.zeros((2, 16, 16, 3))), ValueError,
     ["targets has 3 entries for 2 images"]),
    (lambda m: saliency_maps(m, "predictions", 1, np.zeros((16, 16, 3)), smooth_samples=-1), ValueError,
     ["smooth_samples=-1"]),
    (lambda m: saliency_maps(m, "predictions", 1, np.zeros((16, 16, 3)), backprop_modifier="gided"), ValueError,
     ["backprop_modifier 'gided'", "'guided'"]),
    (lambda m: activation_maps(m, "predictions", [0], np.zeros((16, 16, 3))), ValueError,
     ["no 2-D map", "grad_cam"]),
    (lambda m: grad_cam(m, "nope", 1, np.zeros((16, 16, 3))), ValueError, ["No layer with name 'nope'"]),
])
def test_bad_inputs_name_the_argument_the_value_and_the_fix(conv_net, call, error, words):
    with pytest.raises(error) as raised:
        call(conv_net)
    for word in words:
        assert word in str(raised.value)


def test_a_non_image_file_and_a_model_without_feature_maps(conv_net, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    with pytest.raises(ValueError, match=r"'notes.txt' is not an image Pillow can read \(PNG or JPEG\)"):
        saliency_maps(conv_net, "predictions", 1, notes)
    inputs = keras.Input((8, 8, 3))
    dense = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="no conv or pooling layer before it.*pass penultimate_layer"):
        grad_cam(dense, "out", 0, np.zeros((8, 8, 3)))


def test_nested_model_uses_catalogue_names():
    keras.utils.set_random_seed(3)
    base = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
                             keras.layers.Conv2D(4, 3, activation="relu", name="c2")], name="base")
    model = keras.Sequential([keras.Input((16, 16, 3)), base, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, name="out")])
    image = np.random.default_rng(9).uniform(0, 255, (16, 16, 3)).astype("float32")
    default = grad_cam(model, "out", 2, image)
    np.testing.assert_allclose(default, grad_cam(model, "out", 2, image, penultimate_layer="base/c2"), atol=1e-6)
    assert activation_maps(model, "base/c1", [0, 1], image).shape == (2, 16, 16)


def test_channels_first_model_gives_the_maps_of_its_channels_last_twin(conv_net, channels_first_net):
    """Photos are channels-last whatever the model; the maps match the same weights channels-last."""
    images = np.random.default_rng(10).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    for function, options in [(saliency_maps, {}), (grad_cam, {"penultimate_layer": "conv1"}), (grad_cam, {})]:
        np.testing.assert_allclose(function(channels_first_net, "predictions", [1, 2], images, **options),
                                   function(conv_net, "predictions", [1, 2], images, **options), atol=1e-4)
    np.testing.assert_allclose(activation_maps(channels_first_net, "conv2", [0, 4], images[0]),
                               activation_maps(conv_net, "conv2", [0, 4], images[0]), atol=1e-4)
    twin, channels_first = (top_predictions(net, images[0], k=3) for net in (conv_net, channels_first_net))
    assert [i for i, _, _ in channels_first] == [i for i, _, _ in twin]
    np.testing.assert_allclose([p for _, _, p in channels_first], [p for _, _, p in twin], atol=1e-5)


def test_maps_follow_new_weights_of_the_same_model(conv_net):
    """After set_weights (or training), the maps are those of the new weights, not of a copy made
    at the first call (the logit copy of a softmax layer once kept the old weights)."""
    images = np.random.default_rng(11).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    before = [saliency_maps(conv_net, "predictions", 1, images), grad_cam(conv_net, "predictions", 1, images)]
    rng = np.random.default_rng(12)
    conv_net.set_weights([w + rng.normal(0, 0.5, w.shape).astype("float32") for w in conv_net.get_weights()])
    twin = keras.models.clone_model(conv_net)
    twin.set_weights(conv_net.get_weights())  # a model never seen: its maps are freshly computed
    for old, function in zip(before, (saliency_maps, grad_cam)):
        new = function(conv_net, "predictions", 1, images)
        assert np.abs(new - old).mean() > 0.01, function.__name__
        np.testing.assert_allclose(new, function(twin, "predictions", 1, images), atol=1e-4)


def test_callable_grad_modifiers_are_not_kept_forever(conv_net):
    """Each new callable traces a new step; only the latest few are kept (a notebook cell that
    passes a lambda would otherwise hold one more traced step at every run)."""
    import gc
    import weakref

    image = np.random.default_rng(13).uniform(0, 255, (16, 16, 3)).astype("float32")
    first = lambda grads: tf.abs(grads)  # noqa: E731 - a new callable, as a notebook cell makes
    expected = saliency_maps(conv_net, "predictions", 1, image, grad_modifier=first)
    gone = weakref.ref(first)
    del first
    for k in range(10):
        maps = saliency_maps(conv_net, "predictions", 1, image, grad_modifier=lambda grads, k=k: tf.abs(grads))
        grad_cam(conv_net, "predictions", 1, image, grad_modifier=lambda grads, k=k: grads)
    np.testing.assert_allclose(maps, expected, atol=1e-6)
    gc.collect()
    assert gone() is None
