#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// A second child written with the SDK's low-level Server (not the demo's
// McpServer): proves the agent serves any SDK server. Tools:
//   add            {a,b} -> a+b
//   add_tool       registers a new tool and sends tools/list_changed
//   ask_client     sends sampling/createMessage to the client
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const tools = [
        { name: "add", description: "a+b", inputSchema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } } } },
        { name: "add_tool", description: "register a tool", inputSchema: { type: "object", properties: {} } },
        { name: "ask_client", description: "sampling round trip", inputSchema: { type: "object", properties: {} } },
];
const server = new Server({ name: "agv-test-sdk-server", version: "2.0.0" }, { capabilities: { tools: { listChanged: true } } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
server.setRequestHandler(CallToolRequestSchema, async (req) => {
        const { name, arguments: args } = req.params;
        const text = (t) => ({ content: [{ type: "text", text: String(t) }] });
        if (name === "add") return text(args.a + args.b);
        if (name === "add_tool") {
                tools.push({ name: `extra_${tools.length}`, description: "added", inputSchema: { type: "object", properties: {} } });
                await server.sendToolListChanged();
                return text("added");
        }
        if (name === "ask_client") {
                try {
                        const r = await server.createMessage({ messages: [{ role: "user", content: { type: "text", text: "hi" } }], maxTokens: 5 });
                        return text(`client said: ${r.content.text}`);
                } catch (e) {
                        return { content: [{ type: "text", text: `error ${e.code}: ${e.message}` }], isError: true };
                }
        }
        return { content: [{ type: "text", text: `unknown tool ${name}` }], isError: true };
});
process.stdin.on("end", () => process.exit(0));
await server.connect(new StdioServerTransport());
