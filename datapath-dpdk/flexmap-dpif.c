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

#include <config.h>
#include "flexmap-dpif.h"

#include "coverage.h"
#include "dpif-netdev-perf.h"
#include "flexmap-affinity.h"
#include "flexmap-cache.h"
#include "netlink.h"
#include "odp-netlink.h"
#include "odp-util.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "ovs-numa.h"
#include "ovs-thread.h"
#include "smap.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(flexmap_dpif);

COVERAGE_DEFINE(flexmap_drop_zero_weight);
COVERAGE_DEFINE(flexmap_drop_tunnel_unresolved);
COVERAGE_DEFINE(flexmap_drop_too_deep);
COVERAGE_DEFINE(flexmap_bad_action);

/* Translation emits at most FLEXMAP_MAX_NESTING nested flexmap actions; the
 * datapath runs all of them. */
BUILD_ASSERT_DECL(FLEXMAP_DP_MAX_DEPTH >= FLEXMAP_MAX_NESTING);

/* A thread's nested flexmap execution (see "Nesting" in flexmap-dpif.h).
 *
 * Stack use, measured with gcc -fstack-usage (x86-64, -O2): with the frames
 * here, one level of execution takes 2,400 bytes (dp_execute_cb(), into
 * which dp_execute_flexmap_action() is inlined, 1,552; odp_execute_actions(),
 * 848), so 16 levels take about 38 kB.  Translation, which a PMD thread also
 * runs for its upcalls (before, not during, execution), takes 4,240 bytes
 * per flexmap level (xlate_flexmap() 3,616, do_xlate_actions() 624), about
 * 68 kB for 16.  Both fit well within 512 kB, the least stack that
 * ovs_thread_create() gives a PMD thread (with the usual 8 MB RLIMIT_STACK,
 * PMD threads and the main thread have 8 MB).  Before the frames moved
 * here, one level of execution took about 11.5 kB and nothing bounded the
 * depth: a thousand levels overflowed an 8 MB stack. */
struct flexmap_dp_stack {
    unsigned int depth;                 /* Levels entered now. */
    struct flexmap_dp_frame *frames[FLEXMAP_DP_MAX_DEPTH]; /* By depth, each
                                         * allocated when first reached. */
};

static ovsthread_key_t flexmap_dp_stack_key;

/* Datapath name -> struct flexmap_cache, for flexmap/dump-cache.  Only the
 * main thread touches it. */
static struct shash flexmap_dps = SHASH_INITIALIZER(&flexmap_dps);

static void flexmap_dp_stack_destroy(void *);
static void flexmap_dp_unixctl_dump_cache(struct unixctl_conn *, int argc,
                                          const char *argv[], void *aux);
static void flexmap_dp_unixctl_set_timeouts(struct unixctl_conn *, int argc,
                                            const char *argv[], void *aux);

/* Most dedicated lanes of one cache (flexmap-cache.h, "Lanes").  A
 * thread's lane is its static tx queue id: dpif-netdev hands these out from
 * one id pool of n_cores + 1 ids, lowest free first, to each PMD thread for
 * as long as it forwards (a reload that renumbers them frees and allocates
 * under the pool's mutex, between forwarding loops), and id 0 to the non-PMD
 * threads, which forward only under dp->non_pmd_mutex.  So a lane below the
 * cache's count has one thread at a time; ids from this cap up (more than
 * 127 forwarding threads) share the cache's locked shared lane. */
#define FLEXMAP_DP_MAX_LANES 128

/* Creates the map cache of the datapath named 'dp_name' on a machine with
 * 'n_cores' cores (ovs_numa_get_n_cores(), which may be OVS_CORE_UNSPEC):
 * one counter lane per thread that may forward at once. */
