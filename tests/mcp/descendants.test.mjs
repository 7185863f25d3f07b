// SPDX-License-Identifier: MIT
// Processes the signer starts in the background never outlive it (issue 11,
// defect 5): not its replacement, not its crash, not the agent's stop.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { Agent, DEMO, NODE, pidAlive, waitFor } from "./helpers.mjs";

describe("the signer's descendants", () => {
        let agent, pidfile;
        const spawned = [];
        const sleepers = () => (existsSync(pidfile) ? readFileSync(pidfile, "utf8").split("\n").filter(Boolean).map(Number) : []);

        before(async () => {
                agent = new Agent();
                pidfile = path.join(agent.dir, "bg.pids");
                // a wrapper that leaves a sleeper behind, then becomes the signer
                agent.command = ["/bin/sh", "-c", `sleep 1000 & echo $! >> ${pidfile}; exec ${NODE} ${DEMO}`];
                agent.sections.child.command = agent.command.map((w) => (/^[A-Za-z0-9_\/.,:=@%+-]+$/.test(w) ? w : `"${w.replace(/(["\\])/g, "\\$1")}"`)).join(" ");
                agent.writeConfig();
                await agent.start();
        });
        after(async () => {
                await agent?.stop();
                for (const pid of spawned.concat(sleepers())) {
                        try {
                                process.kill(pid, "SIGKILL");
                        } catch {}
                }
        });

        it("are killed when the child is replaced", async () => {
                const [first] = await waitFor(() => sleepers().length === 1 && sleepers(), "first sleeper");
                spawned.push(first);
                assert.ok(pidAlive(first));
                await agent.replace();
                await waitFor(() => !pidAlive(first), "first sleeper gone after the replacement");
                await waitFor(() => sleepers().length === 2, "the replacement's sleeper");
                assert.ok(pidAlive(sleepers()[1]), "the new child's own process lives");
        });

        it("are killed when the child crashes", async () => {
                const child = await agent.child();
                const mine = sleepers()[1];
                process.kill(child.pid, "SIGKILL");
                await waitFor(() => !pidAlive(mine), "sleeper gone after the crash");
                await agent.waitChild((c) => c.state === "running" && c.pid !== child.pid, "restarted child");
        });

        it("are killed when the agent stops", async () => {
                const last = await waitFor(() => sleepers().length === 3 && sleepers()[2], "third sleeper");
                assert.ok(pidAlive(last));
                agent.proc.kill("SIGTERM");
                await agent.exited;
                await waitFor(() => !pidAlive(last), "sleeper gone after the agent stopped");
                assert.ok(agent.log.some((l) => l.includes("Killed what signer")), "logged");
        });
});
