/* SPDX-License-Identifier: MIT */
#include "signer_check.h"

#include <elf.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "credentials.h"
#include "strv.h"

#define READ_MAX (1024 * 1024)

/* ---- the AWS config file (pure) ---------------------------------------- */

static char *strip(char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        size_t n = strlen(s);
        while (n > 0 && strchr(" \t\r", s[n - 1]))
                s[--n] = '\0';
        return s;
}

/* Words as a POSIX shell splits them (the AWS SDKs run the command through
 * one): quotes and backslashes; no expansions. */
static int shell_split(const char *s, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        Buf w = {};
        bool in_word = false;
        char q = 0;

        for (const char *p = s;; p++) {
                char ch = *p;
                if (ch == '\0' || (!q && (ch == ' ' || ch == '\t'))) {
                        if (in_word) {
                                char *x = buf_steal(&w);
                                if (!x || strv_push(&v, x) < 0) {
                                        free(x);
                                        return -ENOMEM;
                                }
                                in_word = false;
                        }
                        if (ch == '\0')
                                break;
                        continue;
                }
                in_word = true;
                if (q == '\'') {
                        if (ch == '\'')
                                q = 0;
                        else
                                buf_append(&w, &ch, 1);
                } else if (ch == '\\' && p[1] && (!q || strchr("\"\\$`", p[1]))) {
                        buf_append(&w, ++p, 1);
                } else if (q == '"' && ch == '"')
                        q = 0;
                else if (!q && (ch == '\'' || ch == '"'))
                        q = ch;
                else
                        buf_append(&w, &ch, 1);
        }
        buf_done(&w); /* an unbalanced quote ends the last word where the line ends */
        *ret = TAKE_PTR(v);
        return 0;
}

