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

#ifndef FLEXMAP_CACHE_H
#define FLEXMAP_CACHE_H 1

/* The datapath map cache.
 *
 * One flexmap_cache belongs to one userspace datapath (struct dp_netdev) and
 * holds every map table of every bridge on that datapath.  Tables are named
 * by a 32-bit datapath table id that ofproto allocates (unique per datapath,
 * unlike OpenFlow map table numbers, which are per bridge).
 *
 * Entries live in one concurrent hash map (cmap) keyed by (table id, key).
 * A packet is looked up with up to three probes, in the order of the user
 * contract: exact (ip, proto, port), then (ip, proto, any port), then
 * (ip, any proto).  A probe for a key kind that has no entry anywhere in the
 * cache is skipped.
 *
 * Each entry carries its backends with the datapath's port numbers.  When an
 * entry has several backends, one is chosen by a hash of the packet's
 * 5-tuple, in proportion to the backends' weights.
 *
 * Counters: each entry owns a counter slot.  Packet and byte counts are kept
 * per "lane" (see below), in memory that only that lane writes, so two PMDs
 * forwarding through the same entry never write the same cache line.
 * Readers sum the lanes.  An entry replaced with flexmap_cache_put() keeps
 * its counters.
 *
 * Lanes
 * =====
 *
 * A lane is the state that one forwarding thread writes: its counters and,
 * once the cache holds a pool (an entry with several backends), its
 * connection table (flexmap-affinity.h), which has a single writer.  A cache
 * created with flexmap_cache_create(n_lanes) has 'n_lanes' dedicated lanes,
 * numbered 0 to n_lanes - 1, and one shared lane that every lane number
 * from n_lanes up maps to:
 *
 *   - A dedicated lane must be used by at most one thread at a time, and a
 *     thread that takes a lane over from another must be ordered after it
 *     (e.g. by the mutex of the pool that hands lanes out).  dpif-netdev
 *     passes a thread's static tx queue id, which is unique among running
 *     threads (one id pool, n_cores + 1 ids, the non-PMD threads taking one
 *     id together under their own mutex); see flexmap-dpif.c.
 *
 *   - The shared lane may be used by any number of threads: they take a
 *     mutex in turn.  So no lane number ever makes two threads write one
 *     lane at once; it only costs a lock when there are more forwarding
 *     threads than dedicated lanes.
 *
 * Thread-safety
 * =============
 *
 * Readers (flexmap_cache_lookup(), flexmap_cache_find(), the accessors, the
 * iterators, flexmap_cache_get_stats(), flexmap_cache_count_conns(),
 * flexmap_cache_explain(), flexmap_cache_memory(), flexmap_cache_tnl_get())
 * may run in any number of threads at once, concurrently with one writer
 * and with the forwarding threads, without taking any lock.  A reader sees
 * each entry either entirely before or entirely after a change, never torn.
 * An entry returned by a lookup stays valid until the reader next quiesces
 * (see ovs-rcu.h).  Counters and connection counts that other threads are
 * writing may be slightly stale, never torn.
 *
 * Forwarding (flexmap_cache_execute()) is a reader that also writes its
 * lane: any number of threads at once, each on its own dedicated lane or on
 * the shared lane (see "Lanes"), concurrently with one writer.
 *
 * Writers (flexmap_cache_put(), flexmap_cache_del(), flexmap_cache_flush(),
 * flexmap_cache_tnl_set(), flexmap_cache_tnl_del(),
 * flexmap_cache_set_affinity_params()) are serialized by a mutex inside the
 * cache, so any thread may call them.  Removed and replaced entries are
 * freed with ovsrcu_postpone(), so readers might still be using the old
 * value after a writer returns.
 *
 * flexmap_cache_destroy() must be called only when no reader can reach the
 * cache any more; it frees the cache after an RCU grace period. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flexmap.h"
#include "openvswitch/types.h"

struct dp_packet;
struct dp_packet_batch;
struct ds;

/* Connections that each lane's connection table holds (flexmap-affinity.h),
 * by default and at least and at most (flexmap_cache_set_conn_capacity()).
 * Every lane gets its table when the first entry with more than one backend
 * arrives; a table takes 72 bytes per connection of address space, resident
 * only as connections touch it.  The default holds a million connections on
 * even a single forwarding thread. */
