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

#ifndef FLEXMAP_CACHE_PRIVATE_H
#define FLEXMAP_CACHE_PRIVATE_H 1

/* Internals of the datapath map cache (flexmap-cache.h), shared by the
 * cache's own files and by no other module:
 *
 *   flexmap-cache.c          creation and destruction, counter slots,
 *                            writers, readers, connection counting;
 *   flexmap-cache-exec.c     the per-packet path: flexmap_cache_execute(),
 *                            packet parsing, pool selection;
 *   flexmap-cache-tnl.c      tunnel next hops;
 *   flexmap-cache-format.c   formatting for the appctl commands.
 *
 * The small helpers that the per-packet path calls are "static inline"
 * here, so that the packet path makes no call across files. */

#include <netinet/in.h>
#include <string.h>

#include "cmap.h"
#include "flexmap-affinity.h"
#include "flexmap-cache.h"
#include "flexmap-chash.h"
#include "flow.h"
#include "hash.h"
#include "openvswitch/util.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "packets.h"
#include "util.h"

/* Data structure
 * ==============
 *
 * All entries of all tables live in one cmap, 'entries', hashed by
 * (table id, key).  An entry is one allocation: the fixed part, then its
 * backends, and for a pool (more than one backend) the backends'
 * identities, their counter slots and the consistent-hash table:
 *
 *     struct flexmap_cache_entry  128 bytes  (see BUILD_ASSERT below)
 *     backends[n]                  40 bytes each
 *     pools only:  ids[n]           8 bytes each (fc_backend_id())
 *                  bslots[n]        4 bytes each, padded to 8 (in the
 *                                    entry's second line up to
 *                                    FC_INLINE_BSLOTS backends)
 *                  flexmap_chash    8 + 32 bytes per live backend
 *
 * so a one-backend entry takes 168 bytes (192, cache-line aligned), plus 13 to
 * 30 bytes of cmap bucket space (a 64-byte bucket holds 5 nodes; the cmap
 * stays between about 42% and 85% full), plus 16 bytes of counters per lane
 * (below).  A pool entry of N backends takes 136 + 80 * N bytes (456 for
 * N = 4, rounded up to whole cache lines), plus 4 * N padded to 8 beyond
 * FC_INLINE_BSLOTS backends, and 16 bytes of counters per lane per
 * backend.  An entry is never modified
 * once published: flexmap_cache_put() on an existing key builds a new entry
 * and swaps it in with cmap_replace(), so a reader sees either the whole old
 * or the whole new entry.  Old entries are freed with ovsrcu_postpone().
 *
 * Entries are cache-line aligned, and everything a packet of a
 * single-backend entry needs (the cmap node, table id, key, counter slot and
 * a copy of the backend's MAC and port) is in the first cache line, so such
 * a hit reads one line of the entry.
 *
 * Counters.  Each entry owns a counter slot, and each backend of a pool one
 * more (a replacement keeps the slots of the backends it keeps); a slot is
 * an index below FLEXMAP_CACHE_MAX_ENTRIES.  Each lane has a fixed
 * directory of FC_N_CHUNKS pointers to chunks of FC_CHUNK_SIZE counter
 * pairs.  Chunks are allocated by the writer, for every lane, before an
 * entry using a slot in that chunk is published (cmap_insert() publishes
 * with release semantics, so a reader that finds the entry also sees the
 * chunk pointer), and are freed only with the cache.  Each lane's chunk is
 * a separate cache-line aligned allocation, so two lanes never share a
 * cache line.  A PMD thread is the only writer of its lane, so it updates
 * counters with a relaxed load and store ("non-atomic add"), which costs
 * the same as a plain add on x86 but lets other threads read without
 * tearing.
 *
 * Lanes.  A lane is what one forwarding thread writes: counters and a
 * connection table.  Lanes 0 to n_lanes - 2 are dedicated: the caller
 * guarantees that at most one thread uses each at a time (dpif-netdev passes
 * a thread's static tx queue id, which an id pool hands out to one thread at
 * a time; see flexmap-dpif.c), so they are written without locks.  Every lane
 * number beyond them maps to the last lane, 'shared_lane', which any number of
 * threads may use, one at a time under 'shared_mutex'.  So there is no lane
 * number that makes two threads write one lane at once; a datapath with more
 * threads than dedicated lanes only pays a lock for the surplus ones.  (Lanes
 * used to be taken modulo their count, which made a thread beyond the count
 * share another's lane without a lock: lost counts, and a connection table
 * with two writers.)
 *
 * Other threads read every lane: counters with relaxed loads, connection
 * tables through flexmap-affinity.h's reader functions, which copy a way and
 * check that it was not re-keyed meanwhile.  The table pointers are
 * RCU-published by the writer before the first pool entry that needs them.
 *
 * Where the rest of the design is described: "Slot life cycle" and
 * "Destruction" in flexmap-cache.c, "Pools" and "Lookup" in
 * flexmap-cache-exec.c. */

