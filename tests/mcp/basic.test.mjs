// SPDX-License-Identifier: MIT
// SDK clients over `agv-agent mcp` reach the supervised demo signer.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { spawn } from "node:child_process";
import { Agent, AGENT, textOf, waitFor } from "./helpers.mjs";

// Raw lines through `agv-agent mcp`, stdin then closed (a half-close: the
// agent answers what is in flight, then closes); every message it sent back.
function lineSession(agent, lines) {
        return new Promise((resolve, reject) => {
                const p = spawn(AGENT, ["mcp", "--socket", agent.mcpSocket]);
                let buf = "";
                p.stdout.on("data", (d) => (buf += d));
                p.on("exit", () => resolve(buf.trim().split("\n").map((l) => JSON.parse(l))));
                p.on("error", reject);
                p.stdin.end(lines.join("\n") + "\n");
        });
}

describe("SDK client over agv-agent mcp", () => {
        let agent;
        before(async () => {
                agent = await new Agent({ child: { health_tool: "health_check", health_interval: "1s" } }).start();
        });
        after(async () => agent?.stop());

        it("initializes, lists and calls tools", async () => {
                const c = await agent.client();
                assert.equal(c.getServerVersion().name, "agv-demo-signer");
                assert.ok(c.getServerCapabilities().tools, "tools capability from the child");
                const tools = (await c.listTools()).tools.map((t) => t.name);
                for (const t of ["health_check", "get_address", "sign_message"]) assert.ok(tools.includes(t), t);
                const addr = textOf(await c.callTool({ name: "get_address", arguments: {} }));
                assert.match(addr, /^0x[0-9a-f]{40}$/);
                const signed = JSON.parse(textOf(await c.callTool({ name: "sign_message", arguments: { message: "hello" } })));
                assert.equal(signed.address, addr);
                assert.match(signed.signature, /^0x[0-9a-f]{128}$/);
                await c.ping();
        });

        it("maps progress tokens back to the SDK client while the call runs", async () => {
                // The SDK settles a response at once but dispatches
                // notifications a microtask later, so progress that shares a
                // read with the result is dropped by the client. Observe it
                // while the call is far from done (no result can race it),
                // then cancel.
                const c = await agent.client();
                const seen = [];
                const ac = new AbortController();
                const call = c.callTool({ name: "count", arguments: { n: 100000, stepMs: 20 } }, undefined, {
                        onprogress: (p) => seen.push(p.progress),
                        signal: ac.signal,
                });
                await waitFor(() => seen.length >= 3, "three progress notifications");
                ac.abort("seen enough");
                await assert.rejects(call);
                assert.deepEqual(seen.slice(0, 3), [1, 2, 3]);
                assert.deepEqual(seen, seen.map((_, i) => i + 1), `in order: ${JSON.stringify(seen)}`);
        });

        it("delivers every progress notification, in order, under the client's own token, before the result", async () => {
                // A line-level client through `agv-agent mcp`: nothing can be
                // dropped on the client side, so all five must arrive.
                const lines = [
                        { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } },
                        { jsonrpc: "2.0", method: "notifications/initialized" },
                        { jsonrpc: "2.0", id: "call", method: "tools/call", params: { name: "count", arguments: { n: 5, stepMs: 5 }, _meta: { progressToken: "tok-α" } } },
                ].map((m) => JSON.stringify(m));
                const msgs = await lineSession(agent, lines);
                assert.equal(msgs[0].id, 1);
                const progress = msgs.filter((m) => m.method === "notifications/progress");
                assert.deepEqual(progress.map((m) => m.params.progress), [1, 2, 3, 4, 5]);
                for (const m of progress) assert.equal(m.params.progressToken, "tok-α");
                const last = msgs[msgs.length - 1];
                assert.equal(last.id, "call");
                assert.equal(last.result.content[0].text, "counted to 5");
        });

        it("forwards cancellation and keeps serving", async () => {
                const c = await agent.client();
                const ac = new AbortController();
                const p = c.callTool({ name: "count", arguments: { n: 1000, stepMs: 20 } }, undefined, { signal: ac.signal });
                await waitFor(async () => (await agent.child()).requests_in_flight >= 1, "request in flight");
                ac.abort("user gave up");
                await assert.rejects(p);
                // the agent forgot the request (the child was told to stop)
                await waitFor(async () => (await agent.child()).requests_in_flight === 0, "no request in flight");
                assert.equal(textOf(await c.callTool({ name: "echo", arguments: { text: "still here" } })), "still here");
        });

        it("reports health and clients in status", async () => {
                const c = await agent.client();
                await c.ping();
                const child = await agent.waitChild((ch) => ch.health && ch.health.ok === true, "health result");
                assert.equal(child.health.tool, "health_check");
                assert.ok(child.clients >= 1);
                assert.ok(child.pid > 0);
                assert.equal(child.state, "running");
                const st = await agent.status();
                assert.ok(st.summary.includes("signer ready"), st.summary);
        });

        it("negotiates the protocol version per client and answers bad input", async () => {
                const lines = [
                        { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "raw", version: "1" } } },
                        { jsonrpc: "2.0", id: 2, method: "initialize", params: { protocolVersion: "1999-01-01", capabilities: {}, clientInfo: { name: "raw", version: "1" } } },
                ].map((m) => JSON.stringify(m));
                lines.push("{not json", "[]");
                const msgs = await lineSession(agent, lines);
                assert.equal(msgs.length, 4);
                assert.equal(msgs[0].result.protocolVersion, "2024-11-05");
                assert.equal(msgs[0].result.serverInfo.name, "agv-demo-signer");
                assert.equal(msgs[1].result.protocolVersion, "2025-06-18");
                assert.equal(msgs[2].error.code, -32700);
                assert.equal(msgs[3].error.code, -32600);
        });

        it("serves eight concurrent clients, every answer to its own client", async () => {
                const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => agent.client(`c${i}`)));
                await Promise.all(
                        clients.map(async (c, i) => {
                                const jobs = [];
                                for (let k = 0; k < 40; k++) {
                                        const t = `client ${i} call ${k}`;
                                        jobs.push(c.callTool({ name: "echo", arguments: { text: t } }).then((r) => assert.equal(textOf(r), t)));
                                }
                                await Promise.all(jobs);
                        }),
                );
                for (const c of clients) assert.equal(c.closed, false);
                // nothing of theirs left in flight: the count includes the
                // agent's own ping and health calls (every second here), which
                // are answered at once, so wait for it instead of sampling it
                await agent.waitChild((ch) => ch.requests_in_flight === 0, "no request in flight");
        });
});
