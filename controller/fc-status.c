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
/* The election of the primary controller, the rows' problems, and what
 * the primary writes back into the database: every problem into its row's
 * status:error, the canonical spelling of owned values, and, for
 * flexmap-ctl --wait, Switch:cur_cfg and Global:cur_cfg.
 *
 * The controller that holds the database lock is the primary: it bumps
 * Global:election_id and claims the OpenFlow primary role on every switch
 * with it as the generation id; the others stay secondary and take over
 * when the lock comes free. */

#include <config.h>

#include <string.h>

#include "fc-claims.h"
#include "fc-ctx.h"
#include "fc-status.h"
#include "fc-switch.h"
#include "flexmap/controller/flexmap-idl.h"
#include "openvswitch/rconn.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "smap.h"
#include "util.h"
#include "uuid.h"

/* Logs as "flexmap_controller" (see fc-ctx.h). */
#define this_module FC_VLOG_MODULE

void
fc_status_init(struct fc_status *st)
{
    shash_init(&st->problems);
    shash_init(&st->updates);
    shash_init(&st->inflight);
    st->txn = NULL;
}

void
fc_status_destroy(struct fc_status *st)
{
    if (st->txn) {
        ovsdb_idl_txn_destroy(st->txn);
    }
    shash_destroy_free_data(&st->problems);
    shash_destroy_free_data(&st->updates);
    shash_destroy_free_data(&st->inflight);
}

/* Records that the row with 'uuid', whose status column holds 'status' and
 * which 'what' names in the log, has problem 'problem' (NULL: none; taken
 * over): logs it once, and queues its status:error for writing if the
 * problem changed or the row says otherwise.  (The row may not show yet
 * what was written last, so a change is written even if the row seems
 * right already.) */
void
fc_problem_set(struct fc_ctx *ctx, const struct uuid *uuid,
               const struct smap *status, const char *what, char *problem)
{
    char key[UUID_LEN + 1];
    struct shash_node *node;
    bool changed = false;
    const char *old;

    snprintf(key, sizeof key, UUID_FMT, UUID_ARGS(uuid));
    node = shash_find(&ctx->status.problems, key);
    if (problem) {
        char *line = xasprintf("%s: %s", what, problem);

        if (!node || strcmp(node->data, line)) {
            VLOG_WARN("%s", line);
            free(shash_replace(&ctx->status.problems, key, line));
            changed = true;
        } else {
            free(line);
        }
    } else if (node) {
        VLOG_INFO("%s: fixed", what);
        free(node->data);
        shash_delete(&ctx->status.problems, node);
        changed = true;
    }

    old = smap_get(status, "error");
    if (changed && ctx->scope.switch_name
        && !flexrec_switch_get_for_uuid(ctx->idl, uuid)) {
        ctx->status.recheck_own = true;
    }
    if (!fc_scope_writes_status(ctx, uuid)) {
        free(problem);
    } else if (changed || (problem ? !old || strcmp(old, problem) : !!old)) {
        free(shash_replace(&ctx->status.updates, key,
                           problem ? problem : xstrdup("")));
    } else {
        free(problem);
    }
}

/* flexmap-ctl --wait: advances Switch:cur_cfg of every switch that has
 * acknowledged a later Global:next_cfg on this connection, and
 * Global:cur_cfg to the lowest Switch:cur_cfg (or to 'target_cfg' if there
 * is no switch), in the current transaction if 'write' (else only says
 * whether there is something to write).  A switch that is listed but not
 * connected, or not resynced since it connected or since this controller
 * started, holds every value back. */
static bool
fc_cfg_ready(struct fc_ctx *ctx, const struct flexrec_global *g, bool write)
{
    const struct flexrec_switch *row;
    const struct fc_switch *sw;
    int64_t cfg = ctx->target_cfg;
    bool ready = false;

    if (!ctx->election.is_primary || !g) {
        return false;
    }
    LIST_FOR_EACH (sw, node, &ctx->switches) {
        if (sw->identified && sw->row && sw->acked_cfg > sw->row->cur_cfg) {
            if (write) {
                flexrec_switch_set_cur_cfg(sw->row, sw->acked_cfg);
            }
            ready = true;
        }
    }
    if (ctx->scope.switch_name) {
        /* Global:cur_cfg is the central controller's, which sees every
         * switch row's cur_cfg. */
    } else if (g->cur_cfg < ctx->target_cfg) {
        FLEXREC_SWITCH_FOR_EACH (row, ctx->idl) {
            cfg = MIN(cfg, row->cur_cfg);
        }
        if (cfg > g->cur_cfg) {
            if (write) {
                flexrec_global_set_cur_cfg(g, cfg);
            }
            ready = true;
        }
    }
    return ready;
}

