// SPDX-License-Identifier: MIT
// A reload that changes [child] replaces the child without downtime; one
// that does not change it leaves the child alone; removing the command
// stops the child.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Agent, pidAlive, textOf, waitFor } from "./helpers.mjs";

describe("reload", () => {
        let agent;
        before(async () => {
                agent = await new Agent({ child: { environment: "MODE=one" } }).start();
        });
        after(async () => agent?.stop());

        it("replaces the child when its configuration changes, keeping clients", async () => {
                const c = await agent.client();
                const who = async () => JSON.parse(textOf(await c.callTool({ name: "whoami", arguments: {} })));
                assert.equal((await who()).env.MODE, "one");
                const first = (await agent.child()).pid;

                // unchanged [child]: nothing happens
                await agent.control("reload");
                assert.equal((await agent.child()).pid, first);

                agent.sections.child.environment = "MODE=two";
                agent.writeConfig();
                await agent.control("reload");
                const child = await agent.waitChild((ch) => ch.replacements === 1 && ch.state === "running", "replacement");
                assert.notEqual(child.pid, first);
                assert.equal((await who()).env.MODE, "two");
                assert.equal(c.closed, false);
                await waitFor(() => !pidAlive(first), "old child gone");
        });

        it("stops the child when the command is removed", async () => {
                const pid = (await agent.child()).pid;
                agent.sections.child.command = "";
                agent.writeConfig();
                await agent.control("reload");
                await waitFor(() => !pidAlive(pid), "child stopped");
                await waitFor(async () => (await agent.status()).child === null, "no child section");
        });
});
