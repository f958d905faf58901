/*
 * Copyright (c) 2026 The ovs-flexmap authors.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at:
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */
#ifndef FLEXMAP_CONTROLLER_FC_STATUS_H
#define FLEXMAP_CONTROLLER_FC_STATUS_H 1

/* The election of the primary controller, the rows' problems, and what
 * the primary writes back into the database (status:error, respellings,
 * cur_cfg).  See fc-status.c. */

#include <stdbool.h>
#include <stdint.h>
#include "openvswitch/shash.h"

struct fc_ctx;
struct ovsdb_idl_txn;
struct smap;
struct uuid;

/* Primary election. */
struct fc_election {
    bool is_primary;
    uint64_t generation;        /* OpenFlow generation id, once primary. */
    struct ovsdb_idl_txn *txn;  /* Bumping the election id. */
    int64_t next;               /* Per-host mode: the value it writes. */
};

/* Problems and their write-back. */
struct fc_status {
    /* Rows that the controller refuses or cannot resolve: row UUID -> the
     * row and why (malloc()'d), the why being also their status:error.
     * Switches are "in sync" only while there are none. */
    struct shash problems;

    /* status:error write-back: row uuid -> new "error" value ("" to
     * clear), queued, and in the transaction in flight. */
    struct shash updates;
    struct shash inflight;
    struct ovsdb_idl_txn *txn;

    /* Per-host mode: a row's problem changed, which the agent's own
     * Switch row sums up (fc_switch_row_check()). */
    bool recheck_own;
};

void fc_status_init(struct fc_status *);
void fc_status_destroy(struct fc_status *);

void fc_problem_set(struct fc_ctx *, const struct uuid *,
                    const struct smap *status, const char *what,
                    char *problem);
void fc_problems_sweep(struct fc_ctx *);
void fc_status_run(struct fc_ctx *);

void fc_election_run(struct fc_ctx *);

#endif /* fc-status.h */
