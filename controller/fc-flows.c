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
/* The pipeline rules that each switch should hold, as rule text in one
 * spelling (fc_flow_text()) so that they compare with what a switch dumps:
 * the rule that sends what comes to the gateway MAC into the map table (or,
 * in reactive mode, to the controller), the ARP and neighbour
 * advertisement responders of the public addresses, delivery of what comes
 * out of a tunnel, and the containers' way out: proxy ARP and ND, the check
 * of their source addresses, and the uplink or the tunnel to their return
 * gateway. */

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
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/shash.h"
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
 * actions 'ofpacts', in one spelling whether it comes from our own text or
 * from a switch's dump, so the two can be compared. */
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

/* Adds rule 'text' to 'flows', normalized with fc_flow_text(). */
static void
fc_add_flow(struct shash *flows, char *text)
{
    enum ofputil_protocol usable;
    struct ofputil_flow_mod fm;
    char *error;

    error = parse_ofp_flow_mod_str(&fm, text, NULL, NULL, OFPFC_ADD,
                                   &usable);
    if (error) {
        VLOG_ERR("%s: %s", text, error);
        free(error);
    } else {
        struct ds s = DS_EMPTY_INITIALIZER;
        struct match match;

        minimatch_expand(&fm.match, &match);
        fc_flow_text(fm.table_id, &match, fm.priority, fm.ofpacts,
                     fm.ofpacts_len, &s);
        shash_replace_nocopy(flows, ds_steal_cstr(&s), NULL);
        minimatch_destroy(&fm.match);
        free(CONST_CAST(struct ofpact *, fm.ofpacts));
    }
    free(text);
}

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

/* Returns the actions, malloc()'d, with which switch 'sw' sends a packet
 * from a public address out of its uplink to the router there, or NULL if
 * it has no uplink (see fc_switch_resolve_uplink()). */
