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

#ifndef OFP_FLEXMAP_H
#define OFP_FLEXMAP_H 1

/* OpenFlow encoding of ovs-flexmap's map messages.
 *
 * NXT_FLEXMAP_MOD (Nicira experimenter message 60)
 * ------------------------------------------------
 *
 *     struct nx_flexmap_mod          8 bytes: n_commands, pad
 *     n_commands times:
 *         struct nx_flexmap_cmd      40 bytes
 *         n_backends times:
 *             struct nx_flexmap_backend   40 bytes
 *
 * The switch checks every command before it applies any, so a batch is
 * applied all or nothing.
 *
 * NXST_FLEXMAP (Nicira stats 60)
 * ------------------------------
 *
 * Request: struct nx_flexmap_stats_request (table id, or 0xff for all).
 *
 * Reply: a sequence of entries; a long dump is split over several replies
 * with "more" set (an entry is never split):
 *
 *     struct nx_flexmap_stats              48 bytes: key, entry counters
 *     n_backends times:
 *         struct nx_flexmap_backend        40 bytes
 *     n_backends times:
 *         struct nx_flexmap_backend_stats  24 bytes: backend counters
 *
 * so that an entry's 'len' is exactly 48 + 64 * n_backends.  The i-th
 * struct nx_flexmap_backend_stats belongs to the i-th backend.  A switch that
 * does not count per backend sends them all-zero. */

#include <stddef.h>
#include <stdint.h>
#include "flexmap.h"
#include "openflow/openflow.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/types.h"

struct ds;
struct ofpbuf;
struct ovs_list;
struct ofputil_port_map;

/* Map commands. */
enum nx_flexmap_command {
    NXFMC_ADD = 0,              /* Add, or replace the entry with this key. */
    NXFMC_DELETE = 1,           /* Delete the entry with this key, if any. */
    NXFMC_DELETE_TABLE = 2,     /* Delete every entry of a table (0xff: all
                                 * tables); the key must be all-zero. */
};

/* Address families of a key, in nx_flexmap_cmd's 'family'. */
enum {
    NXFM_FAMILY_NONE = 0,       /* Only with NXFMC_DELETE_TABLE. */
    NXFM_FAMILY_IPV4 = 4,
    NXFM_FAMILY_IPV6 = 6,
};

/* One command of NXT_FLEXMAP_MOD. */
struct nx_flexmap_cmd {
    ovs_be16 len;               /* Length including backends, in bytes. */
    ovs_be16 command;           /* One of NXFMC_*. */
    ovs_be16 n_backends;        /* Number of backends that follow. */
    uint8_t table_id;           /* Map table, 0 to 254; 255: all tables. */
    uint8_t family;             /* NXFM_FAMILY_*. */
    uint8_t ip_proto;           /* IPPROTO_TCP/UDP/SCTP, or 0 for any. */
    uint8_t pad[5];             /* Must be zero. */
    ovs_be16 tp_dst;            /* Destination port, or 0 for any. */
    uint8_t ip[16];             /* IPv4 in the first 4 bytes, rest zero. */
    uint8_t pad2[8];            /* Must be zero. */
};
OFP_ASSERT(sizeof(struct nx_flexmap_cmd) == 40);

/* One backend. */
struct nx_flexmap_backend {
    struct eth_addr mac;        /* New Ethernet destination. */
    ovs_be16 weight;            /* Relative weight; 0 drains. */
    ovs_be32 port;              /* OpenFlow port (OF1.1+ numbering). */
    ovs_be16 flags;             /* FLEXMAP_BACKEND_*. */
    uint8_t pad[2];             /* Must be zero. */
    ovs_be64 tun_id;            /* Tunnel key, if FLEXMAP_BACKEND_TUNNEL. */
    uint8_t tun_dst[16];        /* Tunnel remote; IPv4 as IPv4-mapped. */
};
OFP_ASSERT(sizeof(struct nx_flexmap_backend) == 40);

/* One entry of an NXST_FLEXMAP reply. */
struct nx_flexmap_stats {
    ovs_be16 len;               /* Length including backends and their
                                 * counters: 48 + 64 * n_backends. */
    ovs_be16 n_backends;        /* Number of backends that follow, and of
                                 * backend counters after them. */
    uint8_t table_id;
    uint8_t family;             /* NXFM_FAMILY_IPV4 or _IPV6. */
    uint8_t ip_proto;
    uint8_t pad;
    ovs_be16 tp_dst;
    uint8_t pad2[6];
    uint8_t ip[16];
    ovs_be64 packet_count;      /* Packets forwarded by this entry. */
    ovs_be64 byte_count;        /* Bytes forwarded by this entry. */
};
OFP_ASSERT(sizeof(struct nx_flexmap_stats) == 48);

