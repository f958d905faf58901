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
#include "flexmap.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-parse.h"
#include "openvswitch/ofp-port.h"
#include "packets.h"
#include "util.h"

/* flexmap_key_hash() hashes keys as 32-bit words. */
BUILD_ASSERT_DECL(sizeof(struct flexmap_key) % sizeof(uint32_t) == 0);

/* Initializes 'key' for IPv4 address 'ip', IP protocol 'proto' (0: any) and
 * destination port 'port' (0: any). */
void
flexmap_key_init_ipv4(struct flexmap_key *key, ovs_be32 ip, uint8_t proto,
                      ovs_be16 port)
{
    memset(key, 0, sizeof *key);
    in6_addr_set_mapped_ipv4(&key->ip, ip);
    key->proto = proto;
    key->port = port;
}

/* Initializes 'key' for IPv6 address 'ip', IP protocol 'proto' (0: any) and
 * destination port 'port' (0: any).  An IPv4-mapped 'ip' makes an IPv4
 * key. */
void
flexmap_key_init_ipv6(struct flexmap_key *key, const struct in6_addr *ip,
                      uint8_t proto, ovs_be16 port)
{
    memset(key, 0, sizeof *key);
    key->ip = *ip;
    key->proto = proto;
    key->port = port;
}

/* Returns true if 'key' is an IPv4 key, that is, its address is
 * IPv4-mapped. */
bool
flexmap_key_is_ipv4(const struct flexmap_key *key)
{
    return IN6_IS_ADDR_V4MAPPED(&key->ip);
}

/* Returns the kind of 'key', which determines the order of lookups. */
enum flexmap_key_kind
flexmap_key_kind(const struct flexmap_key *key)
{
    return (!key->proto ? FLEXMAP_KEY_ANY_PROTO
            : !key->port ? FLEXMAP_KEY_ANY_PORT
            : FLEXMAP_KEY_EXACT);
}

/* Returns a hash of 'key', starting from 'basis'. */
uint32_t
flexmap_key_hash(const struct flexmap_key *key, uint32_t basis)
{
    return hash_words(ALIGNED_CAST(const uint32_t *, key),
                      sizeof *key / sizeof(uint32_t), basis);
}

/* Returns true if 'a' and 'b' are the same key. */
bool
flexmap_key_equal(const struct flexmap_key *a, const struct flexmap_key *b)
{
    return (ipv6_addr_equals(&a->ip, &b->ip)
            && a->proto == b->proto
            && a->pad == b->pad
            && a->port == b->port);
}

/* Returns true if 'proto' is an IP protocol that a key may name: 0 (any),
 * TCP, UDP or SCTP. */
static bool
flexmap_proto_is_valid(uint8_t proto)
{
    return (!proto || proto == IPPROTO_TCP || proto == IPPROTO_UDP
            || proto == IPPROTO_SCTP);
}

/* Returns true if 'ip' (IPv4 as IPv4-mapped) is a unicast address that
 * packets can be sent to from another host, as a map key or a tunnel
 * destination must be.  Refused are, for IPv4, 0.0.0.0/8 (this network),
 * 127.0.0.0/8 (loopback), 224.0.0.0/4 (multicast) and 240.0.0.0/4
 * (reserved, with the broadcast address 255.255.255.255); for IPv6, ::
 * (unspecified), ::1 (loopback) and ff00::/8 (multicast). */
bool
flexmap_ip_is_unicast(const struct in6_addr *ip)
{
    if (IN6_IS_ADDR_V4MAPPED(ip)) {
        uint8_t first = ntohl(in6_addr_get_mapped_ipv4(ip)) >> 24;

        return first != 0 && first != 127 && first < 224;
    }
    return (!ipv6_addr_equals(ip, &in6addr_any)
            && !ipv6_addr_equals(ip, &in6addr_loopback)
            && !ipv6_addr_is_multicast(ip));
}

/* Parses 's', a public address or a tunnel endpoint as users and the
 * database write them (IPv4 as a.b.c.d, or IPv6), into '*ip' (IPv4 as
 * IPv4-mapped).  An address must be unicast (flexmap_ip_is_unicast()), and
 * IPv4 is never written IPv4-mapped, so that an address has one spelling:
 * if 'canonical' is nonnull, that spelling is appended to it (a.b.c.d, or
 * IPv6 as inet_ntop() writes it, lowercase with zeros compressed).
 * Returns FLEXMAP_IP_OK, or why 's' is refused. */
