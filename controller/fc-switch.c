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
/* Switch connections, after OVN's ofctrl: the handshake (features, ports),
 * the OpenFlow role, the dumps of the switch's map table and of the rules
 * with our cookie when it connects (and when this controller becomes the
 * primary), and the sync that sends each switch only the difference between
 * what it should hold and what it holds: map entries in batched
 * NXT_FLEXMAP_MOD messages, rules as flow mods.  Every message that the
 * switch may refuse is kept until the barrier after it is answered, so
 * that a refusal is tied back to the rule or the map key it was about. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "fc-claims.h"
#include "fc-ctx.h"
#include "fc-desired.h"
#include "fc-flows.h"
#include "fc-reactive.h"
#include "fc-status.h"
#include "fc-switch.h"
#include "flexmap.h"
#include "flexmap/controller/flexmap-idl.h"
#include "flow.h"
#include "hash.h"
#include "ofp-flexmap.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/meta-flow.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-connection.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/ofp-print.h"
#include "openvswitch/ofp-switch.h"
#include "openvswitch/ofp-util.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/rconn.h"
#include "openvswitch/shash.h"
#include "openvswitch/vconn.h"
#include "openvswitch/vlog.h"
#include "socket-util.h"
#include "util.h"

/* Logs as "flexmap_controller" (see fc-ctx.h). */
#define this_module FC_VLOG_MODULE

COVERAGE_DEFINE(flexmap_controller_rule_recompute);

/* Map entry commands per batch handed to the encoder, which packs them
 * into as few NXT_FLEXMAP_MOD messages as fit. */
#define FC_CHUNK 1024

const struct flexrec_switch *
fc_switch_row(struct fc_ctx *ctx, const struct fc_switch *sw)
{
    const struct flexrec_switch *row;
    char dpid[17];

    snprintf(dpid, sizeof dpid, "%016"PRIx64, sw->dpid);
    FLEXREC_SWITCH_FOR_EACH (row, ctx->idl) {
        if (!strcmp(row->datapath_id, dpid) && fc_scope_has_row(ctx, row)) {
            return row;
        }
    }
    return NULL;
}

/* Returns the OpenFlow port number of the port named 'name' on 'sw', or
 * OFPP_NONE if 'name' is null or 'sw' has no such port. */
ofp_port_t
fc_port(const struct fc_switch *sw, const char *name)
{
    const struct shash_node *node = name ? shash_find(&sw->ports, name)
                                         : NULL;

    return node ? u16_to_ofp((uintptr_t) node->data) : OFPP_NONE;
}

bool
fc_switch_ready(const struct fc_switch *sw)
{
    return sw->dumped;
}

/* Returns the connected switch of row 'row' whose ports are known, or
 * NULL. */
struct fc_switch *
fc_switch_for_row(struct fc_ctx *ctx, const struct flexrec_switch *row)
{
    struct fc_switch *sw;

    LIST_FOR_EACH (sw, node, &ctx->switches) {
        if (row && sw->identified && sw->ports_known && sw->row == row
            && rconn_is_connected(sw->rconn)) {
            return sw;
        }
    }
    return NULL;
}

static void fc_switch_local_problems(struct fc_ctx *,
                                     const struct flexrec_switch *,
                                     const struct fc_switch *, struct ds *);

/* Checks switch row 'row': its router MAC and tunnel address and, once it
 * is connected, its uplink and tunnel ports and the rules it refused. */