static char *
fc_uplink_actions(const struct fc_switch *sw, const char *gw)
{
    if (!sw->uplink_name) {
        return NULL;
    }
    return xasprintf("set_field:%s->eth_src,set_field:"ETH_ADDR_FMT
                     "->eth_dst,output:%"PRIu16, gw,
                     ETH_ADDR_ARGS(sw->router_mac),
                     ofp_to_u16(sw->uplink_port));
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

/* Returns the actions, malloc()'d, with which switch 'sw' sends its
 * containers' outgoing packets toward the Internet, or NULL if they have no
 * way out:
 *
 *   - A gateway, and a host whose return_path is "direct", send them out
 *     of their own uplink.
 *
 *   - Other hosts send them through their tunnel port to their return
 *     gateway (fc_return_gateway()), which sends them out of its uplink
 *     (cloud providers drop packets whose source address they did not hand
 *     out). */
static char *
fc_egress_actions(struct fc_ctx *ctx, const struct fc_switch *sw,
                  const char *gw)
{
    const struct flexrec_switch *row = sw->row;

    if (!strcmp(row->role, "gateway")
        || (row->return_path && !strcmp(row->return_path, "direct"))) {
        return fc_uplink_actions(sw, gw);
    }

    const struct flexrec_switch *out = fc_return_gateway(ctx, row);
    ofp_port_t tnl_port = fc_port(sw, row->tunnel_port);
    struct in6_addr ip6;
    char *text, *actions;

    if (!out || tnl_port == OFPP_NONE || !fc_tunnel_ip(out, &ip6, &text)) {
        return NULL;
    }
    actions = xasprintf("set_field:%s->%s,set_field:%#"PRIx64"->tun_id,"
                        "output:%"PRIu16, text,
                        IN6_IS_ADDR_V4MAPPED(&ip6) ? "tun_dst"
                                                   : "tun_ipv6_dst",
                        ntohll(fc_tunnel_key(ctx)), ofp_to_u16(tnl_port));
    free(text);
    return actions;
}

/* Returns the match on packets from public address 'address' (in the
 * canonical form of fc_ip_parse()), for use in rule text as
 * "...,%s=ADDRESS". */
static const char *
fc_src_match(const char *address)
{
    return strchr(address, ':') ? "ipv6,ipv6_src" : "ip,nw_src";
}

/* The OpenFlow metadata that marks a packet from a container of 'tenant',
 * for the address check in FC_EGRESS_TABLE. */
static uint64_t
fc_tenant_metadata(const struct flexrec_tenant *tenant)
{
    const struct uuid *u = &tenant->header_.uuid;

    return ((uint64_t) u->parts[0] << 32) | u->parts[1];
}

/* Adds to 'flows' the rules for the containers behind switch 'sw', where
 * the gateway MAC is 'gw':
 *
 *   - Delivery: packets that a gateway sent through the tunnel arrive with
 *     their container's MAC already in place.
 *
 *   - The way out, where there is one: the switch answers every ARP request
 *     and neighbour solicitation from a container with the gateway MAC (so
 *     that a container's default route may go through any address), and
 *     sends what a container sends to the gateway MAC from one of its
 *     tenant's public addresses on its way out; it drops anything else
 *     that a container sends to the gateway MAC. */
static void
fc_container_flows(struct fc_ctx *ctx, const struct fc_switch *sw,
                   const char *gw, struct shash *flows)
{
    ofp_port_t tnl_port = fc_port(sw, sw->row->tunnel_port);
    char *egress = fc_egress_actions(ctx, sw, gw);
    struct hmapx tenants = HMAPX_INITIALIZER(&tenants);
    const struct flexrec_container *c;

    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        ofp_port_t port = fc_port(sw, c->iface);
        uint16_t p = ofp_to_u16(port);
        const char *mac = fc_container_built(ctx, c, NULL);

        if (c->switch_ != sw->row || port == OFPP_NONE || !mac) {
            continue;
        }
        if (tnl_port != OFPP_NONE) {
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=100,in_port=%"PRIu16","
                "dl_dst=%s,actions=output:%"PRIu16, FC_COOKIE,
                ofp_to_u16(tnl_port), mac, p));
        }
        if (!egress) {
            continue;
        }
        hmapx_add(&tenants, c->tenant);
        for (int i = 0; i < 2; i++) {
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=120,in_port=%"PRIu16",%s,"
                "dl_src=%s,dl_dst=%s,actions=set_field:%#"PRIx64"->metadata,"
                "resubmit(,%d)", FC_COOKIE, p, i ? "ipv6" : "ip", mac, gw,
                fc_tenant_metadata(c->tenant), FC_EGRESS_TABLE));
            /* Another source MAC: not this container's to send. */
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=110,in_port=%"PRIu16",%s,"
                "dl_dst=%s,actions=drop", FC_COOKIE, p, i ? "ipv6" : "ip",
                gw));
        }
        /* Proxy ARP: the reply says the requested address is at the
         * gateway MAC.  Probes (sender 0.0.0.0) get no answer, or the
         * container would think its own address taken. */
        fc_add_flow(flows, xasprintf(
            "cookie=%#"PRIx64",priority=106,in_port=%"PRIu16",arp,"
            "arp_spa=0.0.0.0,actions=drop", FC_COOKIE, p));
        fc_add_flow(flows, xasprintf(
            "cookie=%#"PRIx64",priority=105,in_port=%"PRIu16",arp,arp_op=1,"
            "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
            "set_field:%s->eth_src,set_field:2->arp_op,"
            "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],set_field:%s->arp_sha,"
            "move:NXM_OF_ARP_TPA[]->NXM_NX_REG0[],"
            "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
            "move:NXM_NX_REG0[]->NXM_OF_ARP_SPA[],IN_PORT",
            FC_COOKIE, p, gw, gw));
        /* Proxy neighbour discovery, in two steps as for public addresses
         * (see fc_desired_flows()), above the way out so that unicast
         * solicitations to the gateway MAC are answered too; duplicate
         * address detection (source ::) gets no answer. */
        fc_add_flow(flows, xasprintf(
            "cookie=%#"PRIx64",priority=126,in_port=%"PRIu16",icmp6,"
            "icmp_type=135,ipv6_src=::,actions=drop", FC_COOKIE, p));
        fc_add_flow(flows, xasprintf(
            "cookie=%#"PRIx64",priority=125,in_port=%"PRIu16",icmp6,"
            "icmp_type=135,icmp_code=0,"
            "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
            "set_field:%s->eth_src,"
            "move:NXM_NX_IPV6_SRC[]->NXM_NX_IPV6_DST[],"
            "move:NXM_NX_ND_TARGET[]->NXM_NX_IPV6_SRC[],"
            "set_field:255->nw_ttl,set_field:136->icmpv6_type,"
            "resubmit(,%d)", FC_COOKIE, p, gw, FC_ND_TABLE));
        fc_add_flow(flows, xasprintf(
            "cookie=%#"PRIx64",table=%d,priority=105,in_port=%"PRIu16","
            "icmp6,icmp_type=136,icmp_code=0,"
            "actions=set_field:0x60000000->nd_reserved,"
            "set_field:2->nd_options_type,set_field:%s->nd_tll,IN_PORT",
            FC_COOKIE, FC_ND_TABLE, p, gw));
    }

    /* The address check: only a tenant's own public addresses leave. */
    if (egress && !hmapx_is_empty(&tenants)) {
        const struct flexrec_public_ip *ip;

        FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
            const char *address = fc_ip_owned(ctx, ip, NULL);

            if (address && hmapx_contains(&tenants, ip->tenant)) {
                fc_add_flow(flows, xasprintf(
                    "cookie=%#"PRIx64",table=%d,priority=100,"
                    "metadata=%#"PRIx64",%s=%s,actions=%s", FC_COOKIE,
                    FC_EGRESS_TABLE, fc_tenant_metadata(ip->tenant),
                    fc_src_match(address), address, egress));
            }
        }
    }
    hmapx_destroy(&tenants);
    free(egress);
}

