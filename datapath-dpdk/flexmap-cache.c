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

#include "flexmap-cache.h"
#include "flexmap-affinity.h"
#include "flexmap-chash.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#if HAVE_DECL_MALLOC_TRIM
#include <malloc.h>
#endif

#include "cmap.h"
#include "coverage.h"
#include "dp-packet.h"
#include "flow.h"
#include "hash.h"
#include "odp-util.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/util.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "packets.h"
#include "timeval.h"
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
 *                  bslots[n]        4 bytes each, padded to 8
 *                  flexmap_chash    8 + 32 bytes per live backend
 *
 * so a one-backend entry takes 168 bytes (192, cache-line aligned), plus 13 to
 * 30 bytes of cmap bucket space (a 64-byte bucket holds 5 nodes; the cmap
 * stays between about 42% and 85% full), plus 16 bytes of counters per lane
 * (below).  A pool entry of N backends takes 136 + 84 * N bytes (472 for
 * N = 4, rounded up to whole cache lines), and 16 bytes of counters per
 * lane per backend.  An entry is never modified
 * once published: flexmap_cache_put() on an existing key builds a new entry
 * and swaps it in with cmap_replace(), so a reader sees either the whole old
 * or the whole new entry.  Old entries are freed with ovsrcu_postpone().
 *
 * Pools.  A new connection to a pool gets the backend that the entry's
 * consistent-hash table names for its 5-tuple hash (flexmap-chash.h: only
 * the flows of a removed backend move, added backends take only their
 * share).  The lane's connection table (flexmap-affinity.h) then pins the
 * connection to that backend, by identity (MAC and datapath port), so that
 * later changes of the pool do not move it while the backend stays in the
 * pool, even drained (weight 0); see fc_pool_select().  Connection tables
 * exist only once a pool does, and single-backend entries never touch
 * them.
 *
 * Entries are cache-line aligned, and everything a packet of a
 * single-backend entry needs (the cmap node, table id, key, counter slot and
 * a copy of the backend's MAC and port) is in the first cache line, so such
 * a hit reads one line of the entry.
 *
 * Lookup.  The hash of a probe is computed in two steps, the table id and
 * the 16 address bytes first, then the (proto, port) word, so that the up to
 * three probes of one packet hash the address only once (and for an IPv4
 * address, whose first 12 bytes are always the same, the table id and those
 * bytes are hashed once per batch).  flexmap_cache_execute() works on a
 * batch in stages, so that the memory accesses of different packets
 * overlap: it parses every packet, then looks all exact keys up together
 * with cmap_find_batch() (which prefetches the buckets), prefetches the
 * entries it found and then compares their keys, prefetches the counters
 * of the hits, and only then counts and rewrites.  For each key kind
 * the cache keeps a count of entries ('n_kind'); a probe for a kind with no
 * entry anywhere in the cache is skipped, so a cache holding only exact
 * entries costs one probe per packet.  The counts are only a hint: a writer
 * increments before inserting and decrements after removing, so a reader
 * that skips a probe could only have missed an entry that is being inserted
 * concurrently, which is indistinguishable from looking up just before it.
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
 * Slot life cycle.  A replaced entry hands its slot to its replacement, so
 * counters continue.  A deleted entry's slot is returned to the free list
 * only from an RCU callback, after every reader that might still count into
 * it has quiesced; the writer zeroes a slot's counters in every lane when it
 * hands the slot to a new entry.  Slots come from the free list, else from
 * 'next_slot', so they stay dense and chunks are allocated only as needed.
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
 * Destruction.  Postponed slot releases touch the cache (mutex, free list),
 * and they may have been postponed by other threads whose callbacks could run
 * after the cache's own postponed free.  So each pending release holds a
 * reference on the cache ('ref_cnt'), and whichever of flexmap_cache_destroy()
 * (after a grace period) and the last release drops the last reference frees
 * the cache. */

COVERAGE_DEFINE(flexmap_cache_trim);

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

/* flexmap_packet_extract() hashes an IPv6 source and destination as one
 * 32-byte array. */
BUILD_ASSERT_DECL(offsetof(struct ovs_16aligned_ip6_hdr, ip6_dst)
                  == offsetof(struct ovs_16aligned_ip6_hdr, ip6_src) + 16);

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
    uint8_t pad2[24];
    struct flexmap_dp_backend backends[];
    /* A pool (n_backends > 1) is followed by:
     *
     *     uint64_t ids[n_backends]      backend identities (fc_backend_id())
     *     uint32_t bslots[n_backends]   per-backend counter slots, padded to
     *                                   8 bytes
     *     struct flexmap_chash          the consistent-hash slot table */
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

/* A tunnel next hop. */
struct fc_tnl {
    struct cmap_node node;          /* In 'tnls', by hash of 'id'. */
    uint32_t id;
    OVSRCU_TYPE(struct flexmap_tnl_actions *) actions;
};

/* Add 'n' to the atomic variable 'var' non-atomically and using relaxed
 * load/store semantics.  While the increment is not atomic, the load and
 * store operations are, making it impossible to read inconsistent values.
 * Only the lane's owner thread writes a lane's counters.  (A copy of the
 * static function in dpif-netdev.c.) */
static inline void
non_atomic_ullong_add(atomic_ullong *var, unsigned long long n)
{
    unsigned long long tmp;

    atomic_read_relaxed(var, &tmp);
    tmp += n;
    atomic_store_relaxed(var, tmp);
}

/* Keys. */

static inline bool
fc_proto_has_ports(uint8_t proto)
{
    return proto == IPPROTO_TCP || proto == IPPROTO_UDP
           || proto == IPPROTO_SCTP;
}

static bool
fc_key_is_valid(const struct flexmap_key *key)
{
    if (key->pad) {
        return false;
    }
    if (!key->proto) {
        return !key->port;
    }
    return fc_proto_has_ports(key->proto);
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

static uint32_t
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

static struct flexmap_cache_entry *
fc_find_protected(const struct flexmap_cache *cache, uint32_t hash,
                  uint32_t table_id, const struct flexmap_key *key)
    OVS_REQUIRES(cache->mutex)
{
    struct flexmap_cache_entry *e;

    CMAP_FOR_EACH_WITH_HASH_PROTECTED (e, node, hash, &cache->entries) {
        if (fc_entry_matches(e, table_id, &key->ip, key->proto, key->port)) {
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

static inline const uint64_t *
fc_entry_ids(const struct flexmap_cache_entry *e)
{
    return ALIGNED_CAST(const uint64_t *, &e->backends[e->n_backends]);
}

static inline const uint32_t *
fc_entry_bslots(const struct flexmap_cache_entry *e)
{
    return ALIGNED_CAST(const uint32_t *, fc_entry_ids(e) + e->n_backends);
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

static inline size_t
fc_pool_extra(size_t n_backends)
{
    return (n_backends * sizeof(uint64_t)
            + ROUND_UP(n_backends * sizeof(uint32_t), 8));
}

static size_t
fc_entry_size(size_t n_backends)
{
    size_t size = (sizeof(struct flexmap_cache_entry)
                   + n_backends * sizeof(struct flexmap_dp_backend));

    if (n_backends > 1) {
        size += fc_pool_extra(n_backends) + flexmap_chash_size(n_backends);
    }
    return size;
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

/* Creation and destruction. */

struct flexmap_cache *
flexmap_cache_create(unsigned int n_lanes)
{
    struct flexmap_cache *cache = xzalloc(sizeof *cache);

    cmap_init(&cache->entries);
    for (int i = 0; i < ARRAY_SIZE(cache->n_kind); i++) {
        atomic_count_init(&cache->n_kind[i], 0);
    }
    cache->n_lanes = MAX(n_lanes, 1) + 1;
    cache->shared_lane = cache->n_lanes - 1;
    cache->lanes = xcalloc(cache->n_lanes, sizeof *cache->lanes);
    cache->affinity = xmalloc(cache->n_lanes * sizeof *cache->affinity);
    for (unsigned int i = 0; i < cache->n_lanes; i++) {
        ovsrcu_init(&cache->affinity[i], NULL);
    }
    ovs_mutex_init(&cache->shared_mutex);
    cache->affinity_params = FLEXMAP_AFFINITY_PARAMS_DEFAULT;
    cache->conn_capacity = FLEXMAP_CACHE_DEFAULT_CONNS;
    cache->next_version = 1;
    ovs_mutex_init(&cache->mutex);
    cache->next_slot = 0;
    cache->free_slots = NULL;
    cache->n_free_slots = cache->allocated_free_slots = 0;
    atomic_count_init(&cache->n_chunks, 0);
    atomic_init(&cache->entry_bytes, 0);
    ovs_refcount_init(&cache->ref_cnt);
    cmap_init(&cache->tnls);
    return cache;
}

static void
fc_unref(struct flexmap_cache *cache)
{
    if (ovs_refcount_unref(&cache->ref_cnt) == 1) {
        unsigned int n_chunks = atomic_count_get(&cache->n_chunks);

        for (unsigned int i = 0; i < cache->n_lanes; i++) {
            for (unsigned int c = 0; c < n_chunks; c++) {
                free_cacheline(cache->lanes[i].chunks[c]);
            }
        }
        free(cache->lanes);
        for (unsigned int i = 0; i < cache->n_lanes; i++) {
            flexmap_affinity_destroy(fc_affinity(cache, i));
        }
        free(cache->affinity);
        free(cache->free_slots);
        cmap_destroy(&cache->entries);
        cmap_destroy(&cache->tnls);
        ovs_mutex_destroy(&cache->mutex);
        ovs_mutex_destroy(&cache->shared_mutex);
        free(cache);
    }
}

static void fc_tnl_free(struct fc_tnl *);

static void
fc_unref_cb(void *cache)
{
    fc_unref(cache);
}

/* Frees every lane's counter chunks and forgets every slot.  Only when no
 * slot is in use: no entry then refers to a chunk, and a reader may reach
 * a counter only through an entry. */
static void
fc_free_chunks(struct flexmap_cache *cache)
    OVS_REQUIRES(cache->mutex)
{
    unsigned int n_chunks = atomic_count_get(&cache->n_chunks);

    ovs_assert(cache->n_free_slots == cache->next_slot);
    atomic_count_set(&cache->n_chunks, 0);
    for (unsigned int i = 0; i < cache->n_lanes; i++) {
        for (unsigned int c = 0; c < n_chunks; c++) {
            free_cacheline(cache->lanes[i].chunks[c]);
            cache->lanes[i].chunks[c] = NULL;
        }
    }
    free(cache->free_slots);
    cache->free_slots = NULL;
    cache->n_free_slots = cache->allocated_free_slots = 0;
    cache->next_slot = 0;
}

static void
fc_free_slot(struct flexmap_cache *cache, uint32_t slot)
    OVS_REQUIRES(cache->mutex)
{
    if (cache->n_free_slots >= cache->allocated_free_slots) {
        cache->free_slots = x2nrealloc(cache->free_slots,
                                       &cache->allocated_free_slots,
                                       sizeof *cache->free_slots);
    }
    cache->free_slots[cache->n_free_slots++] = slot;
    if (cache->n_free_slots == cache->next_slot) {
        /* The cache is empty: give its counters back too. */
        fc_free_chunks(cache);
    }
}

/* Entry bytes freed, since the last trim, after which the heap is trimmed
 * (and when the cache becomes empty). */
#define FC_TRIM_BYTES (64u << 20)

/* Notes that 'bytes' of entries were freed.  Returns true if the caller,
 * once it has released the mutex, should give the heap's free memory back
 * to the system: the deleted entries were spread over the heap among
 * others, so glibc keeps their pages until asked. */
static bool
fc_note_freed(struct flexmap_cache *cache, size_t bytes)
    OVS_REQUIRES(cache->mutex)
{
    cache->trim_bytes += bytes;
    if (cache->trim_bytes >= FC_TRIM_BYTES
        || (cache->trim_bytes && !cache->next_slot)) {
        cache->trim_bytes = 0;
        return true;
    }
    return false;
}

/* Gives free heap memory back to the system, if the C library can.  Runs in
 * the RCU callback thread, never in a forwarding thread. */
static void
fc_trim(void)
{
#if HAVE_DECL_MALLOC_TRIM
    COVERAGE_INC(flexmap_cache_trim);
    malloc_trim(0);
#endif
}

/* RCU callback for a deleted entry: gives its slots back and frees it. */
static void
fc_entry_release(void *e_)
{
    struct flexmap_cache_entry *e = e_;
    struct flexmap_cache *cache = e->cache;
    bool trim;

    ovs_mutex_lock(&cache->mutex);
    fc_free_slot(cache, e->slot);
    if (e->n_backends > 1) {
        const uint32_t *bslots = fc_entry_bslots(e);

        for (size_t i = 0; i < e->n_backends; i++) {
            fc_free_slot(cache, bslots[i]);
        }
    }
    trim = fc_note_freed(cache, fc_entry_size(e->n_backends));
    ovs_mutex_unlock(&cache->mutex);

    free_cacheline(e);
    fc_unref(cache);
    if (trim) {
        fc_trim();
    }
}

/* Slots of a replaced entry that its replacement did not take over. */
struct fc_slot_release {
    struct flexmap_cache *cache;
    size_t n;
    uint32_t slots[FLEXMAP_MAX_BACKENDS];
};

/* RCU callback for a replaced entry: gives back the slots in 'r_'. */
static void
fc_slots_release(void *r_)
{
    struct fc_slot_release *r = r_;
    struct flexmap_cache *cache = r->cache;

    ovs_mutex_lock(&cache->mutex);
    for (size_t i = 0; i < r->n; i++) {
        fc_free_slot(cache, r->slots[i]);
    }
    ovs_mutex_unlock(&cache->mutex);
    free(r);
    fc_unref(cache);
}

/* Removes 'e' from the cmap and postpones its release.  The caller must
 * hold the mutex. */
static void
fc_remove(struct flexmap_cache *cache, struct flexmap_cache_entry *e)
    OVS_REQUIRES(cache->mutex)
{
    uint64_t bytes = fc_entry_size(e->n_backends);
    uint64_t total;

    cmap_remove(&cache->entries, &e->node, fc_hash_key(e->table_id, &e->key));
    atomic_count_dec(&cache->n_kind[e->kind]);
    atomic_sub_relaxed(&cache->entry_bytes, bytes, &total);

    ovs_refcount_ref(&cache->ref_cnt);
    ovsrcu_postpone(fc_entry_release, e);
}

void
flexmap_cache_destroy(struct flexmap_cache *cache)
{
    struct flexmap_cache_entry *e;

    if (!cache) {
        return;
    }

    /* No reader can find the cache any more, but readers that found an
     * entry before may use it until they quiesce, so entries are still freed
     * after a grace period.  Their slots need no release: the free list dies
     * with the cache. */
    ovs_mutex_lock(&cache->mutex);
    CMAP_FOR_EACH (e, node, &cache->entries) {
        cmap_remove(&cache->entries, &e->node,
                    fc_hash_key(e->table_id, &e->key));
        ovsrcu_postpone(free_cacheline, e);
    }
    struct fc_tnl *t;
    CMAP_FOR_EACH (t, node, &cache->tnls) {
        cmap_remove(&cache->tnls, &t->node, hash_int(t->id, 0));
        ovsrcu_postpone(fc_tnl_free, t);
    }
    ovs_mutex_unlock(&cache->mutex);

    /* Pending slot releases hold their own references, so the cache outlives
     * them regardless of which thread postponed them. */
    ovsrcu_postpone(fc_unref_cb, cache);
}

/* Writers. */

/* Gives a zeroed counter slot in '*slot', allocating counter chunks for
 * every lane as needed.  Returns false if every slot is in use (or waiting
 * for a grace period to be released). */
static bool
fc_alloc_slot(struct flexmap_cache *cache, uint32_t *slot)
    OVS_REQUIRES(cache->mutex)
{
    uint32_t s;

    if (cache->n_free_slots) {
        s = cache->free_slots[--cache->n_free_slots];
    } else if (cache->next_slot < FLEXMAP_CACHE_MAX_ENTRIES) {
        unsigned int n_chunks = atomic_count_get(&cache->n_chunks);

        s = cache->next_slot++;
        if ((s >> FC_CHUNK_SHIFT) >= n_chunks) {
            ovs_assert((s >> FC_CHUNK_SHIFT) == n_chunks);
            for (unsigned int i = 0; i < cache->n_lanes; i++) {
                cache->lanes[i].chunks[n_chunks] = xzalloc_cacheline(
                    FC_CHUNK_SIZE * sizeof(struct flexmap_cache_counter));
            }
            atomic_count_set(&cache->n_chunks, n_chunks + 1);
        }
    } else {
        return false;
    }

    /* Zero the slot in every lane: a released slot still holds the counts of
     * its previous entry.  No reader can write them any more: the slot was
     * released only after a grace period. */
    for (unsigned int i = 0; i < cache->n_lanes; i++) {
        struct flexmap_cache_counter *c = fc_counter(cache, i, s);

        atomic_store_relaxed(&c->n_packets, 0);
        atomic_store_relaxed(&c->n_bytes, 0);
    }
    *slot = s;
    return true;
}

/* Creates the connection tables of every lane, if they do not exist yet.
 * Called before the first pool entry is published, so that a PMD that finds
 * a pool entry also finds its lane's table (cmap_insert() and
 * cmap_replace() publish with release semantics). */
static void
fc_ensure_affinity(struct flexmap_cache *cache)
    OVS_REQUIRES(cache->mutex)
{
    if (!fc_affinity(cache, 0)) {
        for (unsigned int i = 0; i < cache->n_lanes; i++) {
            ovsrcu_set(&cache->affinity[i], flexmap_affinity_create(
                           cache->conn_capacity, &cache->affinity_params));
        }
    }
}

static void
fc_affinity_destroy_cb(void *aff)
{
    flexmap_affinity_destroy(aff);
}

void
flexmap_cache_set_conn_capacity(struct flexmap_cache *cache, size_t capacity)
{
    capacity = MIN(MAX(capacity, FLEXMAP_CACHE_MIN_CONNS),
                   FLEXMAP_CACHE_MAX_CONNS);

    ovs_mutex_lock(&cache->mutex);
    if (capacity != cache->conn_capacity) {
        cache->conn_capacity = capacity;
        if (fc_affinity(cache, 0)) {
            /* New, empty tables.  A lane's owner may still be writing the
             * old one until it quiesces, so that one goes only after a
             * grace period.  Connections it knew are placed by the
             * consistent hash again, which keeps their backends unless
             * the pool changes before they end. */
            for (unsigned int i = 0; i < cache->n_lanes; i++) {
                struct flexmap_affinity *old = fc_affinity(cache, i);

                ovsrcu_set(&cache->affinity[i], flexmap_affinity_create(
                               capacity, &cache->affinity_params));
                ovsrcu_postpone__(fc_affinity_destroy_cb, old);
            }
        }
    }
    ovs_mutex_unlock(&cache->mutex);
}

void
flexmap_cache_get_conn_info(const struct flexmap_cache *cache_,
                            struct flexmap_cache_conn_info *info)
{
    struct flexmap_cache *cache = CONST_CAST(struct flexmap_cache *, cache_);

    memset(info, 0, sizeof *info);
    ovs_mutex_lock(&cache->mutex);
    info->capacity = cache->conn_capacity;
    for (unsigned int i = 0; i < cache->n_lanes; i++) {
        const struct flexmap_affinity *aff = fc_affinity(cache, i);

        if (aff) {
            struct flexmap_affinity_stats stats;

            info->n_tables++;
            info->capacity = flexmap_affinity_capacity(aff);
            info->reserved += flexmap_affinity_memory(aff);
            flexmap_affinity_get_stats(aff, &stats);
            info->full += stats.full;
        }
    }
    ovs_mutex_unlock(&cache->mutex);
}

int
flexmap_cache_put(struct flexmap_cache *cache, uint32_t table_id,
                  const struct flexmap_key *key,
                  const struct flexmap_dp_backend *backends,
                  size_t n_backends)
{
    struct flexmap_cache_entry *new, *old;
    struct fc_slot_release *release = NULL;
    uint32_t sum, hash;
    size_t size;
    int only;

    if (table_id == UINT32_MAX || !key || !fc_key_is_valid(key)
        || !backends || !n_backends || n_backends > FLEXMAP_MAX_BACKENDS) {
        return EINVAL;
    }
    for (size_t i = 0; i < n_backends; i++) {
        if (backends[i].flags & ~FLEXMAP_BACKEND_KNOWN_FLAGS) {
            return EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (fc_backend_id(&backends[i]) == fc_backend_id(&backends[j])) {
                return EINVAL;      /* Same MAC and port twice. */
            }
        }
    }

    /* Build the new entry outside the lock; only its slots and version need
     * the lock. */
    size = fc_entry_size(n_backends);
    new = xmalloc_cacheline(size);
    memset(new, 0, sizeof *new);
    new->cache = cache;
    new->table_id = table_id;
    new->key = *key;
    new->n_backends = n_backends;
    new->kind = flexmap_key_kind(key);
    memcpy(new->backends, backends, n_backends * sizeof *backends);
    sum = 0;
    only = -1;
    for (size_t i = 0; i < n_backends; i++) {
        if (backends[i].weight) {
            only = sum ? -1 : i;
            sum += backends[i].weight;
        }
    }
    new->weight_sum = sum;
    new->only = only;
    if (only >= 0) {
        new->mac = backends[only].mac;
        new->port = backends[only].port;
    }
    if (n_backends > 1) {
        uint64_t *ids = CONST_CAST(uint64_t *, fc_entry_ids(new));
        uint16_t weights[FLEXMAP_MAX_BACKENDS];
        struct flexmap_chash *chash;

        for (size_t i = 0; i < n_backends; i++) {
            ids[i] = fc_backend_id(&backends[i]);
            weights[i] = backends[i].weight;
        }
        chash = ALIGNED_CAST(struct flexmap_chash *,
                             (char *) fc_entry_bslots(new)
                             + ROUND_UP(n_backends * sizeof(uint32_t), 8));
        flexmap_chash_build(chash, ids, weights, n_backends);
        new->chash = chash;
    }
    hash = fc_hash_key(table_id, key);

    ovs_mutex_lock(&cache->mutex);
    new->version = cache->next_version++;
    old = fc_find_protected(cache, hash, table_id, key);

    /* Counter slots: the entry's own, and one per backend of a pool.  A
     * replacement takes over the entry slot and the slots of the backends
     * it keeps, so their counters continue. */
    size_t n_new_slots = old ? 0 : 1;
    if (n_backends > 1) {
        for (size_t i = 0; i < n_backends; i++) {
            if (!old || old->n_backends == 1
                || fc_find_backend(old, fc_entry_ids(new)[i]) < 0) {
                n_new_slots++;
            }
        }
    }
    if (n_new_slots > cache->n_free_slots
                      + (FLEXMAP_CACHE_MAX_ENTRIES - cache->next_slot)
        || (!old && cmap_count(&cache->entries)
                    >= FLEXMAP_CACHE_MAX_ENTRIES)) {
        ovs_mutex_unlock(&cache->mutex);
        free_cacheline(new);
        return ENOSPC;
    }
    if (n_backends > 1) {
        uint32_t *bslots = CONST_CAST(uint32_t *, fc_entry_bslots(new));
        const uint64_t *ids = fc_entry_ids(new);

        for (size_t i = 0; i < n_backends; i++) {
            bslots[i] = UINT32_MAX;
            if (old && old->n_backends > 1) {
                const uint64_t *old_ids = fc_entry_ids(old);

                for (size_t j = 0; j < old->n_backends; j++) {
                    if (old_ids[j] == ids[i]) {
                        bslots[i] = fc_entry_bslots(old)[j];
                        break;
                    }
                }
            }
            if (bslots[i] == UINT32_MAX) {
                ovs_assert(fc_alloc_slot(cache, &bslots[i]));
            }
        }
        fc_ensure_affinity(cache);
    }
    if (old && old->n_backends > 1) {
        const uint32_t *old_bslots = fc_entry_bslots(old);

        release = xmalloc(sizeof *release);
        release->cache = cache;
        release->n = 0;
        for (size_t j = 0; j < old->n_backends; j++) {
            bool kept = false;

            for (size_t i = 0; n_backends > 1 && i < n_backends; i++) {
                if (fc_entry_bslots(new)[i] == old_bslots[j]) {
                    kept = true;
                    break;
                }
            }
            if (!kept) {
                release->slots[release->n++] = old_bslots[j];
            }
        }
    }

    if (old && n_backends > 1) {
        uint64_t now = time_msec();

        if (old->n_backends == 1) {
            new->prev_id = fc_backend_id(&old->backends[0]);
            new->prev_tcp_until = now + cache->affinity_params.tcp_idle_ms;
            new->prev_udp_until = now + cache->affinity_params.udp_idle_ms;
        } else if (old->prev_id && now < old->prev_tcp_until) {
            new->prev_id = old->prev_id;
            new->prev_tcp_until = old->prev_tcp_until;
            new->prev_udp_until = old->prev_udp_until;
        }
    }
    if (old) {
        uint64_t old_size = fc_entry_size(old->n_backends);
        uint64_t total;

        new->slot = old->slot;
        cmap_replace(&cache->entries, &old->node, &new->node, hash);
        atomic_add_relaxed(&cache->entry_bytes, size - old_size, &total);
        ovsrcu_postpone(free_cacheline, old);
        if (release) {
            ovs_refcount_ref(&cache->ref_cnt);
            ovsrcu_postpone(fc_slots_release, release);
        }
    } else {
        uint64_t total;

        ovs_assert(fc_alloc_slot(cache, &new->slot));
        /* Count the kind before publishing; see "Lookup" above. */
        atomic_count_inc(&cache->n_kind[new->kind]);
        atomic_add_relaxed(&cache->entry_bytes, size, &total);
        cmap_insert(&cache->entries, &new->node, hash);
    }
    ovs_mutex_unlock(&cache->mutex);

    return 0;
}

int
flexmap_cache_del(struct flexmap_cache *cache, uint32_t table_id,
                  const struct flexmap_key *key)
{
    struct flexmap_cache_entry *e;
    int error = ENOENT;

    ovs_mutex_lock(&cache->mutex);
    e = fc_find_protected(cache, fc_hash_key(table_id, key), table_id, key);
    if (e) {
        fc_remove(cache, e);
        error = 0;
    }
    ovs_mutex_unlock(&cache->mutex);

    return error;
}

size_t
flexmap_cache_flush(struct flexmap_cache *cache, uint32_t table_id)
{
    struct flexmap_cache_entry *e;
    size_t n = 0;

    ovs_mutex_lock(&cache->mutex);
    CMAP_FOR_EACH (e, node, &cache->entries) {
        if (table_id == UINT32_MAX || e->table_id == table_id) {
            fc_remove(cache, e);
            n++;
        }
    }
    ovs_mutex_unlock(&cache->mutex);

    return n;
}

/* Readers. */

size_t
flexmap_cache_count(const struct flexmap_cache *cache)
{
    return cmap_count(&cache->entries);
}

void
flexmap_cache_set_affinity_params(struct flexmap_cache *cache,
                                  const struct flexmap_affinity_params *p)
{
    ovs_mutex_lock(&cache->mutex);
    cache->affinity_params = *p;
    for (unsigned int i = 0; i < cache->n_lanes; i++) {
        struct flexmap_affinity *aff = fc_affinity(cache, i);

        if (aff) {
            flexmap_affinity_set_params(aff, p);
        }
    }
    ovs_mutex_unlock(&cache->mutex);
}

void
flexmap_cache_get_affinity_params(const struct flexmap_cache *cache_,
                                  struct flexmap_affinity_params *p)
{
    struct flexmap_cache *cache = CONST_CAST(struct flexmap_cache *, cache_);

    ovs_mutex_lock(&cache->mutex);
    *p = cache->affinity_params;
    ovs_mutex_unlock(&cache->mutex);
}

/* Returns how many entries with new keys flexmap_cache_put() can add right
 * now.  Slots of deleted entries count only once their RCU grace period has
 * passed, so a caller that checks this first knows its puts cannot fail with
 * ENOSPC (provided no other writer adds meanwhile). */
size_t
flexmap_cache_room(const struct flexmap_cache *cache_)
{
    struct flexmap_cache *cache = CONST_CAST(struct flexmap_cache *, cache_);
    size_t room;

    ovs_mutex_lock(&cache->mutex);
    room = cache->n_free_slots
           + (FLEXMAP_CACHE_MAX_ENTRIES - cache->next_slot);
    ovs_mutex_unlock(&cache->mutex);
    return room;
}

size_t
flexmap_cache_memory(const struct flexmap_cache *cache)
{
    unsigned int n_chunks = atomic_count_get(
        CONST_CAST(atomic_count *, &cache->n_chunks));
    size_t n = cmap_count(&cache->entries);
    uint64_t entry_bytes;
    size_t bytes;

    atomic_read_relaxed(&CONST_CAST(struct flexmap_cache *,
                                    cache)->entry_bytes, &entry_bytes);
    bytes = sizeof *cache;
    bytes += cache->n_lanes * sizeof *cache->lanes;
    bytes += ((size_t) n_chunks * cache->n_lanes * FC_CHUNK_SIZE
              * sizeof(struct flexmap_cache_counter));
    bytes += entry_bytes;

    /* The cmap: 64-byte buckets of 5 nodes (on 64-bit hosts), a power of 2
     * of them, grown when 85% full. */
    if (n) {
        size_t n_buckets = 1;

        while (n_buckets * 5 * 85 / 100 < n) {
            n_buckets *= 2;
        }
        bytes += n_buckets * 64;
    }
    return bytes;
}

/* Formats a line on the connection tables of 'cache' for flexmap/show and
 * flexmap/dump-cache. */
void
flexmap_cache_conn_info_format(const struct flexmap_cache *cache,
                               struct ds *ds)
{
    struct flexmap_cache_conn_info info;

    flexmap_cache_get_conn_info(cache, &info);
    if (!info.n_tables) {
        ds_put_format(ds, "  connection tables: none yet (made with the "
                      "first pool), %"PRIuSIZE" connections each\n",
                      info.capacity);
        return;
    }
    ds_put_format(ds, "  connection tables: %u, %"PRIuSIZE" connections "
                  "each; %.1f MiB reserved, resident as used; %"PRIu64
                  " new connections not remembered (table full)\n",
                  info.n_tables, info.capacity, info.reserved / 1048576.0,
                  info.full);
}

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

const struct flexmap_cache_entry *
flexmap_cache_lookup(const struct flexmap_cache *cache, uint32_t table_id,
                     const struct flexmap_key *key)
{
    return fc_lookup(cache, table_id, key, fc_hash_ip(table_id, &key->ip),
                     false);
}

const struct flexmap_cache_entry *
flexmap_cache_find(const struct flexmap_cache *cache, uint32_t table_id,
                   const struct flexmap_key *key)
{
    return fc_probe(cache, fc_hash_key(table_id, key), table_id,
                    &key->ip, key->proto, key->port);
}

/* Returns the index of the backend that pool entry 'e' chooses for a new
 * flow with 5-tuple hash 'hash', or -1 if every weight is zero. */
static inline int
fc_pool_choose(const struct flexmap_cache_entry *e, uint32_t hash)
{
    return flexmap_chash_lookup(e->chash, hash);
}

const struct flexmap_dp_backend *
flexmap_cache_entry_select(const struct flexmap_cache_entry *e,
                           uint32_t hash)
{
    int idx;

    if (e->n_backends == 1) {
        return e->only >= 0 ? &e->backends[0] : NULL;
    }
    idx = fc_pool_choose(e, hash);
    return idx >= 0 ? &e->backends[idx] : NULL;
}

/* Accessors. */

uint32_t
flexmap_cache_entry_table(const struct flexmap_cache_entry *e)
{
    return e->table_id;
}

const struct flexmap_key *
flexmap_cache_entry_key(const struct flexmap_cache_entry *e)
{
    return &e->key;
}

size_t
flexmap_cache_entry_n_backends(const struct flexmap_cache_entry *e)
{
    return e->n_backends;
}

const struct flexmap_dp_backend *
flexmap_cache_entry_backend(const struct flexmap_cache_entry *e, size_t idx)
{
    return idx < e->n_backends ? &e->backends[idx] : NULL;
}

void
flexmap_cache_entry_get_stats(const struct flexmap_cache *cache,
                              const struct flexmap_cache_entry *e,
                              struct flexmap_cache_stats *stats)
{
    stats->n_packets = stats->n_bytes = 0;
    for (unsigned int i = 0; i < cache->n_lanes; i++) {
        struct flexmap_cache_counter *c = fc_counter(cache, i, e->slot);
        unsigned long long n;

        atomic_read_relaxed(&c->n_packets, &n);
        stats->n_packets += n;
        atomic_read_relaxed(&c->n_bytes, &n);
        stats->n_bytes += n;
    }
}

void
flexmap_cache_for_each(const struct flexmap_cache *cache, uint32_t table_id,
                       void (*cb)(const struct flexmap_cache_entry *,
                                  void *aux),
                       void *aux)
{
    const struct flexmap_cache_entry *e;

    CMAP_FOR_EACH (e, node, &cache->entries) {
        if (table_id == UINT32_MAX || e->table_id == table_id) {
            cb(e, aux);
        }
    }
}

/* Packets. */

/* Reads the destination port and '*hash' input from the L4 header at 'l4'
 * with 'size' bytes, for protocols with ports.  Returns false if the ports
 * are not all there: such a packet (a truncated packet, or a first fragment
 * too short to hold the ports) cannot be matched reliably against exact or
 * any-port entries, and silently falling back to the any-protocol entry for
 * it would send it somewhere else than the rest of its flow, so it misses. */
static inline bool
fc_read_ports(const void *l4, size_t size, uint32_t *ports)
{
    if (OVS_UNLIKELY(size < 4)) {
        return false;
    }
    memcpy(ports, l4, 4);       /* Source port, then destination port. */
    return true;
}

/* What a pool needs of a packet beyond its key: the rest of the 5-tuple
 * and the TCP flags.  fc_packet_extract() only notes where they are, which
 * costs single-backend entries nothing; fc_tuple_complete() reads them for
 * pool entries, and fc_tuple_hash() hashes the 5-tuple. */
struct fc_tuple {
    const void *l3;             /* IPv4 or IPv6 header. */
    const void *l4;             /* L4 header. */
    uint32_t l4_size;           /* Bytes at 'l4'. */
    bool ipv6;
    ovs_be16 sport;
    uint32_t ports;             /* Source and destination port, as on the
                                 * wire; 0 for protocols without ports. */

    /* Set by fc_tuple_complete(). */
    struct in6_addr src;
    uint16_t tcp_flags;         /* Host order, 0 unless TCP. */
};

/* Reads the TCP flags from the TCP header at 'l4' of 'size' bytes. */
static inline uint16_t
fc_tcp_flags(const void *l4, size_t size)
{
    const struct tcp_header *tcp = l4;

    return size >= TCP_HEADER_LEN ? TCP_FLAGS(tcp->tcp_ctl) : 0;
}

static void
fc_tuple_complete(struct fc_tuple *tuple, uint8_t proto)
{
    if (tuple->ipv6) {
        const struct ovs_16aligned_ip6_hdr *nh = tuple->l3;

        memcpy(&tuple->src, &nh->ip6_src, sizeof tuple->src);
    } else {
        const struct ip_header *ip = tuple->l3;

        in6_addr_set_mapped_ipv4(&tuple->src,
                                 get_16aligned_be32(&ip->ip_src));
    }
    tuple->tcp_flags = (proto == IPPROTO_TCP
                        ? fc_tcp_flags(tuple->l4, tuple->l4_size) : 0);
}

/* Returns the hash of the 5-tuple of the packet that fc_packet_extract()
 * parsed into 'key' and 'tuple': the pool choice and the connection tables
 * use it. */
static uint32_t
fc_tuple_hash(const struct fc_tuple *tuple, const struct flexmap_key *key)
{
    uint32_t h = 0;

    if (!tuple->ipv6) {
        const struct ip_header *ip = tuple->l3;

        h = hash_add(h, get_16aligned_be32(&ip->ip_src));
        h = hash_add(h, get_16aligned_be32(&ip->ip_dst));
        return hash_finish(hash_add(h, key->proto ^ tuple->ports), 12);
    } else {
        const struct ovs_16aligned_ip6_hdr *nh = tuple->l3;
        uint32_t w[8];

        memcpy(w, &nh->ip6_src, sizeof w);  /* Source, then destination. */
        for (int i = 0; i < ARRAY_SIZE(w); i++) {
            h = hash_add(h, w[i]);
        }
        return hash_finish(hash_add(h, key->proto ^ tuple->ports), 36);
    }
}

/* Parses 'p' into 'key' and the rest of its 5-tuple into 'tuple'.  Returns
 * false for a packet that cannot hit (see flexmap_packet_extract()). */
static inline ALWAYS_INLINE bool
fc_packet_extract(const struct dp_packet *p, struct flexmap_key *key,
                  struct fc_tuple *tuple)
{
    const void *l3;
    size_t l3_size;
    uint32_t ports = 0;
    ovs_be16 dl_type;
    uint8_t proto;

    if (OVS_UNLIKELY(!dp_packet_is_eth(p))) {
        return false;
    }
    l3 = dp_packet_l3(p);
    if (OVS_UNLIKELY(!l3 || p->l3_ofs < ETH_HEADER_LEN)) {
        return false;
    }

    /* miniflow_extract() sets the L3 offset just past the Ethertype that
     * announces the L3 header, after any VLAN headers, so the two bytes
     * before L3 are that Ethertype (no need to walk VLAN tags again).  For an
     * MPLS packet they are the end of the bottom label stack entry, whose
     * bottom-of-stack bit makes the first byte odd, so it never reads as IP;
     * we check the L2.5 offset anyway. */
    if (OVS_UNLIKELY(p->l2_5_ofs != UINT16_MAX)) {
        return false;
    }
    memcpy(&dl_type, (const char *) l3 - 2, sizeof dl_type);
    l3_size = dp_packet_l3_size(p);

    if (dl_type == htons(ETH_TYPE_IP)) {
        const struct ip_header *ip = l3;
        size_t ihl, tot_len;

        if (OVS_UNLIKELY(l3_size < IP_HEADER_LEN)) {
            return false;
        }
        ihl = IP_IHL(ip->ip_ihl_ver) * 4;
        tot_len = ntohs(ip->ip_tot_len);
        if (OVS_UNLIKELY(IP_VER(ip->ip_ihl_ver) != IP_VERSION
                         || ihl < IP_HEADER_LEN || tot_len < ihl
                         || tot_len > l3_size)) {
            return false;
        }
        if (OVS_UNLIKELY(ip->ip_frag_off & htons(IP_FRAG_OFF_MASK))) {
            return false;       /* Non-first fragment: no ports. */
        }

        proto = ip->ip_proto;
        if (fc_proto_has_ports(proto)
            && !fc_read_ports((const char *) l3 + ihl, tot_len - ihl,
                               &ports)) {
            return false;
        }
        in6_addr_set_mapped_ipv4(&key->ip, get_16aligned_be32(&ip->ip_dst));
        tuple->l3 = l3;
        tuple->l4 = (const char *) l3 + ihl;
        tuple->l4_size = tot_len - ihl;
        tuple->ipv6 = false;
    } else if (dl_type == htons(ETH_TYPE_IPV6)) {
        const struct ovs_16aligned_ip6_hdr *nh = l3;
        const struct ovs_16aligned_ip6_frag *frag_hdr;
        const void *data;
        uint8_t nw_frag = 0;
        size_t plen, size;

        if (OVS_UNLIKELY(l3_size < IPV6_HEADER_LEN
                         || (nh->ip6_ctlun.ip6_un2_vfc >> 4) != 6)) {
            return false;
        }
        plen = ntohs(nh->ip6_ctlun.ip6_un1.ip6_un1_plen);
        if (OVS_UNLIKELY(plen > l3_size - IPV6_HEADER_LEN)) {
            return false;
        }
        memcpy(&key->ip, &nh->ip6_dst, sizeof key->ip);
        if (OVS_UNLIKELY(IN6_IS_ADDR_V4MAPPED(&key->ip))) {
            /* Not valid on the wire (RFC 4291), and it would match IPv4
             * keys. */
            return false;
        }

        data = nh + 1;
        size = plen;
        proto = nh->ip6_ctlun.ip6_un1.ip6_un1_nxt;
        if (OVS_UNLIKELY(!parse_ipv6_ext_hdrs(&data, &size, &proto, &nw_frag,
                                              &frag_hdr))) {
            return false;
        }
        if (OVS_UNLIKELY(nw_frag & FLOW_NW_FRAG_LATER)) {
            return false;       /* Non-first fragment: no ports. */
        }
        if (fc_proto_has_ports(proto)
            && !fc_read_ports(data, size, &ports)) {
            return false;
        }

        tuple->l3 = l3;
        tuple->l4 = data;
        tuple->l4_size = size;
        tuple->ipv6 = true;
    } else {
        return false;
    }

    key->proto = proto;
    key->pad = 0;
    memcpy(&key->port, (const char *) &ports + 2, sizeof key->port);
    memcpy(&tuple->sport, &ports, sizeof tuple->sport);
    tuple->ports = ports;
    return true;
}

bool
flexmap_packet_extract(const struct dp_packet *p, struct flexmap_key *key,
                       uint32_t *hash)
{
    struct fc_tuple tuple;

    if (!fc_packet_extract(p, key, &tuple)) {
        return false;
    }
    *hash = fc_tuple_hash(&tuple, key);
    return true;
}

static void
fc_affinity_key(const struct flexmap_cache_entry *e,
                const struct flexmap_key *key, const struct fc_tuple *tuple,
                struct flexmap_affinity_key *akey)
{
    akey->table_id = e->table_id;
    akey->sport = tuple->sport;
    akey->dport = key->port;
    akey->src = tuple->src;
    akey->dst = key->ip;
    akey->proto = key->proto;
    memset(akey->pad, 0, sizeof akey->pad);
}


/* Returns true if a packet of protocol 'proto' with TCP flags 'tcp_flags'
 * (0 for other protocols) that no connection table knows may belong to a
 * connection opened before pool entry 'e' replaced a single-backend entry
 * (see 'prev_id').  A bare SYN opens a new connection, so it never does. */
static inline bool
fc_prev_applies(const struct flexmap_cache_entry *e, uint8_t proto,
                uint16_t tcp_flags, uint64_t now)
{
    if (proto == IPPROTO_TCP) {
        return (now < e->prev_tcp_until
                && (tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN);
    }
    return now < e->prev_udp_until;
}

/* Chooses the backend of pool entry 'e' for a packet with key 'key', rest
 * of its 5-tuple 'tuple' and 5-tuple hash 'hash', on 'lane' at time 'now'
 * (msec).  A connection that 'aff' (the lane's connection table) knows keeps
 * its backend as long as the backend is in the pool, even drained (weight
 * 0); a new connection gets the consistent-hash choice, which drained
 * backends never win, and is remembered.  Returns the backend index or -1
 * (every weight zero, no known connection). */
static int
fc_pool_select(struct flexmap_affinity *aff,
               const struct flexmap_cache_entry *e,
               const struct flexmap_key *key, const struct fc_tuple *tuple,
               uint32_t hash, uint64_t now, bool *from_affinity)
{
    struct flexmap_affinity_entry *ae;
    struct flexmap_affinity_key akey;
    int idx;

    *from_affinity = false;
    if (OVS_UNLIKELY(!aff)) {
        return fc_pool_choose(e, hash);
    }

    fc_affinity_key(e, key, tuple, &akey);
    ae = flexmap_affinity_lookup(aff, &akey, hash, now);
    if (ae) {
        bool restart = (key->proto == IPPROTO_TCP
                        && flexmap_affinity_note_tcp_flags(aff, ae,
                                                           tuple->tcp_flags,
                                                           now));
        if (!restart) {
            uint8_t hint = flexmap_affinity_entry_hint(ae);

            /* The hint is checked against the entry's size too: a lane is
             * shared for a moment while PMDs reload (their tx queue ids are
             * reassigned), and a hint must never index out of bounds. */
            if (flexmap_affinity_entry_version(ae) == e->version
                && hint < e->n_backends) {
                *from_affinity = true;
                return hint;
            }
            idx = fc_find_backend(e, flexmap_affinity_entry_backend(ae));
            if (idx >= 0) {
                /* The pool changed but still has this backend. */
                flexmap_affinity_entry_set(ae, fc_entry_ids(e)[idx], idx,
                                           e->version);
                *from_affinity = true;
                return idx;
            }
        }

        /* A new connection on a reused 5-tuple, or its backend left the
         * pool: choose again. */
        idx = fc_pool_choose(e, hash);
        if (idx >= 0) {
            flexmap_affinity_entry_set(ae, fc_entry_ids(e)[idx], idx,
                                       e->version);
        } else {
            flexmap_affinity_remove(aff, ae);
        }
        return idx;
    }

    idx = -1;
    if (OVS_UNLIKELY(e->prev_id) && fc_prev_applies(e, key->proto,
                                                    tuple->tcp_flags, now)) {
        /* Probably a connection from before this entry became a pool. */
        idx = fc_find_backend(e, e->prev_id);
    }
    if (idx < 0) {
        idx = fc_pool_choose(e, hash);
    }
    if (idx >= 0) {
        /* NULL if the connection's bucket is full: it is then placed by
         * the consistent hash, packet by packet. */
        ae = flexmap_affinity_insert(aff, &akey, hash, now,
                                     fc_entry_ids(e)[idx], idx, e->version);
        if (ae && key->proto == IPPROTO_TCP && tuple->tcp_flags) {
            flexmap_affinity_note_tcp_flags(aff, ae, tuple->tcp_flags, now);
        }
    }
    return idx;
}

/* flexmap_cache_execute()'s view of one packet. */
struct fc_packet {
    struct flexmap_key key;
    struct fc_tuple tuple;
    uint32_t ip_hash;           /* fc_hash_ip() of 'key.ip'. */
    uint32_t tuple_hash;        /* fc_tuple_hash(), for pool hits only. */
};

static size_t
fc_execute(struct flexmap_cache *cache, uint32_t table_id,
           struct dp_packet_batch *batch, unsigned int lane,
           odp_port_t ports[], bool dropped[])
{
    BUILD_ASSERT_DECL(NETDEV_MAX_BURST <= sizeof(unsigned long) * CHAR_BIT);
    struct fc_packet pkts[NETDEV_MAX_BURST];
    const struct flexmap_cache_entry *entries[NETDEV_MAX_BURST];
    const struct cmap_node *nodes[NETDEV_MAX_BURST];
    uint32_t hashes[NETDEV_MAX_BURST];
    unsigned long parsed = 0, exact = 0, found = 0, pools = 0;
    uint32_t ip4_head = fc_hash_ip4_head(table_id);
    bool has_exact = fc_has_kind(cache, FLEXMAP_KEY_EXACT);
    struct flexmap_affinity *aff;
    struct dp_packet *p;
    size_t n_hits = 0;
    uint64_t now = 0;
    size_t i;

    /* Parse every packet; hash the exact keys. */
    DP_PACKET_BATCH_FOR_EACH (j, p, batch) {
        struct fc_packet *pkt = &pkts[j];

        ports[j] = ODPP_NONE;
        dropped[j] = false;
        entries[j] = NULL;
        if (!fc_packet_extract(p, &pkt->key, &pkt->tuple)) {
            continue;
        }
        parsed |= 1UL << j;
        if (!pkt->tuple.ipv6) {
            uint32_t ip4;

            memcpy(&ip4, &pkt->key.ip.s6_addr[12], sizeof ip4);
            pkt->ip_hash = hash_add(ip4_head, ip4);
        } else {
            pkt->ip_hash = fc_hash_ip(table_id, &pkt->key.ip);
        }
        if (has_exact && pkt->key.port
            && fc_proto_has_ports(pkt->key.proto)) {
            hashes[j] = fc_hash_finish(pkt->ip_hash, pkt->key.proto,
                                       pkt->key.port);
            exact |= 1UL << j;
        }
    }

    /* Exact probes, together: cmap_find_batch() prefetches every bucket
     * before it reads any.  Then prefetch the entries found, and only then
     * compare their keys. */
    if (exact) {
        found = cmap_find_batch(&cache->entries, exact, hashes, nodes);
        ULLONG_FOR_EACH_1 (i, found) {
            OVS_PREFETCH(nodes[i]);
        }
        ULLONG_FOR_EACH_1 (i, found) {
            const struct fc_packet *pkt = &pkts[i];
            const struct flexmap_cache_entry *e;

            CMAP_NODE_FOR_EACH (e, node, nodes[i]) {
                if (fc_entry_matches(e, table_id, &pkt->key.ip,
                                     pkt->key.proto, pkt->key.port)) {
                    entries[i] = e;
                    break;
                }
            }
        }
    }

    /* The rest: any-port and any-protocol entries, one packet at a time,
     * and prefetch the counters of every hit. */
    ULLONG_FOR_EACH_1 (i, parsed) {
        const struct flexmap_cache_entry *e = entries[i];

        if (!e) {
            const struct fc_packet *pkt = &pkts[i];

            e = entries[i] = fc_lookup(cache, table_id, &pkt->key,
                                       pkt->ip_hash, exact & (1UL << i));
            if (!e) {
                continue;
            }
        }
        OVS_PREFETCH_WRITE(fc_counter(cache, lane, e->slot));
        if (OVS_UNLIKELY(e->n_backends > 1)) {
            pools |= 1UL << i;
        }
    }

    /* Pool hits: hash their 5-tuples and load, stage by stage, what the
     * choice reads: the entry's backends and identities, the connection
     * table's bucket, then the connection in it. */
    aff = pools ? fc_affinity(cache, lane) : NULL;
    ULLONG_FOR_EACH_1 (i, pools) {
        struct fc_packet *pkt = &pkts[i];
        const struct flexmap_cache_entry *e = entries[i];

        fc_tuple_complete(&pkt->tuple, pkt->key.proto);
        pkt->tuple_hash = fc_tuple_hash(&pkt->tuple, &pkt->key);
        OVS_PREFETCH(&e->backends[0]);
        OVS_PREFETCH(fc_entry_ids(e));
        if (aff) {
            flexmap_affinity_prefetch(aff, table_id, pkt->tuple_hash);
        }
    }
    if (aff) {
        ULLONG_FOR_EACH_1 (i, pools) {
            flexmap_affinity_prefetch_entry(aff, table_id,
                                            pkts[i].tuple_hash);
        }
    }

    /* Count, choose the backend, rewrite. */
    DP_PACKET_BATCH_FOR_EACH (j, p, batch) {
        const struct flexmap_cache_entry *e = entries[j];
        struct flexmap_cache_counter *c;
        struct eth_addr mac;
        odp_port_t port;
        uint32_t size;

        if (!e) {
            continue;
        }
        n_hits++;
        size = dp_packet_size(p);
        c = fc_counter(cache, lane, e->slot);
        non_atomic_ullong_add(&c->n_packets, 1);
        non_atomic_ullong_add(&c->n_bytes, size);

        if (OVS_LIKELY(e->n_backends == 1)) {
            if (OVS_UNLIKELY(e->only < 0)) {
                dropped[j] = true;
                continue;
            }
            mac = e->mac;
            port = e->port;
        } else {
            struct fc_packet *pkt = &pkts[j];
            bool from_affinity;
            int idx;

            if (!now) {
                now = time_msec();      /* Once per batch. */
            }
            idx = fc_pool_select(aff, e, &pkt->key, &pkt->tuple,
                                 pkt->tuple_hash, now, &from_affinity);
            if (OVS_UNLIKELY(idx < 0)) {
                dropped[j] = true;
                continue;
            }
            c = fc_counter(cache, lane, fc_entry_bslots(e)[idx]);
            non_atomic_ullong_add(&c->n_packets, 1);
            non_atomic_ullong_add(&c->n_bytes, size);
            mac = e->backends[idx].mac;
            port = e->backends[idx].port;
        }
        struct eth_header *eh = dp_packet_eth(p);
        eh->eth_dst = mac;
        ports[j] = port;
    }
    return n_hits;
}

size_t
flexmap_cache_execute(struct flexmap_cache *cache, uint32_t table_id,
                      struct dp_packet_batch *batch, unsigned int lane,
                      odp_port_t ports[], bool dropped[])
    OVS_NO_THREAD_SAFETY_ANALYSIS
{
    size_t n_hits;

    if (OVS_LIKELY(lane < cache->shared_lane)) {
        return fc_execute(cache, table_id, batch, lane, ports, dropped);
    }

    /* Beyond the dedicated lanes: one thread at a time. */
    ovs_mutex_lock(&cache->shared_mutex);
    n_hits = fc_execute(cache, table_id, batch, cache->shared_lane, ports,
                        dropped);
    ovs_mutex_unlock(&cache->shared_mutex);
    return n_hits;
}

void
flexmap_cache_entry_get_backend_stats(const struct flexmap_cache *cache,
                                      const struct flexmap_cache_entry *e,
                                      size_t idx,
                                      struct flexmap_cache_stats *stats)
{
    if (e->n_backends == 1) {
        flexmap_cache_entry_get_stats(cache, e, stats);
        return;
    }
    stats->n_packets = stats->n_bytes = 0;
    if (idx >= e->n_backends) {
        return;
    }
    for (unsigned int i = 0; i < cache->n_lanes; i++) {
        struct flexmap_cache_counter *c
            = fc_counter(cache, i, fc_entry_bslots(e)[idx]);
        unsigned long long n;

        atomic_read_relaxed(&c->n_packets, &n);
        stats->n_packets += n;
        atomic_read_relaxed(&c->n_bytes, &n);
        stats->n_bytes += n;
    }
}

/* Live connections per (entry, backend), counted over every lane's
 * connection table in one walk each.  A connection counts for the entry
 * that its destination hits now (lookup order included) and only while
 * that entry still has its backend, which is exactly when the datapath
 * would still send it there. */
struct fc_conn_count {
    struct hmap_node node;
    const struct flexmap_cache_entry *entry;
    int idx;
    size_t n;
};

struct flexmap_cache_conns {
    const struct flexmap_cache *cache;
    struct hmap counts;
};

static void
fc_count_conn(const struct flexmap_affinity_info *info, void *conns_)
{
    struct flexmap_cache_conns *conns = conns_;
    const struct flexmap_cache_entry *e;
    struct flexmap_key key;
    struct fc_conn_count *cc;
    uint32_t hash;
    int idx;

    key.ip = info->key.dst;
    key.proto = info->key.proto;
    key.pad = 0;
    key.port = info->key.dport;
    e = flexmap_cache_lookup(conns->cache, info->key.table_id, &key);
    if (!e || e->n_backends < 2) {
        return;
    }
    idx = fc_find_backend(e, info->backend_id);
    if (idx < 0) {
        return;
    }

    hash = hash_pointer(e, idx);
    HMAP_FOR_EACH_WITH_HASH (cc, node, hash, &conns->counts) {
        if (cc->entry == e && cc->idx == idx) {
            cc->n++;
            return;
        }
    }
    cc = xmalloc(sizeof *cc);
    cc->entry = e;
    cc->idx = idx;
    cc->n = 1;
    hmap_insert(&conns->counts, &cc->node, hash);
}

/* The caller must not quiesce until flexmap_cache_conns_destroy(): the
 * counts refer to entries by address. */
struct flexmap_cache_conns *
flexmap_cache_count_conns(const struct flexmap_cache *cache)
{
    struct flexmap_cache_conns *conns = xmalloc(sizeof *conns);
    uint64_t now = time_msec();

    conns->cache = cache;
    hmap_init(&conns->counts);
    for (unsigned int i = 0; i < cache->n_lanes; i++) {
        const struct flexmap_affinity *aff = fc_affinity(cache, i);

        if (aff) {
            flexmap_affinity_for_each(aff, now, fc_count_conn, conns);
        }
    }
    return conns;
}

size_t
flexmap_cache_conns_get(const struct flexmap_cache_conns *conns,
                        const struct flexmap_cache_entry *e, size_t idx)
{
    const struct fc_conn_count *cc;

    if (!conns || idx >= e->n_backends) {
        return 0;
    }
    HMAP_FOR_EACH_WITH_HASH (cc, node, hash_pointer(e, idx), &conns->counts) {
        if (cc->entry == e && cc->idx == idx) {
            return cc->n;
        }
    }
    return 0;
}

void
flexmap_cache_conns_destroy(struct flexmap_cache_conns *conns)
{
    if (conns) {
        struct fc_conn_count *cc;

        HMAP_FOR_EACH_POP (cc, node, &conns->counts) {
            free(cc);
        }
        hmap_destroy(&conns->counts);
        free(conns);
    }
}

int
flexmap_cache_explain(const struct flexmap_cache *cache, uint32_t table_id,
                      const struct dp_packet *p,
                      const struct flexmap_cache_entry **ep,
                      bool *from_affinity)
{
    const struct flexmap_cache_entry *e;
    struct flexmap_key key;
    struct fc_tuple tuple;
    uint32_t hash;

    *ep = NULL;
    *from_affinity = false;
    if (!fc_packet_extract(p, &key, &tuple)) {
        return -1;
    }
    hash = fc_tuple_hash(&tuple, &key);
    e = *ep = flexmap_cache_lookup(cache, table_id, &key);
    if (!e) {
        return -1;
    }
    if (e->n_backends == 1) {
        return e->only;
    }
    fc_tuple_complete(&tuple, key.proto);

    struct flexmap_affinity_key akey;
    uint64_t now = time_msec();

    fc_affinity_key(e, &key, &tuple, &akey);
    for (unsigned int i = 0; i < cache->n_lanes; i++) {
        const struct flexmap_affinity *aff = fc_affinity(cache, i);
        struct flexmap_affinity_info info;

        if (aff && flexmap_affinity_find(aff, &akey, hash, now, &info)) {
            int idx = fc_find_backend(e, info.backend_id);

            if (idx >= 0) {
                *from_affinity = true;
                return idx;
            }
        }
    }
    return fc_pool_choose(e, hash);
}

/* Formatting. */

void
flexmap_cache_entry_format(const struct flexmap_cache *cache,
                           const struct flexmap_cache_entry *e,
                           const struct flexmap_cache_conns *conns,
                           struct ds *s)
{
    const struct flexmap_key *key = &e->key;
    struct flexmap_cache_stats stats;

    ds_put_format(s, "table=0x%"PRIx32",", e->table_id);
    flexmap_key_format(key, s);

    flexmap_cache_entry_get_stats(cache, e, &stats);
    ds_put_format(s, " packets:%"PRIu64" bytes:%"PRIu64" backends:",
                  stats.n_packets, stats.n_bytes);
    for (size_t i = 0; i < e->n_backends; i++) {
        const struct flexmap_dp_backend *b = &e->backends[i];

        if (flexmap_port_is_tnl(b->port)) {
            const struct flexmap_tnl_actions *ta
                = flexmap_cache_tnl_get(cache, b->port);

            ds_put_format(s, "%s "ETH_ADDR_FMT"->tunnel next hop %"PRIu32
                          " (%s) weight %"PRIu16, i ? "," : "",
                          ETH_ADDR_ARGS(b->mac),
                          odp_to_u32(b->port) - FLEXMAP_TNL_PORT_BASE,
                          ta && ta->len[0] ? "resolved" : "unresolved",
                          b->weight);
        } else {
            ds_put_format(s, "%s "ETH_ADDR_FMT"->port %"PRIu32" weight %"
                          PRIu16, i ? "," : "", ETH_ADDR_ARGS(b->mac),
                          odp_to_u32(b->port), b->weight);
        }
        if (e->n_backends > 1) {
            struct flexmap_cache_stats bs;

            flexmap_cache_entry_get_backend_stats(cache, e, i, &bs);
            ds_put_format(s, " packets:%"PRIu64" bytes:%"PRIu64
                          " conns:%"PRIuSIZE, bs.n_packets, bs.n_bytes,
                          flexmap_cache_conns_get(conns, e, i));
        }
        if (b->flags & FLEXMAP_BACKEND_TUNNEL) {
            ds_put_cstr(s, " tun_dst=");
            ipv6_format_mapped(&b->tun_dst, s);
            ds_put_format(s, " tun_id=%#"PRIx64, ntohll(b->tun_id));
        }
    }
}

/* Tunnel next hops. */

static struct fc_tnl *
fc_tnl_find(const struct flexmap_cache *cache, uint32_t id)
{
    struct fc_tnl *t;

    CMAP_FOR_EACH_WITH_HASH (t, node, hash_int(id, 0), &cache->tnls) {
        if (t->id == id) {
            return t;
        }
    }
    return NULL;
}

static void
fc_tnl_actions_free(struct flexmap_tnl_actions *a)
{
    free(a);
}

/* Sets the actions of tunnel next hop 'id' to the netlink attributes in
 * 'variants', FLEXMAP_TNL_N_ECN of them, one per ECN variant (see
 * flexmap_tnl_ecn_variant()); an empty one makes the next hop unresolved:
 * its packets are dropped. */
void
flexmap_cache_tnl_set(struct flexmap_cache *cache, uint32_t id,
                      const struct ofpbuf *variants)
{
    struct flexmap_tnl_actions *a;
    bool resolved = true;
    size_t n = 0;
    struct fc_tnl *t;

    ovs_assert(id <= FLEXMAP_TNL_MAX_ID);
    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        n += ROUND_UP(variants[i].size, 8) / 8;
        resolved = resolved && variants[i].size;
    }
    a = xmalloc(sizeof *a + n * 8);
    n = 0;
    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        a->len[i] = resolved ? variants[i].size : 0;
        a->ofs[i] = n;
        /* An empty variant's data may be NULL. */
        nullable_memcpy(&a->actions[n], variants[i].data, a->len[i]);
        n += ROUND_UP(a->len[i], 8) / 8;
    }

    ovs_mutex_lock(&cache->mutex);
    t = fc_tnl_find(cache, id);
    if (!t) {
        t = xmalloc(sizeof *t);
        t->id = id;
        ovsrcu_init(&t->actions, a);
        cmap_insert(&cache->tnls, &t->node, hash_int(id, 0));
    } else {
        ovsrcu_postpone(fc_tnl_actions_free,
                        ovsrcu_get_protected(struct flexmap_tnl_actions *,
                                             &t->actions));
        ovsrcu_set(&t->actions, a);
    }
    ovs_mutex_unlock(&cache->mutex);
}

static void
fc_tnl_free(struct fc_tnl *t)
{
    free(ovsrcu_get_protected(struct flexmap_tnl_actions *, &t->actions));
    free(t);
}

/* Forgets tunnel next hop 'id'.  Entries should not refer to it any more;
 * packets of those that still do are dropped. */
void
flexmap_cache_tnl_del(struct flexmap_cache *cache, uint32_t id)
{
    struct fc_tnl *t;

    ovs_mutex_lock(&cache->mutex);
    t = fc_tnl_find(cache, id);
    if (t) {
        cmap_remove(&cache->tnls, &t->node, hash_int(id, 0));
        ovsrcu_postpone(fc_tnl_free, t);
    }
    ovs_mutex_unlock(&cache->mutex);
}

/* Returns the actions of the tunnel next hop that 'port' names, or NULL if
 * there is none.  RCU-protected: valid until the caller quiesces. */
const struct flexmap_tnl_actions *
flexmap_cache_tnl_get(const struct flexmap_cache *cache, odp_port_t port)
{
    const struct fc_tnl *t;

    if (!flexmap_port_is_tnl(port)) {
        return NULL;
    }
    t = fc_tnl_find(cache, odp_to_u32(port) - FLEXMAP_TNL_PORT_BASE);
    return t ? ovsrcu_get(struct flexmap_tnl_actions *, &t->actions) : NULL;
}
