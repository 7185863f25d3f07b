// SPDX-License-Identifier: MIT
// The real signer (agentic-vault-mcp, installed by contrib/real-signer.sh)
// under agv-agent, against the tests' own KMS stand-in (tests/aws/
// kms_standin.py, which checks every request's SigV4 signature), plus an
// OpenSSL-made PKI for renewals.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Agent, SOURCE_DIR } from "./helpers.mjs";

export const SIGNER_PREFIX = process.env.AGV_REAL_SIGNER_PREFIX ?? path.join(SOURCE_DIR, "build/real-signer");
export const SIGNER_BIN = path.join(SIGNER_PREFIX, "bin/agentic-vault-mcp");
const KMS_STANDIN = path.join(SOURCE_DIR, "tests/aws/kms_standin.py");
export const KEY_ID = "alias/agentic-vault-signer";
export const REGION = "eu-west-1";
export const ACCESS_KEY = "AKIAAGVTESTSTATIC01";
const SECRET_KEY = "agv-test-secret-" + process.pid;

// Why the real-signer tests skip, or null when they can run.
export function signerUnavailable() {
        if (existsSync(SIGNER_BIN)) return null;
        const why = path.join(SIGNER_PREFIX, "UNAVAILABLE");
        return `the real signer is not installed in ${SIGNER_PREFIX}: ${existsSync(why) ? readFileSync(why, "utf8").trim() : "run contrib/real-signer.sh"}`;
}

// viem from the signer's own dependencies: the tests recover signers' addresses with it.
export async function viem() {
        return import(pathToFileURL(path.join(SIGNER_PREFIX, "lib/node_modules/@agenticvault/agentic-vault/node_modules/viem/_esm/index.js")).href);
}

export class Kms {
        // credsFile alone: only the credentials listed there (e.g. the ones a
        // Roles Anywhere stand-in issued) are accepted, no static ones.
        async start({ credsFile } = {}) {
                const args = [KMS_STANDIN, "--region", REGION, "--key-id", KEY_ID];
                if (credsFile) args.push("--creds-file", credsFile);
                else args.push("--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY);
                this.proc = spawn("/usr/bin/python3", args, { stdio: ["ignore", "pipe", "inherit"] });
                const first = await new Promise((resolve, reject) => {
                        let buf = "";
                        this.proc.stdout.on("data", (d) => {
                                buf += d;
                                const nl = buf.indexOf("\n");
                                if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
                        });
                        this.proc.on("exit", (code) => reject(new Error(`kms stand-in exited (${code})`)));
                });
                Object.assign(this, first);
                this.url = `http://127.0.0.1:${this.port}`;
                return this;
        }

        // The environment that gives the signer the static test credentials.
        staticEnv() {
                return `AWS_ENDPOINT_URL_KMS=${this.url} AWS_ACCESS_KEY_ID=${ACCESS_KEY} AWS_SECRET_ACCESS_KEY=${SECRET_KEY} AWS_REGION=${REGION}`;
        }

        async stats() {
                return (await fetch(`${this.url}/_standin/stats`)).json();
        }

        async fault(op, count = 1, type = "KMSInternalException") {
                await fetch(`${this.url}/_standin/fault?op=${op}&count=${count}&type=${type}`, { method: "POST" });
        }

        async delay(op, ms) {
                await fetch(`${this.url}/_standin/delay?op=${op}&ms=${ms}`, { method: "POST" });
        }

        stop() {
                this.proc?.kill();
        }
}

// An agent supervising the real signer; `args` are added to its command line.
export function signerAgent(kms, { args = [], child = {}, agent = {}, expected = true } = {}) {
        const command = [SIGNER_BIN, "--key-id", KEY_ID, "--region", REGION];
        if (expected) command.push("--expected-address", kms.address);
        // get_balance/send_*: an RPC endpoint on loopback that refuses (no internet)
        command.push("--rpc-url", "http://127.0.0.1:9", ...args);
        return new Agent({
                command,
                child: {
                        environment: kms.staticEnv(),
                        health_tool: "health_check",
                        health_interval: "1h",
                        restart_on_tool_failure: "health_check:1",
                        // the handshake may take max(ping_timeout, 10s): Node and
                        // the AWS SDK start slowly on a loaded machine
                        ping_interval: "60s",
                        ping_timeout: "30s",
                        stop_timeout: "3s",
                        ...child,
                },
                agent,
        });
}

// Starting the real signer (Node + AWS SDK) takes seconds, many on a loaded machine.
export const SIGNER_WAIT = 120000;

export const TOOLS = ["get_address", "health_check", "sign_swap", "sign_permit", "sign_defi_call", "get_balance", "send_transfer", "send_erc20_transfer"];
export const UNSAFE_TOOLS = ["sign_transaction", "sign_typed_data"];

export const TYPED = {
        domain: { name: "agv test", version: "1", chainId: 1, verifyingContract: "0x00000000000000000000000000000000000000aa" },
        types: { Mail: [{ name: "contents", type: "string" }] },
        primaryType: "Mail",
        message: { contents: "hello" },
};

// A CA and a client pair made with the openssl CLI; renew() installs a new
// pair the deployment guide's way (certificate, then key, then chown).
export class Pki {
        constructor(dir, group) {
                this.dir = dir;
                this.work = path.join(dir, "..", "pki-work");
                this.group = group;
                this.serial = 1;
                mkdirSync(this.dir, { recursive: true, mode: 0o755 });
                mkdirSync(this.work, { recursive: true });
                const o = (...a) => execFileSync("openssl", a, { cwd: this.work, stdio: ["ignore", "ignore", "pipe"] });
                this.openssl = o;
                o("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=agv test CA", "-days", "30",
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
                execFileSync("install", ["-m", "444", path.join(this.work, "ca.pem"), path.join(this.dir, "ca.pem")]);
                this.renew();
        }

        renew() {
                const n = this.serial++;
                this.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `c${n}.key`, "-out", `c${n}.csr`, "-subj", `/CN=agv test vm ${n}`);
                writeFileSync(path.join(this.work, "client.ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n");
                this.openssl("x509", "-req", "-in", `c${n}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-out", `c${n}.crt`, "-days", "20", "-set_serial", String(1000 + n),
                             "-extfile", "client.ext");
                execFileSync("install", ["-m", "444", path.join(this.work, `c${n}.crt`), path.join(this.dir, "client.crt")]);
                execFileSync("install", ["-m", "440", path.join(this.work, `c${n}.key`), path.join(this.dir, "client.key")]);
                execFileSync("chown", [`root:${this.group}`, path.join(this.dir, "client.key")]);
                return 1000 + n;
        }

        remove() {
                rmSync(this.work, { recursive: true, force: true });
        }
}
