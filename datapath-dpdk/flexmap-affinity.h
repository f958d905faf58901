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

#ifndef FLEXMAP_AFFINITY_H
#define FLEXMAP_AFFINITY_H 1

/* Connection affinity table
 * =========================
 *
 * Remembers, for each connection (table id + 5-tuple) that a map entry has
 * sent to a backend, which backend that was, so that a later change to the
 * entry's pool (backend added, removed, reweighted) does not move the
 * connection.  New connections are placed by the map's consistent hash; the
 * affinity table only pins them.
 *
 * One table belongs to one "lane", that is, one PMD thread at a time (see
 * "Lanes" in flexmap-cache.h: the cache's shared lane is used by several
 * threads, in turn under a mutex, which makes them one owner at a time).
 * The datapath cache owns one table per lane.
 *
 *
 * Structure
 * =========
 *
 * A set-associative hash table with a power-of-two number of buckets of
 * FLEXMAP_AFFINITY_WAYS (8) ways.  A bucket is one 64-byte cache line of
 * eight 64-bit words, one per way, each holding a 16-bit tag of the hash,
 * the way's state and its last-used time.  The connection itself (key and
 * backend) lives in a 64-byte entry in a separate array.  A lookup reads
 * the bucket line and, normally, only the one entry whose tag matches: two
 * cache lines per packet.  All memory is allocated at creation; nothing is
 * allocated, locked or logged afterwards.
 *
 * Memory: 72 bytes per connection of capacity (64 for the entry, 8 for its
 * bucket word), e.g. 72 MiB for a million connections, reserved as address
 * space by flexmap_affinity_create() and committed by the kernel page by
 * page as connections first touch it (anonymous mmap()), so a table costs
 * resident memory in proportion to the connections its owner has seen, and
 * its pages land on the owner's NUMA node.  (Readers' walks map untouched
 * pages to the kernel's shared zero page, which costs no memory.)
 *
 * Hashing: the caller passes a 32-bit hash of the 5-tuple (src, dst,
 * sport, dport, proto), as the datapath already computes for backend
 * selection.  The hash need not cover the table id: the bucket and tag come
 * from 'hash ^ table_id * 0x9e3779b1', and keys are compared in full, table
 * id included.  The hash must be well mixed (e.g. from hash_finish()).
 *
 *
 * Timeouts
 * ========
 *
 * A connection is live until it has been idle (no lookup hit, insert or
 * flexmap_affinity_note_tcp_flags()) for its timeout: an entry last used at
 * time T with timeout D is live up to and including T + D - 1 ms and gone
 * from T + D on.  The timeout is 'tcp_idle_ms' for TCP, 'tcp_fin_ms' for TCP
 * after a FIN or RST, and 'udp_idle_ms' for UDP and every other protocol.
 * A timeout of 0 means "gone at once".  Expired entries are treated as
 * absent and reclaimed lazily, by a lookup of their key or when an insert
 * needs their way.
 *
 * Times are in milliseconds from a monotonic clock (time_msec(), which
 * counts from boot); only the low 42 bits are kept (139 years), so a clock
 * must not pass 2**42 ms.  A time earlier than an entry's
 * last-used time counts as "no time has passed", so a reader whose clock
 * reading is a little older than the owner's never sees live entries as
 * expired.
 *
 *
 * TCP
 * ===
 *
 * flexmap_affinity_note_tcp_flags() moves a TCP entry to "closing" (short
 * timeout) on FIN or RST.  RST is not a removal, because an out-of-window
 * or spoofed RST must not break a connection's affinity.  A bare SYN (no
 * ACK, FIN or RST) on a closing entry starts a new connection on a reused
 * port: flexmap_affinity_note_tcp_flags() returns true, the entry becomes
 * established again and the caller must choose a backend afresh and record
 * it with flexmap_affinity_entry_set().  A SYN on an established entry is a
 * retransmission and keeps its backend.
 *
 *
 * When full
 * =========
 *
 * An insert takes, within the key's bucket, the way of the same key if it is
 * there, else an empty way, else an expired way.  If every way of the
 * bucket holds a live connection, the insert fails (counted as 'full'):
 * the connections already there keep their backends, and the new one is
 * placed by the map's consistent hash, packet by packet, without being
 * remembered.  That is the same backend for as long as the pool does not
 * change, so only a change of the pool while the table is full can move
 * such a connection.  Evicting instead (least recently used) would make
 * every new connection push out a live one once the table is full, a
 * stream of writes that protects no connection better, as Maglev and
 * Katran found: beyond its capacity, a connection table only degrades to
 * consistent hashing.
 *
 *
 * One connection, several lanes
 * =============================
 *
 * If one connection's packets arrive on two PMDs (RSS changes, rebalancing,
 * several rx queues hashing differently), each lane learns the connection
 * independently.  Both choose by the same consistent hash, so they agree
 * unless the pool changed between the connection's first packets on the two
 * lanes.
 *
 *
 * Thread-safety
 * =============
 *
 * The owner (the lane's PMD thread) is the only thread that may call
 * flexmap_affinity_lookup(), flexmap_affinity_insert(),
 * flexmap_affinity_note_tcp_flags(), flexmap_affinity_entry_set(),
 * flexmap_affinity_remove() and flexmap_affinity_flush(), and the only one
 * that may use a struct flexmap_affinity_entry pointer.  These take no lock
 * and do no atomic read-modify-write: every shared word is read and written
 * with relaxed (or, where ordering matters, acquire/release) atomic loads
 * and stores, which are plain moves on x86-64.
 *
 * Any thread may at the same time call flexmap_affinity_find(),
 * flexmap_affinity_for_each(), flexmap_affinity_count_active(),
 * flexmap_affinity_get_stats(), flexmap_affinity_set_params() and the other
 * read-only functions.  The table stores no pointers, only values, and
 * readers copy a way's words and check that the way was not re-keyed while
 * they copied it, so a reader never sees a torn key.  Readers may be
 * slightly stale: a connection inserted or removed during a walk may or may
 * not be seen, and a backend changed by flexmap_affinity_entry_set() during
 * a copy may be reported with a mix of its old and new (id, hint, version).
 * (Each way carries a 4-bit re-key generation; a reader can only miss a
 * re-key, and report one mixed copy, if the way is re-keyed a multiple of
 * 16 times while it copies it and the last key has the same 16-bit tag.)
 *
 * flexmap_affinity_destroy() must not run concurrently with any other call
 * on the same table. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include "openvswitch/types.h"
#include "ovs-atomic.h"

#define FLEXMAP_AFFINITY_WAYS 8
#define FLEXMAP_AFFINITY_DEFAULT_CAPACITY 65536

/* Defaults, in milliseconds.  See flexmap-affinity.c for the reasons. */
#define FLEXMAP_AFFINITY_TCP_IDLE_MS 900000     /* 15 min, as IPVS. */
#define FLEXMAP_AFFINITY_TCP_FIN_MS 10000       /* 10 s. */
#define FLEXMAP_AFFINITY_UDP_IDLE_MS 30000      /* 30 s, as Katran. */

