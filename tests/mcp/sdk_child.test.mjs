// SPDX-License-Identifier: MIT
// An SDK-written server (low-level Server class) as the child: list_changed
// broadcast, and child-initiated requests (sampling) routed to the one
// client, refused with a documented error when several are attached.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateMessageRequestSchema, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { Agent, NODE, SDK_SERVER, textOf, waitFor } from "./helpers.mjs";

describe("SDK-written server as the child", () => {
        let agent;
        before(async () => {
                agent = await new Agent({ command: [NODE, SDK_SERVER] }).start();
        });
        after(async () => agent?.stop());

        it("serves its tools with its own serverInfo", async () => {
                const c = await agent.client();
                assert.deepEqual(c.getServerVersion(), { name: "agv-test-sdk-server", version: "2.0.0" });
                assert.equal(textOf(await c.callTool({ name: "add", arguments: { a: 2, b: 40 } })), "42");
        });

        it("routes a child-initiated request to the single client", async () => {
                const c = await agent.client("sampler");
                c.setRequestHandler(CreateMessageRequestSchema, async () => ({
                        model: "test",
                        role: "assistant",
                        content: { type: "text", text: "pong" },
                }));
                // other clients of earlier tests must be gone for "exactly one"
                for (const o of agent.clients) if (o !== c) await o.close();
                await waitFor(async () => (await agent.child()).clients === 1, "one client");
                const r = await c.callTool({ name: "ask_client", arguments: {} });
                assert.equal(textOf(r), "client said: pong");
        });

        it("refuses child-initiated requests when several clients are attached, and broadcasts list_changed", async () => {
                const a = await agent.client("a");
                const b = await agent.client("b");
                const changed = { a: 0, b: 0 };
                a.setNotificationHandler(ToolListChangedNotificationSchema, () => changed.a++);
                b.setNotificationHandler(ToolListChangedNotificationSchema, () => changed.b++);
                await waitFor(async () => (await agent.child()).clients >= 2, "two clients");
                const r = await a.callTool({ name: "ask_client", arguments: {} });
                assert.equal(r.isError, true);
                assert.match(textOf(r), /-32012/);
                await a.callTool({ name: "add_tool", arguments: {} });
                await waitFor(() => changed.a === 1 && changed.b === 1, "list_changed on both clients");
                const names = (await b.listTools()).tools.map((t) => t.name);
                assert.ok(names.some((n) => n.startsWith("extra_")));
        });
});
