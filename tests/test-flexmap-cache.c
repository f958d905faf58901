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

/* Unit tests for the datapath map cache (datapath-dpdk/flexmap-cache.c).
 *
 * Built normally, the "scale" case inserts 1M entries.  Built with
 * -DFLEXMAP_CACHE_MAX_ENTRIES=8192, the scale and concurrency cases are
 * left out and the "full" case fills the cache to test ENOSPC.
 *
 * Check runs each test in a child process (CK_FORK=no to run them in one,
 * e.g. under valgrind).  Every test must fail without the behaviour it
 * names; see the comments in each. */

#include <config.h>

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dp-packet.h"
#include "flexmap-cache.h"
#include "flexmap-chash.h"
#include "flow.h"
#include "hash.h"
#include "odp-util.h"
#include "openvswitch/dynamic-string.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "packets.h"
#include "util.h"

#define SCALE_TEST (FLEXMAP_CACHE_MAX_ENTRIES >= 1024 * 1024)

/* Cache-line allocations of the code under test.  Makefile.am compiles the
 * cache's sources for this program with xmalloc_cacheline(),
 * xzalloc_cacheline() and free_cacheline() renamed to the functions below.
 * Each block starts CACHE_LINE_SIZE bytes into a real one whose malloc
 * header we clear, as OVS's own fallback does where posix_memalign() is
 * missing, so that a block freed with free() aborts instead of passing
 * silently; and live blocks are counted, so that a leak shows. */
#ifdef FLEXMAP_TEST_TRACK_CACHELINE
#undef xmalloc_cacheline
#undef xzalloc_cacheline
#undef free_cacheline
void *xmalloc_cacheline(size_t);
void *xzalloc_cacheline(size_t);
void free_cacheline(void *);
void *fc_test_xmalloc_cacheline(size_t);
void *fc_test_xzalloc_cacheline(size_t);
void fc_test_free_cacheline(void *);

static atomic_count fc_test_n_blocks = ATOMIC_COUNT_INIT(0);

void *
fc_test_xmalloc_cacheline(size_t size)
{
    char *p = xmalloc_cacheline(size + CACHE_LINE_SIZE);

    memset(p, 0, CACHE_LINE_SIZE);
    atomic_count_inc(&fc_test_n_blocks);
    return p + CACHE_LINE_SIZE;
}

void *
fc_test_xzalloc_cacheline(size_t size)
{
    void *p = fc_test_xmalloc_cacheline(size);

    memset(p, 0, size);
    return p;
}

void
fc_test_free_cacheline(void *p)
{
    if (p) {
        atomic_count_dec(&fc_test_n_blocks);
        free_cacheline((char *) p - CACHE_LINE_SIZE);
    }
}
#endif

/* Helpers. */

static struct flexmap_key
key4(const char *ip, uint8_t proto, uint16_t port)
{
    struct flexmap_key key;
    ovs_be32 ip4;

    ck_assert_int_eq(inet_pton(AF_INET, ip, &ip4), 1);
    memset(&key, 0, sizeof key);
    in6_addr_set_mapped_ipv4(&key.ip, ip4);
    key.proto = proto;
    key.port = htons(port);
    return key;
}

static struct flexmap_key
key4_u32(uint32_t ip, uint8_t proto, uint16_t port)
{
    struct flexmap_key key;

    memset(&key, 0, sizeof key);
    in6_addr_set_mapped_ipv4(&key.ip, htonl(ip));
    key.proto = proto;
    key.port = htons(port);
    return key;
}

static struct flexmap_key
key6(const char *ip, uint8_t proto, uint16_t port)
{
    struct flexmap_key key;

    memset(&key, 0, sizeof key);
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &key.ip), 1);
    key.proto = proto;
    key.port = htons(port);
    return key;
}

static struct flexmap_dp_backend
backend(uint8_t mac_last, uint32_t port, uint16_t weight)
{
    struct flexmap_dp_backend b;

    memset(&b, 0, sizeof b);
    b.mac = (struct eth_addr) ETH_ADDR_C(02, 00, 00, 00, 01, 00);
    b.mac.ea[5] = mac_last;
    b.port = u32_to_odp(port);
    b.weight = weight;
    return b;
}

/* Puts an entry with one backend of weight 1 on 'port'. */
static void
put1(struct flexmap_cache *cache, uint32_t table,
     const struct flexmap_key *key, uint32_t port)
{
    struct flexmap_dp_backend b = backend(port, port, 1);

    ck_assert_int_eq(flexmap_cache_put(cache, table, key, &b, 1), 0);
}

/* Returns the port of the backend 'lookup' chooses for 'key', or -1. */
static int
lookup_port(const struct flexmap_cache *cache, uint32_t table,
            const struct flexmap_key *key)
{
    const struct flexmap_cache_entry *e;

    e = flexmap_cache_lookup(cache, table, key);
    return e ? (int) odp_to_u32(flexmap_cache_entry_backend(e, 0)->port) : -1;
}

/* Waits until every callback postponed so far has run. */
static void
rcu_flush(void)
{
    ovsrcu_barrier();
}

/* Counts packets on 'lane' through the entry for 'key', as a PMD would:
 * runs flexmap_cache_execute() on a batch of 'n' UDP/TCP packets. */
static struct dp_packet *make_ipv4_l4(const char *src, const char *dst,
                                      uint8_t proto, uint16_t sport,
                                      uint16_t dport, uint16_t frag_off,
                                      size_t l4_len, size_t payload);

static void
count_packets(struct flexmap_cache *cache, uint32_t table, const char *dst,
              uint8_t proto, uint16_t port, unsigned int lane, size_t n,
              size_t payload)
{
    struct dp_packet_batch batch;
    odp_port_t ports[NETDEV_MAX_BURST];
    bool dropped[NETDEV_MAX_BURST];

    ck_assert_uint_le(n, NETDEV_MAX_BURST);
    dp_packet_batch_init(&batch);
    for (size_t i = 0; i < n; i++) {
        dp_packet_batch_add(&batch,
                            make_ipv4_l4("198.51.100.1", dst, proto,
                                         1000 + i, port, 0,
                                         proto == IPPROTO_TCP ? 20 : 8,
                                         payload));
    }
    ck_assert_uint_eq(flexmap_cache_execute(cache, table, &batch, lane,
                                            ports, dropped), n);
    dp_packet_delete_batch(&batch, true);
}

static void
get_stats(const struct flexmap_cache *cache, uint32_t table,
          const struct flexmap_key *key, struct flexmap_cache_stats *stats)
{
    const struct flexmap_cache_entry *e = flexmap_cache_find(cache, table,
                                                             key);

    ck_assert_ptr_nonnull(e);
    flexmap_cache_entry_get_stats(cache, e, stats);
}

/* Packet construction: by hand, then flow_extract() sets the offsets as
 * miniflow_extract() does in the datapath. */

struct pbuf {
    uint8_t data[256];
    size_t len;
};

static void
pb_put(struct pbuf *pb, const void *p, size_t n)
{
    ck_assert_uint_le(pb->len + n, sizeof pb->data);
    memcpy(&pb->data[pb->len], p, n);
    pb->len += n;
}

static void
pb_put8(struct pbuf *pb, uint8_t x)
{
    pb_put(pb, &x, 1);
}

static void
pb_put16(struct pbuf *pb, uint16_t x)
{
    ovs_be16 y = htons(x);

    pb_put(pb, &y, 2);
}

static void
pb_zeros(struct pbuf *pb, size_t n)
{
    ck_assert_uint_le(pb->len + n, sizeof pb->data);
    memset(&pb->data[pb->len], 0, n);
    pb->len += n;
}

static const struct eth_addr orig_dst = ETH_ADDR_C(aa, bb, cc, dd, ee, ff);

static void
pb_eth(struct pbuf *pb, uint16_t eth_type, bool vlan)
{
    const struct eth_addr src = ETH_ADDR_C(00, 11, 22, 33, 44, 55);

    pb_put(pb, &orig_dst, 6);
    pb_put(pb, &src, 6);
    if (vlan) {
        pb_put16(pb, ETH_TYPE_VLAN);
        pb_put16(pb, 42);
    }
    pb_put16(pb, eth_type);
}

static void
pb_ipv4(struct pbuf *pb, const char *src, const char *dst, uint8_t proto,
        uint16_t frag_off, size_t payload_len)
{
    ovs_be32 s, d;

    ck_assert_int_eq(inet_pton(AF_INET, src, &s), 1);
    ck_assert_int_eq(inet_pton(AF_INET, dst, &d), 1);
    pb_put8(pb, 0x45);
    pb_put8(pb, 0);
    pb_put16(pb, IP_HEADER_LEN + payload_len);
    pb_put16(pb, 0x1234);
    pb_put16(pb, frag_off);
    pb_put8(pb, 64);
    pb_put8(pb, proto);
    pb_put16(pb, 0);
    pb_put(pb, &s, 4);
    pb_put(pb, &d, 4);
}

static void
pb_ipv6(struct pbuf *pb, const char *src, const char *dst, uint8_t nxt,
        size_t payload_len)
{
    struct in6_addr s, d;

    ck_assert_int_eq(inet_pton(AF_INET6, src, &s), 1);
    ck_assert_int_eq(inet_pton(AF_INET6, dst, &d), 1);
    pb_put8(pb, 0x60);
    pb_zeros(pb, 3);
    pb_put16(pb, payload_len);
    pb_put8(pb, nxt);
    pb_put8(pb, 64);
    pb_put(pb, &s, 16);
    pb_put(pb, &d, 16);
}