struct flexmap_cache *
flexmap_dp_create(const char *dp_name, int n_cores)
{
    static struct ovsthread_once once = OVSTHREAD_ONCE_INITIALIZER;
    struct flexmap_cache *cache;
    unsigned int n_lanes;

    if (ovsthread_once_start(&once)) {
        ovsthread_key_create(&flexmap_dp_stack_key, flexmap_dp_stack_destroy);
        unixctl_command_register("flexmap/dump-cache", "[dp]", 0, 1,
                                 flexmap_dp_unixctl_dump_cache, NULL);
        unixctl_command_register("flexmap/set-timeouts",
                                 "[dp] [tcp=MS] [tcp-fin=MS] [udp=MS]", 0, 4,
                                 flexmap_dp_unixctl_set_timeouts, NULL);
        ovsthread_once_done(&once);
    }

    n_lanes = (n_cores <= 0 || n_cores == OVS_CORE_UNSPEC
               || n_cores >= FLEXMAP_DP_MAX_LANES
               ? FLEXMAP_DP_MAX_LANES : n_cores + 1);
    cache = flexmap_cache_create(n_lanes);
    shash_replace(&flexmap_dps, dp_name, cache);
    return cache;
}

/* Destroys 'cache', which flexmap_dp_create() returned.  PMD threads must no
 * longer reach it; its memory is freed after an RCU grace period. */
void
flexmap_dp_destroy(struct flexmap_cache *cache)
{
    struct shash_node *node, *next;

    if (!cache) {
        return;
    }
    SHASH_FOR_EACH_SAFE (node, next, &flexmap_dps) {
        if (node->data == cache) {
            shash_delete(&flexmap_dps, node);
        }
    }
    flexmap_cache_destroy(cache);
}

/* Applies the settings of the Open_vSwitch table's 'other_config' that
 * concern 'cache' (see "Connection tables" in docs/reference.md):
 *
 *   flexmap-max-connections  connections each forwarding thread's
 *                            connection table holds (default 1048576). */
void
flexmap_dp_set_config(struct flexmap_cache *cache,
                      const struct smap *other_config)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
    const char *s = smap_get(other_config, "flexmap-max-connections");
    unsigned long long int n = FLEXMAP_CACHE_DEFAULT_CONNS;
    size_t replaced;

    if (!cache) {
        return;
    }
    if (s && (!str_to_ullong(s, 10, &n) || n < FLEXMAP_CACHE_MIN_CONNS
              || n > FLEXMAP_CACHE_MAX_CONNS)) {
        VLOG_WARN_RL(&rl, "other_config:flexmap-max-connections=%s: not an "
                     "integer from %u to %u; using the default %u", s,
                     FLEXMAP_CACHE_MIN_CONNS, FLEXMAP_CACHE_MAX_CONNS,
                     FLEXMAP_CACHE_DEFAULT_CONNS);
        n = FLEXMAP_CACHE_DEFAULT_CONNS;
    }

    replaced = flexmap_cache_set_conn_capacity(cache, n);
    if (replaced) {
        struct flexmap_cache_conn_info info;

        flexmap_cache_get_conn_info(cache, &info);
        VLOG_INFO("flexmap connection tables now hold %"PRIuSIZE
                  " connections each (were %"PRIuSIZE"); the connections "
                  "they knew are placed by consistent hashing",
                  info.capacity, replaced);
    }
}

/* Parses the OVS_ACTION_ATTR_FLEXMAP attribute 'a' into 'act'.  Returns
 * false if it is malformed (which the datapath's own action parser should
 * already have refused). */
bool
flexmap_dp_action_parse(const struct nlattr *a, struct flexmap_dp_action *act)
{
    const struct nlattr *table = NULL, *miss = NULL;
    const struct nlattr *nla;
    size_t left;

    NL_NESTED_FOR_EACH_UNSAFE (nla, left, a) {
        switch (nl_attr_type(nla)) {
        case OVS_FLEXMAP_ATTR_TABLE:
            table = nla;
            break;
        case OVS_FLEXMAP_ATTR_ACTIONS_IF_MISS:
            miss = nla;
            break;
        }
    }
    if (!table || !miss || nl_attr_get_size(table) != sizeof(uint32_t)) {
        COVERAGE_INC(flexmap_bad_action);
        return false;
    }
    act->table_id = nl_attr_get_u32(table);
    act->miss_actions = nl_attr_get(miss);
    act->miss_actions_len = nl_attr_get_size(miss);
    return true;
}

/* Looks every packet of 'batch' up in the map table of 'act' and sorts it
 * into 'split': hits by output port, misses into 'split->miss'.  Packets of
 * an entry whose backends are all drained (weight 0) are freed.  'batch'
 * must be owned by the caller (stolen): the packets move into 'split'. */
