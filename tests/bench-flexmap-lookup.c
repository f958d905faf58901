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

/* Micro-benchmark of the datapath's per-packet flexmap work: lookup,
 * backend choice, counters and the Ethernet rewrite, that is, one call of
 * flexmap_cache_execute() per batch of NETDEV_MAX_BURST packets, as a PMD
 * makes it.
 *
 * It fills a map cache with --entries single- or multi-backend entries
 * (table 1, udp, 10.0.0.0/8 addresses, port 80 + n), builds --flows
 * distinct UDP packets that hit them (shuffled), and runs --packets lookups
 * over them.  It prints one line of figures.
 *
 * Two uses:
 *
 *   - Timing: nanoseconds per packet, compared side by side with
 *     --variant=rewrite, which only rewrites the Ethernet destination (what
 *     a single OpenFlow rule costs on top of the datapath).
 *
 *   - Instruction counts, which are exact and do not depend on how busy
 *     the machine is: scripts/bench-insns runs this program under
 *     valgrind's callgrind, collecting only inside flexmap_cache_execute()
 *     (or bench_rewrite()), and divides by the packet count. */

#include <config.h>

#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dp-packet.h"
#include "flexmap-cache.h"
#include "csum.h"
#include "flow.h"
#include "openvswitch/util.h"
#include "ovs-rcu.h"
#include "packets.h"
#include "random.h"
#include "timeval.h"
#include "util.h"

#define TABLE_ID 1

struct options {
    size_t n_entries;
    size_t n_flows;
    size_t n_backends;
    size_t n_packets;
    bool rewrite_only;
    enum flexmap_key_kind kind;     /* Of every entry. */
};

static void
usage(void)
{
    printf("usage: bench-flexmap-lookup [OPTION]...\n"
           "  --entries=M     map entries (default 1024)\n"
           "  --flows=N       distinct 5-tuples in the traffic (default 65536)\n"
           "  --backends=B    backends per entry (default 1)\n"
           "  --packets=P     packets to look up (default 10000000)\n"
           "  --variant=V     flexmap (default) or rewrite (the limit: only\n"
           "                  the Ethernet rewrite)\n"
           "  --key=K         the entries' keys: exact (default), any-port\n"
           "                  or any-proto\n");
    exit(EXIT_SUCCESS);
}

static size_t
parse_size(const char *name, const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*end || !*s || !v) {
        ovs_fatal(0, "--%s: \"%s\" is not a positive number", name, s);
    }
    return v;
}

