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

#ifndef FLEXMAP_H
#define FLEXMAP_H 1

/* Map entries: the model shared by ovs-ofctl, ofproto and the datapath.
 *
 * A map table maps a destination (public IP, IP protocol, port) to one or
 * more backends, each a container's MAC address behind a switch port.  An
 * entry's key is one of three kinds, looked up in this order:
 *
 *     exact      (ip, proto, port)     "tcp,nw_dst=203.0.113.10,tp_dst=80"
 *     any port   (ip, proto, *)        "udp,nw_dst=203.0.113.10"
 *     any proto  (ip, *, *)            "ip,nw_dst=203.0.113.10"
 *
 * IPv4 addresses are held as IPv4-mapped IPv6 addresses, so that one key
 * type serves both families.
 *
 * Text syntax (ovs-ofctl add-map), one entry:
 *
 *     table=N,PROTO,nw_dst=IP[,tp_dst=PORT],backend(ARGS)[,backend(ARGS)...]
 *
 * PROTO is one of ip, tcp, udp, sctp, ipv6, tcp6, udp6, sctp6; IPv6 keys use
 * ipv6_dst.  ARGS is mac=MAC,port=PORT[,weight=W][,tun_dst=IP,tun_id=ID].
 * "table=N" may be omitted (table 0).  Each keyword may appear once (except
 * backend), every "(" must be closed and followed by "," or the end, and
 * values are checked as the switch would check them (a unicast MAC, a port
 * a backend can be on, a unicast tun_dst), so that what parses is what the
 * switch accepts, short of whether its ports exist.
 *
 * "ovs-ofctl dump-maps" prints the same syntax, preceded by the entry's
 * counters, "n_packets=N, n_bytes=M, ", and, for an entry with more than one
 * backend, with ",n_packets=N,n_bytes=M,n_conns=C" at the end of each
 * backend's ARGS.  The parser ignores n_packets, n_bytes and n_conns, with
 * any value, both at top level and in ARGS, so that dump-maps output feeds
 * back into add-maps unchanged.  (The key-only syntax of del-maps does not
 * accept them.)  A backend that the switch reports as unresolved (see
 * FLEXMAP_BACKEND_UNRESOLVED) prints as "port=N,unresolved", with N a
 * number, never a name; the parser refuses it, so that such a dump cannot
 * silently send the backend's traffic to whichever interface holds N now.
 *
 * Thread-safety
 * =============
 *
 * Everything here works on caller-owned values; there is no shared state. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include "openvswitch/types.h"
#include "openvswitch/ofp-errors.h"

struct ds;
struct ofputil_port_map;

/* Map table ids that OpenFlow can name: 0 to FLEXMAP_MAX_TABLE.  The value
 * FLEXMAP_ALL_TABLES stands for "every table" in deletes and dumps. */
#define FLEXMAP_MAX_TABLE 254
#define FLEXMAP_ALL_TABLES 255

/* Most backends that one entry may have. */
#define FLEXMAP_MAX_BACKENDS 64

/* The key of a map entry. */
struct flexmap_key {
    struct in6_addr ip;         /* IPv4 as an IPv4-mapped IPv6 address. */
    uint8_t proto;              /* IPPROTO_TCP/UDP/SCTP, or 0: any. */
    uint8_t pad;                /* Zero, so that keys hash as bytes. */
    ovs_be16 port;              /* Destination port, or 0: any port. */
};

/* Key kinds, in lookup order. */
enum flexmap_key_kind {
    FLEXMAP_KEY_EXACT,          /* proto != 0, port != 0. */
    FLEXMAP_KEY_ANY_PORT,       /* proto != 0, port == 0. */
    FLEXMAP_KEY_ANY_PROTO,      /* proto == 0, port == 0. */
};

/* Backend flags. */
enum flexmap_backend_flags {
    FLEXMAP_BACKEND_TUNNEL = 1 << 0,  /* tun_dst and tun_id are valid. */

    /* Only in NXST_FLEXMAP replies: the interface that the backend was
     * written for is gone, so the switch sends it nothing; 'port' is the
     * OpenFlow port number that interface last had (another interface may
     * hold it now).  The switch refuses it in NXT_FLEXMAP_MOD and the text
     * parser refuses "unresolved". */
    FLEXMAP_BACKEND_UNRESOLVED = 1 << 1,
};

/* The flags that an entry written to a switch may carry. */
#define FLEXMAP_BACKEND_KNOWN_FLAGS FLEXMAP_BACKEND_TUNNEL

