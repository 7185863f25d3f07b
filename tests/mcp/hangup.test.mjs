// SPDX-License-Identifier: MIT
// Clients that go away with a request in flight, and requests the signer
// never answers: the agent must not spin, must cancel the child's work and
// must free the request's slot ([child] request_timeout).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { afterEach, describe, it } from "node:test";
import { Agent, DEMO, NODE, sleep, textOf, waitFor } from "./helpers.mjs";

let agent;
afterEach(async () => {
        await agent?.stop();
        agent = null;
});

// Seconds the agent's thread spent running or waiting to run
// (/proc/PID/schedstat): a spinning loop is runnable all the time however
// loaded the machine is, an idle one almost never.
function busySeconds(pid) {
        const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ");
        return (Number(run) + Number(wait)) / 1e9;
}

// A raw MCP connection (no SDK): lines in, parsed messages out.
function rawClient(socketPath) {
        const s = net.connect(socketPath);
        const msgs = [];
        let buf = "";
        s.on("data", (d) => {
                buf += d;
                for (let nl; (nl = buf.indexOf("\n")) >= 0; ) {
                        msgs.push(JSON.parse(buf.slice(0, nl)));
                        buf = buf.slice(nl + 1);
                }
        });
        s.on("error", () => {});
        const send = (o) => s.write(JSON.stringify(o) + "\n");
        return { s, msgs, send };
}

async function initialized(c) {
        c.send({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
        await waitFor(() => c.msgs.some((m) => m.id === 0), "initialize answer");
        c.send({ jsonrpc: "2.0", method: "notifications/initialized" });
}

const longCall = (id) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "count", arguments: { n: 100000, stepMs: 1000 } } });

describe("hung-up clients and unanswered requests", () => {
        it("a client that hangs up with a tool call in flight does not make the agent spin", async () => {
                agent = await new Agent({ command: [NODE, DEMO] }).start();
                const c = rawClient(agent.mcpSocket);
                await new Promise((r) => c.s.on("connect", r));
                await initialized(c);
                c.send(longCall(1));
                await waitFor(async () => (await agent.child()).requests_in_flight === 1, "call in flight");
                c.s.destroy(); // both directions gone
                // the agent drops the client and cancels the call at the child
                await waitFor(async () => {
                        const ch = await agent.child();
                        return ch.clients === 0 && ch.requests_in_flight === 0;
                }, "client dropped and call cancelled");
                // and stays idle: a busy loop would burn most of this second
                const before = busySeconds(agent.proc.pid);
                await sleep(2000);
                const busy = busySeconds(agent.proc.pid) - before;
                assert.ok(busy < 1, `agent was runnable ${busy.toFixed(2)}s of 2s while idle`);
                // still serving
                const c2 = await agent.client();
                assert.match(textOf(await c2.callTool({ name: "get_address", arguments: {} })), /^0x/);
        });

        it("a half-closed client still gets the answer to its request", async () => {
                agent = await new Agent({ command: [NODE, DEMO] }).start();
                const c = rawClient(agent.mcpSocket);
                await new Promise((r) => c.s.on("connect", r));
                await initialized(c);
                c.send({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "count", arguments: { n: 3, stepMs: 100 } } });
                c.s.end(); // no more requests, but the answer is still wanted
                const closed = new Promise((r) => c.s.on("close", r));
                const reply = await waitFor(() => c.msgs.find((m) => m.id === 7), "answer after half-close");
                assert.ok(reply.result, JSON.stringify(reply));
                await closed; // the agent closes once nothing is in flight
        });

        it("an MCP socket flooded past the fd limit pauses instead of spinning, and recovers", async () => {
                agent = await new Agent({ command: [NODE, DEMO] }).start();
                const pid = agent.proc.pid;
                const keep = await agent.client(); // an established session keeps working
                const n = readdirSync(`/proc/${pid}/fd`).length;
                execFileSync("prlimit", ["--pid", String(pid), `--nofile=${n + 3}:${n + 3}`]);
                const flood = [];
                try {
                        for (let i = 0; i < 30; i++) {
                                const s = net.connect(agent.mcpSocket);
                                s.on("error", () => {});
                                flood.push(s);
                        }
                        await waitFor(() => agent.log.some((l) => /accept\(\) on the MCP socket failed/.test(l)), "EMFILE reported");
                        const before = busySeconds(pid);
                        await sleep(2000);
                        const busy = busySeconds(pid) - before;
                        assert.ok(busy < 1, `agent was runnable ${busy.toFixed(2)}s of 2s with accept() failing`);
                        assert.ok(agent.log.filter((l) => /accept\(\) on the MCP socket failed/.test(l)).length <= 2, "log rate-limited");
                        assert.match(textOf(await keep.callTool({ name: "get_address", arguments: {} })), /^0x/);
                } finally {
                        for (const s of flood) s.destroy();
                }
                const c = await agent.client();
                assert.match(textOf(await c.callTool({ name: "get_address", arguments: {} })), /^0x/);
        });

        it("a request the signer never answers fails after [child] request_timeout and frees its slot", async () => {
                agent = await new Agent({ command: [NODE, DEMO], child: { request_timeout: "1s" } }).start();
                const c = await agent.client();
                await assert.rejects(
                        c.callTool({ name: "count", arguments: { n: 100000, stepMs: 1000 } }),
                        (e) => e.code === -32016 && /request_timeout/.test(e.message),
                );
                // its slot is free (the count includes the agent's own pings,
                // answered at once; the timed-out call would stay forever)
                const ch = await agent.waitChild((x) => x.requests_in_flight === 0, "no request in flight");
                assert.equal(ch.state, "running");
                // the same client goes on
                assert.match(textOf(await c.callTool({ name: "get_address", arguments: {} })), /^0x/);
        });
});
