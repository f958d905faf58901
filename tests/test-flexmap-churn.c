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

/* Churn correctness: no packet is misdelivered while mappings change.
 *
 * A PMD-like thread forwards a stream of packets through the flexmap
 * action's datapath code, flexmap_dp_execute() (what dpif-netdev's
 * dp_execute_flexmap_action() calls: lookup, backend choice with the lane's
 * connection table, Ethernet rewrite, split by output port), on real
 * dp_packets in batches of NETDEV_MAX_BURST, while the main thread changes
 * the map through flexmap_cache_put() and flexmap_cache_del(), the calls
 * with which ofproto pushes map changes into the datapath: it replaces
 * backends, deletes and re-adds entries, and grows, shrinks and reweights
 * pools (weight 0 included), at full speed.
 *
 * Every packet that comes out must carry a (MAC, port) that its mapping
 * held at some moment while the packet was in flight, and every miss must
 * fall where the mapping was absent at some such moment.  The writer keeps a
 * history of every update (which key, which backends), numbered; it bumps a
 * sequence number to 2u - 1 before applying update u and to 2u after.  The
 * reader reads the sequence number before (s0) and after (s1) each batch;
 * the states a packet may see are those of the key's updates u with
 * 2u - 1 <= s1 (begun before the batch ended) back to the latest one with
 * 2u <= s0 (finished before the batch began), or the key's initial absence
 * if there is none.
 *
 * A run lasts FLEXMAP_CHURN_SECONDS (default 3) seconds.  The test fails on
 * any misdelivery, wrong miss or drop, or if the writer did not reach
 * FLEXMAP_CHURN_MIN_RATE (default 100000) updates per second in any of
 * FLEXMAP_CHURN_RUNS (3) runs: a run that was too slow to churn did not
 * test what it claims to, and the test says so.
 *
 * The lookup, selection and rewrite code is the product's, linked into this
 * program. */

#include <config.h>

#include <check.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "csum.h"
#include "dp-packet.h"
#include "flexmap-cache.h"
#include "flexmap-dpif.h"
#include "flow.h"
#include "netlink.h"
#include "odp-netlink.h"
#include "openvswitch/ofpbuf.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "packets.h"
#include "random.h"
#include "util.h"

#define TABLE_ID 9
#define N_KEYS 64               /* Keys 0..N_SINGLE-1 have one backend, */
#define N_SINGLE 48             /* the others pools of 1 to POOL_MAX. */
#define N_UNIVERSE 16           /* Backends a key may have. */
#define POOL_MAX 8
#define N_TEMPLATES 4096        /* Packets the reader cycles through. */
#define HIST_BITS 22            /* Updates remembered: 4M. */
#define HIST_SIZE (1u << HIST_BITS)
#define READER_LANE 1           /* As a PMD's static tx queue id. */

/* Backend 'b' of key 'k': its MAC names both, and its port differs from
 * every other backend's of the same key. */
static struct eth_addr
churn_mac(unsigned int k, unsigned int b)
{
    return (struct eth_addr) { { { 0x02, 0xc4, 0x00, 0x00, k, b } } };
}

static uint32_t
churn_port(unsigned int k, unsigned int b)
{
    return 1 + (k * 5 + b * 3) % 61;
}

static struct flexmap_key
churn_key(unsigned int k)
{
    struct flexmap_key key;

    memset(&key, 0, sizeof key);
    in6_addr_set_mapped_ipv4(&key.ip, htonl(0xcb007100 + k));
    key.proto = IPPROTO_UDP;
    key.port = htons(53);
    return key;
}

/* One update, in the history ring: two words that both carry the update
 * number, so that a reader detects a slot reused under it.  The writer
 * records an update, and makes it its key's latest, before it starts
 * applying it, so that a reader's walk back from the latest update also
 * finds the one in progress. */
struct churn_hist {
    atomic_uint64_t w0;         /* u << 32 | previous update of the key. */
    atomic_uint64_t w1;         /* u << 32 | backend mask << 8 | key. */
};

struct churn {
    struct flexmap_cache *cache;
    struct churn_hist *hist;            /* HIST_SIZE updates. */
    atomic_uint64_t seq;                /* 2u - 1: applying u; 2u: done. */
    atomic_uint32_t last[N_KEYS];       /* Latest update of each key. */
    atomic_bool stop;