int signer_check_aws_config(const char *path, const char *text, size_t len, const char *profile, Findings *f,
                            char ***ret_argv) {
        _cleanup_free_ char *copy = strndup(text, len);
        _cleanup_free_ char *want = NULL, *process = NULL;
        _cleanup_strv_free_ char **seen = NULL; /* "header\nline" */
        unsigned line_no = 0, want_line = 0, process_line = 0;
        bool in_want = false, found = false, region = false, continued = false;

        *ret_argv = NULL;
        if (!copy)
                return -ENOMEM;
        if (streq(profile, "default"))
                want = strdup("default");
        else if (asprintf(&want, "profile %s", profile) < 0)
                want = NULL;
        if (!want)
                return -ENOMEM;

        /* strtok_r would merge empty lines and lose the count: walk by hand */
        for (char *l = copy, *next; l; l = next) {
                next = strchr(l, '\n');
                if (next)
                        *next++ = '\0';
                line_no++;
                bool indented = l[0] == ' ' || l[0] == '\t';
                char *s = strip(l);
                if (*s == '\0' || *s == '#' || *s == ';')
                        continue;
                if (*s == '[') {
                        char *end = strchr(s, ']');
                        if (!end)
                                continue;
                        *end = '\0';
                        char *name = strip(s + 1);
                        /* "[profile  x]" and "[profile x]" name the same profile */
                        _cleanup_free_ char *norm = NULL;
                        if (strneq(name, "profile", 7) && (name[7] == ' ' || name[7] == '\t')) {
                                if (asprintf(&norm, "profile %s", strip(name + 8)) < 0)
                                        return -ENOMEM;
                        } else if (!(norm = strdup(name)))
                                return -ENOMEM;
                        unsigned first = 0;
                        STRV_FOREACH(e, seen) {
                                const char *nl = strchr(*e, '\n');
                                if (nl && (size_t) (nl - *e) == strlen(norm) && strneq(*e, norm, strlen(norm)))
                                        first = (unsigned) strtoul(nl + 1, NULL, 10);
                        }
                        if (first > 0)
                                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "aws_config_duplicate_section", path,
                                             "Overwrite the file with 'cat >' (not '>>') to clean up; verify with "
                                             "'cat' (guide: Unable to parse config file)",
                                             "%s:%u: [%s] appears again (first at line %u); the AWS SDK cannot parse "
                                             "the file",
                                             path, line_no, norm, first);
                        else if (strv_extendf(&seen, "%s\n%u", norm, line_no) < 0)
                                return -ENOMEM;
                        in_want = streq(norm, want);
                        if (in_want && !found) {
                                found = true;
                                want_line = line_no;
                        }
                        continued = false;
                        continue;
                }
                if (!in_want)
                        continue;
                if (continued || (indented && process && process_line == line_no - 1 && strneq(s, "--", 2))) {
                        /* the line after "credential_process = ... \" */
                        continued = s[strlen(s) - 1] == '\\';
                        continue;
                }
                char *eq = strchr(s, '=');
                if (!eq)
                        continue;
                *eq = '\0';
                char *key = strip(s), *value = strip(eq + 1);
                if (streq(key, "region") && *value)
                        region = true;
                else if (streq(key, "credential_process")) {
                        size_t n = strlen(value);
                        free(process);
                        process = strdup(value);
                        if (!process)
                                return -ENOMEM;
                        process_line = line_no;
                        if (n > 0 && value[n - 1] == '\\') {
                                continued = true;
                                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "aws_config_continuation", path,
                                             "credential_process must be a single line; remove all '\\' newlines "
                                             "(guide: unable to use cert store signer on linux)",
                                             "%s:%u: credential_process continues on the next line with a "
                                             "backslash; the AWS SDK reads only the first line",
                                             path, line_no);
                        }
                }
        }
        if (!found) {
                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "aws_profile_missing", path,
                             "Add the profile as in docs/deployment.md step 4, or fix AWS_PROFILE in [child] "
                             "environment",
                             "%s has no [%s] section (the signer's AWS_PROFILE is '%s')", path, want, profile);
                return 0;
        }
        if (!region)
                findings_add(f, HEALTH_WARNING, FINDING_OTHER, "aws_profile_no_region", path,
                             "Add 'region = REGION' to the profile (guide step 7)",
                             "%s:%u: [%s] sets no region", path, want_line, want);
        if (!process) {
                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "aws_profile_no_credential_process", path,
                             "Add the credential_process line of docs/deployment.md step 4 to the profile",
                             "%s:%u: [%s] has no credential_process: the signer gets no Roles Anywhere "
                             "credentials",
                             path, want_line, want);
                return 0;
        }
        return shell_split(process, ret_argv);
}

/* ---- the credential helper (pure) --------------------------------------- */

unsigned signer_host_machine(void) {
#if defined(__x86_64__)
        return EM_X86_64;
#elif defined(__aarch64__)
        return EM_AARCH64;
#elif defined(__i386__)
        return EM_386;
#elif defined(__arm__)
        return EM_ARM;
#elif defined(__riscv)
        return EM_RISCV;
#elif defined(__powerpc64__)
        return EM_PPC64;
#elif defined(__s390x__)
        return EM_S390;
#else
        return EM_NONE;
#endif
}

const char *signer_machine_name(unsigned m) {
        switch (m) {
        case EM_X86_64:
                return "x86_64";
        case EM_AARCH64:
                return "aarch64";
        case EM_386:
                return "i386";
        case EM_ARM:
                return "arm";
        case EM_RISCV:
                return "riscv";
        case EM_PPC64:
                return "ppc64";
        case EM_S390:
                return "s390x";
        default:
                return "an unknown architecture";
        }
}

