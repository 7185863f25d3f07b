// An MCP client (the official TypeScript SDK from tests/mcp/node_modules)
// that keeps calling one tool of the signer until its stdin closes, then
// prints {"calls": N, "failures": N, "errors": [...], "tool": NAME} on stdout.
//
// The server command is the rest of argv; the system tests pass
// `nsenter -t PID -a -r -w agv-agent mcp`, so the calls go through the
// agent's MCP socket inside the container exactly like a local client's.
// Env: AGV_MCP_SDK (path of @modelcontextprotocol/sdk), AGV_MCP_TOOL
// (tool name; default the first tool without required arguments).

const sdk = process.env.AGV_MCP_SDK;
const { Client } = await import(`${sdk}/dist/esm/client/index.js`);
const { StdioClientTransport } = await import(`${sdk}/dist/esm/client/stdio.js`);

const [command, ...args] = process.argv.slice(2);
const transport = new StdioClientTransport({ command, args, stderr: "inherit" });
const client = new Client({ name: "agv-system-test", version: "1.0.0" });
await client.connect(transport);

const { tools } = await client.listTools();
let tool = process.env.AGV_MCP_TOOL;
if (!tool || !tools.some((t) => t.name === tool)) {
  const free = tools.find((t) => !(t.inputSchema?.required?.length));
  if (!free) {
    console.error("no tool without required arguments among", tools.map((t) => t.name));
    process.exit(2);
  }
  tool = free.name;
}

let stop = false;
process.stdin.on("end", () => { stop = true; });
process.stdin.on("close", () => { stop = true; });
process.stdin.resume();

let calls = 0;
let failures = 0;
const errors = [];
// Tell the test we are calling (it waits for this line before renewing).
process.stderr.write("mcp_loop: calling " + tool + "\n");
while (!stop) {
  calls++;
  try {
    const r = await client.callTool({ name: tool, arguments: {} });
    if (r.isError) {
      failures++;
      if (errors.length < 10) errors.push(JSON.stringify(r.content));
    }
  } catch (e) {
    failures++;
    if (errors.length < 10) errors.push(String(e && e.message || e));
  }
}
await client.close();
process.stdout.write(JSON.stringify({ calls, failures, errors, tool }) + "\n");
process.exit(0);
