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
 * Each entry carries its backends with the datapath's port numbers.  An
 * entry with several backends (a pool) places a new connection with a
 * consistent hash of its 5-tuple, in proportion to the backends' weights
 * (flexmap-chash.h), and its lane's connection table (flexmap-affinity.h)
 * then keeps the connection on that backend while the backend stays in the
 * pool.
 *
 * Counters: each entry owns a counter slot, and each backend of a pool one
 * more.  Packet and byte counts are kept per "lane" (see below), in memory
 * that only that lane writes, so two PMDs forwarding through the same entry
 * never write the same cache line.  Readers sum the lanes.  An entry
 * replaced with flexmap_cache_put() keeps its counters.
 *
 * Lanes
 * =====
 *
 * A lane is the state that one forwarding thread writes: its counters and,
 * once the cache holds a pool, its connection table (flexmap-affinity.h),
 * which has a single writer.  A cache created with
 * flexmap_cache_create(n_lanes) has 'n_lanes' dedicated lanes, numbered 0 to
 * n_lanes - 1, and one shared lane that every lane number from n_lanes up
 * maps to:
 *
 *   - A dedicated lane must be used by at most one thread at a time, and a
 *     thread that takes a lane over from another must be ordered after it
 *     (e.g. by the mutex of the pool that hands lanes out).  dpif-netdev
 *     passes a thread's static tx queue id, which is unique among running
 *     threads (one id pool, n_cores + 1 ids, the non-PMD threads taking one
 *     id together under their own mutex); see flexmap-dpif.c.
 *
 *   - The shared lane may be used by any number of threads: they take the
 *     shared lane's mutex in turn, inside flexmap_cache_execute().  So no
 *     lane number ever makes two threads write one lane at once; it only
 *     costs a lock when there are more forwarding threads than dedicated
 *     lanes.
 *
 * Thread-safety
 * =============
 *
 * Three kinds of calls, by what they may run concurrently with:
 *
 *   - Lock-free readers take no lock and may run in any number of threads
 *     at once, concurrently with everything else except
 *     flexmap_cache_destroy(): flexmap_cache_count(),
 *     flexmap_cache_memory(), flexmap_cache_lookup(), flexmap_cache_find(),
 *     flexmap_cache_entry_select(), the entry accessors,
 *     flexmap_cache_entry_get_stats(),
 *     flexmap_cache_entry_get_backend_stats(), flexmap_cache_for_each(),
 *     flexmap_cache_count_conns() with flexmap_cache_conns_get() and
 *     flexmap_cache_conns_destroy(), flexmap_cache_explain(),
 *     flexmap_cache_entry_format() and flexmap_cache_tnl_get().
 *     (flexmap_packet_extract() does not touch a cache at all.)
 *
 *   - Calls that take the cache's mutex are serialized with each other, so
 *     any thread may call them; they may wait for a writer, so they do not
 *     belong on the per-packet path.  They are the writers,
 *     flexmap_cache_put(), flexmap_cache_del(), flexmap_cache_flush(),
 *     flexmap_cache_set_affinity_params(), flexmap_cache_set_conn_capacity(),
 *     flexmap_cache_tnl_set() and flexmap_cache_tnl_del(); and the readers
 *     flexmap_cache_room(), flexmap_cache_get_affinity_params(),
 *     flexmap_cache_get_conn_info() and flexmap_cache_conn_info_format().
 *     (The RCU callbacks that give counter slots back take it too.)
 *
 *   - flexmap_cache_execute() reads like a lock-free reader but writes its
 *     lane's counters and connection table, so its contract is the lanes':
 *     at most one thread at a time on each dedicated lane, any number on the
 *     shared lane (serialized by that lane's mutex, which it takes itself).
 *     It runs concurrently with readers, with the writers and with the
 *     other lanes' forwarding.
 *
 * The cache's mutex and the shared lane's mutex are never held together,
 * and no callback of the caller runs under either (flexmap_cache_for_each()
 * calls 'cb' without them), so a caller may hold locks of its own across
 * any of these calls.
 *
 * Lifetimes.  A reader sees each entry either entirely before or entirely
 * after a change, never torn.  An entry (or tunnel next hop's actions)
 * returned by a reader stays valid until the calling thread next quiesces
 * (see ovs-rcu.h); removed and replaced entries are freed with
 * ovsrcu_postpone(), so readers might still be using the old value after a
 * writer returns.  Counters and connection counts that other threads are
 * writing may be slightly stale, never torn.
 *
 * flexmap_cache_destroy() may be called only when no other thread can reach
 * the cache any more and no other call on it is running; it frees the cache
 * after an RCU grace period. */

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

/* A backend as the datapath sees it.  Its identity, across changes of its
 * entry, is its MAC and datapath port: an entry holds each pair at most
 * once. */
struct flexmap_dp_backend {
    struct eth_addr mac;        /* New Ethernet destination. */
    uint16_t weight;            /* Relative weight; 0: never chosen for a new
                                 * connection (drained). */
    odp_port_t port;            /* Datapath output port. */
    uint16_t flags;             /* FLEXMAP_BACKEND_*. */
    uint16_t pad;
    ovs_be64 tun_id;            /* Tunnel backends: for display; */
    struct in6_addr tun_dst;    /* 'port' names their next hop. */
};

struct flexmap_cache;
struct flexmap_cache_entry;

struct flexmap_cache_stats {
    uint64_t n_packets;
    uint64_t n_bytes;
};

/* Creation and destruction. */

/* Creates an empty cache with 'n_lanes' dedicated lanes (0 counts as 1)
 * and one shared lane; see "Lanes" above.  Never fails (aborts when out of
 * memory).  Allocates an 8 KiB counter directory per lane; counters and
 * connection tables come later, with the entries that need them. */
struct flexmap_cache *flexmap_cache_create(unsigned int n_lanes);

/* Removes every entry and tunnel next hop of 'cache' and frees the cache
 * after an RCU grace period.  Readers that found an entry before may use it
 * until they quiesce.  'cache' may be NULL.
 *
 * Thread-safety: only when no other thread can reach 'cache' and no other
 * call on it is running.  Takes the cache's mutex.  Cost: O(entries). */
void flexmap_cache_destroy(struct flexmap_cache *);

/* Writers.  Each takes the cache's mutex, so any thread may call them (not
 * a forwarding thread: they may wait for another writer).  Readers and
 * forwarding run concurrently and see an entry either entirely before or
 * entirely after a write; what a writer removes or replaces is freed only
 * after an RCU grace period, so readers might still be using the old
 * value after the writer returns. */

/* Adds an entry that maps 'key' in 'table_id' to 'backends' ('n_backends'
 * of them, copied), or replaces the entry with the same table and key
 * atomically.  A replacement keeps the entry's counters, and for a pool the
 * counters and the connections of every backend it keeps (same MAC and
 * port).  Backends with a zero weight are kept but never chosen for a new
 * connection; if every weight is zero the entry matches and drops (a pool
 * still carries the connections that its lanes know).
 *
 * 'key' is (ip, 0, 0), (ip, PROTO, 0) or (ip, PROTO, port), PROTO one of
 * TCP, UDP and SCTP, with a zero 'pad'.
 *
 * Returns 0 on success; EINVAL for 'table_id' UINT32_MAX, a bad key, no
 * backends or more than FLEXMAP_MAX_BACKENDS, unknown backend flags, or the
 * same MAC and port twice; ENOSPC when the counter slots would run out
 * (FLEXMAP_CACHE_MAX_ENTRIES: one per entry plus one per backend of a pool;
 * slots of deleted entries count as used until their grace period has
 * passed; see flexmap_cache_room()).  On error the cache is unchanged.
 *
 * Cost: one allocation and O(n_backends^2) work (the consistent-hash table
 * is built outside the mutex).  The first pool of a cache also creates
 * every lane's connection table, and a slot beyond the allocated counters
 * allocates 64 KiB of counters per lane. */
int flexmap_cache_put(struct flexmap_cache *, uint32_t table_id,
                      const struct flexmap_key *,
                      const struct flexmap_dp_backend *, size_t n_backends);

/* Deletes the entry of exactly 'key' (no fallback to wider keys) in
 * 'table_id'.  Its counter slots become free after a grace period.
 * Returns 0, or ENOENT if there is no such entry.  Cost: one probe. */
int flexmap_cache_del(struct flexmap_cache *, uint32_t table_id,
                      const struct flexmap_key *);

/* Deletes every entry of 'table_id', or of every table if 'table_id' is
 * UINT32_MAX, and returns how many it deleted.  Cost: a walk of every
 * entry of every table, under the mutex. */
size_t flexmap_cache_flush(struct flexmap_cache *, uint32_t table_id);

/* Connection affinity timeouts (flexmap-affinity.h) of every lane.
 *
 * flexmap_cache_set_affinity_params() sets them; they apply at once, also
 * to connections already known, and to the tables that later pools or
 * flexmap_cache_set_conn_capacity() create.  A writer (takes the mutex).
 * Cost: O(lanes).
 *
 * flexmap_cache_get_affinity_params() stores the current ones in '*p'.
 * Takes the mutex.  Cost: O(1). */
struct flexmap_affinity_params;
void flexmap_cache_set_affinity_params(struct flexmap_cache *,
                                       const struct flexmap_affinity_params *);
void flexmap_cache_get_affinity_params(const struct flexmap_cache *,
                                       struct flexmap_affinity_params *p);

/* Connection tables.
 *
 * flexmap_cache_set_conn_capacity() sets the connections each lane's table
 * holds, clamped to [FLEXMAP_CACHE_MIN_CONNS, FLEXMAP_CACHE_MAX_CONNS] and
 * rounded up to a power of two.  If that changes the capacity, tables
 * that exist already are replaced by empty ones (their connections are
 * placed by the consistent hash again, which keeps their backends unless
 * the pool changes); the old ones are freed after a grace period.  Returns
 * the capacity the replaced tables had, or 0 if none was replaced.  A
 * writer (takes the mutex).  Cost: O(lanes) table creations, if tables
 * exist and the capacity changes.
 *
 * flexmap_cache_get_conn_info() fills '*info'.  Takes the mutex.  Cost:
 * O(lanes).
 *
 * flexmap_cache_conn_info_format() appends a line on them to 'ds', for
 * flexmap/show and flexmap/dump-cache.  Takes the mutex (through
 * flexmap_cache_get_conn_info()). */
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
size_t flexmap_cache_set_conn_capacity(struct flexmap_cache *, size_t);
void flexmap_cache_get_conn_info(const struct flexmap_cache *,
                                 struct flexmap_cache_conn_info *info);
void flexmap_cache_conn_info_format(const struct flexmap_cache *,
                                    struct ds *ds);

/* Readers.  Unless one says it takes the mutex, a reader takes no lock and
 * may run in any thread, concurrently with writers and forwarding.  An
 * entry it returns stays valid until the calling thread quiesces. */

/* Returns the number of entries, over all tables.  Lock-free.  O(1). */
size_t flexmap_cache_count(const struct flexmap_cache *);

/* Returns how many entries with new keys flexmap_cache_put() can add right
 * now, counted in counter slots (a pool of N backends needs 1 + N).  Slots
 * of deleted entries count only once their grace period has passed, so a
 * caller that checks this first knows that its puts cannot fail with
 * ENOSPC, provided no other writer adds meanwhile.  Takes the mutex.
 * O(1). */
size_t flexmap_cache_room(const struct flexmap_cache *);

/* Returns the bytes of the map: the cache structure, the counter
 * directories and allocated counters, the entries (requested sizes) and an
 * estimate of the hash map's buckets.  The connection tables are apart
 * (flexmap_cache_get_conn_info()).  Lock-free; may be slightly stale while
 * a writer runs.  O(log entries). */
size_t flexmap_cache_memory(const struct flexmap_cache *);

/* Looks up 'key' in 'table_id' in the lookup order above, as the datapath
 * looks up a packet with that key: the exact probe if 'key' has a port, the
 * any-port probe if its protocol has ports, then the any-protocol probe.
 * Returns the entry, or NULL.  Lock-free.  Cost: up to three probes. */
const struct flexmap_cache_entry *flexmap_cache_lookup(
    const struct flexmap_cache *, uint32_t table_id,
    const struct flexmap_key *);

/* Looks up exactly 'key' (no fallback).  Returns the entry, or NULL.
 * Lock-free.  Cost: one probe. */
const struct flexmap_cache_entry *flexmap_cache_find(
    const struct flexmap_cache *, uint32_t table_id,
    const struct flexmap_key *);

/* Returns the backend that 'entry' gives a new flow with 5-tuple hash
 * 'hash' (flexmap_packet_extract()), or NULL if every weight is zero.  The
 * consistent hash alone: it ignores the connection tables, which may keep a
 * known connection elsewhere (flexmap_cache_explain() consults them).
 * Lock-free.  Cost: O(n_backends) hashes for a pool (flexmap-chash.h). */
const struct flexmap_dp_backend *flexmap_cache_entry_select(
    const struct flexmap_cache_entry *, uint32_t hash);

/* Accessors: an entry's table id, key, number of backends and backend
 * 'idx' (NULL if 'idx' is out of range).  Lock-free, O(1); the results
 * live as long as the entry. */
uint32_t flexmap_cache_entry_table(const struct flexmap_cache_entry *);
const struct flexmap_key *flexmap_cache_entry_key(
    const struct flexmap_cache_entry *);
size_t flexmap_cache_entry_n_backends(const struct flexmap_cache_entry *);
const struct flexmap_dp_backend *flexmap_cache_entry_backend(
    const struct flexmap_cache_entry *, size_t idx);

/* Stores in '*stats' the packets and bytes that hit 'entry' (and, for an
 * entry that replaced others, its predecessors), summed over every lane.
 * Drops of an entry whose weights are all zero count too.  Lock-free; may
 * be slightly stale, never torn.  O(lanes). */
void flexmap_cache_entry_get_stats(const struct flexmap_cache *,
                                   const struct flexmap_cache_entry *,
                                   struct flexmap_cache_stats *);

/* Stores in '*stats' the packets and bytes sent to backend 'idx' of
 * 'entry', summed over every lane: for an entry with one backend, the
 * entry's counters; zeros if 'idx' is out of range.  Lock-free; may be
 * slightly stale, never torn.  O(lanes). */
void flexmap_cache_entry_get_backend_stats(const struct flexmap_cache *,
                                           const struct flexmap_cache_entry *,
                                           size_t idx,
                                           struct flexmap_cache_stats *);

/* Calls 'cb' for every entry of 'table_id' (UINT32_MAX: all tables), with
 * no lock held.  The walk is RCU-safe: it may miss or repeat entries that
 * change meanwhile.  'cb' must not quiesce.  Lock-free.  Cost: a walk of
 * every entry of every table. */
void flexmap_cache_for_each(const struct flexmap_cache *, uint32_t table_id,
                            void (*cb)(const struct flexmap_cache_entry *,
                                       void *aux),
                            void *aux);

/* Packets. */

/* Reads the destination of 'packet' from its own headers (not from any
 * flow): fills 'key' with an exact key and '*hash' with a hash of the
 * 5-tuple, the one that pools use, and returns true; or returns false for
 * a packet that cannot hit (not Ethernet, not IPv4/IPv6, truncated, or a
 * non-first fragment).  Needs the packet's L3 offset (miniflow_extract()).
 * Touches no cache: any thread.  O(IPv6 extension headers). */
bool flexmap_packet_extract(const struct dp_packet *, struct flexmap_key *,
                            uint32_t *hash);

/* The per-packet path.  Looks up every packet of 'batch' in 'table_id'.
 * For a hit it counts the packet (and, for a pool, its backend) on 'lane',
 * rewrites the packet's Ethernet destination and stores the backend's port
 * in 'ports[i]'; a hit on a pool also consults and updates 'lane''s
 * connection table.  For a miss it stores ODPP_NONE.  A hit that gets no
 * backend (every weight zero, and for a pool a connection that 'lane' does
 * not know) counts and stores ODPP_NONE with 'dropped[i]' set.  'ports'
 * and 'dropped' have room for the batch's packets.  Returns the number of
 * hits, such drops included.
 *
 * Thread-safety: not a plain reader, since it writes 'lane''s counters and
 * connection table.  A dedicated lane ('lane' below flexmap_cache_create()'s
 * 'n_lanes') must be used by one thread at a time, and takes no lock; every
 * other 'lane' means the shared lane, whose mutex it holds for the batch.
 * Runs concurrently with readers, writers and the other lanes.
 *
 * Cost: no allocation, no logging, no system call; up to three probes per
 * packet (the exact ones batched with cmap_find_batch()), and for pool hits
 * a 5-tuple hash, a connection-table lookup and one clock read per batch.
 * scripts/bench-insns counts its instructions per packet. */
size_t flexmap_cache_execute(struct flexmap_cache *, uint32_t table_id,
                             struct dp_packet_batch *, unsigned int lane,
                             odp_port_t ports[], bool dropped[]);

/* For display ("flexmap/lookup"): returns the index of the backend that
 * 'packet' goes to in 'table_id', or -1 (a miss, a packet that cannot hit,
 * or a drop), and sets '*ep' to the entry it hits (NULL on a miss) and
 * '*from_affinity' to whether a lane's connection table decided rather than
 * the consistent hash.  As the packet's lane is not known, it consults
 * every lane's table.  Changes nothing, not even the connection tables.
 * Lock-free.  Cost: up to three probes, and for a pool O(lanes)
 * connection-table lookups. */
int flexmap_cache_explain(const struct flexmap_cache *, uint32_t table_id,
                          const struct dp_packet *,
                          const struct flexmap_cache_entry **ep,
                          bool *from_affinity);

/* Live connections per backend, for display.
 *
 * flexmap_cache_count_conns() walks every lane's connection table once and
 * counts each live connection for the backend it would go to now (the
 * entry its destination hits, while that entry still has the backend).
 * It allocates the result, never NULL.  The counts refer to entries by
 * address, so the caller must not quiesce until
 * flexmap_cache_conns_destroy().  Lock-free; may be slightly stale.  Cost:
 * O(lanes * connection capacity), plus one lookup per live connection.
 *
 * flexmap_cache_conns_get() returns the count for backend 'idx' of 'entry':
 * 0 if 'conns' is NULL, 'idx' is out of range or nothing was counted.
 * O(1).
 *
 * flexmap_cache_conns_destroy() frees 'conns'; NULL is allowed. */
struct flexmap_cache_conns;
struct flexmap_cache_conns *flexmap_cache_count_conns(
    const struct flexmap_cache *);
size_t flexmap_cache_conns_get(const struct flexmap_cache_conns *,
                               const struct flexmap_cache_entry *,
                               size_t idx);
void flexmap_cache_conns_destroy(struct flexmap_cache_conns *);

/* Appends 'entry' to 's': table, key, counters and backends with their
 * datapath ports (tunnel backends with their next hop and whether it is
 * resolved), and for a pool per-backend counters and connection counts
 * from 'conns' (may be NULL: 0).  Lock-free. */
void flexmap_cache_entry_format(const struct flexmap_cache *,
                                const struct flexmap_cache_entry *,
                                const struct flexmap_cache_conns *,
                                struct ds *s);

/* Tunnel next hops.
 *
 * A tunnel backend's 'port' is FLEXMAP_TNL_PORT(id): after rewriting the
 * packet's Ethernet destination, the datapath runs the actions that the
 * bridge set for next hop 'id' with flexmap_cache_tnl_set(), which are what
 * OpenFlow "set_field:IP->tun_dst,set_field:KEY->tun_id,output:TUNNEL"
 * translates to (typically "tnl_push(...),output:N").  A next hop with no
 * actions is unresolved (no route, or the neighbour's MAC is not known
 * yet): its packets are dropped.  Ids are at most FLEXMAP_TNL_MAX_ID, so
 * that no tunnel port is ODPP_NONE. */
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

/* Sets the actions of next hop 'id' (at most FLEXMAP_TNL_MAX_ID, else it
 * aborts) to the netlink attributes in 'variants', FLEXMAP_TNL_N_ECN of
 * them, one per ECN variant (flexmap_tnl_ecn_variant()), copied.  If any
 * variant is empty, the next hop is unresolved: its packets are dropped.
 * The old actions are freed after a grace period.  A writer (takes the
 * mutex); the copy is made outside it.  Cost: O(1) and one allocation. */
void flexmap_cache_tnl_set(struct flexmap_cache *, uint32_t id,
                           const struct ofpbuf *variants);

/* Forgets next hop 'id', if it exists; it is freed after a grace period.
 * Entries should not refer to it any more: packets of those that still do
 * are dropped.  A writer (takes the mutex).  O(1). */
void flexmap_cache_tnl_del(struct flexmap_cache *, uint32_t id);

/* Returns the actions of the next hop that 'port' names, or NULL if 'port'
 * is not a tunnel port or names no next hop.  They stay valid until the
 * calling thread quiesces.  Lock-free (the datapath calls it on its packet
 * path).  O(1). */
const struct flexmap_tnl_actions *flexmap_cache_tnl_get(
    const struct flexmap_cache *, odp_port_t);

#endif /* flexmap-cache.h */
