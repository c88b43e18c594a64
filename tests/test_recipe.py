"""``Recipe`` (issue #16, "a smaller entry point"): each old keyword of ``visualize_filters`` makes
the images of its Recipe field and warns once naming it; ``style=`` is ``recipe=<name>``; recipes
are frozen copies; bad fields and values are named; the package's own callers (widget, CLI,
atlas) use ``recipe=`` and emit no DeprecationWarning. Tiny net, 16 px, 3 steps."""
import os
import warnings

import keras
import numpy as np
import pytest

import actmax_widgets
from actmax_widgets import Recipe, parameterizations, styles, transforms, visualize_filters
from actmax_widgets.input_modifiers import Jitter
from core_helpers import SIZE, conv_layers, functional, zero_mean_kernels

PACKAGE_DIR = os.path.dirname(actmax_widgets.__file__)
RUN = {"max_iter": 3, "seed": 5}
JITTER = Jitter(0.1)
ADAM = {"optimizer": "adam", "learning_rate": 0.05}

# old keyword, its value, the Recipe field that replaces it, and the field's value.
OLD_KEYWORDS = [
    ("param", "fourier", "param", "fourier"),
    ("input_modifiers", [JITTER], "transforms", (JITTER,)),
    ("optimizer_settings", ADAM, "optimizer", ADAM),
    ("act_max_weight", 3.0, "act_max_weight", 3.0),
    ("lp_norm_weight", 1.0, "lp_norm_weight", 1.0),
    ("tv_weight", 0.5, "tv_weight", 0.5),
    ("diversity", 2.0, "diversity", 2.0),
    ("relu_warmup", 2, "relu_warmup", 2),
    ("uncap_relu6", True, "uncap_relu6", True),
    ("norm_grads", False, "norm_grads", False),
    ("grad_modifier", "absolute", "grad_modifier", "absolute"),
    ("backprop_modifier", "guided", "backprop_modifier", "guided"),
]


@pytest.fixture(scope="module")
def net():
    keras.utils.set_random_seed(0)
    return zero_mean_kernels(functional((SIZE, SIZE, 3), conv_layers(), "recipe_net"))


def _deprecations(caught):
    return [w for w in caught if issubclass(w.category, DeprecationWarning)]


def _from_the_package(caught):
    """Deprecation warnings attributed to the package's own code (TF's and Keras's are not ours)."""
    return [f"{w.filename}:{w.lineno}: {w.message}" for w in _deprecations(caught)
            if os.path.abspath(w.filename).startswith(PACKAGE_DIR)]


@pytest.mark.parametrize("old, value, field, field_value", OLD_KEYWORDS, ids=[case[0] for case in OLD_KEYWORDS])
def test_each_old_keyword_makes_the_images_of_its_recipe_field_and_warns_once_naming_it(
        net, old, value, field, field_value):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        legacy = visualize_filters(net, "conv2", [1, 1, 4], **RUN, **{old: value})
    warned = _deprecations(caught)
    assert len(warned) == 1, [str(w.message) for w in warned]
    message = str(warned[0].message)
    assert old in message and f"{field}=" in message and "Recipe" in message
    assert warned[0].filename == __file__  # points at the call, not inside the package
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new = visualize_filters(net, "conv2", [1, 1, 4], **RUN, recipe=Recipe(**{field: field_value}))
    np.testing.assert_array_equal(legacy.images, new.images)
    np.testing.assert_array_equal(legacy.activation_history, new.activation_history)