/* Adds to 'flows' the rules with which gateway 'sw' sends out of its uplink
 * what hosts send it through the tunnel from public addresses. */
static void
fc_gateway_return_flows(struct fc_ctx *ctx, const struct fc_switch *sw,
                        const char *gw, struct shash *flows)
{
    ofp_port_t tnl_port = fc_port(sw, sw->row->tunnel_port);
    const struct flexrec_public_ip *ip;
    char *uplink;

    if (strcmp(sw->row->role, "gateway") || tnl_port == OFPP_NONE
        || !(uplink = fc_uplink_actions(sw, gw))) {
        return;
    }
    uint64_t key = ntohll(fc_tunnel_key(ctx));
    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        const char *address = fc_ip_owned(ctx, ip, NULL);

        if (address) {
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=120,in_port=%"PRIu16","
                "tun_id=%#"PRIx64",dl_dst=%s,%s=%s,actions=%s", FC_COOKIE,
                ofp_to_u16(tnl_port), key, gw, fc_src_match(address),
                address, uplink));
        }
    }
    free(uplink);
}

/* Fills 'flows' (rule text -> NULL) with the pipeline rules that switch
 * 'sw' should hold. */
void
fc_desired_flows(struct fc_ctx *ctx, const struct fc_switch *sw,
                 struct shash *flows)
{
    const char *gw = fc_gateway_mac(ctx);
    const struct flexrec_public_ip *ip;

    if (!sw->row || !gw) {
        return;
    }
    char *actions = (ctx->reactive
                     ? xstrdup("controller(max_len=65535)")
                     : xasprintf("flexmap(table=%d)", ctx->map_table));
    for (int i = 0; i < 2; i++) {
        fc_add_flow(flows, xasprintf(
                        "cookie=%#"PRIx64",priority=100,%s,dl_dst=%s,"
                        "actions=%s", FC_COOKIE, i ? "ipv6" : "ip", gw,
                        actions));
    }
    free(actions);

    fc_container_flows(ctx, sw, gw, flows);
    fc_gateway_return_flows(ctx, sw, gw, flows);

    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        struct in6_addr ip6;
        const char *address = fc_ip_owned(ctx, ip, &ip6);

        if (!address) {
            continue;           /* Refused: see fc_ips_refresh(). */
        } else if (IN6_IS_ADDR_V4MAPPED(&ip6)) {
            /* ARP reply from the gateway MAC. */
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=110,arp,arp_op=1,arp_tpa=%s,"
                "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
                "set_field:%s->eth_src,set_field:2->arp_op,"
                "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
                "set_field:%s->arp_sha,"
                "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
                "set_field:%s->arp_spa,IN_PORT",
                FC_COOKIE, address, gw, gw, address));
        } else {
            /* Neighbour advertisement from the gateway MAC.  A rule that
             * matches a solicitation may not set the advertisement's
             * target link-layer address, so the reply is built in two
             * steps: turn the solicitation around and make it an
             * advertisement, then, in FC_ND_TABLE, set the flags
             * (solicited, override) and the target link-layer address
             * option in place of the source link-layer option. */
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=110,icmp6,icmp_type=135,"
                "icmp_code=0,nd_target=%s,"
                "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
                "set_field:%s->eth_src,"
                "move:NXM_NX_IPV6_SRC[]->NXM_NX_IPV6_DST[],"
                "set_field:%s->ipv6_src,set_field:255->nw_ttl,"
                "set_field:136->icmpv6_type,resubmit(,%d)",
                FC_COOKIE, address, gw, address, FC_ND_TABLE));
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",table=%d,priority=110,icmp6,"
                "icmp_type=136,icmp_code=0,nd_target=%s,"
                "actions=set_field:0x60000000->nd_reserved,"
                "set_field:2->nd_options_type,set_field:%s->nd_tll,"
                "IN_PORT", FC_COOKIE, FC_ND_TABLE, address, gw));
        }
    }
}
