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
/* The pipeline rules that each switch should hold, built as structures
 * (table, priority, match, actions) the way a switch holds them: the rule
 * that sends what comes to the gateway MAC into the map table (or, in
 * reactive mode, to the controller), the ARP and neighbour advertisement
 * responders of the public addresses, delivery of what comes out of a
 * tunnel, and the containers' way out: proxy ARP and ND, the check of their
 * source addresses, and the uplink or the tunnel to their return gateway.
 *
 * A rule is compared with another, and with what a switch dumps, by its
 * match and actions in their OpenFlow encoding for the switch's version:
 * that is what the switch stores and dumps back, and it is one spelling
 * where OVS keeps two for one action (an output to CONTROLLER and a plain
 * controller() action, say).  Text is made only to name a rule in a
 * message (fc_flow_format()). */

#include <config.h>

#include <inttypes.h>
#include <string.h>

#include "fc-claims.h"
#include "fc-ctx.h"
#include "fc-desired.h"
#include "fc-flows.h"
#include "fc-switch.h"
#include "flexmap/controller/flexmap-idl.h"
#include "flow.h"
#include "hash.h"
#include "hmapx.h"
#include "nx-match.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/meta-flow.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "util.h"

/* Logs as "flexmap_controller" (see fc-ctx.h). */
#define this_module FC_VLOG_MODULE

/* The OpenFlow table where neighbour advertisements are finished. */
#define FC_ND_TABLE 1

/* The OpenFlow table where a container's outgoing packets are checked
 * against its tenant's public addresses and sent on their way out. */
#define FC_EGRESS_TABLE 2

/* Stores in 's' the text of a rule of ours with 'match', 'priority' and
 * actions 'ofpacts', as messages name it. */
void
fc_flow_text(uint8_t table_id, const struct match *match, int priority,
             const struct ofpact *ofpacts, size_t ofpacts_len, struct ds *s)
{
    struct ofpact_format_params fp = { .s = s };

    ds_put_format(s, "cookie=%#"PRIx64",table=%d,", FC_COOKIE,
                  table_id == 0xff ? 0 : table_id);
    match_format(match, NULL, s, priority);
    ds_put_cstr(s, ",actions=");
    ofpacts_format(ofpacts, ofpacts_len, &fp);
}

/* Rules. */

/* Returns a new rule with 'table_id', 'priority', 'match' and the
 * 'ofpacts_len' bytes of actions in 'ofpacts', keyed for a switch that
 * speaks 'version'. */
struct fc_flow *
fc_flow_create(uint8_t table_id, uint16_t priority, const struct match *match,
               const struct ofpact *ofpacts, size_t ofpacts_len,
               enum ofp_version version)
{
    struct fc_flow *f = xzalloc(sizeof *f);
    uint32_t hash;

    f->table_id = table_id;
    f->priority = priority;
    minimatch_init(&f->match, match);
    f->ofpacts = xmemdup(ofpacts, ofpacts_len);
    f->ofpacts_len = ofpacts_len;

    ofpbuf_init(&f->wire, 64);
    f->match_len = oxm_put_match(&f->wire, match, version);
    ofpacts_put_openflow_instructions(ofpacts, ofpacts_len, &f->wire,
                                      version);

    hash = hash_int((table_id << 16) | priority, 0);
    f->match_hash = hash_bytes(f->wire.data, f->match_len, hash);
    f->hash = hash_bytes(f->wire.data, f->wire.size, hash);
    return f;
}

/* Returns a copy of 'f', not in any table, without 'why'. */
struct fc_flow *
fc_flow_clone(const struct fc_flow *f)
{
    struct fc_flow *c = xzalloc(sizeof *c);

    c->table_id = f->table_id;
    c->priority = f->priority;
    minimatch_clone(&c->match, &f->match);
    c->ofpacts = xmemdup(f->ofpacts, f->ofpacts_len);
    c->ofpacts_len = f->ofpacts_len;
    ofpbuf_init(&c->wire, f->wire.size);
    ofpbuf_put(&c->wire, f->wire.data, f->wire.size);
    c->match_len = f->match_len;
    c->match_hash = f->match_hash;
    c->hash = f->hash;
    return c;
}

void
fc_flow_destroy(struct fc_flow *f)
{
    if (f) {
        minimatch_destroy(&f->match);
        free(f->ofpacts);
        ofpbuf_uninit(&f->wire);
        free(f->why);
        free(f);
    }
}

/* Returns true if 'a' and 'b' are the same rule on a switch: the same
 * table, priority and match ('actions' false), or all of that and the
 * same actions ('actions' true). */
static bool
fc_flow_equal(const struct fc_flow *a, const struct fc_flow *b, bool actions)
{
    size_t len = actions ? a->wire.size : a->match_len;

    return (a->table_id == b->table_id
            && a->priority == b->priority
            && a->match_len == b->match_len
            && (!actions || a->wire.size == b->wire.size)
            && !memcmp(a->wire.data, b->wire.data, len));
}

/* Returns the rule in 'flows' (linked by 'node') that is the same as 'f',
 * actions included, or NULL. */
struct fc_flow *
fc_flow_find(const struct hmap *flows, const struct fc_flow *f)
{
    struct fc_flow *g;

    HMAP_FOR_EACH_WITH_HASH (g, node, f->hash, flows) {
        if (fc_flow_equal(f, g, true)) {
            return g;
        }
    }
    return NULL;
}

/* Returns the rule in 'index' (linked by 'match_node') with the same table,
 * priority and match as 'f', or NULL. */
struct fc_flow *
fc_flow_find_match(const struct hmap *index, const struct fc_flow *f)
{
    struct fc_flow *g;

    HMAP_FOR_EACH_WITH_HASH (g, match_node, f->match_hash, index) {
        if (fc_flow_equal(f, g, false)) {
            return g;
        }
    }
    return NULL;
}