enum flexmap_ip_parse_error
flexmap_ip_parse(const char *s, struct in6_addr *ip, struct ds *canonical)
{
    ovs_be32 ip4;

    if (ip_parse(s, &ip4)) {
        in6_addr_set_mapped_ipv4(ip, ip4);
    } else if (!ipv6_parse(s, ip)) {
        return FLEXMAP_IP_NOT_AN_ADDRESS;
    } else if (IN6_IS_ADDR_V4MAPPED(ip)) {
        return FLEXMAP_IP_MAPPED;
    }
    if (!flexmap_ip_is_unicast(ip)) {
        return FLEXMAP_IP_NOT_UNICAST;
    }
    if (canonical) {
        ipv6_format_mapped(ip, canonical);
    }
    return FLEXMAP_IP_OK;
}

/* Checks that 'key' is well formed: its protocol is 0, TCP, UDP or SCTP, a
 * port is given only with a protocol, the padding is zero and the address is
 * unicast (see flexmap_ip_is_unicast()).  Returns 0 if so, otherwise
 * OFPERR_NXFMFC_BAD_KEY.  (The address family follows from the address.) */
enum ofperr
flexmap_key_check(const struct flexmap_key *key)
{
    if (!flexmap_proto_is_valid(key->proto)
        || (!key->proto && key->port)
        || key->pad
        || !flexmap_ip_is_unicast(&key->ip)) {
        return OFPERR_NXFMFC_BAD_KEY;
    }
    return 0;
}

/* Returns the text name of 'proto' in the address family of an IPv4 ('ipv4'
 * true) or IPv6 key, or NULL if 'proto' has no name. */
static const char *
flexmap_proto_name(uint8_t proto, bool ipv4)
{
    switch (proto) {
    case 0:
        return ipv4 ? "ip" : "ipv6";
    case IPPROTO_TCP:
        return ipv4 ? "tcp" : "tcp6";
    case IPPROTO_UDP:
        return ipv4 ? "udp" : "udp6";
    case IPPROTO_SCTP:
        return ipv4 ? "sctp" : "sctp6";
    }
    return NULL;
}

/* Appends 'key' to 's' in the syntax that flexmap_entry_parse_key() accepts,
 * e.g. "tcp,nw_dst=203.0.113.10,tp_dst=80".  A key that fails
 * flexmap_key_check() is still printed, in a form that does not parse. */
void
flexmap_key_format(const struct flexmap_key *key, struct ds *s)
{
    bool ipv4 = flexmap_key_is_ipv4(key);
    const char *name = flexmap_proto_name(key->proto, ipv4);

    if (name) {
        ds_put_cstr(s, name);
    } else {
        ds_put_format(s, "%s,ip_proto=%"PRIu8, ipv4 ? "ip" : "ipv6",
                      key->proto);
    }
    ds_put_cstr(s, ipv4 ? ",nw_dst=" : ",ipv6_dst=");
    ipv6_format_mapped(&key->ip, s);
    if (key->port) {
        ds_put_format(s, ",tp_dst=%"PRIu16, ntohs(key->port));
    }
    if (key->pad) {
        ds_put_format(s, ",pad=%"PRIu8, key->pad);
    }
}

/* Returns the sum of the weights of the backends of 'entry'. */
uint32_t
flexmap_entry_weight_sum(const struct flexmap_entry *entry)
{
    uint32_t sum = 0;

    for (size_t i = 0; i < entry->n_backends; i++) {
        sum += entry->backends[i].weight;
    }
    return sum;
}

/* Returns true if 'port' is a port that a backend may be on: a physical
 * OpenFlow port number (1 to 0xfeff) or OFPP_LOCAL.  The other reserved
 * ports (IN_PORT, CONTROLLER, NONE, ...) and port 0 name no interface. */
bool
flexmap_backend_port_is_valid(ofp_port_t port)
{
    return ((ofp_to_u16(port) > 0 && ofp_to_u16(port) < ofp_to_u16(OFPP_MAX))
            || port == OFPP_LOCAL);
}

