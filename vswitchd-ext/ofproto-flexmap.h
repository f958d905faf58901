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

#ifndef OFPROTO_FLEXMAP_H
#define OFPROTO_FLEXMAP_H 1

/* The bridge side of ovs-flexmap.
 *
 * Each bridge (struct ofproto_dpif) owns a flexmap_bridge: the master copy
 * of its map tables, as OpenFlow wrote them (OpenFlow port numbers).  The
 * master copy is pushed into the datapath's map cache with datapath port
 * numbers: at every change, the entries that name a port again when that
 * port comes, goes or changes (ofproto_flexmap_ports_changed(); datapath
 * port numbers may differ), and every entry again when the datapath's cache
 * is a new one.
 *
 * A backend belongs to the interface that its port number named when the
 * entry was written, kept by name: if that interface goes, the backend is
 * unresolved (left out of the datapath, reported by NXST_FLEXMAP and
 * flexmap/show) even if another interface takes the number, until an
 * interface of that name comes back, under whatever number.
 *
 * OpenFlow map table N of a bridge is datapath table (bridge id << 8) | N,
 * where the bridge id is unique in the process, so that bridges sharing one
 * datapath never share a table.
 *
 * A map change touches no OpenFlow rule and needs no revalidation: the
 * megaflows that use a table carry only its id, and PMD threads read the
 * entries on every packet.
 *
 * Thread-safety
 * =============
 *
 * Everything runs in the main thread, except ofproto_flexmap_dp_table(),
 * which handler and revalidator threads call during translation: it reads
 * only the bridge id, which never changes, and the flexmap_bridge is freed
 * after an RCU grace period. */

#include <stdint.h>
#include "openvswitch/ofp-errors.h"

struct flexmap_bridge;
struct ofp_header;
struct ofproto;
struct ofproto_dpif;
struct ovs_list;

struct flexmap_bridge *ofproto_flexmap_bridge_create(struct ofproto_dpif *);
void ofproto_flexmap_bridge_destroy(struct flexmap_bridge *);
void ofproto_flexmap_run(struct flexmap_bridge *);
void ofproto_flexmap_ports_changed(struct flexmap_bridge *);

uint32_t ofproto_flexmap_dp_table(const struct flexmap_bridge *,
                                  uint8_t table_id);

/* OpenFlow.  The caller has already refused secondary controllers. */
enum ofperr ofproto_flexmap_handle_mod(struct ofproto *,
                                       const struct ofp_header *);
enum ofperr ofproto_flexmap_handle_stats_request(struct ofproto *,
                                                 const struct ofp_header *,
                                                 struct ovs_list *replies);

#endif /* ofproto-flexmap.h */