void
fc_switch_row_check(struct fc_ctx *ctx, const struct flexrec_switch *row)
{
    const struct fc_switch *sw = fc_switch_for_row(ctx, row);
    struct ds s = DS_EMPTY_INITIALIZER;
    bool uplink_ok = true;
    struct in6_addr ip6;
    struct eth_addr mac;
    char *error, *text;

    if (row->router_mac
        && (error = fc_unicast_mac(row->router_mac, "router_mac", &mac))) {
        ds_put_format(&s, "%s; ", error);
        free(error);
        uplink_ok = false;
    }
    if (row->uplink && !row->router_mac) {
        ds_put_format(&s, "uplink %s has no router_mac; ", row->uplink);
        uplink_ok = false;
    }
    if (strlen(row->datapath_id) != 16
        || strspn(row->datapath_id, "0123456789abcdef") != 16) {
        ds_put_format(&s, "datapath_id %s is not 16 lowercase hex digits "
                      "(no switch will match it); ", row->datapath_id);
    }
    if (row->tunnel_ip) {
        error = fc_ip_parse(row->tunnel_ip, &ip6, &text);
        if (error) {
            ds_put_format(&s, "tunnel_ip: %s; ", error);
            free(error);
        } else {
            free(text);
        }
    }
    if (sw) {
        if (row->uplink && fc_port(sw, row->uplink) == OFPP_NONE) {
            ds_put_format(&s, "the switch has no port %s (uplink); ",
                          row->uplink);
            uplink_ok = false;
        }
        if (!uplink_ok && sw->uplink_name) {
            ds_put_format(&s, "still sending out of %s; ", sw->uplink_name);
        }
        if (row->tunnel_port && fc_port(sw, row->tunnel_port) == OFPP_NONE) {
            ds_put_format(&s, "the switch has no port %s (tunnel_port); ",
                          row->tunnel_port);
        }
        if (!hmap_is_empty(&sw->refused_flows)) {
            const struct fc_flow *first
                = CONTAINER_OF(hmap_first(&sw->refused_flows),
                               struct fc_flow, node);

            ds_put_format(&s, "the switch refused %"PRIuSIZE" rules (",
                          hmap_count(&sw->refused_flows));
            fc_flow_format(first, &s);
            ds_put_format(&s, ": %s); ", first->why);
        }
    }
    if (ctx->scope.switch_name) {
        fc_switch_local_problems(ctx, row, sw, &s);
    }
    ds_chomp(&s, ' ');
    ds_chomp(&s, ';');

    /* A central controller that this switch is not connected to cannot
     * see its ports or what it refused, which the switch's own agent
     * writes: it writes the row's status only when its own view of the
     * row changes, not to correct what the row says. */
    const struct smap *status = &row->status;
    struct smap view = SMAP_INITIALIZER(&view);
    if (!sw && !ctx->scope.switch_name) {
        const struct shash_node *node;
        char key[UUID_LEN + 1];

        snprintf(key, sizeof key, UUID_FMT, UUID_ARGS(&row->header_.uuid));
        node = shash_find(&ctx->status.problems, key);
        if (node) {
            const char *old = strstr(node->data, ": ");

            smap_add(&view, "error", old ? old + 2 : "");
        }
        status = &view;
    }
    char *what = xasprintf("switch %s", row->name);
    fc_problem_set(ctx, &row->header_.uuid, status, what,
                   s.length ? ds_steal_cstr(&s) : NULL);
    smap_destroy(&view);
    ds_destroy(&s);
    free(what);
}

/* Per-host mode: adds to 's' the map entries that switch 'row', if it is
 * this agent's and connected, refused.  A central controller writes that
 * into the mappings' status; an agent writes only its own switch's row,
 * so it says it there, and "flexmap-ctl --wait" fails as it does in
 * central mode. */
static void
fc_switch_local_problems(struct fc_ctx *ctx, const struct flexrec_switch *row,
                         const struct fc_switch *sw, struct ds *s)
{
    const struct fc_slot *slot;

    if (!sw || !sw->n_refused_entries || row != fc_scope_own_row(ctx)) {
        return;
    }
    HMAP_FOR_EACH (slot, node, &sw->slots) {
        if (slot->refused) {
            ds_put_format(s, "the switch refused %"PRIuSIZE" map entries "
                          "(", sw->n_refused_entries);
            flexmap_key_format(&slot->key, s);
            ds_put_format(s, ": %s); ", slot->refused);
            break;
        }
    }
}

void
fc_send(struct fc_switch *sw, struct ofpbuf *msg)
{
    int error = rconn_send(sw->rconn, msg, NULL);

    if (error) {
        VLOG_WARN("%016"PRIx64": send failed: %s", sw->dpid,
                  ovs_strerror(error));
        ofpbuf_delete(msg);
    }
}

/* Remembers that 'msg', about to be sent to 'sw', carries rule 'flow' (if
 * nonnull) or the map commands for the 'n_keys' keys in 'keys', so that a
 * refusal can be tied back to them. */
static void
fc_sent_add(struct fc_switch *sw, const struct ofpbuf *msg,
            const struct fc_flow *flow,
            const struct flexmap_key *keys, size_t n_keys)
{
    struct fc_sent *sent = xmalloc(sizeof *sent + n_keys * sizeof *keys);

    sent->xid = ((const struct ofp_header *) msg->data)->xid;
    sent->barrier = false;
    sent->flow = flow ? fc_flow_clone(flow) : NULL;
    sent->n_keys = n_keys;
    nullable_memcpy(sent->keys, keys, n_keys * sizeof *keys);
    hmap_insert(&sw->sent, &sent->node, hash_int(ntohl(sent->xid), 0));
    ovs_list_push_back(&sw->sent_order, &sent->list_node);
}

static struct fc_sent *
fc_sent_find(const struct fc_switch *sw, ovs_be32 xid)
{
    struct fc_sent *sent;

    HMAP_FOR_EACH_WITH_HASH (sent, node, hash_int(ntohl(xid), 0),
                             &sw->sent) {
        if (sent->xid == xid) {
            return sent;
        }
    }
    return NULL;
}

static void
fc_sent_remove(struct fc_switch *sw, struct fc_sent *sent)
{
    hmap_remove(&sw->sent, &sent->node);
    ovs_list_remove(&sent->list_node);
    fc_flow_destroy(sent->flow);
    free(sent);
}

static void
fc_sent_clear(struct fc_switch *sw)
{
    struct fc_sent *sent;

    LIST_FOR_EACH_SAFE (sent, list_node, &sw->sent_order) {
        fc_sent_remove(sw, sent);
    }
}

