"""Attribution on the embedded pretrained model and two scikit-image photos whose answer is known:
the cat (ImageNet 285) and the espresso (967) side by side, each class's map on its own half; and
keras-vis's VGG attention example, ported to the embedded model, running with only the imports
and the model changed."""
import numpy as np
import pytest
from skimage import data

from actmax_widgets import grad_cam, saliency_maps, top_predictions
from actmax_widgets.models import efficientnet_lite0
from actmax_widgets.photos import fit_photo

CAT, ESPRESSO = 285, 967


@pytest.fixture(scope="module")
def model():
    return efficientnet_lite0()


def _side_by_side(left, right):
    """A 224 × 224 image: the middle 224 × 112 of each photo, side by side (cropped, not squashed)."""
    halves = [fit_photo(fit_photo(p.astype("float32"), 224), (224, 112)) for p in (left, right)]
    return np.concatenate(halves, axis=1)


def _left_share(maps):
    return maps[:, :, :112].sum(axis=(1, 2)) / maps.sum(axis=(1, 2))


@pytest.mark.slow
def test_each_class_map_lies_on_its_own_photo(model):
    cat_left = _side_by_side(data.chelsea(), data.coffee())
    cup_left = _side_by_side(data.coffee(), data.chelsea())
    assert top_predictions(model, data.chelsea(), k=1)[0][:2] == (CAT, "Egyptian cat")
    assert top_predictions(model, data.coffee(), k=1)[0][:2] == (ESPRESSO, "espresso")
    # Both orders, both classes, in one batched call each: no left/right bias can pass for an answer.
    images = [cat_left, cat_left, cup_left, cup_left]
    targets = [CAT, ESPRESSO, CAT, ESPRESSO]
    on_own_half = np.array([1, 0, 0, 1], bool)  # is the target's photo on the left?

    def own_share(maps):
        left = _left_share(maps)
        return np.where(on_own_half, left, 1 - left)

    assert (own_share(grad_cam(model, "predictions", targets, images)) > 0.7).all()
    assert (own_share(grad_cam(model, "predictions", targets, images, plus_plus=True)) > 0.6).all()
    # Pixel gradients are noisier; still more of each map on its own photo than on the other.
    assert (own_share(saliency_maps(model, "predictions", targets, images)) > 0.5).all()
    assert (own_share(saliency_maps(model, "predictions", targets, images, smooth_samples=8, seed=0)) > 0.5).all()


@pytest.mark.slow
def test_keras_vis_vgg_attention_example_runs_on_the_embedded_model(model, tmp_path, monkeypatch):
    """examples/vggnet/attention.ipynb with VGG16 replaced by the embedded model, the ouzels by
    the cat photo saved as JPEG, and ouzel's index 20 by 285; the rest as written."""
    import matplotlib

    matplotlib.use("Agg")
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    Image.fromarray(data.chelsea()).save("images/ouzel1.jpg")
    Image.fromarray(data.chelsea()[:, ::-1]).save("images/ouzel2.jpg")

    from actmax_widgets.utils import utils
    from keras import activations

    layer_idx = utils.find_layer_idx(model, 'predictions')
    model.layers[layer_idx].activation = activations.linear
    try:
        model = utils.apply_modifications(model)

        from actmax_widgets.utils import utils
        from matplotlib import pyplot as plt
        plt.rcParams['figure.figsize'] = (18, 6)

        img1 = utils.load_img('images/ouzel1.jpg', target_size=(224, 224))
        img2 = utils.load_img('images/ouzel2.jpg', target_size=(224, 224))

        f, ax = plt.subplots(1, 2)
        ax[0].imshow(img1)
        ax[1].imshow(img2)

        from actmax_widgets.visualization import visualize_saliency, overlay

        for modifier in [None, 'guided', 'relu']:
            f, ax = plt.subplots(1, 2)
            for i, img in enumerate([img1, img2]):
                grads = visualize_saliency(model, layer_idx, filter_indices=285, seed_input=img,
                                           backprop_modifier=modifier)
                ax[i].imshow(grads, cmap='jet')
                assert grads.shape == (224, 224)

        import matplotlib.cm as cm
        from actmax_widgets.visualization import visualize_cam

        heatmaps = []
        for modifier in [None, 'guided', 'relu']:
            f, ax = plt.subplots(1, 2)
            plt.suptitle("vanilla" if modifier is None else modifier)
            for i, img in enumerate([img1, img2]):
                grads = visualize_cam(model, layer_idx, filter_indices=285,
                                      seed_input=img, backprop_modifier=modifier)
                jet_heatmap = np.uint8(cm.jet(grads)[..., :3] * 255)
                ax[i].imshow(overlay(jet_heatmap, img))
                heatmaps.append(grads)
        plt.close("all")
    finally:
        model.layers[layer_idx].activation = activations.softmax  # the fixture's model is shared
    # The second photo is the first mirrored: so, nearly (the network's strides are not), is its heatmap.
    assert np.corrcoef(heatmaps[1].ravel(), heatmaps[0][:, ::-1].ravel())[0, 1] > 0.8