/* Checks backend 'b' as the switch would on an add, except for whether its
 * port exists and can tunnel.  Returns 0 if it is well formed, otherwise:
 *
 *     OFPERR_NXFMFC_BAD_BACKEND    a flag outside FLEXMAP_BACKEND_KNOWN_FLAGS,
 *                                  a zero or multicast MAC address, or a
 *                                  tunnel destination that is not unicast
 *                                  (see flexmap_ip_is_unicast()).
 *     OFPERR_NXFMFC_BAD_PORT       a port that no backend may be on (see
 *                                  flexmap_backend_port_is_valid()). */
enum ofperr
flexmap_backend_check(const struct flexmap_backend *b)
{
    if (b->flags & ~FLEXMAP_BACKEND_KNOWN_FLAGS
        || eth_addr_is_zero(b->mac)
        || eth_addr_is_multicast(b->mac)
        || (b->flags & FLEXMAP_BACKEND_TUNNEL
            && !flexmap_ip_is_unicast(&b->tun_dst))) {
        return OFPERR_NXFMFC_BAD_BACKEND;
    }
    if (!flexmap_backend_port_is_valid(b->port)) {
        return OFPERR_NXFMFC_BAD_PORT;
    }
    return 0;
}

/* Checks 'entry' as the switch would on an add, except for whether its ports
 * exist and whether tunnels are supported.  Returns 0 if it is well formed,
 * otherwise the first applicable error among, in order:
 *
 *     OFPERR_NXFMFC_BAD_TABLE            table id above FLEXMAP_MAX_TABLE.
 *     OFPERR_NXFMFC_BAD_KEY              see flexmap_key_check().
 *     OFPERR_NXFMFC_NO_BACKENDS          no backend.
 *     OFPERR_NXFMFC_TOO_MANY_BACKENDS    more than FLEXMAP_MAX_BACKENDS.
 *     OFPERR_NXFMFC_BAD_BACKEND or       backend by backend, see
 *     OFPERR_NXFMFC_BAD_PORT             flexmap_backend_check().
 *     OFPERR_NXFMFC_ZERO_WEIGHT          weights sum to zero. */
enum ofperr
flexmap_entry_check(const struct flexmap_entry *entry)
{
    enum ofperr error;

    if (entry->table_id > FLEXMAP_MAX_TABLE) {
        return OFPERR_NXFMFC_BAD_TABLE;
    }

    error = flexmap_key_check(&entry->key);
    if (error) {
        return error;
    }

    if (!entry->n_backends) {
        return OFPERR_NXFMFC_NO_BACKENDS;
    } else if (entry->n_backends > FLEXMAP_MAX_BACKENDS) {
        return OFPERR_NXFMFC_TOO_MANY_BACKENDS;
    }

    for (size_t i = 0; i < entry->n_backends; i++) {
        error = flexmap_backend_check(&entry->backends[i]);
        if (error) {
            return error;
        }
    }

    if (!flexmap_entry_weight_sum(entry)) {
        return OFPERR_NXFMFC_ZERO_WEIGHT;
    }
    return 0;
}

/* Returns true if backends 'a' and 'b' are the same.  The tunnel fields
 * count only if FLEXMAP_BACKEND_TUNNEL is set. */
static bool
flexmap_backend_equal(const struct flexmap_backend *a,
                      const struct flexmap_backend *b)
{
    if (!eth_addr_equals(a->mac, b->mac)
        || a->weight != b->weight
        || a->port != b->port
        || a->flags != b->flags) {
        return false;
    }
    return (!(a->flags & FLEXMAP_BACKEND_TUNNEL)
            || (ipv6_addr_equals(&a->tun_dst, &b->tun_dst)
                && a->tun_id == b->tun_id));
}

/* Returns true if 'a' and 'b' have the same table, key and backends, the
 * latter in the same order. */
bool
flexmap_entry_equal(const struct flexmap_entry *a,
                    const struct flexmap_entry *b)
{
    if (a->table_id != b->table_id
        || !flexmap_key_equal(&a->key, &b->key)
        || a->n_backends != b->n_backends) {
        return false;
    }
    for (size_t i = 0; i < a->n_backends; i++) {
        if (!flexmap_backend_equal(&a->backends[i], &b->backends[i])) {
            return false;
        }
    }
    return true;
}

/* Text parsing. */