void signer_check_helper_head(const char *path, const unsigned char *head, size_t n, unsigned host_machine,
                              Findings *f) {
        static const char fix_download[] = "Use 'file FILE' to verify it is an ELF binary; re-download with the exact "
                                           "URL casing from step 6 of the guide (e.g. Aarch64, X86_64)";
        if (n >= 2 && head[0] == '#' && head[1] == '!')
                return; /* a script: the kernel runs its interpreter */
        if (n < 20 || memcmp(head, ELFMAG, SELFMAG) != 0) {
                size_t k = 0;
                while (k < n && head[k] != '\0' && head[k] >= ' ' && head[k] < 127 && k < 16)
                        k++;
                bool markup = n > 0 && head[0] == '<';
                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "helper_not_elf", path, fix_download,
                             "%s is not an ELF binary%s%.*s%s%s", path, k > 0 ? " (it starts with '" : "", (int) k,
                             (const char *) head, k > 0 ? "'" : "",
                             markup ? ": an XML/HTML error page saved by a failed download)" : k > 0 ? ")" : "");
                return;
        }
        unsigned machine = head[EI_DATA] == ELFDATA2MSB ? (unsigned) (head[18] << 8 | head[19])
                                                         : (unsigned) (head[19] << 8 | head[18]);
        if (host_machine != EM_NONE && machine != host_machine)
                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "helper_wrong_architecture", path,
                             "Check 'uname -m'; re-download the helper for this architecture (guide step 6)",
                             "%s is built for %s, this machine is %s: running it fails with 'Exec format error'",
                             path, signer_machine_name(machine), signer_machine_name(host_machine));
}

bool signer_mode_allows(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, const struct stat *st,
                        int want) {
        mode_t bits;
        if (uid == 0)
                return !(want & X_OK) || (st->st_mode & 0111) || S_ISDIR(st->st_mode);
        if (st->st_uid == uid)
                bits = (st->st_mode >> 6) & 7;
        else {
                bool member = st->st_gid == gid;
                for (size_t i = 0; i < n_groups && !member; i++)
                        member = groups[i] == st->st_gid;
                bits = member ? (st->st_mode >> 3) & 7 : st->st_mode & 7;
        }
        return ((want & R_OK) == 0 || (bits & 4)) && ((want & W_OK) == 0 || (bits & 2)) &&
               ((want & X_OK) == 0 || (bits & 1));
}

/* ---- Node (pure) ---------------------------------------------------------- */

int signer_node_min_major(const char *package_json, size_t len) {
        _cleanup_json_ json_object *o = NULL;
        json_tokener *tok = json_tokener_new();
        json_object *engines = NULL, *node = NULL;
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, package_json, (int) MIN(len, (size_t) INT32_MAX));
        json_tokener_free(tok);
        if (!o || !json_object_object_get_ex(o, "engines", &engines) ||
            !json_object_object_get_ex(engines, "node", &node) || !json_object_is_type(node, json_type_string))
                return -ENOENT;
        const char *s = json_object_get_string(node);
        while (*s && !(*s >= '0' && *s <= '9'))
                s++;
        if (!*s)
                return -ENOENT;
        return (int) strtol(s, NULL, 10);
}

int signer_node_major(const char *version) {
        if (!version || version[0] != 'v' || version[1] < '0' || version[1] > '9')
                return -EINVAL;
        return (int) strtol(version + 1, NULL, 10);
}

/* ---- with I/O ------------------------------------------------------------- */

static const char *env_get(char **env, const char *key) {
        size_t n = strlen(key);
        const char *v = NULL;
        STRV_FOREACH(e, env)
                if (strneq(*e, key, n) && (*e)[n] == '=')
                        v = *e + n + 1; /* the last assignment wins, as in execve's environ */
        return v;
}

static int read_small(const char *path, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        Buf b = {};
        if (fd < 0)
                return -errno;
        for (;;) {
                char chunk[16384];
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        buf_done(&b);
                        return -errno;
                }
                if (n == 0)
                        break;
                buf_append(&b, chunk, (size_t) n);
                if (b.len > READ_MAX)
                        break;
        }
        *ret_len = b.len;
        buf_append(&b, "", 1);
        *ret = buf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

/* The [child] user's ids and real groups (getgrouplist, as the spawn does). */
typedef struct Who {
        uid_t uid;
        gid_t gid;
        gid_t groups[256];
        size_t n_groups;
        char name[64];
} Who;