/* Adds 'f' to 'flows' (by 'node'), unless the same rule is there already:
 * then frees 'f'. */
void
fc_flows_add(struct hmap *flows, struct fc_flow *f)
{
    if (fc_flow_find(flows, f)) {
        fc_flow_destroy(f);
    } else {
        hmap_insert(flows, &f->node, f->hash);
    }
}

/* Frees every rule in 'flows' (linked by 'node') and empties it. */
void
fc_flows_clear(struct hmap *flows)
{
    struct fc_flow *f;

    HMAP_FOR_EACH_POP (f, node, flows) {
        fc_flow_destroy(f);
    }
}

/* Stores in 's' the text of 'f', as fc_flow_text() spells it. */
void
fc_flow_format(const struct fc_flow *f, struct ds *s)
{
    struct match match;

    minimatch_expand(&f->match, &match);
    fc_flow_text(f->table_id, &match, f->priority, f->ofpacts,
                 f->ofpacts_len, s);
}

/* Building rules. */

/* Starts rule 'r' in 'table_id' with 'priority', matching everything and
 * with no actions. */
void
fc_rule_init(struct fc_rule *r, uint8_t table_id, uint16_t priority)
{
    r->table_id = table_id;
    r->priority = priority;
    match_init_catchall(&r->match);
    ofpbuf_use_stub(&r->ofpacts, r->stub, sizeof r->stub);
}

void
fc_rule_uninit(struct fc_rule *r)
{
    ofpbuf_uninit(&r->ofpacts);
}

/* Adds rule 'r' to 'flows', keyed for switch 'sw', and uninitializes
 * 'r'. */
static void
fc_rule_add(struct fc_rule *r, const struct fc_switch *sw,
            struct hmap *flows)
{
    fc_flows_add(flows, fc_flow_create(r->table_id, r->priority, &r->match,
                                       r->ofpacts.data, r->ofpacts.size,
                                       sw->version));
    fc_rule_uninit(r);
}

/* Matches: as ovs-ofctl sets a protocol keyword ("ip", "arp", "icmp6") and
 * a field ("dl_dst=..."). */

void
fc_match_proto(struct fc_rule *r, uint16_t dl_type, uint8_t nw_proto)
{
    match_set_dl_type(&r->match, htons(dl_type));
    if (nw_proto) {
        match_set_nw_proto(&r->match, nw_proto);
    }
    match_set_default_packet_type(&r->match);
}

void
fc_match(struct fc_rule *r, enum mf_field_id id, const union mf_value *value)
{
    const struct mf_field *mf = mf_from_id(id);

    mf_set_value(mf, value, &r->match, NULL);
    match_add_ethernet_prereq(&r->match, mf);
}

void
fc_match_mac(struct fc_rule *r, enum mf_field_id id, struct eth_addr mac)
{
    union mf_value v = { .mac = mac };

    fc_match(r, id, &v);
}

static void
fc_match_u8(struct fc_rule *r, enum mf_field_id id, uint8_t u8)
{
    union mf_value v = { .u8 = u8 };

    fc_match(r, id, &v);
}

void
fc_match_in_port(struct fc_rule *r, ofp_port_t port)
{
    union mf_value v = { .be16 = htons(ofp_to_u16(port)) };

    fc_match(r, MFF_IN_PORT, &v);
}

/* Matches packets from (or, as 'id' says, about) address 'ip6' (IPv4 as
 * IPv4-mapped): 'id4' for IPv4, 'id6' for IPv6. */
void
fc_match_ip(struct fc_rule *r, enum mf_field_id id4, enum mf_field_id id6,
            const struct in6_addr *ip6)
{
    union mf_value v;

    memset(&v, 0, sizeof v);
    if (IN6_IS_ADDR_V4MAPPED(ip6)) {
        v.be32 = in6_addr_get_mapped_ipv4(ip6);
        fc_match(r, id4, &v);
    } else {
        v.ipv6 = *ip6;
        fc_match(r, id6, &v);
    }
}

/* Matches packets from public address 'ip6': "ip,nw_src=..." or
 * "ipv6,ipv6_src=...". */
static void
fc_match_src(struct fc_rule *r, const struct in6_addr *ip6)
{
    fc_match_proto(r, IN6_IS_ADDR_V4MAPPED(ip6) ? ETH_TYPE_IP
                                                : ETH_TYPE_IPV6, 0);
    fc_match_ip(r, MFF_IPV4_SRC, MFF_IPV6_SRC, ip6);
}

/* Actions, as ovs-ofctl parses "set_field:V->F", "move:A[]->B[]",
 * "output:P", "IN_PORT" and "resubmit(,T)". */

static void
fc_put_set(struct fc_rule *r, enum mf_field_id id,
           const union mf_value *value)
{
    ofpact_put_set_field(&r->ofpacts, mf_from_id(id), value, NULL);
}

void
fc_put_set_mac(struct fc_rule *r, enum mf_field_id id, struct eth_addr mac)
{
    union mf_value v = { .mac = mac };

    fc_put_set(r, id, &v);
}

static void
fc_put_set_u8(struct fc_rule *r, enum mf_field_id id, uint8_t u8)
{
    union mf_value v = { .u8 = u8 };

    fc_put_set(r, id, &v);
}

static void
fc_put_set_be16(struct fc_rule *r, enum mf_field_id id, ovs_be16 be16)
{
    union mf_value v = { .be16 = be16 };

    fc_put_set(r, id, &v);
}

static void
fc_put_set_be32(struct fc_rule *r, enum mf_field_id id, ovs_be32 be32)
{
    union mf_value v = { .be32 = be32 };

    fc_put_set(r, id, &v);
}