/* Parses 's' as a tunnel id, in decimal or with a "0x" prefix in hex, into
 * '*tun_id'.  Returns true if successful.
 *
 * Every character after the optional prefix must be a digit of the base, so
 * that strtoull() cannot accept a sign, white space or a second "0x". */
static bool
parse_tun_id(const char *s, ovs_be64 *tun_id)
{
    int base = 10;
    char *tail;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!s[0]) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (base == 16
            ? !isxdigit((unsigned char) *p)
            : !isdigit((unsigned char) *p)) {
            return false;
        }
    }

    errno = 0;
    unsigned long long int value = strtoull(s, &tail, base);
    if (errno || *tail) {
        return false;
    }
    *tun_id = htonll(value);
    return true;
}

/* Parses 's' as an integer between 'min' and 'max' inclusive into '*valuep'.
 * Returns true if successful. */
static bool
parse_uint_range(const char *s, unsigned int min, unsigned int max,
                 unsigned int *valuep)
{
    unsigned int value;

    if (!isdigit((unsigned char) s[0]) || !str_to_uint(s, 10, &value)
        || value < min || value > max) {
        return false;
    }
    *valuep = value;
    return true;
}

/* The delimiters between key-value pairs. */
#define FLEXMAP_DELIMS ", \t\r\n"

/* Returns the character after the quoted string that starts at 'p' (a '"',
 * as ofputil_format_port() quotes a port name that is not a plain word, with
 * backslash escapes), or the terminating null byte if the quote is not
 * closed (the port parser refuses such a value). */
static char *
flexmap_skip_quoted(char *p)
{
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {
            p++;
        }
    }
    return *p ? p + 1 : p;
}

/* Parses the next key-value pair from '*stringp', like
 * ofputil_parse_key_value(), of the forms KEY, KEY=VALUE (or KEY:VALUE) and
 * KEY(VALUE), but strictly: a "(" must be closed by its ")" and followed by
 * a delimiter or the end, a VALUE holds no parenthesis, and a key must not
 * be empty.  Delimiters and parentheses inside a quoted string (a port
 * name) are part of the value.
 *
 * Returns true with '*keyp' and '*valuep' (empty if there is none) set to
 * substrings of '*stringp', which this function modifies, and '*stringp'
 * advanced past the pair.  Returns false at the end of the input (nothing
 * left but delimiters), with '*errorp' NULL, or on a syntax error, with
 * '*errorp' a malloc()'d message. */
static bool
flexmap_parse_key_value(char **stringp, char **keyp, char **valuep,
                        char **errorp)
{
    char *s = *stringp + strspn(*stringp, FLEXMAP_DELIMS);
    char *key, *value;
    size_t key_len;
    char delim;

    *errorp = NULL;
    if (!*s) {
        *stringp = s;
        return false;
    }

    key = s;
    key_len = strcspn(key, ":=()" FLEXMAP_DELIMS);
    delim = key[key_len];
    if (!key_len) {
        *errorp = xasprintf("missing keyword before `%c'", delim);
        return false;
    } else if (delim == ')') {
        key[key_len] = '\0';
        *errorp = xasprintf("%s: unexpected `)'", key);
        return false;
    }
    key[key_len] = '\0';
    value = key + key_len + (delim != '\0');

    if (delim == '(') {
        int level = 1;
        char *p;

        for (p = value; *p; p++) {
            if (*p == '"') {
                p = flexmap_skip_quoted(p) - 1;
            } else if (*p == '(') {
                level++;
            } else if (*p == ')' && !--level) {
                break;
            }
        }
        if (!*p) {
            *errorp = xasprintf("%s: missing `)'", key);
            return false;
        }
        *p++ = '\0';
        if (*p && !strchr(FLEXMAP_DELIMS, *p)) {
            *errorp = xasprintf("%s(...): unexpected `%c' after `)'",
                                key, *p);
            return false;
        }
        *stringp = p;
    } else if (delim == '=' || delim == ':') {
        char *paren = NULL;
        size_t value_len;
        char *end;

        for (end = value; *end && !strchr(FLEXMAP_DELIMS, *end); ) {
            if (*end == '"') {
                end = flexmap_skip_quoted(end);
                continue;
            } else if (!paren && (*end == '(' || *end == ')')) {
                paren = end;
            }
            end++;
        }
        value_len = end - value;
        if (paren) {
            value[value_len] = '\0';
            *errorp = xasprintf("%s: %s: unexpected `%c'", key, value,
                                *paren);
            return false;
        }
        *stringp = value + value_len + (value[value_len] != '\0');
        value[value_len] = '\0';
    } else {
        *stringp = value;
        value = key + key_len;  /* The empty string. */
    }

    *keyp = key;
    *valuep = value;
    return true;
}

