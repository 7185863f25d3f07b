// SPDX-License-Identifier: MIT
// Regression tests for the defects the real signer showed (issue 10), with
// the demo signer so they run everywhere; tests/mcp/real_signer.test.mjs
// repeats the ones that depend on the signer itself with the real one.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { Agent, DEMO, NODE, pidAlive, textOf, waitFor } from "./helpers.mjs";

const demo = (...flags) => [NODE, DEMO, ...flags];
const reasonCodes = (st) => st.reasons.map((r) => r.code);
// the harness has no PKI (critical there): judge the child's own reasons
const childWarnings = (st) => st.reasons.filter((r) => r.code.startsWith("child_") && r.level !== "ok");

describe("real-signer defects (demo signer)", () => {
        let agent;
        afterEach(async () => {
                await agent?.stop();
                agent = null;
        });

        it("1: a warning clears when a restarted child is ready (no replacement involved)", async () => {
                agent = await new Agent().start();
                const first = (await agent.child()).pid;
                process.kill(first, "SIGKILL");
                const child = await agent.waitChild((ch) => ch.state === "running" && ch.pid !== first, "restarted");
                assert.equal(child.restarts, 1);
                assert.equal(child.last_error, null);
                assert.equal(child.last_exit.status, "signal SIGKILL");
                const st = await agent.status();
                assert.deepEqual(childWarnings(st), []);
        });

        it("1: a warning clears after recovering from failed with a reload", async () => {
                agent = await new Agent({ command: demo("--crash-at-start"), child: { start_limit: "2/1m" } }).start({ waitState: "failed" });
                assert.ok(reasonCodes(await agent.status()).includes("child_failed"));
                agent.sections.child.command = `${NODE} ${DEMO}`;
                agent.writeConfig();
                await agent.control("reload");
                const child = await agent.waitChild((ch) => ch.state === "running", "running after reload");
                assert.equal(child.last_error, null);
                assert.deepEqual(childWarnings(await agent.status()), []);
        });

        it("1: a failed replacement is still a warning while the old child serves", async () => {
                const flag = `${process.env.TMPDIR ?? "/tmp"}/agv-crash-${process.pid}-${Date.now()}`;
                agent = await new Agent({ command: demo(`--crash-at-start-if=${flag}`) }).start();
                const { writeFileSync, rmSync } = await import("node:fs");
                writeFileSync(flag, "");
                try {
                        await agent.control("restart-child");
                        await waitFor(async () => reasonCodes(await agent.status()).includes("child_replacement_failed"), "replacement failure reported");
                } finally {
                        rmSync(flag, { force: true });
                }
                await agent.replace();
                const st = await agent.status();
                assert.ok(!reasonCodes(st).includes("child_replacement_failed"), JSON.stringify(st.reasons));
        });

        it("2: every newly serving child gets its own first health probe at once", async () => {
                // interval 1h: only the immediate probe of a new child can explain a fresh result
                agent = await new Agent({ command: demo("--fail-health"), child: { health_tool: "health_check", health_interval: "1h" } }).start();
                const bad = await agent.waitChild((ch) => ch.health.ok === false, "failing health");
                assert.equal(bad.health.pid, bad.pid);
                assert.ok(reasonCodes(await agent.status()).includes("child_health_failed"));

                // a reload that fixes the command: the replacement's own probe clears the warning
                agent.sections.child.command = `${NODE} ${DEMO}`;
                agent.writeConfig();
                await agent.control("reload");
                const good = await agent.waitChild((ch) => ch.pid !== bad.pid && ch.health.ok === true, "healthy replacement");
                assert.equal(good.health.pid, good.pid);
                assert.ok(!reasonCodes(await agent.status()).includes("child_health_failed"));

                // and a replacement that is broken shows it, not the old child's ok
                agent.sections.child.command = `${NODE} ${DEMO} --fail-health`;
                agent.writeConfig();
                await agent.control("reload");
                const broken = await agent.waitChild((ch) => ch.pid !== good.pid && ch.health.ok === false, "broken replacement seen");
                assert.equal(broken.health.pid, broken.pid);

                // restart-child after the cause is gone: exit 1 (child_health_failed) does not remain
                agent.sections.child.command = `${NODE} ${DEMO}`;
                agent.writeConfig();
                await agent.control("reload");
                await agent.waitChild((ch) => ch.pid !== broken.pid && ch.health.ok === true, "healthy again");
                const before = (await agent.child()).pid;
                await agent.replace();
                const after = await agent.waitChild((ch) => ch.pid !== before && ch.health.ok === true && ch.health.pid === ch.pid, "new child probed");
                assert.ok(after);
        });

        it("2: a reload that adds health_tool with a replacement probes only the new child", async () => {
                agent = await new Agent({ command: demo("--fail-health") }).start();
                const old = (await agent.child()).pid;
                agent.sections.child.command = `${NODE} ${DEMO}`;
                agent.sections.child.health_tool = "health_check";
                agent.sections.child.health_interval = "1h";
                agent.writeConfig();
                await agent.control("reload");
                const child = await agent.waitChild((ch) => ch.pid !== old && ch.health.ok === true, "new child probed");
                assert.equal(child.health.pid, child.pid);
                // the old child (whose health_check fails) was never asked
                assert.ok(!agent.log.some((l) => /Signer health check health_check failed/.test(l)), agent.log.join("\n"));
        });

        it("3: a crash whose stdout closes first is logged as unexpected with its status and last error line", async () => {
                agent = await new Agent({ command: demo("--crash-after=0") }).start();
                const c = await agent.client();
                const pid = (await agent.child()).pid;
                await assert.rejects(c.callTool({ name: "echo", arguments: { text: "x" } }), (e) => e.code === -32011);
                await waitFor(() => agent.log.some((l) => l.includes(`Signer child ${pid} exited unexpectedly (exit code 3)`)), "unexpected-exit line");
                const line = agent.log.find((l) => l.includes(`Signer child ${pid} exited unexpectedly`));
                assert.match(line, /^WARNING: /);
                assert.match(line, /its last error: crash-after switch: crashing on request 1/);
                assert.ok(!agent.log.some((l) => l.includes(`signer[${pid}] is unusable`)), "not 'closed its stdout'");
                const child = await agent.waitChild((ch) => ch.last_exit && ch.last_exit.status === "exit code 3", "last_exit");
                assert.ok(child.state !== "failed");
        });

        it("3: SIGKILL is an unexpected exit, logged as a warning", async () => {
                agent = await new Agent().start();
                const pid = (await agent.child()).pid;
                process.kill(pid, "SIGKILL");
                await waitFor(() => agent.log.some((l) => l === `WARNING: Signer child ${pid} exited unexpectedly (signal SIGKILL)`), "SIGKILL warning");
                assert.ok(!agent.log.some((l) => l.includes(`Signer child ${pid} exited (signal SIGKILL)`)));
        });

        it("4: clients that listed tools are told when a replacement's tool list differs", async () => {
                agent = await new Agent().start();
                const c = await agent.client();
                let changed = 0;
                c.setNotificationHandler(ToolListChangedNotificationSchema, () => changed++);
                const names = async () => (await c.listTools()).tools.map((t) => t.name);
                assert.ok(!(await names()).includes("extra_tool"));

                // same tools: no notification for a plain replacement
                await agent.replace();
                // a reload that adds a tool
                agent.sections.child.command = `${NODE} ${DEMO} --extra-tool`;
                agent.writeConfig();
                await agent.control("reload");
                await waitFor(() => changed >= 1, "tools/list_changed");
                assert.ok((await names()).includes("extra_tool"));
                assert.equal(changed, 1, "only the replacement with a different list notified");
        });

        it("5: requests in flight at stop are answered, not failed", async () => {
                agent = await new Agent({ command: demo("--slow-ms=1500"), child: { drain_timeout: "20s" } }).start();
                const c = await agent.client();
                const calls = [0, 1, 2].map((i) => c.callTool({ name: "sign_message", arguments: { message: `m${i}` } }));
                await agent.waitChild((ch) => ch.requests_in_flight >= 3, "requests in flight");
                const pid = (await agent.child()).pid;
                agent.proc.kill("SIGTERM");
                const results = await Promise.allSettled(calls);
                for (const r of results) {
                        assert.equal(r.status, "fulfilled", r.reason?.message);
                        assert.ok(JSON.parse(textOf(r.value)).signature.startsWith("0x"));
                }
                const { code } = await agent.exited;
                assert.equal(code, 0);
                assert.ok(!pidAlive(pid));
        });

        it("6: audit lines become readable messages with a priority, and are counted", async () => {
                agent = await new Agent().start();
                const c = await agent.client();
                await c.callTool({ name: "sign_message", arguments: { message: "hello" } });
                const denied = await c.callTool({ name: "sign_message", arguments: { message: "deny me" } });
                assert.equal(denied.isError, true);
                const child = await agent.waitChild((ch) => ch.audit.denied === 1 && ch.audit.approved === 1, "audit counts");
                assert.equal(child.audit.errors, 0);
                const pid = child.pid;
                await waitFor(() => agent.log.some((l) => l.startsWith(`WARNING: signer[${pid}]: sign_message denied by policy: Message signing denied (Policy violations`)), "denied line");
                assert.ok(agent.log.some((l) => l.startsWith(`INFO: signer[${pid}]: sign_message approved: Signed a message of 5 bytes`)));
                const { text } = await agent.control("metrics");
                assert.match(text, /agv_child_audit_total\{result="denied"\} 1\n/);
                assert.match(text, /agv_child_audit_total\{result="approved"\} 1\n/);
        });
});
