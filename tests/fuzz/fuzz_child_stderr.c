/* SPDX-License-Identifier: MIT */
/* The signer's stderr line parser (child_parse_stderr_line in agent/child.c),
 * which turns JSON audit lines into journal fields. Invariants: a priority
 * in syslog range, a message, and every field a "AGV_CHILD_<NAME>=value"
 * assignment whose name is a valid journal field name (A-Z, 0-9, _; at most 64 bytes). */
#include <syslog.h>

#include "fuzz.h"

#include "child.h"
#include "strv.h"

static void check_field(const char *f) {
        const char *eq = strchr(f, '=');
        FUZZ_CHECK(eq);
        /* journald refuses names over 64 bytes (journal_field_valid) */
        FUZZ_CHECK(eq - f <= 64);
        FUZZ_CHECK(strncmp(f, "AGV_CHILD_", 10) == 0);
        for (const char *p = f; p < eq; p++)
                FUZZ_CHECK((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *message = NULL, **fields = NULL;
        int prio = -1, r;
        ChildAudit audit = _CHILD_AUDIT_MAX;

        r = child_parse_stderr_line((const char *) data, size, &prio, &message, &fields, &audit);
        FUZZ_CHECK(r == 0 || r == -ENOMEM);
        if (r == 0) {
                FUZZ_CHECK(prio >= LOG_EMERG && prio <= LOG_DEBUG);
                FUZZ_CHECK(audit >= CHILD_AUDIT_NONE && audit < _CHILD_AUDIT_MAX);
                FUZZ_CHECK(message);
                STRV_FOREACH(f, fields)
                        check_field(*f);
        }
        free(message);
        strv_free(fields);
        return 0;
}
