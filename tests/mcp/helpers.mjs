// SPDX-License-Identifier: MIT
// Shared harness of the MCP tests: a real agv-agent with a temp config, its
// control socket, and official-SDK clients over `agv-agent mcp`.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.AGV_SOURCE_DIR ?? path.resolve(here, "../..");
export const AGENT = process.env.AGV_AGENT ?? path.join(SOURCE_DIR, "build/agv-agent");
export const DEMO = path.join(SOURCE_DIR, "contrib/demo-signer/demo-signer.mjs");
export const SDK_SERVER = path.join(here, "sdk-server.mjs");
export const NODE = process.execPath;
// Sanitizer builds are slower; scale waits, never assert on time.
export const SLOW = process.env.AGV_SANITIZE === "1" || process.env.AGV_SANITIZE === "ON" ? 4 : 1;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(pred, what, timeoutMs = 15000 * SLOW) {
        const end = Date.now() + timeoutMs;
        let last;
        while (Date.now() < end) {
                try {
                        last = await pred();
                        if (last) return last;
                } catch (e) {
                        last = e;
                }
                await sleep(20);
        }
        throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

function primaryGroup() {
        const gid = os.userInfo().gid;
        for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
                const f = line.split(":");
                if (f.length >= 3 && Number(f[2]) === gid) return f[0];
        }
        return String(gid);
}

function quote(words) {
        return words.map((w) => (/^[A-Za-z0-9_\/.,:=@%+-]+$/.test(w) ? w : `"${w.replace(/(["\\])/g, "\\$1")}"`)).join(" ");
}

export class Agent {
        constructor({ command, child = {}, agent = {} } = {}) {
                this.dir = mkdtempSync(path.join(os.tmpdir(), "agv-mcp-"));
                this.socket = path.join(this.dir, "agent.sock");
                this.mcpSocket = path.join(this.dir, "mcp.sock");
                this.configPath = path.join(this.dir, "agent.conf");
                this.logPath = path.join(this.dir, "agent.log");
                this.command = command ?? [NODE, DEMO];
                this.sections = {
                        agent: { socket: this.socket, state_dir: this.dir, log_level: "debug", socket_group: primaryGroup(), ...agent },
                        pki: { dir: path.join(this.dir, "pki"), group: primaryGroup(), rescan_interval: "1h" },
                        child: {
                                command: quote(this.command),
                                mcp_socket: this.mcpSocket,
                                ping_interval: "1s",
                                ping_timeout: "500ms",
                                stop_timeout: "1s",
                                restart_backoff_max: "200ms",
                                drain_timeout: "2s",
                                ...child,
                        },
                };
                this.writeConfig();
                this.log = [];
        }

        writeConfig() {
                let text = "";
                for (const [sec, keys] of Object.entries(this.sections)) {
                        text += `[${sec}]\n`;
                        for (const [k, v] of Object.entries(keys)) if (v !== undefined && v !== null) text += `${k} = ${v}\n`;
                }
                writeFileSync(this.configPath, text);
        }

        async start({ waitState = "running", timeoutMs } = {}) {
                this.proc = spawn(AGENT, ["run", "--config", this.configPath], {
                        stdio: ["ignore", "pipe", "pipe"],
                        env: { ...process.env, JOURNAL_STREAM: "", NOTIFY_SOCKET: "" },
                });
                this.exited = new Promise((r) => this.proc.on("exit", (code, sig) => r({ code, sig })));
                const collect = (d) => this.log.push(...d.toString().split("\n").filter(Boolean));
                this.proc.stdout.on("data", collect);
                this.proc.stderr.on("data", collect);
                await waitFor(() => existsSync(this.socket), "control socket");
                if (waitState) await this.waitChild((c) => c.state === waitState, `child ${waitState}`, timeoutMs);
                return this;
        }

        control(command, args = {}) {
                return new Promise((resolve, reject) => {
                        const s = net.connect(this.socket);
                        let buf = "";
                        s.on("connect", () => s.write(JSON.stringify({ command, ...args }) + "\n"));
                        s.on("data", (d) => {
                                buf += d;
                                const nl = buf.indexOf("\n");
                                if (nl >= 0) {
                                        s.destroy();
                                        const r = JSON.parse(buf.slice(0, nl));
                                        if (r.ok) resolve(r.result);
                                        else reject(Object.assign(new Error(r.error.message), { code: r.error.code }));
                                }
                        });
                        s.on("error", reject);
                });
        }

        async status() {
                return this.control("status");
        }

        async child() {
                return (await this.status()).child;
        }

        async waitChild(pred, what, timeoutMs) {
                return waitFor(async () => {
                        const c = await this.child();
                        return c && pred(c) ? c : false;
                }, what, timeoutMs);
        }

        // Replace the child and wait until the replacement serves.
        async replace(timeoutMs) {
                const before = (await this.child()).replacements;
                await this.control("restart-child");
                return this.waitChild((c) => c.replacements > before && c.state === "running", "replacement", timeoutMs);
        }

        async client(name = "test-client") {
                const transport = new StdioClientTransport({
                        command: AGENT,
                        args: ["mcp", "--socket", this.mcpSocket],
                        stderr: "pipe",
                });
                const client = new Client({ name, version: "1.0.0" }, { capabilities: { sampling: {} } });
                client.closed = false;
                client.onclose = () => (client.closed = true);
                await client.connect(transport);
                (this.clients ??= []).push(client);
                return client;
        }

        // Direct children of the agent that are zombies (must stay empty).
        zombies() {
                const out = [];
                const pid = this.proc.pid;
                for (const t of readdirSync(`/proc/${pid}/task`)) {
                        let kids = "";
                        try {
                                kids = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8");
                        } catch {}
                        for (const k of kids.split(" ").filter(Boolean)) {
                                try {
                                        const st = readFileSync(`/proc/${k}/stat`, "utf8");
                                        if (st.slice(st.lastIndexOf(")") + 2).startsWith("Z")) out.push(Number(k));
                                } catch {}
                        }
                }
                return out;
        }

        childPids() {
                const pid = this.proc.pid;
                const out = [];
                for (const t of readdirSync(`/proc/${pid}/task`)) {
                        try {
                                out.push(...readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").split(" ").filter(Boolean).map(Number));
                        } catch {}
                }
                return out;
        }

        async stop() {
                for (const c of this.clients ?? []) await c.close().catch(() => {});
                if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
                        this.proc.kill("SIGTERM");
                        const t = setTimeout(() => this.proc.kill("SIGKILL"), 20000 * SLOW);
                        await this.exited;
                        clearTimeout(t);
                }
                rmSync(this.dir, { recursive: true, force: true });
        }
}

export function pidAlive(pid) {
        try {
                process.kill(pid, 0);
                const st = readFileSync(`/proc/${pid}/stat`, "utf8");
                return !st.slice(st.lastIndexOf(")") + 2).startsWith("Z");
        } catch {
                return false;
        }
}

export const textOf = (r) => r.content[0].text;