static void
fc_put_set_be64(struct fc_rule *r, enum mf_field_id id, ovs_be64 be64)
{
    union mf_value v = { .be64 = be64 };

    fc_put_set(r, id, &v);
}

/* Sets address field 'id4' (IPv4) or 'id6' (IPv6) to 'ip6' (IPv4 as
 * IPv4-mapped). */
static void
fc_put_set_ip(struct fc_rule *r, enum mf_field_id id4, enum mf_field_id id6,
              const struct in6_addr *ip6)
{
    union mf_value v;

    memset(&v, 0, sizeof v);
    if (IN6_IS_ADDR_V4MAPPED(ip6)) {
        v.be32 = in6_addr_get_mapped_ipv4(ip6);
        fc_put_set(r, id4, &v);
    } else {
        v.ipv6 = *ip6;
        fc_put_set(r, id6, &v);
    }
}

static void
fc_put_move(struct fc_rule *r, enum mf_field_id src, enum mf_field_id dst)
{
    struct ofpact_reg_move *move = ofpact_put_REG_MOVE(&r->ofpacts);

    move->src.field = mf_from_id(src);
    move->src.ofs = 0;
    move->src.n_bits = move->src.field->n_bits;
    move->dst.field = mf_from_id(dst);
    move->dst.ofs = 0;
    move->dst.n_bits = move->dst.field->n_bits;
}

void
fc_put_output(struct fc_rule *r, ofp_port_t port)
{
    struct ofpact_output *output = ofpact_put_OUTPUT(&r->ofpacts);

    output->port = port;
    output->max_len = port == OFPP_CONTROLLER ? UINT16_MAX : 0;
}

static void
fc_put_resubmit(struct fc_rule *r, uint8_t table_id)
{
    struct ofpact_resubmit *resubmit = ofpact_put_RESUBMIT(&r->ofpacts);

    resubmit->in_port = OFPP_IN_PORT;
    resubmit->table_id = table_id;
    resubmit->with_ct_orig = false;
}

/* The pipeline. */

/* Resolves the uplink of 'sw' from its row: the port and the router MAC,
 * if both are right.  If the row names no uplink, 'sw' has none; if it
 * names a port that the switch lacks or a router MAC that is no unicast
 * MAC, 'sw' keeps the uplink it had, so that a typo does not cut off every
 * reply (fc_switch_row_check() reports it). */
void
fc_switch_resolve_uplink(struct fc_switch *sw)
{
    const struct flexrec_switch *row = sw->row;
    ofp_port_t port = fc_port(sw, row->uplink);
    struct eth_addr mac;
    char *error;

    if (!row->uplink) {
        free(sw->uplink_name);
        sw->uplink_name = NULL;
        return;
    }
    error = (row->router_mac
             ? fc_unicast_mac(row->router_mac, "router_mac", &mac)
             : xstrdup("no router_mac"));
    if (!error && port != OFPP_NONE) {
        free(sw->uplink_name);
        sw->uplink_name = xstrdup(row->uplink);
        sw->uplink_port = port;
        sw->router_mac = mac;
    } else if (!sw->uplink_name && sw->dumped_uplink) {
        /* This controller has not known a good uplink for 'sw' yet: keep
         * the one that the switch's rules use. */
        const struct shash_node *node;

        sw->uplink_name = xasprintf("port %"PRIu16,
                                    ofp_to_u16(sw->dumped_uplink_port));
        SHASH_FOR_EACH (node, &sw->ports) {
            if ((uintptr_t) node->data
                == ofp_to_u16(sw->dumped_uplink_port)) {
                free(sw->uplink_name);
                sw->uplink_name = xstrdup(node->name);
                break;
            }
        }
        sw->uplink_port = sw->dumped_uplink_port;
        sw->router_mac = sw->dumped_router_mac;
    }
    free(error);
}

/* Appends to 'r' the actions with which switch 'sw' sends a packet from a
 * public address out of its uplink to the router there, and returns true,
 * or returns false if it has no uplink (see fc_switch_resolve_uplink()). */
static bool
fc_uplink_actions(const struct fc_switch *sw, struct eth_addr gw,
                  struct fc_rule *r)
{
    if (!sw->uplink_name) {
        return false;
    }
    fc_put_set_mac(r, MFF_ETH_SRC, gw);
    fc_put_set_mac(r, MFF_ETH_DST, sw->router_mac);
    fc_put_output(r, sw->uplink_port);
    return true;
}

/* Returns the gateway through which host 'host' sends its containers'
 * replies, one of the gateways that have an uplink, a router and a tunnel
 * address: the one whose name hashes highest with the host's (rendezvous
 * hashing), so that hosts spread over the gateways and a gateway that comes
 * or goes only moves the hosts that pick it. */
static const struct flexrec_switch *
fc_return_gateway(struct fc_ctx *ctx, const struct flexrec_switch *host)
{
    const struct flexrec_switch *row, *best = NULL;
    uint32_t basis = hash_string(host->name, 0);
    uint32_t best_score = 0;

    FLEXREC_SWITCH_FOR_EACH (row, ctx->idl) {
        struct in6_addr ip6;
        struct eth_addr mac;
        char *error = (row->router_mac
                       ? fc_unicast_mac(row->router_mac, "", &mac) : NULL);
        char *text = NULL;

        free(error);
        if (!strcmp(row->role, "gateway") && row->uplink && row->router_mac
            && !error && fc_tunnel_ip(row, &ip6, &text)) {
            uint32_t score = hash_string(row->name, basis);

            if (!best || score > best_score
                || (score == best_score
                    && strcmp(row->name, best->name) < 0)) {
                best = row;
                best_score = score;
            }
        }
        free(text);
    }
    return best;
}