static void
parse_options(int argc, char *argv[], struct options *o)
{
    static const struct option long_options[] = {
        {"entries", required_argument, NULL, 'm'},
        {"flows", required_argument, NULL, 'n'},
        {"backends", required_argument, NULL, 'b'},
        {"packets", required_argument, NULL, 'p'},
        {"variant", required_argument, NULL, 'v'},
        {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    *o = (struct options) {
        .n_entries = 1024, .n_flows = 65536, .n_backends = 1,
        .n_packets = 10000000, .rewrite_only = false,
        .kind = FLEXMAP_KEY_EXACT,
    };
    for (;;) {
        int c = getopt_long(argc, argv, "", long_options, NULL);

        if (c == -1) {
            break;
        }
        switch (c) {
        case 'm':
            o->n_entries = parse_size("entries", optarg);
            break;
        case 'n':
            o->n_flows = parse_size("flows", optarg);
            break;
        case 'b':
            o->n_backends = parse_size("backends", optarg);
            break;
        case 'p':
            o->n_packets = parse_size("packets", optarg);
            break;
        case 'v':
            if (!strcmp(optarg, "flexmap")) {
                o->rewrite_only = false;
            } else if (!strcmp(optarg, "rewrite")) {
                o->rewrite_only = true;
            } else {
                ovs_fatal(0, "--variant: \"%s\" is neither flexmap nor "
                          "rewrite", optarg);
            }
            break;
        case 'k':
            if (!strcmp(optarg, "exact")) {
                o->kind = FLEXMAP_KEY_EXACT;
            } else if (!strcmp(optarg, "any-port")) {
                o->kind = FLEXMAP_KEY_ANY_PORT;
            } else if (!strcmp(optarg, "any-proto")) {
                o->kind = FLEXMAP_KEY_ANY_PROTO;
            } else {
                ovs_fatal(0, "--key: \"%s\" is not exact, any-port or "
                          "any-proto", optarg);
            }
            break;
        case 'h':
            usage();
            break;
        default:
            exit(EXIT_FAILURE);
        }
    }
    if (optind < argc) {
        ovs_fatal(0, "unexpected argument \"%s\"", argv[optind]);
    }
    if (o->n_backends > FLEXMAP_MAX_BACKENDS) {
        ovs_fatal(0, "--backends: at most %d", FLEXMAP_MAX_BACKENDS);
    }
    if (o->n_entries > (1u << 24) || o->n_entries > FLEXMAP_CACHE_MAX_ENTRIES
                                                    / (o->n_backends + 1)) {
        ovs_fatal(0, "--entries: too many for the cache");
    }
}

/* Entry 'n': 10.(n >> 16).(n >> 8).n, udp, port 80 + (n & 0xff). */
static void
entry_dst(size_t n, ovs_be32 *ip, uint16_t *port)
{
    *ip = htonl(0x0a000000 | (n & 0xffffff));
    *port = 80 + (n & 0xff);
}

static void
fill_cache(struct flexmap_cache *cache, const struct options *o)
{
    struct flexmap_dp_backend backends[FLEXMAP_MAX_BACKENDS];

    for (size_t i = 0; i < o->n_entries; i++) {
        struct flexmap_key key;
        uint16_t port;
        ovs_be32 ip;

        entry_dst(i, &ip, &port);
        memset(&key, 0, sizeof key);
        in6_addr_set_mapped_ipv4(&key.ip, ip);
        key.proto = o->kind == FLEXMAP_KEY_ANY_PROTO ? 0 : IPPROTO_UDP;
        key.port = o->kind == FLEXMAP_KEY_EXACT ? htons(port) : 0;

        memset(backends, 0, sizeof backends);
        for (size_t j = 0; j < o->n_backends; j++) {
            struct flexmap_dp_backend *b = &backends[j];

            b->mac = (struct eth_addr) ETH_ADDR_C(02, 00, 00, 00, 00, 00);
            b->mac.ea[3] = i >> 8;
            b->mac.ea[4] = i;
            b->mac.ea[5] = j + 1;
            b->port = u32_to_odp(2 + (i + j) % 4);
            b->weight = 1;
        }
        int error = flexmap_cache_put(cache, TABLE_ID, &key, backends,
                                      o->n_backends);
        if (error) {
            ovs_fatal(error, "flexmap_cache_put (entry %zu)", i);
        }
    }
}

/* Flow 'n': UDP to entry n % n_entries from 192.0.2.x:(1024 + ...). */
struct bench_flow {
    ovs_be32 src, dst;
    ovs_be16 sport, dport;
};

static struct bench_flow
make_flow(size_t n, const struct options *o)
{
    struct bench_flow f;
    uint16_t dport;

    entry_dst(n % o->n_entries, &f.dst, &dport);
    f.src = htonl(0xc0000200 | (n & 0xff));
    f.sport = htons(1024 + (n / o->n_entries) % 60000);
    f.dport = htons(dport);
    return f;
}

/* A 64-byte frame (60 without the FCS) of UDP over IPv4, with its offsets
 * set as the datapath's miniflow_extract() sets them. */
static struct dp_packet *
make_packet(void)
{
    uint8_t frame[60];
    struct eth_header *eh = (struct eth_header *) frame;
    struct ip_header *ip = (struct ip_header *) (eh + 1);
    struct udp_header *udp = (struct udp_header *) (ip + 1);
    struct dp_packet *p;
    struct flow flow;

    memset(frame, 0, sizeof frame);
    eh->eth_dst = (struct eth_addr) ETH_ADDR_C(02, fa, ce, 00, 00, 01);
    eh->eth_src = (struct eth_addr) ETH_ADDR_C(02, 00, 00, 00, 00, 99);
    eh->eth_type = htons(ETH_TYPE_IP);
    ip->ip_ihl_ver = IP_IHL_VER(5, IP_VERSION);
    ip->ip_tot_len = htons(sizeof frame - sizeof *eh);
    ip->ip_ttl = 64;
    ip->ip_proto = IPPROTO_UDP;
    udp->udp_len = htons(sizeof frame - sizeof *eh - sizeof *ip);

    p = dp_packet_clone_data(frame, sizeof frame);
    flow_extract(p, &flow);
    return p;
}

/* Writes flow 'f' into packet 'p' made by make_packet().  This stands for
 * the receive and parse steps before the action, which leave the packet's
 * headers in the CPU's cache, as they are when a PMD executes actions. */
static void
set_flow(struct dp_packet *p, const struct bench_flow *f)
{
    struct ip_header *ip = dp_packet_l3(p);
    struct udp_header *udp = dp_packet_l4(p);

    put_16aligned_be32(&ip->ip_src, f->src);
    put_16aligned_be32(&ip->ip_dst, f->dst);
    udp->udp_src = f->sport;
    udp->udp_dst = f->dport;
}

/* The limit variant: what one OpenFlow rule with mod_dl_dst and output
 * adds per packet on top of the datapath's own work. */
static size_t __attribute__((noinline))
bench_rewrite(struct dp_packet_batch *batch, odp_port_t ports[])
{
    static const struct eth_addr mac = ETH_ADDR_C(02, 00, 00, 00, 00, 01);
    struct dp_packet *p;

    DP_PACKET_BATCH_FOR_EACH (i, p, batch) {
        struct eth_header *eh = dp_packet_eth(p);

        eh->eth_dst = mac;
        ports[i] = u32_to_odp(2);
    }
    return dp_packet_batch_size(batch);
}

int
main(int argc, char *argv[])
{
    odp_port_t ports[NETDEV_MAX_BURST];
    bool dropped[NETDEV_MAX_BURST];
    struct flexmap_cache *cache;
    struct dp_packet_batch batch;
    struct bench_flow *flows;
    struct options o;
    size_t n_hits, n_done;
    struct timespec t0, t1;

    set_program_name(argv[0]);
    parse_options(argc, argv, &o);

    cache = flexmap_cache_create(1);
    fill_cache(cache, &o);

    /* Flows, shuffled so that consecutive packets hit unrelated entries. */
    flows = xmalloc(o.n_flows * sizeof *flows);
    for (size_t i = 0; i < o.n_flows; i++) {
        flows[i] = make_flow(i, &o);
    }
    random_set_seed(42);
    for (size_t i = o.n_flows - 1; i > 0; i--) {
        size_t j = random_range(i + 1);
        struct bench_flow tmp = flows[i];

        flows[i] = flows[j];
        flows[j] = tmp;
    }

    /* One batch of packets, rewritten with the next flows before each
     * call. */
    dp_packet_batch_init(&batch);
    for (size_t i = 0; i < NETDEV_MAX_BURST; i++) {
        dp_packet_batch_add(&batch, make_packet());
    }

    n_hits = n_done = 0;
    xclock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t f = 0; n_done < o.n_packets; ) {
        struct dp_packet *p;

        DP_PACKET_BATCH_FOR_EACH (i, p, &batch) {
            set_flow(p, &flows[f]);
            f = f + 1 < o.n_flows ? f + 1 : 0;
        }
        n_hits += (o.rewrite_only
                   ? bench_rewrite(&batch, ports)
                   : flexmap_cache_execute(cache, TABLE_ID, &batch, 0,
                                           ports, dropped));
        n_done += dp_packet_batch_size(&batch);
    }
    xclock_gettime(CLOCK_MONOTONIC, &t1);

    double ns = ((t1.tv_sec - t0.tv_sec) * 1e9
                 + (t1.tv_nsec - t0.tv_nsec));
    printf("variant=%s entries=%zu flows=%zu backends=%zu packets=%zu "
           "hits=%zu ns/packet=%.1f cache-bytes/entry=%.0f\n",
           o.rewrite_only ? "rewrite" : "flexmap", o.n_entries, o.n_flows,
           o.n_backends, n_done, n_hits, ns / n_done,
           (double) flexmap_cache_memory(cache) / o.n_entries);
    if (!o.rewrite_only && n_hits != n_done) {
        ovs_fatal(0, "%zu of %zu packets missed", n_done - n_hits, n_done);
    }

    dp_packet_delete_batch(&batch, true);
    free(flows);
    flexmap_cache_destroy(cache);
    return 0;
}
