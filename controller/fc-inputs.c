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
/* Change handlers: the database is followed incrementally.  The IDL's
 * change tracking says which rows changed; each table's handler says what
 * that touches (the owners of addresses and MACs, the rows' checks, the
 * mappings whose entries must be recomputed, the rules), and only that is
 * recomputed.  The mappings that name a container are found through an
 * index (fc-desired.c's "struct fc_container"), without a scan.  A container
 * that changes touches the entries of its mappings on the switches it
 * leaves or joins and on the gateways, and its own rules on the switches
 * it leaves or joins; no other switch.  A public address that changes
 * touches the mappings to it and its own rules on every switch.  A Switch
 * row that changes recomputes its switch, its containers' entries on the
 * gateways, and the rules of the hosts whose return gateway changes.  A
 * reconnection to the database recomputes everything. */

#include <config.h>

#if HAVE_DECL_MALLOC_TRIM
#include <malloc.h>
#endif

#include "fc-claims.h"
#include "fc-ctx.h"
#include "fc-desired.h"
#include "fc-inputs.h"
#include "fc-status.h"
#include "fc-switch.h"
#include "flexmap/controller/flexmap-idl.h"
#include "hmapx.h"
#include "ovsdb-idl.h"
#include "util.h"

/* Returns true if tracked row 'row' is new, deleted, or changed in another
 * column than the 'n_ignored' in 'ignored' (those the controller writes
 * itself, and the bookkeeping of flexmap-ctl --wait). */
static bool
fc_row_changed(const struct ovsdb_idl_row *row,
               const struct ovsdb_idl_column *const ignored[],
               size_t n_ignored)
{
    const struct ovsdb_idl_table_class *tc = row->table->class_;

    if (!ovsdb_idl_row_get_seqno(row, OVSDB_IDL_CHANGE_MODIFY)
        || ovsdb_idl_row_get_seqno(row, OVSDB_IDL_CHANGE_DELETE)) {
        return true;
    }
    for (size_t i = 0; i < tc->n_columns; i++) {
        bool ignore = false;

        for (size_t j = 0; j < n_ignored; j++) {
            if (&tc->columns[i] == ignored[j]) {
                ignore = true;
                break;
            }
        }
        if (!ignore && ovsdb_idl_track_is_updated(row, &tc->columns[i])) {
            return true;
        }
    }
    return false;
}

/* fc_row_changed() of a row of a table whose only column the controller
 * writes is 'status'. */
static bool
fc_row_changed_but_status(const struct ovsdb_idl_row *row,
                          const struct ovsdb_idl_column *status)
{
    const struct ovsdb_idl_column *ignored[] = { status };

    return fc_row_changed(row, ignored, ARRAY_SIZE(ignored));
}

/* Returns true if a row of 'table' came, went or changed in another column
 * than its 'status', which the controller writes itself: only then may an
 * address (Public_IP) or a MAC or port (Container) have changed hands. */
static bool
fc_table_changed(struct fc_ctx *ctx, const struct ovsdb_idl_table_class *table,
                 const struct ovsdb_idl_column *status)
{
    const struct ovsdb_idl_row *row;

    for (row = ovsdb_idl_track_get_first(ctx->idl, table); row;
         row = ovsdb_idl_track_get_next(row)) {
        if (fc_row_changed_but_status(row, status)) {
            return true;
        }
    }
    return false;
}

/* What one round of database changes touches, as the change handlers
 * below find it. */
struct fc_changes {
    struct hmapx ips;           /* Public_IP rows that changed, or whose
                                 * ownership changed. */
    struct hmapx containers;    /* Container rows likewise. */
    struct hmapx mappings;      /* Mapping rows to recompute on every
                                 * switch. */
    struct hmapx touched;       /* Mapping rows that name a container in
                                 * 'containers', to recompute on the
                                 * switches in 'entry_switches'. */
    struct hmapx entry_switches;    /* "struct fc_switch"es. */
    struct hmapx switch_rows;   /* Switch rows that came, went or
                                 * changed. */
    bool flows;                 /* Every switch's rules need a
                                 * recompute. */
};

/* Switch: adds to 'ch->switch_rows' the rows that came, went or changed
 * (other than in the columns that the controller writes itself). */