/* L4 header of 'l4_len' bytes (at least 4) starting with the ports. */
static void
pb_l4(struct pbuf *pb, uint16_t sport, uint16_t dport, size_t l4_len)
{
    pb_put16(pb, sport);
    pb_put16(pb, dport);
    pb_zeros(pb, l4_len - 4);
}

static struct dp_packet *
pb_finish(const struct pbuf *pb)
{
    struct dp_packet *p = dp_packet_clone_data(pb->data, pb->len);
    struct flow flow;

    flow_extract(p, &flow);
    return p;
}

static struct dp_packet *
make_ipv4_l4(const char *src, const char *dst, uint8_t proto,
             uint16_t sport, uint16_t dport, uint16_t frag_off,
             size_t l4_len, size_t payload)
{
    struct pbuf pb = { .len = 0 };

    pb_eth(&pb, ETH_TYPE_IP, false);
    pb_ipv4(&pb, src, dst, proto, frag_off, l4_len + payload);
    pb_l4(&pb, sport, dport, l4_len);
    pb_zeros(&pb, payload);
    return pb_finish(&pb);
}

/* Basics. */

/* A tunnel next hop with no actions is unresolved; once set, it holds a
 * copy of each ECN variant, and one empty variant makes it unresolved
 * again.  Empty variants have no data (NULL), which the copy must not read:
 * the sanitizer builds fail here if it does. */
START_TEST(test_tnl_unresolved)
{
    struct flexmap_cache *cache = flexmap_cache_create(1);
    const struct flexmap_tnl_actions *ta;
    struct ofpbuf v[FLEXMAP_TNL_N_ECN];
    uint8_t bytes[FLEXMAP_TNL_N_ECN][12];

    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        ofpbuf_init(&v[i], 0);
    }
    flexmap_cache_tnl_set(cache, 7, v);
    ta = flexmap_cache_tnl_get(cache, FLEXMAP_TNL_PORT(7));
    ck_assert_ptr_nonnull(ta);
    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        ck_assert_uint_eq(ta->len[i], 0);
    }

    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        memset(bytes[i], 0xa0 + i, sizeof bytes[i]);
        ofpbuf_put(&v[i], bytes[i], sizeof bytes[i]);
    }
    flexmap_cache_tnl_set(cache, 7, v);
    ta = flexmap_cache_tnl_get(cache, FLEXMAP_TNL_PORT(7));
    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        ck_assert_uint_eq(ta->len[i], sizeof bytes[i]);
        ck_assert_mem_eq(flexmap_tnl_actions_variant(ta, i), bytes[i],
                         sizeof bytes[i]);
    }

    ofpbuf_uninit(&v[1]);
    ofpbuf_init(&v[1], 0);
    flexmap_cache_tnl_set(cache, 7, v);
    ta = flexmap_cache_tnl_get(cache, FLEXMAP_TNL_PORT(7));
    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        ck_assert_uint_eq(ta->len[i], 0);
    }

    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        ofpbuf_uninit(&v[i]);
    }
    flexmap_cache_destroy(cache);
}
END_TEST

START_TEST(test_insert_find)
{
    struct flexmap_cache *cache = flexmap_cache_create(2);
    struct flexmap_key k = key4("203.0.113.10", IPPROTO_TCP, 80);
    struct flexmap_key other = key4("203.0.113.11", IPPROTO_TCP, 80);
    struct flexmap_dp_backend b[2] = { backend(1, 2, 1), backend(2, 3, 2) };
    const struct flexmap_cache_entry *e;

    ck_assert_uint_eq(flexmap_cache_count(cache), 0);
    ck_assert_ptr_null(flexmap_cache_find(cache, 0, &k));
    ck_assert_ptr_null(flexmap_cache_lookup(cache, 0, &k));

    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b, 2), 0);
    ck_assert_uint_eq(flexmap_cache_count(cache), 1);
    e = flexmap_cache_find(cache, 0, &k);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_eq(flexmap_cache_lookup(cache, 0, &k), e);
    ck_assert_uint_eq(flexmap_cache_entry_table(e), 0);
    ck_assert_int_eq(memcmp(flexmap_cache_entry_key(e), &k, sizeof k), 0);
    ck_assert_uint_eq(flexmap_cache_entry_n_backends(e), 2);
    ck_assert_int_eq(memcmp(flexmap_cache_entry_backend(e, 0), &b[0],
                            sizeof b[0]), 0);
    ck_assert_int_eq(memcmp(flexmap_cache_entry_backend(e, 1), &b[1],
                            sizeof b[1]), 0);
    ck_assert_ptr_null(flexmap_cache_entry_backend(e, 2));
    ck_assert_ptr_null(flexmap_cache_find(cache, 0, &other));
    ck_assert_ptr_null(flexmap_cache_lookup(cache, 0, &other));
    ck_assert_uint_gt(flexmap_cache_memory(cache), sizeof b);

    flexmap_cache_destroy(cache);
}
END_TEST

START_TEST(test_invalid)
{
    struct flexmap_cache *cache = flexmap_cache_create(1);
    struct flexmap_dp_backend b[FLEXMAP_MAX_BACKENDS + 1];
    struct flexmap_key k = key4("203.0.113.10", IPPROTO_TCP, 80);
    struct flexmap_key bad;

    for (size_t i = 0; i < ARRAY_SIZE(b); i++) {
        b[i] = backend(i, i + 1, 1);
    }
    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b, 0), EINVAL);
    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b,
                                       FLEXMAP_MAX_BACKENDS + 1), EINVAL);
    ck_assert_int_eq(flexmap_cache_put(cache, UINT32_MAX, &k, b, 1),
                     EINVAL);
    bad = k;
    bad.pad = 1;
    ck_assert_int_eq(flexmap_cache_put(cache, 0, &bad, b, 1), EINVAL);
    bad = key4("203.0.113.10", 0, 80);              /* Any proto, port. */
    ck_assert_int_eq(flexmap_cache_put(cache, 0, &bad, b, 1), EINVAL);
    bad = key4("203.0.113.10", IPPROTO_ICMP, 0);    /* Portless proto. */
    ck_assert_int_eq(flexmap_cache_put(cache, 0, &bad, b, 1), EINVAL);
    b[0].flags = 0x8000;
    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b, 1), EINVAL);
    b[0].flags = 0;
    ck_assert_uint_eq(flexmap_cache_count(cache), 0);

    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b,
                                       FLEXMAP_MAX_BACKENDS), 0);
    ck_assert_uint_eq(flexmap_cache_entry_n_backends(
                          flexmap_cache_find(cache, 0, &k)),
                      FLEXMAP_MAX_BACKENDS);
    flexmap_cache_destroy(cache);
}
END_TEST