/* The flags that an NXST_FLEXMAP reply may carry. */
#define FLEXMAP_BACKEND_REPLY_FLAGS (FLEXMAP_BACKEND_KNOWN_FLAGS \
                                     | FLEXMAP_BACKEND_UNRESOLVED)

/* One backend of an entry, as OpenFlow sees it. */
struct flexmap_backend {
    struct eth_addr mac;        /* New Ethernet destination. */
    uint16_t weight;            /* Relative share of flows; 0 drains. */
    ofp_port_t port;            /* OpenFlow output port. */
    uint16_t flags;             /* FLEXMAP_BACKEND_*. */
    struct in6_addr tun_dst;    /* Tunnel remote (IPv4-mapped for IPv4). */
    ovs_be64 tun_id;            /* Tunnel key. */
};

/* Counters of one backend of an entry, as NXST_FLEXMAP reports them for
 * entries with several backends. */
struct flexmap_backend_stats {
    uint64_t n_packets;         /* Packets sent to this backend. */
    uint64_t n_bytes;           /* Bytes sent to this backend. */
    uint32_t n_conns;           /* Active connections pinned to it. */
};

/* A map entry: table, key and backends. */
struct flexmap_entry {
    uint8_t table_id;
    struct flexmap_key key;
    size_t n_backends;
    struct flexmap_backend backends[FLEXMAP_MAX_BACKENDS];
};

/* Keys. */
void flexmap_key_init_ipv4(struct flexmap_key *, ovs_be32 ip, uint8_t proto,
                           ovs_be16 port);
void flexmap_key_init_ipv6(struct flexmap_key *, const struct in6_addr *,
                           uint8_t proto, ovs_be16 port);
bool flexmap_key_is_ipv4(const struct flexmap_key *);
enum flexmap_key_kind flexmap_key_kind(const struct flexmap_key *);
uint32_t flexmap_key_hash(const struct flexmap_key *, uint32_t basis);
bool flexmap_key_equal(const struct flexmap_key *,
                       const struct flexmap_key *);
enum ofperr flexmap_key_check(const struct flexmap_key *);
bool flexmap_ip_is_unicast(const struct in6_addr *);

/* Why flexmap_ip_parse() refuses an address. */
enum flexmap_ip_parse_error {
    FLEXMAP_IP_OK,
    FLEXMAP_IP_NOT_AN_ADDRESS,  /* Neither a.b.c.d nor an IPv6 address. */
    FLEXMAP_IP_MAPPED,          /* IPv4-mapped IPv6: write it a.b.c.d. */
    FLEXMAP_IP_NOT_UNICAST,     /* See flexmap_ip_is_unicast(). */
};
enum flexmap_ip_parse_error flexmap_ip_parse(const char *,
                                             struct in6_addr *,
                                             struct ds *canonical);
void flexmap_key_format(const struct flexmap_key *, struct ds *);

/* Backends. */
bool flexmap_backend_port_is_valid(ofp_port_t);
enum ofperr flexmap_backend_check(const struct flexmap_backend *);

/* Entries. */
enum ofperr flexmap_entry_check(const struct flexmap_entry *);
uint32_t flexmap_entry_weight_sum(const struct flexmap_entry *);
bool flexmap_entry_equal(const struct flexmap_entry *,
                         const struct flexmap_entry *);

/* Text syntax.  The parsers return NULL on success, otherwise a malloc()'d
 * error message that the caller must free().  With 'key_only', backends are
 * rejected and "table=N" alone (no protocol or address) is allowed: then
 * '*key_given' is set to false. */
char *flexmap_entry_parse(struct flexmap_entry *, const char *,
                          const struct ofputil_port_map *)
    OVS_WARN_UNUSED_RESULT;
char *flexmap_entry_parse_key(struct flexmap_entry *, const char *,
                              const struct ofputil_port_map *,
                              bool *key_given)
    OVS_WARN_UNUSED_RESULT;
void flexmap_entry_format(const struct flexmap_entry *,
                          const struct ofputil_port_map *, struct ds *);
void flexmap_entry_format_stats(const struct flexmap_entry *,
                                const struct flexmap_backend_stats *,
                                const struct ofputil_port_map *,
                                struct ds *);
void flexmap_backend_format(const struct flexmap_backend *,
                            const struct ofputil_port_map *, struct ds *);

/* Reading files of entries, one per line. */
int flexmap_get_line(struct ds *, FILE *, int *line_number);

#endif /* flexmap.h */
