// Test harness: a real `runnel dev` process (built once per test run from
// the repository), on free ports, with its data in a temporary directory;
// killed with SIGKILL and restarted on the same data and ports.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const secret = "sdk-js-test-secret-0123456789abcdef";

let built: string | undefined;

/** runnelBinary builds cmd/runnel once (or uses $RUNNEL_BIN) and returns its path. */
export function runnelBinary(): string {
  if (process.env.RUNNEL_BIN) return process.env.RUNNEL_BIN;
  if (built) return built;
  const dir = join(tmpdir(), "runnel-sdk-js-bin");
  const bin = join(dir, "runnel");
  // Built per test process; go's build cache makes a rebuild quick.
  execFileSync("go", ["build", "-o", bin, "./cmd/runnel"], { cwd: repo, stdio: "inherit" });
  if (!existsSync(bin)) throw new Error("go build did not produce " + bin);
  built = bin;
  return bin;
}

/** freePort returns a port free on 127.0.0.1 now. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? res(a.port) : rej(new Error("no port"))));
    });
  });
}

/** mintToken signs an HS256 JWT with the test secret. */
export function mintToken(claims: { admin?: boolean; produce?: string[]; consume?: string[]; ttlSeconds?: number; sub?: string } = {}): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    sub: claims.sub ?? "sdk-test",
    iat: now,
    exp: now + (claims.ttlSeconds ?? 3600),
    runnel: { admin: claims.admin ?? true, produce: claims.produce ?? [], consume: claims.consume ?? [] },
  };
  const head = b64({ alg: "HS256", typ: "JWT" }) + "." + b64(payload);
  return head + "." + createHmac("sha256", secret).update(head).digest("base64url");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Dev is one `runnel dev` process that can be killed and started again on the same data. */
export class Dev {
  readonly dataDir = mkdtempSync(join(tmpdir(), "runnel-sdk-js-"));
  httpPort = 0;
  kafkaPort = 0;
  proc?: ChildProcess;
  log = "";

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** start starts runnel dev and waits until /readyz answers 200. */
  async start(): Promise<void> {
    if (!this.httpPort) {
      this.httpPort = await freePort();
      this.kafkaPort = await freePort();
    }
    const p = spawn(runnelBinary(), [
      "dev",
      "--data-dir", this.dataDir,
      "--http", `127.0.0.1:${this.httpPort}`,
      "--kafka", `127.0.0.1:${this.kafkaPort}`,
      "--jwt-secret", secret,
      "--log-level", "warn",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = p;
    const keep = (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-20000);
    };
    p.stdout!.on("data", keep);
    p.stderr!.on("data", keep);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`runnel dev exited with ${p.exitCode}:\n${this.log}`);
      try {
        const r = await fetch(this.url + "/readyz");
        if (r.status === 200) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`runnel dev not ready in 60 s:\n${this.log}`);
      await sleep(50);
    }
  }

  /** kill sends SIGKILL to the process (by its PID) and waits for it to exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    process.kill(p.pid!, "SIGKILL");
    await exited;
    this.proc = undefined;
  }

  /** stop kills the process and removes the data directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** api calls the REST API with an admin token. */
  async api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const r = await fetch(this.url + path, {
      method,
      headers: { Authorization: "Bearer " + mintToken(), "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  }
}

/** waitFor polls cond every 20 ms until it holds or timeoutMs passes. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