static void
fc_become_primary(struct fc_ctx *ctx, uint64_t generation_id)
{
    struct fc_switch *sw;

    ctx->election.is_primary = true;
    ctx->election.generation = generation_id;
    VLOG_INFO("primary controller (generation %"PRIu64")",
              ctx->election.generation);
    LIST_FOR_EACH (sw, node, &ctx->switches) {
        if (sw->handshaken && rconn_is_connected(sw->rconn)) {
            fc_switch_claim_role(ctx, sw);
            if (sw->ports_known) {
                fc_switch_start_dump(ctx, sw);
            }
        }
    }
}

/* Becomes the primary when the database lock is ours, after bumping the
 * election id, whose new value is the OpenFlow generation id:
 * Global:election_id in central mode; in per-host mode its own switch's
 * Switch:election_id (the lock, and so the generations, are per switch:
 * other switches' elections must not make its standby's claims outrank
 * it), set above Global:election_id too, so that it outranks a central
 * controller that programmed the switch before.  In per-host mode, the
 * switch's row must be there: without it there is nothing to program. */
void
fc_election_run(struct fc_ctx *ctx)
{
    enum ovsdb_idl_txn_status status;

    if (!ovsdb_idl_has_lock(ctx->idl)) {
        if (ctx->election.is_primary) {
            struct fc_switch *sw;

            VLOG_WARN("lost the database lock, standing by");
            ctx->election.is_primary = false;
            LIST_FOR_EACH (sw, node, &ctx->switches) {
                sw->primary = false;
            }
        }
        if (ctx->election.txn) {
            ovsdb_idl_txn_destroy(ctx->election.txn);
            ctx->election.txn = NULL;
        }
        return;
    }
    if (ctx->election.is_primary || ctx->status.txn || !ctx->db_loaded
        || !fc_scope_settled(ctx)) {
        return;
    }
    if (!ctx->election.txn) {
        const struct flexrec_global *g = flexrec_global_first(ctx->idl);
        const struct flexrec_switch *own = fc_scope_own_row(ctx);

        if (ctx->scope.switch_name && !own) {
            return;
        }
        if (!g && !own) {
            fc_become_primary(ctx, 0);
            return;
        }
        ctx->election.txn = ovsdb_idl_txn_create(ctx->idl);
        ovsdb_idl_txn_add_comment(ctx->election.txn,
                                  "flexmap-controller: becoming primary");
        if (own) {
            ctx->election.next = MAX(own->election_id,
                                     g ? g->election_id : 0) + 1;
            flexrec_switch_verify_election_id(own);
            flexrec_switch_set_election_id(own, ctx->election.next);
        } else {
            ovsdb_idl_txn_increment(ctx->election.txn, &g->header_,
                                    &flexrec_global_col_election_id, true);
        }
    }
    status = ovsdb_idl_txn_commit(ctx->election.txn);
    if (status == TXN_INCOMPLETE) {
        return;
    }
    if (status == TXN_SUCCESS) {
        fc_become_primary(ctx, (ctx->scope.switch_name
                                ? ctx->election.next
                                : ovsdb_idl_txn_get_increment_new_value(
                                      ctx->election.txn)));
    } else if (status == TXN_TRY_AGAIN) {
        VLOG_INFO("claiming the primary role: database changed, trying "
                  "again");
    } else {
        VLOG_WARN("claiming the primary role: %s",
                  ovsdb_idl_txn_status_to_string(status));
    }
    ovsdb_idl_txn_destroy(ctx->election.txn);
    ctx->election.txn = NULL;
}

/* Sets status:error of the row with 'uuid', whichever table it is in, to
 * 'error', or deletes it if 'error' is NULL.  The whole column is written,
 * so that the last write wins whatever the row shows now. */