static void
fc_switch_handle_changes(struct fc_ctx *ctx, struct fc_changes *ch)
{
    static const struct ovsdb_idl_column *const ignored[] = {
        &flexrec_switch_col_status, &flexrec_switch_col_cur_cfg,
        &flexrec_switch_col_election_id,
    };
    const struct flexrec_switch *row;

    FLEXREC_SWITCH_FOR_EACH_TRACKED (row, ctx->idl) {
        if (fc_row_changed(&row->header_, ignored, ARRAY_SIZE(ignored))) {
            hmapx_add(&ch->switch_rows, CONST_CAST(void *, row));
        }
    }
}

/* Points every identified switch at its row again: the old row may be gone
 * with the tracked changes. */
static void
fc_switches_refresh_rows(struct fc_ctx *ctx)
{
    struct fc_switch *sw;

    LIST_FOR_EACH (sw, node, &ctx->switches) {
        if (sw->identified) {
            sw->row = fc_switch_row(ctx, sw);
        }
    }
}

/* Public_IP: who owns which address, if a row came, went or changed; adds
 * to 'ch->ips' the rows whose ownership changed and, unless 'full', those
 * that changed. */
static void
fc_public_ip_handle_changes(struct fc_ctx *ctx, bool full,
                            struct fc_changes *ch)
{
    const struct flexrec_public_ip *ip;

    if (full || fc_table_changed(ctx, &flexrec_table_public_ip,
                                 &flexrec_public_ip_col_status)) {
        fc_ips_refresh(ctx, &ch->ips);
    }
    if (full) {
        return;
    }
    FLEXREC_PUBLIC_IP_FOR_EACH_TRACKED (ip, ctx->idl) {
        if (fc_row_changed_but_status(&ip->header_,
                                      &flexrec_public_ip_col_status)) {
            hmapx_add(&ch->ips, CONST_CAST(void *, ip));
        }
    }
}

/* Global: checks the row if it changed, and says whether the rules must
 * be recomputed.  Every flexmap-ctl --wait bumps next_cfg: that changes no
 * rule. */
static void
fc_global_handle_changes(struct fc_ctx *ctx, bool full,
                         struct fc_changes *ch)
{
    static const struct ovsdb_idl_column *const ignored[] = {
        &flexrec_global_col_next_cfg, &flexrec_global_col_cur_cfg,
        &flexrec_global_col_election_id, &flexrec_global_col_status,
    };
    const struct flexrec_global *g;

    if (full || flexrec_global_track_get_first(ctx->idl)) {
        fc_global_check(ctx);
    }
    if (full) {
        /* Every switch recomputes its rules and entries. */
        ctx->mappings.tunnel_key = fc_tunnel_key(ctx);
        return;
    }
    FLEXREC_GLOBAL_FOR_EACH_TRACKED (g, ctx->idl) {
        if (fc_row_changed(&g->header_, ignored, ARRAY_SIZE(ignored))) {
            ch->flows = true;
        }
    }

    /* The tunnel key is in the rules and also in every tunnel backend,
     * which only gateways have. */
    ovs_be64 key = fc_tunnel_key(ctx);
    if (key != ctx->mappings.tunnel_key) {
        struct fc_switch *sw;

        ctx->mappings.tunnel_key = key;
        LIST_FOR_EACH (sw, node, &ctx->switches) {
            if (sw->row && !strcmp(sw->row->role, "gateway")) {
                sw->need_full = true;
            }
        }
    }
}

/* Container: who owns which MAC and interface, if a row came, went or
 * changed, and the checks of the containers whose ownership changed or
 * that changed (with 'full', of every container and every switch row);
 * adds to 'ch->containers' the rows whose ownership changed and, unless
 * 'full', those that changed. */
static void
fc_container_handle_changes(struct fc_ctx *ctx, bool full,
                            struct fc_changes *ch)
{
    const struct flexrec_container *c;
    struct hmapx_node *node;