static void child_identity(const ChildSection *ch, Who *w) {
        *w = (Who) { .uid = ch->user.name ? ch->user.uid : getuid(),
                     .gid = ch->group.name ? ch->group.gid : ch->user.name ? ch->user.gid : getgid() };
        snprintf(w->name, sizeof w->name, "%s", ch->user.name ? ch->user.name : "the agent's user");
        if (ch->user.name) {
                int n = (int) ELEMENTSOF(w->groups);
                if (getgrouplist(ch->user.name, w->gid, w->groups, &n) >= 0)
                        w->n_groups = (size_t) n;
        } else {
                int n = getgroups((int) ELEMENTSOF(w->groups), w->groups);
                w->n_groups = n > 0 ? (size_t) n : 0;
        }
}

static void format_groups(const Who *w, char *buf, size_t size) {
        size_t off = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < w->n_groups && off + 1 < size; i++) {
                struct group *g = getgrgid(w->groups[i]);
                int k = g ? snprintf(buf + off, size - off, "%s%s", off ? " " : "", g->gr_name)
                          : snprintf(buf + off, size - off, "%s%u", off ? " " : "", (unsigned) w->groups[i]);
                if (k < 0)
                        break;
                off += (size_t) k;
        }
}

/* Can `w` read `path` (every directory on the way searchable)? */
static int readable_by(const Who *w, const char *path, char **why) {
        _cleanup_free_ char *p = strdup(path);
        struct stat st;
        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                if (stat(p, &st) == 0 && !signer_mode_allows(w->uid, w->gid, w->groups, w->n_groups, &st, X_OK))
                        return asprintf(why, "the directory %s (mode %04o) cannot be entered", p,
                                        (unsigned) (st.st_mode & 07777)) < 0 ? -ENOMEM : 0;
                *slash = '/';
        }
        if (stat(path, &st) < 0)
                return -errno;
        if (!signer_mode_allows(w->uid, w->gid, w->groups, w->n_groups, &st, R_OK)) {
                struct passwd *o = getpwuid(st.st_uid);
                struct group *g = getgrgid(st.st_gid);
                return asprintf(why, "it is mode %04o, owner %s, group %s", (unsigned) (st.st_mode & 07777),
                                o ? o->pw_name : "?", g ? g->gr_name : "?") < 0 ? -ENOMEM : 0;
        }
        return 0;
}

static const char *arg_after(char **argv, const char *flag) {
        STRV_FOREACH(a, argv)
                if (streq(*a, flag) && a[1])
                        return a[1];
        return NULL;
}

static void check_helper(char **argv, char **env, const Who *who, Findings *f) {
        _cleanup_free_ char *exe = NULL;
        unsigned char head[64];
        struct stat st;
        int r;

        if (!argv || !argv[0])
                return;
        r = child_resolve_executable(argv[0], env, &exe);
        if (r == -ENOENT || (r == 0 && stat(exe, &st) < 0)) {
                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "helper_missing", argv[0],
                             "Install aws_signing_helper in /usr/local/bin (guide step 6)",
                             "the credential_process helper %s does not exist", argv[0]);
                return;
        }
        if (r == -EACCES || (r == 0 && !signer_mode_allows(who->uid, who->gid, who->groups, who->n_groups, &st, X_OK))) {
                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "helper_not_executable", argv[0],
                             "sudo install -m 755 FILE /usr/local/bin/ (guide step 6)",
                             "the credential_process helper %s is not executable by %s", argv[0], who->name);
                return;
        }
        if (r < 0)
                return;
        _cleanup_close_ int fd = open(exe, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        ssize_t n = fd >= 0 ? read(fd, head, sizeof head) : -1;
        if (n >= 0)
                signer_check_helper_head(exe, head, (size_t) n, signer_host_machine(), f);
}