void
flexmap_dp_execute(struct flexmap_cache *cache,
                   const struct flexmap_dp_action *act,
                   struct dp_packet_batch *batch, unsigned int lane,
                   struct flexmap_dp_split *split)
{
    odp_port_t ports[NETDEV_MAX_BURST];
    bool dropped[NETDEV_MAX_BURST];
    struct dp_packet *packet;

    split->n_outputs = 0;
    dp_packet_batch_init(&split->miss);
    split->n_hits = flexmap_cache_execute(cache, act->table_id, batch, lane,
                                          ports, dropped);

    DP_PACKET_BATCH_FOR_EACH (i, packet, batch) {
        odp_port_t port = ports[i];

        if (port == ODPP_NONE) {
            if (dropped[i]) {
                COVERAGE_INC(flexmap_drop_zero_weight);
                dp_packet_delete(packet);
            } else {
                dp_packet_batch_add(&split->miss, packet);
            }
            continue;
        }

        /* A batch rarely goes to more than a few ports, so a linear search
         * over the ports seen so far is cheapest. */
        struct flexmap_dp_output *out = NULL;
        for (size_t j = 0; j < split->n_outputs; j++) {
            if (split->outputs[j].port == port) {
                out = &split->outputs[j];
                break;
            }
        }
        if (!out) {
            out = &split->outputs[split->n_outputs++];
            out->port = port;
            dp_packet_batch_init(&out->batch);
        }
        dp_packet_batch_add(&out->batch, packet);
    }
}

/* Enters one more level of nested flexmap execution in this thread and
 * returns the level's frame, for the caller to keep its batches in until it
 * calls flexmap_dp_leave().  If the thread is already FLEXMAP_DP_MAX_DEPTH
 * levels deep, counts the packets of 'batch' as dropped, logs a
 * rate-limited warning and returns NULL: the caller then drops them (and
 * must not call flexmap_dp_leave()). */
struct flexmap_dp_frame *
flexmap_dp_enter(const struct dp_packet_batch *batch)
{
    struct flexmap_dp_stack *stack = ovsthread_getspecific(
        flexmap_dp_stack_key);

    if (OVS_UNLIKELY(!stack)) {
        stack = xzalloc(sizeof *stack);
        ovsthread_setspecific(flexmap_dp_stack_key, stack);
    }
    if (OVS_UNLIKELY(stack->depth >= FLEXMAP_DP_MAX_DEPTH)) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
        size_t n = dp_packet_batch_size(batch);

        COVERAGE_ADD(flexmap_drop_too_deep, n);
        VLOG_WARN_RL(&rl, "flexmap actions nested deeper than %d: "
                     "%"PRIuSIZE" packets dropped", FLEXMAP_DP_MAX_DEPTH, n);
        return NULL;
    }

    struct flexmap_dp_frame **frame = &stack->frames[stack->depth++];
    if (OVS_UNLIKELY(!*frame)) {
        *frame = xmalloc(sizeof **frame);
    }
    return *frame;
}

/* Leaves the level that the last successful flexmap_dp_enter() in this
 * thread entered. */
void
flexmap_dp_leave(void)
{
    struct flexmap_dp_stack *stack = ovsthread_getspecific(
        flexmap_dp_stack_key);

    ovs_assert(stack && stack->depth > 0);
    stack->depth--;
}

static void
flexmap_dp_stack_destroy(void *stack_)
{
    struct flexmap_dp_stack *stack = stack_;

    for (size_t i = 0; i < ARRAY_SIZE(stack->frames); i++) {
        free(stack->frames[i]);
    }
    free(stack);
}

/* Returns the ECN variant (flexmap_tnl_ecn_variant()) of 'packet', an IPv4
 * or IPv6 packet whose L3 offset is set. */
static unsigned int
flexmap_dp_ecn_variant(const struct dp_packet *packet)
{
    const uint8_t *l3 = dp_packet_l3(packet);

    if (!l3) {
        return 0;
    }
    /* IPv4: TOS is byte 1.  IPv6: the traffic class straddles bytes 0
     * and 1, and its ECN bits are bits 4 and 5 of byte 1. */
    return flexmap_tnl_ecn_variant((l3[0] >> 4) == 6 ? l3[1] >> 4 : l3[1]);
}

