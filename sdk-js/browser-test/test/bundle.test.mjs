// The console embeds a copy of the SDK's bundle (committed, so that `go
// build` needs no Node.js): it must be byte for byte what the SDK builds
// now. The Go test TestBundleMatchesSDKSources checks the sources; this
// checks the output too (a new esbuild, say).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { repoRoot, sdkRoot } from "../lib/browser.mjs";

it("the console's copy of the SDK bundle is the current build", () => {
  const built = readFileSync(join(sdkRoot, "dist", "runnel-client.min.js"));
  const copy = readFileSync(join(repoRoot, "gateway", "console", "assets", "runnel-client.js"));
  assert.ok(built.equals(copy), "gateway/console/assets/runnel-client.js differs from sdk-js/dist/runnel-client.min.js: run make console-assets and commit gateway/console/assets");
});