static void check_paths(char **argv, const PkiSection *pki, const Who *who, Findings *f) {
        const char *cert = arg_after(argv, "--certificate"), *key = arg_after(argv, "--private-key");

        if (cert && pki->certificate && !streq(cert, pki->certificate))
                findings_add(f, HEALTH_WARNING, FINDING_OTHER, "credential_process_certificate_path", cert,
                             "Use the same path in credential_process and [pki] certificate",
                             "credential_process uses the certificate %s, but the agent watches %s", cert,
                             pki->certificate);
        if (key && pki->private_key && !streq(key, pki->private_key))
                findings_add(f, HEALTH_WARNING, FINDING_OTHER, "credential_process_key_path", key,
                             "Use the same path in credential_process and [pki] private_key",
                             "credential_process uses the key %s, but the agent watches %s", key, pki->private_key);
        const char *k = key ? key : pki->private_key;
        _cleanup_free_ char *why = NULL;
        if (k && readable_by(who, k, &why) == 0 && why) {
                char groups[512];
                format_groups(who, groups, sizeof groups);
                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "key_unreadable_by_signer", k,
                             "sudo chmod 440 FILE && sudo chown root:<the signer's group> FILE (guide: unable to "
                             "parse private key)",
                             "%s is not readable by the signer's user %s (groups: %s): %s", k, who->name,
                             *groups ? groups : "none", why);
        }
}

/* `node --version` of the node on the child's PATH (CLI only). */
static int node_version(char **env, int *ret_major, char **ret_path) {
        _cleanup_free_ char *node = NULL;
        int pfd[2], r;
        char out[64];
        ssize_t n;

        r = child_resolve_executable("node", env, &node);
        if (r < 0)
                return r;
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                safe_close(pfd[0]);
                safe_close(pfd[1]);
                return -errno;
        }
        if (pid == 0) {
                if (dup2(pfd[1], 1) < 0)
                        _exit(127);
                int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (dn >= 0) {
                        (void) dup2(dn, 0);
                        (void) dup2(dn, 2);
                }
                char *argv[] = { node, (char *) "--version", NULL };
                execve(node, argv, env);
                _exit(127);
        }
        safe_close(pfd[1]);
        do
                n = read(pfd[0], out, sizeof out - 1);
        while (n < 0 && errno == EINTR);
        safe_close(pfd[0]);
        (void) waitpid(pid, NULL, 0);
        out[n > 0 ? n : 0] = '\0';
        *ret_major = signer_node_major(out);
        *ret_path = TAKE_PTR(node);
        return *ret_major < 0 ? -EINVAL : 0;
}

/* The signer's package.json (from its bin symlink upwards): engines.node. */
static int signer_needs_node(const char *exe) {
        _cleanup_free_ char *real = realpath(exe, NULL);
        if (!real)
                return -errno;
        for (char *slash = strrchr(real, '/'); slash && slash != real; slash = strrchr(real, '/')) {
                *slash = '\0';
                _cleanup_free_ char *pj = NULL, *text = NULL;
                size_t len;
                if (asprintf(&pj, "%s/package.json", real) < 0)
                        return -ENOMEM;
                if (read_small(pj, &text, &len) == 0)
                        return signer_node_min_major(text, len);
        }
        return -ENOENT;
}

static bool runs_on_node(const char *exe) {
        char head[128] = "";
        _cleanup_close_ int fd = open(exe, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        ssize_t n = fd >= 0 ? read(fd, head, sizeof head - 1) : -1;
        if (n <= 0)
                return false;
        head[n] = '\0';
        char *nl = strchr(head, '\n');
        if (nl)
                *nl = '\0';
        return strneq(head, "#!", 2) && strstr(head, "node");
}

/* The AWS side of the guide applies to Agentic Vault's signer (its command,
 * or `node .../agentic-vault-mcp`) and to any child given AWS_* settings. */
static bool child_is_aws_signer(const ChildSection *ch, const char *exe) {
        STRV_FOREACH(e, ch->environment)
                if (strneq(*e, "AWS_", 4))
                        return true;
        const char *names[] = { ch->command[0], exe, ch->command[1] };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i] && strstr(names[i], "agentic-vault"))
                        return true;
        return false;
}