/* Follows what 'sw' was sent by a barrier request, whose reply says that
 * the switch refused none of it (see fc_sent_acked()). */
static void
fc_sent_barrier(struct fc_switch *sw)
{
    struct ofpbuf *rq = ofputil_encode_barrier_request(sw->version);

    fc_sent_add(sw, rq, NULL, NULL, 0);
    CONTAINER_OF(ovs_list_back(&sw->sent_order), struct fc_sent,
                 list_node)->barrier = true;
    fc_send(sw, rq);
}

/* Forgets what was sent to 'sw' before the barrier request whose reply
 * 'xid' is: the switch did not refuse it. */
static void
fc_sent_acked(struct fc_switch *sw, ovs_be32 xid)
{
    struct fc_sent *barrier = fc_sent_find(sw, xid);
    struct fc_sent *sent;

    if (barrier && barrier->barrier) {
        LIST_FOR_EACH_SAFE (sent, list_node, &sw->sent_order) {
            bool last = sent == barrier;

            fc_sent_remove(sw, sent);
            if (last) {
                break;
            }
        }
    }
}

/* Sends 'sw' rule 'f' with flow_mod 'command': OFPFC_ADD, or
 * OFPFC_DELETE_STRICT, which matches on our cookie and takes no actions. */
static void
fc_send_flow(struct fc_switch *sw, const struct fc_flow *f, int command)
{
    struct ofputil_flow_mod fm = {
        .match = f->match,
        .priority = f->priority,
        .table_id = f->table_id,
        .command = command,
        .buffer_id = UINT32_MAX,
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
    };
    enum ofputil_protocol protocol;
    struct ofpbuf *msg;

    if (command == OFPFC_ADD) {
        fm.new_cookie = htonll(FC_COOKIE);
        fm.modify_cookie = true;
        fm.ofpacts = f->ofpacts;
        fm.ofpacts_len = f->ofpacts_len;
    } else {
        fm.cookie = htonll(FC_COOKIE);
        fm.cookie_mask = OVS_BE64_MAX;
    }
    protocol = ofputil_protocol_from_ofp_version(sw->version);
    msg = ofputil_encode_flow_mod(&fm, protocol);
    if (command == OFPFC_ADD) {
        fc_sent_add(sw, msg, f, NULL, 0);
    }
    fc_send(sw, msg);
}

/* Encodes and sends the 'n' commands in 'cmds'. */
static void
fc_send_cmds(struct fc_switch *sw, struct ofputil_flexmap_cmd *cmds,
             size_t n)
{
    struct flexmap_key *keys;
    struct ovs_list msgs;
    struct ofpbuf *msg;
    size_t i = 0;

    if (!n) {
        return;
    }
    keys = xmalloc(n * sizeof *keys);
    ovs_list_init(&msgs);
    ofputil_encode_flexmap_mods(sw->version, cmds, n, 0, &msgs);
    LIST_FOR_EACH_POP (msg, list_node, &msgs) {
        /* The message's commands are the next 'n_commands' of 'cmds'. */
        struct ofpbuf b = ofpbuf_const_initializer(msg->data, msg->size);
        size_t n_msg;

        ofpraw_pull_assert(&b);
        n_msg = MIN(ntohs(*ALIGNED_CAST(const ovs_be16 *, b.data)), n - i);
        for (size_t j = 0; j < n_msg; j++) {
            keys[j] = cmds[i + j].entry.key;
        }
        fc_sent_add(sw, msg, NULL, keys, n_msg);
        i += n_msg;
        fc_send(sw, msg);
    }
    free(keys);
    sw->n_entry_mods += n;
}

/* Sends 'sw' wanted rule 'f' if it lacks it, unless it refused it already
 * (a refused rule is not sent again until it changes or a resync).
 * Returns true if it sent it. */
static bool
fc_sync_flow_add(struct fc_switch *sw, const struct fc_flow *f)
{
    if (!fc_flow_find(&sw->flows, f)
        && !fc_flow_find(&sw->refused_flows, f)) {
        fc_send_flow(sw, f, OFPFC_ADD);
        hmap_insert(&sw->flows, &fc_flow_clone(f)->node, f->hash);
        return true;
    }
    return false;
}

/* Forgets held rule 'h' of 'sw', which 'sw' should no longer hold, and
 * deletes it from the switch.  Returns true if it sent a delete. */
static bool
fc_sync_flow_del(struct fc_switch *sw, struct fc_flow *h)
{
    /* A rule whose actions changed was replaced by the add; a strict
     * delete would take the new one away. */
    bool del = !fc_flow_find_match(&sw->want_flows.matches, h);

    if (del) {
        fc_send_flow(sw, h, OFPFC_DELETE_STRICT);
    }
    hmap_remove(&sw->flows, &h->node);
    fc_flow_destroy(h);
    return del;
}

/* Recomputes every rule that 'sw' should hold, sends it those it lacks and
 * deletes those it should not have.  Adds the numbers of rules added and
 * deleted to '*n_adds' and '*n_dels'. */