    if (full || fc_table_changed(ctx, &flexrec_table_container,
                                 &flexrec_container_col_status)) {
        fc_macs_refresh(ctx, &ch->containers);
        fc_ports_refresh(ctx, &ch->containers);
    }
    if (full) {
        const struct flexrec_switch *row;

        FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
            fc_container_check(ctx, c);
        }
        FLEXREC_SWITCH_FOR_EACH (row, ctx->idl) {
            fc_switch_row_check(ctx, row);
        }
    } else {
        HMAPX_FOR_EACH (node, &ch->containers) {
            fc_container_check(ctx, node->data);
        }
        FLEXREC_CONTAINER_FOR_EACH_TRACKED (c, ctx->idl) {
            if (!flexrec_container_is_deleted(c)) {
                fc_container_check(ctx, c);
            }
        }
    }
    if (full) {
        return;
    }
    FLEXREC_CONTAINER_FOR_EACH_TRACKED (c, ctx->idl) {
        if (fc_row_changed_but_status(&c->header_,
                                      &flexrec_container_col_status)) {
            hmapx_add(&ch->containers, CONST_CAST(void *, c));
        }
    }
}

/* Mapping: adds to 'ch->mappings' the rows that changed and those that
 * refer to a changed address.  (The mappings that refer to a changed
 * container are fc_containers_update()'s.) */
static void
fc_mapping_handle_changes(struct fc_ctx *ctx, struct fc_changes *ch)
{
    const struct flexrec_mapping *m;

    FLEXREC_MAPPING_FOR_EACH_TRACKED (m, ctx->idl) {
        if (fc_row_changed_but_status(&m->header_,
                                      &flexrec_mapping_col_status)) {
            hmapx_add(&ch->mappings, CONST_CAST(void *, m));
        }
    }
    if (!hmapx_is_empty(&ch->ips)) {
        FLEXREC_MAPPING_FOR_EACH (m, ctx->idl) {
            if (hmapx_contains(&ch->ips, m->ip)) {
                hmapx_add(&ch->mappings, CONST_CAST(void *, m));
            }
        }
    }
}

/* Returns true if the entries and rules of 'sw' are kept incrementally:
 * otherwise it recomputes all of them before its next sync. */
static bool
fc_switch_incremental(const struct fc_switch *sw)
{
    return fc_switch_ready(sw) && !sw->need_full && sw->row;
}

/* Switch rows that came, went or changed recompute the switches that are
 * theirs (every entry and rule), the containers behind them (a gateway's
 * entries for them carry the switch's tunnel address), and all of the
 * rules of the hosts whose return gateway changes with them; no other
 * switch.  Also settles who owns the interfaces (a switch's uplink and
 * tunnel port are no container's) and checks the rows. */
static void
fc_switches_update(struct fc_ctx *ctx, struct fc_changes *ch)
{
    const struct flexrec_container *c;
    struct hmapx_node *node;
    struct fc_switch *sw;

    if (hmapx_is_empty(&ch->switch_rows)) {
        return;
    }
    LIST_FOR_EACH (sw, node, &ctx->switches) {
        if (sw->identified) {
            const struct flexrec_switch *row = fc_switch_row(ctx, sw);

            if (row != sw->row
                || (row && hmapx_contains(&ch->switch_rows, row))) {
                sw->row = row;
                sw->need_full = true;
            }
        }
    }
    fc_ports_refresh(ctx, &ch->containers);
    HMAPX_FOR_EACH (node, &ch->switch_rows) {
        const struct flexrec_switch *row = node->data;

        if (!flexrec_switch_is_deleted(row)) {
            fc_switch_row_check(ctx, row);
        }
    }
    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        if (hmapx_contains(&ch->switch_rows, c->switch_)) {
            hmapx_add(&ch->containers, CONST_CAST(void *, c));
        }
    }
    LIST_FOR_EACH (sw, node, &ctx->switches) {
        if (fc_switch_incremental(sw) && !sw->flows_dirty) {
            char *via = fc_switch_egress_via(ctx, sw);

            if (!sw->egress_via || strcmp(via, sw->egress_via)) {
                sw->flows_dirty = true;
            }
            free(via);
        }
    }
}

/* Public addresses that changed, or changed hands, touch their own rules
 * on every switch (the responders are everywhere; the address check and a
 * gateway's return rule where they apply), and no other rule.  (The
 * mappings to them are recomputed with the changed mappings.) */