/* If 'out' goes to a tunnel next hop, returns true and fills 'tnl' with
 * its packets grouped by the actions to run on them; if the next hop is
 * unresolved, drops the packets of 'out', counts them, and leaves 'tnl'
 * with no group.  Returns false for an output to a plain port.  Packets
 * stay in order within each group. */
bool
flexmap_dp_output_tunnel(const struct flexmap_cache *cache,
                         struct flexmap_dp_output *out,
                         struct flexmap_dp_tnl_out *tnl)
{
    const struct flexmap_tnl_actions *ta;
    struct dp_packet_batch *batch = &out->batch;
    struct dp_packet *packet;
    unsigned int first;
    bool same = true;

    if (!flexmap_port_is_tnl(out->port)) {
        return false;
    }
    tnl->n = 0;
    ta = flexmap_cache_tnl_get(cache, out->port);
    if (!ta || !ta->len[0]) {
        COVERAGE_ADD(flexmap_drop_tunnel_unresolved,
                     dp_packet_batch_size(batch));
        dp_packet_delete_batch(batch, true);
        return true;
    }

    /* Usually every packet of a flow group has the same ECN bits. */
    first = flexmap_dp_ecn_variant(batch->packets[0]);
    DP_PACKET_BATCH_FOR_EACH (i, packet, batch) {
        if (i && flexmap_dp_ecn_variant(packet) != first) {
            same = false;
            break;
        }
    }
    if (same) {
        tnl->groups[0].batch = batch;
        tnl->groups[0].actions = flexmap_tnl_actions_variant(ta, first);
        tnl->groups[0].len = ta->len[first];
        tnl->n = 1;
        return true;
    }

    struct flexmap_dp_tnl_group *by_variant[FLEXMAP_TNL_N_ECN] = { NULL };
    DP_PACKET_BATCH_FOR_EACH (i, packet, batch) {
        unsigned int v = flexmap_dp_ecn_variant(packet);
        struct flexmap_dp_tnl_group *g = by_variant[v];

        if (!g) {
            g = by_variant[v] = &tnl->groups[tnl->n];
            g->batch = &tnl->batches[tnl->n++];
            g->actions = flexmap_tnl_actions_variant(ta, v);
            g->len = ta->len[v];
            dp_packet_batch_init(g->batch);
        }
        dp_packet_batch_add(g->batch, packet);
    }
    return true;
}

void
flexmap_dp_format_pmd_stats(struct ds *reply, struct pmd_perf_stats *s)
{
    uint64_t stats[PMD_N_STATS];

    pmd_perf_read_counters(s, stats);
    ds_put_format(reply,
                  "  flexmap hits: %"PRIu64"\n"
                  "  flexmap misses: %"PRIu64"\n",
                  stats[PMD_STAT_FLEXMAP_HIT], stats[PMD_STAT_FLEXMAP_MISS]);
}

struct dump_cache_aux {
    const struct flexmap_cache *cache;
    const struct flexmap_cache_conns *conns;
    struct ds *ds;
};

static void
dump_cache_entry(const struct flexmap_cache_entry *entry, void *aux_)
{
    struct dump_cache_aux *aux = aux_;

    ds_put_cstr(aux->ds, "  ");
    flexmap_cache_entry_format(aux->cache, entry, aux->conns, aux->ds);
    ds_put_char(aux->ds, '\n');
}

static void
flexmap_dp_dump_one(const char *name, const struct flexmap_cache *cache,
                    struct ds *ds)
{
    struct flexmap_cache_conns *conns = flexmap_cache_count_conns(cache);
    struct dump_cache_aux aux = { .cache = cache, .conns = conns, .ds = ds };

    struct flexmap_affinity_params p;

