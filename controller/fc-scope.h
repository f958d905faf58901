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
#ifndef FLEXMAP_CONTROLLER_FC_SCOPE_H
#define FLEXMAP_CONTROLLER_FC_SCOPE_H 1

/* Which switches a controller programs and which rows it replicates: every
 * switch that connects and the whole database (central mode), or one
 * switch and the rows that concern it (per-host mode, --switch).  See
 * fc-scope.c. */

#include <stdbool.h>
#include <stddef.h>
#include "openvswitch/types.h"

struct ds;
struct fc_ctx;
struct flexrec_switch;
struct uuid;

struct fc_scope {
    const char *switch_name;    /* --switch, or NULL in central mode. */
    bool everything;            /* Per-host mode, but the switch is a
                                 * gateway with a tunnel port, which
                                 * reaches every container: monitors all. */
    unsigned int cond_seqno;    /* Condition sequence number that the
                                 * replica has once the conditions last
                                 * set are acknowledged. */
    size_t n_containers;        /* In the conditions last set. */
    size_t n_tenants;
};

void fc_scope_init(struct fc_ctx *);
void fc_scope_update(struct fc_ctx *);
bool fc_scope_settled(const struct fc_ctx *);
const struct flexrec_switch *fc_scope_own_row(const struct fc_ctx *);
bool fc_scope_has_row(const struct fc_ctx *, const struct flexrec_switch *);
bool fc_scope_writes_status(const struct fc_ctx *, const struct uuid *);
char *fc_scope_lock_name(const struct fc_ctx *);
void fc_scope_format(const struct fc_ctx *, struct ds *);
void fc_scope_log_loaded(const struct fc_ctx *);

#endif /* fc-scope.h */