void signer_preflight(const Config *cfg, bool run_node, Findings *f) {
        const ChildSection *ch = &cfg->child;
        _cleanup_strv_free_ char **env = NULL, **argv = NULL;
        _cleanup_free_ char *exe = NULL, *conf = NULL, *text = NULL;
        const char *profile;
        size_t len;
        Who who;
        int r;

        if (!ch->command || isempty(ch->command[0]))
                return;
        env = child_build_env(ch, NULL);
        if (!env)
                return;
        child_identity(ch, &who);

        /* the command, and the Node it needs */
        r = child_resolve_executable(ch->command[0], env, &exe);
        if (r < 0)
                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "child_command_missing", ch->command[0],
                             "Install the signer (npm install -g @agenticvault/agentic-vault) and write the path "
                             "'command -v agentic-vault-mcp' prints in [child] command",
                             "[child] command %s: %s", ch->command[0],
                             r == -ENOENT ? "not found (check the path, or PATH in [child] environment)" : strerror(-r));
        else if (run_node && (runs_on_node(exe) || streq(strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe, "node"))) {
                int need = signer_needs_node(runs_on_node(exe) ? exe : ch->command[1] ? ch->command[1] : exe);
                int have = 0;
                _cleanup_free_ char *node = NULL;
                if (node_version(env, &have, &node) < 0)
                        findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "node_missing", "node",
                                     "Install Node.js 22 or newer (guide step 6)",
                                     "the signer runs on Node.js, but no working 'node' is on its PATH");
                else if (need > 0 && have < need)
                        findings_add(f, HEALTH_WARNING, FINDING_OTHER, "node_too_old", node,
                                     "Install Node.js %d or newer (guide step 6)",
                                     "%s is Node.js %d; the signer declares node >= %d", node, have, need);
        }

        /* with [credentials] the agent writes the signer's AWS config itself
         * (credentials.c): the guide's file pitfalls cannot apply */
        if (cfg->credentials.enabled && !credentials_child_has_aws_profile(ch->environment))
                return;
        /* a child that is not the AWS signer and names no AWS setting (the
         * demo signer, a test double) has no AWS config to get wrong */
        if (!child_is_aws_signer(ch, exe))
                return;

        /* its AWS config: [child] environment, else the user's home */
        const char *static_key = env_get(env, "AWS_ACCESS_KEY_ID");
        const char *file = env_get(env, "AWS_CONFIG_FILE");
        profile = env_get(env, "AWS_PROFILE");
        if (static_key && !file && !profile)
                return; /* static keys: nothing of the guide's to check */
        if (file)
                conf = strdup(file);
        else {
                const char *home = env_get(env, "HOME");
                if (asprintf(&conf, "%s/.aws/config", home ? home : "/root") < 0)
                        conf = NULL;
        }
        if (!conf)
                return;
        if (!file && (strneq(conf, "/home/", 6) || strneq(conf, "/root/", 6)))
                findings_add(f, HEALTH_WARNING, FINDING_OTHER, "aws_config_in_home", conf,
                             "Put the profile in /etc/agv-agent/aws-config and set AWS_CONFIG_FILE and AWS_PROFILE "
                             "in [child] environment (docs/deployment.md step 4)",
                             "the signer's AWS config would be %s, but the service cannot read home directories "
                             "(ProtectHome=yes)",
                             conf);
        r = read_small(conf, &text, &len);
        if (r < 0) {
                findings_add(f, file || profile ? HEALTH_CRITICAL : HEALTH_WARNING, FINDING_OTHER,
                             "aws_config_unreadable", conf,
                             "Write the profile as in docs/deployment.md step 4 (cat >, not >>)",
                             "the signer's AWS config %s cannot be read: %s", conf, strerror(-r));
                return;
        }
        _cleanup_free_ char *why = NULL;
        if (readable_by(&who, conf, &why) == 0 && why)
                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "aws_config_unreadable_by_signer", conf,
                             "sudo chgrp <the signer's group> FILE && sudo chmod 640 FILE",
                             "the signer's AWS config %s is not readable by %s: %s", conf, who.name, why);
        if (signer_check_aws_config(conf, text, len, profile ? profile : "default", f, &argv) < 0 || !argv)
                return;
        check_helper(argv, env, &who, f);
        check_paths(argv, &cfg->pki, &who, f);
}
