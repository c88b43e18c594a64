// The atlas site: reads window.ATLAS (set by data.js, written by actmax_widgets.atlas.site) and
// draws three views chosen by the address's hash: the model (#), a layer (#layer=NAME) and a
// channel (#layer=NAME&filter=N). Names are user data: they only ever enter the page as text
// nodes or attribute values (never parsed as HTML), and works from file:// with no server.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var PIXELATED_UP_TO = 48; // a 28 px MNIST image enlarged smoothly blurs its strokes

  function el(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    setAttrs(node, attrs);
    return node;
  }
  function setAttrs(node, attrs) {
    Object.keys(attrs || {}).forEach(function (key) {
      if (attrs[key] !== null && attrs[key] !== undefined) node.setAttribute(key, String(attrs[key]));
    });
  }
  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  // Paths come from the manifest: each segment is encoded so a name with '#' or '?' still
  // points at its file.
  function fileUrl(path) {
    return String(path).split("/").map(encodeURIComponent).join("/");
  }
  function layerHref(name) { return "#layer=" + encodeURIComponent(name); }
  function channelHref(name, filter) { return layerHref(name) + "&filter=" + encodeURIComponent(filter); }
  function formatNumber(value) {
    if (typeof value !== "number" || !isFinite(value)) return "—";
    var m = Math.abs(value);
    return m !== 0 && (m >= 1e4 || m < 1e-2) ? value.toExponential(2) : value.toFixed(2);
  }
  function image(path, alt, lazy) {
    var img = el("img", { src: fileUrl(path), alt: alt, loading: lazy ? "lazy" : null, decoding: "async" });
    img.addEventListener("load", function () {
      if (img.naturalWidth > 0 && img.naturalWidth <= PIXELATED_UP_TO) img.classList.add("pixels");
    });
    return img;
  }
  function modelName(atlas) { return (atlas.model && atlas.model.name) || "model"; }

  function crumbs(atlas, layer, channel) {
    var nav = document.querySelector(".atlas-crumbs");
    nav.textContent = "";
    var parts = [el("a", { href: "#" }, "Atlas of " + modelName(atlas))];
    if (layer) parts.push(channel ? el("a", { href: layerHref(layer.name) }, layer.name) : el("span", {}, layer.name));
    if (channel) parts.push(el("span", {}, "filter " + channel.filter));
    parts.forEach(function (part, i) {
      if (i) append(nav, el("span", { class: "sep", "aria-hidden": "true" }, "›"));
      append(nav, part);
    });
  }

  function facts(items) {
    return el("div", { class: "atlas-facts" }, items.filter(function (p) { return p[1] !== undefined && p[1] !== null && p[1] !== ""; })
      .map(function (p) { return el("span", {}, p[0] + " ", el("b", {}, typeof p[1] === "object" ? JSON.stringify(p[1]) : p[1])); }));
  }

  function progressBar(done, planned, what) {
    var box = el("div", { class: "atlas-progress" });
    if (planned) append(box, el("progress", { max: planned, value: done }));
    append(box, el("span", { class: "atlas-progress__text" }, planned ? done + " of " + planned + " " + what + " done" : done + " " + what + " done"));
    return box;
  }

  function viewIndex(atlas) {
    var p = atlas.progress || {};
    var s = atlas.settings || {};
    var main = [
      el("h1", {}, "Atlas of " + modelName(atlas)),
      facts([["input", atlas.model.input_shape], ["style", s.style], ["steps", s.steps], ["image size", s.image_size], ["seed", s.seed]]),
      p.chunks_planned ? progressBar(p.chunks_done, p.chunks_planned, "chunks") : progressBar(p.chunks_done, null, "chunks"),
      progressBar(p.channels_done, p.channels_planned, "channels"),
      el("p", { class: "atlas-note" }, "Pick a layer to see what each of its channels responds to."),
    ];
    var rows = atlas.layers.map(function (layer) {
      var preview = el("div", { class: "atlas-preview" }, layer.channels.slice(0, 6).map(function (c) {
        return image(c.image, "", true);
      }));
      var name = layer.channels.length ? el("a", { href: layerHref(layer.name) }, layer.name) : el("span", {}, layer.name);
      return el("tr", { "data-layer": layer.name },
        el("td", { class: "name" }, name), el("td", {}, layer.kind),
        el("td", { class: "num" }, layer.n_filters),
        el("td", { class: "num" }, layer.channels.length + " / " + layer.n_filters),
        el("td", {}, preview));
    });
    var table = el("table", { class: "atlas-layers" },
      el("thead", {}, el("tr", {}, el("th", {}, "layer"), el("th", {}, "kind"), el("th", {}, "channels"),
        el("th", {}, "computed"), el("th", {}, "first channels"))),
      el("tbody", {}, rows));
    return main.concat([table]);
  }

  function viewLayer(atlas, layer) {
    var tiles = layer.channels.map(function (c) {
      return el("a", { class: "atlas-tile", href: channelHref(layer.name, c.filter), title: layer.name + " · filter " + c.filter },
        image(c.image, layer.name + ", filter " + c.filter, true),
        el("span", { class: "caption" }, el("span", {}, String(c.filter)), el("span", { class: "act" }, formatNumber(c.activation))));
    });
    var missing = layer.n_filters - layer.channels.length;
    return [
      el("h1", {}, layer.name),
      facts([["kind", layer.kind], ["channels", layer.n_filters], ["computed", layer.channels.length]]),
      el("p", { class: "atlas-note" }, "Each image is what makes one channel fire most (its number, then the activation it reached). Click one to open it." +
        (missing > 0 ? " " + missing + " channel" + (missing === 1 ? " is" : "s are") + " not computed yet." : "")),
      el("div", { class: "atlas-tiles" }, tiles),
    ];
  }

  // The activation at each step of the optimization, as a small line chart.
  function curve(values) {
    var W = 420, H = 160, L = 44, R = 10, T = 10, B = 24;
    var points = values.map(function (v, i) { return [i, v]; }).filter(function (p) { return typeof p[1] === "number"; });
    var chart = svg("svg", { class: "atlas-curve", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": "activation at each step" });
    if (points.length < 2) return null;
    var lo = Math.min.apply(null, points.map(function (p) { return p[1]; }));
    var hi = Math.max.apply(null, points.map(function (p) { return p[1]; }));
    if (hi === lo) { hi += 1; lo -= 1; }
    var n = values.length - 1;
    var x = function (i) { return L + (W - L - R) * i / n; };
    var y = function (v) { return T + (H - T - B) * (1 - (v - lo) / (hi - lo)); };
    chart.appendChild(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
    chart.appendChild(svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
    chart.appendChild(svg("polyline", { class: "line", points: points.map(function (p) { return x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); }).join(" ") }));
    [[hi, T + 4], [lo, H - B]].forEach(function (label) {
      var t = svg("text", { x: L - 4, y: label[1], "text-anchor": "end" });
      t.textContent = formatNumber(label[0]);
      chart.appendChild(t);
    });
    var caption = svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" });
    caption.textContent = "optimization steps →";
    chart.appendChild(caption);
    return chart;
  }

  function strip(title, note, paths, alt) {
    if (!paths || !paths.length) return null;
    return [el("h2", {}, title), el("p", { class: "atlas-note" }, note),
      el("div", { class: "atlas-strip" }, paths.map(function (path, i) {
        return el("figure", {}, image(path, alt + " " + (i + 1), true), el("figcaption", {}, "#" + (i + 1)));
      }))];
  }

  // The channel's diverse variants: more images of it that the diversity penalty pushed apart.
  function variantStrip(layer, channel, settings) {
    var variants = channel.variants || [];
    if (!variants.length) return null;
    var spec = settings.variants || {};
    return [el("h2", {}, "Diverse variants"),
      el("p", { class: "atlas-note" }, "More images that make this channel fire, pushed apart from each other" +
        (spec.diversity ? " (diversity weight " + spec.diversity + ")" : "") + ": the range of what it responds to."),
      el("div", { class: "atlas-strip atlas-variants" }, variants.map(function (v, i) {
        return el("figure", {}, image(v.image, layer.name + ", filter " + channel.filter + ", variant " + (i + 1), true),
          el("figcaption", {}, "#" + (i + 1) + " · " + formatNumber(v.activation)));
      }))];
  }

  function viewChannel(atlas, layer, channel) {
    var i = layer.channels.indexOf(channel);
    var prev = layer.channels[i - 1], next = layer.channels[i + 1];
    var chart = curve(channel.curve || []);
    var side = [
      el("h1", {}, layer.name + " · filter " + channel.filter),
      facts([["kind", layer.kind], ["activation reached", formatNumber(channel.activation)]]),
      el("div", { class: "atlas-steps" },
        prev ? el("a", { href: channelHref(layer.name, prev.filter) }, "← filter " + prev.filter) : null,
        el("a", { href: layerHref(layer.name) }, "all of " + layer.name),
        next ? el("a", { href: channelHref(layer.name, next.filter) }, "filter " + next.filter + " →") : null),
      el("h2", {}, "Activation during the optimization"),
      chart || el("p", { class: "atlas-note" }, "No activation curve was saved for this channel."),
    ];
    var big = image(channel.image, layer.name + ", filter " + channel.filter, false);
    big.classList.add("big");
    return [
      el("div", { class: "atlas-channel" }, el("div", {}, big), el("div", {}, side)),
      variantStrip(layer, channel, atlas.settings || {}),
      strip("Natural examples", "Patches of real photos where this channel fires most, strongest first.", channel.examples, "natural example"),
    ];
  }

  function render() {
    var atlas = window.ATLAS;
    var main = document.getElementById("atlas");
    main.textContent = "";
    if (!atlas || !Array.isArray(atlas.layers)) {
      append(main, el("p", { class: "atlas-note" }, "No atlas data: data.js is missing beside this page. Build the atlas (python -m actmax_widgets atlas …) into this folder."));
      return;
    }
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    var layer = atlas.layers.filter(function (l) { return l.name === params.get("layer"); })[0];
    var filter = params.get("filter");
    var channel = layer && filter !== null ? layer.channels.filter(function (c) { return String(c.filter) === filter; })[0] : null;
    crumbs(atlas, layer, channel);
    append(main, channel ? viewChannel(atlas, layer, channel) : layer ? viewLayer(atlas, layer) : viewIndex(atlas));
    document.title = (channel ? "filter " + channel.filter + " · " : "") + (layer ? layer.name + " · " : "") + "Atlas of " + modelName(atlas);
    window.scrollTo(0, 0);
  }

  window.addEventListener("hashchange", render);
  render();
})();
