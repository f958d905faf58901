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

#include "flexmap-affinity.h"

#include <string.h>
#include <sys/mman.h>

#include "packets.h"
#include "util.h"

/* Default timeouts
 * ================
 *
 * An expired entry is not a broken connection: its next packet misses and
 * takes the consistent-hash choice, which is its old backend unless the pool
 * changed meanwhile.  So a timeout only has to outlast the idle periods of
 * connections that must survive pool changes, and it costs nothing but
 * slots: a bucket full of live connections takes no new one until one of
 * them goes idle (see "When full" in the header).
 *
 *   - TCP established, 900 s: IPVS's default.  Longer than the idle timeouts
 *     of common cloud load balancers (AWS NLB 350 s) and than typical
 *     application keepalives (30-300 s); shorter than the kernel's 2 h TCP
 *     keepalive, which is too long to keep state for by default.
 *
 *   - TCP after FIN or RST, 10 s: IPVS's "close" timeout.  Enough for the
 *     last ACKs and retransmitted FINs, and a half-closed connection that
 *     still flows refreshes it with every ACK.  A port reused within it is
 *     recognized by its bare SYN (see the header), so it does not need to be
 *     short for correctness, only for capacity.
 *
 *   - UDP and everything else, 30 s: Katran's UDP LRU timeout, and the
 *     usual QUIC idle timeout; DNS-like exchanges are far shorter.
 *
 * Layout
 * ======
 *
 * A bucket word (one per way):
 *
 *   63        48 47   46 45  42 41                                       0
 *  +------------+-------+------+-------------------------------------------+
 *  |    tag     | class | gen  |              last used, ms                |
 *  +------------+-------+------+-------------------------------------------+
 *
 * 'class' 0 means the way is empty (only 'gen' is kept then); otherwise it
 * picks the timeout.  'gen' counts re-keys of the way, modulo 16.  The tag
 * is the high 16 bits of the mixed hash, and the bucket index its low bits,
 * so with more than 65536 buckets some tag bits are implied by the bucket
 * and tags filter less (a false tag match costs one key comparison).
 *
 * An entry (struct flexmap_affinity_entry, one cache line):
 *
 *   w[0..1]  source address
 *   w[2..3]  destination address
 *   w[4]     table id (bits 0-31), sport (32-47), dport (48-63), raw
 *   w[5]     proto (bits 0-7), hint (8-15), FA_F_* flags (16-23)
 *   w[6]     backend id
 *   w[7]     map entry version
 *
 * Publication protocol (the owner re-keys a way):
 *
 *   store bucket word with class 0, same gen (relaxed); release fence;
 *   store entry words (relaxed); store new bucket word, gen + 1 (release).
 *
 * A reader loads the bucket word (acquire), copies the entry words
 * (relaxed), issues an acquire fence and loads the bucket word again: if
 * its copy saw any store of a re-key, the second load sees the empty word or
 * a new word, whose gen differs unless the way was re-keyed a multiple of
 * 16 times during the copy (and then its tag also differs, but for a 1 in
 * 65536 chance).  Times and classes change in place without re-keying, so
 * only the tag, gen and "not empty" are compared. */

#define FA_TIME_BITS 42
#define FA_TIME_MASK ((UINT64_C(1) << FA_TIME_BITS) - 1)
#define FA_GEN_SHIFT FA_TIME_BITS
#define FA_GEN_MASK (UINT64_C(0xf) << FA_GEN_SHIFT)
#define FA_CLASS_SHIFT 46
#define FA_CLASS_MASK (UINT64_C(3) << FA_CLASS_SHIFT)
#define FA_TAG_SHIFT 48
#define FA_TAG_MASK (UINT64_C(0xffff) << FA_TAG_SHIFT)

enum fa_class {
    FA_EMPTY = 0,
    FA_TCP_EST = 1,
    FA_TCP_CLOSING = 2,
    FA_OTHER = 3,
};

/* Bits 16-23 of entry word 5. */
#define FA_F_SHIFT 16
#define FA_F_MASK (UINT64_C(0xff) << FA_F_SHIFT)

#define FA_HASH_MUL 0x9e3779b1u