def test_several_old_keywords_warn_once_and_keep_the_old_rule_of_styles(net):
    """With a style, an old keyword at its old default (tv_weight=10) leaves the style's value;
    one the caller changed (lp_norm_weight=2.0) wins: released notebooks make the same images."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        legacy = visualize_filters(net, "conv2", [0, 2], **RUN, style="fourier", tv_weight=10, lp_norm_weight=2.0)
    assert len(_deprecations(caught)) == 1
    new = visualize_filters(net, "conv2", [0, 2], **RUN, recipe=styles.FOURIER.replace(lp_norm_weight=2.0))
    np.testing.assert_array_equal(legacy.images, new.images)


def test_objective_keyword_still_works_and_points_to_objectives(net):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = visualize_filters(net, "conv2", [0], **RUN, objective="negative")
    (warned,) = _deprecations(caught)
    assert "objective" in str(warned.message) and "objectives=" in str(warned.message)
    # Minimized, as before: the history holds minus the activation, which rises.
    assert result.activation_history[-1, 0] > result.activation_history[0, 0]


def test_style_name_and_recipe_make_the_same_bytes_without_a_warning(net):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        by_style = visualize_filters(net, "conv2", [0, 3], **RUN, style="fourier")
        by_recipe = visualize_filters(net, "conv2", [0, 3], **RUN, recipe=styles.FOURIER)
        by_name = visualize_filters(net, "conv2", [0, 3], **RUN, recipe="fourier")
    assert by_style.images.tobytes() == by_recipe.images.tobytes() == by_name.images.tobytes()
    assert by_style.raw_images.tobytes() == by_recipe.raw_images.tobytes()
    keras_vis = visualize_filters(net, "conv2", [0, 3], **RUN)
    assert keras_vis.images.tobytes() != by_style.images.tobytes()  # the recipe reached the run


def test_named_styles_are_recipes():
    assert styles.names()[0] == "keras-vis"
    assert styles.get("fourier") is styles.FOURIER and styles.get("lucid") is styles.LUCID
    assert styles.get("keras-vis") == Recipe()
    assert styles.FOURIER.transforms == (transforms.LIGHT,) and styles.FOURIER.tv_weight == 0
    assert styles.FOURIER.relu_warmup == 16 and styles.FOURIER.uncap_relu6 is True
    assert all(isinstance(styles.get(name), Recipe) for name in styles.names())


def test_replace_makes_a_copy_and_the_original_stays():
    changed = styles.FOURIER.replace(tv_weight=3, transforms=())
    assert (changed.tv_weight, changed.transforms) == (3.0, ())
    assert (styles.FOURIER.tv_weight, styles.FOURIER.transforms) == (0.0, (transforms.LIGHT,))
    assert changed.param is styles.FOURIER.param and changed != styles.FOURIER
    settings = dict(ADAM)
    recipe = Recipe(optimizer=settings)
    settings["learning_rate"] = 9.0  # the caller's dict changes: the recipe does not
    assert recipe.optimizer["learning_rate"] == 0.05
    with pytest.raises(TypeError):
        recipe.optimizer["learning_rate"] = 1.0  # read-only
    with pytest.raises(AttributeError):
        recipe.tv_weight = 1.0  # frozen


def test_recipes_are_hashable_and_equal_recipes_hash_equal():
    """A recipe can key a dict or sit in a set (a user's cache of results per recipe)."""
    def with_schedule():
        schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=10, decay_rate=0.5)
        return styles.FOURIER.replace(optimizer={"optimizer": "adam", "learning_rate": schedule})

    assert hash(styles.FOURIER.replace()) == hash(styles.FOURIER)
    assert hash(Recipe(optimizer=dict(ADAM))) == hash(Recipe(optimizer=dict(reversed(ADAM.items()))))
    assert hash(with_schedule()) == hash(with_schedule())
    assert len({styles.FOURIER, styles.FOURIER.replace(), styles.LUCID, styles.KERAS_VIS}) == 3


def test_a_backprop_modifier_turns_the_relu_warm_up_off():
    """One rule for the widget, the old keywords and styles.apply: both rewrite ReLU gradients."""
    guided = styles.FOURIER.with_backprop_modifier("guided")
    assert (guided.backprop_modifier, guided.relu_warmup, styles.FOURIER.relu_warmup) == ("guided", 0, 16)
    assert styles.FOURIER.with_backprop_modifier(None) == styles.FOURIER
    with pytest.warns(DeprecationWarning):
        assert actmax_widgets.visualization.resolve_recipe(
            "fourier", None, {"backprop_modifier": "guided"}) == guided


def test_each_run_gets_a_fresh_parameterization():
    first, second = styles.FOURIER.parameterization(), styles.FOURIER.parameterization()
    assert first is not second and type(first).__name__ == "FourierImage" and first.decay == 1.75
    assert type(Recipe().parameterization()).__name__ == "PixelImage"