/* Returns true if 'key' names one of the counters that "ovs-ofctl dump-maps"
 * prints.  The parser ignores these, whatever their values, at top level and
 * inside "backend(...)", so that dump-maps output feeds back into add-maps
 * unchanged, just as OVS's flow parser ignores duration, n_packets, n_bytes
 * and the like so that dump-flows output feeds back into add-flows. */
static bool
is_dump_counter(const char *key)
{
    return (!strcmp(key, "n_packets")
            || !strcmp(key, "n_bytes")
            || !strcmp(key, "n_conns"));
}

/* Parses 'args', the text inside "backend(...)", into 'b'.  Returns NULL if
 * successful, otherwise a malloc()'d error message. */
static char * OVS_WARN_UNUSED_RESULT
parse_backend(struct flexmap_backend *b, char *args,
              const struct ofputil_port_map *port_map)
{
    bool have_mac = false, have_port = false, have_weight = false;
    bool have_tun_dst = false, have_tun_id = false;
    char *key, *value;

    memset(b, 0, sizeof *b);
    b->weight = 1;

    for (;;) {
        char *error;
        bool *seen;

        if (!flexmap_parse_key_value(&args, &key, &value, &error)) {
            if (error) {
                char *msg = xasprintf("backend: %s", error);

                free(error);
                return msg;
            }
            break;
        }

        if (is_dump_counter(key)) {
            /* Per-backend counters from dump-maps: ignored, see
             * is_dump_counter(). */
            continue;
        }

        if (!strcmp(key, "mac")) {
            seen = &have_mac;
        } else if (!strcmp(key, "port")) {
            seen = &have_port;
        } else if (!strcmp(key, "weight")) {
            seen = &have_weight;
        } else if (!strcmp(key, "tun_dst")) {
            seen = &have_tun_dst;
        } else if (!strcmp(key, "tun_id")) {
            seen = &have_tun_id;
        } else if (!strcmp(key, "unresolved")) {
            return xstrdup("backend: unresolved: the interface this backend "
                           "was written for is gone; name an existing port "
                           "or leave the backend out");
        } else {
            return xasprintf("backend: %s: unknown keyword", key);
        }
        if (*seen) {
            return xasprintf("backend: %s: specified more than once", key);
        }
        *seen = true;

        if (!*value) {
            return xasprintf("backend: %s: missing value", key);
        }

        if (seen == &have_mac) {
            if (!eth_addr_from_string(value, &b->mac)) {
                return xasprintf("backend: mac: %s: invalid Ethernet address",
                                 value);
            } else if (eth_addr_is_zero(b->mac)) {
                return xasprintf("backend: mac: %s: address must be nonzero",
                                 value);
            } else if (eth_addr_is_multicast(b->mac)) {
                return xasprintf("backend: mac: %s: address must be unicast",
                                 value);
            }
        } else if (seen == &have_port) {
            if (!ofputil_port_from_string(value, port_map, &b->port)) {
                return xasprintf("backend: port: %s: unknown port", value);
            } else if (!flexmap_backend_port_is_valid(b->port)) {
                return xasprintf("backend: port: %s: not a port a backend "
                                 "can be on (a port number, a port name or "
                                 "LOCAL)", value);
            }
        } else if (seen == &have_weight) {
            unsigned int weight;

            if (!parse_uint_range(value, 0, UINT16_MAX, &weight)) {
                return xasprintf("backend: weight: %s: invalid weight "
                                 "(0 to 65535)", value);
            }
            b->weight = weight;
        } else if (seen == &have_tun_dst) {
            ovs_be32 ip4;

            if (ip_parse(value, &ip4)) {
                in6_addr_set_mapped_ipv4(&b->tun_dst, ip4);
            } else if (!ipv6_parse(value, &b->tun_dst)) {
                return xasprintf("backend: tun_dst: %s: invalid IP address",
                                 value);
            }
            if (!flexmap_ip_is_unicast(&b->tun_dst)) {
                return xasprintf("backend: tun_dst: %s: not a unicast "
                                 "address", value);
            }
        } else {
            if (!parse_tun_id(value, &b->tun_id)) {
                return xasprintf("backend: tun_id: %s: invalid tunnel id",
                                 value);
            }
        }
    }

    if (!have_mac) {
        return xstrdup("backend: missing mac");
    } else if (!have_port) {
        return xstrdup("backend: missing port");
    } else if (have_tun_dst != have_tun_id) {
        return xstrdup("backend: tun_dst and tun_id must be given together");
    }
    if (have_tun_dst) {
        b->flags |= FLEXMAP_BACKEND_TUNNEL;
    }
    return NULL;
}