struct fa_bucket {
    atomic_uint64_t w[FLEXMAP_AFFINITY_WAYS];
};
BUILD_ASSERT_DECL(sizeof(struct fa_bucket) == CACHE_LINE_SIZE);
BUILD_ASSERT_DECL(sizeof(struct flexmap_affinity_entry) == CACHE_LINE_SIZE);
BUILD_ASSERT_DECL(sizeof(struct in6_addr) == 2 * sizeof(uint64_t));

struct flexmap_affinity {
    /* Read-mostly. */
    struct fa_bucket *buckets;
    struct flexmap_affinity_entry *entries;
    size_t capacity;
    uint32_t mask;                      /* Number of buckets - 1. */
    atomic_uint32_t timeouts[4];        /* Indexed by enum fa_class. */

    /* Written by the owner only (non-atomic add of relaxed atomics). */
    PADDED_MEMBERS(CACHE_LINE_SIZE,
        atomic_uint64_t n_lookups;
        atomic_uint64_t n_hits;
        atomic_uint64_t n_inserts;
        atomic_uint64_t n_full;
        atomic_uint64_t n_expirations;
    );
};

/* Adds 1 to 'var', which only the calling thread writes, with a relaxed load
 * and store: no atomic read-modify-write, yet readers never see a torn
 * value.  (As non_atomic_ullong_add() in dpif-netdev.c.) */
static inline void
fa_stat_inc(atomic_uint64_t *var)
{
    uint64_t tmp;

    atomic_read_relaxed(var, &tmp);
    atomic_store_relaxed(var, tmp + 1);
}

static inline uint64_t
fa_read(const atomic_uint64_t *var)
{
    uint64_t v;

    atomic_read_relaxed(CONST_CAST(atomic_uint64_t *, var), &v);
    return v;
}

static inline uint64_t
fa_read_acquire(const atomic_uint64_t *var)
{
    uint64_t v;

    atomic_read_explicit(CONST_CAST(atomic_uint64_t *, var), &v,
                         memory_order_acquire);
    return v;
}

static inline uint32_t
fa_mix(uint32_t hash, uint32_t table_id)
{
    return hash ^ (table_id * FA_HASH_MUL);
}

static inline uint64_t
fa_tag(uint32_t h)
{
    return (uint64_t) (h >> 16) << FA_TAG_SHIFT;
}

static inline enum fa_class
fa_word_class(uint64_t w)
{
    return (w & FA_CLASS_MASK) >> FA_CLASS_SHIFT;
}

static inline uint64_t
fa_word(uint64_t tag, enum fa_class class, uint64_t gen, uint64_t now)
{
    return tag | ((uint64_t) class << FA_CLASS_SHIFT) | gen | now;
}

/* Empties the way whose bucket word is '*bw' and was 'w'.  Owner only. */
static inline void
fa_clear(atomic_uint64_t *bw, uint64_t w)
{
    atomic_store_relaxed(bw, w & FA_GEN_MASK);
}

/* The timeouts of every class, read once per operation. */
struct fa_timeouts {
    uint32_t ms[4];
};

static inline void
fa_timeouts_get(const struct flexmap_affinity *aff, struct fa_timeouts *t)
{
    struct flexmap_affinity *a = CONST_CAST(struct flexmap_affinity *, aff);

    t->ms[FA_EMPTY] = 0;
    atomic_read_relaxed(&a->timeouts[FA_TCP_EST], &t->ms[FA_TCP_EST]);
    atomic_read_relaxed(&a->timeouts[FA_TCP_CLOSING], &t->ms[FA_TCP_CLOSING]);
    atomic_read_relaxed(&a->timeouts[FA_OTHER], &t->ms[FA_OTHER]);
}

/* Returns true if the non-empty way whose bucket word is 'w' is live at
 * 'now' (already masked to FA_TIME_BITS). */
static inline bool
fa_live(const struct fa_timeouts *t, uint64_t w, uint64_t now)
{
    uint64_t last = w & FA_TIME_MASK;
    uint64_t idle = now > last ? now - last : 0;

    return idle < t->ms[fa_word_class(w)];
}

/* Keys. */