/* Counter chunks. */
#define FC_CHUNK_SHIFT 12
#define FC_CHUNK_SIZE (1u << FC_CHUNK_SHIFT)        /* Slots per chunk. */
#define FC_CHUNK_MASK (FC_CHUNK_SIZE - 1)
#define FC_N_CHUNKS (FLEXMAP_CACHE_MAX_ENTRIES / FC_CHUNK_SIZE)
BUILD_ASSERT_DECL(FLEXMAP_CACHE_MAX_ENTRIES % FC_CHUNK_SIZE == 0);

/* The key is hashed and compared field by field, but it must be exactly the
 * 20 bytes we expect: address, proto, pad, port. */
BUILD_ASSERT_DECL(sizeof(struct flexmap_key) == 20);
BUILD_ASSERT_DECL(offsetof(struct flexmap_key, port) == 18);
BUILD_ASSERT_DECL(sizeof(struct flexmap_dp_backend) == 40);

/* Backend indexes fit in an int8_t. */
BUILD_ASSERT_DECL(FLEXMAP_MAX_BACKENDS <= 64);

/* Weight sums fit easily in 32 bits: 64 * 65535 < 2**22. */
BUILD_ASSERT_DECL((uint64_t) FLEXMAP_MAX_BACKENDS * UINT16_MAX < UINT32_MAX);

struct flexmap_cache_counter {
    atomic_ullong n_packets;
    atomic_ullong n_bytes;
};
BUILD_ASSERT_DECL(sizeof(struct flexmap_cache_counter) == 16);

/* One lane's counter directory.  Only the writer (under 'mutex') stores
 * chunk pointers; see "Counters" above for why readers need no barrier. */
struct flexmap_cache_lane {
    struct flexmap_cache_counter *chunks[FC_N_CHUNKS];
};

#define FC_INLINE_BSLOTS 5

struct flexmap_cache_entry {
    /* First cache line: all that a packet to a single backend reads. */
    struct cmap_node node;          /* In flexmap_cache's 'entries'. */
    uint32_t table_id;
    struct flexmap_key key;
    uint32_t slot;                  /* Counter slot of the entry. */
    uint8_t n_backends;             /* 1...FLEXMAP_MAX_BACKENDS. */
    uint8_t kind;                   /* enum flexmap_key_kind. */
    int8_t only;                    /* Index of the only backend with a
                                     * non-zero weight, or -1. */
    uint8_t pad0;
    struct eth_addr mac;            /* Copy of backends[only]'s MAC and */
    uint16_t pad1;
    odp_port_t port;                /* port, if 'only' >= 0. */
    uint32_t weight_sum;            /* Sum of the backends' weights. */
    const struct flexmap_chash *chash;  /* Pool choice, NULL for a single
                                         * backend. */

