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

#include <netinet/in.h>
#include <string.h>

#include "cmap.h"
#include "dp-packet.h"
#include "flow.h"
#include "hash.h"
#include "odp-util.h"
#include "openvswitch/util.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "packets.h"
#include "timeval.h"
#include "util.h"

/* The per-packet path of the map cache: parsing a packet into its key and
 * 5-tuple, looking a batch up, choosing a pool's backend, counting and
 * rewriting.  The data structure it reads is described in
 * flexmap-cache-private.h.
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
 */

/* flexmap_packet_extract() hashes an IPv6 source and destination as one
 * 32-byte array. */
BUILD_ASSERT_DECL(offsetof(struct ovs_16aligned_ip6_hdr, ip6_dst)
                  == offsetof(struct ovs_16aligned_ip6_hdr, ip6_src) + 16);

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
               uint32_t hash, uint64_t now, bool *from_affinity,
               uint64_t *idp)
{
    struct flexmap_affinity_entry *ae;
    struct flexmap_affinity_key akey;
    int idx;

    *from_affinity = false;
    *idp = 0;
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
                *idp = flexmap_affinity_entry_backend(ae);
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

    /* Pool hits: hash their 5-tuples and load, stage by stage, what a
     * known connection reads: the entry's second line (version, counter
     * slots), the connection table's bucket, then the connection in it.
     * The backends and identities are read only for new connections and
     * after the pool changed. */
    aff = pools ? fc_affinity(cache, lane) : NULL;
    ULLONG_FOR_EACH_1 (i, pools) {
        struct fc_packet *pkt = &pkts[i];
        const struct flexmap_cache_entry *e = entries[i];

        fc_tuple_complete(&pkt->tuple, pkt->key.proto);
        pkt->tuple_hash = fc_tuple_hash(&pkt->tuple, &pkt->key);
        OVS_PREFETCH((const char *) e + CACHE_LINE_SIZE);
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
            uint64_t id;
            int idx;

            if (!now) {
                now = time_msec();      /* Once per batch. */
            }

            idx = fc_pool_select(aff, e, &pkt->key, &pkt->tuple,
                                 pkt->tuple_hash, now, &from_affinity, &id);
            if (OVS_UNLIKELY(idx < 0)) {
                dropped[j] = true;
                continue;
            }
            c = fc_counter(cache, lane, fc_entry_bslots(e)[idx]);
            non_atomic_ullong_add(&c->n_packets, 1);
            non_atomic_ullong_add(&c->n_bytes, size);
            if (id && e->plain_ports) {
                /* A known connection: no need to read the backends. */
                fc_backend_from_id(id, &mac, &port);
            } else {
                mac = e->backends[idx].mac;
                port = e->backends[idx].port;
            }
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
