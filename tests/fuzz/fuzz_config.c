/* SPDX-License-Identifier: MIT */
/* The configuration parser (agent/config.c) on real files: the input is the
 * main file, optionally followed by drop-ins, each introduced by a line
 * "#@@dropin" (written to agent.conf.d/NN.conf in a private temp dir).
 * Invariants: a config is returned exactly when there are no errors, and
 * every error names one of the files (and is one line); an accepted config
 * has no unsafe mode (set-id/sticky bits, writable certificate, CA bundle or
 * directory, a key or socket open to everyone) and no user or group that is
 * no id ((uid_t) -1, 65535), as docs/agent.conf.md promises. */
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#include "log.h"

#include "config.h"

#define DROPIN_SEP "\n#@@dropin\n"
#define DROPINS_MAX 4

static const char *dir;
static char main_path[300], dropin_dir[300];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        log_set_max_level(LOG_ERR); /* a warning per input would drown the findings */
        dir = fuzz_make_dir("config");
        snprintf(main_path, sizeof main_path, "%s/agent.conf", dir);
        snprintf(dropin_dir, sizeof dropin_dir, "%s/agent.conf.d", dir);
        if (mkdir(dropin_dir, 0700) < 0)
                abort();
        return 0;
}

static void check_id(const char *name, unsigned id) {
        if (name)
                FUZZ_CHECK(id != (unsigned) -1 && id != 65535);
}

static void check_accepted(const Config *c) {
        const mode_t modes[] = { c->pki.key_mode, c->pki.cert_mode, c->pki.ca_mode, c->pki.dir_mode,
                                 c->agent.socket_mode };
        for (size_t i = 0; i < ELEMENTSOF(modes); i++)
                FUZZ_CHECK((modes[i] & 07000) == 0);
        FUZZ_CHECK((c->pki.cert_mode & 0022) == 0);
        FUZZ_CHECK((c->pki.ca_mode & 0022) == 0);
        FUZZ_CHECK((c->pki.dir_mode & 0022) == 0);
        FUZZ_CHECK((c->pki.key_mode & 0007) == 0);
        FUZZ_CHECK((c->agent.socket_mode & 0002) == 0);
        check_id(c->child.user.name, c->child.user.uid);
        check_id(c->child.user.name, c->child.user.gid);
        check_id(c->child.group.name, c->child.group.gid);
        check_id(c->alerts.command_user.name, c->alerts.command_user.uid);
        check_id(c->pki.owner.name, c->pki.owner.uid);
        check_id(c->pki.group.name, c->pki.group.gid);
        check_id(c->agent.socket_group.name, c->agent.socket_group.gid);
        check_id(c->agent.admin_group.name, c->agent.admin_group.gid);
}

static void write_file(const char *path, const uint8_t *d, size_t n) {
        FILE *f = fopen(path, "we");
        if (!f)
                abort();
        if (n > 0 && fwrite(d, 1, n, f) != n)
                abort();
        if (fclose(f) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char paths[DROPINS_MAX][340];
        size_t n_dropins = 0, len;
        const uint8_t *part;
        Config *c = NULL;
        ConfigErrors errors = {};
        int r;

        part = fuzz_next_part(&data, &size, DROPIN_SEP, &len);
        write_file(main_path, part, len);
        while (size > 0 && n_dropins < DROPINS_MAX) {
                part = fuzz_next_part(&data, &size, DROPIN_SEP, &len);
                snprintf(paths[n_dropins], sizeof paths[n_dropins], "%s/%02zu.conf", dropin_dir, n_dropins);
                write_file(paths[n_dropins], part, len);
                n_dropins++;
        }

        r = config_load(main_path, NULL, false, &c, &errors);
        if (r >= 0) {
                FUZZ_CHECK(c);
                FUZZ_CHECK(!errors.lines || !errors.lines[0]);
                FUZZ_CHECK(c->path && streq(c->path, main_path));
                check_accepted(c);
                config_free(c);
        } else {
                FUZZ_CHECK(!c);
                FUZZ_CHECK(errors.lines && errors.lines[0]);
                for (char **l = errors.lines; *l; l++) {
                        /* "file:line: message", naming our file */
                        FUZZ_CHECK(strncmp(*l, dir, strlen(dir)) == 0);
                        FUZZ_CHECK(!strchr(*l, '\n'));
                }
        }
        config_errors_done(&errors);

        for (size_t i = 0; i < n_dropins; i++)
                (void) unlink(paths[i]);
        return 0;
}