    /* Reader results. */
    uint64_t n_batches;
    uint64_t n_packets;                 /* Sent into the action. */
    uint64_t n_checked;                 /* Delivered and checked. */
    uint64_t n_misdelivered;
    uint64_t n_missed_ok;               /* Missed where allowed. */
    uint64_t n_missed_wrong;            /* Missed where a mapping held. */
    uint64_t n_dropped;                 /* Neither delivered nor missed. */
    uint64_t n_unverifiable;            /* History gone (reader stalled). */
    uint64_t n_window_updates;          /* Updates inside batch windows. */
    char first_error[512];
};

static long long int
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double
env_double(const char *name, double dflt)
{
    const char *s = getenv(name);

    return s && *s ? atof(s) : dflt;
}

/* Writer. */

struct churn_writer {
    struct churn *c;
    uint32_t u;                         /* Last update number. */
    uint16_t mask[N_KEYS];              /* Current backends, 0: absent. */
    uint64_t n_replace, n_add, n_del, n_pool;
};

static void
churn_apply(struct churn_writer *w, unsigned int k, uint16_t mask,
            const uint16_t weights[N_UNIVERSE])
{
    struct churn *c = w->c;
    struct flexmap_key key = churn_key(k);
    uint32_t u = ++w->u;
    uint32_t prev;
    struct churn_hist *h = &c->hist[u & (HIST_SIZE - 1)];

    atomic_read_relaxed(&c->last[k], &prev);
    atomic_store_relaxed(&h->w0, ((uint64_t) u << 32) | prev);
    atomic_store_relaxed(&h->w1, ((uint64_t) u << 32) | (mask << 8) | k);
    atomic_store_relaxed(&c->last[k], u);
    atomic_store_explicit(&c->seq, 2 * (uint64_t) u - 1,
                          memory_order_release);
    if (mask) {
        struct flexmap_dp_backend b[N_UNIVERSE];
        size_t n = 0;

        for (unsigned int i = 0; i < N_UNIVERSE; i++) {
            if (mask & (1u << i)) {
                memset(&b[n], 0, sizeof b[n]);
                b[n].mac = churn_mac(k, i);
                b[n].port = u32_to_odp(churn_port(k, i));
                b[n].weight = weights ? weights[i] : 1;
                n++;
            }
        }
        ck_assert_int_eq(flexmap_cache_put(c->cache, TABLE_ID, &key, b, n),
                         0);
    } else {
        ck_assert_int_eq(flexmap_cache_del(c->cache, TABLE_ID, &key), 0);
    }
    atomic_store_explicit(&c->seq, 2 * (uint64_t) u, memory_order_release);
    w->mask[k] = mask;
}

/* One update of a single-backend key: replace the backend (mostly), or
 * delete or re-add the entry. */
static void
churn_single(struct churn_writer *w)
{
    unsigned int k = random_range(N_SINGLE);
    uint16_t cur = w->mask[k];

    if (cur && random_range(16) == 0) {
        churn_apply(w, k, 0, NULL);
        w->n_del++;
    } else {
        uint16_t mask;

        do {
            mask = 1u << random_range(N_UNIVERSE);
        } while (mask == cur);
        churn_apply(w, k, mask, NULL);
        if (cur) {
            w->n_replace++;
        } else {
            w->n_add++;
        }
    }
}

/* One update of a pool key: grow or shrink it by a backend, swap one,
 * reweight it (draining some backends), or delete or re-add it. */
