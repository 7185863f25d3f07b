/* SPDX-License-Identifier: MIT */
#pragma once

#include "certinfo.h"
#include "pki_assess.h"

/* The active-pair state machine, pure: fed one assessment of the disk at a
 * time (with the wall clock for validity and a monotonic clock for the
 * renewal grace), it decides what is active. See docs/pki.md. */

typedef enum PairState {
        PAIR_STATE_OK,                 /* the disk holds the active pair */
        PAIR_STATE_RENEWAL_PENDING,    /* disk inconsistent, within the grace */
        PAIR_STATE_RENEWAL_INCOMPLETE, /* disk inconsistent for longer than the grace */
        PAIR_STATE_REJECTED,           /* disk holds a complete but invalid pair */
        PAIR_STATE_INVALID,            /* the active pair itself fails a check (expired ...) */
        PAIR_STATE_MISSING,            /* no usable pair was ever seen */
        _PAIR_STATE_MAX,
} PairState;
const char *pair_state_to_string(PairState s);

typedef struct PkiPair {
        unsigned generation;
        bool have_active;
        CertInfo active;          /* generation and activated_at filled */
        char *active_key_id;
        bool have_previous;
        CertInfo previous;
        bool have_ca;
        CertInfo ca;
        char *ca_fingerprint;     /* of the bundle seen last, NULL: none */
        PairState state;
        uint64_t pending_since;   /* monotonic usec, 0: not pending */
        bool have_candidate;      /* the disk pair, when it is not the active one */
        CertInfo candidate;
        Findings candidate_findings; /* why the candidate is not active */
        Findings findings;        /* everything reported, with effective severities */
        ChainStatus chain;        /* of the active pair */
        ChainLink *links;         /* its verified path above the leaf (last known) */
        size_t n_links;
} PkiPair;

typedef struct PairUpdate {
        bool activated;           /* generation rose: a new pair is active */
        bool ca_changed;          /* the bundle changed (and a pair is active) */
        bool chain_changed;       /* the active pair's path changed (a renewed intermediate) */
        bool findings_changed;
        bool state_changed;
        PairState old_state;
        uint64_t grace_deadline;  /* monotonic usec to re-evaluate at, 0: none */
} PairUpdate;

void pki_pair_init(PkiPair *p);
void pki_pair_done(PkiPair *p);
/* Consumes nothing: a stays owned by the caller. */
int pki_pair_update(PkiPair *p, const PkiAssessment *a, uint64_t now_real, uint64_t now_mono, uint64_t grace,
                    PairUpdate *u);
/* Next wall-clock instant (Unix usec) at which validity flips, 0: none. */
uint64_t pki_pair_next_boundary(const PkiPair *p, uint64_t now_real);