/* Appends to 'r' the actions with which switch 'sw' sends its containers'
 * outgoing packets toward the Internet, and returns true, or returns false
 * if they have no way out:
 *
 *   - A gateway, and a host whose return_path is "direct", send them out
 *     of their own uplink.
 *
 *   - Other hosts send them through their tunnel port to their return
 *     gateway (fc_return_gateway()), which sends them out of its uplink
 *     (cloud providers drop packets whose source address they did not hand
 *     out). */
static bool
fc_egress_actions(struct fc_ctx *ctx, const struct fc_switch *sw,
                  struct eth_addr gw, struct fc_rule *r)
{
    const struct flexrec_switch *row = sw->row;

    if (!strcmp(row->role, "gateway")
        || (row->return_path && !strcmp(row->return_path, "direct"))) {
        return fc_uplink_actions(sw, gw, r);
    }

    const struct flexrec_switch *out = fc_return_gateway(ctx, row);
    ofp_port_t tnl_port = fc_port(sw, row->tunnel_port);
    struct in6_addr ip6;
    char *text;

    if (!out || tnl_port == OFPP_NONE || !fc_tunnel_ip(out, &ip6, &text)) {
        return false;
    }
    free(text);
    fc_put_set_ip(r, MFF_TUN_DST, MFF_TUN_IPV6_DST, &ip6);
    fc_put_set_be64(r, MFF_TUN_ID, fc_tunnel_key(ctx));
    fc_put_output(r, tnl_port);
    return true;
}

/* Returns a malloc()'d description of the way out of the containers behind
 * 'sw' as far as other switches' rows decide it: the tunnel address of its
 * return gateway ("-" if it has none), or "" if its way out is its own
 * uplink or it has no row.  When this changes, so do its rules. */
char *
fc_switch_egress_via(struct fc_ctx *ctx, const struct fc_switch *sw)
{
    const struct flexrec_switch *row = sw->row;
    const struct flexrec_switch *out;
    struct in6_addr ip6;
    char *text;

    if (!row || !strcmp(row->role, "gateway")
        || (row->return_path && !strcmp(row->return_path, "direct"))) {
        return xstrdup("");
    }
    out = fc_return_gateway(ctx, row);
    return out && fc_tunnel_ip(out, &ip6, &text) ? text : xstrdup("-");
}

/* The OpenFlow metadata that marks a packet from a container of 'tenant',
 * for the address check in FC_EGRESS_TABLE. */
static uint64_t
fc_tenant_metadata(const struct flexrec_tenant *tenant)
{
    const struct uuid *u = &tenant->header_.uuid;

    return ((uint64_t) u->parts[0] << 32) | u->parts[1];
}

/* What the rules of one switch share: the gateway MAC, the switch's tunnel
 * port, and its containers' way out. */
struct fc_flows_env {
    struct eth_addr gw;
    ofp_port_t tnl_port;
    struct fc_rule egress;      /* Its actions: the way out. */
    bool has_egress;
    struct fc_rule uplink;      /* Its actions: a gateway's uplink... */
    bool has_return;            /* ...for what hosts send it. */
    ovs_be64 tun_key;
};

/* Initializes 'env' for switch 'sw' and returns true, or returns false if
 * 'sw' should hold no rules at all (no row yet, or no usable gateway
 * MAC), without initializing 'env'. */
static bool
fc_flows_env_init(struct fc_ctx *ctx, const struct fc_switch *sw,
                  struct fc_flows_env *env)
{
    const char *gw_text = fc_gateway_mac(ctx);

    if (!sw->row || !gw_text || !eth_addr_from_string(gw_text, &env->gw)) {
        return false;
    }
    env->tnl_port = fc_port(sw, sw->row->tunnel_port);
    fc_rule_init(&env->egress, 0, 0);
    env->has_egress = fc_egress_actions(ctx, sw, env->gw, &env->egress);
    fc_rule_init(&env->uplink, 0, 0);
    env->has_return = (!strcmp(sw->row->role, "gateway")
                       && env->tnl_port != OFPP_NONE
                       && fc_uplink_actions(sw, env->gw, &env->uplink));
    env->tun_key = fc_tunnel_key(ctx);
    return true;
}

static void
fc_flows_env_uninit(struct fc_flows_env *env)
{
    fc_rule_uninit(&env->egress);
    fc_rule_uninit(&env->uplink);
}

/* Adds to 'flows' the rules for container 'c' behind switch 'sw':
 *
 *   - Delivery: packets that a gateway sent through the tunnel arrive with
 *     their container's MAC already in place.
 *
 *   - The way out, where there is one: the switch answers every ARP request
 *     and neighbour solicitation from a container with the gateway MAC (so
 *     that a container's default route may go through any address), and
 *     sends what a container sends to the gateway MAC from one of its
 *     tenant's public addresses on its way out; it drops anything else
 *     that a container sends to the gateway MAC.
 *
 * Returns true if it added the way out, so that the switch needs the
 * address check of the container's tenant (see fc_ip_flows()). */