static inline void
fa_pack_key(const struct flexmap_affinity_key *key, uint64_t k[6])
{
    memcpy(&k[0], &key->src, sizeof key->src);
    memcpy(&k[2], &key->dst, sizeof key->dst);
    k[4] = (key->table_id
            | (uint64_t) (OVS_FORCE uint16_t) key->sport << 32
            | (uint64_t) (OVS_FORCE uint16_t) key->dport << 48);
    k[5] = key->proto;
}

/* Compares the key words 'ew' (a copy of an entry, or the entry itself read
 * word by word) with the packed key 'k'. */
static inline bool
fa_key_equal_words(const uint64_t ew[6], const uint64_t k[6])
{
    return (ew[0] == k[0] && ew[1] == k[1] && ew[2] == k[2]
            && ew[3] == k[3] && ew[4] == k[4] && (ew[5] & 0xff) == k[5]);
}

static inline bool
fa_key_equal(const struct flexmap_affinity_entry *e, const uint64_t k[6])
{
    return (fa_read(&e->w[0]) == k[0]
            && fa_read(&e->w[1]) == k[1]
            && fa_read(&e->w[2]) == k[2]
            && fa_read(&e->w[3]) == k[3]
            && fa_read(&e->w[4]) == k[4]
            && (fa_read(&e->w[5]) & 0xff) == k[5]);
}

static void
fa_unpack(const uint64_t ew[8], uint64_t w, struct flexmap_affinity_info *info)
{
    uint8_t flags = (ew[5] & FA_F_MASK) >> FA_F_SHIFT;

    memset(info, 0, sizeof *info);
    memcpy(&info->key.src, &ew[0], sizeof info->key.src);
    memcpy(&info->key.dst, &ew[2], sizeof info->key.dst);
    info->key.table_id = ew[4] & UINT32_MAX;
    info->key.sport = (OVS_FORCE ovs_be16) (uint16_t) (ew[4] >> 32);
    info->key.dport = (OVS_FORCE ovs_be16) (uint16_t) (ew[4] >> 48);
    info->key.proto = ew[5] & 0xff;
    info->hint = (ew[5] >> 8) & 0xff;
    info->backend_id = ew[6];
    info->version = ew[7];
    info->last_used_ms = w & FA_TIME_MASK;
    if (fa_word_class(w) == FA_TCP_CLOSING) {
        flags |= FLEXMAP_AFFINITY_F_CLOSING;
    }
    info->flags = flags;
}

/* Creation and destruction. */

/* Returns 'size' bytes of zeroed, page-aligned memory that the kernel
 * commits only as it is first touched: a table sized for a million
 * connections costs its owner memory in proportion to the connections it
 * has seen, and each page is placed on the NUMA node of the thread that
 * first writes it, the owner's. */
static void *
fa_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (p == MAP_FAILED) {
        out_of_memory();
    }
    return p;
}

static void
fa_unmap(void *p, size_t size)
{
    munmap(p, size);
}

struct flexmap_affinity *
flexmap_affinity_create(size_t capacity,
                        const struct flexmap_affinity_params *params)
{
    struct flexmap_affinity_params defaults = FLEXMAP_AFFINITY_PARAMS_DEFAULT;
    struct flexmap_affinity *aff;
    size_t cap, n_buckets;

    if (!capacity) {
        capacity = FLEXMAP_AFFINITY_DEFAULT_CAPACITY;
    }
    ovs_assert(capacity <= (size_t) 1 << 30);
    for (cap = FLEXMAP_AFFINITY_WAYS; cap < capacity; cap *= 2) {
        continue;
    }
    n_buckets = cap / FLEXMAP_AFFINITY_WAYS;

    aff = xzalloc_cacheline(sizeof *aff);
    aff->buckets = fa_map(n_buckets * sizeof *aff->buckets);
    aff->entries = fa_map(cap * sizeof *aff->entries);
    aff->capacity = cap;
    aff->mask = n_buckets - 1;
    atomic_init(&aff->timeouts[FA_EMPTY], 0);
    flexmap_affinity_set_params(aff, params ? params : &defaults);
    atomic_init(&aff->n_lookups, 0);
    atomic_init(&aff->n_hits, 0);
    atomic_init(&aff->n_inserts, 0);
    atomic_init(&aff->n_full, 0);
    atomic_init(&aff->n_expirations, 0);
    return aff;
}

