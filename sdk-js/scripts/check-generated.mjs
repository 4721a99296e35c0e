#!/usr/bin/env node
// Regenerates the types of openapi.yaml with openapi-typescript into a
// temporary file and compares them with src/generated/openapi.ts. Exits 1,
// naming the first differing line, when they differ: run `npm run gen`,
// check the SDK still fits the spec, and commit both.
//
//   node scripts/check-generated.mjs [spec.yaml] [generated.ts]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const spec = resolve(process.argv[2] ?? join(root, "..", "openapi.yaml"));
const committed = resolve(process.argv[3] ?? join(root, "src", "generated", "openapi.ts"));
const dir = mkdtempSync(join(tmpdir(), "runnel-sdk-gen-"));
try {
  const out = join(dir, "openapi.ts");
  execFileSync(process.execPath, [join(root, "node_modules", "openapi-typescript", "bin", "cli.js"), spec, "-o", out], { stdio: ["ignore", "ignore", "inherit"] });
  const want = readFileSync(out, "utf8").split("\n");
  const have = readFileSync(committed, "utf8").split("\n");
  for (let i = 0; i < Math.max(want.length, have.length); i++) {
    if (want[i] !== have[i]) {
      console.error(`${committed} is out of date with ${spec} at line ${i + 1}:\n  spec gives:      ${want[i] ?? "<end of file>"}\n  committed holds: ${have[i] ?? "<end of file>"}\nRun \`npm run gen\` in sdk-js, check the SDK against the change, and commit both.`);
      process.exit(1);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
