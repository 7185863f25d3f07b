// SPDX-License-Identifier: MIT
// The real signer (agentic-vault-mcp from @agenticvault/agentic-vault)
// under agv-agent, through `agv-agent mcp` with the official SDK client,
// against the tests' KMS stand-in (which checks every request's SigV4
// signature). Skips, saying why, when contrib/real-signer.sh could not
// install the signer.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { AGENT, SOURCE_DIR, pidAlive, textOf, waitFor } from "./helpers.mjs";
import { ACCESS_KEY, Kms, Pki, SIGNER_BIN, SIGNER_WAIT, TOOLS, TYPED, UNSAFE_TOOLS, signerAgent, signerUnavailable, viem } from "./real-signer.mjs";

const skip = signerUnavailable();
if (skip) console.log(`# SKIP real-signer tests: ${skip}`);
const childWarnings = (st) => st.reasons.filter((r) => r.code.startsWith("child_") && r.level !== "ok");
const sigHex = ({ r, s, v }) => `${r}${s.slice(2)}${v.toString(16).padStart(2, "0")}`;

describe("the real signer under the agent", { skip: skip ?? false }, () => {
        let kms, agent, v;
        before(async () => {
                kms = await new Kms().start();
                v = await viem();
        });
        after(() => kms?.stop());
        afterEach(async () => {
                await kms.delay("Sign", 0);
                await agent?.stop();
                agent = null;
        });

        // Every tool once; the ones that need a chain or a policy answer with the
        // signer's own refusal, which is counted and logged readably.
        it("serves every tool; audit lines are mapped and counted; the KMS saw only signed requests", async () => {
                agent = await signerAgent(kms).start({ timeoutMs: SIGNER_WAIT });
                const c = await agent.client();
                const names = (await c.listTools()).tools.map((t) => t.name).sort();
                assert.deepEqual(names, [...TOOLS].sort());
                assert.equal(textOf(await c.callTool({ name: "get_address", arguments: {} })).toLowerCase(), kms.address);
                assert.match(textOf(await c.callTool({ name: "health_check", arguments: {} })), /healthy/);

                const permit = await c.callTool({
                        name: "sign_permit",
                        arguments: {
                                chainId: 1, token: "0x00000000000000000000000000000000000000bb", spender: "0x00000000000000000000000000000000000000cc",
                                value: "1000", deadline: Math.floor(Date.now() / 1000) + 600, domain: TYPED.domain,
                                types: { Permit: [{ name: "owner", type: "address" }] }, message: { value: "1000" },
                        },
                });
                assert.equal(permit.isError, true);
                assert.match(textOf(permit), /Policy denied/);
                const tx = { chainId: 1, to: "0x00000000000000000000000000000000000000dd", data: "0xa9059cbb" };
                for (const name of ["sign_swap", "sign_defi_call"]) assert.equal((await c.callTool({ name, arguments: tx })).isError, true, name);
                assert.equal((await c.callTool({ name: "get_balance", arguments: { chainId: 1 } })).isError, true);
                assert.equal((await c.callTool({ name: "send_transfer", arguments: { chainId: 1, to: tx.to, value: "1" } })).isError, true);
                assert.equal((await c.callTool({ name: "send_erc20_transfer", arguments: { chainId: 1, token: tx.to, to: tx.to, amount: "1" } })).isError, true);

                const child = await agent.waitChild((ch) => ch.audit.denied >= 1 && ch.audit.errors >= 1 && ch.audit.approved >= 2, "audit counts", SIGNER_WAIT);
                assert.ok(agent.log.some((l) => l.startsWith(`WARNING: signer[${child.pid}]: sign_permit denied by policy: `)), "denied line");
                assert.ok(agent.log.some((l) => l.startsWith(`INFO: signer[${child.pid}]: get_address approved: Retrieved wallet address`)));
                // Node 20's AWS SDK warning is logged, not fatal
                assert.equal(child.restarts, 0);
                assert.equal(child.health.ok, true);
                assert.equal(child.health.pid, child.pid);
                const { text } = await agent.control("metrics");
                assert.match(text, /agv_child_audit_total\{result="denied"\} [1-9]/);
                const st = await kms.stats();
                assert.deepEqual(Object.keys(st.by_key), [ACCESS_KEY]);
                assert.deepEqual(st.refused, {});
        });

        it("a reload adding --unsafe-raw-sign tells clients (8 -> 10 tools); raw signatures recover to the KMS key", async () => {
                agent = await signerAgent(kms).start({ timeoutMs: SIGNER_WAIT });
                const c = await agent.client();
                let changed = 0;
                c.setNotificationHandler(ToolListChangedNotificationSchema, () => changed++);
                assert.equal((await c.listTools()).tools.length, 8);
                agent.sections.child.command += " --unsafe-raw-sign";
                agent.writeConfig();
                await agent.control("reload");
                await waitFor(() => changed === 1, "tools/list_changed", SIGNER_WAIT);
                const names = (await c.listTools()).tools.map((t) => t.name);
                assert.equal(names.length, 10);
                for (const t of UNSAFE_TOOLS) assert.ok(names.includes(t), t);

                const sig = JSON.parse(textOf(await c.callTool({ name: "sign_typed_data", arguments: TYPED })));
                const who = await v.recoverTypedDataAddress({ ...TYPED, signature: sigHex(sig) });
                assert.equal(who.toLowerCase(), kms.address);
                const signed = textOf(await c.callTool({ name: "sign_transaction", arguments: { chainId: 1, to: "0x00000000000000000000000000000000000000dd", value: "1", nonce: 0, gas: "21000", maxFeePerGas: "1", maxPriorityFeePerGas: "1" } }));
                assert.equal((await v.recoverTransactionAddress({ serializedTransaction: signed })).toLowerCase(), kms.address);
                assert.ok((await kms.stats()).ok.Sign >= 2);
        });

        it("4 clients, 20 replacements and 3 renewals under load: 0 failed calls", async () => {
                agent = signerAgent(kms, { args: ["--unsafe-raw-sign"], child: { on_renewal: "restart", drain_timeout: "30s" } });
                agent.sections.pki = { ...agent.sections.pki, owner: "root", ca_bundle: "ca.pem", renewal_grace: "30s" };
                const pki = new Pki(agent.sections.pki.dir, agent.sections.pki.group);
                agent.writeConfig();
                await agent.start({ timeoutMs: SIGNER_WAIT });
                const serial = async () => (await agent.status()).certificate?.serial;
                await waitFor(async () => (await agent.status()).certificate?.generation >= 1, "certificate active");

                const clients = await Promise.all([0, 1, 2, 3].map((i) => agent.client(`load-${i}`)));
                let stop = false, ok = 0;
                const failures = [];
                const calls = [
                        async (c) => assert.equal(textOf(await c.callTool({ name: "get_address", arguments: {} })).toLowerCase(), kms.address),
                        async (c) => assert.match(textOf(await c.callTool({ name: "health_check", arguments: {} })), /healthy/),
                        async (c) => {
                                const r = await c.callTool({ name: "sign_typed_data", arguments: TYPED });
                                assert.equal((await v.recoverTypedDataAddress({ ...TYPED, signature: sigHex(JSON.parse(textOf(r))) })).toLowerCase(), kms.address);
                        },
                ];
                const loops = clients.map(async (c, i) => {
                        for (let n = i; !stop; n++) {
                                try {
                                        await calls[n % calls.length](c);
                                        ok++;
                                } catch (e) {
                                        failures.push(`${i}/${n}: ${e.message}`);
                                }
                        }
                });
                for (let i = 0; i < 20; i++) {
                        await agent.replace(SIGNER_WAIT);
                        if (i % 7 === 3) {
                                const before = (await agent.child()).replacements, old = await serial();
                                pki.renew();
                                await agent.waitChild((ch) => ch.replacements > before && ch.state === "running", "replacement after renewal", SIGNER_WAIT);
                                assert.notEqual(await serial(), old);
                        }
                }
                stop = true;
                await Promise.all(loops);
                pki.remove();
                const child = await agent.child();
                assert.deepEqual(failures, []);
                assert.ok(child.replacements >= 23, `replacements ${child.replacements}`);
                assert.equal(child.restarts, 0);
                assert.ok(ok >= 23, `calls ${ok}`);
                for (const c of clients) assert.equal(c.closed, false);
                assert.deepEqual((await kms.stats()).refused, {});
        });

        // The signer memoizes a failed address lookup: every signing tool fails
        // until it is restarted. health_check with --expected-address sees it,
        // and restart_on_tool_failure = health_check:1 replaces the child.
        it("recovers from the memoized address failure via restart_on_tool_failure", async () => {
                // not retried by the SDK, like a role missing kms:GetPublicKey for a moment
                await kms.fault("GetPublicKey", 1, "AccessDeniedException");
                agent = signerAgent(kms, { args: ["--unsafe-raw-sign"], child: { on_renewal: "restart" } });
                await agent.start({ timeoutMs: SIGNER_WAIT });
                const child = await agent.waitChild((ch) => ch.replacements >= 1 && ch.health.ok === true && ch.health.pid === ch.pid, "replaced and healthy", SIGNER_WAIT);
                assert.ok(agent.log.some((l) => /Replacing the signer: tool health_check failed 1 times in a row/.test(l)));
                assert.equal((await kms.stats()).faults >= 1, true);
                const c = await agent.client();
                const sig = JSON.parse(textOf(await c.callTool({ name: "sign_typed_data", arguments: TYPED })));
                assert.equal((await v.recoverTypedDataAddress({ ...TYPED, signature: sigHex(sig) })).toLowerCase(), kms.address);
                assert.deepEqual(childWarnings(await agent.status()), []);
                assert.ok(child);
        });

        it("defect 1: after a SIGKILL and automatic restart no warning remains", async () => {
                agent = await signerAgent(kms).start({ timeoutMs: SIGNER_WAIT });
                const first = (await agent.child()).pid;
                process.kill(first, "SIGKILL");
                await agent.waitChild((ch) => ch.state === "running" && ch.pid !== first && ch.health.ok === true, "restarted and healthy", SIGNER_WAIT);
                assert.deepEqual(childWarnings(await agent.status()), []);
                assert.equal((await agent.child()).last_error, null);
        });

        it("defect 2: a replacement without KMS access shows its own failed health, a fixed one its own ok", async () => {
                agent = await signerAgent(kms, { child: { restart_on_tool_failure: "" } }).start({ timeoutMs: SIGNER_WAIT });
                const good = await agent.waitChild((ch) => ch.health.ok === true, "healthy", SIGNER_WAIT);
                agent.sections.child.environment = kms.staticEnv().replace(/AWS_SECRET_ACCESS_KEY=\S+/, "AWS_SECRET_ACCESS_KEY=wrong");
                agent.writeConfig();
                await agent.control("reload");
                const bad = await agent.waitChild((ch) => ch.pid !== good.pid && ch.health.ok === false, "replacement's failed health", SIGNER_WAIT);
                assert.equal(bad.health.pid, bad.pid);
                assert.match(bad.health.message, /signature we calculated does not match/);
                assert.ok((await kms.stats()).refused.InvalidSignatureException >= 1);
                agent.sections.child.environment = kms.staticEnv();
                agent.writeConfig();
                await agent.control("reload");
                const fixed = await agent.waitChild((ch) => ch.pid !== bad.pid && ch.health.ok === true, "fixed", SIGNER_WAIT);
                assert.equal(fixed.health.pid, fixed.pid);
                assert.deepEqual(childWarnings(await agent.status()), []);
        });

        it("defect 3: a signer that dies at start is reported with its exit status and its own error line", async () => {
                agent = await signerAgent(kms).start({ timeoutMs: SIGNER_WAIT });
                const pid = (await agent.child()).pid;
                // a replacement without --key-id: the signer prints its fatal line and exits 1
                agent.sections.child.command = SIGNER_BIN;
                agent.writeConfig();
                await agent.control("reload");
                const child = await agent.waitChild((ch) => /--key-id or VAULT_KEY_ID/.test(ch.last_error ?? ""), "replacement failure with the signer's reason", SIGNER_WAIT);
                assert.match(child.last_error, /exit code 1/);
                assert.equal(child.pid, pid, "the old child keeps serving");
                assert.ok(agent.log.some((l) => /^WARNING: Signer child \d+ exited unexpectedly \(exit code 1\); its last error: --key-id or VAULT_KEY_ID/.test(l)));
                assert.ok(childWarnings(await agent.status()).some((r) => r.code === "child_replacement_failed"));
                process.kill(pid, "SIGKILL");
                await waitFor(() => agent.log.includes(`WARNING: Signer child ${pid} exited unexpectedly (signal SIGKILL)`), "SIGKILL warning");
        });

        it("defect 5: signatures in flight when the agent stops are delivered", async () => {
                agent = await signerAgent(kms, { args: ["--unsafe-raw-sign"], child: { drain_timeout: "20s" } }).start({ timeoutMs: SIGNER_WAIT });
                const c = await agent.client();
                await c.callTool({ name: "get_address", arguments: {} }); // address known: the calls below only Sign
                await kms.delay("Sign", 1500);
                const pending = [0, 1, 2].map(() => c.callTool({ name: "sign_typed_data", arguments: TYPED }));
                await agent.waitChild((ch) => ch.requests_in_flight >= 3, "in flight", SIGNER_WAIT);
                const pid = (await agent.child()).pid;
                agent.proc.kill("SIGTERM");
                for (const r of await Promise.allSettled(pending)) {
                        assert.equal(r.status, "fulfilled", r.reason?.message);
                        const sig = JSON.parse(textOf(r.value));
                        assert.equal((await v.recoverTypedDataAddress({ ...TYPED, signature: sigHex(sig) })).toLowerCase(), kms.address);
                }
                assert.equal((await agent.exited).code, 0);
                await waitFor(() => !pidAlive(pid), "signer gone");
        });

        it("status shows the signer's own uptime", async () => {
                agent = await signerAgent(kms).start({ timeoutMs: SIGNER_WAIT });
                await agent.waitChild((ch) => ch.uptime_s >= 2, "signer up 2s", SIGNER_WAIT);
                await agent.replace(SIGNER_WAIT);
                const st = await agent.status();
                // the new signer's age (started_at has whole seconds), not the agent's
                const age = (Date.now() - Date.parse(st.child.started_at)) / 1000;
                assert.ok(Math.abs(st.child.uptime_s - age) <= 2, `uptime ${st.child.uptime_s}s, started ${age}s ago`);
                assert.ok(st.uptime_s > st.child.uptime_s, `agent ${st.uptime_s}s, signer ${st.child.uptime_s}s`);
                // exit status 2: the harness has no PKI (critical); the text is what counts here
                const out = spawnSync(AGENT, ["status", "--socket", agent.socket], { encoding: "utf8" }).stdout;
                assert.match(out, /\(agent up \d+s\)/);
                assert.match(out, /^signer +running, pid \d+, up \d+s/m);
        });
});

