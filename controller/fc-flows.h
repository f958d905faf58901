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
 * containers' way out (uplink, return gateway, egress address check).
 * See fc-flows.c. */

#include <stddef.h>
#include <stdint.h>

struct ds;
struct fc_ctx;
struct fc_switch;
struct match;
struct ofpact;
struct shash;

/* Cookie of every pipeline rule the controller keeps. */
#define FC_COOKIE UINT64_C(0xf1e0f1e0)

void fc_desired_flows(struct fc_ctx *, const struct fc_switch *,
                      struct shash *flows);
void fc_flow_text(uint8_t table_id, const struct match *, int priority,
                  const struct ofpact *ofpacts, size_t ofpacts_len,
                  struct ds *);
void fc_switch_resolve_uplink(struct fc_switch *);

#endif /* fc-flows.h */
