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
#ifndef FLEXMAP_CONTROLLER_FC_SWITCH_H
#define FLEXMAP_CONTROLLER_FC_SWITCH_H 1

/* Switch connections, as OVN's ofctrl keeps them: the handshake, the
 * OpenFlow role, the dumps of what a switch holds, what was sent to it and
 * may still be refused, and the sync that sends each switch only the
 * difference between what it should hold (fc-desired.c, fc-flows.c) and
 * what it holds.  See fc-switch.c. */

#include <stdbool.h>
#include <stdint.h>
#include "fc-flows.h"
#include "flexmap.h"
#include "openvswitch/hmap.h"
#include "openvswitch/list.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/shash.h"
#include "openvswitch/types.h"
#include "packets.h"

struct fc_ctx;
struct flexrec_switch;
struct ofpbuf;
struct rconn;
struct vconn;

/* A message to a switch that the switch may refuse, and what it carried,
 * kept until the barrier that follows it is answered. */
struct fc_sent {
    struct hmap_node node;      /* In fc_switch's 'sent', by xid. */
    struct ovs_list list_node;  /* In fc_switch's 'sent_order'. */
    ovs_be32 xid;
    bool barrier;               /* A barrier request. */
    struct fc_flow *flow;       /* A rule, or NULL: map commands. */
    size_t n_keys;
    struct flexmap_key keys[];  /* The keys of the map commands. */
};

/* A switch connection. */
struct fc_switch {
    struct ovs_list node;       /* In fc_ctx's 'switches'. */
    struct rconn *rconn;
    enum ofp_version version;   /* 0 until connected. */
    bool handshaken;            /* Features and port requests sent. */
    uint64_t dpid;              /* Valid once 'identified'. */
    bool identified;            /* Features reply seen. */
    bool ports_known;           /* Port description reply seen. */
    bool dumping;               /* Dump requests sent, not all answered. */
    bool dumped;                /* Map table and rule dumps finished. */
    bool maps_dumped;
    bool flows_dumped;
    ovs_be32 dump_xid;          /* Of the map table dump. */
    ovs_be32 flow_dump_xid;     /* Of the dump of our rules. */
    bool primary;               /* We claimed the primary role on it. */
    bool role_claimed;          /* A role request went out on it. */
    bool managed;               /* In the database when its dump began:
                                 * what it holds in our map table and
                                 * under our cookie is ours. */
    bool unknown_noted;         /* Logged that it is not in the database. */
    struct shash ports;         /* Port name -> ofp_port_t (as uintptr). */
    const struct flexrec_switch *row;   /* Valid after a full recompute. */

    /* Map entries, wanted and held. */
    struct hmap slots;          /* Contains "struct fc_slot"s. */
    struct ovs_list dirty;      /* Slots whose 'want' and 'have' may
                                 * differ. */
    bool need_full;             /* Recompute every wanted entry. */

    /* Rules: what the switch should hold, and what it holds, as far as we
     * know. */
    struct fc_want_flows want_flows;
    struct hmap flows;          /* Contains "struct fc_flow"s. */
    bool flows_dirty;           /* Every rule needs a recompute. */
    char *egress_via;           /* fc_switch_egress_via() as of the last
                                 * recompute of every rule. */

    /* What the switch refused, and what it may still refuse. */
    struct hmap refused_flows;  /* "struct fc_flow"s, with 'why'. */
    size_t n_refused_entries;   /* Slots with 'refused'. */
    struct hmap sent;           /* Contains "struct fc_sent"s. */
    struct ovs_list sent_order; /* The same, oldest first. */

    /* The way out: while the database names an uplink that the switch
     * lacks, or a router MAC that is no unicast MAC, the switch keeps the
     * last one that worked. */
    char *uplink_name;          /* NULL: no way out of its own. */
    ofp_port_t uplink_port;
    struct eth_addr router_mac;
    bool dumped_uplink;         /* The switch's rules send out of... */
    ofp_port_t dumped_uplink_port;      /* ...this port... */
    struct eth_addr dumped_router_mac;  /* ...to this router. */

    /* flexmap-ctl --wait: Global:next_cfg values covered by the last
     * barrier sent, and by the last barrier answered, on this connection,
     * after the dump: what the primary copies to Switch:cur_cfg. */
    int64_t sent_cfg;
    int64_t acked_cfg;
    ovs_be32 barrier_xid;

    /* Statistics. */
    uint64_t n_entry_mods;      /* Map entry adds and deletes sent. */
    uint64_t n_flow_mods;       /* Rule adds and deletes sent. */
    uint64_t n_recomputes;      /* Recomputes of all its rules. */
    uint64_t n_packet_ins;      /* Packet-ins handled (reactive mode). */
};

void fc_switch_create(struct fc_ctx *, struct vconn *);
void fc_switch_destroy(struct fc_ctx *, struct fc_switch *);
void fc_switch_run(struct fc_ctx *, struct fc_switch *);
void fc_switch_claim_role(struct fc_ctx *, struct fc_switch *);
void fc_switch_start_dump(struct fc_ctx *, struct fc_switch *);
void fc_send(struct fc_switch *, struct ofpbuf *);

const struct flexrec_switch *fc_switch_row(struct fc_ctx *,
                                           const struct fc_switch *);
struct fc_switch *fc_switch_for_row(struct fc_ctx *,
                                    const struct flexrec_switch *);
bool fc_switch_ready(const struct fc_switch *);
ofp_port_t fc_port(const struct fc_switch *, const char *name);
void fc_switch_row_check(struct fc_ctx *, const struct flexrec_switch *);

#endif /* fc-switch.h */