static void
fc_sync_flows_full(struct fc_ctx *ctx, struct fc_switch *sw,
                   size_t *n_adds, size_t *n_dels)
{
    struct fc_want_flows *w = &sw->want_flows;
    struct fc_flow *f;

    COVERAGE_INC(flexmap_controller_rule_recompute);
    sw->n_recomputes++;
    if (sw->row) {
        fc_switch_resolve_uplink(sw);
    }
    fc_flows_recompute(ctx, sw);
    HMAP_FOR_EACH_SAFE (f, node, &sw->refused_flows) {
        if (!fc_flow_find(&w->flows, f)) {
            hmap_remove(&sw->refused_flows, &f->node);
            fc_flow_destroy(f);
        }
    }
    HMAP_FOR_EACH (f, node, &w->flows) {
        *n_adds += fc_sync_flow_add(sw, f);
    }
    HMAP_FOR_EACH_SAFE (f, node, &sw->flows) {
        if (!fc_flow_find(&w->flows, f)) {
            *n_dels += fc_sync_flow_del(sw, f);
        }
    }
    sw->flows_dirty = false;

    /* The rows whose problems this switch tells: itself, its containers. */
    if (sw->row) {
        const struct flexrec_container *c;

        fc_switch_row_check(ctx, sw->row);
        FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
            if (c->switch_ == sw->row) {
                fc_container_check(ctx, c);
            }
        }
    }
}

/* Sends 'sw' the differences in the rules that recomputes of some of its
 * groups touched (see fc_flows_update_container()).  Adds the numbers of
 * rules added and deleted to '*n_adds' and '*n_dels'. */
static void
fc_sync_flows_touched(struct fc_ctx *ctx, struct fc_switch *sw,
                      size_t *n_adds, size_t *n_dels)
{
    struct fc_want_flows *w = &sw->want_flows;
    bool unrefused = false;
    struct fc_flow *t;

    HMAP_FOR_EACH_POP (t, node, &w->touched) {
        const struct fc_flow *want = fc_flow_find(&w->flows, t);

        if (want) {
            *n_adds += fc_sync_flow_add(sw, want);
        } else {
            struct fc_flow *refused = fc_flow_find(&sw->refused_flows, t);
            struct fc_flow *have = fc_flow_find(&sw->flows, t);

            if (refused) {
                hmap_remove(&sw->refused_flows, &refused->node);
                fc_flow_destroy(refused);
                unrefused = true;
            }
            if (have) {
                *n_dels += fc_sync_flow_del(sw, have);
            }
        }
        fc_flow_destroy(t);
    }
    if (unrefused && sw->row) {
        /* The switch's status names the rules it refused. */
        fc_switch_row_check(ctx, sw->row);
    }
}

