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

/* The controller's scope.
 *
 * In central mode (the default) a controller programs every switch that
 * connects to it and replicates the whole database.
 *
 * In per-host mode (--switch=NAME) it programs only the switch whose Switch
 * row is named NAME, and replicates only what that switch can use, through
 * OVSDB monitor conditions, as ovn-controller does with the southbound
 * database:
 *
 *   - Global and Tenant: every row (one row; few and small);
 *   - Switch: its own row and the gateways' (a host sends its containers'
 *     replies through a gateway, and needs its tunnel address);
 *   - Container: those whose switch is its own;
 *   - Mapping: those whose Mapping:containers includes one of those
 *     (one clause per local container);
 *   - Public_IP: those of the local containers' tenants (responders,
 *     address checks and the mappings' own addresses).
 *
 * The conditions follow the replica: when a container arrives, its
 * mappings are asked for, in a second round.  Until the server has
 * acknowledged the conditions last set, the replica may lack rows that
 * concern the switch, so the controller neither takes its switch over
 * (fc_election_run() waits for the first complete replica) nor tells
 * flexmap-ctl --wait that a change is applied.
 *
 * A gateway with a tunnel port reaches containers behind every switch, so
 * its agent replicates everything, as a central controller does.
 *
 * A per-host controller writes only its own switch's row (cur_cfg, status);
 * the rows' status, Global:cur_cfg and the repair of Mapping:containers
 * are the central controller's. */

#include <config.h>

#include "fc-scope.h"

#include <ctype.h>
#include <string.h>

#include "fc-ctx.h"
#include "flexmap/controller/flexmap-idl.h"
#include "hmapx.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "util.h"
#include "uuid.h"

/* Logs as "flexmap_controller" (see fc-ctx.h). */
#define this_module FC_VLOG_MODULE

/* Returns the row of the switch that 'ctx' serves in per-host mode, or
 * NULL (in central mode, or if the replica does not hold it). */
const struct flexrec_switch *
fc_scope_own_row(const struct fc_ctx *ctx)
{
    const struct flexrec_switch *row;

    if (ctx->scope.switch_name) {
        FLEXREC_SWITCH_FOR_EACH (row, ctx->idl) {
            if (!strcmp(row->name, ctx->scope.switch_name)) {
                return row;
            }
        }
    }
    return NULL;
}

/* Sets the monitor conditions of per-host mode from what the replica holds
 * now (see the comment at the top). */
static void
fc_scope_set_conditions(struct fc_ctx *ctx)
{
    const struct flexrec_switch *own = fc_scope_own_row(ctx);
    struct ovsdb_idl_condition sw_cond, c_cond, m_cond, ip_cond;
    struct ovsdb_idl *idl = ctx->idl;
    unsigned int seqno = 0;

    ovsdb_idl_condition_init(&sw_cond);
    ovsdb_idl_condition_init(&c_cond);
    ovsdb_idl_condition_init(&m_cond);
    ovsdb_idl_condition_init(&ip_cond);

    bool everything = (own && !strcmp(own->role, "gateway")
                       && own->tunnel_port);
    if (own && !flexrec_server_has_mapping_table_col_containers(idl)) {
        /* A database older than schema 1.4.0: no mapping can be found by
         * its containers. */
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 60);

        VLOG_WARN_RL(&rl, "the database has no column Mapping:containers "
                     "(its schema is older than 1.4.0; convert it with "
                     "ovsdb-client convert): replicating the whole "
                     "database");
        everything = true;
    }
    if (everything != ctx->scope.everything) {
        VLOG_INFO("switch %s %s: replicating %s", ctx->scope.switch_name,
                  everything ? "is a gateway with a tunnel port"
                             : "reaches only its own containers",
                  everything ? "the whole database"
                             : "only the rows that concern it");
        ctx->scope.everything = everything;
    }
    ctx->scope.n_containers = ctx->scope.n_tenants = 0;
    if (everything) {
        ovsdb_idl_condition_add_clause_true(&sw_cond);
        ovsdb_idl_condition_add_clause_true(&c_cond);
        ovsdb_idl_condition_add_clause_true(&m_cond);
        ovsdb_idl_condition_add_clause_true(&ip_cond);
    } else {
        struct hmapx tenants = HMAPX_INITIALIZER(&tenants);
        const struct flexrec_container *c;

        flexrec_switch_add_clause_name(&sw_cond, OVSDB_F_EQ,
                                       ctx->scope.switch_name);
        flexrec_switch_add_clause_role(&sw_cond, OVSDB_F_EQ, "gateway");
        if (own) {
            flexrec_container_add_clause_switch_(&c_cond, OVSDB_F_EQ,
                                                 &own->header_.uuid);
            FLEXREC_CONTAINER_FOR_EACH (c, idl) {
                struct uuid *uuid = CONST_CAST(struct uuid *,
                                               &c->header_.uuid);

                flexrec_mapping_add_clause_containers(&m_cond,
                                                      OVSDB_F_INCLUDES,
                                                      &uuid, 1);
                if (c->tenant
                    && hmapx_add(&tenants, CONST_CAST(void *, c->tenant))) {
                    flexrec_public_ip_add_clause_tenant(
                        &ip_cond, OVSDB_F_EQ, &c->tenant->header_.uuid);
                }
                ctx->scope.n_containers++;
            }
        }
        ctx->scope.n_tenants = hmapx_count(&tenants);
        hmapx_destroy(&tenants);
        /* (A condition without a clause matches no row.) */
    }
    seqno = MAX(seqno, flexrec_switch_set_condition(idl, &sw_cond));
    seqno = MAX(seqno, flexrec_container_set_condition(idl, &c_cond));
    seqno = MAX(seqno, flexrec_mapping_set_condition(idl, &m_cond));
    seqno = MAX(seqno, flexrec_public_ip_set_condition(idl, &ip_cond));
    ctx->scope.cond_seqno = seqno;

    ovsdb_idl_condition_destroy(&sw_cond);
    ovsdb_idl_condition_destroy(&c_cond);
    ovsdb_idl_condition_destroy(&m_cond);
    ovsdb_idl_condition_destroy(&ip_cond);
}