START_TEST(test_replace_keeps_counters)
{
    struct flexmap_cache *cache = flexmap_cache_create(2);
    struct flexmap_key k = key4("203.0.113.10", IPPROTO_UDP, 53);
    struct flexmap_dp_backend b2[3] = {
        backend(7, 7, 1), backend(8, 8, 0), backend(9, 9, 3)
    };
    const struct flexmap_cache_entry *e1, *e2;
    struct flexmap_cache_stats s1, s2;

    put1(cache, 5, &k, 1);
    e1 = flexmap_cache_find(cache, 5, &k);
    count_packets(cache, 5, "203.0.113.10", IPPROTO_UDP, 53, 0, 3, 10);
    count_packets(cache, 5, "203.0.113.10", IPPROTO_UDP, 53, 1, 2, 0);
    get_stats(cache, 5, &k, &s1);
    ck_assert_uint_eq(s1.n_packets, 5);
    ck_assert_uint_eq(s1.n_bytes, 3 * (14 + 20 + 8 + 10) + 2 * (14 + 20 + 8));

    /* Replace: a new entry object, new backends, same counters. */
    ck_assert_int_eq(flexmap_cache_put(cache, 5, &k, b2, 3), 0);
    ck_assert_uint_eq(flexmap_cache_count(cache), 1);
    e2 = flexmap_cache_find(cache, 5, &k);
    ck_assert_ptr_nonnull(e2);
    ck_assert_ptr_ne(e1, e2);
    ck_assert_uint_eq(flexmap_cache_entry_n_backends(e2), 3);
    ck_assert_uint_eq(odp_to_u32(flexmap_cache_entry_backend(e2, 2)->port),
                      9);
    get_stats(cache, 5, &k, &s2);
    ck_assert_uint_eq(s2.n_packets, s1.n_packets);
    ck_assert_uint_eq(s2.n_bytes, s1.n_bytes);

    /* Counting continues. */
    count_packets(cache, 5, "203.0.113.10", IPPROTO_UDP, 53, 1, 4, 0);
    get_stats(cache, 5, &k, &s2);
    ck_assert_uint_eq(s2.n_packets, 9);

    /* The old entry remains readable until we quiesce. */
    ck_assert_uint_eq(flexmap_cache_entry_n_backends(e1), 1);
    ck_assert_uint_eq(odp_to_u32(flexmap_cache_entry_backend(e1, 0)->port),
                      1);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

#ifdef FLEXMAP_TEST_TRACK_CACHELINE
/* Replaced, deleted and flushed entries, pools and single backends alike,
 * go back with free_cacheline(), the allocator's own free: free() of a
 * cache-line block aborts here (see the top of this file) and leaves the
 * count of live blocks above where it started. */
START_TEST(test_free_matches_alloc)
{
    unsigned int before = atomic_count_get(&fc_test_n_blocks);
    struct flexmap_cache *cache = flexmap_cache_create(2);
    struct flexmap_dp_backend pool[3] = {
        backend(7, 7, 1), backend(8, 8, 2), backend(9, 9, 3)
    };

    for (uint32_t i = 0; i < 20; i++) {
        struct flexmap_key k = key4_u32(0xcb007100 + i % 5, IPPROTO_TCP, 80);

        if (i % 3) {
            put1(cache, 1, &k, i + 1);
        } else {
            ck_assert_int_eq(flexmap_cache_put(cache, 1, &k, pool,
                                               2 + i % 2), 0);
        }
        count_packets(cache, 1, "203.0.113.0", IPPROTO_TCP, 80, i % 3, 2, 0);
        ovsrcu_quiesce();
    }
    ck_assert_uint_gt(atomic_count_get(&fc_test_n_blocks), before);
    struct flexmap_key k = key4_u32(0xcb007100, IPPROTO_TCP, 80);
    ck_assert_int_eq(flexmap_cache_del(cache, 1, &k), 0);
    ck_assert_uint_eq(flexmap_cache_flush(cache, 1), 4);
    rcu_flush();
    flexmap_cache_destroy(cache);
    rcu_flush();
    rcu_flush();
    ck_assert_uint_eq(atomic_count_get(&fc_test_n_blocks), before);
}
END_TEST
#endif

START_TEST(test_delete)
{
    struct flexmap_cache *cache = flexmap_cache_create(2);
    struct flexmap_key k = key4("203.0.113.10", IPPROTO_TCP, 80);
    struct flexmap_key k2 = key4("203.0.113.20", IPPROTO_TCP, 80);
    struct flexmap_cache_stats s;

    put1(cache, 0, &k, 1);
    put1(cache, 0, &k2, 2);
    count_packets(cache, 0, "203.0.113.10", IPPROTO_TCP, 80, 0, 4, 0);
    ck_assert_int_eq(flexmap_cache_del(cache, 0, &k), 0);
    ck_assert_ptr_null(flexmap_cache_find(cache, 0, &k));
    ck_assert_ptr_null(flexmap_cache_lookup(cache, 0, &k));
    ck_assert_int_eq(flexmap_cache_del(cache, 0, &k), ENOENT);
    ck_assert_int_eq(flexmap_cache_del(cache, 1, &k2), ENOENT);
    ck_assert_uint_eq(flexmap_cache_count(cache), 1);
    ck_assert_int_eq(lookup_port(cache, 0, &k2), 2);

    /* After a grace period the slot is reused, with zeroed counters. */
    rcu_flush();
    put1(cache, 0, &k, 3);
    get_stats(cache, 0, &k, &s);
    ck_assert_uint_eq(s.n_packets, 0);
    ck_assert_uint_eq(s.n_bytes, 0);
    ck_assert_int_eq(lookup_port(cache, 0, &k), 3);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

/* Once every entry is deleted and their grace period is over, the counters
 * go too: the cache is back to the memory of an empty one, and it fills
 * again from slot 0 with zeroed counters. */
START_TEST(test_delete_all_gives_memory_back)
{
    struct flexmap_cache *cache = flexmap_cache_create(2);
    struct flexmap_cache_stats s;
    size_t empty = flexmap_cache_memory(cache);
    struct flexmap_key k;

    for (uint32_t i = 0; i < 10000; i++) {
        k = key4_u32(0x0a000000 + i, IPPROTO_TCP, 80);
        put1(cache, 0, &k, i % 7 + 1);
    }
    k = key4_u32(0x0a000000, IPPROTO_TCP, 80);
    count_packets(cache, 0, "10.0.0.0", IPPROTO_TCP, 80, 0, 3, 1);
    ck_assert_uint_gt(flexmap_cache_memory(cache), empty + 10000 * 168);
    ck_assert_uint_eq(flexmap_cache_flush(cache, UINT32_MAX), 10000);
    rcu_flush();
    ck_assert_uint_eq(flexmap_cache_memory(cache), empty);
    ck_assert_uint_eq(flexmap_cache_room(cache), FLEXMAP_CACHE_MAX_ENTRIES);

    put1(cache, 0, &k, 5);
    get_stats(cache, 0, &k, &s);
    ck_assert_uint_eq(s.n_packets, 0);
    count_packets(cache, 0, "10.0.0.0", IPPROTO_TCP, 80, 0, 2, 1);
    get_stats(cache, 0, &k, &s);
    ck_assert_uint_eq(s.n_packets, 2);
    ck_assert_int_eq(lookup_port(cache, 0, &k), 5);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

static void
count_cb(const struct flexmap_cache_entry *e OVS_UNUSED, void *aux)
{
    (*(size_t *) aux)++;
}

START_TEST(test_flush)
{
    struct flexmap_cache *cache = flexmap_cache_create(1);
    size_t n;

    for (uint32_t i = 0; i < 100; i++) {
        struct flexmap_key k = key4_u32(0x0a000000 + i, IPPROTO_TCP, 80);

        put1(cache, 1, &k, 1);
        put1(cache, 2, &k, 2);
        if (i < 10) {
            put1(cache, 3, &k, 3);
        }
    }
    ck_assert_uint_eq(flexmap_cache_count(cache), 210);
    n = 0;
    flexmap_cache_for_each(cache, 2, count_cb, &n);
    ck_assert_uint_eq(n, 100);

    ck_assert_uint_eq(flexmap_cache_flush(cache, 1), 100);
    ck_assert_uint_eq(flexmap_cache_count(cache), 110);
    n = 0;
    flexmap_cache_for_each(cache, 1, count_cb, &n);
    ck_assert_uint_eq(n, 0);
    n = 0;
    flexmap_cache_for_each(cache, UINT32_MAX, count_cb, &n);
    ck_assert_uint_eq(n, 110);
    for (uint32_t i = 0; i < 100; i++) {
        struct flexmap_key k = key4_u32(0x0a000000 + i, IPPROTO_TCP, 80);

        ck_assert_ptr_null(flexmap_cache_find(cache, 1, &k));
        ck_assert_int_eq(lookup_port(cache, 2, &k), 2);
    }
    ck_assert_uint_eq(flexmap_cache_flush(cache, 1), 0);
    ck_assert_uint_eq(flexmap_cache_flush(cache, UINT32_MAX), 110);
    ck_assert_uint_eq(flexmap_cache_count(cache), 0);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

static void
format_entry(const struct flexmap_cache *cache, uint32_t table,
             const struct flexmap_key *k, struct ds *s)
{
    ds_clear(s);
    flexmap_cache_entry_format(cache, flexmap_cache_find(cache, table, k),
                               NULL, s);
}

START_TEST(test_format)
{
    struct flexmap_cache *cache = flexmap_cache_create(2);
    struct flexmap_key k = key4("203.0.113.10", IPPROTO_TCP, 80);
    struct flexmap_key k6 = key6("2001:db8::1", 0, 0);
    struct flexmap_dp_backend b[2] = { backend(1, 2, 1), backend(2, 3, 2) };
    struct ds s = DS_EMPTY_INITIALIZER;

    ck_assert_int_eq(flexmap_cache_put(cache, 0x100, &k, b, 2), 0);
    count_packets(cache, 0x100, "203.0.113.10", IPPROTO_TCP, 80, 0, 1, 6);
    format_entry(cache, 0x100, &k, &s);
    ck_assert_str_eq(ds_cstr(&s),
                     "table=0x100,tcp,nw_dst=203.0.113.10,tp_dst=80 "
                     "packets:1 bytes:60 backends: "
                     "02:00:00:00:01:01->port 2 weight 1 "
                     "packets:0 bytes:0 conns:0, "
                     "02:00:00:00:01:02->port 3 weight 2 "
                     "packets:1 bytes:60 conns:0");

    put1(cache, 1, &k6, 4);
    format_entry(cache, 1, &k6, &s);
    ck_assert_str_eq(ds_cstr(&s),
                     "table=0x1,ipv6,ipv6_dst=2001:db8::1 packets:0 bytes:0 "
                     "backends: 02:00:00:00:01:04->port 4 weight 1");
    ds_destroy(&s);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

/* Lookup order and isolation. */

START_TEST(test_lookup_order)
{
    struct flexmap_cache *cache = flexmap_cache_create(1);
    const char *ip = "203.0.113.10";
    struct flexmap_key exact = key4(ip, IPPROTO_TCP, 80);
    struct flexmap_key any_port = key4(ip, IPPROTO_TCP, 0);
    struct flexmap_key any_proto = key4(ip, 0, 0);
    struct flexmap_key tcp81 = key4(ip, IPPROTO_TCP, 81);
    struct flexmap_key udp80 = key4(ip, IPPROTO_UDP, 80);
    struct flexmap_key icmp = key4(ip, IPPROTO_ICMP, 0);
    struct flexmap_key other = key4("203.0.113.11", IPPROTO_TCP, 80);

    /* Only an exact entry: nothing else falls back to it. */
    put1(cache, 0, &exact, 30);
    ck_assert_int_eq(lookup_port(cache, 0, &exact), 30);
    ck_assert_int_eq(lookup_port(cache, 0, &tcp81), -1);
    ck_assert_int_eq(lookup_port(cache, 0, &udp80), -1);
    ck_assert_int_eq(lookup_port(cache, 0, &icmp), -1);

    /* Inserted in reverse priority order, so that insertion order cannot
     * be what makes the result. */
    put1(cache, 0, &any_proto, 10);
    put1(cache, 0, &any_port, 20);
    ck_assert_int_eq(lookup_port(cache, 0, &exact), 30);    /* Exact. */
    ck_assert_int_eq(lookup_port(cache, 0, &tcp81), 20);    /* Any port. */
    ck_assert_int_eq(lookup_port(cache, 0, &udp80), 10);    /* Any proto. */
    ck_assert_int_eq(lookup_port(cache, 0, &icmp), 10);
    ck_assert_int_eq(lookup_port(cache, 0, &any_port), 20);
    ck_assert_int_eq(lookup_port(cache, 0, &other), -1);

    /* find() does not fall back. */
    ck_assert_ptr_null(flexmap_cache_find(cache, 0, &tcp81));
    ck_assert_ptr_null(flexmap_cache_find(cache, 0, &icmp));

    ck_assert_int_eq(flexmap_cache_del(cache, 0, &exact), 0);
    ck_assert_int_eq(lookup_port(cache, 0, &exact), 20);
    ck_assert_int_eq(flexmap_cache_del(cache, 0, &any_port), 0);
    ck_assert_int_eq(lookup_port(cache, 0, &exact), 10);
    ck_assert_int_eq(lookup_port(cache, 0, &tcp81), 10);
    ck_assert_int_eq(flexmap_cache_del(cache, 0, &any_proto), 0);
    ck_assert_int_eq(lookup_port(cache, 0, &exact), -1);

    /* An any-port entry alone. */
    put1(cache, 0, &any_port, 21);
    ck_assert_int_eq(lookup_port(cache, 0, &exact), 21);
    ck_assert_int_eq(lookup_port(cache, 0, &udp80), -1);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

START_TEST(test_table_isolation)
{
    struct flexmap_cache *cache = flexmap_cache_create(1);
    struct flexmap_key k = key4("203.0.113.10", IPPROTO_UDP, 53);
    struct flexmap_key any = key4("203.0.113.10", 0, 0);

    put1(cache, 1, &k, 1);
    put1(cache, 2, &k, 2);
    put1(cache, 0x10000, &k, 3);
    put1(cache, 4, &any, 4);
    ck_assert_uint_eq(flexmap_cache_count(cache), 4);
    ck_assert_int_eq(lookup_port(cache, 1, &k), 1);
    ck_assert_int_eq(lookup_port(cache, 2, &k), 2);
    ck_assert_int_eq(lookup_port(cache, 0x10000, &k), 3);
    ck_assert_int_eq(lookup_port(cache, 3, &k), -1);
    ck_assert_int_eq(lookup_port(cache, 4, &k), 4);   /* Falls back. */
    ck_assert_int_eq(lookup_port(cache, 1, &any), -1);

    ck_assert_int_eq(flexmap_cache_del(cache, 1, &k), 0);
    ck_assert_int_eq(lookup_port(cache, 1, &k), -1);
    ck_assert_int_eq(lookup_port(cache, 2, &k), 2);
    ck_assert_int_eq(flexmap_cache_del(cache, 4, &k), ENOENT);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

START_TEST(test_ipv6)
{
    struct flexmap_cache *cache = flexmap_cache_create(1);
    struct flexmap_key k = key6("2001:db8::10", IPPROTO_TCP, 443);
    struct flexmap_key any = key6("2001:db8::10", 0, 0);
    struct flexmap_key other = key6("2001:db8::11", IPPROTO_TCP, 443);
    struct flexmap_key v4 = key4("0.0.0.1", IPPROTO_TCP, 443);
    struct flexmap_key compat = key6("::1", IPPROTO_TCP, 443);

    put1(cache, 0, &k, 1);
    put1(cache, 0, &any, 2);
    put1(cache, 0, &v4, 3);
    ck_assert_int_eq(lookup_port(cache, 0, &k), 1);
    ck_assert_int_eq(lookup_port(cache, 0, &other), -1);
    k.port = htons(80);
    ck_assert_int_eq(lookup_port(cache, 0, &k), 2);
    /* ::ffff:0.0.0.1 and ::1 differ. */
    ck_assert_int_eq(lookup_port(cache, 0, &v4), 3);
    ck_assert_int_eq(lookup_port(cache, 0, &compat), -1);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

/* Weights. */

static void
select_histogram(const struct flexmap_cache_entry *e, size_t n_hashes,
                 size_t hist[])
{
    for (size_t i = 0; i < n_hashes; i++) {
        const struct flexmap_dp_backend *b;

        b = flexmap_cache_entry_select(e, hash_int(i, 0));
        ck_assert_ptr_nonnull(b);
        hist[b - flexmap_cache_entry_backend(e, 0)]++;
    }
}

START_TEST(test_weights_split)
{
    struct flexmap_cache *cache = flexmap_cache_create(1);
    struct flexmap_key k = key4("203.0.113.10", IPPROTO_TCP, 80);
    struct flexmap_dp_backend b[2] = { backend(1, 1, 1), backend(2, 2, 2) };
    const struct flexmap_cache_entry *e;
    size_t hist[2] = { 0, 0 };
    const size_t n = 100000;

    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b, 2), 0);
    e = flexmap_cache_find(cache, 0, &k);
    select_histogram(e, n, hist);
    ck_assert_uint_eq(hist[0] + hist[1], n);
    ck_assert_double_eq_tol((double) hist[0] / n, 1.0 / 3, 0.01);
    ck_assert_double_eq_tol((double) hist[1] / n, 2.0 / 3, 0.01);

    /* The same hash always picks the same backend. */
    for (uint32_t i = 0; i < 1000; i++) {
        ck_assert_ptr_eq(flexmap_cache_entry_select(e, hash_int(i, 7)),
                         flexmap_cache_entry_select(e, hash_int(i, 7)));
    }
    /* Extremes of the hash range stay in range. */
    ck_assert_ptr_nonnull(flexmap_cache_entry_select(e, 0));
    ck_assert_ptr_nonnull(flexmap_cache_entry_select(e, UINT32_MAX));
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

START_TEST(test_weights_zero)
{
    struct flexmap_cache *cache = flexmap_cache_create(1);
    struct flexmap_key k = key4("203.0.113.10", IPPROTO_TCP, 80);
    struct flexmap_dp_backend b[5] = {
        backend(1, 1, 0), backend(2, 2, 3), backend(3, 3, 0),
        backend(4, 4, 1), backend(5, 5, 0),
    };
    const struct flexmap_cache_entry *e;
    size_t hist[5] = { 0, 0, 0, 0, 0 };
    const size_t n = 100000;

    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b, 5), 0);
    e = flexmap_cache_find(cache, 0, &k);
    select_histogram(e, n, hist);
    ck_assert_uint_eq(hist[0], 0);
    ck_assert_uint_eq(hist[2], 0);
    ck_assert_uint_eq(hist[4], 0);
    ck_assert_double_eq_tol((double) hist[1] / n, 0.75, 0.01);
    ck_assert_double_eq_tol((double) hist[3] / n, 0.25, 0.01);

    /* One non-zero weight among zeros: always that one. */
    b[1].weight = 0;
    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b, 5), 0);
    e = flexmap_cache_find(cache, 0, &k);
    for (uint32_t i = 0; i < 1000; i++) {
        ck_assert_ptr_eq(flexmap_cache_entry_select(e, hash_int(i, 0)),
                         flexmap_cache_entry_backend(e, 3));
    }

    /* All zero: NULL, for every hash. */
    b[3].weight = 0;
    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b, 5), 0);
    e = flexmap_cache_find(cache, 0, &k);
    for (uint32_t i = 0; i < 1000; i++) {
        ck_assert_ptr_null(flexmap_cache_entry_select(e, hash_int(i, 0)));
    }
    ck_assert_ptr_null(flexmap_cache_entry_select(e, UINT32_MAX));

    /* A single backend of weight zero too. */
    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b, 1), 0);
    e = flexmap_cache_find(cache, 0, &k);
    ck_assert_ptr_null(flexmap_cache_entry_select(e, 12345));
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