static void
churn_pool(struct churn_writer *w)
{
    unsigned int k = N_SINGLE + random_range(N_KEYS - N_SINGLE);
    uint16_t cur = w->mask[k];
    uint16_t weights[N_UNIVERSE];
    uint16_t mask = cur;
    unsigned int n = count_1bits(cur);
    unsigned int op = random_range(8);

    if (!cur) {
        mask = 1u << random_range(N_UNIVERSE);
        mask |= 1u << random_range(N_UNIVERSE);
        w->n_add++;
    } else if (op == 0) {
        mask = 0;
        w->n_del++;
    } else {
        if ((op <= 3 && n < POOL_MAX) || n == 1) {
            mask |= 1u << random_range(N_UNIVERSE);             /* Grow. */
        } else if (op <= 5) {
            mask &= ~(1u << raw_ctz(mask));                     /* Shrink. */
        } else if (op == 6) {
            mask &= ~(1u << raw_ctz(mask));                     /* Swap. */
            mask |= 1u << random_range(N_UNIVERSE);
        }
        if (!mask) {
            mask = 1u << random_range(N_UNIVERSE);
        }
        w->n_pool++;
    }

    /* Weights 0 to 3, at least one non-zero. */
    bool live = false;
    for (unsigned int i = 0; i < N_UNIVERSE; i++) {
        weights[i] = random_range(4);
        live = live || (weights[i] && (mask & (1u << i)));
    }
    if (!live) {
        weights[raw_ctz(mask ? mask : 1)] = 1;
    }
    churn_apply(w, k, mask, weights);
}

/* Reader. */

/* Returns the key index of 'p' (its destination address's last byte),
 * which the reader's packets all carry. */
static unsigned int
packet_key(const struct dp_packet *p)
{
    const struct ip_header *ip = dp_packet_l3(p);

    return ntohl(get_16aligned_be32(&ip->ip_dst)) & 0xff;
}

/* Whether a packet to key 'k' in a batch with window [s0, s1] may leave
 * with 'mac' on 'port' (or, if 'miss', miss).  Returns 1 if yes, 0 if no,
 * -1 if the history needed is gone. */
static int
churn_admissible(struct churn *c, unsigned int k, uint64_t s0, uint64_t s1,
                 bool miss, const struct eth_addr *mac, uint32_t port)
{
    uint32_t u;

    atomic_read_explicit(&c->last[k], &u, memory_order_acquire);
    for (;;) {
        uint16_t mask;
        uint32_t prev;

        if (!u) {
            return miss;            /* Absent from the start. */
        }

        const struct churn_hist *h = &c->hist[u & (HIST_SIZE - 1)];
        uint64_t w0, w1;

        atomic_read_relaxed(&CONST_CAST(struct churn_hist *, h)->w0, &w0);
        atomic_read_relaxed(&CONST_CAST(struct churn_hist *, h)->w1, &w1);
        if (w0 >> 32 != u || w1 >> 32 != u) {
            return -1;
        }
        prev = w0;
        mask = w1 >> 8;
        if (2 * (uint64_t) u - 1 <= s1) {
            /* Begun before the batch ended: its state may have been seen. */
            if (miss ? !mask
                : (mac->ea[0] == 0x02 && mac->ea[1] == 0xc4
                   && !mac->ea[2] && !mac->ea[3] && mac->ea[4] == k
                   && mac->ea[5] < N_UNIVERSE
                   && mask & (1u << mac->ea[5])
                   && port == churn_port(k, mac->ea[5]))) {
                return 1;
            }
            if (2 * (uint64_t) u <= s0) {
                return 0;           /* Older states were gone before. */
            }
        }
        u = prev;
    }
}

static void
churn_note_error(struct churn *c, const char *what, unsigned int k,
                 uint64_t s0, uint64_t s1, const struct eth_addr *mac,
                 uint32_t port)
{
    if (!c->first_error[0]) {
        int n = snprintf(c->first_error, sizeof c->first_error,
                         "%s: key %u, window [%"PRIu64", %"PRIu64"], MAC "
                         ETH_ADDR_FMT", port %"PRIu32"; the key's updates "
                         "(number:backends)", what, k, s0, s1,
                         ETH_ADDR_ARGS(*mac), port);
        uint32_t u;

        /* The key's latest updates, for the report. */
        atomic_read_explicit(&c->last[k], &u, memory_order_acquire);
        for (int i = 0; i < 6 && u && n < sizeof c->first_error; i++) {
            const struct churn_hist *h = &c->hist[u & (HIST_SIZE - 1)];
            uint64_t w0, w1;

            atomic_read_relaxed(&CONST_CAST(struct churn_hist *, h)->w0,
                                &w0);
            atomic_read_relaxed(&CONST_CAST(struct churn_hist *, h)->w1,
                                &w1);
            n += snprintf(c->first_error + n, sizeof c->first_error - n,
                          " %"PRIu32":%#"PRIx16, u, (uint16_t) (w1 >> 8));
            u = w0;
        }
    }
}