void
flexmap_affinity_destroy(struct flexmap_affinity *aff)
{
    if (aff) {
        fa_unmap(aff->entries, aff->capacity * sizeof *aff->entries);
        fa_unmap(aff->buckets,
                 (aff->mask + (size_t) 1) * sizeof *aff->buckets);
        free_cacheline(aff);
    }
}

void
flexmap_affinity_set_params(struct flexmap_affinity *aff,
                            const struct flexmap_affinity_params *p)
{
    atomic_store_relaxed(&aff->timeouts[FA_TCP_EST], p->tcp_idle_ms);
    atomic_store_relaxed(&aff->timeouts[FA_TCP_CLOSING], p->tcp_fin_ms);
    atomic_store_relaxed(&aff->timeouts[FA_OTHER], p->udp_idle_ms);
}

void
flexmap_affinity_get_params(const struct flexmap_affinity *aff,
                            struct flexmap_affinity_params *p)
{
    struct fa_timeouts t;

    fa_timeouts_get(aff, &t);
    p->tcp_idle_ms = t.ms[FA_TCP_EST];
    p->tcp_fin_ms = t.ms[FA_TCP_CLOSING];
    p->udp_idle_ms = t.ms[FA_OTHER];
}

size_t
flexmap_affinity_capacity(const struct flexmap_affinity *aff)
{
    return aff->capacity;
}

size_t
flexmap_affinity_memory(const struct flexmap_affinity *aff)
{
    return (sizeof *aff
            + (aff->mask + (size_t) 1) * sizeof *aff->buckets
            + aff->capacity * sizeof *aff->entries);
}

/* Fast path. */

void
flexmap_affinity_prefetch(const struct flexmap_affinity *aff,
                          uint32_t table_id, uint32_t hash)
{
    OVS_PREFETCH(&aff->buckets[fa_mix(hash, table_id) & aff->mask]);
}

void
flexmap_affinity_prefetch_entry(const struct flexmap_affinity *aff,
                                uint32_t table_id, uint32_t hash)
{
    uint32_t h = fa_mix(hash, table_id);
    size_t bi = h & aff->mask;
    const struct fa_bucket *b = &aff->buckets[bi];
    uint64_t tag = fa_tag(h);

    for (int i = 0; i < FLEXMAP_AFFINITY_WAYS; i++) {
        uint64_t w = fa_read(&b->w[i]);

        if ((w & FA_TAG_MASK) == tag && w & FA_CLASS_MASK) {
            OVS_PREFETCH(&aff->entries[bi * FLEXMAP_AFFINITY_WAYS + i]);
        }
    }
}

struct flexmap_affinity_entry *
flexmap_affinity_lookup(struct flexmap_affinity *aff,
                        const struct flexmap_affinity_key *key,
                        uint32_t hash, uint64_t now_ms)
{
    uint32_t h = fa_mix(hash, key->table_id);
    size_t bi = h & aff->mask;
    struct fa_bucket *b = &aff->buckets[bi];
    uint64_t now = now_ms & FA_TIME_MASK;
    uint64_t tag = fa_tag(h);
    uint64_t k[6];

    fa_stat_inc(&aff->n_lookups);
    fa_pack_key(key, k);
    for (int i = 0; i < FLEXMAP_AFFINITY_WAYS; i++) {
        struct flexmap_affinity_entry *e;
        struct fa_timeouts t;
        uint64_t w;

        atomic_read_relaxed(&b->w[i], &w);
        if ((w & FA_TAG_MASK) != tag || !(w & FA_CLASS_MASK)) {
            continue;
        }
        e = &aff->entries[bi * FLEXMAP_AFFINITY_WAYS + i];
        if (!fa_key_equal(e, k)) {
            continue;
        }

        /* Found.  A key is in at most one way of its bucket. */
        fa_timeouts_get(aff, &t);
        if (OVS_UNLIKELY(!fa_live(&t, w, now))) {
            fa_clear(&b->w[i], w);
            fa_stat_inc(&aff->n_expirations);
            return NULL;
        }
        if (now > (w & FA_TIME_MASK)) {
            atomic_store_relaxed(&b->w[i], (w & ~FA_TIME_MASK) | now);
        }
        fa_stat_inc(&aff->n_hits);
        return e;
    }
    return NULL;
}