/* Wildcards for flexmap_affinity_count_active(). */
#define FLEXMAP_AFFINITY_ANY_TABLE UINT32_MAX
#define FLEXMAP_AFFINITY_ANY_BACKEND UINT64_MAX /* Broadcast MAC: never a
                                                 * real backend. */

/* Bits in 'flags' of struct flexmap_affinity_info. */
#define FLEXMAP_AFFINITY_F_CLOSING 0x01         /* Short timeout applies. */
#define FLEXMAP_AFFINITY_F_FIN 0x02             /* FIN seen. */
#define FLEXMAP_AFFINITY_F_RST 0x04             /* RST seen. */

/* A connection.  IPv4 addresses are IPv4-mapped IPv6 addresses
 * (in6_addr_set_mapped_ipv4()).  'pad' is ignored.  For protocols without
 * ports, set the ports to 0. */
struct flexmap_affinity_key {
    uint32_t table_id;          /* Datapath map table id. */
    ovs_be16 sport;
    ovs_be16 dport;
    struct in6_addr src;
    struct in6_addr dst;
    uint8_t proto;              /* IPPROTO_*. */
    uint8_t pad[3];
};

struct flexmap_affinity_params {
    uint32_t tcp_idle_ms;       /* TCP, established. */
    uint32_t tcp_fin_ms;        /* TCP after FIN or RST. */
    uint32_t udp_idle_ms;       /* UDP and every other protocol. */
};

