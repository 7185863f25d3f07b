// SPDX-License-Identifier: MIT
// Misbehaving children: crash mid-request, hang, crash loop, SIGTERM
// ignored, stdout closed, huge and malformed lines. Clients always get an
// answer (never a hang) and no zombie is left.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Agent, DEMO, NODE, pidAlive, textOf, waitFor } from "./helpers.mjs";

let agent;
afterEach(async () => {
        // reaping follows the exit by a moment; a leak stays forever
        if (agent && agent.proc.exitCode === null) await waitFor(() => agent.zombies().length === 0, "no zombie children", 5000);
        await agent?.stop();
        agent = null;
});

const demo = (...flags) => [NODE, DEMO, ...flags];

describe("misbehaving children", () => {
        it("child crash mid-request: the request fails at once, the child comes back", async () => {
                agent = await new Agent({ command: demo("--crash-after=1", "--slow-ms=50") }).start();
                const c = await agent.client();
                assert.match(textOf(await c.callTool({ name: "get_address", arguments: {} })), /^0x/);
                await assert.rejects(c.callTool({ name: "get_address", arguments: {} }), (e) => e.code === -32011);
                const child = await agent.waitChild((ch) => ch.state === "running" && ch.restarts >= 1, "restart");
                assert.match(child.last_exit.status, /exit code 3/);
                assert.match(textOf(await c.callTool({ name: "get_address", arguments: {} })), /^0x/);
                assert.equal(c.closed, false);
        });

        it("hung child (no ping answer) is replaced; its in-flight request fails after drain_timeout", async () => {
                agent = await new Agent({
                        command: demo("--hang-after=1"),
                        // generous enough that a loaded CI machine does not miss a healthy ping
                        child: { ping_interval: "600ms", ping_timeout: "400ms", drain_timeout: "1s" },
                }).start();
                const c = await agent.client();
                const first = (await agent.child()).pid;
                await c.callTool({ name: "echo", arguments: { text: "ok" } });
                // this one hangs the child; the agent notices by ping
                await assert.rejects(c.callTool({ name: "echo", arguments: { text: "hang" } }), (e) => e.code === -32015 || e.code === -32011);
                const child = await agent.waitChild((ch) => ch.pid && ch.pid !== first && ch.state === "running", "new child");
                assert.ok(child.replacements >= 1 || child.restarts >= 1);
                await waitFor(() => !pidAlive(first), "hung child gone");
                assert.equal(c.closed, false);
        });

        it("crash loop ends in failed (critical), restart-child recovers", async () => {
                agent = new Agent({ child: { start_limit: "3/30s", restart_backoff_max: "50ms" } });
                const flagFile = path.join(agent.dir, "crash");
                writeFileSync(flagFile, "");
                agent.command = demo(`--crash-at-start-if=${flagFile}`);
                agent.sections.child.command = `${NODE} ${DEMO} --crash-at-start-if=${flagFile}`;
                agent.writeConfig();
                await agent.start({ waitState: "failed" });
                const st = await agent.status();
                assert.equal(st.state, "critical");
                assert.ok(st.reasons.some((r) => r.code === "child_failed"));
                assert.ok(st.summary.includes("signer failed"), st.summary);
                const c = await agent.client().catch((e) => e);
                assert.ok(c instanceof Error, "no initialize without a ready child");
                rmSync(flagFile);
                await agent.control("restart-child");
                await agent.waitChild((ch) => ch.state === "running", "recovered");
                const c2 = await agent.client();
                assert.match(textOf(await c2.callTool({ name: "get_address", arguments: {} })), /^0x/);
                const after = await agent.status();
                assert.ok(!after.reasons.some((r) => r.code === "child_failed"));
        });

        it("a child that ignores SIGTERM and stdin EOF is killed after the ladder", async () => {
                agent = await new Agent({ command: demo("--ignore-sigterm", "--ignore-eof"), child: { stop_timeout: "200ms" } }).start();
                const old = (await agent.child()).pid;
                await agent.replace();
                await waitFor(() => !pidAlive(old), "old child killed");
                assert.ok(agent.log.some((l) => /SIGKILL/.test(l)), "escalated to SIGKILL");
        });

        it("a child that closes stdout but keeps running is stopped and restarted", async () => {
                agent = await new Agent({ command: demo("--close-stdout-after=1", "--ignore-eof"), child: { stop_timeout: "200ms" } }).start();
                const c = await agent.client();
                const first = (await agent.child()).pid;
                await c.callTool({ name: "echo", arguments: { text: "a" } });
                await assert.rejects(c.callTool({ name: "echo", arguments: { text: "b" } }), (e) => e.code === -32011);
                await agent.waitChild((ch) => ch.state === "running" && ch.pid !== first, "restarted");
                await waitFor(() => !pidAlive(first), "old child gone");
                assert.equal(textOf(await c.callTool({ name: "echo", arguments: { text: "c" } })), "c");
        });

        it("huge answers fail only their request; malformed lines are skipped", async () => {
                agent = await new Agent({ command: demo("--malformed", "--huge-bytes=6000000") }).start();
                const c = await agent.client();
                await assert.rejects(c.callTool({ name: "huge", arguments: {} }), (e) => e.code === -32014);
                assert.equal(textOf(await c.callTool({ name: "echo", arguments: { text: "fine" } })), "fine");
                assert.equal((await agent.child()).restarts, 0);
                assert.ok(agent.log.some((l) => /not JSON-RPC/.test(l)));
        });

        it("restart_on_tool_failure replaces a child whose get_address keeps failing", async () => {
                agent = await new Agent({ command: demo("--fail-get-address"), child: { restart_on_tool_failure: "get_address:2" } }).start();
                const c = await agent.client();
                for (let i = 0; i < 2; i++) assert.equal((await c.callTool({ name: "get_address", arguments: {} })).isError, true);
                await agent.waitChild((ch) => ch.replacements >= 1, "replacement after tool failures");
                assert.equal(c.closed, false);
        });

        it("stops gracefully on SIGTERM: the child exits with the agent", async () => {
                agent = await new Agent().start();
                const pid = (await agent.child()).pid;
                agent.proc.kill("SIGTERM");
                const r = await agent.exited;
                assert.equal(r.code, 0);
                assert.equal(pidAlive(pid), false);
        });
});