struct flexmap_affinity_entry *
flexmap_affinity_insert(struct flexmap_affinity *aff,
                        const struct flexmap_affinity_key *key,
                        uint32_t hash, uint64_t now_ms,
                        uint64_t backend_id, uint8_t hint, uint64_t version)
{
    uint32_t h = fa_mix(hash, key->table_id);
    size_t bi = h & aff->mask;
    struct fa_bucket *b = &aff->buckets[bi];
    uint64_t now = now_ms & FA_TIME_MASK;
    uint64_t tag = fa_tag(h);
    int same = -1, empty = -1, expired = -1;
    uint64_t same_w = 0;
    struct flexmap_affinity_entry *e;
    struct fa_timeouts t;
    enum fa_class class;
    uint64_t k[6], old, gen;
    int way;

    fa_pack_key(key, k);
    fa_timeouts_get(aff, &t);
    for (int i = 0; i < FLEXMAP_AFFINITY_WAYS; i++) {
        uint64_t w;

        atomic_read_relaxed(&b->w[i], &w);
        if (!(w & FA_CLASS_MASK)) {
            if (empty < 0) {
                empty = i;
            }
        } else if ((w & FA_TAG_MASK) == tag
                   && fa_key_equal(&aff->entries[bi * FLEXMAP_AFFINITY_WAYS
                                                 + i], k)) {
            same = i;
            same_w = w;
            break;
        } else if (expired < 0 && !fa_live(&t, w, now)) {
            expired = i;
        }
    }

    if (same >= 0) {
        way = same;
        if (!fa_live(&t, same_w, now)) {
            fa_stat_inc(&aff->n_expirations);
        }
    } else if (empty >= 0) {
        way = empty;
    } else if (expired >= 0) {
        way = expired;
        fa_stat_inc(&aff->n_expirations);
    } else {
        /* Every way holds a live connection: keep them all. */
        fa_stat_inc(&aff->n_full);
        return NULL;
    }
    fa_stat_inc(&aff->n_inserts);

    /* Re-key the way; see "Publication protocol" above. */
    e = &aff->entries[bi * FLEXMAP_AFFINITY_WAYS + way];
    atomic_read_relaxed(&b->w[way], &old);
    if (old & FA_CLASS_MASK) {
        fa_clear(&b->w[way], old);
    }
    gen = (old + (UINT64_C(1) << FA_GEN_SHIFT)) & FA_GEN_MASK;
    atomic_thread_fence(memory_order_release);
    for (int i = 0; i < 5; i++) {
        atomic_store_relaxed(&e->w[i], k[i]);
    }
    atomic_store_relaxed(&e->w[5], k[5] | (uint64_t) hint << 8);
    atomic_store_relaxed(&e->w[6], backend_id);
    atomic_store_relaxed(&e->w[7], version);
    class = key->proto == IPPROTO_TCP ? FA_TCP_EST : FA_OTHER;
    atomic_store_explicit(&b->w[way], fa_word(tag, class, gen, now),
                          memory_order_release);
    return e;
}

/* Returns the bucket word of 'e'. */
static inline atomic_uint64_t *
fa_entry_word(const struct flexmap_affinity *aff,
              const struct flexmap_affinity_entry *e)
{
    size_t idx = e - aff->entries;

    return &aff->buckets[idx / FLEXMAP_AFFINITY_WAYS]
            .w[idx % FLEXMAP_AFFINITY_WAYS];
}

static inline bool
fa_is_bare_syn(uint16_t tcp_flags)
{
    return (tcp_flags & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST)) == TCP_SYN;
}

bool
flexmap_affinity_syn_starts_new(const struct flexmap_affinity *aff,
                                const struct flexmap_affinity_entry *e,
                                uint16_t tcp_flags)
{
    uint64_t w = fa_read(fa_entry_word(aff, e));

    return fa_is_bare_syn(tcp_flags) && fa_word_class(w) == FA_TCP_CLOSING;
}