#define FLEXMAP_AFFINITY_PARAMS_DEFAULT                     \
    ((struct flexmap_affinity_params) {                     \
        .tcp_idle_ms = FLEXMAP_AFFINITY_TCP_IDLE_MS,        \
        .tcp_fin_ms = FLEXMAP_AFFINITY_TCP_FIN_MS,          \
        .udp_idle_ms = FLEXMAP_AFFINITY_UDP_IDLE_MS,        \
    })

/* Counters.  Written only by the owner; others read them relaxed.
 * 'expirations' counts expired entries reclaimed (lazily, see above);
 * 'full' counts inserts refused because every way of the key's bucket held
 * a live connection. */
struct flexmap_affinity_stats {
    uint64_t lookups;
    uint64_t hits;
    uint64_t inserts;
    uint64_t full;
    uint64_t expirations;
};

/* A copy of a connection, for display. */
struct flexmap_affinity_info {
    struct flexmap_affinity_key key;
    uint64_t backend_id;
    uint64_t version;
    uint64_t last_used_ms;
    uint8_t hint;
    uint8_t flags;              /* FLEXMAP_AFFINITY_F_*. */
};

/* A connection in the table, as the owner sees it.  The layout is private:
 * use the accessors below.  (Every word is atomic so that readers in other
 * threads may copy it; the owner reads and writes it relaxed.) */
struct flexmap_affinity_entry {
    atomic_uint64_t w[8];
};

struct flexmap_affinity;

/* Creation and destruction.
 *
 * 'capacity' is rounded up to a power of two, at least
 * FLEXMAP_AFFINITY_WAYS; 0 means FLEXMAP_AFFINITY_DEFAULT_CAPACITY.
 * 'params' NULL means FLEXMAP_AFFINITY_PARAMS_DEFAULT. */
struct flexmap_affinity *flexmap_affinity_create(
    size_t capacity, const struct flexmap_affinity_params *);
void flexmap_affinity_destroy(struct flexmap_affinity *);

/* Any thread.  New timeouts apply at once to every entry. */
void flexmap_affinity_set_params(struct flexmap_affinity *,
                                 const struct flexmap_affinity_params *);
void flexmap_affinity_get_params(const struct flexmap_affinity *,
                                 struct flexmap_affinity_params *);

size_t flexmap_affinity_capacity(const struct flexmap_affinity *);
size_t flexmap_affinity_memory(const struct flexmap_affinity *);

/* Fast path: owner only.  O(FLEXMAP_AFFINITY_WAYS) each.
 *
 * flexmap_affinity_prefetch() starts loading the bucket of a key that a
 * later call in the same batch will look up.
 * flexmap_affinity_prefetch_entry(), called once that bucket is loaded,
 * starts loading the connections in it whose tag matches the key's
 * (normally the key's own, if it is there), so that a batch's lookups wait
 * for memory once per stage, not once per packet.
 *
 * flexmap_affinity_lookup() returns the live entry for 'key', refreshing
 * its last-used time, or NULL.  An expired entry for 'key' is reclaimed and
 * NULL returned.
 *
 * flexmap_affinity_insert() records that 'key' goes to 'backend_id' (hint
 * 'hint', valid for map entry version 'version') and returns its entry,
 * which is established for TCP, or returns NULL if the key's bucket is full
 * of live connections (see "When full" above).  Normally called after a
 * lookup miss; inserting a key that is present replaces it.
 *
 * flexmap_affinity_note_tcp_flags() applies 'tcp_flags' (TCP_* from
 * packets.h, host order, e.g. ntohs(TCP_FLAGS_BE16(tcp_ctl))) to 'entry' and
 * refreshes it; no-op for non-TCP entries.  Returns true if the packet is a
 * bare SYN that starts a new connection on a closing entry: the caller must
 * then choose a backend afresh and call flexmap_affinity_entry_set().
 * flexmap_affinity_syn_starts_new() answers the same question without
 * changing anything.
 *
 * flexmap_affinity_entry_set() changes the backend of 'entry', e.g. after
 * re-resolving its hint for a new map entry version.
 *
 * flexmap_affinity_remove() removes 'entry'.
 *
 * An entry pointer from a lookup or insert is valid only until the owner's
 * next insert, remove, flush or lookup that finds an expired key: use it
 * for the packet at hand, do not keep it. */