#define FLEXMAP_CACHE_DEFAULT_CONNS (1u << 20)
#define FLEXMAP_CACHE_MIN_CONNS 1024u
#define FLEXMAP_CACHE_MAX_CONNS (1u << 28)

/* Most counter slots one cache may hold, over all tables: one per entry,
 * plus one per backend of an entry with several backends; so also the most
 * entries.  A multiple of 4096.  (Overridable at build time only so that
 * unit tests can fill a cache.) */
#ifndef FLEXMAP_CACHE_MAX_ENTRIES
#define FLEXMAP_CACHE_MAX_ENTRIES (4u * 1024 * 1024)
#endif

/* A backend as the datapath sees it. */
struct flexmap_dp_backend {
    struct eth_addr mac;        /* New Ethernet destination. */
    uint16_t weight;            /* Relative weight. */
    odp_port_t port;            /* Datapath output port. */
    uint16_t flags;             /* FLEXMAP_BACKEND_*. */
    uint16_t pad;
    ovs_be64 tun_id;            /* Tunnel backends: for display; */
    struct in6_addr tun_dst;    /* 'port' names their next hop. */
};

/* Tunnel next hops.
 *
 * A tunnel backend's 'port' is FLEXMAP_TNL_PORT(id): after rewriting the
 * packet's Ethernet destination, the datapath runs the actions that the
 * bridge set for next hop 'id' with flexmap_cache_tnl_set(), which are what
 * OpenFlow "set_field:IP->tun_dst,set_field:KEY->tun_id,output:TUNNEL"
 * translates to (typically "tnl_push(...),output:N").  A next hop with no
 * actions is unresolved (no route, or the neighbour's MAC is not known
 * yet): its packets are dropped.  Ids are below FLEXMAP_TNL_MAX_ID. */
#define FLEXMAP_TNL_PORT_BASE 0x80000000u
#define FLEXMAP_TNL_MAX_ID 0x7ffffffeu
#define FLEXMAP_TNL_PORT(ID) \
    ((OVS_FORCE odp_port_t) (FLEXMAP_TNL_PORT_BASE + (ID)))

static inline bool
flexmap_port_is_tnl(odp_port_t port)
{
    uint32_t p = (OVS_FORCE uint32_t) port;

    return p >= FLEXMAP_TNL_PORT_BASE && p != UINT32_MAX;
}

struct flexmap_cache;

/* A next hop's actions come in variants by the inner packet's ECN bits,
 * because the outer header carries them as stock OVS tunnelling does:
 * Not-ECT, ECT(1) and ECT(0) are copied, CE becomes ECT(0). */
#define FLEXMAP_TNL_N_ECN 3

static inline unsigned int
flexmap_tnl_ecn_variant(uint8_t tos)
{
    uint8_t ecn = tos & 3;      /* IP_ECN_MASK. */

    return ecn == 3 ? 2 : ecn;  /* CE as ECT(0). */
}

struct flexmap_tnl_actions {
    size_t len[FLEXMAP_TNL_N_ECN];  /* Bytes of each variant; 0:
                                     * unresolved. */
    size_t ofs[FLEXMAP_TNL_N_ECN];  /* Where each starts in 'actions', in
                                     * 8-byte units. */
    uint64_t actions[];         /* Netlink attributes, 8-byte aligned. */
};

static inline const struct nlattr *
flexmap_tnl_actions_variant(const struct flexmap_tnl_actions *ta,
                            unsigned int variant)
{
    return (const struct nlattr *) &ta->actions[ta->ofs[variant]];
}

void flexmap_cache_tnl_set(struct flexmap_cache *, uint32_t id,
                           const struct ofpbuf *variants);
void flexmap_cache_tnl_del(struct flexmap_cache *, uint32_t id);
const struct flexmap_tnl_actions *flexmap_cache_tnl_get(
    const struct flexmap_cache *, odp_port_t);

struct flexmap_cache_stats {
    uint64_t n_packets;
    uint64_t n_bytes;
};

