#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// MCP doorway benchmarks (see docs/performance.md):
//   latency   p50/p99 of a trivial tools/call (`echo`), sequential, for:
//             raw JSON-RPC lines: direct child stdio, agv MCP socket, agv via `agv-agent mcp`
//             SDK Client: direct stdio, `agv-agent mcp`, supergateway (SSE), mcp-proxy (streamable HTTP)
//   throughput  8 SDK clients in parallel through each doorway
//   replace   100 replacements while clients send 500 requests/s: errors, disconnects
// Usage: node bench/mcp_bench.mjs [latency|throughput|replace|all]  (AGV_AGENT=path)
// Run `npm ci` in bench/ and contrib/demo-signer/ first. Loopback only.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const SRC = path.resolve(here, "..");
const AGENT = process.env.AGV_AGENT ?? path.join(SRC, "build/agv-agent");
const DEMO = path.join(SRC, "contrib/demo-signer/demo-signer.mjs");
const NODE = process.execPath;
const N = Number(process.env.BENCH_N ?? 3000);
const WARM = 300;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const procs = [];
const cleanup = [];

function pct(a, p) {
        const s = [...a].sort((x, y) => x - y);
        return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const us = (ns) => (Number(ns) / 1000).toFixed(1);

function groupName() {
        const gid = os.userInfo().gid;
        for (const l of readFileSync("/etc/group", "utf8").split("\n")) {
                const f = l.split(":");
                if (Number(f[2]) === gid) return f[0];
        }
        return String(gid);
}

async function startAgent(extra = "") {
        const dir = mkdtempSync(path.join(os.tmpdir(), "agv-bench-"));
        cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
        const conf = path.join(dir, "agent.conf");
        writeFileSync(
                conf,
                `[agent]\nsocket = ${dir}/agent.sock\nstate_dir = ${dir}\nsocket_group = ${groupName()}\nlog_level = warning\n` +
                        `[pki]\ndir = ${dir}/pki\ngroup = ${groupName()}\nrescan_interval = 1h\n` +
                        `[child]\ncommand = ${NODE} ${DEMO}\nmcp_socket = ${dir}/mcp.sock\nping_interval = 30s\nping_timeout = 5s\n` +
                        `stop_timeout = 2s\ndrain_timeout = 5s\n${extra}`,
        );
        const p = spawn(AGENT, ["run", "--config", conf], { stdio: ["ignore", "ignore", "inherit"] });
        procs.push(p);
        const ctl = (command) =>
                new Promise((resolve, reject) => {
                        const s = net.connect(`${dir}/agent.sock`);
                        let b = "";
                        s.on("connect", () => s.write(JSON.stringify({ command }) + "\n"));
                        s.on("data", (d) => {
                                b += d;
                                if (b.includes("\n")) {
                                        s.destroy();
                                        const r = JSON.parse(b);
                                        r.ok ? resolve(r.result) : reject(new Error(r.error.message));
                                }
                        });
                        s.on("error", reject);
                });
        for (let i = 0; i < 500; i++) {
                try {
                        if ((await ctl("status")).child?.state === "running") break;
                } catch {}
                await sleep(20);
        }
        return { dir, mcp: `${dir}/mcp.sock`, ctl, proc: p };
}

// A minimal line client: no SDK, so only the doorway is measured.
class Raw {
        constructor(readable, writable) {
                this.w = writable;
                this.buf = "";
                this.waiters = new Map();
                readable.on("data", (d) => {
                        this.buf += d;
                        let nl;
                        while ((nl = this.buf.indexOf("\n")) >= 0) {
                                const line = this.buf.slice(0, nl);
                                this.buf = this.buf.slice(nl + 1);
                                const m = JSON.parse(line);
                                const w = this.waiters.get(m.id);
                                if (w) {
                                        this.waiters.delete(m.id);
                                        w(m);
                                }
                        }
                });
                this.id = 0;
        }
        call(method, params) {
                const id = ++this.id;
                return new Promise((r) => {
                        this.waiters.set(id, r);
                        this.w.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
                });
        }
        async init() {
                await this.call("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } });
                this.w.write(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) + "\n");
        }
}

async function measure(label, call) {
        for (let i = 0; i < WARM; i++) await call();
        const t = [];
        for (let i = 0; i < N; i++) {
                const s = process.hrtime.bigint();
                await call();
                t.push(Number(process.hrtime.bigint() - s));
        }
        const r = { label, p50: pct(t, 50), p99: pct(t, 99) };
        console.log(`${label.padEnd(44)} p50 ${us(r.p50).padStart(8)} us   p99 ${us(r.p99).padStart(8)} us`);
        return r;
}

const echo = { name: "echo", arguments: { text: "x" } };

async function sdkClient(kind, target) {
        const c = new Client({ name: "bench", version: "1" });
        let t;
        if (kind === "stdio") t = new StdioClientTransport(target);
        else if (kind === "sse") t = new SSEClientTransport(new URL(target));
        else t = new StreamableHTTPClientTransport(new URL(target));
        await c.connect(t);
        cleanup.push(() => c.close().catch(() => {}));
        return c;
}

async function waitPort(port) {
        for (let i = 0; i < 300; i++) {
                const ok = await new Promise((r) => {
                        const s = net.connect(port, "127.0.0.1");
                        s.on("connect", () => (s.destroy(), r(true)));
                        s.on("error", () => r(false));
                });
                if (ok) return;
                await sleep(50);
        }
        throw new Error(`port ${port} not listening`);
}

async function gateways() {
        const sg = spawn(NODE, [path.join(here, "node_modules/supergateway/dist/index.js"), "--stdio", `${NODE} ${DEMO}`, "--port", "18931", "--logLevel", "none"], { stdio: "ignore" });
        const mp = spawn(NODE, [path.join(here, "node_modules/.bin/mcp-proxy"), "--host", "127.0.0.1", "--port", "18932", "--", NODE, DEMO], { stdio: "ignore" });
        procs.push(sg, mp);
        await waitPort(18931);
        await waitPort(18932);
        return { sse: "http://127.0.0.1:18931/sse", proxy: "http://127.0.0.1:18932/mcp" };
}

async function latency(agent, gw) {
        console.log(`\n# latency: sequential tools/call echo, ${N} calls after ${WARM} warm-up`);
        const res = {};
        // raw: direct stdio
        const child = spawn(NODE, [DEMO], { stdio: ["pipe", "pipe", "ignore"] });
        procs.push(child);
        const rd = new Raw(child.stdout, child.stdin);
        await rd.init();
        res.rawDirect = await measure("raw JSON-RPC, direct child stdio", () => rd.call("tools/call", echo));
        // raw: agent socket
        const sock = net.connect(agent.mcp);
        await new Promise((r) => sock.on("connect", r));
        const rs = new Raw(sock, sock);
        await rs.init();
        res.rawSocket = await measure("raw JSON-RPC, agv MCP socket", () => rs.call("tools/call", echo));
        // raw: through the bridge
        const br = spawn(AGENT, ["mcp", "--socket", agent.mcp], { stdio: ["pipe", "pipe", "ignore"] });
        procs.push(br);
        const rb = new Raw(br.stdout, br.stdin);
        await rb.init();
        res.rawBridge = await measure("raw JSON-RPC, agv-agent mcp bridge", () => rb.call("tools/call", echo));

        const sd = await sdkClient("stdio", { command: NODE, args: [DEMO], stderr: "ignore" });
        res.sdkDirect = await measure("SDK Client, direct child stdio", () => sd.callTool(echo));
        const sa = await sdkClient("stdio", { command: AGENT, args: ["mcp", "--socket", agent.mcp], stderr: "ignore" });
        res.sdkAgv = await measure("SDK Client, agv-agent mcp", () => sa.callTool(echo));
        const ss = await sdkClient("sse", gw.sse);
        res.sdkSg = await measure("SDK Client, supergateway (SSE)", () => ss.callTool(echo));
        const sp = await sdkClient("http", gw.proxy);
        res.sdkProxy = await measure("SDK Client, mcp-proxy (streamable HTTP)", () => sp.callTool(echo));
        console.log(`added p50, raw: socket ${us(res.rawSocket.p50 - res.rawDirect.p50)} us, bridge ${us(res.rawBridge.p50 - res.rawDirect.p50)} us`);
        return res;
}

async function throughput(label, mk) {
        const clients = await Promise.all(Array.from({ length: 8 }, mk));
        const per = Math.floor(N / 2);
        for (const c of clients) for (let i = 0; i < 50; i++) await c.callTool(echo);
        const s = process.hrtime.bigint();
        let errors = 0;
        await Promise.all(
                clients.map(async (c) => {
                        for (let i = 0; i < per; i++) await c.callTool(echo).catch(() => errors++);
                }),
        );
        const secs = Number(process.hrtime.bigint() - s) / 1e9;
        console.log(`${label.padEnd(44)} ${(8 * per / secs).toFixed(0).padStart(7)} req/s  (${8 * per} calls, ${errors} errors)`);
}

async function replace(agent) {
        console.log("\n# 100 replacements at 500 requests/s (4 SDK clients over agv-agent mcp)");
        const clients = await Promise.all([0, 1, 2, 3].map(() => sdkClient("stdio", { command: AGENT, args: ["mcp", "--socket", agent.mcp], stderr: "ignore" })));
        let disconnects = 0;
        for (const c of clients) c.onclose = () => disconnects++;
        let sent = 0, ok = 0, errors = 0, stop = false;
        const inflight = new Set();
        const start = Date.now();
        const gen = (async () => {
                // 500/s: one request every 2 ms, round robin
                while (!stop) {
                        const due = start + sent * 2;
                        const wait = due - Date.now();
                        if (wait > 0) await sleep(wait);
                        const c = clients[sent % 4];
                        sent++;
                        const p = c.callTool({ name: "sign_message", arguments: { message: `m${sent}` } }).then(
                                () => ok++,
                                () => errors++,
                        );
                        inflight.add(p);
                        p.finally(() => inflight.delete(p));
                }
        })();
        const before = (await agent.ctl("status")).child.replacements;
        for (let n = 0; n < 100; n++) {
                await agent.ctl("restart-child");
                for (;;) {
                        const ch = (await agent.ctl("status")).child;
                        if (ch.replacements > before + n && ch.state === "running") break;
                        await sleep(10);
                }
        }
        stop = true;
        await gen;
        await Promise.all(inflight);
        const secs = (Date.now() - start) / 1000;
        console.log(`requests ${sent} in ${secs.toFixed(1)} s (${(sent / secs).toFixed(0)}/s): ok ${ok}, errors ${errors}, disconnects ${disconnects}`);
}

const what = process.argv[2] ?? "all";
try {
        const agent = await startAgent();
        if (what === "latency" || what === "all" || what === "throughput") {
                const gw = await gateways();
                if (what !== "throughput") await latency(agent, gw);
                console.log("\n# throughput: 8 SDK clients in parallel, sequential calls each");
                await throughput("direct child stdio (8 children!)", () => sdkClient("stdio", { command: NODE, args: [DEMO], stderr: "ignore" }));
                await throughput("agv-agent mcp (one child)", () => sdkClient("stdio", { command: AGENT, args: ["mcp", "--socket", agent.mcp], stderr: "ignore" }));
                await throughput("supergateway SSE (one child)", () => sdkClient("sse", gw.sse));
                await throughput("mcp-proxy streamable HTTP", () => sdkClient("http", gw.proxy));
        }
        if (what === "replace" || what === "all") await replace(agent);
} finally {
        for (const f of cleanup.reverse()) await f();
        for (const p of procs) p.kill("SIGTERM");
}
process.exit(0);