static struct dp_packet *
churn_packet(unsigned int k, uint16_t sport)
{
    uint8_t data[14 + 20 + 8 + 18];
    struct ip_header *ip = (struct ip_header *) (data + 14);
    struct udp_header *udp = (struct udp_header *) (data + 34);
    struct eth_header *eh = (struct eth_header *) data;
    struct dp_packet *p;
    struct flow flow;

    memset(data, 0, sizeof data);
    eh->eth_dst = (struct eth_addr) ETH_ADDR_C(02, fa, ce, 00, 00, 01);
    eh->eth_src = (struct eth_addr) ETH_ADDR_C(00, 11, 22, 33, 44, 55);
    eh->eth_type = htons(ETH_TYPE_IP);
    ip->ip_ihl_ver = IP_IHL_VER(5, IP_VERSION);
    ip->ip_tot_len = htons(sizeof data - 14);
    ip->ip_ttl = 64;
    ip->ip_proto = IPPROTO_UDP;
    put_16aligned_be32(&ip->ip_src, htonl(0xc6336400 + (sport & 0xff)));
    put_16aligned_be32(&ip->ip_dst, htonl(0xcb007100 + k));
    ip->ip_csum = csum(ip, sizeof *ip);
    udp->udp_src = htons(sport);
    udp->udp_dst = htons(53);
    udp->udp_len = htons(sizeof data - 34);

    p = dp_packet_clone_data(data, sizeof data);
    flow_extract(p, &flow);     /* Sets the offsets, as miniflow_extract(). */
    return p;
}

static struct eth_header *
churn_eth(struct dp_packet *p)
{
    return dp_packet_eth(p);
}

