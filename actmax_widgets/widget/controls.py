"""The control panel: standard ipywidgets that read into a ``RunRequest``.

Controls hold the choices; they never run anything. ``ActMaxWidget`` wires the Run button.
"""
from __future__ import annotations

import html
import math
import random

import ipywidgets as w

from .. import catalogue, grad_modifiers
from .job import RunRequest
from .presets import DEFAULT_PRESET, PRESETS, STYLE_OPTIONS
from .size_control import ImageSizeControl

_LABEL_WIDTH = "118px"
_STYLE = {"description_width": _LABEL_WIDTH}

LINEAR_TOOLTIP = (
    "Maximize the logit instead of the softmax probability. A softmax output can be raised by "
    "lowering every other class, which gives muddy images; the logit shows the class itself."
)


# 3 is the default: on EfficientNet-Lite0 it already gives copies of clearly different colour and
# orientation at ~90% of the plain activation; at 10 a copy now and then loses its activation.
DIVERSITY_TOOLTIP = (
    "Diverse mode: how hard the copies are pushed apart (copies whose features fire together "
    "alike, similar Gram matrices, are penalised). Higher: more different, but weaker images; "
    "0: they differ only by their random start."
)


PRECISION_OPTIONS = [("auto (bfloat16 where faster)", "auto"), ("float32 (exact)", "float32"), ("bfloat16", "bfloat16")]
PRECISION_TOOLTIP = (
    "What the model computes in (the image stays float32). auto: bfloat16 on CPUs with AMX when "
    "the net has no depthwise convolutions (measured faster there, images as good), float32 elsewhere."
)


NONE = "none"


def _or_none(choice):
    return None if choice == NONE else choice


def filter_spec(filters):
    """``[0, 1, 2, 3, 7]`` as ``"0-3, 7"``: the short form of a list, which fits its box."""
    runs = []  # [first, last] of each stretch of consecutive indices
    for index in filters:
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in runs)


def _layout(width="auto", **kwargs):
    return w.Layout(width=width, **kwargs)