// End to end: the signer gets its AWS credentials only from the agent (its
// [credentials] exchange with the tests' Roles Anywhere stand-in, the
// agent-made AWS config and `agv-agent credential-process`), and the KMS
// stand-in accepts only SigV4 signatures made with credentials that stand-in
// issued (checked by the stand-ins, independently of the agent).
const RA_STANDIN = path.join(SOURCE_DIR, "tests/integration/rolesanywhere.py");
describe("the real signer with credentials only from the agent", { skip: skip ?? (existsSync(RA_STANDIN) ? false : "no Roles Anywhere stand-in") }, () => {
        let ra, dir, kms, agent, v;
        before(async () => {
                v = await viem();
                dir = mkdtempSync(path.join(os.tmpdir(), "agv-ra-"));
                ra = spawn("/usr/bin/python3", [RA_STANDIN, "--dir", dir], { stdio: "inherit" });
                await waitFor(() => existsSync(path.join(dir, "standin.json")), "Roles Anywhere stand-in", SIGNER_WAIT);
        });
        after(async () => {
                await agent?.stop();
                kms?.stop();
                ra?.kill();
                rmSync(dir, { recursive: true, force: true });
        });

        it("signs with credentials the Roles Anywhere stand-in issued, and no others", async () => {
                const info = JSON.parse(readFileSync(path.join(dir, "standin.json"), "utf8"));
                kms = await new Kms().start({ credsFile: info.issued });
                agent = signerAgent(kms, { args: ["--unsafe-raw-sign"], child: { on_renewal: "restart" } });
                // no AWS credentials of its own: only where to find KMS
                agent.sections.child.environment = `AWS_ENDPOINT_URL_KMS=${kms.url}`;
                agent.sections.credentials = {
                        trust_anchor_arn: info.trust_anchor_arn, profile_arn: info.profile_arn, role_arn: info.role_arn,
                        endpoint: info.url, ca_file: info.endpoint_ca,
                };
                const pkiDir = agent.sections.pki.dir;
                mkdirSync(pkiDir, { recursive: true, mode: 0o755 });
                execFileSync("install", ["-m", "444", info.client_ca, path.join(pkiDir, "ca.pem")]);
                execFileSync("install", ["-m", "444", info.client_cert, path.join(pkiDir, "client.crt")]);
                execFileSync("install", ["-m", "440", info.client_key, path.join(pkiDir, "client.key")]);
                agent.sections.pki.owner = "root";
                agent.writeConfig();
                await agent.start({ timeoutMs: SIGNER_WAIT });
                const child = await agent.waitChild((ch) => ch.health.ok === true && ch.health.pid === ch.pid, "healthy with agent credentials", SIGNER_WAIT);
                const c = await agent.client();
                const sig = JSON.parse(textOf(await c.callTool({ name: "sign_typed_data", arguments: TYPED })));
                assert.equal((await v.recoverTypedDataAddress({ ...TYPED, signature: sigHex(sig) })).toLowerCase(), kms.address);

                const issued = JSON.parse(readFileSync(info.issued, "utf8")).map((x) => x.accessKeyId);
                const st = await kms.stats();
                assert.ok(Object.keys(st.by_key).length >= 1);
                for (const k of Object.keys(st.by_key)) assert.ok(issued.includes(k), `${k} was not issued by the Roles Anywhere stand-in`);
                assert.deepEqual(st.refused, {});
                assert.ok(st.ok.Sign >= 1 && st.ok.GetPublicKey >= 1);
                // the signer's environment names no credentials: the agent's AWS config does
                const env = readFileSync(`/proc/${child.pid}/environ`, "utf8").split("\0");
                assert.ok(!env.some((e) => e.startsWith("AWS_ACCESS_KEY_ID=") || e.startsWith("AWS_SECRET_ACCESS_KEY=")), env.join(" "));
                const conf = env.find((e) => e.startsWith("AWS_CONFIG_FILE="));
                assert.ok(conf, env.join(" "));
                assert.match(readFileSync(conf.slice("AWS_CONFIG_FILE=".length), "utf8"), /credential_process = \S*agv-agent credential-process/);

                // a renewal (a new key and certificate from the same CA, the guide's way):
                // the replaced signer signs with credentials issued for the new certificate
                const o = (...a) => execFileSync("openssl", a, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
                o("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "new.key", "-out", "new.csr", "-subj", "/CN=agentic-vault-vm renewed");
                writeFileSync(path.join(dir, "client.ext"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n");
                o("x509", "-req", "-in", "new.csr", "-CA", info.client_ca, "-CAkey", info.client_ca_key, "-out", "new.crt", "-days", "30", "-set_serial", "4242", "-extfile", "client.ext");
                const before = (await agent.child()).replacements;
                execFileSync("install", ["-m", "444", path.join(dir, "new.crt"), path.join(pkiDir, "client.crt")]);
                execFileSync("install", ["-m", "440", path.join(dir, "new.key"), path.join(pkiDir, "client.key")]);
                const renewed = await agent.waitChild((ch) => ch.replacements > before && ch.health.ok === true && ch.health.pid === ch.pid, "signer replaced after the renewal", SIGNER_WAIT);
                const sig2 = JSON.parse(textOf(await c.callTool({ name: "sign_typed_data", arguments: TYPED })));
                assert.equal((await v.recoverTypedDataAddress({ ...TYPED, signature: sigHex(sig2) })).toLowerCase(), kms.address);
                const issued2 = JSON.parse(readFileSync(info.issued, "utf8"));
                const st2 = await kms.stats();
                for (const k of Object.keys(st2.by_key)) assert.ok(issued2.some((x) => x.accessKeyId === k), `${k} was not issued by the Roles Anywhere stand-in`);
                assert.deepEqual(st2.refused, {});
                const forNew = issued2.filter((x) => String(x.serial) === "4242").map((x) => x.accessKeyId);
                assert.ok(forNew.some((k) => st2.by_key[k] > 0), `KMS saw no credentials issued for the renewed certificate: ${JSON.stringify(st2.by_key)}`);
                assert.notEqual(renewed.pid, child.pid);
        });
});
