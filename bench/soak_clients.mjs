#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// The MCP clients of bench/soak.py: N clients of the official TypeScript
// SDK, each through its own `agv-agent mcp` bridge, calling the demo
// signer's tools in a loop until stdin closes. Then one JSON line on stdout:
//   {"clients": N, "calls": N, "ok": N, "progress": N,
//    "transient": [{"t": unix_ms, "code": -32011, "tool": ...}, ...],
//    "failures": [{"t": ..., "tool": ..., "error": ...}, ...]}
// A call that fails with a documented transient agent error (-32010 no ready
// signer, -32011 the signer exited before answering) is retried, as a real
// client would; it counts as failed only if it still fails after 30 s of
// retries. Every other error, a wrong answer or a disconnect is a failure.
// soak.py checks that transient errors happened only while the serving
// child was down.
//
// Usage: node bench/soak_clients.mjs AGENT MCP_SOCKET [N]
// The SDK comes from tests/mcp/node_modules (contrib/npm-deps.sh), the same
// copy the MCP tests use.
import path from "node:path";
import { fileURLToPath } from "node:url";

const sdk = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../tests/mcp/node_modules/@modelcontextprotocol/sdk/dist/esm");
const { Client } = await import(`${sdk}/client/index.js`);
const { StdioClientTransport } = await import(`${sdk}/client/stdio.js`);

const [AGENT, SOCKET, N = "8"] = process.argv.slice(2);
const TRANSIENT = new Set([-32010, -32011]);
const RETRY_FOR_MS = 30000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let stop = false;
process.stdin.on("end", () => (stop = true));
process.stdin.on("close", () => (stop = true));
process.stdin.resume();

const stats = { clients: Number(N), calls: 0, ok: 0, progress: 0, transient: [], failures: [] };
const fail = (tool, error) => {
        if (stats.failures.length < 50) stats.failures.push({ t: Date.now(), tool, error: String(error) });
        else stats.failures_dropped = (stats.failures_dropped ?? 0) + 1;
};

// Each call checks its answer, so a mix-up between clients is a failure.
function plan(i, n) {
        const nonce = `c${i}-${n}`;
        switch (n % 4) {
                case 0:
                        return { tool: "echo", args: { text: nonce }, check: (t) => t === nonce };
                case 1:
                        return {
                                tool: "sign_message",
                                args: { message: nonce },
                                check: (t) => /"signature":"0x[0-9a-f]{128}"/.test(t),
                        };
                case 2:
                        return { tool: "get_address", args: {}, check: (t) => /^0x[0-9a-f]{40}$/.test(t) };
                default:
                        return { tool: "count", args: { n: 3, stepMs: 5 }, check: (t) => t === "counted to 3", progress: true };
        }
}

async function callOnce(c, p) {
        const opts = {};
        let seen = 0;
        if (p.progress) opts.onprogress = () => seen++;
        const r = await c.callTool({ name: p.tool, arguments: p.args }, undefined, opts);
        const text = r.content?.[0]?.text;
        if (r.isError || !p.check(text)) throw new Error(`wrong answer from ${p.tool}: ${JSON.stringify(r).slice(0, 300)}`);
        stats.progress += seen;
}

async function runClient(i) {
        const transport = new StdioClientTransport({ command: AGENT, args: ["mcp", "--socket", SOCKET], stderr: "inherit" });
        const c = new Client({ name: `soak-${i}`, version: "1.0.0" });
        await c.connect(transport);
        let closed = false;
        transport.onclose = () => (closed = true);
        for (let n = 0; !stop; n++) {
                const p = plan(i, n);
                stats.calls++;
                const deadline = Date.now() + RETRY_FOR_MS;
                for (;;) {
                        try {
                                await callOnce(c, p);
                                stats.ok++;
                                break;
                        } catch (e) {
                                if (TRANSIENT.has(e?.code) && Date.now() < deadline && !stop) {
                                        stats.transient.push({ t: Date.now(), code: e.code, tool: p.tool });
                                        await sleep(50);
                                        continue;
                                }
                                fail(p.tool, e?.message ?? e);
                                break;
                        }
                }
                if (closed) {
                        fail("-", "the bridge connection closed");
                        return;
                }
        }
        await c.close();
}

const results = await Promise.allSettled(Array.from({ length: stats.clients }, (_, i) => runClient(i)));
for (const r of results) if (r.status === "rejected") fail("-", r.reason?.message ?? r.reason);
// stdout is a pipe: exit only once the (large) line is flushed
process.stdout.write(JSON.stringify(stats) + "\n", () => process.exit(0));