class Controls:
    """All controls of the widget, and the logic between them (pages, presets, layer search)."""

    def __init__(self, model, layer=None, filters=None, labels=None, preset=DEFAULT_PRESET):
        self.layers = catalogue.visualizable_layers(model)
        if not self.layers:
            raise ValueError(f"Model '{model.name}' has no layer whose output can be visualized.")
        self._by_name = {info.name: info for info in self.layers}
        self._softmax_layers = {
            layer.name for layer in model.layers
            if getattr(getattr(layer, "activation", None), "__name__", "") == "softmax"}
        self.labels = labels
        initial = catalogue.describe_layer(model, layer) if layer is not None else catalogue.default_layer(model)
        if initial.name not in self._by_name:
            raise ValueError(f"Layer '{initial.name}' cannot be shown in the widget.")

        self.layer_search = w.Text(placeholder="search layers…", description="Layer",
                                   style=_STYLE, layout=_layout("260px"))
        self.layer = w.Dropdown(options=self._layer_options(""), value=initial.name,
                                layout=_layout("340px"), tooltip="Layer to visualize")
        self.mode = w.ToggleButtons(options=[("Page", "page"), ("List", "list"), ("Random", "random"),
                                             ("Diverse", "diverse")],
                                    value="page", style={"button_width": "84px"},
                                    tooltips=["Page through the layer's filters", "Type filters, e.g. 0-15, 32",
                                              "A random sample",
                                              "Several different images of one filter"])
        self.page_size = w.Dropdown(options=[16, 32, 64], value=16, description="Tiles",
                                    style={"description_width": "40px"}, layout=_layout("120px"))
        self.previous_page = w.Button(description="◀", tooltip="Previous page", layout=_layout("40px"))
        self.next_page = w.Button(description="▶", tooltip="Next page", layout=_layout("40px"))
        self.page = w.BoundedIntText(value=0, min=0, max=0, layout=_layout("0px", display="none"))
        self.page_label = w.Label()
        self.filter_text = w.Text(value="0-15", placeholder="e.g. 0-15, 32, 40 or all",
                                  layout=_layout("420px", max_width="100%"), tooltip="Filters to show")
        self.resample = w.Button(description="New sample", icon="random", tooltip="Draw another random sample",
                                 layout=_layout("120px"))
        self.diverse_filter = w.IntText(value=0, description="Filter", style={"description_width": "40px"},
                                        layout=_layout("120px"), tooltip="The filter to show several times")
        self.copies = w.BoundedIntText(value=4, min=2, max=16, description="Copies",
                                       style={"description_width": "48px"}, layout=_layout("116px"),
                                       tooltip="How many images of the filter (2–16)")
        self.diversity = w.FloatSlider(value=3.0, min=0.0, max=20.0, step=0.5, description="Diversity",
                                       style=_STYLE, tooltip=DIVERSITY_TOOLTIP)
        self.diversity_note = w.HTML(tooltip=DIVERSITY_TOOLTIP)  # the weight, shown beside the filter
        self.filter_error = w.HTML()

        self.preset = w.Dropdown(options=list(PRESETS) + ["custom"], value=preset, description="Preset",
                                 style=_STYLE, layout=_layout("300px"))
        self.style = w.Dropdown(options=STYLE_OPTIONS, value=STYLE_OPTIONS[0][1], description="Style", style=_STYLE,
                                layout=_layout("330px"),  # "Fourier (recommended)" was clipped at 300
                                tooltip="How the image is parameterized and regularized")
        # step=1: a coarser step makes the slider show a value set from code (steps=128) rounded.
        self.steps = w.IntSlider(value=64, min=1, max=1000, step=1, description="Steps", style=_STYLE)
        # Bounded to the sizes the current layer runs at (a Dense after a Flatten: the model's own).
        self.image_sizes = ImageSizeControl(model, _STYLE, _layout("200px"))
        self.image_sizes.show_layer(initial.name)
        self.image_size = self.image_sizes.box
        self.jitter = w.FloatSlider(value=0.05, min=0.0, max=0.25, step=0.01, description="Jitter",
                                    style=_STYLE, tooltip="Random shift per step (fraction of the size)")
        self.act_max_weight = w.FloatSlider(value=1.0, min=0.0, max=10.0, step=0.1,
                                            description="Activation weight", style=_STYLE)
        self.tv_weight = w.FloatLogSlider(value=0.3, base=10, min=-3, max=1.5, step=0.1,
                                          description="TV weight", style=_STYLE,
                                          tooltip="Total variation: higher is smoother")
        self.lp_norm_weight = w.FloatLogSlider(value=1e-3, base=10, min=-3, max=1.5, step=0.1,
                                               description="Lp weight", style=_STYLE,
                                               tooltip="Lp norm: keeps values from growing")
        self.lp_enabled = w.Checkbox(value=False, description="use Lp", indent=False, layout=_layout("90px"))
        self.tv_enabled = w.Checkbox(value=False, description="use TV", indent=False, layout=_layout("90px"))
        # "none" rather than None as the value: a Dropdown shows a None value as no selection (blank).
        self.grad_modifier = w.Dropdown(options=[NONE] + list(grad_modifiers.NAMES),
                                        value=NONE, description="Grad modifier", style=_STYLE,
                                        layout=_layout("260px"),
                                        tooltip="negate: minimize the filter instead")
        self.backprop_modifier = w.Dropdown(options=[NONE, "guided", "rectified"],
                                            value=NONE, description="Backprop", style=_STYLE,
                                            layout=_layout("260px"))
        self.linear_output = w.Checkbox(value=True, description="linear output (logits)", indent=False,
                                        tooltip=LINEAR_TOOLTIP, layout=_layout("220px"))
        self.linear_help = w.HTML(f'<span title="{LINEAR_TOOLTIP}" style="cursor:help">ⓘ</span>')
        self.precision = w.Dropdown(options=PRECISION_OPTIONS, value="auto", description="Precision",
                                    style=_STYLE, layout=_layout("350px"), tooltip=PRECISION_TOOLTIP)
        self.seed = w.IntText(value=0, description="Seed", style=_STYLE, layout=_layout("200px"),
                              tooltip="Same seed, same images")
        self.run_button = w.Button(description="Run", button_style="success", icon="play",
                                   tooltip="Run / Stop (the grid updates live)", layout=_layout("120px"))

        self._random_sample = []
        self._applying_preset = False
        self._wire()
        self.apply_preset(preset)
        self._layer_changed()
        self._show_diversity()
        if filters is not None:
            self.mode.value = "list"
            self.filter_text.value = filter_spec(filters)

    # -- layout ----------------------------------------------------------------------------
    def box(self):
        """The panel: the main row always visible, the tuning knobs in a collapsible section."""
        self.page_box = w.HBox([self.page_size, self.previous_page, self.next_page, self.page_label],
                               layout=_layout(align_items="center"))
        self.list_box = w.HBox([self.filter_text], layout=_layout(align_items="center"))
        self.random_box = w.HBox([self.resample], layout=_layout(align_items="center"))
        self.diverse_box = w.HBox([self.diverse_filter, self.copies, self.diversity_note],
                                  layout=_layout(align_items="center", flex_flow="row wrap"))
        self._show_mode()
        main = w.VBox([
            w.HBox([self.layer_search, self.layer], layout=_layout(align_items="center")),
            w.HBox([w.HTML('<div style="text-align:right;padding-right:8px">Filters</div>',
                           layout=_layout(_LABEL_WIDTH)), self.mode],
                   layout=_layout(align_items="center")),
            # Under the mode buttons, on a row of its own: beside them it wraps at notebook widths.
            w.HBox([self.page_box, self.list_box, self.random_box, self.diverse_box],
                   layout=_layout(align_items="center", margin=f"0 0 0 {_LABEL_WIDTH}")),
            self.filter_error,
            w.HBox([self.preset, self.style, self.run_button], layout=_layout(align_items="center",
                                                                               flex_flow="row wrap")),
        ])
        tuning = w.VBox([
            w.HBox([self.steps, self.image_size, self.image_sizes.note],
                   layout=_layout(flex_flow="row wrap", align_items="center")),
            w.HBox([self.act_max_weight, self.tv_weight, self.tv_enabled], layout=_layout(flex_flow="row wrap")),
            w.HBox([self.jitter, self.lp_norm_weight, self.lp_enabled], layout=_layout(flex_flow="row wrap")),
            w.HBox([self.grad_modifier, self.backprop_modifier], layout=_layout(flex_flow="row wrap")),
            self.diversity,
            self.precision,
            w.HBox([self.seed, self.linear_output, self.linear_help], layout=_layout(align_items="center")),
        ])
        advanced = w.Accordion(children=[tuning], titles=("Settings",))
        advanced.selected_index = None
        return w.VBox([main, advanced], layout=_layout(gap="4px"))

    # -- reading ---------------------------------------------------------------------------
    @property
    def layer_info(self):
        return self._by_name[self.layer.value]

    def targets(self):
        """The filter indices the controls select (ValueError with a readable message if bad).

        In diverse mode the one filter is listed once per copy (``[12, 12, 12, 12]``).
        """
        info = self.layer_info
        if self.mode.value == "diverse":
            return [self._diverse_index()] * self.copies.value
        if self.mode.value == "page":
            size = self.page_size.value
            first = self.page.value * size
            return list(range(first, min(first + size, info.n_filters)))
        if self.mode.value == "list":
            return catalogue.parse_filter_spec(self.filter_text.value, info.n_filters)
        return list(self._random_sample)

    def request(self) -> RunRequest:
        info = self.layer_info
        labels = self.labels if info.kind == "dense" else None
        return RunRequest(
            layer=info.name, targets=tuple(self.targets()), steps=self.steps.value,
            image_size=self.image_sizes.run_size(), style=self.style.value,
            grad_modifier=_or_none(self.grad_modifier.value),
            backprop_modifier=_or_none(self.backprop_modifier.value),
            jitter=self.jitter.value, act_max_weight=self.act_max_weight.value,
            tv_weight=self.tv_weight.value if self.tv_enabled.value else 0.0,
            lp_norm_weight=self.lp_norm_weight.value if self.lp_enabled.value else 0.0,
            linear_output=self.linear_output.value and self._has_softmax(info), seed=self.seed.value,
            labels=tuple(labels) if labels else None,
            diversity=self.diversity.value if self.mode.value == "diverse" else 0.0,
            precision=self.precision.value,
        )

    targets_fixed = False  # fix_targets()

    def set_enabled(self, enabled):
        """Lock the choices while a run is going (the Run button stays live: it is Stop)."""
        for control in (self.layer_search, self.layer, self.mode, self.page_size, self.previous_page,
                        self.next_page, self.filter_text, self.resample, self.diverse_filter, self.copies,
                        self.diversity, self.preset, self.style,
                        self.steps, self.image_size, self.jitter, self.act_max_weight, self.tv_weight,
                        self.lp_norm_weight, self.lp_enabled, self.tv_enabled, self.grad_modifier,
                        self.backprop_modifier, self.precision,
                        self.linear_output, self.seed):
            control.disabled = not enabled
        if self.targets_fixed:  # set from code (objectives): the pickers have nothing to say
            for control in (self.layer_search, self.layer, self.mode, self.page_size, self.previous_page,
                            self.next_page, self.filter_text, self.resample, self.diverse_filter, self.copies,
                            self.diversity, self.linear_output):
                control.disabled = True

    def fix_targets(self):
        """Switch the layer and filter pickers off for good: the widget's targets come from code
        (``ActMaxWidget(objectives=...)``)."""
        self.targets_fixed = True
        self.set_enabled(True)

    # -- behaviour -------------------------------------------------------------------------
    def _wire(self):
        self.layer_search.observe(lambda _: self._filter_layers(), "value")
        self.layer.observe(lambda _: self._layer_changed(), "value")
        self.mode.observe(lambda _: self._show_mode(), "value")
        self.page_size.observe(lambda _: self._page_changed(reset=True), "value")
        self.previous_page.on_click(lambda _: self._turn_page(-1))
        self.next_page.on_click(lambda _: self._turn_page(+1))
        self.filter_text.observe(lambda _: self._validate_selection(), "value")
        self.diverse_filter.observe(lambda _: self._validate_selection(), "value")
        self.diversity.observe(lambda _: self._show_diversity(), "value")
        self.resample.on_click(lambda _: self._draw_sample())
        self.preset.observe(lambda change: self.apply_preset(change["new"]), "value")
        for control in (self.style, self.steps, self.image_size, self.jitter, self.act_max_weight,
                        self.lp_enabled, self.tv_enabled):
            control.observe(lambda _: self._mark_custom(), "value")
        for slider in (self.tv_weight, self.lp_norm_weight):
            slider.observe(lambda change, slider=slider: self._log_slider_moved(slider, change), "value")

    def _layer_options(self, query):
        query = query.strip().lower()
        return [(info.description, info.name) for info in self.layers if query in info.name.lower()]

    def _filter_layers(self):
        options = self._layer_options(self.layer_search.value)
        if not options:
            return  # keep the current list rather than an empty picker
        current = self.layer.value
        self.layer.options = options
        if current in [name for _, name in options]:
            self.layer.value = current

    def _has_softmax(self, info):
        return info.kind == "dense" and info.name in self._softmax_layers

    def _layer_changed(self):
        info = self.layer_info
        self.image_sizes.show_layer(info.name)
        self.page.max = max(0, (info.n_filters - 1) // self.page_size.value)
        self.page.value = 0
        softmax = self._has_softmax(info)
        self.linear_output.layout.display = None if softmax else "none"
        self.linear_help.layout.display = None if softmax else "none"
        self._draw_sample()
        self._page_changed()
        self._validate_selection()

    def _page_changed(self, reset=False):
        info = self.layer_info
        size = self.page_size.value
        self.page.max = max(0, (info.n_filters - 1) // size)
        if reset:
            self.page.value = 0
        first = self.page.value * size
        last = min(first + size, info.n_filters) - 1
        unit = "units" if info.kind == "dense" else "filters"
        self.page_label.value = f"{unit} {first}–{last} of {info.n_filters} (page {self.page.value + 1}/{self.page.max + 1})"
        self.previous_page.disabled = self.page.value == 0
        self.next_page.disabled = self.page.value >= self.page.max
        if reset:
            self._draw_sample()

    def _turn_page(self, delta):
        self.page.value = min(max(self.page.value + delta, 0), self.page.max)
        self._page_changed()

    def _draw_sample(self):
        info = self.layer_info
        count = min(self.page_size.value, info.n_filters)
        self._random_sample = sorted(random.Random().sample(range(info.n_filters), count))
        if self.mode.value == "random":
            self.filter_error.value = ""

    def _diverse_index(self):
        info = self.layer_info
        index = self.diverse_filter.value
        if not 0 <= index < info.n_filters:
            what = "unit" if info.kind == "dense" else "filter"
            raise ValueError(f"There is no {what} {index}: layer '{info.name}' has {info.n_filters} {what}s "
                             f"(0–{info.n_filters - 1}).")
        return index

    def _validate_selection(self):
        """Show what is wrong with a typed filter list or diverse filter index, as it is typed."""
        try:
            if self.mode.value == "list":
                catalogue.parse_filter_spec(self.filter_text.value, self.layer_info.n_filters)
            elif self.mode.value == "diverse":
                self._diverse_index()
            self.filter_error.value = ""
        except ValueError as error:  # escaped: the message quotes what the user typed
            self.filter_error.value = (f'<span style="color:var(--jp-error-color1,#d32f2f)">'
                                       f'{html.escape(str(error))}</span>')

    def _show_mode(self):
        if not hasattr(self, "page_box"):
            return
        mode = self.mode.value
        self.page_box.layout.display = None if mode == "page" else "none"
        self.list_box.layout.display = None if mode == "list" else "none"
        self.random_box.layout.display = None if mode == "random" else "none"
        self.diverse_box.layout.display = None if mode == "diverse" else "none"
        self._validate_selection()

    def _show_diversity(self):
        self.diversity_note.value = (f'<span style="color:var(--jp-ui-font-color2,#757575);padding-left:8px">'
                                     f'diversity {self.diversity.value:g} (in Settings)</span>')

    def show_diverse(self, layer, filter_index):
        """Diverse mode for one filter of ``layer`` (the enlarged tile's "diverse images" button)."""
        self._select_layer(layer)
        self.diverse_filter.value = filter_index
        self.mode.value = "diverse"

    def show_page_of(self, layer, filter_index):
        """Page mode on the page that holds ``filter_index`` of ``layer``."""
        self._select_layer(layer)
        self.mode.value = "page"
        self.page.value = min(max(filter_index // self.page_size.value, 0), self.page.max)
        self._page_changed()

    def _select_layer(self, name):
        if name not in self._by_name:
            raise ValueError(f"Layer '{name}' cannot be shown in the widget.")
        if name not in [value for _, value in self.layer.options]:
            self.layer_search.value = ""  # the search hides it: show every layer again
        self.layer.value = name

    def apply_preset(self, name):
        if name not in PRESETS:
            return
        self._applying_preset = True
        try:
            for key, value in PRESETS[name].items():
                # A log slider cannot show 0: a weight of 0 is its checkbox turned off.
                enabled = {"lp_norm_weight": self.lp_enabled, "tv_weight": self.tv_enabled}.get(key)
                if enabled is not None:
                    enabled.value = value > 0
                    if value > 0:
                        getattr(self, key).value = value
                    continue
                if key == "image_size":  # never a size the layer cannot run
                    self.image_sizes.prefer(value)
                    continue
                getattr(self, key).value = value
        finally:
            self._applying_preset = False

    def _log_slider_moved(self, slider, change):
        """A log slider shown in the browser snaps a preset's 0.3 to its own step (10^-0.5) and
        sends that back: not the user's choice, so the preset stays (a drag moves a whole step)."""
        old, new = change["old"], change["new"]
        if old > 0 and new > 0 and abs(math.log10(new) - math.log10(old)) < slider.step / 2 + 1e-9:
            return
        self._mark_custom()

    def _mark_custom(self):
        if not self._applying_preset and not self.image_sizes.adjusting and self.preset.value != "custom":
            self.preset.value = "custom"
