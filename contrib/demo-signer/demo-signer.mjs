#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// agv demo signer: an MCP stdio server shaped like the Agentic Vault signer
// (tools health_check, get_address, sign_message; JSON audit lines on
// stderr; exits at stdin EOF; no signal handlers). It is NOT the real
// signer: its key is a throwaway secp256k1 key generated in memory at start,
// and its "address" is not an Ethereum address. For demos and tests only.
//
// Misbehaviour switches (environment DEMO_SIGNER_* or --flag[=value]):
//   --hang-after=N        answer N requests, then block the event loop forever
//   --crash-after=N       exit(3) on request N+1 (before answering it)
//   --crash-at-start      exit(3) right away (a crash loop under the agent)
//   --crash-at-start-if=PATH  the same, while PATH exists (tests remove it to recover)
//   --slow-ms=N           delay every tools/call by N ms
//   --fail-health         health_check reports isError
//   --fail-get-address    get_address fails, and keeps failing (sticky, like the real one)
//   --ignore-sigterm      install a SIGTERM handler that does nothing
//   --ignore-eof          keep running after stdin EOF
//   --close-stdout-after=N  close stdout after N requests but keep running
//   --huge-bytes=N        the `huge` tool answers with N bytes of text (default 8 MiB)
//   --malformed           write a malformed line before every answer
//   --sampling            the `ask_client` tool sends sampling/createMessage to the client
//   --extra-tool          also register the tool `extra_tool` (a replacement whose tool list differs)
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { existsSync } from "node:fs";
import crypto, { createHash, generateKeyPairSync, sign } from "node:crypto";
import { z } from "zod";

const opts = {};
for (const [k, v] of Object.entries(process.env))
        if (k.startsWith("DEMO_SIGNER_")) opts[k.slice(12).toLowerCase().replace(/_/g, "-")] = v;
for (const a of process.argv.slice(2)) {
        const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
        if (!m) {
                process.stderr.write(`demo-signer: unknown argument ${a}\n`);
                process.exit(64);
        }
        opts[m[1]] = m[2] ?? "1";
}
const num = (k, d) => (opts[k] !== undefined ? Number(opts[k]) : d);
const flag = (k) => opts[k] !== undefined && opts[k] !== "0" && opts[k] !== "";

// The real signer's audit line shape: {timestamp, traceId, service, action, who, what, why, result, details}.
function auditResult(action, result, what, why, details = {}) {
        process.stderr.write(
                JSON.stringify({ timestamp: new Date().toISOString(), traceId: crypto.randomUUID(), service: "agv-demo-signer", action, who: "mcp-client", what, why, result, details }) + "\n",
        );
}

function audit(level, message, extra = {}) {
        process.stderr.write(
                JSON.stringify({ timestamp: new Date().toISOString(), service: "agv-demo-signer", level, message, ...extra }) + "\n",
        );
}

if (flag("crash-at-start") || (opts["crash-at-start-if"] && existsSync(opts["crash-at-start-if"]))) {
        audit("error", "crash-at-start switch set: exiting");
        process.exit(3);
}

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
const pub = publicKey.export({ format: "der", type: "spki" });
const address = "0x" + createHash("sha256").update(pub).digest("hex").slice(-40);
let getAddressBroken = flag("fail-get-address");
let requests = 0;
const hangAfter = num("hang-after", -1);
const crashAfter = num("crash-after", -1);
const closeStdoutAfter = num("close-stdout-after", -1);
const slowMs = num("slow-ms", 0);

const server = new McpServer(
        { name: "agv-demo-signer", version: "0.1.0" },
        { capabilities: { logging: {} }, instructions: "Demo signer for agv-agent. NOT the real Agentic Vault signer." },
);
const text = (t, isError = false) => ({ content: [{ type: "text", text: t }], ...(isError ? { isError: true } : {}) });
const sleep = (ms, signal) =>
        new Promise((resolve, reject) => {
                const t = setTimeout(resolve, ms);
                signal?.addEventListener("abort", () => {
                        clearTimeout(t);
                        reject(new Error("cancelled"));
                });
        });
const slow = async (signal) => {
        if (slowMs > 0) await sleep(slowMs, signal);
};

server.registerTool("health_check", { description: "Check the signing key (demo: always local)" }, async (extra) => {
        await slow(extra.signal);
        if (flag("fail-health")) {
                audit("warn", "health_check failed (fail-health switch)");
                return text("key unavailable: demo failure", true);
        }
        return text(JSON.stringify({ status: "ok", keyType: "secp256k1", demo: true }));
});