static void *
churn_reader(void *c_)
{
    struct churn *c = c_;
    const struct eth_addr orig = ETH_ADDR_C(02, fa, ce, 00, 00, 01);
    struct dp_packet **pkts = xmalloc(N_TEMPLATES * sizeof *pkts);
    struct flexmap_dp_split *split = xmalloc(sizeof *split);
    struct flexmap_dp_action act;
    struct ofpbuf buf;
    uint64_t stub[64 / 8];
    size_t next = 0;
    bool stop = false;

    /* On a machine with fewer cores than threads here, the busy reader would
     * take the writer's time: let the writer go first. */
    setpriority(PRIO_PROCESS, gettid(), 10);

    /* The action as translation writes it, with no miss actions. */
    ofpbuf_use_stub(&buf, stub, sizeof stub);
    size_t ofs = nl_msg_start_nested(&buf, OVS_ACTION_ATTR_FLEXMAP);
    nl_msg_put_u32(&buf, OVS_FLEXMAP_ATTR_TABLE, TABLE_ID);
    nl_msg_put_unspec(&buf, OVS_FLEXMAP_ATTR_ACTIONS_IF_MISS, NULL, 0);
    nl_msg_end_nested(&buf, ofs);
    ck_assert(flexmap_dp_action_parse(buf.data, &act));

    /* Three quarters of the packets to single-backend keys, a quarter to
     * pools, from many source ports (new and known connections). */
    for (size_t i = 0; i < N_TEMPLATES; i++) {
        unsigned int k = (random_range(4)
                          ? random_range(N_SINGLE)
                          : N_SINGLE + random_range(N_KEYS - N_SINGLE));

        pkts[i] = churn_packet(k, 1024 + random_range(2048));
    }

    while (!stop) {
        struct dp_packet_batch batch;
        size_t idx[NETDEV_MAX_BURST];
        uint64_t s0, s1;

        dp_packet_batch_init(&batch);
        for (size_t i = 0; i < NETDEV_MAX_BURST; i++) {
            idx[i] = next;
            churn_eth(pkts[next])->eth_dst = orig;
            dp_packet_batch_add(&batch, pkts[next]);
            next = (next + 1) % N_TEMPLATES;
        }

        atomic_read_explicit(&c->seq, &s0, memory_order_acquire);
        flexmap_dp_execute(c->cache, &act, &batch, READER_LANE, split);
        atomic_read_explicit(&c->seq, &s1, memory_order_acquire);

        c->n_batches++;
        c->n_packets += NETDEV_MAX_BURST;
        c->n_window_updates += (s1 + 1) / 2 - s0 / 2;

        size_t n_out = dp_packet_batch_size(&split->miss);
        for (size_t i = 0; i < split->n_outputs; i++) {
            const struct flexmap_dp_output *o = &split->outputs[i];
            uint32_t port = odp_to_u32(o->port);
            struct dp_packet *p;

            n_out += dp_packet_batch_size(&o->batch);
            DP_PACKET_BATCH_FOR_EACH (j, p, &o->batch) {
                const struct eth_addr mac = churn_eth(p)->eth_dst;
                unsigned int k = packet_key(p);
                int ok = churn_admissible(c, k, s0, s1, false, &mac, port);

                c->n_checked++;
                if (ok < 0) {
                    c->n_unverifiable++;
                } else if (!ok) {
                    c->n_misdelivered++;
                    churn_note_error(c, "misdelivered", k, s0, s1, &mac,
                                     port);
                }
            }
        }
        struct dp_packet *p;
        DP_PACKET_BATCH_FOR_EACH (j, p, &split->miss) {
            const struct eth_addr mac = churn_eth(p)->eth_dst;
            unsigned int k = packet_key(p);
            int ok = churn_admissible(c, k, s0, s1, true, &mac, 0);

            if (ok < 0) {
                c->n_unverifiable++;
            } else if (ok) {
                c->n_missed_ok++;
            } else {
                c->n_missed_wrong++;
                churn_note_error(c, "missed", k, s0, s1, &mac, 0);
            }
        }
        if (n_out != NETDEV_MAX_BURST) {
            /* flexmap_dp_execute() freed the packets it dropped (an entry
             * with no live backend, which this test never writes): count
             * them and make new ones. */
            c->n_dropped += NETDEV_MAX_BURST - n_out;
            for (size_t i = 0; i < NETDEV_MAX_BURST; i++) {
                struct dp_packet *q = pkts[idx[i]];
                bool seen = false;

                for (size_t o = 0; o < split->n_outputs && !seen; o++) {
                    DP_PACKET_BATCH_FOR_EACH (j, p, &split->outputs[o].batch) {
                        seen = seen || p == q;
                    }
                }
                DP_PACKET_BATCH_FOR_EACH (j, p, &split->miss) {
                    seen = seen || p == q;
                }
                if (!seen) {
                    pkts[idx[i]] = churn_packet(0, 1024 + i);
                }
            }
            if (!c->first_error[0]) {
                snprintf(c->first_error, sizeof c->first_error,
                         "%zu packets dropped", NETDEV_MAX_BURST - n_out);
            }
        }

        /* A PMD quiesces every so many iterations. */
        if (c->n_batches % 64 == 0) {
            ovsrcu_quiesce();
            atomic_read_relaxed(&c->stop, &stop);
        }
    }

    for (size_t i = 0; i < N_TEMPLATES; i++) {
        dp_packet_delete(pkts[i]);
    }
    free(pkts);
    free(split);
    ofpbuf_uninit(&buf);
    return NULL;
}

/* One run of 'seconds'.  Returns the writer's update rate; fails the test
 * at once on any misdelivery, wrong miss or drop. */