START_TEST(test_weights_64)
{
    struct flexmap_cache *cache = flexmap_cache_create(1);
    struct flexmap_key k = key4("203.0.113.10", IPPROTO_TCP, 80);
    struct flexmap_dp_backend b[FLEXMAP_MAX_BACKENDS];
    const struct flexmap_cache_entry *e;
    size_t hist[FLEXMAP_MAX_BACKENDS];
    const size_t n = 128000;

    for (size_t i = 0; i < FLEXMAP_MAX_BACKENDS; i++) {
        b[i] = backend(i, i, i % 2 ? UINT16_MAX : 0);
    }
    memset(hist, 0, sizeof hist);
    ck_assert_int_eq(flexmap_cache_put(cache, 0, &k, b,
                                       FLEXMAP_MAX_BACKENDS), 0);
    e = flexmap_cache_find(cache, 0, &k);
    select_histogram(e, n, hist);
    /* 128,000 flows: the binomial sigma of a 1/32 share is 0.05%. */
    double tol = 0.004;
    for (size_t i = 0; i < FLEXMAP_MAX_BACKENDS; i++) {
        if (i % 2) {
            ck_assert_double_eq_tol((double) hist[i] / n, 1.0 / 32, tol);
        } else {
            ck_assert_uint_eq(hist[i], 0);
        }
    }
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

/* Packets. */

enum {
    P_UDP_HIT,          /* IPv4 UDP to X:53: exact hit. */
    P_TCP_HIT,          /* IPv4 TCP to X:80: any-port hit. */
    P_ICMP,             /* IPv4 ICMP to X: any-proto hit. */
    P_MISS,             /* IPv4 TCP to an unknown address. */
    P_VLAN,             /* VLAN-tagged IPv4 UDP to X:53: exact hit. */
    P_V4_FIRST_FRAG,    /* IPv4 UDP first fragment to X:53: exact hit. */
    P_V4_LATER_FRAG,    /* IPv4 non-first fragment to X: miss. */
    P_V4_SHORT_L4,      /* IPv4 UDP to X with 2 bytes of L4: miss. */
    P_V6_HIT,           /* IPv6 TCP to V6:443: exact hit. */
    P_V6_EXT_HIT,       /* IPv6 dest-opts + TCP to V6:443: exact hit. */
    P_V6_FIRST_FRAG,    /* IPv6 first fragment TCP to V6:443: hit. */
    P_V6_LATER_FRAG,    /* IPv6 non-first fragment to V6: miss. */
    P_ARP,              /* ARP: miss. */
    P_DROP,             /* IPv4 TCP to Z: all-zero weights: drop. */
    N_P
};

static const char *X = "203.0.113.10";
static const char *V6 = "2001:db8::10";
static const char *Z = "203.0.113.99";

static struct dp_packet *
make_test_packet(int which, uint16_t sport)
{
    struct pbuf pb = { .len = 0 };
    const char *src = "198.51.100.7";
    const char *src6 = "2001:db8:1::7";

    switch (which) {
    case P_UDP_HIT:
        return make_ipv4_l4(src, X, IPPROTO_UDP, sport, 53, 0, 8, 20);
    case P_TCP_HIT:
        return make_ipv4_l4(src, X, IPPROTO_TCP, sport, 80, 0, 20, 0);
    case P_ICMP:
        return make_ipv4_l4(src, X, IPPROTO_ICMP, 0x0800, sport, 0, 8, 0);
    case P_MISS:
        return make_ipv4_l4(src, "203.0.113.77", IPPROTO_TCP, sport, 80, 0,
                            20, 0);
    case P_VLAN:
        pb_eth(&pb, ETH_TYPE_IP, true);
        pb_ipv4(&pb, src, X, IPPROTO_UDP, 0, 8);
        pb_l4(&pb, sport, 53, 8);
        return pb_finish(&pb);
    case P_V4_FIRST_FRAG:
        return make_ipv4_l4(src, X, IPPROTO_UDP, sport, 53,
                            IP_MORE_FRAGMENTS, 8, 100);
    case P_V4_LATER_FRAG:
        /* Offset 185 * 8: the "ports" would be payload bytes 0x0035 here,
         * which must not be read as a port. */
        return make_ipv4_l4(src, X, IPPROTO_UDP, 53, 53, 185, 8, 100);
    case P_V4_SHORT_L4:
        /* Two bytes of UDP, then Ethernet padding up to 60 bytes: the
         * padding must not be read as a destination port. */
        pb_eth(&pb, ETH_TYPE_IP, false);
        pb_ipv4(&pb, src, X, IPPROTO_UDP, 0, 2);
        pb_put16(&pb, sport);
        pb_put16(&pb, 53);                  /* In the padding. */
        pb_zeros(&pb, 60 - pb.len);
        return pb_finish(&pb);
    case P_V6_HIT:
        pb_eth(&pb, ETH_TYPE_IPV6, false);
        pb_ipv6(&pb, src6, V6, IPPROTO_TCP, 20);
        pb_l4(&pb, sport, 443, 20);
        return pb_finish(&pb);
    case P_V6_EXT_HIT:
        pb_eth(&pb, ETH_TYPE_IPV6, false);
        pb_ipv6(&pb, src6, V6, IPPROTO_DSTOPTS, 8 + 20);
        pb_put8(&pb, IPPROTO_TCP);          /* Next header. */
        pb_put8(&pb, 0);                    /* Length: 8 bytes. */
        pb_put8(&pb, 1);                    /* PadN option, 4 bytes. */
        pb_put8(&pb, 4);
        pb_zeros(&pb, 4);
        pb_l4(&pb, sport, 443, 20);
        return pb_finish(&pb);
    case P_V6_FIRST_FRAG:
    case P_V6_LATER_FRAG:
        pb_eth(&pb, ETH_TYPE_IPV6, false);
        pb_ipv6(&pb, src6, V6, IPPROTO_FRAGMENT, 8 + 20);
        pb_put8(&pb, IPPROTO_TCP);
        pb_put8(&pb, 0);
        /* Offset (in 8-byte units) << 3 | M flag. */
        pb_put16(&pb, which == P_V6_FIRST_FRAG ? 1 : (100 << 3) | 1);
        pb_put16(&pb, 0x1234);
        pb_put16(&pb, 0x5678);
        pb_l4(&pb, sport, 443, 20);
        return pb_finish(&pb);
    case P_ARP:
        pb_eth(&pb, ETH_TYPE_ARP, false);
        pb_put16(&pb, 1);
        pb_put16(&pb, ETH_TYPE_IP);
        pb_put8(&pb, 6);
        pb_put8(&pb, 4);
        pb_put16(&pb, 1);
        pb_zeros(&pb, 6);
        pb_put(&pb, (const uint8_t[]) { 198, 51, 100, 7 }, 4);
        pb_zeros(&pb, 6);
        pb_put(&pb, (const uint8_t[]) { 203, 0, 113, 10 }, 4);
        return pb_finish(&pb);
    case P_DROP:
        return make_ipv4_l4(src, Z, IPPROTO_TCP, sport, 80, 0, 20, 0);
    default:
        OVS_NOT_REACHED();
    }
}

/* Expected output port for each packet kind, or 0 for a miss. */
static const uint32_t expected_port[N_P] = {
    [P_UDP_HIT] = 1, [P_TCP_HIT] = 2, [P_ICMP] = 3, [P_VLAN] = 1,
    [P_V4_FIRST_FRAG] = 1, [P_V6_HIT] = 4, [P_V6_EXT_HIT] = 4,
    [P_V6_FIRST_FRAG] = 4,
};

static struct flexmap_cache *
packet_test_cache(void)
{
    struct flexmap_cache *cache = flexmap_cache_create(2);
    struct flexmap_key k;
    struct flexmap_dp_backend zero[2] = { backend(9, 9, 0),
                                          backend(8, 8, 0) };

    k = key4(X, IPPROTO_UDP, 53);
    put1(cache, 7, &k, 1);
    k = key4(X, IPPROTO_TCP, 0);
    put1(cache, 7, &k, 2);
    k = key4(X, 0, 0);
    put1(cache, 7, &k, 3);
    k = key6(V6, IPPROTO_TCP, 443);
    put1(cache, 7, &k, 4);
    k = key6(V6, 0, 0);                 /* Catches fragments if parsed. */
    put1(cache, 7, &k, 5);
    k = key4(Z, IPPROTO_TCP, 80);
    ck_assert_int_eq(flexmap_cache_put(cache, 7, &k, zero, 2), 0);
    /* The same keys in another table point elsewhere. */
    k = key4(X, IPPROTO_UDP, 53);
    put1(cache, 8, &k, 100);
    return cache;
}

START_TEST(test_packet_extract)
{
    struct flexmap_key key;
    uint32_t h1, h2;
    struct dp_packet *p;
    struct flexmap_key x53 = key4(X, IPPROTO_UDP, 53);
    struct flexmap_key v6 = key6(V6, IPPROTO_TCP, 443);

    p = make_test_packet(P_UDP_HIT, 1234);
    ck_assert(flexmap_packet_extract(p, &key, &h1));
    ck_assert_int_eq(memcmp(&key, &x53, sizeof key), 0);
    dp_packet_delete(p);

    /* Same 5-tuple, same hash; another source port, another hash. */
    p = make_test_packet(P_UDP_HIT, 1234);
    ck_assert(flexmap_packet_extract(p, &key, &h2));
    ck_assert_uint_eq(h1, h2);
    dp_packet_delete(p);
    p = make_test_packet(P_UDP_HIT, 1235);
    ck_assert(flexmap_packet_extract(p, &key, &h2));
    ck_assert_uint_ne(h1, h2);
    dp_packet_delete(p);

    p = make_test_packet(P_V6_EXT_HIT, 1);
    ck_assert(flexmap_packet_extract(p, &key, &h1));
    ck_assert_int_eq(memcmp(&key, &v6, sizeof key), 0);
    dp_packet_delete(p);

    p = make_test_packet(P_ICMP, 1);
    ck_assert(flexmap_packet_extract(p, &key, &h1));
    ck_assert_uint_eq(key.proto, IPPROTO_ICMP);
    ck_assert_uint_eq(key.port, 0);
    dp_packet_delete(p);

    static const int misses[] = { P_V4_LATER_FRAG, P_V4_SHORT_L4,
                                  P_V6_LATER_FRAG, P_ARP };
    for (size_t i = 0; i < ARRAY_SIZE(misses); i++) {
        p = make_test_packet(misses[i], 1);
        ck_assert_msg(!flexmap_packet_extract(p, &key, &h1),
                      "packet kind %d extracted", misses[i]);
        dp_packet_delete(p);
    }

    /* No L3 offset: no key. */
    p = make_test_packet(P_UDP_HIT, 1);
    dp_packet_reset_offsets(p);
    ck_assert(!flexmap_packet_extract(p, &key, &h1));
    dp_packet_delete(p);
}
END_TEST

START_TEST(test_packet_execute)
{
    struct flexmap_cache *cache = packet_test_cache();
    uint64_t exp_packets[N_P], exp_bytes[N_P];
    const struct eth_addr zero_mac = ETH_ADDR_C(00, 00, 00, 00, 00, 00);

    memset(exp_packets, 0, sizeof exp_packets);
    memset(exp_bytes, 0, sizeof exp_bytes);

    /* Two rounds on lane 0, then two on lane 3 (the shared lane of a cache
     * with two dedicated lanes). */
    for (int round = 0; round < 4; round++) {
        unsigned int lane = round < 2 ? 0 : 3;
        struct dp_packet_batch batch;
        odp_port_t ports[NETDEV_MAX_BURST];
        bool dropped[NETDEV_MAX_BURST];
        struct dp_packet *p;
        size_t n_hits = 0;

        dp_packet_batch_init(&batch);
        for (int i = 0; i < N_P; i++) {
            dp_packet_batch_add(&batch, make_test_packet(i, 1000 + round));
        }
        ports[0] = u32_to_odp(12345);
        for (int i = 0; i < N_P; i++) {
            dropped[i] = true;
            if (expected_port[i] || i == P_DROP) {
                n_hits++;
            }
        }
        ck_assert_uint_eq(flexmap_cache_execute(cache, 7, &batch, lane,
                                                ports, dropped), n_hits);
        DP_PACKET_BATCH_FOR_EACH (i, p, &batch) {
            const struct eth_header *eh = dp_packet_eth(p);

            if (expected_port[i]) {
                struct eth_addr mac = ETH_ADDR_C(02, 00, 00, 00, 01, 00);

                mac.ea[5] = expected_port[i];
                ck_assert_msg(odp_to_u32(ports[i]) == expected_port[i],
                              "packet %zu: port %"PRIu32, i,
                              odp_to_u32(ports[i]));
                ck_assert_msg(eth_addr_equals(eh->eth_dst, mac),
                              "packet %zu: eth_dst not rewritten", i);
                ck_assert(!dropped[i]);
                exp_packets[i]++;
                exp_bytes[i] += dp_packet_size(p);
            } else {
                ck_assert_msg(odp_to_u32(ports[i])
                              == odp_to_u32(ODPP_NONE),
                              "packet %zu: port %"PRIu32, i,
                              odp_to_u32(ports[i]));
                ck_assert_msg(eth_addr_equals(eh->eth_dst, orig_dst),
                              "packet %zu: eth_dst changed", i);
                ck_assert_msg(dropped[i] == (i == P_DROP),
                              "packet %zu: dropped %d", i, dropped[i]);
                if (i == P_DROP) {
                    exp_packets[i]++;
                    exp_bytes[i] += dp_packet_size(p);
                }
            }
            ck_assert(!eth_addr_equals(eh->eth_dst, zero_mac));
        }
        dp_packet_delete_batch(&batch, true);
    }

    /* Counters: summed over both lanes. */
    struct {
        struct flexmap_key key;
        uint64_t packets, bytes;
    } exp[6];
    memset(exp, 0, sizeof exp);
    exp[0].key = key4(X, IPPROTO_UDP, 53);
    exp[1].key = key4(X, IPPROTO_TCP, 0);
    exp[2].key = key4(X, 0, 0);
    exp[3].key = key6(V6, IPPROTO_TCP, 443);
    exp[4].key = key6(V6, 0, 0);
    exp[5].key = key4(Z, IPPROTO_TCP, 80);
    for (int i = 0; i < N_P; i++) {
        int idx = (i == P_DROP ? 5
                   : expected_port[i] ? (int) expected_port[i] - 1
                   : -1);
        if (idx >= 0) {
            exp[idx].packets += exp_packets[i];
            exp[idx].bytes += exp_bytes[i];
        }
    }
    ck_assert_uint_eq(exp[0].packets, 4 * 3);
    for (int i = 0; i < 6; i++) {
        struct flexmap_cache_stats s;

        get_stats(cache, 7, &exp[i].key, &s);
        ck_assert_msg(s.n_packets == exp[i].packets
                      && s.n_bytes == exp[i].bytes,
                      "entry %d: %"PRIu64"/%"PRIu64" != %"PRIu64"/%"PRIu64,
                      i, s.n_packets, s.n_bytes, exp[i].packets,
                      exp[i].bytes);
    }
    /* Table 8 was not touched. */
    struct flexmap_cache_stats s;
    get_stats(cache, 8, &exp[0].key, &s);
    ck_assert_uint_eq(s.n_packets, 0);

    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

/* Two PMD-like threads count through the same entry at once, on lanes 0
 * and 3 (dedicated lane 0 and the shared lane of a two-lane cache).  Lanes
 * are written with non-atomic adds, so if two threads wrote one lane's
 * counters at once, increments would be lost (likely, not certainly, on a
 * multi-core machine) and the total would come out short. */
struct lane_state {
    struct flexmap_cache *cache;
    unsigned int lane;
    size_t n_rounds;
    size_t bytes_per_round;
    const char *dst;            /* NULL: the packets of P_UDP_HIT. */
};

/* Lane threads that have finished, for a concurrent walker. */
static atomic_count walk_done = ATOMIC_COUNT_INIT(0);

static void *
lane_thread(void *ls_)
{
    struct lane_state *ls = ls_;
    struct dp_packet_batch batch;
    odp_port_t ports[NETDEV_MAX_BURST];
    bool dropped[NETDEV_MAX_BURST];
    struct dp_packet *p;

    dp_packet_batch_init(&batch);
    for (size_t i = 0; i < NETDEV_MAX_BURST; i++) {
        dp_packet_batch_add(&batch,
                            ls->dst
                            ? make_ipv4_l4("198.51.100.7", ls->dst,
                                           IPPROTO_UDP,
                                           1000 + ls->lane * 64 + i, 53, 0,
                                           8, i % 3)
                            : make_test_packet(P_UDP_HIT, i));
    }
    ls->bytes_per_round = 0;
    DP_PACKET_BATCH_FOR_EACH (i, p, &batch) {
        ls->bytes_per_round += dp_packet_size(p);
    }
    for (size_t r = 0; r < ls->n_rounds; r++) {
        if (flexmap_cache_execute(ls->cache, ls->dst ? 1 : 7, &batch,
                                  ls->lane, ports, dropped)
            != NETDEV_MAX_BURST) {
            ck_abort_msg("miss");
        }
        if (r % 64 == 0) {
            ovsrcu_quiesce();
        }
    }
    dp_packet_delete_batch(&batch, true);
    atomic_count_inc(&walk_done);
    return NULL;
}

START_TEST(test_lanes_concurrent)
{
    struct flexmap_cache *cache = packet_test_cache();
    struct flexmap_key k = key4(X, IPPROTO_UDP, 53);
    struct lane_state ls[2] = {
        { .cache = cache, .lane = 0, .n_rounds = 20000 },
        { .cache = cache, .lane = 3, .n_rounds = 20000 },
    };
    struct flexmap_cache_stats s;
    pthread_t threads[2];

    for (int i = 0; i < 2; i++) {
        threads[i] = ovs_thread_create("flexmap-lane", lane_thread, &ls[i]);
    }
    for (int i = 0; i < 2; i++) {
        xpthread_join(threads[i], NULL);
    }
    get_stats(cache, 7, &k, &s);
    ck_assert_uint_eq(s.n_packets, 2 * 20000 * NETDEV_MAX_BURST);
    ck_assert_uint_eq(s.n_bytes, 20000 * (ls[0].bytes_per_round
                                          + ls[1].bytes_per_round));
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

/* A cache with two dedicated lanes, and two threads on lanes 1 and 3,
 * then on lanes 3 and 5: lane numbers that the cache used to take modulo its
 * lane count, so that both threads wrote lane 1 (counters with lost
 * increments, a connection table with two writers).  Lane numbers beyond
 * the dedicated lanes must share a lane safely: every packet counted, on
 * the entry and on the backends of a pool. */
static void
run_lane_pair(unsigned int lane_a, unsigned int lane_b)
{
    struct flexmap_cache *cache = flexmap_cache_create(2);
    struct flexmap_key k1 = key4("192.0.2.1", IPPROTO_UDP, 53);
    struct flexmap_key k2 = key4("192.0.2.2", IPPROTO_UDP, 53);
    struct flexmap_dp_backend pool[2] = { backend(1, 1, 1),
                                          backend(2, 2, 1) };
    const size_t n_rounds = 20000;
    struct lane_state ls[4] = {
        { .cache = cache, .lane = lane_a, .n_rounds = n_rounds,
          .dst = "192.0.2.1" },
        { .cache = cache, .lane = lane_b, .n_rounds = n_rounds,
          .dst = "192.0.2.1" },
        { .cache = cache, .lane = lane_a, .n_rounds = n_rounds / 4,
          .dst = "192.0.2.2" },
        { .cache = cache, .lane = lane_b, .n_rounds = n_rounds / 4,
          .dst = "192.0.2.2" },
    };
    struct flexmap_cache_stats s, b0, b1;
    const struct flexmap_cache_entry *e;
    pthread_t threads[2];

    put1(cache, 1, &k1, 1);
    ck_assert_int_eq(flexmap_cache_put(cache, 1, &k2, pool, 2), 0);

    /* A single-backend entry: the densest counter writes. */
    for (int i = 0; i < 2; i++) {
        threads[i] = ovs_thread_create("flexmap-lane", lane_thread, &ls[i]);
    }
    for (int i = 0; i < 2; i++) {
        xpthread_join(threads[i], NULL);
    }
    get_stats(cache, 1, &k1, &s);
    ck_assert_msg(s.n_packets == 2 * n_rounds * NETDEV_MAX_BURST
                  && s.n_bytes == n_rounds * (ls[0].bytes_per_round
                                              + ls[1].bytes_per_round),
                  "lanes %u and %u: %"PRIu64" packets, %"PRIu64" bytes "
                  "counted of %zu, %zu", lane_a, lane_b, s.n_packets,
                  s.n_bytes, 2 * n_rounds * NETDEV_MAX_BURST,
                  n_rounds * (ls[0].bytes_per_round
                              + ls[1].bytes_per_round));

    /* A pool: connection tables and per-backend counters too, while this
     * thread walks every lane's connection table as "flexmap/dump-cache"
     * and "flexmap/lookup" do. */
    atomic_count_set(&walk_done, 0);
    for (int i = 0; i < 2; i++) {
        threads[i] = ovs_thread_create("flexmap-lane", lane_thread,
                                       &ls[2 + i]);
    }
    struct dp_packet *probe = make_ipv4_l4("198.51.100.7", "192.0.2.2",
                                           IPPROTO_UDP, 1000 + lane_a * 64,
                                           53, 0, 8, 0);
    size_t n_walks = 0;
    while (atomic_count_get(&walk_done) < 2 || !n_walks) {
        struct flexmap_cache_conns *conns = flexmap_cache_count_conns(cache);
        const struct flexmap_cache_entry *pe;
        bool from_affinity;

        e = flexmap_cache_find(cache, 1, &k2);
        ck_assert_uint_le(flexmap_cache_conns_get(conns, e, 0)
                          + flexmap_cache_conns_get(conns, e, 1),
                          2 * NETDEV_MAX_BURST);
        flexmap_cache_conns_destroy(conns);
        ck_assert_int_ge(flexmap_cache_explain(cache, 1, probe, &pe,
                                               &from_affinity), 0);
        ck_assert_uint_gt(flexmap_cache_memory(cache), 0);
        ovsrcu_quiesce();
        n_walks++;
    }
    dp_packet_delete(probe);
    for (int i = 0; i < 2; i++) {
        xpthread_join(threads[i], NULL);
    }
    e = flexmap_cache_find(cache, 1, &k2);
    flexmap_cache_entry_get_stats(cache, e, &s);
    flexmap_cache_entry_get_backend_stats(cache, e, 0, &b0);
    flexmap_cache_entry_get_backend_stats(cache, e, 1, &b1);
    ck_assert_uint_eq(s.n_packets, 2 * (n_rounds / 4) * NETDEV_MAX_BURST);
    ck_assert_uint_eq(b0.n_packets + b1.n_packets, s.n_packets);
    ck_assert_uint_eq(b0.n_bytes + b1.n_bytes, s.n_bytes);

    flexmap_cache_destroy(cache);
    rcu_flush();
}

START_TEST(test_lanes_beyond_count)
{
    run_lane_pair(1, 3);
    run_lane_pair(3, 5);
}
END_TEST

/* Scale. */

#if SCALE_TEST
static long long int
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* How many times longer than normal timed tests run: FLEXMAP_TEST_TIME_SCALE
 * (default 1), which the sanitizer runs raise because their code runs
 * several times slower, so that the tests still reach their counts. */
static long long int
time_scale(void)
{
    const char *s = getenv("FLEXMAP_TEST_TIME_SCALE");
    int n = s ? atoi(s) : 1;

    return n > 0 ? n : 1;
}

START_TEST(test_scale_1m)
{
    const uint32_t n = 1000000;
    struct flexmap_cache *cache = flexmap_cache_create(2);
    struct flexmap_dp_backend b = backend(1, 1, 1);
    long long int t0, t1, t2, t3;
    size_t mem, found = 0;

    t0 = now_ns();
    for (uint32_t i = 0; i < n; i++) {
        struct flexmap_key k = key4_u32(0x0a000000 + i, IPPROTO_TCP, 80);

        b.port = u32_to_odp(i);
        if (flexmap_cache_put(cache, 1, &k, &b, 1)) {
            ck_abort_msg("put %"PRIu32" failed", i);
        }
    }
    t1 = now_ns();
    ck_assert_uint_eq(flexmap_cache_count(cache), n);
    mem = flexmap_cache_memory(cache);

    for (uint32_t i = 0; i < n; i++) {
        struct flexmap_key k = key4_u32(0x0a000000 + i, IPPROTO_TCP, 80);
        const struct flexmap_cache_entry *e;

        e = flexmap_cache_lookup(cache, 1, &k);
        if (OVS_UNLIKELY(!e || odp_to_u32(
                             flexmap_cache_entry_backend(e, 0)->port) != i)) {
            ck_abort_msg("entry %"PRIu32" not found", i);
        }
        found++;
    }
    t2 = now_ns();
    ck_assert_uint_eq(found, n);
    ck_assert_uint_gt(mem, n * 100);
    ck_assert_uint_lt(mem, n * 400);

    ck_assert_uint_eq(flexmap_cache_flush(cache, 2), 0);
    ck_assert_uint_eq(flexmap_cache_flush(cache, UINT32_MAX), n);
    t3 = now_ns();
    ck_assert_uint_eq(flexmap_cache_count(cache), 0);

    fprintf(stderr, "scale (rough): 1M inserts %.0f ms (%.0f ns each), "
            "1M lookups %.0f ms (%.1f M/s), flush %.0f ms, "
            "memory %.1f MB (%.0f B/entry, 2 lanes)\n",
            (t1 - t0) / 1e6, (double) (t1 - t0) / n, (t2 - t1) / 1e6,
            n / ((t2 - t1) / 1e9) / 1e6, (t3 - t2) / 1e6, mem / 1e6,
            (double) mem / n);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST

/* Single-thread lookup rate on a warm cache of 10k entries (rough). */
START_TEST(test_lookup_rate)
{
    struct flexmap_cache *cache = flexmap_cache_create(1);
    const uint32_t n_keys = 10000, n_lookups = 5000000;
    long long int t0, t1;
    size_t hits = 0;

    for (uint32_t i = 0; i < n_keys; i++) {
        struct flexmap_key k = key4_u32(0x0a000000 + i, IPPROTO_TCP, 80);

        put1(cache, 1, &k, 1);
    }
    t0 = now_ns();
    for (uint32_t i = 0; i < n_lookups; i++) {
        struct flexmap_key k = key4_u32(0x0a000000 + i % n_keys,
                                        IPPROTO_TCP, 80);

        hits += flexmap_cache_lookup(cache, 1, &k) != NULL;
    }
    t1 = now_ns();
    ck_assert_uint_eq(hits, n_lookups);
    fprintf(stderr, "lookup rate (rough, 1 thread, 10k exact entries): "
            "%.1f M lookups/s\n", n_lookups / ((t1 - t0) / 1e9) / 1e6);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST
#else
START_TEST(test_enospc)
{
    struct flexmap_cache *cache = flexmap_cache_create(2);
    const uint32_t n = FLEXMAP_CACHE_MAX_ENTRIES;
    struct flexmap_dp_backend b = backend(1, 1, 1);
    struct flexmap_key k, extra = key4("192.0.2.1", IPPROTO_TCP, 80);

    for (uint32_t i = 0; i < n; i++) {
        k = key4_u32(0x0a000000 + i, IPPROTO_TCP, 80);
        ck_assert_int_eq(flexmap_cache_put(cache, 1, &k, &b, 1), 0);
    }
    ck_assert_uint_eq(flexmap_cache_count(cache), n);
    ck_assert_int_eq(flexmap_cache_put(cache, 1, &extra, &b, 1), ENOSPC);
    ck_assert_int_eq(flexmap_cache_put(cache, 2, &k, &b, 1), ENOSPC);
    /* Replacing is still fine. */
    b.port = u32_to_odp(2);
    ck_assert_int_eq(flexmap_cache_put(cache, 1, &k, &b, 1), 0);
    ck_assert_int_eq(lookup_port(cache, 1, &k), 2);

    /* A deleted entry's slot comes back only after a grace period. */
    ck_assert_int_eq(flexmap_cache_del(cache, 1, &k), 0);
    ck_assert_int_eq(flexmap_cache_put(cache, 1, &extra, &b, 1), ENOSPC);
    rcu_flush();
    ck_assert_int_eq(flexmap_cache_put(cache, 1, &extra, &b, 1), 0);
    ck_assert_uint_eq(flexmap_cache_count(cache), n);
    ck_assert_uint_eq(flexmap_cache_flush(cache, UINT32_MAX), n);
    flexmap_cache_destroy(cache);
    rcu_flush();
}
END_TEST
#endif

#if SCALE_TEST
/* Concurrency. */

#define CONC_KEYS 16

struct conc_state {
    struct flexmap_cache *cache;
    struct flexmap_key keys[CONC_KEYS];
    atomic_bool stop;

    /* Reader results. */
    uint64_t n_checked;         /* Entries checked. */
    uint64_t n_changes;         /* Generation changes seen. */
    uint64_t n_rechecked;       /* Entries re-checked before quiescing. */
    uint64_t n_misses;
    char error[256];
};

static size_t
gen_n_backends(uint32_t gen)
{
    return 1 + gen % 8;
}

/* Backends whose every field encodes 'gen'. */
static void
gen_backends(uint32_t gen, struct flexmap_dp_backend b[])
{
    for (size_t i = 0; i < gen_n_backends(gen); i++) {
        memset(&b[i], 0, sizeof b[i]);
        b[i].mac = (struct eth_addr) { { { 0x02, gen >> 24, gen >> 16,
                                          gen >> 8, gen, i } } };
        b[i].weight = 1 + (gen + i) % 5;
        b[i].port = u32_to_odp(gen);
        b[i].flags = 0;
        b[i].tun_id = htonll(((uint64_t) gen << 8) | i);
        in6_addr_set_mapped_ipv4(&b[i].tun_dst, htonl(gen ^ i));
    }
}

/* Returns the generation of 'e', or -1 if it is inconsistent, with a
 * message in 'st->error'. */
static int64_t
check_entry(struct conc_state *st, const struct flexmap_cache_entry *e,
            const struct flexmap_key *key)
{
    struct flexmap_dp_backend exp[8];
    const struct flexmap_dp_backend *b, *first;
    size_t n = flexmap_cache_entry_n_backends(e);
    uint32_t gen;

    if (memcmp(flexmap_cache_entry_key(e), key, sizeof *key)
        || flexmap_cache_entry_table(e) != 3) {
        snprintf(st->error, sizeof st->error, "wrong key or table");
        return -1;
    }
    first = flexmap_cache_entry_backend(e, 0);
    gen = odp_to_u32(first->port);
    if (n != gen_n_backends(gen)) {
        snprintf(st->error, sizeof st->error,
                 "gen %"PRIu32": %zu backends", gen, n);
        return -1;
    }
    gen_backends(gen, exp);
    for (size_t i = 0; i < n; i++) {
        if (memcmp(flexmap_cache_entry_backend(e, i), &exp[i],
                   sizeof exp[i])) {
            snprintf(st->error, sizeof st->error,
                     "gen %"PRIu32": backend %zu torn", gen, i);
            return -1;
        }
    }
    b = flexmap_cache_entry_select(e, hash_int(gen, 0));
    if (!b || b < first || b >= first + n) {
        snprintf(st->error, sizeof st->error,
                 "gen %"PRIu32": bad selection", gen);
        return -1;
    }
    return gen;
}

static void *
conc_reader(void *st_)
{
    struct conc_state *st = st_;
    int64_t last_gen[CONC_KEYS];
    bool stop = false;

    for (int i = 0; i < CONC_KEYS; i++) {
        last_gen[i] = -1;
    }
    while (!stop) {
        /* Keep the first entry seen in this round, and verify it again,
         * unchanged, just before quiescing: it must not have been freed and
         * reused meanwhile. */
        const struct flexmap_cache_entry *held = NULL;
        int64_t held_gen = -1;
        int held_key = 0;

        for (int j = 0; j < 512; j++) {
            int k = j % CONC_KEYS;
            const struct flexmap_cache_entry *e;
            int64_t gen;

            e = (j & 1
                 ? flexmap_cache_lookup(st->cache, 3, &st->keys[k])
                 : flexmap_cache_find(st->cache, 3, &st->keys[k]));
            if (!e) {
                st->n_misses++;
                continue;
            }
            gen = check_entry(st, e, &st->keys[k]);
            if (gen < 0) {
                return NULL;
            }
            st->n_checked++;
            if (gen != last_gen[k]) {
                st->n_changes++;
                last_gen[k] = gen;
            }
            if (!held) {
                held = e;
                held_gen = gen;
                held_key = k;
            }
        }
        if (held) {
            if (check_entry(st, held, &st->keys[held_key]) != held_gen) {
                snprintf(st->error, sizeof st->error,
                         "entry changed or freed before quiescing");
                return NULL;
            }
            st->n_rechecked++;
        }
        ovsrcu_quiesce();
        atomic_read(&st->stop, &stop);
    }
    return NULL;
}

START_TEST(test_concurrent_churn)
{
    struct conc_state *st = xzalloc(sizeof *st);
    struct flexmap_dp_backend b[8];
    bool present[CONC_KEYS];
    uint32_t gen = 0;
    uint64_t n_puts = 0, n_dels = 0;
    long long int deadline;
    pthread_t reader;

    st->cache = flexmap_cache_create(2);
    atomic_init(&st->stop, false);
    for (int i = 0; i < CONC_KEYS; i++) {
        st->keys[i] = key4_u32(0xc6336400 + i, i % 2 ? IPPROTO_TCP : 0,
                               i % 2 ? 80 : 0);
        gen_backends(++gen, b);
        ck_assert_int_eq(flexmap_cache_put(st->cache, 3, &st->keys[i], b,
                                           gen_n_backends(gen)), 0);
        present[i] = true;
    }

    reader = ovs_thread_create("flexmap-reader", conc_reader, st);
    /* At least 1.5 s (times the time scale) and 4,000 puts (the reader's
     * figures below need both), but no more than 30 s more: on a busy
     * machine puts are slow. */
    deadline = now_ns() + 1500000000LL * time_scale();
    long long int give_up = deadline + 28500000000LL;
    for (uint32_t op = 0; ; op++) {
        int k = random_range(CONC_KEYS);

        if (random_range(16) == 0 && present[k]) {
            ck_assert_int_eq(flexmap_cache_del(st->cache, 3, &st->keys[k]),
                             0);
            present[k] = false;
            n_dels++;
        } else {
            gen_backends(++gen, b);
            ck_assert_int_eq(flexmap_cache_put(st->cache, 3, &st->keys[k],
                                               b, gen_n_backends(gen)), 0);
            present[k] = true;
            n_puts++;
        }
        if (op % 64 == 0) {
            long long int now;

            ovsrcu_quiesce();
            now = now_ns();
            if ((now > deadline && n_puts >= 4000) || now > give_up
                || st->error[0]) {
                break;
            }
        }
    }
    atomic_store(&st->stop, true);
    xpthread_join(reader, NULL);

    fprintf(stderr, "concurrency (rough): %"PRIu64" puts, %"PRIu64" dels; "
            "reader checked %"PRIu64" entries, saw %"PRIu64" generation "
            "changes, %"PRIu64" misses\n", n_puts, n_dels, st->n_checked,
            st->n_changes, st->n_misses);
    ck_assert_msg(!st->error[0], "reader: %s", st->error);
    ck_assert_uint_gt(st->n_checked, 10000);
    ck_assert_uint_gt(st->n_changes, 1000);
    ck_assert_uint_gt(st->n_rechecked, 100);
    ck_assert_uint_gt(st->n_misses, 0);

    flexmap_cache_destroy(st->cache);
    rcu_flush();
    free(st);
}
END_TEST
#endif

/* Destruction with slot releases still pending from another thread. */

struct destroy_state {
    struct flexmap_cache *cache;
    atomic_int phase;
};

static void *
destroy_deleter(void *st_)
{
    struct destroy_state *st = st_;
    int phase;

    for (uint32_t i = 0; i < 50; i++) {
        struct flexmap_key k = key4_u32(0x0a000000 + i, IPPROTO_TCP, 80);

        ck_assert_int_eq(flexmap_cache_del(st->cache, 1, &k), 0);
    }
    atomic_store(&st->phase, 1);
    /* Do not quiesce until the cache is destroyed: our postponed releases
     * then run after the destroyer's. */
    do {
        usleep(1000);
        atomic_read(&st->phase, &phase);
    } while (phase != 2);
    return NULL;
}

START_TEST(test_destroy_pending)
{
    struct destroy_state st;
    pthread_t thread;
    int phase;

    st.cache = flexmap_cache_create(3);
    atomic_init(&st.phase, 0);
    for (uint32_t i = 0; i < 100; i++) {
        struct flexmap_key k = key4_u32(0x0a000000 + i, IPPROTO_TCP, 80);

        put1(st.cache, 1, &k, 1);
    }
    thread = ovs_thread_create("flexmap-deleter", destroy_deleter, &st);
    do {
        usleep(1000);
        atomic_read(&st.phase, &phase);
    } while (phase != 1);
    flexmap_cache_destroy(st.cache);
    ovsrcu_quiesce();           /* Our callbacks go first. */
    usleep(20000);
    atomic_store(&st.phase, 2);
    xpthread_join(thread, NULL);
    rcu_flush();
    rcu_flush();
}
END_TEST

static Suite *
flexmap_cache_suite(void)
{
    Suite *s = suite_create("flexmap-cache");
    TCase *tc;

    tc = tcase_create("basic");
    tcase_add_test(tc, test_insert_find);
    tcase_add_test(tc, test_invalid);
    tcase_add_test(tc, test_replace_keeps_counters);
#ifdef FLEXMAP_TEST_TRACK_CACHELINE
    tcase_add_test(tc, test_free_matches_alloc);
#endif
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_delete_all_gives_memory_back);
    tcase_add_test(tc, test_flush);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_destroy_pending);
    tcase_add_test(tc, test_tnl_unresolved);
    suite_add_tcase(s, tc);

    tc = tcase_create("lookup");
    tcase_add_test(tc, test_lookup_order);
    tcase_add_test(tc, test_table_isolation);
    tcase_add_test(tc, test_ipv6);
    suite_add_tcase(s, tc);

    tc = tcase_create("weights");
    tcase_add_test(tc, test_weights_split);
    tcase_add_test(tc, test_weights_zero);
    tcase_add_test(tc, test_weights_64);
    suite_add_tcase(s, tc);

    tc = tcase_create("packets");
    tcase_add_test(tc, test_packet_extract);
    tcase_add_test(tc, test_packet_execute);
    tcase_add_test(tc, test_lanes_concurrent);
    tcase_add_test(tc, test_lanes_beyond_count);
    suite_add_tcase(s, tc);

#if SCALE_TEST
    tc = tcase_create("scale");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_scale_1m);
    tcase_add_test(tc, test_lookup_rate);
    suite_add_tcase(s, tc);

    tc = tcase_create("concurrency");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_concurrent_churn);
    suite_add_tcase(s, tc);
#else
    tc = tcase_create("full");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_enospc);
    suite_add_tcase(s, tc);
#endif

    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(flexmap_cache_suite());
    int n_failed;

    srunner_run_all(sr, CK_NORMAL);
    n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