server.registerTool("get_address", { description: "The signer's address (demo key)" }, async (extra) => {
        await slow(extra.signal);
        if (getAddressBroken) {
                audit("error", "get_address failed (cached failure, restart to recover)");
                return text("get_address failed: cached error", true);
        }
        return text(address);
});

server.registerTool(
        "sign_message",
        { description: "Sign a message with the throwaway demo key", inputSchema: { message: z.string() } },
        async ({ message }, extra) => {
                await slow(extra.signal);
                if (message.startsWith("deny")) {
                        auditResult("sign_message", "denied", "Message signing denied", "Policy violations: message starts with deny");
                        return text("Policy denied: message starts with deny", true);
                }
                const sig = sign("sha256", Buffer.from(message, "utf8"), { key: privateKey, dsaEncoding: "ieee-p1363" });
                auditResult("sign_message", "approved", `Signed a message of ${Buffer.byteLength(message)} bytes`, "Demo policy allows every message");
                return text(JSON.stringify({ address, signature: "0x" + sig.toString("hex") }));
        },
);

if (flag("extra-tool"))
        server.registerTool("extra_tool", { description: "Only with --extra-tool (tests)" }, async () => text("extra"));

server.registerTool(
        "echo",
        { description: "Return the text (benchmarks)", inputSchema: { text: z.string() } },
        async ({ text: t }) => text(t),
);

server.registerTool("whoami", { description: "Process facts (tests)" }, async () =>
        text(JSON.stringify({ pid: process.pid, ppid: process.ppid, pgid: null, cwd: process.cwd(), env: process.env, umask: process.umask(), uid: process.getuid(), gid: process.getgid(), groups: process.getgroups() })),
);

server.registerTool(
        "count",
        {
                description: "Count to n with a progress notification per step (stepMs apart); cancellable",
                inputSchema: { n: z.number().int(), stepMs: z.number().int().optional() },
        },
        async ({ n, stepMs }, extra) => {
                const token = extra._meta?.progressToken;
                for (let i = 1; i <= n; i++) {
                        await sleep(stepMs ?? 10, extra.signal);
                        if (token !== undefined)
                                await extra.sendNotification({
                                        method: "notifications/progress",
                                        params: { progressToken: token, progress: i, total: n },
                                });
                }
                return text(`counted to ${n}`);
        },
);

server.registerTool("huge", { description: "Answer with a very large text" }, async () =>
        text("x".repeat(num("huge-bytes", 8 * 1024 * 1024))),
);

server.registerTool("ask_client", { description: "Ask the client for a sampling message" }, async () => {
        const r = await server.server.createMessage({
                messages: [{ role: "user", content: { type: "text", text: "hello from the signer" } }],
                maxTokens: 10,
        });
        return text(JSON.stringify(r.content));
});

const transport = new StdioServerTransport();
// Counting requests and the misbehaviour hooks sit in front of the SDK.
const origOnMessage = () => transport.onmessage;
await server.connect(transport);
const sdkOnMessage = origOnMessage();
transport.onmessage = (msg, extra) => {
        // initialize, ping and tools/list are the agent's own handshake and liveness: not counted
        if (msg.method !== undefined && msg.id !== undefined && !["initialize", "ping", "tools/list"].includes(msg.method)) {
                requests++;
                if (crashAfter >= 0 && requests > crashAfter) {
                        audit("error", `crash-after switch: crashing on request ${requests}`);
                        process.exit(3);
                }
                if (hangAfter >= 0 && requests > hangAfter) {
                        audit("error", `hang-after switch: hanging on request ${requests}`);
                        for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
                }
                if (closeStdoutAfter >= 0 && requests > closeStdoutAfter) {
                        audit("error", "close-stdout-after switch: closing stdout, still running");
                        import("node:fs").then((fs) => fs.closeSync(1));
                        setInterval(() => {}, 1000);
                        return;
                }
        } else if (msg.method === "ping" && hangAfter >= 0 && requests >= hangAfter) {
                // a hung signer does not answer pings either
                audit("error", "hang-after switch: hanging");
                for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
        }
        sdkOnMessage(msg, extra);
};
if (flag("malformed")) {
        const origSend = transport.send.bind(transport);
        transport.send = async (msg) => {
                process.stdout.write("this is {not json\n");
                return origSend(msg);
        };
}

if (flag("ignore-sigterm")) process.on("SIGTERM", () => audit("warn", "ignoring SIGTERM (ignore-sigterm switch)"));
process.stdin.on("end", () => {
        if (flag("ignore-eof")) {
                audit("warn", "stdin closed; staying up (ignore-eof switch)");
                setInterval(() => {}, 1000);
                return;
        }
        audit("info", "stdin closed; exiting");
        process.exit(0);
});
audit("info", "demo signer started (NOT the real signer; throwaway key)", { address });