/* Brings 'sw' to what the database says, sending only the differences. */
static void
fc_switch_sync(struct fc_ctx *ctx, struct fc_switch *sw)
{
    static struct ofputil_flexmap_cmd *cmds;
    size_t n = 0, n_adds = 0, n_dels = 0, n_flow_adds = 0, n_flow_dels = 0;
    struct fc_slot *slot;

    if (!sw->row && !sw->managed) {
        /* Not ours: what it holds was written by someone else. */
        if (!sw->unknown_noted) {
            VLOG_INFO("switch %016"PRIx64" (%s) is not in the database: "
                      "leaving its map tables and rules alone", sw->dpid,
                      rconn_get_name(sw->rconn));
            sw->unknown_noted = true;
        }
        return;
    }
    sw->unknown_noted = false;
    if (!ctx->election.is_primary || !sw->primary
        || !fc_scope_settled(ctx)) {
        /* (In per-host mode, until the rows that the latest monitor
         * conditions ask for have come, what the switch should hold is
         * not known: a switch that just appeared in the database would
         * lose what it holds, to get it back a moment later.) */
        return;
    }
    if (!sw->dumped) {
        if (!sw->dumping && sw->ports_known) {
            /* It has just appeared in the database. */
            fc_switch_start_dump(ctx, sw);
        }
        return;
    }
    if (sw->need_full) {
        fc_switch_full(ctx, sw);
    }
    if (sw->flows_dirty) {
        fc_sync_flows_full(ctx, sw, &n_flow_adds, &n_flow_dels);
    } else if (!hmap_is_empty(&sw->want_flows.touched)) {
        fc_sync_flows_touched(ctx, sw, &n_flow_adds, &n_flow_dels);
    }
    sw->n_flow_mods += n_flow_adds + n_flow_dels;
    if (!cmds) {
        cmds = xmalloc(FC_CHUNK * sizeof *cmds);
    }

    LIST_FOR_EACH_POP (slot, dirty_node, &sw->dirty) {
        struct ofputil_flexmap_cmd *cmd = &cmds[n];

        slot->listed = false;
        if (slot->refused && (!slot->want
                              || !fc_val_equal(slot->want,
                                               slot->refused_val))) {
            /* What the switch refused is no longer wanted. */
            free(slot->refused);
            fc_val_unref(slot->refused_val);
            slot->refused = NULL;
            slot->refused_val = NULL;
            sw->n_refused_entries--;
            fc_recheck_key(ctx, &slot->key);
        }
        if (slot->refused) {
            /* Not again until it changes or a resync. */
            cmd = NULL;
        } else if (slot->want && (!slot->have || slot->stale
                                  || !fc_val_equal(slot->want,
                                                   slot->have))) {
            /* An add replaces what the switch holds at the key in one
             * step. */
            cmd->command = NXFMC_ADD;
            cmd->entry.n_backends = slot->want->n;
            memcpy(cmd->entry.backends, slot->want->backends,
                   slot->want->n * sizeof *slot->want->backends);
            fc_val_unref(slot->have);
            slot->have = fc_val_ref(slot->want);
            n_adds++;
        } else if (!slot->want && (slot->have || slot->stale)) {
            cmd->command = NXFMC_DELETE;
            cmd->entry.n_backends = 0;
            fc_val_unref(slot->have);
            slot->have = NULL;
            n_dels++;
        } else {
            cmd = NULL;
        }
        if (cmd) {
            cmd->entry.table_id = ctx->map_table;
            cmd->entry.key = slot->key;
            slot->stale = false;
            if (slot->solo) {
                /* In a message of its own, so that a refusal names it
                 * (see fc_handle_refusal()). */
                slot->solo = false;
                fc_send_cmds(sw, cmds, n);
                fc_send_cmds(sw, cmd, 1);
                n = 0;
            } else if (++n == FC_CHUNK) {
                fc_send_cmds(sw, cmds, n);
                n = 0;
            }
        }
        if (!slot->want && !slot->have) {
            hmap_remove(&sw->slots, &slot->node);
            free(slot);
        }
    }
    if (n) {
        fc_send_cmds(sw, cmds, n);
    }
    if (n_adds || n_dels || n_flow_adds || n_flow_dels) {
        fc_sent_barrier(sw);
        VLOG_INFO("%016"PRIx64": %"PRIuSIZE" map entries added or changed, "
                  "%"PRIuSIZE" deleted; %"PRIuSIZE" rules added, %"PRIuSIZE
                  " deleted", sw->dpid, n_adds, n_dels, n_flow_adds,
                  n_flow_dels);
    }
    if (!sw->row) {
        /* Its row is gone: what we wrote is deleted; from now on it is a
         * switch like any other that the database does not list. */
        VLOG_INFO("%016"PRIx64": no longer in the database, its map "
                  "entries and rules deleted", sw->dpid);
        fc_slots_clear(ctx, sw);
        fc_want_flows_clear(&sw->want_flows);
        fc_flows_clear(&sw->flows);
        sw->managed = sw->dumped = false;
        return;
    }
    if (sw->sent_cfg < ctx->target_cfg) {
        /* The switch answers the barrier once it has applied everything
         * sent before it. */
        struct ofpbuf *rq = ofputil_encode_barrier_request(sw->version);

        sw->barrier_xid = ((struct ofp_header *) rq->data)->xid;
        sw->sent_cfg = ctx->target_cfg;
        fc_send(sw, rq);
    }
}

static void
fc_send_role(struct fc_switch *sw, enum ofp12_controller_role role,
             uint64_t generation_id)
{
    struct ofpbuf *msg = ofpraw_alloc(OFPRAW_OFPT12_ROLE_REQUEST,
                                      sw->version, 0);
    struct ofp12_role_request *rr = ofpbuf_put_zeros(msg, sizeof *rr);

    rr->role = htonl(role);
    rr->generation_id = htonll(generation_id);
    fc_send(sw, msg);
}

/* Claims the primary role on 'sw' if this controller is the primary,
 * otherwise the secondary role, so that the switch neither takes
 * modifications from nor sends packet-ins to a standby.  A switch that is
 * not identified yet, or not in the database, gets no role request: a
 * primary claim would demote the controller that does program it. */
void
fc_switch_claim_role(struct fc_ctx *ctx, struct fc_switch *sw)
{
    if (!sw->identified || !sw->row) {
        return;
    }
    if (ctx->election.is_primary) {
        fc_send_role(sw, OFPCR12_ROLE_PRIMARY, ctx->election.generation);
        sw->role_claimed = true;
    } else if (ctx->scope.switch_name) {
        /* Per-host mode: the switch's own generation. */
        fc_send_role(sw, OFPCR12_ROLE_SECONDARY, sw->row->election_id);
        sw->role_claimed = true;
    } else {
        const struct flexrec_global *g = flexrec_global_first(ctx->idl);

        if (g) {
            fc_send_role(sw, OFPCR12_ROLE_SECONDARY, g->election_id);
            sw->role_claimed = true;
        }
    }
}

/* Forgets what 'sw' holds and asks it again: its map table and our
 * rules.  A switch that is not in the database is not ours: it is not
 * asked, and left alone. */
