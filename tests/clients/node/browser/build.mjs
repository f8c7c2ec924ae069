// Bundle the test page (app.jsx + React + the SDK) into OUTDIR/app.js and copy index.html next to it:
//   node browser/build.mjs OUTDIR     (from tests/clients/node)
import { copyFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const outdir = process.argv[2];
if (!outdir) {
  process.stderr.write("usage: node browser/build.mjs OUTDIR\n");
  process.exit(2);
}
const here = (name) => fileURLToPath(new URL(name, import.meta.url));
await build({
  entryPoints: [here("app.jsx")],
  outfile: `${outdir}/app.js`,
  bundle: true,
  format: "iife",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
copyFileSync(here("index.html"), `${outdir}/index.html`);
