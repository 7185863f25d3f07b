// SPDX-License-Identifier: MIT
// How the child is started: clean environment plus [child] environment,
// working directory, umask, own process group, no_new_privs, no inherited
// agent fds, stderr audit lines in the agent's log.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { Agent, textOf, waitFor } from "./helpers.mjs";

function fdTargets(pid) {
        const out = new Set();
        for (const fd of readdirSync(`/proc/${pid}/fd`)) {
                try {
                        out.add(readlinkSync(`/proc/${pid}/fd/${fd}`));
                } catch {}
        }
        return out;
}

describe("spawning the child", () => {
        let agent;
        before(async () => {
                process.env.AGV_LEAK_CHECK = "must-not-reach-the-child";
                agent = await new Agent({
                        child: { environment: '"GREETING=hello world" KEY_ID=alias/test', working_directory: "/tmp", umask: "0027" },
                }).start();
        });
        after(async () => {
                delete process.env.AGV_LEAK_CHECK;
                await agent?.stop();
        });

        it("gets a clean environment plus the configured one, cwd and umask", async () => {
                const c = await agent.client();
                const me = JSON.parse(textOf(await c.callTool({ name: "whoami", arguments: {} })));
                assert.equal(me.env.GREETING, "hello world");
                assert.equal(me.env.KEY_ID, "alias/test");
                assert.ok(me.env.PATH);
                assert.equal(me.env.AGV_LEAK_CHECK, undefined, "agent environment leaked");
                assert.equal(me.env.NOTIFY_SOCKET, undefined);
                assert.equal(me.cwd, "/tmp");
                assert.equal(me.umask, 0o027);
                assert.equal(me.ppid, agent.proc.pid);
        });

        it("runs in its own process group with no_new_privs and no agent fds", async () => {
                const pid = (await agent.child()).pid;
                const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
                const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
                assert.equal(Number(fields[2]), pid, "process group leader");
                assert.equal(Number(fields[3]), pid, "session leader");
                assert.match(readFileSync(`/proc/${pid}/status`, "utf8"), /NoNewPrivs:\s+1/);
                const agentFds = [...fdTargets(agent.proc.pid)].filter((t) => t.startsWith("socket:") || t.startsWith("anon_inode:[pidfd]") || t.includes("agent.log"));
                const childFds = fdTargets(pid);
                for (const t of agentFds) if (t.startsWith("socket:")) assert.ok(!childFds.has(t), `child inherited ${t}`);
        });

        it("puts the child's JSON audit lines in the agent's log", async () => {
                await waitFor(() => agent.log.some((l) => /signer\[\d+\]: demo signer started/.test(l)), "audit line");
        });
});