/* Protocol keywords. */
struct flexmap_proto_keyword {
    const char *name;
    bool ipv4;
    uint8_t proto;
};

static const struct flexmap_proto_keyword flexmap_proto_keywords[] = {
    { "ip",    true,  0 },
    { "tcp",   true,  IPPROTO_TCP },
    { "udp",   true,  IPPROTO_UDP },
    { "sctp",  true,  IPPROTO_SCTP },
    { "ipv6",  false, 0 },
    { "tcp6",  false, IPPROTO_TCP },
    { "udp6",  false, IPPROTO_UDP },
    { "sctp6", false, IPPROTO_SCTP },
};

static const struct flexmap_proto_keyword *
flexmap_proto_keyword_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(flexmap_proto_keywords); i++) {
        if (!strcmp(name, flexmap_proto_keywords[i].name)) {
            return &flexmap_proto_keywords[i];
        }
    }
    return NULL;
}

/* Parses 'string', which this function modifies, into 'entry'.  See
 * flexmap_entry_parse() and flexmap_entry_parse_key() for the meaning of
 * 'key_only' and 'key_given', which may be NULL if 'key_only' is false. */
static char * OVS_WARN_UNUSED_RESULT
parse_entry__(struct flexmap_entry *entry, char *string,
              const struct ofputil_port_map *port_map, bool key_only,
              bool *key_given)
{
    const struct flexmap_proto_keyword *proto = NULL;
    bool have_table = false, have_nw_dst = false, have_ipv6_dst = false;
    bool have_tp_dst = false;
    struct in6_addr ip6 = in6addr_any;
    ovs_be32 ip4 = 0;
    uint16_t tp_dst = 0;
    char *key, *value;

    memset(entry, 0, sizeof *entry);
    if (key_given) {
        *key_given = false;
    }

    for (;;) {
        const struct flexmap_proto_keyword *kw;
        unsigned int n;
        char *error;

        if (!flexmap_parse_key_value(&string, &key, &value, &error)) {
            if (error) {
                return error;
            }
            break;
        }

        kw = flexmap_proto_keyword_find(key);
        if (kw) {
            if (*value) {
                return xasprintf("%s: unexpected value %s", key, value);
            } else if (proto) {
                return xasprintf("%s: protocol specified more than once",
                                 key);
            }
            proto = kw;
            continue;
        }
        if (!key_only && is_dump_counter(key)) {
            /* Entry counters from dump-maps: ignored, see
             * is_dump_counter().  A key alone (del-maps) does not take them,
             * so that a stray counter cannot widen a delete to every
             * table. */
            continue;
        }

        bool *seen;
        if (!strcmp(key, "table")) {
            seen = &have_table;
        } else if (!strcmp(key, "nw_dst")) {
            seen = &have_nw_dst;
        } else if (!strcmp(key, "ipv6_dst")) {
            seen = &have_ipv6_dst;
        } else if (!strcmp(key, "tp_dst")) {
            seen = &have_tp_dst;
        } else if (!strcmp(key, "backend")) {
            if (key_only) {
                return xstrdup("backend: not allowed here (key only)");
            } else if (entry->n_backends >= FLEXMAP_MAX_BACKENDS) {
                return xasprintf("too many backends (max %d)",
                                 FLEXMAP_MAX_BACKENDS);
            }
            error = parse_backend(&entry->backends[entry->n_backends],
                                  value, port_map);
            if (error) {
                return error;
            }
            entry->n_backends++;
            continue;
        } else {
            return xasprintf("%s: unknown keyword", key);
        }

        if (*seen) {
            return xasprintf("%s: specified more than once", key);
        } else if (!*value) {
            return xasprintf("%s: missing value", key);
        }
        *seen = true;

        if (seen == &have_table) {
            if (!parse_uint_range(value, 0, FLEXMAP_MAX_TABLE, &n)) {
                return xasprintf("table: %s: invalid table (0 to %d)",
                                 value, FLEXMAP_MAX_TABLE);
            }
            entry->table_id = n;
        } else if (seen == &have_nw_dst) {
            struct in6_addr mapped;

            if (!ip_parse(value, &ip4)) {
                return xasprintf("nw_dst: %s: invalid IPv4 address", value);
            }
            in6_addr_set_mapped_ipv4(&mapped, ip4);
            if (!flexmap_ip_is_unicast(&mapped)) {
                return xasprintf("nw_dst: %s: not a unicast address", value);
            }
        } else if (seen == &have_ipv6_dst) {
            if (!ipv6_parse(value, &ip6)) {
                return xasprintf("ipv6_dst: %s: invalid IPv6 address", value);
            } else if (IN6_IS_ADDR_V4MAPPED(&ip6)) {
                return xasprintf("ipv6_dst: %s: IPv4-mapped address not "
                                 "allowed (use ip and nw_dst)", value);
            } else if (!flexmap_ip_is_unicast(&ip6)) {
                return xasprintf("ipv6_dst: %s: not a unicast address",
                                 value);
            }
        } else {
            if (!parse_uint_range(value, 1, UINT16_MAX, &n)) {
                return xasprintf("tp_dst: %s: invalid port (1 to 65535)",
                                 value);
            }
            tp_dst = n;
        }
    }

    if (key_only && !proto && !have_nw_dst && !have_ipv6_dst
        && !have_tp_dst) {
        /* "table=N" or nothing at all. */
        if (!have_table) {
            entry->table_id = FLEXMAP_ALL_TABLES;
        }
        return NULL;
    }

    if (!proto) {
        return xstrdup("missing protocol (one of ip, tcp, udp, sctp, ipv6, "
                       "tcp6, udp6, sctp6)");
    } else if (proto->ipv4) {
        if (have_ipv6_dst) {
            return xstrdup("ipv6_dst requires ipv6, tcp6, udp6 or sctp6");
        } else if (!have_nw_dst) {
            return xstrdup("missing nw_dst");
        } else if (have_tp_dst && !proto->proto) {
            return xstrdup("tp_dst requires tcp, udp or sctp");
        }
        flexmap_key_init_ipv4(&entry->key, ip4, proto->proto, htons(tp_dst));
    } else {
        if (have_nw_dst) {
            return xstrdup("nw_dst requires ip, tcp, udp or sctp");
        } else if (!have_ipv6_dst) {
            return xstrdup("missing ipv6_dst");
        } else if (have_tp_dst && !proto->proto) {
            return xstrdup("tp_dst requires tcp6, udp6 or sctp6");
        }
        flexmap_key_init_ipv6(&entry->key, &ip6, proto->proto, htons(tp_dst));
    }
    if (key_given) {
        *key_given = true;
    }

    if (!key_only) {
        if (!entry->n_backends) {
            return xstrdup("missing backend (at least one required)");
        } else if (!flexmap_entry_weight_sum(entry)) {
            return xstrdup("backend weights sum to zero (at least one must be "
                           "nonzero)");
        }
    }
    return NULL;
}

