"""Named settings for the widget, so a beginner need not touch the sliders.

Each preset sets these controls; anything else stays as the user left it. ``style`` picks how
images are made (``actmax_widgets.styles``): the Fourier style gives clean, recognisable
features in few steps; 'keras-vis' is the classic pixel recipe. ``image_size`` is a wish: the
widget takes it where the layer runs at it, capped at a fixed-size model's own size (a 28 px
MNIST-style net stays at 28; a layer after a ``Flatten`` runs at no other, see ``image_sizes``).
"""
from __future__ import annotations

PRESETS = {
    "quick preview": {
        "style": "fourier", "steps": 64, "image_size": 96, "jitter": 0.0, "act_max_weight": 1.0,
        "tv_weight": 0.0, "lp_norm_weight": 0.0,
    },
    "workshop quality": {
        "style": "fourier", "steps": 256, "image_size": 128, "jitter": 0.0, "act_max_weight": 1.0,
        "tv_weight": 0.0, "lp_norm_weight": 0.0,
    },
    "pixels, tuned": {
        "style": "keras-vis", "steps": 200, "image_size": 128, "jitter": 0.05, "act_max_weight": 1.0,
        "tv_weight": 0.3, "lp_norm_weight": 0.0,
    },
    "keras-vis defaults": {
        "style": "keras-vis", "steps": 200, "image_size": 128, "jitter": 0.0, "act_max_weight": 1.0,
        "tv_weight": 10.0, "lp_norm_weight": 10.0,
    },
}

DEFAULT_PRESET = "quick preview"

# The style choices, best first, with what they mean to someone picking one.
STYLE_OPTIONS = [
    ("Fourier (recommended)", "fourier"),
    ("Lucid settings", "lucid"),
    ("keras-vis (pixels)", "keras-vis"),
    ("MACO (deep, slower)", "maco"),  # short: the Style dropdown clips longer labels
]