    flexmap_cache_get_affinity_params(cache, &p);
    ds_put_format(ds, "%s: %"PRIuSIZE" entries, %"PRIuSIZE" bytes, "
                  "connection timeouts tcp=%"PRIu32" tcp-fin=%"PRIu32
                  " udp=%"PRIu32" ms\n", name,
                  flexmap_cache_count(cache), flexmap_cache_memory(cache),
                  p.tcp_idle_ms, p.tcp_fin_ms, p.udp_idle_ms);
    flexmap_cache_conn_info_format(cache, ds);
    flexmap_cache_for_each(cache, UINT32_MAX, dump_cache_entry, &aux);
    flexmap_cache_conns_destroy(conns);
}

/* A datapath named on the command line as dpif-netdev names it
 * ("ovs-netdev") or as flexmap/show and dpctl print it, with its type
 * ("netdev@ovs-netdev"): returns the former. */
static const char *
flexmap_dp_name(const char *name)
{
    const char *at = strchr(name, '@');

    return at && !shash_find(&flexmap_dps, name) ? at + 1 : name;
}

static void
flexmap_dp_unixctl_dump_cache(struct unixctl_conn *conn, int argc,
                              const char *argv[], void *aux OVS_UNUSED)
{
    struct ds ds = DS_EMPTY_INITIALIZER;

    if (argc > 1) {
        const char *name = flexmap_dp_name(argv[1]);
        const struct flexmap_cache *cache = shash_find_data(&flexmap_dps,
                                                            name);
        if (!cache) {
            unixctl_command_reply_error(conn, "no such datapath");
            return;
        }
        flexmap_dp_dump_one(name, cache, &ds);
    } else {
        const struct shash_node **nodes = shash_sort(&flexmap_dps);

        for (size_t i = 0; i < shash_count(&flexmap_dps); i++) {
            flexmap_dp_dump_one(nodes[i]->name, nodes[i]->data, &ds);
        }
        free(nodes);
    }
    unixctl_command_reply(conn, ds_cstr(&ds));
    ds_destroy(&ds);
}

/* "flexmap/set-timeouts [DP] [tcp=MS] [tcp-fin=MS] [udp=MS]": sets the idle
 * timeouts of pool connections (see flexmap-affinity.h) on one datapath, or
 * on every datapath; unnamed timeouts keep their values. */
static void
flexmap_dp_unixctl_set_timeouts(struct unixctl_conn *conn, int argc,
                                const char *argv[], void *aux OVS_UNUSED)
{
    const char *dp_name = NULL;
    uint32_t tcp = 0, fin = 0, udp = 0;
    bool set_tcp = false, set_fin = false, set_udp = false;

    for (int i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        unsigned int ms;

        if (!eq) {
            if (dp_name || i != 1) {
                unixctl_command_reply_error(conn, "usage: flexmap/set-timeouts"
                                            " [dp] [tcp=MS] [tcp-fin=MS]"
                                            " [udp=MS]");
                return;
            }
            dp_name = flexmap_dp_name(argv[i]);
            continue;
        }
        if (!str_to_uint(eq + 1, 10, &ms)) {
            unixctl_command_reply_error(conn, "timeouts are milliseconds");
            return;
        }
        if (!strncmp(argv[i], "tcp=", 4)) {
            tcp = ms;
            set_tcp = true;
        } else if (!strncmp(argv[i], "tcp-fin=", 8)) {
            fin = ms;
            set_fin = true;
        } else if (!strncmp(argv[i], "udp=", 4)) {
            udp = ms;
            set_udp = true;
        } else {
            unixctl_command_reply_error(conn, "unknown timeout (expected "
                                        "tcp=, tcp-fin= or udp=)");
            return;
        }
    }
    if (dp_name && !shash_find(&flexmap_dps, dp_name)) {
        unixctl_command_reply_error(conn, "no such datapath");
        return;
    }

    struct shash_node *node;
    SHASH_FOR_EACH (node, &flexmap_dps) {
        struct flexmap_affinity_params p;

        if (dp_name && strcmp(node->name, dp_name)) {
            continue;
        }
        flexmap_cache_get_affinity_params(node->data, &p);
        if (set_tcp) {
            p.tcp_idle_ms = tcp;
        }
        if (set_fin) {
            p.tcp_fin_ms = fin;
        }
        if (set_udp) {
            p.udp_idle_ms = udp;
        }
        flexmap_cache_set_affinity_params(node->data, &p);
    }
    unixctl_command_reply(conn, NULL);
}