BAD = {
    "unknown field": (lambda: styles.FOURIER.replace(tv_wieght=1), TypeError,
                      ["'tv_wieght'", "did you mean 'tv_weight'", "param, transforms, optimizer"]),
    "negative weight": (lambda: Recipe(tv_weight=-1), ValueError, ["tv_weight=-1", ">= 0"]),
    "weight a string": (lambda: Recipe(act_max_weight="1"), TypeError, ["act_max_weight='1'"]),
    "unknown param": (lambda: Recipe(param="fourrier"), ValueError, ["param 'fourrier'", "'fourier'"]),
    "param not a parameterization": (lambda: Recipe(param=5), TypeError, ["param=5", "'pixel'"]),
    "transforms a string": (lambda: Recipe(transforms="jitter"), TypeError, ["transforms='jitter'", "Jitter(0.05)"]),
    "optimizer not a dict": (lambda: Recipe(optimizer="adam"), TypeError, ["optimizer='adam'", "learning_rate"]),
    "unknown backprop modifier": (lambda: Recipe(backprop_modifier="gided"), ValueError, ["'gided'", "'guided'"]),
    "warm-up with a backprop modifier": (lambda: styles.FOURIER.replace(backprop_modifier="guided"), ValueError,
                                         ["relu_warmup=16", "backprop_modifier='guided'", "relu_warmup=0"]),
    "relu_warmup not an int": (lambda: Recipe(relu_warmup=1.5), TypeError, ["relu_warmup=1.5"]),
    "param a callable needing arguments": (lambda: Recipe(param=len).parameterization(), TypeError,
                                           ["param=", "len", "no arguments", "'fourier'"]),
    "param a factory of something else": (lambda: Recipe(param=lambda: 5).parameterization(), TypeError,
                                          ["param=", "returned 5", "init_params and to_image"]),
}


def test_a_parameterization_class_as_param_is_made_into_one():
    made = parameterizations.get(parameterizations.FourierImage)
    assert isinstance(made, parameterizations.FourierImage)


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_field_or_value_is_a_clear_error_naming_it(case):
    make, error, words = BAD[case]
    with pytest.raises(error) as raised:
        make()
    for word in words:
        assert word in str(raised.value), (word, str(raised.value))


def test_bad_recipe_arguments_of_visualize_filters_are_named(net):
    with pytest.raises(TypeError, match="recipe=5 is not a Recipe"):
        visualize_filters(net, "conv2", [0], recipe=5)
    with pytest.raises(ValueError, match="Unknown style 'Fourier'.*did you mean 'fourier'"):
        visualize_filters(net, "conv2", [0], recipe="Fourier")
    with pytest.raises(TypeError, match="style='fourier' and recipe=.* both given"):
        visualize_filters(net, "conv2", [0], style="fourier", recipe=styles.LUCID)
    with pytest.raises(TypeError, match="unexpected keyword argument 'tv_wieght': did you mean 'tv_weight'"):
        visualize_filters(net, "conv2", [0], tv_wieght=1)


# --- the package's own callers ------------------------------------------------------------------


def test_the_widget_builds_a_recipe_from_its_settings_and_runs_without_deprecations(net):
    from actmax_widgets import ActMaxWidget

    widget = ActMaxWidget(net, layer="conv2", filters=[0, 1], prepare=False, precision="float32",
                          preset="quick preview")
    widget.controls.steps.value, widget.controls.jitter.value = 3, 0.1
    request = widget.controls.request()
    recipe = widget._job.options_for(request)["recipe"]
    assert recipe == styles.FOURIER.replace(transforms=styles.FOURIER.transforms + (recipe.transforms[-1],))
    assert isinstance(recipe.transforms[-1], Jitter) and recipe.transforms[-1].jitter == 0.1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        widget.run(blocking=True)
    assert widget.result.steps == 3
    assert _from_the_package(caught) == []


def test_the_cli_and_atlas_build_run_without_deprecations(net, tmp_path, capsys):
    from actmax_widgets import cli
    from actmax_widgets.atlas import build

    path = tmp_path / "net.keras"
    net.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = cli.main(["--model", str(path), "--layer", "conv2", "--filters", "0-1", "--steps", "2",
                           "--jitter", "0.05", "--tv-weight", "1", "--out", str(tmp_path / "grid.png")])
        build(net, tmp_path / "atlas", layers=["conv2"], filters_per_chunk=4, progress=False, steps=2,
              image_size=SIZE, seed=0, style="fourier", variants=0)
    assert status == 0, capsys.readouterr().err
    assert _from_the_package(caught) == []
