// Element builders. Text from the model only ever goes through textContent and
// setAttribute, so a layer named `<img src=x onerror=...>` stays plain text.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value !== undefined && value !== null && value !== false) {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    element.append(typeof child === "string" ? element.ownerDocument.createTextNode(child) : child);
  }
  return element;
}

/** Creates an HTML element: h("button", { class: "x", type: "button" }, "Save"). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** Creates an SVG element (inline icons and the history chart). */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** A 16px stroke icon from one or more path strings. */
export function icon(...paths) {
  return s(
    "svg",
    {
      class: "actmax-grid__icon",
      viewBox: "0 0 16 16",
      width: 16,
      height: 16,
      "aria-hidden": "true",
      focusable: "false",
    },
    ...paths.map((d) => s("path", { d })),
  );
}

export const ICONS = {
  download: ["M8 2.5v7.5", "M4.75 7 8 10.25 11.25 7", "M3 12.75h10"],
  close: ["M4 4l8 8", "M12 4l-8 8"],
  previous: ["M10 3.5 5.5 8l4.5 4.5"],
  next: ["M6 3.5 10.5 8 6 12.5"],
  diverse: ["M2.5 2.5h4.5v4.5h-4.5z", "M9 2.5h4.5v4.5h-4.5z", "M2.5 9h4.5v4.5h-4.5z", "M9 9h4.5v4.5h-4.5z"],
  back: ["M6.5 4 2.5 8l4 4", "M2.5 8h11"],
};