static bool
fc_container_flows(struct fc_ctx *ctx, const struct fc_switch *sw,
                   const struct fc_flows_env *env,
                   const struct flexrec_container *c, struct hmap *flows)
{
    ofp_port_t port = fc_port(sw, c->iface);
    struct eth_addr gw = env->gw;
    struct eth_addr mac;
    struct fc_rule r;

    if (c->switch_ != sw->row || port == OFPP_NONE
        || !fc_container_built(ctx, c, &mac)) {
        return false;
    }
    if (env->tnl_port != OFPP_NONE) {
        fc_rule_init(&r, 0, 100);
        fc_match_in_port(&r, env->tnl_port);
        fc_match_mac(&r, MFF_ETH_DST, mac);
        fc_put_output(&r, port);
        fc_rule_add(&r, sw, flows);
    }
    if (!env->has_egress) {
        return false;
    }
    for (int i = 0; i < 2; i++) {
        uint16_t dl_type = i ? ETH_TYPE_IPV6 : ETH_TYPE_IP;

        fc_rule_init(&r, 0, 120);
        fc_match_in_port(&r, port);
        fc_match_proto(&r, dl_type, 0);
        fc_match_mac(&r, MFF_ETH_SRC, mac);
        fc_match_mac(&r, MFF_ETH_DST, gw);
        fc_put_set_be64(&r, MFF_METADATA,
                        htonll(fc_tenant_metadata(c->tenant)));
        fc_put_resubmit(&r, FC_EGRESS_TABLE);
        fc_rule_add(&r, sw, flows);

        /* Another source MAC: not this container's to send. */
        fc_rule_init(&r, 0, 110);
        fc_match_in_port(&r, port);
        fc_match_proto(&r, dl_type, 0);
        fc_match_mac(&r, MFF_ETH_DST, gw);
        fc_rule_add(&r, sw, flows);
    }
    /* Proxy ARP: the reply says the requested address is at the
     * gateway MAC.  Probes (sender 0.0.0.0) get no answer, or the
     * container would think its own address taken. */
    fc_rule_init(&r, 0, 106);
    fc_match_in_port(&r, port);
    fc_match_proto(&r, ETH_TYPE_ARP, 0);
    fc_match(&r, MFF_ARP_SPA, &(union mf_value) { .be32 = 0 });
    fc_rule_add(&r, sw, flows);

    fc_rule_init(&r, 0, 105);
    fc_match_in_port(&r, port);
    fc_match_proto(&r, ETH_TYPE_ARP, 0);
    fc_match(&r, MFF_ARP_OP, &(union mf_value) { .be16 = htons(1) });
    fc_put_move(&r, MFF_ETH_SRC, MFF_ETH_DST);
    fc_put_set_mac(&r, MFF_ETH_SRC, gw);
    fc_put_set_be16(&r, MFF_ARP_OP, htons(2));
    fc_put_move(&r, MFF_ARP_SHA, MFF_ARP_THA);
    fc_put_set_mac(&r, MFF_ARP_SHA, gw);
    fc_put_move(&r, MFF_ARP_TPA, MFF_REG0);
    fc_put_move(&r, MFF_ARP_SPA, MFF_ARP_TPA);
    fc_put_move(&r, MFF_REG0, MFF_ARP_SPA);
    fc_put_output(&r, OFPP_IN_PORT);
    fc_rule_add(&r, sw, flows);

    /* Proxy neighbour discovery, in two steps as for public addresses
     * (see fc_desired_flows()), above the way out so that unicast
     * solicitations to the gateway MAC are answered too; duplicate
     * address detection (source ::) gets no answer. */
    fc_rule_init(&r, 0, 126);
    fc_match_in_port(&r, port);
    fc_match_proto(&r, ETH_TYPE_IPV6, IPPROTO_ICMPV6);
    fc_match_u8(&r, MFF_ICMPV6_TYPE, 135);
    fc_match(&r, MFF_IPV6_SRC, &(union mf_value) { .ipv6 = in6addr_any });
    fc_rule_add(&r, sw, flows);

    fc_rule_init(&r, 0, 125);
    fc_match_in_port(&r, port);
    fc_match_proto(&r, ETH_TYPE_IPV6, IPPROTO_ICMPV6);
    fc_match_u8(&r, MFF_ICMPV6_TYPE, 135);
    fc_match_u8(&r, MFF_ICMPV6_CODE, 0);
    fc_put_move(&r, MFF_ETH_SRC, MFF_ETH_DST);
    fc_put_set_mac(&r, MFF_ETH_SRC, gw);
    fc_put_move(&r, MFF_IPV6_SRC, MFF_IPV6_DST);
    fc_put_move(&r, MFF_ND_TARGET, MFF_IPV6_SRC);
    fc_put_set_u8(&r, MFF_IP_TTL, 255);
    fc_put_set_u8(&r, MFF_ICMPV6_TYPE, 136);
    fc_put_resubmit(&r, FC_ND_TABLE);
    fc_rule_add(&r, sw, flows);

    fc_rule_init(&r, FC_ND_TABLE, 105);
    fc_match_in_port(&r, port);
    fc_match_proto(&r, ETH_TYPE_IPV6, IPPROTO_ICMPV6);
    fc_match_u8(&r, MFF_ICMPV6_TYPE, 136);
    fc_match_u8(&r, MFF_ICMPV6_CODE, 0);
    fc_put_set_be32(&r, MFF_ND_RESERVED, htonl(0x60000000));
    fc_put_set_u8(&r, MFF_ND_OPTIONS_TYPE, 2);
    fc_put_set_mac(&r, MFF_ND_TLL, gw);
    fc_put_output(&r, OFPP_IN_PORT);
    fc_rule_add(&r, sw, flows);
    return true;
}

/* Adds to 'flows' the rules of public address 'ip' on switch 'sw', if
 * its owner is settled (see fc_ips_refresh()): the address check, if
 * 'check' (its tenant has a container with a way out here), a gateway's
 * return rule, and its responder. */
static void
fc_ip_flows(struct fc_ctx *ctx, const struct fc_switch *sw,
            const struct fc_flows_env *env,
            const struct flexrec_public_ip *ip, bool check,
            struct hmap *flows)
{
    struct eth_addr gw = env->gw;
    struct in6_addr ip6;
    struct fc_rule r;

    if (!fc_ip_owned(ctx, ip, &ip6)) {
        return;
    }

    /* The address check: only a tenant's own public addresses leave. */
    if (check && env->has_egress) {
        fc_rule_init(&r, FC_EGRESS_TABLE, 100);
        fc_match(&r, MFF_METADATA, &(union mf_value) {
                     .be64 = htonll(fc_tenant_metadata(ip->tenant)) });
        fc_match_src(&r, &ip6);
        ofpbuf_put(&r.ofpacts, env->egress.ofpacts.data,
                   env->egress.ofpacts.size);
        fc_rule_add(&r, sw, flows);
    }

