// SPDX-License-Identifier: MIT
// 100 zero-downtime replacements while clients send requests continuously:
// zero failed requests, zero disconnects.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Agent, textOf } from "./helpers.mjs";

describe("replacement without downtime", () => {
        let agent;
        before(async () => {
                agent = await new Agent({ child: { ping_interval: "5s", ping_timeout: "2s" } }).start();
        });
        after(async () => agent?.stop());

        it("100 replacements under continuous load", async () => {
                const clients = await Promise.all([0, 1, 2, 3].map((i) => agent.client(`load${i}`)));
                let stop = false, ok = 0;
                const failures = [];
                const loops = clients.map(async (c, i) => {
                        for (let k = 0; !stop; k++) {
                                const t = `${i}:${k}`;
                                try {
                                        const r = await c.callTool({ name: "sign_message", arguments: { message: t } });
                                        assert.ok(JSON.parse(textOf(r)).signature);
                                        ok++;
                                } catch (e) {
                                        failures.push(`${t}: ${e.message}`);
                                }
                        }
                });
                const pids = new Set();
                for (let n = 0; n < 100; n++) pids.add((await agent.replace()).pid);
                stop = true;
                await Promise.all(loops);
                assert.deepEqual(failures, []);
                assert.ok(ok > 100, `requests were served during the replacements (${ok})`);
                assert.equal(pids.size, 100, "each replacement is a new process");
                for (const c of clients) assert.equal(c.closed, false, "no client was disconnected");
                const child = await agent.child();
                assert.equal(child.replacements, 100);
                assert.equal(child.restarts, 0);
                assert.equal(child.state, "running");
        });
});
