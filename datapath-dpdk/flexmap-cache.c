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
#include "flexmap-cache-private.h"

#include <errno.h>
#include <string.h>
#if HAVE_DECL_MALLOC_TRIM
#include <malloc.h>
#endif

#include "cmap.h"
#include "coverage.h"
#include "hash.h"
#include "openvswitch/hmap.h"
#include "openvswitch/util.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "timeval.h"
#include "util.h"

/* The map cache's structure, writers and readers.  The data structure, the
 * counters and the lanes are described in flexmap-cache-private.h; the
 * per-packet path is in flexmap-cache-exec.c.
 *
 * Slot life cycle.  A replaced entry hands its slot to its replacement, so
 * counters continue.  A deleted entry's slot is returned to the free list
 * only from an RCU callback, after every reader that might still count into
 * it has quiesced; the writer zeroes a slot's counters in every lane when it
 * hands the slot to a new entry.  Slots come from the free list, else from
 * 'next_slot', so they stay dense and chunks are allocated only as needed.
 *
 * Destruction.  Postponed slot releases touch the cache (mutex, free list),
 * and they may have been postponed by other threads whose callbacks could run
 * after the cache's own postponed free.  So each pending release holds a
 * reference on the cache ('ref_cnt'), and whichever of flexmap_cache_destroy()
 * (after a grace period) and the last release drops the last reference frees
 * the cache. */

COVERAGE_DEFINE(flexmap_cache_trim);

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

static size_t
fc_entry_size(size_t n_backends)
{
    size_t size = (sizeof(struct flexmap_cache_entry)
                   + n_backends * sizeof(struct flexmap_dp_backend));

    if (n_backends > 1) {
        size += (fc_pool_ids_bslots_size(n_backends)
                 + flexmap_chash_size(n_backends));
    }
    return size;
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
    fc_tnl_destroy_all(cache);
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

size_t
flexmap_cache_set_conn_capacity(struct flexmap_cache *cache, size_t capacity)
{
    size_t replaced = 0;

    /* Rounded as flexmap_affinity_create() rounds, so that a new value that
     * makes tables of the same size keeps the tables and their
     * connections. */
    capacity = MIN(MAX(capacity, FLEXMAP_CACHE_MIN_CONNS),
                   FLEXMAP_CACHE_MAX_CONNS);
    capacity = (size_t) 1 << log_2_ceil(capacity);

    ovs_mutex_lock(&cache->mutex);
    if (capacity != cache->conn_capacity) {
        if (fc_affinity(cache, 0)) {
            replaced = cache->conn_capacity;
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
        cache->conn_capacity = capacity;
    }
    ovs_mutex_unlock(&cache->mutex);
    return replaced;
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
    new->plain_ports = true;
    for (size_t i = 0; i < n_backends; i++) {
        if (backends[i].weight) {
            only = sum ? -1 : i;
            sum += backends[i].weight;
        }
        if (odp_to_u32(backends[i].port) > UINT16_MAX) {
            new->plain_ports = false;
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
                             (char *) ids
                             + fc_pool_ids_bslots_size(n_backends));
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
        /* Count the kind before publishing; see "Lookup" in
         * flexmap-cache-exec.c. */
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
