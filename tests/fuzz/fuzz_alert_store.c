/* SPDX-License-Identifier: MIT */
/* The alert state file loader (alert_store_load in agent/alert_store.c):
 * the input is written as alerts.json in a private temp dir and loaded.
 * Invariants: load returns 0 (good) or 1 (corrupt, renamed to .corrupt and
 * started clean, then the file is gone); a state that loaded is saved and
 * loaded again to the same JSON (nothing lost or invented on a restart). */
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#include "log.h"

#include "alert_store.h"

static const char *dir;
static char path[300], corrupt[320];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        log_set_max_level(LOG_ERR); /* a warning per input would drown the findings */
        dir = fuzz_make_dir("alerts");
        snprintf(path, sizeof path, "%s/alerts.json", dir);
        snprintf(corrupt, sizeof corrupt, "%s.corrupt", path);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        AlertStore s = {}, s2 = {};
        FILE *f = fopen(path, "we");
        int r;

        if (!f)
                abort();
        if (size > 0 && fwrite(data, 1, size, f) != size)
                abort();
        if (fclose(f) != 0)
                abort();

        r = alert_store_load(path, &s);
        FUZZ_CHECK(r == 0 || r == 1);
        if (r == 1) {
                /* moved aside, so the next start does not trip over it again */
                FUZZ_CHECK(access(path, F_OK) < 0);
                FUZZ_CHECK(s.n_fired == 0 && s.n_queue == 0 && s.n_am == 0);
                (void) unlink(corrupt);
        } else {
                json_object *a = alert_store_to_json(&s), *b;
                FUZZ_CHECK(a);
                FUZZ_CHECK(alert_store_save(&s, path) == 0);
                FUZZ_CHECK(alert_store_load(path, &s2) == 0);
                b = alert_store_to_json(&s2);
                FUZZ_CHECK(b);
                if (!json_object_equal(a, b)) {
                        fprintf(stderr, "before: %s\nafter:  %s\n", json_object_to_json_string(a),
                                json_object_to_json_string(b));
                        FUZZ_CHECK(!"state changed by a save and load");
                }
                json_object_put(a);
                json_object_put(b);
                alert_store_done(&s2);
        }
        alert_store_done(&s);
        (void) unlink(path);
        return 0;
}