    /* Second cache line. */
    struct flexmap_cache *cache;    /* For the postponed slot release. */
    uint64_t version;               /* Unique per put, for affinity hints. */

    /* A pool that replaced a single-backend entry: connections that were
     * open before the change went to that backend ('prev_id') without being
     * recorded (single-backend entries keep no connection table), so until
     * the idle timeouts have passed an unknown mid-connection TCP packet, or
     * an unknown UDP flow, is pinned to it while it stays in the pool.
     * 'prev_id' is 0 if none. */
    uint64_t prev_id;
    uint64_t prev_tcp_until;        /* time_msec() deadlines. */
    uint64_t prev_udp_until;

    /* Pools: what a packet of a known connection needs besides the
     * connection itself, in this line: the per-backend counter slots of a
     * pool of up to FC_INLINE_BSLOTS backends (fc_entry_bslots()), and
     * whether every backend's datapath port is below 65536, so that a
     * backend's identity gives back its MAC and port without reading
     * 'backends' (fc_backend_from_id()). */
    uint32_t inline_bslots[FC_INLINE_BSLOTS];
    uint8_t plain_ports;
    uint8_t pad2[3];
    struct flexmap_dp_backend backends[];
    /* A pool (n_backends > 1) is followed by:
     *
     *     uint64_t ids[n_backends]      backend identities (fc_backend_id())
     *     uint32_t bslots[n_backends]   per-backend counter slots, padded to
     *                                   8 bytes, only for a pool of more
     *                                   than FC_INLINE_BSLOTS backends
     *     struct flexmap_chash          what the consistent hash scores */
};
BUILD_ASSERT_DECL(sizeof(struct flexmap_cache_entry) == 128);
BUILD_ASSERT_DECL(offsetof(struct flexmap_cache_entry, chash)
                  + sizeof(void *) <= 64);

struct flexmap_cache {
    /* Read by the datapath. */
    struct cmap entries;            /* Contains "struct flexmap_cache_entry"s.
                                     * Written only under 'mutex'. */
    atomic_count n_kind[3];         /* Entries per enum flexmap_key_kind. */
    unsigned int n_lanes;           /* Lanes, the shared one included. */
    unsigned int shared_lane;       /* n_lanes - 1: see "Lanes" above. */
    struct flexmap_cache_lane *lanes;   /* 'n_lanes' counter directories. */
    OVSRCU_TYPE(struct flexmap_affinity *) *affinity;
                                    /* 'n_lanes' connection tables, all NULL
                                     * until the first pool entry, then
                                     * never changed until destruction; each
                                     * written only by its lane's owner. */
    struct ovs_mutex shared_mutex;  /* Owner of 'shared_lane'. */

    /* Writers. */
    struct ovs_mutex mutex;
    uint32_t next_slot OVS_GUARDED;     /* Slots never used yet start here. */
    uint32_t *free_slots OVS_GUARDED;   /* Released slots, a stack. */
    size_t n_free_slots OVS_GUARDED;
    size_t allocated_free_slots OVS_GUARDED;
    atomic_count n_chunks;          /* Chunks allocated per lane; written only
                                     * under 'mutex'. */
    atomic_uint64_t entry_bytes;    /* Bytes in entries; ditto. */
    struct ovs_refcount ref_cnt;    /* 1 + pending postponed slot releases. */
    uint64_t next_version OVS_GUARDED;  /* Version of the next put. */
    uint64_t trim_bytes OVS_GUARDED;    /* Entry bytes freed since the heap
                                         * was last trimmed. */
    struct flexmap_affinity_params affinity_params OVS_GUARDED;
    size_t conn_capacity OVS_GUARDED;   /* Of each lane's connection table. */

    /* Tunnel next hops, read by the datapath, written under 'mutex'. */
    struct cmap tnls;               /* Contains "struct fc_tnl"s. */
};

/* Keys. */