    /* A gateway sends out of its uplink what hosts send it through the
     * tunnel from public addresses. */
    if (env->has_return) {
        fc_rule_init(&r, 0, 120);
        fc_match_in_port(&r, env->tnl_port);
        fc_match(&r, MFF_TUN_ID, &(union mf_value) { .be64 = env->tun_key });
        fc_match_mac(&r, MFF_ETH_DST, gw);
        fc_match_src(&r, &ip6);
        ofpbuf_put(&r.ofpacts, env->uplink.ofpacts.data,
                   env->uplink.ofpacts.size);
        fc_rule_add(&r, sw, flows);
    }

    if (IN6_IS_ADDR_V4MAPPED(&ip6)) {
        /* ARP reply from the gateway MAC. */
        fc_rule_init(&r, 0, 110);
        fc_match_proto(&r, ETH_TYPE_ARP, 0);
        fc_match(&r, MFF_ARP_OP, &(union mf_value) { .be16 = htons(1) });
        fc_match_ip(&r, MFF_ARP_TPA, MFF_ARP_TPA, &ip6);
        fc_put_move(&r, MFF_ETH_SRC, MFF_ETH_DST);
        fc_put_set_mac(&r, MFF_ETH_SRC, gw);
        fc_put_set_be16(&r, MFF_ARP_OP, htons(2));
        fc_put_move(&r, MFF_ARP_SHA, MFF_ARP_THA);
        fc_put_set_mac(&r, MFF_ARP_SHA, gw);
        fc_put_move(&r, MFF_ARP_SPA, MFF_ARP_TPA);
        fc_put_set_ip(&r, MFF_ARP_SPA, MFF_ARP_SPA, &ip6);
        fc_put_output(&r, OFPP_IN_PORT);
        fc_rule_add(&r, sw, flows);
    } else {
        /* Neighbour advertisement from the gateway MAC.  A rule that
         * matches a solicitation may not set the advertisement's
         * target link-layer address, so the reply is built in two
         * steps: turn the solicitation around and make it an
         * advertisement, then, in FC_ND_TABLE, set the flags
         * (solicited, override) and the target link-layer address
         * option in place of the source link-layer option. */
        fc_rule_init(&r, 0, 110);
        fc_match_proto(&r, ETH_TYPE_IPV6, IPPROTO_ICMPV6);
        fc_match_u8(&r, MFF_ICMPV6_TYPE, 135);
        fc_match_u8(&r, MFF_ICMPV6_CODE, 0);
        fc_match(&r, MFF_ND_TARGET, &(union mf_value) { .ipv6 = ip6 });
        fc_put_move(&r, MFF_ETH_SRC, MFF_ETH_DST);
        fc_put_set_mac(&r, MFF_ETH_SRC, gw);
        fc_put_move(&r, MFF_IPV6_SRC, MFF_IPV6_DST);
        fc_put_set(&r, MFF_IPV6_SRC, &(union mf_value) { .ipv6 = ip6 });
        fc_put_set_u8(&r, MFF_IP_TTL, 255);
        fc_put_set_u8(&r, MFF_ICMPV6_TYPE, 136);
        fc_put_resubmit(&r, FC_ND_TABLE);
        fc_rule_add(&r, sw, flows);

        fc_rule_init(&r, FC_ND_TABLE, 110);
        fc_match_proto(&r, ETH_TYPE_IPV6, IPPROTO_ICMPV6);
        fc_match_u8(&r, MFF_ICMPV6_TYPE, 136);
        fc_match_u8(&r, MFF_ICMPV6_CODE, 0);
        fc_match(&r, MFF_ND_TARGET, &(union mf_value) { .ipv6 = ip6 });
        fc_put_set_be32(&r, MFF_ND_RESERVED, htonl(0x60000000));
        fc_put_set_u8(&r, MFF_ND_OPTIONS_TYPE, 2);
        fc_put_set_mac(&r, MFF_ND_TLL, gw);
        fc_put_output(&r, OFPP_IN_PORT);
        fc_rule_add(&r, sw, flows);
    }
}

/* Adds to 'flows' the rules of switch 'sw' that neither a container nor a
 * public address makes: those into the map table. */
static void
fc_own_flows(struct fc_ctx *ctx, const struct fc_switch *sw,
             const struct fc_flows_env *env, struct hmap *flows)
{
    for (int i = 0; i < 2; i++) {
        struct fc_rule r;

        fc_rule_init(&r, 0, 100);
        fc_match_proto(&r, i ? ETH_TYPE_IPV6 : ETH_TYPE_IP, 0);
        fc_match_mac(&r, MFF_ETH_DST, env->gw);
        if (ctx->reactive) {
            fc_put_output(&r, OFPP_CONTROLLER);
        } else {
            ofpact_put_FLEXMAP(&r.ofpacts)->table_id = ctx->map_table;
        }
        fc_rule_add(&r, sw, flows);
    }
}

/* Groups of wanted rules. */

/* The rules of one group: of one container behind the switch, or, keyed by
 * the all-zeros UUID, the switch's own. */
struct fc_flow_group {
    struct hmap_node node;      /* In fc_want_flows' 'groups'. */
    struct uuid uuid;
    struct uuid tenant;         /* A container's tenant. */
    bool egress;                /* A container with a way out: its tenant
                                 * needs the address check here. */
    size_t n;
    struct fc_flow **flows;     /* In fc_want_flows' 'flows'. */
};

/* The number of containers of one tenant that have a way out of a
 * switch. */
struct fc_tenant_count {
    struct hmap_node node;      /* In fc_want_flows' 'tenants'. */
    struct uuid tenant;
    size_t n;
};