static void
fc_status_write(struct fc_ctx *ctx, const struct uuid *uuid, const char *error)
{
#define FC_STATUS_TABLES                        \
    FC_STATUS_TABLE(mapping)                    \
    FC_STATUS_TABLE(public_ip)                  \
    FC_STATUS_TABLE(container)                  \
    FC_STATUS_TABLE(switch)                     \
    FC_STATUS_TABLE(global)
#define FC_STATUS_TABLE(TABLE)                                          \
    {                                                                   \
        const struct flexrec_##TABLE *row                               \
            = flexrec_##TABLE##_get_for_uuid(ctx->idl, uuid);                \
        if (row) {                                                      \
            struct smap status;                                         \
                                                                        \
            smap_clone(&status, &row->status);                          \
            if (error) {                                                \
                smap_replace(&status, "error", error);                  \
            } else {                                                    \
                smap_remove(&status, "error");                          \
            }                                                           \
            flexrec_##TABLE##_set_status(row, &status);                 \
            smap_destroy(&status);                                      \
            return;                                                     \
        }                                                               \
    }
    FC_STATUS_TABLES
#undef FC_STATUS_TABLE
}

/* Returns true if a row with 'uuid' exists in a table with a status
 * column. */
static bool
fc_status_row_exists(struct fc_ctx *ctx, const struct uuid *uuid)
{
#define FC_STATUS_TABLE(TABLE)                                  \
    if (flexrec_##TABLE##_get_for_uuid(ctx->idl, uuid)) {            \
        return true;                                            \
    }
    FC_STATUS_TABLES
#undef FC_STATUS_TABLE
    return false;
}

/* Forgets the problems of rows that are gone. */
void
fc_problems_sweep(struct fc_ctx *ctx)
{
    struct shash_node *node;

    SHASH_FOR_EACH_SAFE (node, &ctx->status.problems) {
        struct uuid uuid;

        if (!uuid_from_string(&uuid, node->name)
            || !fc_status_row_exists(ctx, &uuid)) {
            free(node->data);
            shash_delete(&ctx->status.problems, node);
        }
    }
}

/* Writes the queued status:error changes, the canonical spelling of owned
 * values, and, when the switches have caught up, Global:cur_cfg. */
void
fc_status_run(struct fc_ctx *ctx)
{
    struct shash *inflight = &ctx->status.inflight;
    struct shash_node *node;

    if (ctx->status.txn) {
        enum ovsdb_idl_txn_status status
            = ovsdb_idl_txn_commit(ctx->status.txn);

        if (status == TXN_INCOMPLETE) {
            return;
        }
        if (status != TXN_SUCCESS && status != TXN_UNCHANGED) {
            /* Keep what did not make it, unless something newer came. */
            SHASH_FOR_EACH_SAFE (node, inflight) {
                if (!shash_find(&ctx->status.updates, node->name)) {
                    shash_add(&ctx->status.updates, node->name, node->data);
                    node->data = NULL;
                }
            }
        }
        shash_clear_free_data(inflight);
        ovsdb_idl_txn_destroy(ctx->status.txn);
        ctx->status.txn = NULL;
    }
    if (ctx->status.recheck_own) {
        const struct flexrec_switch *own = fc_scope_own_row(ctx);

        ctx->status.recheck_own = false;
        if (own) {
            fc_switch_row_check(ctx, own);
        }
    }
    const struct flexrec_global *g = flexrec_global_first(ctx->idl);
    bool cfg_ready = fc_cfg_ready(ctx, g, false);
    if (!ctx->election.is_primary || ctx->election.txn
        || (shash_is_empty(&ctx->status.updates) && !cfg_ready
            && !ctx->tenancy.respell_needed)) {
        return;
    }

    ctx->status.txn = ovsdb_idl_txn_create(ctx->idl);
    ovsdb_idl_txn_add_comment(ctx->status.txn,
                              "flexmap-controller: status");
    if (ctx->tenancy.respell_needed) {
        /* If this fails (a client changed the value meanwhile), the
         * change brings another try. */
        fc_respell(ctx);
        ctx->tenancy.respell_needed = false;
    }
    if (cfg_ready) {
        fc_cfg_ready(ctx, g, true);
    }
    SHASH_FOR_EACH (node, &ctx->status.updates) {
        const char *error = node->data;
        struct uuid uuid;

        if (uuid_from_string(&uuid, node->name)) {
            fc_status_write(ctx, &uuid, *error ? error : NULL);
        }
    }
    shash_swap(inflight, &ctx->status.updates);
    ovsdb_idl_txn_commit(ctx->status.txn);
}
