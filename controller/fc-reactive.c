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
/* The reactive mode (--mode=reactive), the paper's prototype: no map
 * entries; the first packet of each connection to a public address comes
 * to the controller, which looks the mapping up as the map tables would,
 * installs an exact-match rule with an idle timeout and sends the packet
 * on. */

#include <config.h>

#include <inttypes.h>
#include <string.h>

#include "dp-packet.h"
#include "fc-ctx.h"
#include "fc-desired.h"
#include "fc-flows.h"
#include "fc-reactive.h"
#include "fc-switch.h"
#include "flexmap.h"
#include "flow.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-packet.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "util.h"

/* Logs as "flexmap_controller" (see fc-ctx.h). */
#define this_module FC_VLOG_MODULE

/* Cookie of the per-connection rules, which expire on their own and which
 * resyncs leave alone. */
#define FC_REACTIVE_COOKIE UINT64_C(0xf1e0f1e1)

/* Reactive mode: looks up the mapping for the packet in 'oh', installs an
 * exact-match rule for its connection and sends the packet on. */
void
fc_handle_packet_in(struct fc_ctx *ctx, struct fc_switch *sw,
                    const struct ofp_header *oh)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    const struct flexrec_mapping *m = NULL;
    struct ofputil_packet_in pin;
    struct dp_packet packet;
    struct fc_val *val = NULL;
    struct flexmap_key key;
    struct flow flow;
    bool ipv4;

    sw->n_packet_ins++;
    if (!ctx->reactive || !ctx->election.is_primary || !sw->primary || !sw->row
        || ofputil_decode_packet_in(oh, true, NULL, NULL, &pin, NULL, NULL,
                                    NULL)) {
        return;
    }
    dp_packet_use_const(&packet, pin.packet, pin.packet_len);
    flow_extract(&packet, &flow);
    flow.in_port = pin.flow_metadata.flow.in_port;
    ipv4 = flow.dl_type == htons(ETH_TYPE_IP);
    if (!ipv4 && flow.dl_type != htons(ETH_TYPE_IPV6)) {
        return;
    }

    /* Exact (IP, protocol, port), then any port, then any protocol, as the
     * map tables do it. */
    bool l4 = (flow.nw_proto == IPPROTO_TCP || flow.nw_proto == IPPROTO_UDP
               || flow.nw_proto == IPPROTO_SCTP);
    for (int i = l4 ? 0 : 2; !m && i < 3; i++) {
        uint8_t proto = i < 2 ? flow.nw_proto : 0;
        ovs_be16 port = i == 0 ? flow.tp_dst : 0;

        if (ipv4) {
            flexmap_key_init_ipv4(&key, flow.nw_dst, proto, port);
        } else {
            flexmap_key_init_ipv6(&key, &flow.ipv6_dst, proto, port);
        }
        m = fc_mapping_by_key(ctx, &key);
    }
    val = m ? fc_mapping_val(ctx, m, &key, sw) : NULL;
    if (!val) {
        VLOG_DBG_RL(&rl, "%016"PRIx64": no mapping here for a packet to "
                    "the gateway, dropped", sw->dpid);
        return;
    }

    /* Weighted choice by the connection's hash. */
    uint32_t total = 0, pick;
    size_t b;
    for (b = 0; b < val->n; b++) {
        total += val->backends[b].weight;
    }
    pick = total ? flow_hash_5tuple(&flow, 0) % total : 0;
    for (b = 0; b < val->n - 1; b++) {
        if (pick < val->backends[b].weight) {
            break;
        }
        pick -= val->backends[b].weight;
    }

    /* The connection's rule: in_port, dl_dst, the addresses, the protocol
     * and the ports, all exact. */
    struct fc_rule r;
    union mf_value v;

    fc_rule_init(&r, 0, 200);
    fc_match_in_port(&r, flow.in_port.ofp_port);
    fc_match_mac(&r, MFF_ETH_DST, flow.dl_dst);
    fc_match_proto(&r, ipv4 ? ETH_TYPE_IP : ETH_TYPE_IPV6, 0);
    if (ipv4) {
        fc_match(&r, MFF_IPV4_SRC, &(union mf_value) { .be32 = flow.nw_src });
        fc_match(&r, MFF_IPV4_DST, &(union mf_value) { .be32 = flow.nw_dst });
    } else {
        fc_match(&r, MFF_IPV6_SRC,
                 &(union mf_value) { .ipv6 = flow.ipv6_src });
        fc_match(&r, MFF_IPV6_DST,
                 &(union mf_value) { .ipv6 = flow.ipv6_dst });
    }
    memset(&v, 0, sizeof v);
    v.u8 = flow.nw_proto;
    fc_match(&r, MFF_IP_PROTO, &v);
    if (l4) {
        fc_match(&r, MFF_TCP_SRC, &(union mf_value) { .be16 = flow.tp_src });
        fc_match(&r, MFF_TCP_DST, &(union mf_value) { .be16 = flow.tp_dst });
    }
    fc_put_set_mac(&r, MFF_ETH_DST, val->backends[b].mac);
    fc_put_output(&r, val->backends[b].port);
    fc_val_unref(val);

    struct ofputil_flow_mod fm = {
        .priority = r.priority,
        .table_id = r.table_id,
        .command = OFPFC_ADD,
        .new_cookie = htonll(FC_REACTIVE_COOKIE),
        .modify_cookie = true,
        .idle_timeout = ctx->reactive_idle_timeout,
        .buffer_id = UINT32_MAX,
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
        .ofpacts = r.ofpacts.data,
        .ofpacts_len = r.ofpacts.size,
    };
    struct ofputil_packet_out po = {
        .packet = pin.packet,
        .packet_len = pin.packet_len,
        .buffer_id = UINT32_MAX,
        .flow_metadata = pin.flow_metadata,
        .ofpacts = r.ofpacts.data,
        .ofpacts_len = r.ofpacts.size,
    };
    enum ofputil_protocol protocol;

    minimatch_init(&fm.match, &r.match);
    protocol = ofputil_protocol_from_ofp_version(sw->version);
    fc_send(sw, ofputil_encode_flow_mod(&fm, protocol));
    fc_send(sw, ofputil_encode_packet_out(&po, protocol));
    minimatch_destroy(&fm.match);
    fc_rule_uninit(&r);
}
