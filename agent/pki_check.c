/* SPDX-License-Identifier: MIT */
/* `agv-agent check`: the daemon's assessment, offline and read-only. */
#include <getopt.h>
#include <time.h>

#include "config.h"
#include "credentials.h"
#include "log.h"
#include "pki.h"
#include "pki_renew.h"
#include "signer_check.h"
#include "strv.h"
#include "verbs.h"

/* --dir moves the files that lived in the configured directory along. */
static int rebase(char **path, const char *old_dir, const char *new_dir) {
        size_t n = strlen(old_dir);
        char *j;
        if (!*path || !strneq(*path, old_dir, n) || (*path)[n] != '/')
                return 0;
        if (asprintf(&j, "%s%s", new_dir, *path + n) < 0)
                return -ENOMEM;
        free(*path);
        *path = j;
        return 0;
}

static void print_cert(const CertInfo *c, uint64_t now) {
        char a[64], b[64];
        int64_t left = ((int64_t) c->not_after - (int64_t) now) / (int64_t) USEC_PER_SEC;
        printf("  serial       %s\n", c->serial);
        printf("  subject      %s\n", c->subject);
        printf("  issuer       %s\n", c->issuer);
        printf("  valid        %s .. %s", format_rfc3339(c->not_before, a, sizeof(a)),
               format_rfc3339(c->not_after, b, sizeof(b)));
        if (left > 0)
                printf(" (%lld days left)\n", (long long) (left / 86400));
        else
                printf(" (expired)\n");
        printf("  sha256       %s\n", c->fingerprint_sha256);
        printf("  key type     %s\n", c->key_type);
}

void pki_findings_print(FILE *out, const Findings *fs) {
        if (fs->n > 0)
                fprintf(out, "findings\n");
        for (size_t i = 0; i < fs->n; i++) {
                const Finding *f = &fs->items[i];
                fprintf(out, "  %-8s %s: %s\n           fix: %s\n", health_to_string(f->severity), f->code,
                        f->message, f->fix);
        }
}

/* The same shapes as the status sections, so scripts can share parsers. */
static void print_json(const Config *cfg, const PkiPass *pass, Health worst, const PendingRequest *pend,
                       json_object *online) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *cert = json_object_new_object(), *files = json_object_new_array();

        json_object_object_add(o, "dir", json_object_new_string(cfg->pki.dir));
        json_object_object_add(o, "state", json_object_new_string(health_to_string(worst)));
        json_object_object_add(cert, "path", json_object_new_string(cfg->pki.certificate));
        json_object_object_add(cert, "key_path", json_object_new_string(cfg->pki.private_key));
        json_object_object_add(cert, "ca_bundle", json_string_or_null(cfg->pki.ca_bundle));
        if (pass->a.cert)
                pki_cert_json(cert, &pass->a.info);
        json_object_object_add(cert, "key_matches", json_object_new_boolean(pass->a.key_matches));
        json_object_object_add(cert, "chain", json_object_new_string(chain_status_to_string(pass->a.chain)));
        json_object_object_add(cert, "chain_path", pki_chain_links_json(pass->a.links, pass->a.n_links));
        json_object_object_add(cert, "pending_request", pend ? pending_request_json(cfg->pki.dir, pend) : NULL);
        json_object_object_add(o, "certificate", cert);
        for (size_t i = 0; i < _ROLE_MAX; i++)
                if (pass->files[i].path)
                        json_object_array_add(files, pki_file_json(&pass->files[i]));
        json_object_object_add(o, "permissions", files);
        json_object_object_add(o, "findings", pki_findings_json(&pass->a.findings));
        if (online)
                json_object_object_add(o, "online", json_object_get(online));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