static inline bool
fc_proto_has_ports(uint8_t proto)
{
    return proto == IPPROTO_TCP || proto == IPPROTO_UDP
           || proto == IPPROTO_SCTP;
}

/* First half of the hash of a probe: the table id and the address.  The
 * first three words of the address are hashed by fc_hash_ip_head(), which
 * for IPv4 addresses (all mapped, so the same three words) is done once per
 * batch (fc_hash_ip4_head()). */
static inline uint32_t
fc_hash_ip_head(uint32_t table_id, const uint32_t w[3])
{
    uint32_t hash = hash_add(0, table_id);

    hash = hash_add(hash, w[0]);
    hash = hash_add(hash, w[1]);
    return hash_add(hash, w[2]);
}

static inline uint32_t
fc_hash_ip(uint32_t table_id, const struct in6_addr *ip)
{
    uint32_t w[4];

    memcpy(w, ip, sizeof w);
    return hash_add(fc_hash_ip_head(table_id, w), w[3]);
}

static inline uint32_t
fc_hash_ip4_head(uint32_t table_id)
{
    struct in6_addr mapped;
    uint32_t w[4];

    in6_addr_set_mapped_ipv4(&mapped, 0);
    memcpy(w, &mapped, sizeof w);
    return fc_hash_ip_head(table_id, w);
}

/* Second half of the hash of a probe: protocol and port. */
static inline uint32_t
fc_hash_finish(uint32_t ip_hash, uint8_t proto, ovs_be16 port)
{
    uint32_t w = proto | ((uint32_t) ntohs(port) << 16);

    return hash_finish(hash_add(ip_hash, w), 24);
}

static inline uint32_t
fc_hash_key(uint32_t table_id, const struct flexmap_key *key)
{
    return fc_hash_finish(fc_hash_ip(table_id, &key->ip),
                          key->proto, key->port);
}

static inline bool
fc_entry_matches(const struct flexmap_cache_entry *e, uint32_t table_id,
                 const struct in6_addr *ip, uint8_t proto, ovs_be16 port)
{
    return (e->table_id == table_id && e->key.port == port
            && e->key.proto == proto && ipv6_addr_equals(&e->key.ip, ip));
}

static inline const struct flexmap_cache_entry *
fc_probe(const struct flexmap_cache *cache, uint32_t hash, uint32_t table_id,
         const struct in6_addr *ip, uint8_t proto, ovs_be16 port)
{
    const struct flexmap_cache_entry *e;

    CMAP_FOR_EACH_WITH_HASH (e, node, hash, &cache->entries) {
        if (fc_entry_matches(e, table_id, ip, proto, port)) {
            return e;
        }
    }
    return NULL;
}

static inline bool
fc_has_kind(const struct flexmap_cache *cache, enum flexmap_key_kind kind)
{
    return atomic_count_get(CONST_CAST(atomic_count *, &cache->n_kind[kind]));
}

/* A backend's identity: its MAC and datapath port, which is what makes it
 * "the same backend" across changes of its entry.  Never UINT64_MAX
 * (FLEXMAP_AFFINITY_ANY_BACKEND), since MACs are unicast. */
static inline uint64_t
fc_backend_id(const struct flexmap_dp_backend *b)
{
    return (eth_addr_to_uint64(b->mac) << 16) ^ odp_to_u32(b->port);
}

/* Gives back the MAC and port of the backend whose identity is 'id', which
 * fc_backend_id() can do only for a port below 65536 (the port then fills
 * the identity's low 16 bits, under nothing of the MAC): 'e->plain_ports'
 * says whether every backend of 'e' has one. */
static inline void
fc_backend_from_id(uint64_t id, struct eth_addr *mac, odp_port_t *port)
{
    eth_addr_from_uint64(id >> 16, mac);
    *port = u32_to_odp(id & UINT16_MAX);
}

