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
#ifndef FLEXMAP_CONTROLLER_FC_FLOWS_H
#define FLEXMAP_CONTROLLER_FC_FLOWS_H 1

/* The pipeline rules that each switch should hold: the rule into the map
 * table, the ARP and ND responders, delivery from the tunnel, and the
 * containers' way out (uplink, return gateway, egress address check), built
 * as "struct fc_flow"s.  See fc-flows.c. */

#include <stddef.h>
#include <stdint.h>
#include "openvswitch/hmap.h"
#include "openvswitch/match.h"
#include "openvswitch/meta-flow.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/ofpbuf.h"
#include "uuid.h"

struct ds;
struct fc_ctx;
struct fc_switch;
struct ofpact;

/* Cookie of every pipeline rule the controller keeps. */
#define FC_COOKIE UINT64_C(0xf1e0f1e0)

/* One rule, as the controller wants it on a switch or as the switch holds
 * it (always with FC_COOKIE).  Two rules are the same when their table,
 * priority, match and actions encode the same for the switch's OpenFlow
 * version ('wire'), which is how the switch itself keeps and dumps them. */
struct fc_flow {
    struct hmap_node node;          /* In a table of rules, by 'hash'. */
    struct hmap_node match_node;    /* In an index by 'match_hash'. */
    uint8_t table_id;
    uint16_t priority;
    struct minimatch match;
    struct ofpact *ofpacts;
    size_t ofpacts_len;

    struct ofpbuf wire;             /* OXM match, then the instructions. */
    size_t match_len;               /* Bytes of 'wire' that are the match. */
    uint32_t match_hash;            /* Of table, priority and match. */
    uint32_t hash;                  /* Of those and the actions. */

    char *why;                      /* Why the switch refused it, in
                                     * fc_switch's 'refused_flows' only. */
    unsigned int n_refs;            /* Groups that want it, in
                                     * fc_want_flows' 'flows' only. */
};

struct fc_flow *fc_flow_create(uint8_t table_id, uint16_t priority,
                               const struct match *,
                               const struct ofpact *ofpacts,
                               size_t ofpacts_len, enum ofp_version);
struct fc_flow *fc_flow_clone(const struct fc_flow *);
void fc_flow_destroy(struct fc_flow *);
void fc_flow_format(const struct fc_flow *, struct ds *);

struct fc_flow *fc_flow_find(const struct hmap *flows,
                             const struct fc_flow *);
struct fc_flow *fc_flow_find_match(const struct hmap *index,
                                   const struct fc_flow *);
void fc_flows_add(struct hmap *flows, struct fc_flow *);
void fc_flows_clear(struct hmap *flows);

/* Building a rule: each field and action is set as ovs-ofctl sets it for
 * the text it stands for ("ip", "dl_dst=...", "set_field:...->eth_dst",
 * "output:..."). */
struct fc_rule {
    uint8_t table_id;
    uint16_t priority;
    struct match match;
    struct ofpbuf ofpacts;
    uint64_t stub[1024 / 8];
};

void fc_rule_init(struct fc_rule *, uint8_t table_id, uint16_t priority);
void fc_rule_uninit(struct fc_rule *);
void fc_match_proto(struct fc_rule *, uint16_t dl_type, uint8_t nw_proto);
void fc_match(struct fc_rule *, enum mf_field_id, const union mf_value *);
void fc_match_mac(struct fc_rule *, enum mf_field_id, struct eth_addr);
void fc_match_in_port(struct fc_rule *, ofp_port_t);
void fc_match_ip(struct fc_rule *, enum mf_field_id id4,
                 enum mf_field_id id6, const struct in6_addr *);
void fc_put_set_mac(struct fc_rule *, enum mf_field_id, struct eth_addr);
void fc_put_output(struct fc_rule *, ofp_port_t);

/* The rules that one switch should hold, kept in groups by what they are
 * made of, so that a change recomputes only the groups it touches:
 *
 *   - one group per container behind the switch (its delivery rule, proxy
 *     ARP and ND, and its table-0 rules toward the address check), keyed
 *     by the container's UUID;
 *
 *   - one group per public address (its responder, the address check if
 *     its tenant has a container with a way out here, a gateway's return
 *     rule), keyed by the address's UUID;
 *
 *   - the switch's own group, keyed by the all-zeros UUID: the rules into
 *     the map table.
 *
 * 'flows' holds every wanted rule once, with the number of groups that
 * want it; 'touched' holds copies of the rules that a group recompute
 * added or took away since the last sync, the only ones whose wanted and
 * held states may differ unless the whole set was recomputed. */
struct fc_want_flows {
    struct hmap groups;         /* Contains "struct fc_flow_group"s. */
    struct hmap tenants;        /* Contains "struct fc_tenant_count"s. */
    struct hmap flows;          /* "struct fc_flow"s, by 'node'. */
    struct hmap matches;        /* The same, by 'match_node'. */
    struct hmap touched;        /* Copies, by 'node'. */
};

void fc_want_flows_init(struct fc_want_flows *);
void fc_want_flows_clear(struct fc_want_flows *);
void fc_want_flows_destroy(struct fc_want_flows *);

void fc_flows_recompute(struct fc_ctx *, struct fc_switch *);
void fc_flows_update_container(struct fc_ctx *, struct fc_switch *,
                               const struct uuid *);
void fc_flows_update_ip(struct fc_ctx *, struct fc_switch *,
                        const struct uuid *);
void fc_flow_text(uint8_t table_id, const struct match *, int priority,
                  const struct ofpact *ofpacts, size_t ofpacts_len,
                  struct ds *);
void fc_switch_resolve_uplink(struct fc_switch *);
char *fc_switch_egress_via(struct fc_ctx *, const struct fc_switch *);

#endif /* fc-flows.h */