static void
fc_ips_update(struct fc_ctx *ctx, const struct fc_changes *ch)
{
    struct hmapx_node *node;
    struct fc_switch *sw;

    HMAPX_FOR_EACH (node, &ch->ips) {
        const struct flexrec_public_ip *ip = node->data;

        LIST_FOR_EACH (sw, node, &ctx->switches) {
            if (fc_switch_incremental(sw) && !sw->flows_dirty) {
                fc_flows_update_ip(ctx, sw, &ip->header_.uuid);
            }
        }
    }
}

/* Containers that changed, or changed hands, touch the mappings that name
 * them, on the switches where they were and are and on the gateways (a
 * gateway reaches every container), and their own rules on the switches
 * where they were and are.  Adds those mappings to 'ch->touched' and those
 * switches to 'ch->entry_switches', recomputes those rules, and records
 * where each container is now. */
static void
fc_containers_update(struct fc_ctx *ctx, struct fc_changes *ch)
{
    struct hmapx_node *node;
    struct fc_switch *sw;

    HMAPX_FOR_EACH (node, &ch->containers) {
        const struct flexrec_container *c = node->data;
        const struct uuid *uuid = &c->header_.uuid;
        const struct flexrec_switch *row = (flexrec_container_is_deleted(c)
                                            ? NULL : c->switch_);
        const struct fc_container *fc = fc_container_find(&ctx->mappings,
                                                          uuid);
        bool placed = fc && fc->placed;

        LIST_FOR_EACH (sw, node, &ctx->switches) {
            if (fc_switch_incremental(sw)
                && (sw->row == row
                    || (placed
                        && uuid_equals(&sw->row->header_.uuid, &fc->sw)))) {
                hmapx_add(&ch->entry_switches, sw);
                if (!sw->flows_dirty) {
                    fc_flows_update_container(ctx, sw, uuid);
                }
            }
        }
        /* (A deleted container is named by no mapping, except in per-host
         * mode, where a container that moves away leaves the replica
         * before the mappings that name it do: they lose it at once.) */
        fc_container_mappings(ctx, c, &ch->touched);
        fc_container_place(&ctx->mappings, uuid,
                           row ? &row->header_.uuid : NULL);
    }
    if (!hmapx_is_empty(&ch->touched)) {
        LIST_FOR_EACH (sw, node, &ctx->switches) {
            if (fc_switch_incremental(sw)
                && !strcmp(sw->row->role, "gateway")) {
                hmapx_add(&ch->entry_switches, sw);
            }
        }
    }
}

/* Recomputes the entries of the mappings in 'ch->touched' (other than
 * those that fc_mappings_update() recomputes everywhere) on the switches in
 * 'ch->entry_switches', and checks them again. */
static void
fc_mappings_touch(struct fc_ctx *ctx, const struct fc_changes *ch)
{
    struct hmapx_node *node, *sw_node;

    HMAPX_FOR_EACH (node, &ch->touched) {
        const struct flexrec_mapping *m = node->data;
        struct flexmap_key key;

        if (hmapx_contains(&ch->mappings, m)) {
            continue;
        }
        fc_mapping_check(ctx, m);
        if (ctx->reactive || !fc_mapping_key(ctx, m, &key)) {
            continue;
        }
        HMAPX_FOR_EACH (sw_node, &ch->entry_switches) {
            struct fc_switch *sw = sw_node->data;

            fc_slot_want(sw, &key, fc_mapping_val(ctx, m, &key, sw));
        }
    }
}

/* Recomputes the entries of the mappings in 'mappings' on every switch
 * that is synced incrementally.  First takes every one away from where it
 * was, then puts it where it is now, so that two mappings that trade keys
 * in one transaction end up right. */
static void
fc_mappings_update(struct fc_ctx *ctx, const struct hmapx *mappings)
{
    const struct flexrec_mapping *m;
    struct hmapx_node *node;
    struct fc_switch *sw;

    HMAPX_FOR_EACH (node, mappings) {
        struct fc_mapping *fm;

        m = node->data;
        fm = fc_mapping_find(ctx, &m->header_.uuid);
        if (fm) {
            LIST_FOR_EACH (sw, node, &ctx->switches) {
                if (fc_switch_ready(sw) && !sw->need_full) {
                    fc_slot_want(sw, &fm->key, NULL);
                }
            }
            fc_mapping_forget(ctx, fm);
        }
    }
    HMAPX_FOR_EACH (node, mappings) {
        struct flexmap_key key;

        m = node->data;
        if (flexrec_mapping_is_deleted(m)) {
            continue;
        }
        fc_container_add_mapping(ctx, m, false);
        fc_mapping_check(ctx, m);
        if (!fc_mapping_key(ctx, m, &key)) {
            continue;
        }
        fc_mapping_remember(ctx, m, &key);
        if (ctx->reactive) {
            continue;
        }
        LIST_FOR_EACH (sw, node, &ctx->switches) {
            if (fc_switch_ready(sw) && !sw->need_full) {
                fc_slot_want(sw, &key, fc_mapping_val(ctx, m, &key, sw));
            }
        }
    }
}

