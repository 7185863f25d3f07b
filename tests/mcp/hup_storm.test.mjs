// SPDX-License-Identifier: MIT
// A storm of SIGHUPs with an unchanged configuration (issue 11, defect 9):
// no health probe per reload, the child is not replaced, every reload is
// applied, and the signer keeps answering.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Agent, sleep, textOf, waitFor } from "./helpers.mjs";

describe("repeated SIGHUPs", () => {
        let agent;
        before(async () => {
                agent = await new Agent({ child: { health_tool: "health_check", health_interval: "1h" } }).start();
        });
        after(async () => await agent?.stop());

        it("start no health probe each", async () => {
                const first = await agent.waitChild((c) => c.health && c.health.checked_at, "first health probe");
                const reloads = () => agent.log.filter((l) => l.includes("Configuration reloaded")).length;
                // checked_at has whole seconds: let one pass so a new probe would show
                await waitFor(() => new Date().toISOString().slice(0, 19) + "Z" > first.health.checked_at, "next second");
                const before = reloads();
                for (let i = 0; i < 200; i++) {
                        agent.proc.kill("SIGHUP");
                        await sleep(2);
                }
                // signals coalesce in the kernel; at least some reloads ran
                await waitFor(() => reloads() > before, "reloads");
                const c = await agent.child();
                assert.equal(c.pid, first.pid, "the child was not replaced");
                assert.equal(c.health.checked_at, first.health.checked_at, "a reload started a health probe");
                const client = await agent.client();
                assert.ok(textOf(await client.callTool({ name: "get_address", arguments: {} })).length > 0);
        });
});
