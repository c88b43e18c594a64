// One <img> fed PNG bytes from the kernel, shared by the evidence view and photo mode.
import { h } from "./dom.js";
import { bytesEqual, toBytes } from "./format.js";

/** An <img> showing PNG bytes through a Blob URL: a new URL only when the bytes change, the
 * old one revoked (each holds its bytes until revoked); no or empty bytes clear it. */
export class PngImage {
  constructor(attrs) {
    this.element = h("img", { draggable: "false", ...attrs });
    this.bytes = null;
    this.url = null;
  }

  show(value) {
    const bytes = toBytes(value);
    if (!bytes || !bytes.byteLength) return this.clear();
    if (bytesEqual(bytes, this.bytes)) return;
    const url = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
    this.element.src = url;
    if (this.url) URL.revokeObjectURL(this.url);
    this.bytes = bytes;
    this.url = url;
  }

  clear() {
    if (this.url) URL.revokeObjectURL(this.url);
    this.element.removeAttribute("src");
    this.bytes = this.url = null;
  }
}
