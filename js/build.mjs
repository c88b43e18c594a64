// Bundles the grid front-end into the Python package's static/ folder, where
// GridWidget's _esm/_css point. `node build.mjs --watch` rebuilds on change
// (pair it with ANYWIDGET_HMR=1 in the kernel for live reload).
import * as esbuild from "esbuild";

const options = {
  entryPoints: [
    { in: "src/grid.js", out: "grid" },
    { in: "src/grid.css", out: "grid" },
  ],
  outdir: "../actmax_widgets/static",
  bundle: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