bool
flexmap_affinity_note_tcp_flags(struct flexmap_affinity *aff,
                                struct flexmap_affinity_entry *e,
                                uint16_t tcp_flags, uint64_t now_ms)
{
    atomic_uint64_t *wp = fa_entry_word(aff, e);
    uint64_t now = now_ms & FA_TIME_MASK;
    bool new_conn = false;
    enum fa_class class;
    uint64_t w;

    atomic_read_relaxed(wp, &w);
    class = fa_word_class(w);
    if (class != FA_TCP_EST && class != FA_TCP_CLOSING) {
        return false;
    }

    if (tcp_flags & (TCP_FIN | TCP_RST)) {
        uint64_t w5 = fa_read(&e->w[5]);
        uint64_t f = ((tcp_flags & TCP_FIN ? FLEXMAP_AFFINITY_F_FIN : 0)
                      | (tcp_flags & TCP_RST ? FLEXMAP_AFFINITY_F_RST : 0));

        atomic_store_relaxed(&e->w[5], w5 | f << FA_F_SHIFT);
        class = FA_TCP_CLOSING;
    } else if (class == FA_TCP_CLOSING && fa_is_bare_syn(tcp_flags)) {
        uint64_t w5 = fa_read(&e->w[5]);

        atomic_store_relaxed(&e->w[5], w5 & ~FA_F_MASK);
        class = FA_TCP_EST;
        new_conn = true;
    }

    if (now < (w & FA_TIME_MASK)) {
        now = w & FA_TIME_MASK;
    }
    atomic_store_relaxed(wp, fa_word(w & FA_TAG_MASK, class, w & FA_GEN_MASK,
                                     now));
    return new_conn;
}

void
flexmap_affinity_entry_set(struct flexmap_affinity_entry *e,
                           uint64_t backend_id, uint8_t hint,
                           uint64_t version)
{
    uint64_t w5 = fa_read(&e->w[5]);

    atomic_store_relaxed(&e->w[5], (w5 & ~UINT64_C(0xff00))
                                   | (uint64_t) hint << 8);
    atomic_store_relaxed(&e->w[6], backend_id);
    atomic_store_relaxed(&e->w[7], version);
}

void
flexmap_affinity_remove(struct flexmap_affinity *aff,
                        struct flexmap_affinity_entry *e)
{
    atomic_uint64_t *bw = fa_entry_word(aff, e);

    fa_clear(bw, fa_read(bw));
}

size_t
flexmap_affinity_flush(struct flexmap_affinity *aff, uint32_t table_id)
{
    size_t n_buckets = aff->mask + (size_t) 1;
    size_t n = 0;

    for (size_t bi = 0; bi < n_buckets; bi++) {
        struct fa_bucket *b = &aff->buckets[bi];

        for (int i = 0; i < FLEXMAP_AFFINITY_WAYS; i++) {
            const struct flexmap_affinity_entry *e;
            uint64_t w = fa_read(&b->w[i]);

            if (!(w & FA_CLASS_MASK)) {
                continue;
            }
            e = &aff->entries[bi * FLEXMAP_AFFINITY_WAYS + i];
            if (table_id == FLEXMAP_AFFINITY_ANY_TABLE
                || (fa_read(&e->w[4]) & UINT32_MAX) == table_id) {
                fa_clear(&b->w[i], w);
                n++;
            }
        }
    }
    return n;
}

/* Readers. */

/* Copies way 'i' of bucket 'bi' into 'ew' and its bucket word into '*wp'
 * and returns true if the way holds a connection live at 'now', else
 * returns false.  Any thread; see "Publication protocol" above. */