/* Recomputes every mapping's key and check, and has every switch recompute
 * what it should hold. */
static void
fc_mappings_recompute(struct fc_ctx *ctx)
{
    const struct flexrec_container *c;
    const struct flexrec_mapping *m;
    struct fc_mapping *fm;
    struct fc_switch *sw;

    HMAP_FOR_EACH_SAFE (fm, uuid_node, &ctx->mappings.by_uuid) {
        fc_mapping_forget(ctx, fm);
    }
    fc_containers_clear(&ctx->mappings);
    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        if (c->switch_) {
            /* (In per-host mode, its switch row may have just left the
             * replica, renamed.) */
            fc_container_place(&ctx->mappings, &c->header_.uuid,
                               &c->switch_->header_.uuid);
        }
    }
    FLEXREC_MAPPING_FOR_EACH (m, ctx->idl) {
        struct flexmap_key key;

        if (fc_mapping_key(ctx, m, &key)) {
            fc_mapping_remember(ctx, m, &key);
        }
        fc_container_add_mapping(ctx, m, true);
        fc_mapping_check(ctx, m);
    }
#if HAVE_DECL_MALLOC_TRIM
    /* Reading a large database leaves most of the heap free (the JSON of
     * the initial contents); give it back. */
    malloc_trim(0);
#endif
    LIST_FOR_EACH (sw, node, &ctx->switches) {
        sw->need_full = true;
    }
    fc_switches_refresh_rows(ctx);
}

/* Follows the database's latest changes, as the IDL's change tracking
 * reports them, table by table; with 'full', recomputes everything. */
void
fc_process_changes(struct fc_ctx *ctx, bool full)
{
    struct fc_changes ch = {
        .ips = HMAPX_INITIALIZER(&ch.ips),
        .containers = HMAPX_INITIALIZER(&ch.containers),
        .mappings = HMAPX_INITIALIZER(&ch.mappings),
        .touched = HMAPX_INITIALIZER(&ch.touched),
        .entry_switches = HMAPX_INITIALIZER(&ch.entry_switches),
        .switch_rows = HMAPX_INITIALIZER(&ch.switch_rows),
        .flows = false,
    };

    fc_switch_handle_changes(ctx, &ch);
    if (full) {
        fc_switches_refresh_rows(ctx);
    } else {
        fc_switches_update(ctx, &ch);
    }

    /* Who owns which address and MAC, and what is wrong with the rows that
     * do not depend on a switch. */
    fc_public_ip_handle_changes(ctx, full, &ch);
    fc_global_handle_changes(ctx, full, &ch);
    fc_container_handle_changes(ctx, full, &ch);
    if (full) {
        fc_mappings_recompute(ctx);
    } else {
        fc_mapping_handle_changes(ctx, &ch);
        fc_mappings_update(ctx, &ch.mappings);
        if (ch.flows) {
            struct fc_switch *sw;

            LIST_FOR_EACH (sw, node, &ctx->switches) {
                sw->flows_dirty = true;
            }
        }
        fc_ips_update(ctx, &ch);
        fc_containers_update(ctx, &ch);
        fc_mappings_touch(ctx, &ch);
    }
    hmapx_destroy(&ch.switch_rows);
    hmapx_destroy(&ch.entry_switches);
    hmapx_destroy(&ch.touched);
    hmapx_destroy(&ch.mappings);
    hmapx_destroy(&ch.containers);
    hmapx_destroy(&ch.ips);
    fc_problems_sweep(ctx);
    if (ctx->scope.switch_name) {
        fc_containers_sweep(ctx);
    }
}