struct flexmap_cache;
struct flexmap_cache_entry;

/* Creation and destruction.  'n_lanes' is the number of dedicated lanes
 * (threads that may forward at once without a lock); lane numbers from
 * 'n_lanes' up share one more lane under a mutex (see "Lanes" above). */
struct flexmap_cache *flexmap_cache_create(unsigned int n_lanes);
void flexmap_cache_destroy(struct flexmap_cache *);

/* Writers.
 *
 * flexmap_cache_put() adds an entry, or replaces the entry with the same
 * table and key atomically (keeping its counters).  Backends with a zero
 * weight are kept but never chosen; if every weight is zero the entry
 * matches and drops.  Returns 0, EINVAL for a bad argument (no backends,
 * more than FLEXMAP_MAX_BACKENDS, bad key), or ENOSPC when the cache is
 * full.
 *
 * flexmap_cache_del() returns 0 or ENOENT.
 * flexmap_cache_flush() deletes every entry of 'table_id', or of every table
 * if 'table_id' is UINT32_MAX, and returns how many it deleted. */
int flexmap_cache_put(struct flexmap_cache *, uint32_t table_id,
                      const struct flexmap_key *,
                      const struct flexmap_dp_backend *, size_t n_backends);
int flexmap_cache_del(struct flexmap_cache *, uint32_t table_id,
                      const struct flexmap_key *);
size_t flexmap_cache_flush(struct flexmap_cache *, uint32_t table_id);

/* Connection affinity timeouts (flexmap-affinity.h) of every lane; they
 * apply at once, also to connections already known. */
struct flexmap_affinity_params;
void flexmap_cache_set_affinity_params(struct flexmap_cache *,
                                       const struct flexmap_affinity_params *);
void flexmap_cache_get_affinity_params(const struct flexmap_cache *,
                                       struct flexmap_affinity_params *);

/* Connection tables.
 *
 * flexmap_cache_set_conn_capacity() sets the connections each lane's table
 * holds, clamped to [FLEXMAP_CACHE_MIN_CONNS, FLEXMAP_CACHE_MAX_CONNS] and
 * rounded up to a power of two.  Tables that exist already are replaced
 * by empty ones (their connections are placed by the consistent hash
 * again, which keeps their backends unless the pool changes).  A writer.
 *
 * flexmap_cache_get_conn_info() reports on them. */
struct flexmap_cache_conn_info {
    size_t capacity;            /* Connections per table. */
    unsigned int n_tables;      /* Tables: one per lane once a pool is in
                                 * the cache, else none. */
    size_t reserved;            /* Bytes of address space, all tables;
                                 * resident only as connections touch
                                 * them. */
    uint64_t full;              /* New connections not remembered because
                                 * their bucket was full (see "When full" in
                                 * flexmap-affinity.h), all tables. */
};
void flexmap_cache_set_conn_capacity(struct flexmap_cache *, size_t);
void flexmap_cache_get_conn_info(const struct flexmap_cache *,
                                 struct flexmap_cache_conn_info *);
void flexmap_cache_conn_info_format(const struct flexmap_cache *,
                                    struct ds *);

/* Readers. */
size_t flexmap_cache_count(const struct flexmap_cache *);
size_t flexmap_cache_room(const struct flexmap_cache *);

/* Bytes of the map: entries, counters and the hash map's buckets.  The
 * connection tables are apart (flexmap_cache_get_conn_info()). */
size_t flexmap_cache_memory(const struct flexmap_cache *);

/* Looks up 'key' (which must be an exact key: proto and port set, or proto
 * set without ports for protocols without ports) in 'table_id' with the
 * lookup order above.  Returns the entry, or NULL. */
const struct flexmap_cache_entry *flexmap_cache_lookup(
    const struct flexmap_cache *, uint32_t table_id,
    const struct flexmap_key *);

/* Looks up exactly 'key' (no fallback).  Returns the entry, or NULL. */
const struct flexmap_cache_entry *flexmap_cache_find(
    const struct flexmap_cache *, uint32_t table_id,
    const struct flexmap_key *);