void flexmap_affinity_prefetch(const struct flexmap_affinity *,
                               uint32_t table_id, uint32_t hash);
void flexmap_affinity_prefetch_entry(const struct flexmap_affinity *,
                                     uint32_t table_id, uint32_t hash);
struct flexmap_affinity_entry *flexmap_affinity_lookup(
    struct flexmap_affinity *, const struct flexmap_affinity_key *,
    uint32_t hash, uint64_t now_ms);
struct flexmap_affinity_entry *flexmap_affinity_insert(
    struct flexmap_affinity *, const struct flexmap_affinity_key *,
    uint32_t hash, uint64_t now_ms,
    uint64_t backend_id, uint8_t hint, uint64_t version);
bool flexmap_affinity_note_tcp_flags(struct flexmap_affinity *,
                                     struct flexmap_affinity_entry *,
                                     uint16_t tcp_flags, uint64_t now_ms);
bool flexmap_affinity_syn_starts_new(const struct flexmap_affinity *,
                                     const struct flexmap_affinity_entry *,
                                     uint16_t tcp_flags);
void flexmap_affinity_entry_set(struct flexmap_affinity_entry *,
                                uint64_t backend_id, uint8_t hint,
                                uint64_t version);
void flexmap_affinity_remove(struct flexmap_affinity *,
                             struct flexmap_affinity_entry *);

/* Owner only.  Removes every entry of 'table_id' (FLEXMAP_AFFINITY_ANY_TABLE:
 * all) and returns how many it removed.  O(capacity). */
size_t flexmap_affinity_flush(struct flexmap_affinity *, uint32_t table_id);

/* Entry accessors (owner only). */
static inline uint64_t
flexmap_affinity_entry_backend(const struct flexmap_affinity_entry *e)
{
    uint64_t v;

    atomic_read_relaxed(&CONST_CAST(struct flexmap_affinity_entry *, e)->w[6],
                        &v);
    return v;
}

static inline uint64_t
flexmap_affinity_entry_version(const struct flexmap_affinity_entry *e)
{
    uint64_t v;

    atomic_read_relaxed(&CONST_CAST(struct flexmap_affinity_entry *, e)->w[7],
                        &v);
    return v;
}

static inline uint8_t
flexmap_affinity_entry_hint(const struct flexmap_affinity_entry *e)
{
    uint64_t v;

    atomic_read_relaxed(&CONST_CAST(struct flexmap_affinity_entry *, e)->w[5],
                        &v);
    return (uint8_t) (v >> 8);
}

/* Readers: any thread, may be slightly stale (see above).  O(WAYS) for
 * flexmap_affinity_find(), O(capacity) for the walks.  None of them refresh
 * or reclaim anything.
 *
 * flexmap_affinity_find() copies the live connection 'key' into '*info' and
 * returns true, or returns false.
 *
 * flexmap_affinity_for_each() calls 'cb' with a copy of every live
 * connection.
 *
 * flexmap_affinity_count_active() counts live connections of 'table_id' to
 * 'backend_id' (wildcards: FLEXMAP_AFFINITY_ANY_*). */
bool flexmap_affinity_find(const struct flexmap_affinity *,
                           const struct flexmap_affinity_key *,
                           uint32_t hash, uint64_t now_ms,
                           struct flexmap_affinity_info *);
void flexmap_affinity_for_each(const struct flexmap_affinity *,
                               uint64_t now_ms,
                               void (*cb)(const struct flexmap_affinity_info *,
                                          void *aux),
                               void *aux);
size_t flexmap_affinity_count_active(const struct flexmap_affinity *,
                                     uint64_t now_ms, uint32_t table_id,
                                     uint64_t backend_id);
void flexmap_affinity_get_stats(const struct flexmap_affinity *,
                                struct flexmap_affinity_stats *);

#endif /* flexmap-affinity.h */
