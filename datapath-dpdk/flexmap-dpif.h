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

#ifndef FLEXMAP_DPIF_H
#define FLEXMAP_DPIF_H 1

/* The glue between dpif-netdev and the map cache.
 *
 * dpif-netdev creates one map cache per datapath with flexmap_dp_create()
 * and executes OVS_ACTION_ATTR_FLEXMAP with flexmap_dp_execute(), which
 * splits a batch into per-port output batches and a miss batch; dpif-netdev
 * then sends and runs them with its own output and action code.  This file
 * also keeps the list of datapaths for "ovs-appctl flexmap/dump-cache".
 *
 * Thread-safety
 * =============
 *
 * flexmap_dp_create() and flexmap_dp_destroy() are called from the main
 * thread.  flexmap_dp_action_parse(), flexmap_dp_execute(),
 * flexmap_dp_enter() and flexmap_dp_leave() run in any thread that executes
 * datapath actions (PMD threads, the main thread for non-PMD ports and
 * packet-outs).  Only flexmap_dp_enter() allocates: a thread's frame for a
 * nesting depth, the first time the thread reaches it.  flexmap_dp_execute()'s
 * 'lane' is the calling thread's static tx queue id, used as flexmap-cache.h's
 * "Lanes" say: on a dedicated lane it takes no lock.
 *
 * Nesting
 * =======
 *
 * The miss actions of OVS_ACTION_ATTR_FLEXMAP may hold another one, so
 * dpif-netdev executes them recursively: dp_execute_cb() ->
 * dp_execute_flexmap_action() -> odp_execute_actions() -> dp_execute_cb().
 * The state of one level (a batch per output port, about 10 kB) lives in the
 * thread's frame for that depth, not on the stack, and a thread nests at most
 * FLEXMAP_DP_MAX_DEPTH levels: deeper packets are dropped and counted
 * (coverage counter flexmap_drop_too_deep).  Translation never emits more
 * than FLEXMAP_MAX_NESTING levels, which this bound covers; only actions
 * written by hand (dpctl/add-flow) go deeper. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dp-packet.h"
#include "flexmap-cache.h"
#include "openvswitch/types.h"

struct ds;
struct flexmap_cache;
struct nlattr;
struct pmd_perf_stats;

struct flexmap_cache *flexmap_dp_create(const char *dp_name, int n_cores);
void flexmap_dp_destroy(struct flexmap_cache *);

struct smap;
void flexmap_dp_set_config(struct flexmap_cache *, const struct smap *);

/* A parsed OVS_ACTION_ATTR_FLEXMAP. */
struct flexmap_dp_action {
    uint32_t table_id;
    const struct nlattr *miss_actions;
    size_t miss_actions_len;
};

bool flexmap_dp_action_parse(const struct nlattr *,
                             struct flexmap_dp_action *);

/* The result of executing a flexmap action on a batch: the hits grouped by
 * output port (in order of first appearance, each keeping packet order) and
 * the misses.  An output whose port is a tunnel next hop's
 * (flexmap_port_is_tnl()) must go through flexmap_dp_output_tunnel(), whose
 * actions the caller runs on it instead of an output. */
struct flexmap_dp_output {
    odp_port_t port;
    struct dp_packet_batch batch;
};

struct flexmap_dp_split {
    size_t n_hits;
    size_t n_outputs;
    struct flexmap_dp_output outputs[NETDEV_MAX_BURST];
    struct dp_packet_batch miss;
};

void flexmap_dp_execute(struct flexmap_cache *,
                        const struct flexmap_dp_action *,
                        struct dp_packet_batch *, unsigned int lane,
                        struct flexmap_dp_split *);

/* What to run for the packets of an output to a tunnel next hop: up to
 * FLEXMAP_TNL_N_ECN groups (by the inner packet's ECN bits, which the outer
 * header copies), each with its actions. */
struct flexmap_dp_tnl_group {
    struct dp_packet_batch *batch;
    const struct nlattr *actions;
    size_t len;
};

struct flexmap_dp_tnl_out {
    size_t n;
    struct flexmap_dp_tnl_group groups[FLEXMAP_TNL_N_ECN];
    struct dp_packet_batch batches[FLEXMAP_TNL_N_ECN];  /* When packets
                                                         * differ. */
};

bool flexmap_dp_output_tunnel(const struct flexmap_cache *,
                              struct flexmap_dp_output *,
                              struct flexmap_dp_tnl_out *);

/* The state of one level of nested flexmap execution. */
struct flexmap_dp_frame {
    struct dp_packet_batch packets;     /* A copy, if the caller keeps its
                                         * packets. */
    struct flexmap_dp_split split;
    struct flexmap_dp_tnl_out tnl;
};

/* The deepest nesting of OVS_ACTION_ATTR_FLEXMAP a thread executes. */
#define FLEXMAP_DP_MAX_DEPTH 16

struct flexmap_dp_frame *flexmap_dp_enter(const struct dp_packet_batch *);
void flexmap_dp_leave(void);

/* Appends flexmap lines to a PMD's "dpif-netdev/pmd-stats-show" output. */
void flexmap_dp_format_pmd_stats(struct ds *, struct pmd_perf_stats *);

#endif /* flexmap-dpif.h */