static inline const uint64_t *
fc_entry_ids(const struct flexmap_cache_entry *e)
{
    return ALIGNED_CAST(const uint64_t *, &e->backends[e->n_backends]);
}

static inline const uint32_t *
fc_entry_bslots(const struct flexmap_cache_entry *e)
{
    return (e->n_backends <= FC_INLINE_BSLOTS
            ? e->inline_bslots
            : ALIGNED_CAST(const uint32_t *, fc_entry_ids(e) + e->n_backends));
}

/* Bytes of a pool entry after its backends: identities, counter slots when
 * they are not inline, then the consistent hash's table at the end. */
static inline size_t
fc_pool_ids_bslots_size(size_t n_backends)
{
    return (n_backends * sizeof(uint64_t)
            + (n_backends > FC_INLINE_BSLOTS
               ? ROUND_UP(n_backends * sizeof(uint32_t), 8) : 0));
}

/* Returns the index in 'e->backends' of backend 'id', or -1. */
static inline int
fc_find_backend(const struct flexmap_cache_entry *e, uint64_t id)
{
    const uint64_t *ids = fc_entry_ids(e);

    for (int i = 0; i < e->n_backends; i++) {
        if (ids[i] == id) {
            return i;
        }
    }
    return -1;
}

static inline struct flexmap_cache_counter *
fc_counter(const struct flexmap_cache *cache, unsigned int lane,
           uint32_t slot)
{
    return &cache->lanes[lane].chunks[slot >> FC_CHUNK_SHIFT]
                                     [slot & FC_CHUNK_MASK];
}

/* Returns lane 'lane''s connection table, or NULL before the first pool
 * entry. */
static inline struct flexmap_affinity *
fc_affinity(const struct flexmap_cache *cache, unsigned int lane)
{
    return ovsrcu_get(struct flexmap_affinity *, &cache->affinity[lane]);
}

/* Lookup. */

/* Looks up exact key 'key' in 'table_id', whose address hashes to 'ip_hash'
 * (fc_hash_ip()), in the order of the user contract; but skips the exact
 * probe if 'exact_done' (the caller made it already and it missed). */
static inline const struct flexmap_cache_entry *
fc_lookup(const struct flexmap_cache *cache, uint32_t table_id,
          const struct flexmap_key *key, uint32_t ip_hash, bool exact_done)
{
    const struct flexmap_cache_entry *e;

    if (fc_proto_has_ports(key->proto)) {
        if (!exact_done && key->port
            && fc_has_kind(cache, FLEXMAP_KEY_EXACT)) {
            e = fc_probe(cache, fc_hash_finish(ip_hash, key->proto,
                                               key->port),
                         table_id, &key->ip, key->proto, key->port);
            if (e) {
                return e;
            }
        }
        if (fc_has_kind(cache, FLEXMAP_KEY_ANY_PORT)) {
            e = fc_probe(cache, fc_hash_finish(ip_hash, key->proto, 0),
                         table_id, &key->ip, key->proto, 0);
            if (e) {
                return e;
            }
        }
    }
    if (fc_has_kind(cache, FLEXMAP_KEY_ANY_PROTO)) {
        return fc_probe(cache, fc_hash_finish(ip_hash, 0, 0),
                        table_id, &key->ip, 0, 0);
    }
    return NULL;
}

/* Returns the index of the backend that pool entry 'e' chooses for a new
 * flow with 5-tuple hash 'hash', or -1 if every weight is zero. */
static inline int
fc_pool_choose(const struct flexmap_cache_entry *e, uint32_t hash)
{
    return flexmap_chash_lookup(e->chash, hash);
}

/* Tunnel next hops (flexmap-cache-tnl.c). */

/* Removes every tunnel next hop from 'cache' and postpones freeing them,
 * for flexmap_cache_destroy(). */
void fc_tnl_destroy_all(struct flexmap_cache *cache)
    OVS_REQUIRES(cache->mutex);

#endif /* flexmap-cache-private.h */
