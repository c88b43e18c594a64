"""Named settings for the widget, so a beginner need not touch the sliders."""
from __future__ import annotations

# Each preset sets these controls; anything else stays as the user left it.
PRESETS = {
    "quick preview": {
        "steps": 60, "image_size": 96, "jitter": 0.05, "act_max_weight": 1.0,
        "tv_weight": 0.3, "lp_norm_weight": 0.0,
    },
    "workshop quality": {
        "steps": 200, "image_size": 128, "jitter": 0.05, "act_max_weight": 1.0,
        "tv_weight": 0.3, "lp_norm_weight": 0.0,
    },
    "keras-vis defaults": {
        "steps": 200, "image_size": 128, "jitter": 0.0, "act_max_weight": 1.0,
        "tv_weight": 10.0, "lp_norm_weight": 10.0,
    },
}

DEFAULT_PRESET = "quick preview"