int verb_check(int argc, char **argv) {
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "dir", required_argument, NULL, 'd' },
                { "json", no_argument, NULL, 'j' },
                { "online", no_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *config_path = NULL, *dir = NULL;
        bool json = false, online = false;
        _cleanup_json_ json_object *online_result = NULL;
        int online_exit = 0;
        _cleanup_(config_freep) Config *cfg = NULL;
        _cleanup_(pki_pass_done) PkiPass pass = {};
        _cleanup_(pending_request_done) PendingRequest pending = {};
        bool have_pending;
        Health worst;
        uint64_t now;
        struct timespec ts;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+c:d:joh", opts, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'd':
                        dir = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'o':
                        online = true;
                        break;
                case 'h':
                        printf("agv-agent check [--config PATH] [--dir DIR] [--json] [--online]\n\n"
                               "Assess the certificate, key, CA bundle and permissions the way the daemon\n"
                               "does, and the signer's side of the deployment guide ([child] command, Node,\n"
                               "its AWS config and credential helper, key access of the [child] user),\n"
                               "without a daemon and without changing anything. Prints each finding\n"
                               "with its fix. Exit 0 ok, 1 warning, 2 critical.\n"
                               "  --config PATH   configuration (default " DEFAULT_CONFIG_PATH " if present)\n"
                               "  --dir DIR       check DIR instead of [pki] dir\n"
                               "  --json          print the result as JSON (docs/pki.md)\n"
                               "  --online        also exchange the certificate for AWS credentials once\n"
                               "                  ([credentials]; exit 2 when that fails)\n");
                        return 0;
                default:
                        return usage_error("check", "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        if (optind < argc)
                return usage_error("check", "unexpected argument '%s'", argv[optind]);
        if (dir && dir[0] != '/')
                return usage_error("check", "--dir needs an absolute path, not '%s'", dir);

        if (verb_load_config("check", config_path, false, &cfg) < 0)
                return 2;
        if (dir) {
                _cleanup_free_ char *old = cfg->pki.dir;
                cfg->pki.dir = strdup(dir);
                if (!cfg->pki.dir || rebase(&cfg->pki.certificate, old, dir) < 0 ||
                    rebase(&cfg->pki.private_key, old, dir) < 0 || rebase(&cfg->pki.ca_bundle, old, dir) < 0 ||
                    rebase(&cfg->credentials.intermediates, old, dir) < 0)
                        return log_oom(), 2;
        }

        clock_gettime(CLOCK_REALTIME, &ts);
        now = (uint64_t) ((int64_t) ts.tv_sec + cfg->test_clock_offset_sec) * USEC_PER_SEC;
        r = pki_pass_run(&cfg->pki, cfg->credentials.intermediates, false, now, 0, &pass);
        if (r < 0) {
                fprintf(stderr, "agv-agent check: %s\n", strerror(-r));
                return 2;
        }

        /* the signer's side of the guide: its AWS config, helper, Node, key access */
        signer_preflight(cfg, true, &pass.a.findings);

        /* a request in progress (root-only: unknown to other users) and an
         * install that died half-way (completed by the next install-cert) */
        have_pending = pending_request_load(cfg->pki.dir, &pending) > 0;
        r = install_journal_present(cfg->pki.dir);
        if (r == 1)
                findings_add(&pass.a.findings, HEALTH_CRITICAL, FINDING_OTHER, "install_interrupted", cfg->pki.dir,
                             "Run 'agv-agent install-cert --recover' (any request or install-cert, and the agent's "
                             "start, do it too)",
                             "an 'agv-agent install-cert' was interrupted half-way; the pair on disk may be mixed");
        else if (r == 2)
                findings_add(&pass.a.findings, HEALTH_WARNING, FINDING_OTHER, "install_running", cfg->pki.dir,
                             "Check again in a moment", "an 'agv-agent install-cert' is installing a pair right now");
        worst = findings_worst(&pass.a.findings);
        if (worst == HEALTH_OK && pki_assessment_verdict(&pass.a) != VERDICT_VALID)
                worst = HEALTH_CRITICAL;
        if (online && json) {
                online_exit = credentials_check_online(cfg, true, &online_result);
                if (online_exit)
                        worst = HEALTH_CRITICAL;
        }
        if (json) {
                print_json(cfg, &pass, worst, have_pending ? &pending : NULL, online_result);
                return worst == HEALTH_OK ? 0 : worst == HEALTH_WARNING ? 1 : 2;
        }

        printf("Checking %s (read-only; the daemon %s permissions)\n", cfg->pki.dir,
               cfg->pki.permissions == PERMISSIONS_ENFORCE ? "repairs" : "only reports");
        printf("certificate  %s\n", cfg->pki.certificate);
        if (pass.a.cert)
                print_cert(&pass.a.info, now);
        printf("  key          %s%s\n", cfg->pki.private_key,
               pass.a.key_matches ? " (matches the certificate)" : pass.a.key ? " (DOES NOT MATCH)" : "");
        printf("  chain        %s%s%s%s%s\n", chain_status_to_string(pass.a.chain),
               cfg->pki.ca_bundle ? " against " : "", strempty(cfg->pki.ca_bundle),
               cfg->credentials.intermediates ? " through " : "", strempty(cfg->credentials.intermediates));
        for (size_t i = 0; i < pass.a.n_links; i++)
                printf("    %s %s (serial %s, from %s)\n", i + 1 == pass.a.n_links ? "anchor" : "issuer",
                       pass.a.links[i].info.subject, pass.a.links[i].info.serial, pass.a.links[i].source);
        if (have_pending) {
                char since[64];
                printf("  request      pending since %s: %s key, %s\n", format_rfc3339(pending.created, since, sizeof(since)),
                       pending.key_type, pending.subject);
        }
        printf("permissions\n");
        for (size_t i = 0; i < _ROLE_MAX; i++) {
                const PkiFile *f = &pass.files[i];
                if (!f->path)
                        continue;
                if (f->found && f->perm != PERM_UNSAFE)
                        printf("  %-13s %04o %u:%u (want %04o %u:%u) %s\n", pki_role_to_string(f->role),
                               (unsigned) f->mode, (unsigned) f->uid, (unsigned) f->gid, (unsigned) f->want.mode,
                               (unsigned) f->want.uid, (unsigned) f->want.gid, perm_state_to_string(f->perm));
                else
                        printf("  %-13s %s\n", pki_role_to_string(f->role), perm_state_to_string(f->perm));
        }
        pki_findings_print(stdout, &pass.a.findings);
        if (online) {
                online_exit = credentials_check_online(cfg, false, &online_result);
                if (online_exit)
                        worst = HEALTH_CRITICAL;
        }
        printf("result: %s\n", health_to_string(worst));
        return worst == HEALTH_OK ? 0 : worst == HEALTH_WARNING ? 1 : 2;
}