void
fc_switch_start_dump(struct fc_ctx *ctx, struct fc_switch *sw)
{
    struct ofputil_flow_stats_request fsr = {
        .aggregate = false,
        .cookie = htonll(FC_COOKIE),
        .cookie_mask = OVS_BE64_MAX,
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
        .table_id = 0xff,
    };
    struct ofpbuf *rq;

    fc_slots_clear(ctx, sw);
    fc_want_flows_clear(&sw->want_flows);
    fc_flows_clear(&sw->flows);
    fc_flows_clear(&sw->refused_flows);     /* Try them again. */
    fc_sent_clear(sw);
    sw->dumped_uplink = false;
    sw->dumping = sw->managed = sw->row != NULL;
    sw->dumped = sw->maps_dumped = sw->flows_dumped = false;
    sw->sent_cfg = sw->acked_cfg = 0;   /* Earned again after the dump. */
    if (!sw->managed) {
        return;                 /* Not ours to look at or to change. */
    }

    rq = ofputil_encode_flexmap_stats_request(sw->version, ctx->map_table);
    sw->dump_xid = ((struct ofp_header *) rq->data)->xid;
    fc_send(sw, rq);

    match_init_catchall(&fsr.match);
    rq = ofputil_encode_flow_stats_request(
        &fsr, ofputil_protocol_from_ofp_version(sw->version));
    sw->flow_dump_xid = ((struct ofp_header *) rq->data)->xid;
    fc_send(sw, rq);
}

static void
fc_port_update(struct fc_switch *sw, const struct ofputil_phy_port *pp,
               bool deleted)
{
    if (deleted) {
        shash_find_and_delete(&sw->ports, pp->name);
    } else {
        shash_replace(&sw->ports, pp->name,
                      (void *) (uintptr_t) ofp_to_u16(pp->port_no));
    }
    if (sw->ports_known) {
        sw->need_full = true;
    }
}

static void
fc_handle_dump_reply(struct fc_ctx *ctx, struct fc_switch *sw,
                     const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_flexmap_stats *fs = xmalloc(sizeof *fs);

    for (;;) {
        int retval = ofputil_decode_flexmap_stats_reply(fs, &b);
        struct fc_slot *slot;

        if (retval) {
            if (retval != EOF) {
                VLOG_WARN("%016"PRIx64": bad map table dump (%s)", sw->dpid,
                          ofperr_to_string(retval));
            }
            break;
        }
        if (fs->entry.table_id == ctx->map_table) {
            slot = fc_slot_get(sw, &fs->entry.key);
            fc_val_unref(slot->have);
            slot->have = fc_val_from_entry(&fs->entry);
        }
    }
    free(fs);
    if (!ofpmp_more(oh)) {
        sw->maps_dumped = true;
    }
}

/* Learns from the actions 'ofpacts' of one of our rules that 'sw' dumped,
 * if they send out of an uplink (set the Ethernet destination to a
 * router, then output), which port and router that is, so that a
 * controller that starts while the database names an uplink the switch
 * lacks keeps the one the switch has (see fc_switch_resolve_uplink()). */
static void
fc_learn_uplink(struct fc_switch *sw, const struct ofpact *ofpacts,
                size_t ofpacts_len)
{
    const struct ofpact *a;
    struct eth_addr dst;
    bool has_dst = false;

    OFPACT_FOR_EACH (a, ofpacts, ofpacts_len) {
        if (a->type == OFPACT_SET_ETH_DST) {
            dst = ofpact_get_SET_ETH_DST(a)->mac;
            has_dst = true;
        } else if (a->type == OFPACT_SET_FIELD
                   && ofpact_get_SET_FIELD(a)->field->id == MFF_ETH_DST) {
            dst = ofpact_get_SET_FIELD(a)->value->mac;
            has_dst = true;
        } else if (a->type == OFPACT_SET_FIELD
                   && (ofpact_get_SET_FIELD(a)->field->id == MFF_TUN_DST
                       || ofpact_get_SET_FIELD(a)->field->id
                          == MFF_TUN_IPV6_DST)) {
            return;             /* Through the tunnel, not the uplink. */
        } else if (a->type == OFPACT_OUTPUT && has_dst) {
            sw->dumped_uplink = true;
            sw->dumped_uplink_port = ofpact_get_OUTPUT(a)->port;
            sw->dumped_router_mac = dst;
            return;
        }
    }
}

static void
fc_handle_flow_dump_reply(struct fc_switch *sw, const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    uint64_t ofpacts_stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(ofpacts_stub);

    for (;;) {
        struct ofputil_flow_stats fs;
        int retval = ofputil_decode_flow_stats_reply(&fs, &b, false,
                                                     &ofpacts);

        if (retval) {
            if (retval != EOF) {
                VLOG_WARN("%016"PRIx64": bad rule dump (%s)", sw->dpid,
                          ofperr_to_string(retval));
            }
            break;
        }
        fc_flows_add(&sw->flows,
                     fc_flow_create(fs.table_id, fs.priority, &fs.match,
                                    fs.ofpacts, fs.ofpacts_len,
                                    sw->version));
        fc_learn_uplink(sw, fs.ofpacts, fs.ofpacts_len);
    }
    ofpbuf_uninit(&ofpacts);
    if (!ofpmp_more(oh)) {
        sw->flows_dumped = true;
    }
}