/* Returns the backend that 'entry' chooses for a flow with 5-tuple hash
 * 'hash', or NULL if every weight is zero. */
const struct flexmap_dp_backend *flexmap_cache_entry_select(
    const struct flexmap_cache_entry *, uint32_t hash);

/* Accessors. */
uint32_t flexmap_cache_entry_table(const struct flexmap_cache_entry *);
const struct flexmap_key *flexmap_cache_entry_key(
    const struct flexmap_cache_entry *);
size_t flexmap_cache_entry_n_backends(const struct flexmap_cache_entry *);
const struct flexmap_dp_backend *flexmap_cache_entry_backend(
    const struct flexmap_cache_entry *, size_t idx);
void flexmap_cache_entry_get_stats(const struct flexmap_cache *,
                                   const struct flexmap_cache_entry *,
                                   struct flexmap_cache_stats *);

/* Calls 'cb' for every entry of 'table_id' (UINT32_MAX: all tables).  The
 * walk is RCU-safe: it may miss or repeat entries that change meanwhile. */
void flexmap_cache_for_each(const struct flexmap_cache *, uint32_t table_id,
                            void (*cb)(const struct flexmap_cache_entry *,
                                       void *aux),
                            void *aux);

/* Packets.
 *
 * flexmap_packet_extract() reads the destination of 'packet' from its own
 * headers (not from any flow): it fills 'key' with an exact key and '*hash'
 * with a hash of the 5-tuple, and returns true; or returns false for a
 * packet that cannot hit (not Ethernet, not IPv4/IPv6, truncated, or a
 * non-first fragment).
 *
 * flexmap_cache_execute() looks up every packet of 'batch' in 'table_id'.
 * For a hit it rewrites the packet's Ethernet destination, counts the packet
 * on 'lane', and stores the backend's port in 'ports[i]'.  For a miss it
 * stores ODPP_NONE.  An entry whose weights are all zero counts and stores
 * ODPP_NONE with 'dropped' set for that packet.  Returns the number of hits
 * (including such drops).  On a dedicated lane it takes no lock; on the
 * shared lane it takes the shared lane's mutex.  It allocates nothing and
 * logs nothing. */
bool flexmap_packet_extract(const struct dp_packet *, struct flexmap_key *,
                            uint32_t *hash);
size_t flexmap_cache_execute(struct flexmap_cache *, uint32_t table_id,
                             struct dp_packet_batch *, unsigned int lane,
                             odp_port_t ports[], bool dropped[]);

/* Per-backend counters: for an entry with one backend, the entry's. */
void flexmap_cache_entry_get_backend_stats(const struct flexmap_cache *,
                                           const struct flexmap_cache_entry *,
                                           size_t idx,
                                           struct flexmap_cache_stats *);

/* Live connections per backend, from every lane's affinity table.  One walk
 * of all tables per flexmap_cache_count_conns(); then
 * flexmap_cache_conns_get() answers per backend.  For display: the counts
 * may be slightly stale. */
struct flexmap_cache_conns;
struct flexmap_cache_conns *flexmap_cache_count_conns(
    const struct flexmap_cache *);
size_t flexmap_cache_conns_get(const struct flexmap_cache_conns *,
                               const struct flexmap_cache_entry *,
                               size_t idx);
void flexmap_cache_conns_destroy(struct flexmap_cache_conns *);

/* For display ("flexmap/lookup"): the entry that 'packet' hits in
 * 'table_id' ('*ep', NULL on a miss) and the index of the backend it goes
 * to, or -1; '*from_affinity' tells whether a lane's connection table
 * decided it rather than the consistent hash.  Changes nothing. */
int flexmap_cache_explain(const struct flexmap_cache *, uint32_t table_id,
                          const struct dp_packet *,
                          const struct flexmap_cache_entry **ep,
                          bool *from_affinity);

/* Formats 'entry' with its datapath ports, backends and counters, and
 * per-backend connection counts from 'conns' (may be NULL). */
void flexmap_cache_entry_format(const struct flexmap_cache *,
                                const struct flexmap_cache_entry *,
                                const struct flexmap_cache_conns *,
                                struct ds *);

#endif /* flexmap-cache.h */
