// The package as published: its size budget, its contents, and the
// generated API types against openapi.yaml.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { describe, it } from "node:test";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const budget = 12 * 1024;

describe("package", () => {
  it(`minified and gzipped, the bundle fits in ${budget} bytes`, () => {
    const min = readFileSync(join(root, "dist", "runnel-client.min.js"));
    const gz = gzipSync(min, { level: 9 }).length;
    console.log(`bundle: ${min.length} bytes minified, ${gz} bytes min+gz (budget ${budget})`);
    assert.ok(gz > 1000, "the bundle holds the SDK");
    assert.ok(gz <= budget, `min+gz ${gz} bytes is over the ${budget}-byte budget`);
  });

  it("npm pack holds the built JS and its types, no tests or sources", () => {
    const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" });
    const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
    for (const want of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/client.d.ts", "dist/generated/openapi.d.ts", "dist/runnel-client.min.js"]) {
      assert.ok(files.includes(want), `${want} is packed`);
    }
    for (const f of files) {
      assert.ok(!/(^|\/)test\/|\.test\.|^src\/|^build\/|^scripts\/|node_modules/.test(f), `${f} should not be packed`);
      assert.ok(/^(dist\/.*\.(js|d\.ts)|package\.json|README\.md)$/.test(f), `unexpected packed file ${f}`);
    }
  });

  it("has no runtime dependencies", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    assert.equal(pkg.dependencies, undefined);
    assert.equal(pkg.type, "module");
  });
});

describe("generated API types", () => {
  const check = (spec?: string) =>
    spawnSync(process.execPath, [join(root, "scripts", "check-generated.mjs"), ...(spec ? [spec] : [])], { encoding: "utf8" });

  it("match openapi.yaml", () => {
    const r = check();
    assert.equal(r.status, 0, r.stderr);
  });

  it("are found out of date when the spec changes", () => {
    const dir = mkdtempSync(join(tmpdir(), "runnel-sdk-spec-"));
    try {
      const spec = readFileSync(join(root, "..", "openapi.yaml"), "utf8");
      const changed = spec.replace(/\n {4}TopicCreate:\n/, "\n    TopicCreate:\n      deprecated: true\n");
      assert.notEqual(changed, spec, "the spec has a TopicCreate schema to change");
      const file = join(dir, "openapi.yaml");
      writeFileSync(file, changed);
      const r = check(file);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /out of date/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