/* Parses 's', the text syntax of one map entry (see flexmap.h), into
 * 'entry', resolving port names through 'port_map' (which may be NULL).
 *
 * Returns NULL if successful, otherwise a malloc()'d error message that the
 * caller must free().  On error, 'entry' is indeterminate. */
char * OVS_WARN_UNUSED_RESULT
flexmap_entry_parse(struct flexmap_entry *entry, const char *s,
                    const struct ofputil_port_map *port_map)
{
    char *copy = xstrdup(s);
    char *error = parse_entry__(entry, copy, port_map, false, NULL);
    free(copy);
    return error;
}

/* Parses 's' into the table and key of 'entry', with the syntax of
 * flexmap_entry_parse() but without backends, as "ovs-ofctl del-maps" takes
 * it.  Sets '*key_given' to true if 's' names a key.  Otherwise, that is, if
 * 's' is just "table=N" or empty, sets '*key_given' to false and the table to
 * N or, if 's' is empty, to FLEXMAP_ALL_TABLES.  'entry' never has backends.
 *
 * Returns NULL if successful, otherwise a malloc()'d error message that the
 * caller must free(). */
char * OVS_WARN_UNUSED_RESULT
flexmap_entry_parse_key(struct flexmap_entry *entry, const char *s,
                        const struct ofputil_port_map *port_map,
                        bool *key_given)
{
    char *copy = xstrdup(s);
    char *error = parse_entry__(entry, copy, port_map, true, key_given);
    free(copy);
    return error;
}