void
fc_want_flows_init(struct fc_want_flows *w)
{
    hmap_init(&w->groups);
    hmap_init(&w->tenants);
    hmap_init(&w->flows);
    hmap_init(&w->matches);
    hmap_init(&w->touched);
}

/* Forgets every wanted rule and every touched one. */
void
fc_want_flows_clear(struct fc_want_flows *w)
{
    struct fc_tenant_count *tc;
    struct fc_flow_group *g;

    HMAP_FOR_EACH_POP (g, node, &w->groups) {
        free(g->flows);
        free(g);
    }
    HMAP_FOR_EACH_POP (tc, node, &w->tenants) {
        free(tc);
    }
    hmap_clear(&w->matches);
    fc_flows_clear(&w->flows);
    fc_flows_clear(&w->touched);
}

void
fc_want_flows_destroy(struct fc_want_flows *w)
{
    if (w) {
        fc_want_flows_clear(w);
        hmap_destroy(&w->groups);
        hmap_destroy(&w->tenants);
        hmap_destroy(&w->flows);
        hmap_destroy(&w->matches);
        hmap_destroy(&w->touched);
    }
}

/* Adds 'delta' (1 or -1) to the number of containers of the tenant with
 * UUID 'tenant' that have a way out of 'w''s switch. */
static void
fc_tenant_count_add(struct fc_want_flows *w, const struct uuid *tenant,
                    int delta)
{
    struct fc_tenant_count *tc;

    HMAP_FOR_EACH_WITH_HASH (tc, node, uuid_hash(tenant), &w->tenants) {
        if (uuid_equals(&tc->tenant, tenant)) {
            break;
        }
    }
    if (!tc) {
        ovs_assert(delta > 0);
        tc = xzalloc(sizeof *tc);
        tc->tenant = *tenant;
        hmap_insert(&w->tenants, &tc->node, uuid_hash(tenant));
    }
    tc->n += delta;
    if (!tc->n) {
        hmap_remove(&w->tenants, &tc->node);
        free(tc);
    }
}

static struct fc_flow_group *
fc_group_find(const struct fc_want_flows *w, const struct uuid *uuid)
{
    struct fc_flow_group *g;

    HMAP_FOR_EACH_WITH_HASH (g, node, uuid_hash(uuid), &w->groups) {
        if (uuid_equals(&g->uuid, uuid)) {
            return g;
        }
    }
    return NULL;
}

/* Makes the rules in 'flows' (which it empties) those of the group keyed
 * by 'uuid', which it creates if needed ('keep'), or drops ('keep' false,
 * 'flows' empty).  With 'track', copies of the rules that the switch now
 * wants and did not, or wanted and does not, go to 'w->touched'. */
static void
fc_group_set(struct fc_want_flows *w, const struct uuid *uuid,
             struct hmap *flows, const struct uuid *tenant, bool egress,
             bool keep, bool track)
{
    struct fc_flow_group *g = fc_group_find(w, uuid);
    struct fc_flow **old = g ? g->flows : NULL;
    size_t n_old = g ? g->n : 0;
    struct fc_flow *f;

    if (!g && !keep) {
        return;
    }
    if (!g) {
        g = xzalloc(sizeof *g);
        g->uuid = *uuid;
        hmap_insert(&w->groups, &g->node, uuid_hash(uuid));
    }
    if (g->egress) {
        fc_tenant_count_add(w, &g->tenant, -1);
    }
    if (egress) {
        fc_tenant_count_add(w, tenant, 1);
    }
    g->tenant = *tenant;
    g->egress = egress;
    g->n = 0;
    g->flows = xmalloc(hmap_count(flows) * sizeof *g->flows);

    /* The new rules first, so that those in both are never let go. */
    HMAP_FOR_EACH_POP (f, node, flows) {
        struct fc_flow *same = fc_flow_find(&w->flows, f);

        if (same) {
            fc_flow_destroy(f);
            f = same;
            f->n_refs++;
        } else {
            f->n_refs = 1;
            hmap_insert(&w->flows, &f->node, f->hash);
            hmap_insert(&w->matches, &f->match_node, f->match_hash);
            if (track) {
                fc_flows_add(&w->touched, fc_flow_clone(f));
            }
        }
        g->flows[g->n++] = f;
    }
    for (size_t i = 0; i < n_old; i++) {
        f = old[i];
        if (!--f->n_refs) {
            hmap_remove(&w->flows, &f->node);
            hmap_remove(&w->matches, &f->match_node);
            if (track) {
                fc_flows_add(&w->touched, f);
            } else {
                fc_flow_destroy(f);
            }
        }
    }
    free(old);
    if (!keep) {
        hmap_remove(&w->groups, &g->node);
        free(g->flows);
        free(g);
    }
}

/* Recomputes the group of container 'c' on switch 'sw'. */
static void
fc_container_group(struct fc_ctx *ctx, struct fc_switch *sw,
                   const struct fc_flows_env *env,
                   const struct flexrec_container *c, bool track)
{
    struct hmap flows = HMAP_INITIALIZER(&flows);
    bool egress = fc_container_flows(ctx, sw, env, c, &flows);

    fc_group_set(&sw->want_flows, &c->header_.uuid, &flows,
                 &c->tenant->header_.uuid, egress, true, track);
    hmap_destroy(&flows);
}

/* Returns true if 'w''s switch has a container of the tenant with UUID
 * 'tenant' with a way out. */
static bool
fc_tenant_present(const struct fc_want_flows *w, const struct uuid *tenant)
{
    const struct fc_tenant_count *tc;

    HMAP_FOR_EACH_WITH_HASH (tc, node, uuid_hash(tenant), &w->tenants) {
        if (uuid_equals(&tc->tenant, tenant)) {
            return true;
        }
    }
    return false;
}

