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

/* The repair of Mapping:containers.
 *
 * Per-host controllers find the mappings of their containers by
 * Mapping:containers, which flexmap-ctl writes with the backends.  A row
 * written without it (by a flexmap-ctl from before schema 1.4.0, which a
 * conversion leaves with the column empty, or by another client) is found
 * by no agent.  The central primary fills the column in.
 *
 * It does so on a connection of its own, whose only monitor is the
 * Mapping rows whose containers are empty (an "==" clause, which
 * ovsdb-server matches through a hash), with their backends: normally no
 * row at all.  The controller's main replica then need not hold the
 * column, which would cost it some 360 bytes per mapping (72 MB at
 * 200,000 mappings, measured). */

#include <config.h>

#include "fc-repair.h"

#include <string.h>

#include "fc-ctx.h"
#include "flexmap/controller/flexmap-idl.h"
#include "openvswitch/vlog.h"
#include "ovsdb-data.h"
#include "ovsdb-idl.h"
#include "util.h"

/* Logs as "flexmap_controller" (see fc-ctx.h). */
#define this_module FC_VLOG_MODULE

/* Rows repaired per transaction, so that a converted database of a million
 * mappings is repaired in transactions of bounded size. */
#define FC_REPAIR_BATCH 10000

void
fc_repair_init(struct fc_ctx *ctx)
{
    struct fc_repair *r = &ctx->repair;
    struct ovsdb_idl_condition cond;

    memset(r, 0, sizeof *r);
    if (ctx->scope.switch_name || ctx->reactive) {
        return;
    }
    r->idl = ovsdb_idl_create(ctx->db, &flexrec_idl_class, false, true);
    ovsdb_idl_add_table(r->idl, &flexrec_table_mapping);
    ovsdb_idl_add_column(r->idl, &flexrec_mapping_col_backends);
    ovsdb_idl_add_column(r->idl, &flexrec_mapping_col_containers);
    ovsdb_idl_condition_init(&cond);
    flexrec_mapping_add_clause_containers(&cond, OVSDB_F_EQ, NULL, 0);
    flexrec_mapping_set_condition(r->idl, &cond);
    ovsdb_idl_condition_destroy(&cond);
}

void
fc_repair_destroy(struct fc_ctx *ctx)
{
    struct fc_repair *r = &ctx->repair;

    if (r->txn) {
        ovsdb_idl_txn_destroy(r->txn);
    }
    ovsdb_idl_destroy(r->idl);
}

/* While this controller is the primary, sets the containers of the rows
 * that have none to their backends' containers, at most FC_REPAIR_BATCH
 * rows per transaction.  (A row whose backends change meanwhile fails the
 * transaction, and the next one takes it as it is then.) */
void
fc_repair_run(struct fc_ctx *ctx)
{
    struct fc_repair *r = &ctx->repair;
    const struct flexrec_mapping *m;
    size_t n = 0;

    if (!r->idl) {
        return;
    }
    ovsdb_idl_run(r->idl);
    if (r->txn) {
        enum ovsdb_idl_txn_status status = ovsdb_idl_txn_commit(r->txn);

        if (status == TXN_INCOMPLETE) {
            return;
        }
        if (status != TXN_SUCCESS && status != TXN_UNCHANGED
            && status != TXN_TRY_AGAIN) {
            VLOG_WARN("listing the containers of mappings: %s",
                      ovsdb_idl_txn_status_to_string(status));
        }
        ovsdb_idl_txn_destroy(r->txn);
        r->txn = NULL;
    }
    if (!ctx->election.is_primary || !flexrec_mapping_first(r->idl)
        || !flexrec_server_has_mapping_table_col_containers(r->idl)) {
        return;
    }
    r->txn = ovsdb_idl_txn_create(r->idl);
    ovsdb_idl_txn_add_comment(r->txn, "flexmap-controller: listing the "
                              "containers of mappings");
    FLEXREC_MAPPING_FOR_EACH (m, r->idl) {
        const struct ovsdb_datum *backends
            = flexrec_mapping_get_backends(m, OVSDB_TYPE_UUID,
                                           OVSDB_TYPE_INTEGER);
        struct ovsdb_datum containers;

        if (m->n_containers) {
            continue;           /* Written meanwhile. */
        }
        /* The backends' keys, which are sorted, as a set. */
        ovsdb_datum_init_empty(&containers);
        containers.n = backends->n;
        containers.keys = xmemdup(backends->keys,
                                  backends->n * sizeof *backends->keys);
        flexrec_mapping_verify_backends(m);
        ovsdb_idl_txn_write(&m->header_, &flexrec_mapping_col_containers,
                            &containers);
        if (++n >= FC_REPAIR_BATCH) {
            break;
        }
    }
    if (n) {
        VLOG_INFO("listing the containers of %"PRIuSIZE" mappings in "
                  "Mapping:containers", n);
    }
    ovsdb_idl_txn_commit(r->txn);
}

void
fc_repair_wait(struct fc_ctx *ctx)
{
    struct fc_repair *r = &ctx->repair;

    if (r->idl) {
        ovsdb_idl_wait(r->idl);
        if (r->txn) {
            ovsdb_idl_txn_wait(r->txn);
        }
    }
}