/* Appends backend 'b' to 's' as the text inside "backend(...)", naming its
 * port through 'port_map' (which may be NULL). */
void
flexmap_backend_format(const struct flexmap_backend *b,
                       const struct ofputil_port_map *port_map, struct ds *s)
{
    bool unresolved = b->flags & FLEXMAP_BACKEND_UNRESOLVED;

    ds_put_format(s, "mac="ETH_ADDR_FMT",port=", ETH_ADDR_ARGS(b->mac));
    /* An unresolved backend's port number may belong to another interface
     * by now: never print that interface's name. */
    ofputil_format_port(b->port, unresolved ? NULL : port_map, s);
    if (unresolved) {
        ds_put_cstr(s, ",unresolved");
    }
    if (b->weight != 1) {
        ds_put_format(s, ",weight=%"PRIu16, b->weight);
    }
    if (b->flags & FLEXMAP_BACKEND_TUNNEL) {
        ds_put_cstr(s, ",tun_dst=");
        ipv6_format_mapped(&b->tun_dst, s);
        ds_put_format(s, ",tun_id=0x%"PRIx64, ntohll(b->tun_id));
    }
}

/* Appends 'entry' to 's' in the syntax that flexmap_entry_parse() accepts,
 * naming ports through 'port_map' (which may be NULL). */
void
flexmap_entry_format(const struct flexmap_entry *entry,
                     const struct ofputil_port_map *port_map, struct ds *s)
{
    flexmap_entry_format_stats(entry, NULL, port_map, s);
}

/* Appends 'entry' to 's' like flexmap_entry_format().  If 'bstats' is
 * nonnull, it holds 'entry->n_backends' backend counters, one per backend in
 * order; if the entry has more than one backend, each backend's text then
 * ends in ",n_packets=N,n_bytes=M,n_conns=C".  (With a single backend, the
 * entry's own counters say it all, so nothing is added.)  The parser ignores
 * these counters, so the output still parses to 'entry'. */
void
flexmap_entry_format_stats(const struct flexmap_entry *entry,
                           const struct flexmap_backend_stats *bstats,
                           const struct ofputil_port_map *port_map,
                           struct ds *s)
{
    bool show_stats = bstats && entry->n_backends > 1;

    ds_put_format(s, "table=%"PRIu8",", entry->table_id);
    flexmap_key_format(&entry->key, s);
    for (size_t i = 0; i < entry->n_backends; i++) {
        ds_put_cstr(s, ",backend(");
        flexmap_backend_format(&entry->backends[i], port_map, s);
        if (show_stats) {
            ds_put_format(s, ",n_packets=%"PRIu64",n_bytes=%"PRIu64
                          ",n_conns=%"PRIu32, bstats[i].n_packets,
                          bstats[i].n_bytes, bstats[i].n_conns);
        }
        ds_put_char(s, ')');
    }
}

/* Reads the next line of map entries from 'file' into 'ds', the way
 * ds_get_preprocessed_line() does (a "#" starts a comment; lines that are
 * then blank are skipped; '*line_number' counts every line read), except
 * that a line holding a NUL byte is an error: the parser would stop at it
 * and silently drop the rest of the line.
 *
 * Returns 0 if successful, EOF at the end of 'file', or EINVAL if the line
 * numbered '*line_number' holds a NUL byte. */
int
flexmap_get_line(struct ds *ds, FILE *file, int *line_number)
{
    while (!ds_get_line(ds, file)) {
        char *line = ds_cstr(ds);
        char *comment;

        ++*line_number;
        if (strlen(line) != ds->length) {
            return EINVAL;
        }
        comment = strchr(line, '#');
        if (comment) {
            *comment = '\0';
        }
        if (line[strspn(line, " \t\r\n")]) {
            return 0;
        }
    }
    return EOF;
}