/* Called after each dump reply: once both dumps are complete, the switch
 * can be synced. */
static void
fc_check_dumped(struct fc_switch *sw)
{
    if (sw->dumping && sw->maps_dumped && sw->flows_dumped) {
        sw->dumping = false;
        sw->dumped = true;
        sw->need_full = true;
        VLOG_INFO("%016"PRIx64": switch holds %"PRIuSIZE" map entries",
                  sw->dpid, hmap_count(&sw->slots));
    }
}

/* Ties the error reply 'oh' from 'sw' back to what the refused message
 * carried: a rule is marked refused on the switch (and reported in the
 * switch's status) until it changes; a map command alone in its message
 * is marked refused (and reported in its mapping's status) until the
 * mapping changes; the commands of a refused batch, of which the switch
 * applied none, are sent again one per message to find which one it
 * refuses. */
static void
fc_handle_refusal(struct fc_ctx *ctx, struct fc_switch *sw,
                  const struct ofp_header *oh)
{
    struct fc_sent *sent = fc_sent_find(sw, oh->xid);
    enum ofperr error = ofperr_decode_msg(oh, NULL);
    const char *why = error ? ofperr_to_string(error) : "error";

    if (sw->dumping && (oh->xid == sw->dump_xid
                        || oh->xid == sw->flow_dump_xid)) {
        /* A switch that cannot dump (a datapath without flexmap refuses
         * NXST_FLEXMAP) holds nothing that we could know of: sync it from
         * nothing, and let its refusals tell the rest. */
        if (oh->xid == sw->dump_xid) {
            sw->maps_dumped = true;
        } else {
            sw->flows_dumped = true;
        }
        fc_check_dumped(sw);
        return;
    }
    if (!sent || sent->barrier) {
        return;
    }
    if (sent->flow) {
        struct fc_flow *f = fc_flow_find(&sw->flows, sent->flow);

        if (f) {
            hmap_remove(&sw->flows, &f->node);
            fc_flow_destroy(f);
        }
        f = fc_flow_find(&sw->refused_flows, sent->flow);
        if (!f) {
            f = fc_flow_clone(sent->flow);
            hmap_insert(&sw->refused_flows, &f->node, f->hash);
        }
        free(f->why);
        f->why = xstrdup(why);
        if (sw->row) {
            fc_switch_row_check(ctx, sw->row);
        }
    } else if (sent->n_keys == 1) {
        struct fc_slot *slot = fc_slot_find(sw, &sent->keys[0]);

        if (slot && slot->want && !slot->refused) {
            /* The switch kept what it had there, if anything. */
            fc_val_unref(slot->have);
            slot->have = NULL;
            slot->stale = true;
            slot->refused = xstrdup(why);
            slot->refused_val = fc_val_ref(slot->want);
            sw->n_refused_entries++;
            fc_recheck_key(ctx, &slot->key);
        }
    } else {
        /* The switch applied none of the batch: send every command again,
         * each in a message of its own.  A key whose delete was in the
         * batch has no slot any more: it comes back as a stale slot with
         * nothing wanted, which sends the delete again. */
        for (size_t i = 0; i < sent->n_keys; i++) {
            struct fc_slot *slot = fc_slot_get(sw, &sent->keys[i]);

            slot->stale = slot->solo = true;
            fc_slot_list(sw, slot);
        }
        /* The barrier that follows the batch no longer says that the
         * switch holds what the database says: another one follows the
         * commands sent again. */
        if (sw->sent_cfg > sw->acked_cfg) {
            sw->sent_cfg = sw->acked_cfg;
            sw->barrier_xid = htonl(0);
        }
    }
    fc_sent_remove(sw, sent);
}