static double
churn_run(double seconds, int attempt)
{
    struct churn *c = xzalloc(sizeof *c);
    struct churn_writer w;
    long long int start, deadline, end;
    pthread_t reader;

    c->hist = xzalloc(HIST_SIZE * sizeof *c->hist);
    c->cache = flexmap_dp_create("churn", 1);   /* Lanes 0 and 1. */
    atomic_init(&c->seq, 0);
    atomic_init(&c->stop, false);
    for (int k = 0; k < N_KEYS; k++) {
        atomic_init(&c->last[k], 0);
    }
    memset(&w, 0, sizeof w);
    w.c = c;

    /* Every key starts mapped (a pool for the pool keys). */
    for (unsigned int k = 0; k < N_KEYS; k++) {
        uint16_t weights[N_UNIVERSE];

        for (int i = 0; i < N_UNIVERSE; i++) {
            weights[i] = 1;
        }
        churn_apply(&w, k, k < N_SINGLE ? 1u << (k % N_UNIVERSE) : 0x0f,
                    weights);
    }
    uint32_t first_u = w.u;

    reader = ovs_thread_create("flexmap-pmd", churn_reader, c);
    start = now_ns();
    deadline = start + (long long int) (seconds * 1e9);
    for (uint64_t op = 1; ; op++) {
        if (op % 256 == 0) {
            churn_pool(&w);
        } else {
            churn_single(&w);
        }
        if (op % 1024 == 0) {
            ovsrcu_quiesce();
            if (now_ns() >= deadline) {
                break;
            }
        }
    }
    end = now_ns();
    atomic_store(&c->stop, true);
    xpthread_join(reader, NULL);

    double elapsed = (end - start) / 1e9;
    uint64_t n_updates = w.u - first_u;
    double rate = n_updates / elapsed;

    printf("churn: run %d, %.2f s; writer: %"PRIu64" updates, %.0f/s "
           "(%"PRIu64" backend replacements, %"PRIu64" adds, %"PRIu64
           " deletes, %"PRIu64" pool grows/shrinks/swaps/reweights)\n",
           attempt, elapsed, n_updates, rate, w.n_replace, w.n_add,
           w.n_del, w.n_pool);
    printf("churn: run %d; reader: %"PRIu64" packets in %"PRIu64" batches "
           "(%.2f Mpps); %"PRIu64" delivered and checked, %"PRIu64
           " misdelivered, %"PRIu64" missed (allowed), %"PRIu64
           " missed wrongly, %"PRIu64" dropped, %"PRIu64" unverifiable; "
           "%"PRIu64" updates fell inside batch windows\n", attempt,
           c->n_packets, c->n_batches, c->n_packets / elapsed / 1e6,
           c->n_checked, c->n_misdelivered, c->n_missed_ok,
           c->n_missed_wrong, c->n_dropped, c->n_unverifiable,
           c->n_window_updates);
    fflush(stdout);

    ck_assert_msg(!c->n_misdelivered && !c->n_missed_wrong
                  && !c->n_dropped, "%s", c->first_error);
    ck_assert_msg(!c->n_unverifiable,
                  "%"PRIu64" packets could not be checked: the reader fell "
                  "more than %u updates behind", c->n_unverifiable,
                  HIST_SIZE);

    /* The run did what it says: packets checked, pools churned. */
    ck_assert_uint_gt(c->n_checked, 10000);
    ck_assert_uint_gt(w.n_pool, 10);

    flexmap_dp_destroy(c->cache);
    ovsrcu_barrier();
    free(c->hist);
    free(c);
    return rate;
}

/* Runs until a run reaches the update rate, at most FLEXMAP_CHURN_RUNS
 * (3) times: a machine busy with other work (the autotests that "make
 * check" runs beside this program) may starve the writer for a while.
 * Every run must be free of misdeliveries. */
START_TEST(test_churn)
{
    double seconds = env_double("FLEXMAP_CHURN_SECONDS", 3);
    double min_rate = env_double("FLEXMAP_CHURN_MIN_RATE", 100000);
    int n_runs = env_double("FLEXMAP_CHURN_RUNS", 3);
    double rate = 0;

    for (int i = 1; i <= MAX(n_runs, 1); i++) {
        rate = churn_run(seconds, i);
        if (rate >= min_rate) {
            return;
        }
        printf("churn: run %d reached %.0f updates/s, below %.0f/s%s\n",
               i, rate, min_rate, i < n_runs ? ": running again" : "");
    }
    ck_abort_msg("test setup failure: the writer applied %.0f updates/s, "
                 "below the %.0f/s this test must churn at, in %d runs (a "
                 "loaded or slow machine?); nothing was proven at that "
                 "rate", rate, min_rate, MAX(n_runs, 1));
}
END_TEST

int
main(void)
{
    double seconds = env_double("FLEXMAP_CHURN_SECONDS", 3);
    Suite *s = suite_create("flexmap-churn");
    TCase *tc = tcase_create("churn");
    SRunner *sr;
    int n_failed;

    tcase_set_timeout(tc, 3 * seconds + 60);
    tcase_add_test(tc, test_churn);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