/* Counters of one backend of an NXST_FLEXMAP reply entry. */
struct nx_flexmap_backend_stats {
    ovs_be64 packet_count;      /* Packets sent to this backend. */
    ovs_be64 byte_count;        /* Bytes sent to this backend. */
    ovs_be32 n_conns;           /* Active connections pinned to it. */
    uint8_t pad[4];             /* Must be zero. */
};
OFP_ASSERT(sizeof(struct nx_flexmap_backend_stats) == 24);

/* A decoded map command. */
struct ofputil_flexmap_cmd {
    enum nx_flexmap_command command;
    struct flexmap_entry entry;  /* Only table_id for NXFMC_DELETE_TABLE;
                                  * no backends for NXFMC_DELETE. */
};

/* A decoded NXST_FLEXMAP reply entry.  'backend_stats[i]' holds the counters
 * of 'entry.backends[i]', for i < entry.n_backends; a caller that does not
 * know per-backend counters must zero them. */
struct ofputil_flexmap_stats {
    struct flexmap_entry entry;
    uint64_t packet_count;
    uint64_t byte_count;
    struct flexmap_backend_stats backend_stats[FLEXMAP_MAX_BACKENDS];
};

/* Encoding and decoding NXT_FLEXMAP_MOD.
 *
 * ofputil_encode_flexmap_mods() appends to 'msgs' as many messages as the
 * commands need, each at most 'max_len' bytes (0 means the OpenFlow maximum
 * of 65535), keeping command order.  The commands of one message are applied
 * all or nothing; those of different messages are not. */
struct ofpbuf *ofputil_encode_flexmap_mod(enum ofp_version,
                                          const struct ofputil_flexmap_cmd *,
                                          size_t n_cmds);
void ofputil_encode_flexmap_mods(enum ofp_version,
                                 const struct ofputil_flexmap_cmd *,
                                 size_t n_cmds, size_t max_len,
                                 struct ovs_list *msgs);

/* Decodes 'oh' into a malloc()'d array '*cmdsp' of '*n_cmdsp' commands.
 * Checks the syntax of every command (lengths, command, table, family, key,
 * backend count, weights, flags, padding) but not whether ports exist.  On
 * error, '*cmdsp' is NULL and nothing needs freeing. */
enum ofperr ofputil_decode_flexmap_mod(const struct ofp_header *,
                                       struct ofputil_flexmap_cmd **cmdsp,
                                       size_t *n_cmdsp);

/* NXST_FLEXMAP request. */
struct ofpbuf *ofputil_encode_flexmap_stats_request(enum ofp_version,
                                                    uint8_t table_id);
enum ofperr ofputil_decode_flexmap_stats_request(const struct ofp_header *,
                                                 uint8_t *table_id);

/* NXST_FLEXMAP reply.  ofputil_append_flexmap_stats() appends one entry to
 * the replies in 'replies' (started with ofpmp_init()), splitting as needed.
 * ofputil_decode_flexmap_stats_reply() pulls the next entry from 'msg': it
 * returns 0 with an entry (and its per-backend counters), EOF at the end, or
 * an OFPERR_* value. */
void ofputil_append_flexmap_stats(struct ovs_list *replies,
                                  const struct ofputil_flexmap_stats *);
int ofputil_decode_flexmap_stats_reply(struct ofputil_flexmap_stats *,
                                       struct ofpbuf *msg);

/* Printing, for ovs-ofctl and ofp-print. */
enum ofperr ofputil_flexmap_mod_format(struct ds *, const struct ofp_header *,
                                       const struct ofputil_port_map *);
enum ofperr ofputil_flexmap_stats_request_format(struct ds *,
                                                 const struct ofp_header *);
enum ofperr ofputil_flexmap_stats_reply_format(
    struct ds *, const struct ofp_header *, const struct ofputil_port_map *);
void ofputil_flexmap_stats_format(const struct ofputil_flexmap_stats *,
                                  const struct ofputil_port_map *,
                                  struct ds *);

#endif /* ofp-flexmap.h */