static bool
fa_copy_way(const struct flexmap_affinity *aff, const struct fa_timeouts *t,
            size_t bi, int i, uint64_t now, uint64_t ew[8], uint64_t *wp)
{
    const atomic_uint64_t *bw = &aff->buckets[bi].w[i];
    const struct flexmap_affinity_entry *e
        = &aff->entries[bi * FLEXMAP_AFFINITY_WAYS + i];

    for (int try = 0; try < 4; try++) {
        uint64_t w1, w2;

        w1 = fa_read_acquire(bw);
        if (!(w1 & FA_CLASS_MASK) || !fa_live(t, w1, now)) {
            return false;
        }
        for (int j = 0; j < 8; j++) {
            ew[j] = fa_read(&e->w[j]);
        }
        atomic_thread_fence(memory_order_acquire);
        w2 = fa_read(bw);
        if (w2 & FA_CLASS_MASK
            && !((w1 ^ w2) & (FA_TAG_MASK | FA_GEN_MASK))) {
            if (!fa_live(t, w2, now)) {
                return false;
            }
            *wp = w2;
            return true;
        }
        /* Re-keyed or removed while we copied: look again. */
    }
    return false;
}

bool
flexmap_affinity_find(const struct flexmap_affinity *aff,
                      const struct flexmap_affinity_key *key,
                      uint32_t hash, uint64_t now_ms,
                      struct flexmap_affinity_info *info)
{
    uint32_t h = fa_mix(hash, key->table_id);
    size_t bi = h & aff->mask;
    const struct fa_bucket *b = &aff->buckets[bi];
    uint64_t now = now_ms & FA_TIME_MASK;
    uint64_t tag = fa_tag(h);
    struct fa_timeouts t;
    uint64_t k[6];

    fa_pack_key(key, k);
    fa_timeouts_get(aff, &t);
    for (int i = 0; i < FLEXMAP_AFFINITY_WAYS; i++) {
        uint64_t ew[8], w = fa_read(&b->w[i]);

        if ((w & FA_TAG_MASK) == tag && w & FA_CLASS_MASK
            && fa_copy_way(aff, &t, bi, i, now, ew, &w)
            && (w & FA_TAG_MASK) == tag
            && fa_key_equal_words(ew, k)) {
            fa_unpack(ew, w, info);
            return true;
        }
    }
    return false;
}

void
flexmap_affinity_for_each(const struct flexmap_affinity *aff,
                          uint64_t now_ms,
                          void (*cb)(const struct flexmap_affinity_info *,
                                     void *aux),
                          void *aux)
{
    size_t n_buckets = aff->mask + (size_t) 1;
    uint64_t now = now_ms & FA_TIME_MASK;
    struct fa_timeouts t;

    fa_timeouts_get(aff, &t);
    for (size_t bi = 0; bi < n_buckets; bi++) {
        for (int i = 0; i < FLEXMAP_AFFINITY_WAYS; i++) {
            struct flexmap_affinity_info info;
            uint64_t ew[8], w;

            if (fa_copy_way(aff, &t, bi, i, now, ew, &w)) {
                fa_unpack(ew, w, &info);
                cb(&info, aux);
            }
        }
    }
}

size_t
flexmap_affinity_count_active(const struct flexmap_affinity *aff,
                              uint64_t now_ms, uint32_t table_id,
                              uint64_t backend_id)
{
    size_t n_buckets = aff->mask + (size_t) 1;
    uint64_t now = now_ms & FA_TIME_MASK;
    struct fa_timeouts t;
    size_t n = 0;

    fa_timeouts_get(aff, &t);
    for (size_t bi = 0; bi < n_buckets; bi++) {
        for (int i = 0; i < FLEXMAP_AFFINITY_WAYS; i++) {
            uint64_t ew[8], w;

            if (fa_copy_way(aff, &t, bi, i, now, ew, &w)
                && (table_id == FLEXMAP_AFFINITY_ANY_TABLE
                    || (ew[4] & UINT32_MAX) == table_id)
                && (backend_id == FLEXMAP_AFFINITY_ANY_BACKEND
                    || ew[6] == backend_id)) {
                n++;
            }
        }
    }
    return n;
}

void
flexmap_affinity_get_stats(const struct flexmap_affinity *aff,
                           struct flexmap_affinity_stats *s)
{
    s->lookups = fa_read(&aff->n_lookups);
    s->hits = fa_read(&aff->n_hits);
    s->inserts = fa_read(&aff->n_inserts);
    s->full = fa_read(&aff->n_full);
    s->expirations = fa_read(&aff->n_expirations);
}