/* Recomputes the group of public address 'ip' on switch 'sw'. */
static void
fc_ip_group(struct fc_ctx *ctx, struct fc_switch *sw,
            const struct fc_flows_env *env,
            const struct flexrec_public_ip *ip, bool track)
{
    struct hmap flows = HMAP_INITIALIZER(&flows);
    bool check = fc_tenant_present(&sw->want_flows,
                                   &ip->tenant->header_.uuid);

    fc_ip_flows(ctx, sw, env, ip, check, &flows);
    fc_group_set(&sw->want_flows, &ip->header_.uuid, &flows,
                 &ip->tenant->header_.uuid, false, !hmap_is_empty(&flows),
                 track);
    hmap_destroy(&flows);
}

/* Recomputes on switch 'sw' the groups of the public addresses of the
 * tenant with UUID 'tenant', after the tenant arrived on 'sw' or left it
 * (their address check comes or goes). */
static void
fc_tenant_ips_update(struct fc_ctx *ctx, struct fc_switch *sw,
                     const struct fc_flows_env *env,
                     const struct uuid *tenant)
{
    const struct flexrec_public_ip *ip;

    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        if (uuid_equals(&ip->tenant->header_.uuid, tenant)) {
            fc_ip_group(ctx, sw, env, ip, true);
        }
    }
}

/* Recomputes the switch's own group of 'sw'. */
static void
fc_own_group(struct fc_ctx *ctx, struct fc_switch *sw,
             const struct fc_flows_env *env, bool track)
{
    struct hmap flows = HMAP_INITIALIZER(&flows);
    struct uuid zero;

    fc_own_flows(ctx, sw, env, &flows);
    uuid_zero(&zero);
    fc_group_set(&sw->want_flows, &zero, &flows, &zero, false, true, track);
    hmap_destroy(&flows);
}

/* Recomputes every rule that switch 'sw' should hold, tracking none: the
 * caller compares the whole set with what the switch holds. */
void
fc_flows_recompute(struct fc_ctx *ctx, struct fc_switch *sw)
{
    const struct flexrec_container *c;
    const struct flexrec_public_ip *ip;
    struct fc_flows_env env;

    fc_want_flows_clear(&sw->want_flows);
    free(sw->egress_via);
    sw->egress_via = fc_switch_egress_via(ctx, sw);
    if (!fc_flows_env_init(ctx, sw, &env)) {
        return;
    }
    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        if (c->switch_ == sw->row) {
            fc_container_group(ctx, sw, &env, c, false);
        }
    }
    fc_own_group(ctx, sw, &env, false);
    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        fc_ip_group(ctx, sw, &env, ip, false);
    }
    fc_flows_env_uninit(&env);
}

/* Recomputes the rules of the container with UUID 'uuid' on switch 'sw',
 * where it is now or was until now, and, if that makes its tenant appear
 * on 'sw' or leave it, the groups of the tenant's public addresses (their
 * address check).  The rules that change go to 'sw->want_flows.touched'. */
void
fc_flows_update_container(struct fc_ctx *ctx, struct fc_switch *sw,
                          const struct uuid *uuid)
{
    const struct flexrec_container *c
        = flexrec_container_get_for_uuid(ctx->idl, uuid);
    struct fc_want_flows *w = &sw->want_flows;
    const struct fc_flow_group *g = fc_group_find(w, uuid);
    struct uuid tenants[2];
    bool was_present[2];
    size_t n_tenants = 0;
    struct fc_flows_env env;

    if (c && flexrec_container_is_deleted(c)) {
        c = NULL;
    }
    if (!fc_flows_env_init(ctx, sw, &env)) {
        return;                 /* No rules at all. */
    }
    if (g && g->egress) {
        tenants[n_tenants++] = g->tenant;
    }
    if (c && (!n_tenants
              || !uuid_equals(&tenants[0], &c->tenant->header_.uuid))) {
        tenants[n_tenants++] = c->tenant->header_.uuid;
    }
    for (size_t i = 0; i < n_tenants; i++) {
        was_present[i] = fc_tenant_present(w, &tenants[i]);
    }

    if (c && c->switch_ == sw->row) {
        fc_container_group(ctx, sw, &env, c, true);
    } else {
        struct hmap none = HMAP_INITIALIZER(&none);
        struct uuid zero;

        uuid_zero(&zero);
        fc_group_set(w, uuid, &none, &zero, false, false, true);
        hmap_destroy(&none);
    }

    for (size_t i = 0; i < n_tenants; i++) {
        if (fc_tenant_present(w, &tenants[i]) != was_present[i]) {
            fc_tenant_ips_update(ctx, sw, &env, &tenants[i]);
        }
    }
    fc_flows_env_uninit(&env);
}

/* Recomputes the rules of the public address with UUID 'uuid' on switch
 * 'sw' (its responder, its address check, a gateway's return rule).  The
 * rules that change go to 'sw->want_flows.touched'. */
void
fc_flows_update_ip(struct fc_ctx *ctx, struct fc_switch *sw,
                   const struct uuid *uuid)
{
    const struct flexrec_public_ip *ip
        = flexrec_public_ip_get_for_uuid(ctx->idl, uuid);
    struct fc_flows_env env;

    if (ip && flexrec_public_ip_is_deleted(ip)) {
        ip = NULL;
    }

    if (!fc_flows_env_init(ctx, sw, &env)) {
        return;                 /* No rules at all. */
    }
    if (ip) {
        fc_ip_group(ctx, sw, &env, ip, true);
    } else {
        struct hmap none = HMAP_INITIALIZER(&none);
        struct uuid zero;

        uuid_zero(&zero);
        fc_group_set(&sw->want_flows, uuid, &none, &zero, false, false,
                     true);
        hmap_destroy(&none);
    }
    fc_flows_env_uninit(&env);
}