/* Sets up the replica's first monitor conditions, before the IDL first
 * connects: in per-host mode, the switch's own row and the gateways', and
 * none of the rows that hang off it until it is known. */
void
fc_scope_init(struct fc_ctx *ctx)
{
    if (ctx->scope.switch_name) {
        fc_scope_set_conditions(ctx);
    }
}

/* Follows the replica's latest changes into the monitor conditions. */
void
fc_scope_update(struct fc_ctx *ctx)
{
    if (ctx->scope.switch_name) {
        fc_scope_set_conditions(ctx);
    }
}

/* Returns true if the replica holds every row that the controller's scope
 * asks for (always, in central mode). */
bool
fc_scope_settled(const struct fc_ctx *ctx)
{
    return (!ctx->scope.switch_name
            || ovsdb_idl_get_condition_seqno(ctx->idl)
               == ctx->scope.cond_seqno);
}

/* Returns true if 'row' is a switch that this controller programs, once it
 * connects: any in central mode, the one named by --switch in per-host
 * mode. */
bool
fc_scope_has_row(const struct fc_ctx *ctx, const struct flexrec_switch *row)
{
    return !ctx->scope.switch_name || !strcmp(row->name,
                                              ctx->scope.switch_name);
}

/* Returns true if this controller, when primary, writes the status of the
 * row with 'uuid': any row in central mode, its own switch's row only in
 * per-host mode (it sees only part of the database, and many agents would
 * write the same rows). */
bool
fc_scope_writes_status(const struct fc_ctx *ctx, const struct uuid *uuid)
{
    const struct flexrec_switch *own;

    if (!ctx->scope.switch_name) {
        return true;
    }
    own = fc_scope_own_row(ctx);
    return own && uuid_equals(&own->header_.uuid, uuid);
}

/* Returns the name of the database lock that makes this controller the
 * primary (malloc()'d): "flexmap_controller" in central mode, one lock per
 * switch in per-host mode, so that a standby agent of the same switch
 * takes over.  A lock name is an OVSDB id, so any byte of the switch name
 * other than a letter or digit is spelled _XX in hex. */
char *
fc_scope_lock_name(const struct fc_ctx *ctx)
{
    struct ds lock = DS_EMPTY_INITIALIZER;

    ds_put_cstr(&lock, "flexmap_controller");
    if (ctx->scope.switch_name) {
        ds_put_cstr(&lock, "_switch_");
        for (const char *p = ctx->scope.switch_name; *p; p++) {
            if (isalnum((unsigned char) *p)) {
                ds_put_char(&lock, *p);
            } else {
                ds_put_format(&lock, "_%02x", (unsigned char) *p);
            }
        }
    }
    return ds_steal_cstr(&lock);
}

/* Logs that the replica has first become complete, before the controller
 * claims the primary role. */
void
fc_scope_log_loaded(const struct fc_ctx *ctx)
{
    if (ctx->scope.switch_name) {
        VLOG_INFO("switch %s: the replica holds its rows: %"PRIuSIZE
                  " containers, %"PRIuSIZE" mappings",
                  ctx->scope.switch_name,
                  ctx->scope.n_containers,
                  hmap_count(&ctx->mappings.by_uuid));
    } else {
        VLOG_INFO("the replica holds the database: %"PRIuSIZE" mappings",
                  hmap_count(&ctx->mappings.by_uuid));
    }
}

/* Describes the controller's scope for flexmap-controller/show. */
void
fc_scope_format(const struct fc_ctx *ctx, struct ds *s)
{
    if (!ctx->scope.switch_name) {
        ds_put_cstr(s, "scope: central, every switch that connects\n");
    } else if (ctx->scope.everything) {
        ds_put_format(s, "scope: switch %s (a gateway: every row)%s\n",
                      ctx->scope.switch_name,
                      fc_scope_settled(ctx) ? "" : ", catching up");
    } else {
        ds_put_format(s, "scope: switch %s, %"PRIuSIZE" containers of %"
                      PRIuSIZE" tenants%s\n", ctx->scope.switch_name,
                      ctx->scope.n_containers, ctx->scope.n_tenants,
                      fc_scope_settled(ctx) ? "" : ", catching up");
    }
}