static void
fc_handle_msg(struct fc_ctx *ctx, struct fc_switch *sw,
              const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    enum ofptype type;

    if (ofptype_decode(&type, oh)) {
        return;
    }
    if (type == OFPTYPE_ECHO_REQUEST) {
        fc_send(sw, ofputil_encode_echo_reply(oh));
    } else if (type == OFPTYPE_FEATURES_REPLY) {
        struct ofputil_switch_features features;

        if (!ofputil_pull_switch_features(&b, &features)) {
            sw->dpid = features.datapath_id;
            sw->identified = true;
            sw->row = fc_switch_row(ctx, sw);
            VLOG_INFO("switch %016"PRIx64" connected (%s)", sw->dpid,
                      rconn_get_name(sw->rconn));
        }
    } else if (type == OFPTYPE_PORT_DESC_STATS_REPLY) {
        struct ofputil_phy_port pp;

        ofpraw_pull_assert(&b);
        while (!ofputil_pull_phy_port(oh->version, &b, &pp)) {
            fc_port_update(sw, &pp, false);
        }
        if (!ofpmp_more(oh) && !sw->ports_known) {
            sw->ports_known = true;
            if (ctx->election.is_primary) {
                fc_switch_start_dump(ctx, sw);
            }
        }
    } else if (type == OFPTYPE_PORT_STATUS) {
        struct ofputil_port_status ps;

        if (!ofputil_decode_port_status(oh, &ps)) {
            fc_port_update(sw, &ps.desc, ps.reason == OFPPR_DELETE);
        }
    } else if (type == OFPTYPE_ROLE_REPLY) {
        struct ofputil_role_request rr;

        if (!ofputil_decode_role_message(oh, &rr)) {
            sw->primary = (ctx->election.is_primary
                           && rr.role == OFPCR12_ROLE_PRIMARY);
            VLOG_INFO("%016"PRIx64": %s role", sw->dpid,
                      rr.role == OFPCR12_ROLE_PRIMARY ? "primary"
                      : rr.role == OFPCR12_ROLE_SECONDARY ? "secondary"
                      : "equal");
        }
    } else if (type == OFPTYPE_FLEXMAP_STATS_REPLY) {
        if (oh->xid == sw->dump_xid) {
            fc_handle_dump_reply(ctx, sw, oh);
            fc_check_dumped(sw);
        }
    } else if (type == OFPTYPE_FLOW_STATS_REPLY) {
        if (oh->xid == sw->flow_dump_xid) {
            fc_handle_flow_dump_reply(sw, oh);
            fc_check_dumped(sw);
        }
    } else if (type == OFPTYPE_BARRIER_REPLY) {
        if (oh->xid == sw->barrier_xid) {
            sw->acked_cfg = sw->sent_cfg;
        }
        fc_sent_acked(sw, oh->xid);
    } else if (type == OFPTYPE_PACKET_IN) {
        fc_handle_packet_in(ctx, sw, oh);
    } else if (type == OFPTYPE_ERROR) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
        char *s = ofp_to_string(oh, ntohs(oh->length), NULL, NULL, 2);

        VLOG_WARN_RL(&rl, "%016"PRIx64": %s", sw->dpid, s);
        free(s);
        fc_handle_refusal(ctx, sw, oh);
    }
}

void
fc_switch_run(struct fc_ctx *ctx, struct fc_switch *sw)
{
    rconn_run(sw->rconn);
    if (!rconn_is_connected(sw->rconn)) {
        return;
    }
    if (!sw->handshaken) {
        sw->version = rconn_get_version(sw->rconn);
        fc_send(sw, ofpraw_alloc(OFPRAW_OFPT_FEATURES_REQUEST,
                                 sw->version, 0));
        fc_send(sw, ofputil_encode_port_desc_stats_request(sw->version,
                                                           OFPP_ANY));
        sw->handshaken = true;
    }
    for (int i = 0; i < 50; i++) {
        struct ofpbuf *msg = rconn_recv(sw->rconn);

        if (!msg) {
            break;
        }
        fc_handle_msg(ctx, sw, msg->data);
        ofpbuf_delete(msg);
    }
    if (!sw->role_claimed) {
        /* Once identified and in the database. */
        fc_switch_claim_role(ctx, sw);
    }
    if (sw->identified) {
        fc_switch_sync(ctx, sw);
    }
}

/* Adds a switch on the new connection 'vconn' to 'ctx''s switches. */
void
fc_switch_create(struct fc_ctx *ctx, struct vconn *vconn)
{
    struct fc_switch *sw = xzalloc(sizeof *sw);

    sw->rconn = rconn_create(60, 0, DSCP_DEFAULT,
                             vconn_get_allowed_versions(vconn));
    rconn_connect_unreliably(sw->rconn, vconn, NULL);
    shash_init(&sw->ports);
    hmap_init(&sw->slots);
    ovs_list_init(&sw->dirty);
    fc_want_flows_init(&sw->want_flows);
    hmap_init(&sw->flows);
    hmap_init(&sw->refused_flows);
    hmap_init(&sw->sent);
    ovs_list_init(&sw->sent_order);
    ovs_list_push_back(&ctx->switches, &sw->node);
}

void
fc_switch_destroy(struct fc_ctx *ctx, struct fc_switch *sw)
{
    if (sw->identified) {
        VLOG_INFO("switch %016"PRIx64" disconnected", sw->dpid);
    }
    ovs_list_remove(&sw->node);
    rconn_destroy(sw->rconn);
    shash_destroy(&sw->ports);
    fc_slots_clear(ctx, sw);
    hmap_destroy(&sw->slots);
    fc_want_flows_destroy(&sw->want_flows);
    fc_flows_clear(&sw->flows);
    hmap_destroy(&sw->flows);
    fc_flows_clear(&sw->refused_flows);
    hmap_destroy(&sw->refused_flows);
    fc_sent_clear(sw);
    hmap_destroy(&sw->sent);
    free(sw->uplink_name);
    free(sw->egress_via);
    free(sw);
}
