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

/* Unit tests for the flexmap text syntax (lib/flexmap.c) and OpenFlow codec
 * (lib/ofp-flexmap.c). */

#include <config.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flexmap.h"
#include "flow.h"
#include "ofp-flexmap.h"
#include "openflow/nicira-ext.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/ofpbuf.h"
#include "packets.h"
#include "util.h"

/* Port map used by every test: 1 "web1", 2 "web2", 3 "db1", 10 "vx0". */
static struct ofputil_port_map port_map
    = OFPUTIL_PORT_MAP_INITIALIZER(&port_map);

static void
port_map_setup(void)
{
    ofputil_port_map_put(&port_map, u16_to_ofp(1), "web1");
    ofputil_port_map_put(&port_map, u16_to_ofp(2), "web2");
    ofputil_port_map_put(&port_map, u16_to_ofp(3), "db1");
    ofputil_port_map_put(&port_map, u16_to_ofp(10), "vx0");
}

/* Helpers. */

#define B1 "backend(mac=02:00:00:00:01:01,port=web1)"

static const char example_v4[] =
    "table=1,tcp,nw_dst=203.0.113.10,tp_dst=80,"
    "backend(mac=02:00:00:00:01:01,port=web1),"
    "backend(mac=02:00:00:00:01:02,port=web2,weight=2)";
static const char example_v6[] =
    "table=1,tcp6,ipv6_dst=2001:db8::10,tp_dst=443,"
    "backend(mac=02:00:00:00:01:03,port=vx0,tun_dst=192.0.2.2,tun_id=5001)";
static const char example_ip[] =
    "table=1,ip,nw_dst=203.0.113.11,backend(mac=02:00:00:00:01:04,port=db1)";

static struct flexmap_entry *
entry_new(void)
{
    return xzalloc(sizeof(struct flexmap_entry));
}

/* Parses 's' into 'e', failing the test on error. */
static void
parse_ok(struct flexmap_entry *e, const char *s)
{
    char *error = flexmap_entry_parse(e, s, &port_map);

    ck_assert_msg(!error, "parsing \"%s\" failed: %s", s, error);
}

/* Returns a malloc()'d string: 'e' formatted with 'map'. */
static char *
format_entry(const struct flexmap_entry *e,
             const struct ofputil_port_map *map)
{
    struct ds s = DS_EMPTY_INITIALIZER;

    flexmap_entry_format(e, map, &s);
    return ds_steal_cstr(&s);
}

/* Parses 's', checks that it formats as 'expected' (or 's' itself if
 * 'expected' is NULL), and that the output parses back to an equal entry. */
static void
assert_text_round_trip(const char *s, const char *expected)
{
    struct flexmap_entry *a = entry_new(), *b = entry_new();
    char *text;

    parse_ok(a, s);
    ck_assert_int_eq(flexmap_entry_check(a), 0);
    text = format_entry(a, &port_map);
    ck_assert_str_eq(text, expected ? expected : s);
    parse_ok(b, text);
    ck_assert_msg(flexmap_entry_equal(a, b), "\"%s\" did not round trip",
                  text);
    free(text);
    free(a);
    free(b);
}

/* Fills 'e' with a test entry.  'seed' varies the contents. */
static void
make_entry(struct flexmap_entry *e, unsigned int seed, bool ipv6,
           uint8_t proto, uint16_t port, size_t n_backends)
{
    memset(e, 0, sizeof *e);
    e->table_id = seed % 255;
    if (ipv6) {
        struct in6_addr ip6;

        ovs_assert(ipv6_parse("2001:db8::", &ip6));
        ip6.s6_addr[14] = seed >> 8;
        ip6.s6_addr[15] = seed;
        flexmap_key_init_ipv6(&e->key, &ip6, proto, htons(port));
    } else {
        flexmap_key_init_ipv4(&e->key, htonl(0xcb007100 + seed), proto,
                              htons(port));
    }
    e->n_backends = n_backends;
    for (size_t i = 0; i < n_backends; i++) {
        struct flexmap_backend *b = &e->backends[i];

        b->mac = (struct eth_addr) ETH_ADDR_C(02, 00, 00, 00, 00, 00);
        b->mac.ea[3] = seed;
        b->mac.ea[4] = seed >> 8;
        b->mac.ea[5] = i;
        b->weight = i % 3 + 1;
        b->port = u16_to_ofp(i + 1);
        if (i % 4 == 3) {
            b->flags = FLEXMAP_BACKEND_TUNNEL;
            in6_addr_set_mapped_ipv4(&b->tun_dst, htonl(0xc0000200 + i));
            b->tun_id = htonll(5000 + i);
        }
    }
}

static void
make_cmd(struct ofputil_flexmap_cmd *cmd, enum nx_flexmap_command command,
         unsigned int seed, size_t n_backends)
{
    cmd->command = command;
    make_entry(&cmd->entry, seed, seed % 2, IPPROTO_TCP, 80 + seed,
               command == NXFMC_ADD ? n_backends : 0);
    if (command == NXFMC_DELETE_TABLE) {
        memset(&cmd->entry.key, 0, sizeof cmd->entry.key);
    }
}

static bool
cmd_equal(const struct ofputil_flexmap_cmd *a,
          const struct ofputil_flexmap_cmd *b)
{
    if (a->command != b->command
        || a->entry.table_id != b->entry.table_id) {
        return false;
    }
    return (a->command == NXFMC_DELETE_TABLE
            || flexmap_entry_equal(&a->entry, &b->entry));
}

/* Decodes 'msg', expecting error 'expected' (0 for success).  On error, also
 * checks that nothing was returned. */
static void
assert_decode_error(const struct ofpbuf *msg, enum ofperr expected)
{
    static struct ofputil_flexmap_cmd sentinel;
    struct ofputil_flexmap_cmd *cmds = &sentinel;
    size_t n = 12345;
    enum ofperr error;

    error = ofputil_decode_flexmap_mod(msg->data, &cmds, &n);
    ck_assert_msg(error == expected, "expected %s, got %s",
                  expected ? ofperr_get_name(expected) : "success",
                  error ? ofperr_get_name(error) : "success");
    if (error) {
        ck_assert_ptr_null(cmds);
        ck_assert_uint_eq(n, 0);
    }
    free(cmds);
}

/* Returns the first command in NXT_FLEXMAP_MOD 'msg'. */
static struct nx_flexmap_cmd *
msg_cmd(struct ofpbuf *msg)
{
    return ALIGNED_CAST(struct nx_flexmap_cmd *,
                        (char *) msg->msg + sizeof(struct nx_flexmap_mod));
}

static struct nx_flexmap_mod *
msg_mod(struct ofpbuf *msg)
{
    return msg->msg;
}

/* Returns backend 'i' of the first command in 'msg'. */
static struct nx_flexmap_backend *
msg_backend(struct ofpbuf *msg, size_t i)
{
    return ALIGNED_CAST(struct nx_flexmap_backend *, msg_cmd(msg) + 1) + i;
}

/* Returns a one-command NXT_FLEXMAP_MOD (OpenFlow 1.3) that adds a valid
 * IPv4 TCP entry with 'n_backends' backends. */
static struct ofpbuf *
encode_add(size_t n_backends)
{
    struct ofputil_flexmap_cmd *cmd = xzalloc(sizeof *cmd);
    struct ofpbuf *msg;

    cmd->command = NXFMC_ADD;
    make_entry(&cmd->entry, 2, false, IPPROTO_TCP, 80, n_backends);
    msg = ofputil_encode_flexmap_mod(OFP13_VERSION, cmd, 1);
    assert_decode_error(msg, 0);
    free(cmd);
    return msg;
}

/* Returns a one-command NXT_FLEXMAP_MOD with 'command' and no backends. */
static struct ofpbuf *
encode_simple(enum nx_flexmap_command command, uint8_t table_id)
{
    struct ofputil_flexmap_cmd *cmd = xzalloc(sizeof *cmd);
    struct ofpbuf *msg;

    make_cmd(cmd, command, 2, 0);
    cmd->entry.table_id = table_id;
    msg = ofputil_encode_flexmap_mod(OFP13_VERSION, cmd, 1);
    free(cmd);
    return msg;
}

/* Appends a copy of the last backend of the (only) command in 'msg' and
 * fixes up every length. */
static void
msg_add_backend(struct ofpbuf *msg)
{
    struct nx_flexmap_cmd *nfc = msg_cmd(msg);
    size_t n = ntohs(nfc->n_backends);
    struct nx_flexmap_backend copy;

    ck_assert_uint_gt(n, 0);
    copy = *msg_backend(msg, n - 1);
    ofpbuf_put(msg, &copy, sizeof copy);
    nfc = msg_cmd(msg);
    nfc->n_backends = htons(n + 1);
    nfc->len = htons(ntohs(nfc->len) + sizeof copy);
    ofpmsg_update_length(msg);
}

/* Text tests. */

/* A port name that is not a plain word is quoted by the formatter (as OVS
 * quotes port names in flows); its parentheses, commas and spaces are part
 * of the name, and the entry parses back. */
START_TEST(test_text_quoted_port_names)
{
    struct ofputil_port_map map = OFPUTIL_PORT_MAP_INITIALIZER(&map);
    struct flexmap_entry *a = entry_new(), *b = entry_new();
    char *error, *text;

    ofputil_port_map_put(&map, u16_to_ofp(11), "veth(1)");
    ofputil_port_map_put(&map, u16_to_ofp(12), "a b,c");
    error = flexmap_entry_parse(
        a, "table=1,tcp,nw_dst=203.0.113.10,tp_dst=80,"
        "backend(mac=02:00:00:00:01:01,port=11),"
        "backend(mac=02:00:00:00:01:02,port=12)", &map);
    ck_assert_msg(!error, "%s", error);
    text = format_entry(a, &map);
    ck_assert_msg(strstr(text, "port=\"veth(1)\"")
                  && strstr(text, "port=\"a b,c\""), "%s", text);
    error = flexmap_entry_parse(b, text, &map);
    ck_assert_msg(!error, "\"%s\": %s", text, error);
    ck_assert(flexmap_entry_equal(a, b));
    ck_assert_uint_eq(ofp_to_u16(b->backends[0].port), 11);
    ck_assert_uint_eq(ofp_to_u16(b->backends[1].port), 12);

    free(text);
    free(a);
    free(b);
    ofputil_port_map_destroy(&map);
}
END_TEST

START_TEST(test_text_example_v4)
{
    struct flexmap_entry *e = entry_new();

    parse_ok(e, example_v4);
    ck_assert_uint_eq(e->table_id, 1);
    ck_assert(flexmap_key_is_ipv4(&e->key));
    ck_assert_uint_eq(ntohl(in6_addr_get_mapped_ipv4(&e->key.ip)),
                      0xcb00710a);
    ck_assert_uint_eq(e->key.proto, IPPROTO_TCP);
    ck_assert_uint_eq(ntohs(e->key.port), 80);
    ck_assert_uint_eq(e->n_backends, 2);
    ck_assert(eth_addr_equals(e->backends[0].mac,
                              (struct eth_addr) ETH_ADDR_C(02, 00, 00, 00,
                                                           01, 01)));
    ck_assert_uint_eq(ofp_to_u16(e->backends[0].port), 1);
    ck_assert_uint_eq(e->backends[0].weight, 1);
    ck_assert_uint_eq(ofp_to_u16(e->backends[1].port), 2);
    ck_assert_uint_eq(e->backends[1].weight, 2);
    ck_assert_uint_eq(e->backends[1].flags, 0);
    ck_assert_uint_eq(flexmap_entry_weight_sum(e), 3);
    free(e);

    assert_text_round_trip(example_v4, NULL);
}
END_TEST

START_TEST(test_text_example_v6_tunnel)
{
    struct flexmap_entry *e = entry_new();
    struct in6_addr ip6;
    const struct flexmap_backend *b;

    parse_ok(e, example_v6);
    ck_assert(!flexmap_key_is_ipv4(&e->key));
    ck_assert(ipv6_parse("2001:db8::10", &ip6));
    ck_assert(ipv6_addr_equals(&e->key.ip, &ip6));
    ck_assert_uint_eq(e->key.proto, IPPROTO_TCP);
    ck_assert_uint_eq(ntohs(e->key.port), 443);
    b = &e->backends[0];
    ck_assert_uint_eq(b->flags, FLEXMAP_BACKEND_TUNNEL);
    ck_assert(IN6_IS_ADDR_V4MAPPED(&b->tun_dst));
    ck_assert_uint_eq(ntohl(in6_addr_get_mapped_ipv4(&b->tun_dst)),
                      0xc0000202);
    ck_assert_uint_eq(ntohll(b->tun_id), 5001);
    ck_assert_uint_eq(ofp_to_u16(b->port), 10);
    free(e);

    /* tun_id is printed in hex. */
    assert_text_round_trip(example_v6,
                           "table=1,tcp6,ipv6_dst=2001:db8::10,tp_dst=443,"
                           "backend(mac=02:00:00:00:01:03,port=vx0,"
                           "tun_dst=192.0.2.2,tun_id=0x1389)");
}
END_TEST

START_TEST(test_text_any_proto)
{
    struct flexmap_entry *e = entry_new();

    parse_ok(e, example_ip);
    ck_assert_uint_eq(e->key.proto, 0);
    ck_assert_uint_eq(e->key.port, 0);
    ck_assert_int_eq(flexmap_key_kind(&e->key), FLEXMAP_KEY_ANY_PROTO);
    free(e);
    assert_text_round_trip(example_ip, NULL);
    assert_text_round_trip("table=0,ipv6,ipv6_dst=2001:db8::1," B1, NULL);
}
END_TEST

START_TEST(test_text_each_protocol)
{
    static const struct {
        const char *kw;
        const char *addr;
        uint8_t proto;
        bool ipv4;
    } protos[] = {
        { "tcp",   "nw_dst=198.51.100.7",   IPPROTO_TCP,  true },
        { "udp",   "nw_dst=198.51.100.7",   IPPROTO_UDP,  true },
        { "sctp",  "nw_dst=198.51.100.7",   IPPROTO_SCTP, true },
        { "tcp6",  "ipv6_dst=2001:db8::7",  IPPROTO_TCP,  false },
        { "udp6",  "ipv6_dst=2001:db8::7",  IPPROTO_UDP,  false },
        { "sctp6", "ipv6_dst=2001:db8::7",  IPPROTO_SCTP, false },
    };

    for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
        struct flexmap_entry *e = entry_new();
        char *s;

        s = xasprintf("table=7,%s,%s,tp_dst=53," B1,
                      protos[i].kw, protos[i].addr);
        parse_ok(e, s);
        ck_assert_uint_eq(e->key.proto, protos[i].proto);
        ck_assert_int_eq(flexmap_key_is_ipv4(&e->key), protos[i].ipv4);
        ck_assert_int_eq(flexmap_key_kind(&e->key), FLEXMAP_KEY_EXACT);
        assert_text_round_trip(s, NULL);
        free(s);
        free(e);
    }
}
END_TEST

START_TEST(test_text_any_port)
{
    struct flexmap_entry *e = entry_new();
    static const char *inputs[] = {
        "table=2,udp,nw_dst=203.0.113.10," B1,
        "table=2,sctp6,ipv6_dst=2001:db8::10," B1,
    };

    for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
        parse_ok(e, inputs[i]);
        ck_assert_uint_eq(e->key.port, 0);
        ck_assert_uint_ne(e->key.proto, 0);
        ck_assert_int_eq(flexmap_key_kind(&e->key), FLEXMAP_KEY_ANY_PORT);
        assert_text_round_trip(inputs[i], NULL);
    }
    free(e);
}
END_TEST

START_TEST(test_text_defaults_and_order)
{
    struct flexmap_entry *a = entry_new(), *b = entry_new();

    /* No table: table 0.  Key fields in any order, whitespace tolerated. */
    parse_ok(a, "tp_dst=80 , nw_dst=203.0.113.10,\ttcp,"
             " backend(mac=02:00:00:00:01:01, port=1)");
    ck_assert_uint_eq(a->table_id, 0);
    parse_ok(b, "table=0,tcp,nw_dst=203.0.113.10,tp_dst=80," B1);
    ck_assert(flexmap_entry_equal(a, b));

    char *text = format_entry(a, NULL);
    ck_assert_str_eq(text, "table=0,tcp,nw_dst=203.0.113.10,tp_dst=80,"
                     "backend(mac=02:00:00:00:01:01,port=1)");
    free(text);

    /* Table 254 is the highest. */
    parse_ok(a, "table=254,tcp,nw_dst=203.0.113.10," B1);
    ck_assert_uint_eq(a->table_id, 254);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_text_backend_order_and_weights)
{
    struct flexmap_entry *e = entry_new();

    parse_ok(e, "udp,nw_dst=10.0.0.1,"
             "backend(port=3,weight=0,mac=02:00:00:00:00:03),"
             "backend(mac=02:00:00:00:00:01,port=1,weight=65535),"
             "backend(mac=02:00:00:00:00:02,port=2,weight=1)");
    ck_assert_uint_eq(e->n_backends, 3);
    ck_assert_uint_eq(e->backends[0].mac.ea[5], 3);
    ck_assert_uint_eq(e->backends[0].weight, 0);
    ck_assert_uint_eq(e->backends[1].mac.ea[5], 1);
    ck_assert_uint_eq(e->backends[1].weight, 65535);
    ck_assert_uint_eq(e->backends[2].weight, 1);
    ck_assert_uint_eq(flexmap_entry_weight_sum(e), 65536);
    free(e);

    /* weight=1 is not printed, weight=0 is. */
    assert_text_round_trip(
        "udp,nw_dst=10.0.0.1,backend(port=db1,weight=0,"
        "mac=02:00:00:00:00:03),backend(mac=02:00:00:00:00:01,port=web1,"
        "weight=65535),backend(mac=02:00:00:00:00:02,port=web2,weight=1)",
        "table=0,udp,nw_dst=10.0.0.1,"
        "backend(mac=02:00:00:00:00:03,port=db1,weight=0),"
        "backend(mac=02:00:00:00:00:01,port=web1,weight=65535),"
        "backend(mac=02:00:00:00:00:02,port=web2)");
}
END_TEST

START_TEST(test_text_tunnel_forms)
{
    struct flexmap_entry *a = entry_new(), *b = entry_new();

    /* Decimal and hex tun_id are the same. */
    parse_ok(a, "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
             "tun_dst=192.0.2.9,tun_id=4096)");
    parse_ok(b, "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
             "tun_id=0x1000,tun_dst=192.0.2.9)");
    ck_assert(flexmap_entry_equal(a, b));
    ck_assert_uint_eq(ntohll(a->backends[0].tun_id), 4096);

    /* Leading zeros, after the prefix or in decimal, are fine. */
    parse_ok(b, "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
             "tun_id=0x00001000,tun_dst=192.0.2.9)");
    ck_assert(flexmap_entry_equal(a, b));
    parse_ok(b, "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
             "tun_id=04096,tun_dst=192.0.2.9)");
    ck_assert(flexmap_entry_equal(a, b));

    /* Different tun_id: not equal. */
    parse_ok(b, "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
             "tun_id=0x1001,tun_dst=192.0.2.9)");
    ck_assert(!flexmap_entry_equal(a, b));

    /* IPv6 tunnel remote and 64-bit tun_id. */
    assert_text_round_trip(
        "table=3,udp6,ipv6_dst=2001:db8::1,"
        "backend(mac=02:00:00:00:00:01,port=web1,weight=5,"
        "tun_dst=2001:db8:ffff::2,tun_id=0xffffffffffffffff)", NULL);
    parse_ok(a, "table=3,udp6,ipv6_dst=2001:db8::1,"
             "backend(mac=02:00:00:00:00:01,port=web1,weight=5,"
             "tun_dst=2001:db8:ffff::2,tun_id=0xffffffffffffffff)");
    ck_assert(!IN6_IS_ADDR_V4MAPPED(&a->backends[0].tun_dst));
    ck_assert_uint_eq(a->backends[0].tun_id, OVS_BE64_MAX);

    /* No tunnel: no tun fields printed, flag clear. */
    parse_ok(a, "tcp,nw_dst=10.0.0.1," B1);
    ck_assert_uint_eq(a->backends[0].flags, 0);
    char *text = format_entry(a, &port_map);
    ck_assert_ptr_null(strstr(text, "tun_"));
    free(text);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_text_port_names)
{
    struct flexmap_entry *a = entry_new(), *b = entry_new();
    char *text;

    /* Names and numbers resolve to the same port. */
    parse_ok(a, "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,"
             "port=vx0)");
    parse_ok(b, "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,"
             "port=10)");
    ck_assert_uint_eq(ofp_to_u16(a->backends[0].port), 10);
    ck_assert(flexmap_entry_equal(a, b));

    /* With a map, names are printed; without, numbers. */
    text = format_entry(b, &port_map);
    ck_assert_ptr_nonnull(strstr(text, "port=vx0)"));
    free(text);
    text = format_entry(a, NULL);
    ck_assert_ptr_nonnull(strstr(text, "port=10)"));
    free(text);

    /* A number not in the map is printed as a number. */
    assert_text_round_trip("table=0,tcp,nw_dst=10.0.0.1,"
                           "backend(mac=02:00:00:00:00:01,port=77)", NULL);
    /* Reserved ports by name. */
    assert_text_round_trip("table=0,tcp,nw_dst=10.0.0.1,"
                           "backend(mac=02:00:00:00:00:01,port=LOCAL)",
                           NULL);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_text_max_backends)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    struct flexmap_entry *e = entry_new();
    char *error;

    ds_put_cstr(&s, "table=9,tcp,nw_dst=10.0.0.1,tp_dst=8080");
    for (int i = 0; i < FLEXMAP_MAX_BACKENDS; i++) {
        ds_put_format(&s, ",backend(mac=02:00:00:00:00:%02x,port=%d)",
                      i + 1, i + 1);
    }
    parse_ok(e, ds_cstr(&s));
    ck_assert_uint_eq(e->n_backends, FLEXMAP_MAX_BACKENDS);
    ck_assert_uint_eq(ofp_to_u16(e->backends[63].port), 64);
    ck_assert_int_eq(flexmap_entry_check(e), 0);

    /* Without a port map, the output is the input. */
    char *text = format_entry(e, NULL);
    ck_assert_msg(!strcmp(text, ds_cstr(&s)), "64 backends do not format "
                  "as parsed");
    free(text);

    ds_put_cstr(&s, ",backend(mac=02:00:00:00:01:00,port=65)");
    error = flexmap_entry_parse(e, ds_cstr(&s), &port_map);
    ck_assert_pstr_eq(error, "too many backends (max 64)");
    free(error);
    ds_destroy(&s);
    free(e);
}
END_TEST

START_TEST(test_text_parse_key)
{
    struct flexmap_entry *e = entry_new();
    struct flexmap_key key;
    bool key_given = false;
    char *error;

    error = flexmap_entry_parse_key(e, "table=4,udp,nw_dst=192.0.2.1,"
                                    "tp_dst=53", &port_map, &key_given);
    ck_assert_ptr_null(error);
    ck_assert(key_given);
    ck_assert_uint_eq(e->table_id, 4);
    ck_assert_uint_eq(e->n_backends, 0);
    flexmap_key_init_ipv4(&key, htonl(0xc0000201), IPPROTO_UDP, htons(53));
    ck_assert(flexmap_key_equal(&e->key, &key));

    /* Key without table: table 0. */
    key_given = false;
    error = flexmap_entry_parse_key(e, "ipv6,ipv6_dst=2001:db8::5",
                                    &port_map, &key_given);
    ck_assert_ptr_null(error);
    ck_assert(key_given);
    ck_assert_uint_eq(e->table_id, 0);
    ck_assert(!flexmap_key_is_ipv4(&e->key));

    /* Table only. */
    key_given = true;
    error = flexmap_entry_parse_key(e, "table=7", &port_map, &key_given);
    ck_assert_ptr_null(error);
    ck_assert(!key_given);
    ck_assert_uint_eq(e->table_id, 7);

    /* Nothing: all tables. */
    key_given = true;
    error = flexmap_entry_parse_key(e, "", &port_map, &key_given);
    ck_assert_ptr_null(error);
    ck_assert(!key_given);
    ck_assert_uint_eq(e->table_id, FLEXMAP_ALL_TABLES);

    /* Errors. */
    error = flexmap_entry_parse_key(e, "table=1,tcp,nw_dst=10.0.0.1," B1,
                                    &port_map, &key_given);
    ck_assert_pstr_eq(error, "backend: not allowed here (key only)");
    free(error);
    error = flexmap_entry_parse_key(e, "table=1,tcp", &port_map,
                                    &key_given);
    ck_assert_pstr_eq(error, "missing nw_dst");
    free(error);
    error = flexmap_entry_parse_key(e, "table=255", &port_map, &key_given);
    ck_assert_pstr_eq(error, "table: 255: invalid table (0 to 254)");
    free(error);
    error = flexmap_entry_parse_key(e, "ip,nw_dst=10.0.0.1,tp_dst=1",
                                    &port_map, &key_given);
    ck_assert_pstr_eq(error, "tp_dst requires tcp, udp or sctp");
    free(error);

    /* Counters are for add-maps only: here they would turn a key into "all
     * tables". */
    error = flexmap_entry_parse_key(e, "n_packets=1", &port_map,
                                    &key_given);
    ck_assert_pstr_eq(error, "n_packets: unknown keyword");
    free(error);
    error = flexmap_entry_parse_key(e, "table=1,tcp,nw_dst=10.0.0.1,"
                                    "n_bytes=5", &port_map, &key_given);
    ck_assert_pstr_eq(error, "n_bytes: unknown keyword");
    free(error);
    free(e);
}
END_TEST

/* Formatting with per-backend counters, and parsing that back. */

static const struct flexmap_backend_stats two_bstats[2] = {
    { 10, 1500, 3 },
    { UINT64_MAX, 0, UINT32_MAX },
};

START_TEST(test_text_format_stats)
{
    struct flexmap_entry *a = entry_new(), *b = entry_new();
    struct ds s = DS_EMPTY_INITIALIZER;

    parse_ok(a, example_v4);
    flexmap_entry_format_stats(a, two_bstats, &port_map, &s);
    ck_assert_str_eq(ds_cstr(&s),
                     "table=1,tcp,nw_dst=203.0.113.10,tp_dst=80,"
                     "backend(mac=02:00:00:00:01:01,port=web1,"
                     "n_packets=10,n_bytes=1500,n_conns=3),"
                     "backend(mac=02:00:00:00:01:02,port=web2,weight=2,"
                     "n_packets=18446744073709551615,n_bytes=0,"
                     "n_conns=4294967295)");

    /* The counters are ignored: same entry. */
    parse_ok(b, ds_cstr(&s));
    ck_assert(flexmap_entry_equal(a, b));

    /* So are top-level ones, as dump-maps prints them. */
    ds_clear(&s);
    ds_put_cstr(&s, "n_packets=7, n_bytes=700, ");
    flexmap_entry_format_stats(a, two_bstats, NULL, &s);
    parse_ok(b, ds_cstr(&s));
    ck_assert(flexmap_entry_equal(a, b));

    /* Any value, or none, anywhere, in any number. */
    parse_ok(b, "n_packets=x,table=1,n_bytes,tcp,n_conns=-1,"
             "nw_dst=203.0.113.10,n_packets=1,tp_dst=80,"
             "backend(n_conns=,mac=02:00:00:00:01:01,n_packets=abc,"
             "port=web1,n_bytes=1,n_bytes=2),"
             "backend(mac=02:00:00:00:01:02,port=web2,weight=2,n_conns)");
    ck_assert(flexmap_entry_equal(a, b));

    /* No stats: nothing extra. */
    ds_clear(&s);
    flexmap_entry_format_stats(a, NULL, &port_map, &s);
    ck_assert_str_eq(ds_cstr(&s), example_v4);

    /* A single backend: nothing extra either. */
    parse_ok(a, example_ip);
    ds_clear(&s);
    flexmap_entry_format_stats(a, two_bstats, &port_map, &s);
    ck_assert_str_eq(ds_cstr(&s), example_ip);
    ck_assert_ptr_null(strstr(ds_cstr(&s), "n_conns"));

    ds_destroy(&s);
    free(a);
    free(b);
}
END_TEST

/* Parse errors, one per loop iteration. */
static const struct {
    const char *input;
    const char *error;
} parse_errors[] = {
    { "table=1,tcp,nw_dst=203.0.113.10,tp_dst=80",
      "missing backend (at least one required)" },
    { "ip,nw_dst=203.0.113.10,tp_dst=80," B1,
      "tp_dst requires tcp, udp or sctp" },
    { "ipv6,ipv6_dst=2001:db8::1,tp_dst=80," B1,
      "tp_dst requires tcp6, udp6 or sctp6" },
    { "tcp,nw_dst=300.1.1.1," B1,
      "nw_dst: 300.1.1.1: invalid IPv4 address" },
    { "tcp,nw_dst=2001:db8::1," B1,
      "nw_dst: 2001:db8::1: invalid IPv4 address" },
    { "tcp6,ipv6_dst=2001:db8::zz," B1,
      "ipv6_dst: 2001:db8::zz: invalid IPv6 address" },
    { "tcp6,ipv6_dst=::ffff:192.0.2.1," B1,
      "ipv6_dst: ::ffff:192.0.2.1: IPv4-mapped address not allowed "
      "(use ip and nw_dst)" },
    { "tcp,nw_dst=10.0.0.1,tp_dst=0," B1,
      "tp_dst: 0: invalid port (1 to 65535)" },
    { "tcp,nw_dst=10.0.0.1,tp_dst=65536," B1,
      "tp_dst: 65536: invalid port (1 to 65535)" },
    { "tcp,nw_dst=10.0.0.1,tp_dst=http," B1,
      "tp_dst: http: invalid port (1 to 65535)" },
    { "table=255,tcp,nw_dst=10.0.0.1," B1,
      "table: 255: invalid table (0 to 254)" },
    { "table=-1,tcp,nw_dst=10.0.0.1," B1,
      "table: -1: invalid table (0 to 254)" },
    { "nw_dst=10.0.0.1," B1,
      "missing protocol (one of ip, tcp, udp, sctp, ipv6, tcp6, udp6, "
      "sctp6)" },
    { "tcp," B1, "missing nw_dst" },
    { "tcp6," B1, "missing ipv6_dst" },
    { "tcp,ipv6_dst=2001:db8::1," B1,
      "ipv6_dst requires ipv6, tcp6, udp6 or sctp6" },
    { "udp6,nw_dst=10.0.0.1," B1, "nw_dst requires ip, tcp, udp or sctp" },
    { "tcp,udp,nw_dst=10.0.0.1," B1,
      "udp: protocol specified more than once" },
    { "tcp,nw_dst=10.0.0.1,nw_dst=10.0.0.2," B1,
      "nw_dst: specified more than once" },
    { "tcp=1,nw_dst=10.0.0.1," B1, "tcp: unexpected value 1" },
    { "tcp,nw_dst=," B1, "nw_dst: missing value" },
    { "tcp,nw_src=10.0.0.1," B1, "nw_src: unknown keyword" },
    { "tcp,nw_dst=10.0.0.1,backend(port=1)", "backend: missing mac" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01)",
      "backend: missing port" },
    { "tcp,nw_dst=10.0.0.1,backend()", "backend: missing mac" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:zz:01,port=1)",
      "backend: mac: 02:00:00:00:zz:01: invalid Ethernet address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=00:00:00:00:00:00,port=1)",
      "backend: mac: 00:00:00:00:00:00: address must be nonzero" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=01:00:5e:00:00:01,port=1)",
      "backend: mac: 01:00:5e:00:00:01: address must be unicast" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=nosuch)",
      "backend: port: nosuch: unknown port" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "weight=65536)",
      "backend: weight: 65536: invalid weight (0 to 65535)" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "weight=-1)",
      "backend: weight: -1: invalid weight (0 to 65535)" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1)",
      "backend: tun_dst and tun_id must be given together" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_id=1)",
      "backend: tun_dst and tun_id must be given together" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.999,tun_id=1)",
      "backend: tun_dst: 192.0.2.999: invalid IP address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=0xzz)",
      "backend: tun_id: 0xzz: invalid tunnel id" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=18446744073709551616)",
      "backend: tun_id: 18446744073709551616: invalid tunnel id" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=-1)",
      "backend: tun_id: -1: invalid tunnel id" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=0x0x5)",
      "backend: tun_id: 0x0x5: invalid tunnel id" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=0X0X5)",
      "backend: tun_id: 0X0X5: invalid tunnel id" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=0x)",
      "backend: tun_id: 0x: invalid tunnel id" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=0x-1)",
      "backend: tun_id: 0x-1: invalid tunnel id" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=0x+1)",
      "backend: tun_id: 0x+1: invalid tunnel id" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=5a)",
      "backend: tun_id: 5a: invalid tunnel id" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=0x10000000000000000)",
      "backend: tun_id: 0x10000000000000000: invalid tunnel id" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "color=red)",
      "backend: color: unknown keyword" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "mac=02:00:00:00:00:02)",
      "backend: mac: specified more than once" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=)",
      "backend: port: missing value" },
    /* Ignoring dump-maps counters does not hide real errors. */
    { "n_packets=1,tcp,nw_dst=10.0.0.1,n_bytes=2,nw_dst=10.0.0.2," B1,
      "nw_dst: specified more than once" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,n_packets=1,"
      "port=1,n_conns=2,mac=02:00:00:00:00:02)",
      "backend: mac: specified more than once" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "n_bytes=3,port=2)",
      "backend: port: specified more than once" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,weight=1,"
      "n_packets=0,weight=2)",
      "backend: weight: specified more than once" },
    { "n_packets=1, n_bytes=2, tcp,nw_dst=10.0.0.1",
      "missing backend (at least one required)" },
    { "tcp,nw_dst=10.0.0.1,backend(n_packets=1,n_bytes=2,n_conns=3)",
      "backend: missing mac" },
    { "n_packet=1,tcp,nw_dst=10.0.0.1," B1, "n_packet: unknown keyword" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "n_conn=1)",
      "backend: n_conn: unknown keyword" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,weight=0),"
      "backend(mac=02:00:00:00:00:02,port=2,weight=0)",
      "backend weights sum to zero (at least one must be nonzero)" },
    /* Keys must be unicast addresses. */
    { "tcp,nw_dst=0.0.0.0," B1, "nw_dst: 0.0.0.0: not a unicast address" },
    { "tcp,nw_dst=127.0.0.1," B1,
      "nw_dst: 127.0.0.1: not a unicast address" },
    { "tcp,nw_dst=224.0.0.251," B1,
      "nw_dst: 224.0.0.251: not a unicast address" },
    { "udp,nw_dst=255.255.255.255," B1,
      "nw_dst: 255.255.255.255: not a unicast address" },
    { "tcp6,ipv6_dst=::," B1, "ipv6_dst: ::: not a unicast address" },
    { "tcp6,ipv6_dst=::1," B1, "ipv6_dst: ::1: not a unicast address" },
    { "udp6,ipv6_dst=ff02::fb," B1,
      "ipv6_dst: ff02::fb: not a unicast address" },
    /* Parentheses: closed, and followed by a delimiter. */
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1",
      "backend: missing `)'" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,x(y)",
      "backend: missing `)'" },
    { "tcp,nw_dst=10.0.0.1," B1 ",backend(",
      "backend: missing `)'" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1)x",
      "backend(...): unexpected `x' after `)'" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1))",
      "backend(...): unexpected `)' after `)'" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1)"
      "backend(mac=02:00:00:00:00:02,port=2)",
      "backend(...): unexpected `b' after `)'" },
    { "tcp),nw_dst=10.0.0.1," B1, "tcp: unexpected `)'" },
    { "tcp,nw_dst=10.0.0.1,tp_dst=80(1)," B1,
      "tp_dst: 80(1): unexpected `('" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=(1))",
      "backend: port: (1): unexpected `('" },
    { "tcp,nw_dst=10.0.0.1,=5," B1, "missing keyword before `='" },
    { "tcp,nw_dst=10.0.0.1,(x)," B1, "missing keyword before `('" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,=1)",
      "backend: missing keyword before `='" },
    /* Every keyword at most once. */
    { "tcp,nw_dst=10.0.0.1,tp_dst=80,tp_dst=81," B1,
      "tp_dst: specified more than once" },
    { "table=1,table=2,tcp,nw_dst=10.0.0.1," B1,
      "table: specified more than once" },
    { "tcp,tcp,nw_dst=10.0.0.1," B1,
      "tcp: protocol specified more than once" },
    { "tcp6,ipv6_dst=2001:db8::1,ipv6_dst=2001:db8::2," B1,
      "ipv6_dst: specified more than once" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=1,tun_dst=192.0.2.2)",
      "backend: tun_dst: specified more than once" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=192.0.2.1,tun_id=1,tun_id=2)",
      "backend: tun_id: specified more than once" },
    /* Tunnel destinations must be unicast. */
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=0.0.0.0,tun_id=1)",
      "backend: tun_dst: 0.0.0.0: not a unicast address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=0.1.2.3,tun_id=1)",
      "backend: tun_dst: 0.1.2.3: not a unicast address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=127.0.0.1,tun_id=1)",
      "backend: tun_dst: 127.0.0.1: not a unicast address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=224.0.0.1,tun_id=1)",
      "backend: tun_dst: 224.0.0.1: not a unicast address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=239.255.255.255,tun_id=1)",
      "backend: tun_dst: 239.255.255.255: not a unicast address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=240.0.0.1,tun_id=1)",
      "backend: tun_dst: 240.0.0.1: not a unicast address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=255.255.255.255,tun_id=1)",
      "backend: tun_dst: 255.255.255.255: not a unicast address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=::,tun_id=1)",
      "backend: tun_dst: ::: not a unicast address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=::1,tun_id=1)",
      "backend: tun_dst: ::1: not a unicast address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=ff02::1,tun_id=1)",
      "backend: tun_dst: ff02::1: not a unicast address" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=1,"
      "tun_dst=::ffff:224.0.0.5,tun_id=1)",
      "backend: tun_dst: ::ffff:224.0.0.5: not a unicast address" },
    /* Ports that name no interface. */
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=CONTROLLER)",
      "backend: port: CONTROLLER: not a port a backend can be on (a port "
      "number, a port name or LOCAL)" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=IN_PORT)",
      "backend: port: IN_PORT: not a port a backend can be on (a port "
      "number, a port name or LOCAL)" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=NONE)",
      "backend: port: NONE: not a port a backend can be on (a port "
      "number, a port name or LOCAL)" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=0)",
      "backend: port: 0: not a port a backend can be on (a port "
      "number, a port name or LOCAL)" },
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=65536)",
      "backend: port: 65536: unknown port" },
    /* What dump-maps prints for an unresolved backend does not load. */
    { "tcp,nw_dst=10.0.0.1,backend(mac=02:00:00:00:00:01,port=4,"
      "unresolved)",
      "backend: unresolved: the interface this backend was written for is "
      "gone; name an existing port or leave the backend out" },
};

START_TEST(test_text_parse_error)
{
    struct flexmap_entry *e = entry_new();
    char *error;

    error = flexmap_entry_parse(e, parse_errors[_i].input, &port_map);
    ck_assert_msg(error != NULL, "\"%s\" parsed but should not",
                  parse_errors[_i].input);
    ck_assert_str_eq(error, parse_errors[_i].error);
    free(error);
    free(e);
}
END_TEST

/* Model tests. */

START_TEST(test_key_functions)
{
    struct flexmap_key a, b, c;
    struct in6_addr ip6;

    flexmap_key_init_ipv4(&a, htonl(0x0a000001), IPPROTO_TCP, htons(80));
    flexmap_key_init_ipv4(&b, htonl(0x0a000001), IPPROTO_TCP, htons(80));
    flexmap_key_init_ipv4(&c, htonl(0x0a000001), IPPROTO_TCP, htons(81));
    ck_assert(flexmap_key_is_ipv4(&a));
    ck_assert(flexmap_key_equal(&a, &b));
    ck_assert(!flexmap_key_equal(&a, &c));
    ck_assert_uint_eq(flexmap_key_hash(&a, 0), flexmap_key_hash(&b, 0));
    ck_assert_uint_ne(flexmap_key_hash(&a, 0), flexmap_key_hash(&c, 0));
    ck_assert_uint_ne(flexmap_key_hash(&a, 0), flexmap_key_hash(&a, 1));
    ck_assert_int_eq(flexmap_key_kind(&a), FLEXMAP_KEY_EXACT);

    b.pad = 1;
    ck_assert(!flexmap_key_equal(&a, &b));

    /* An IPv4-mapped IPv6 address makes an IPv4 key. */
    in6_addr_set_mapped_ipv4(&ip6, htonl(0x0a000001));
    flexmap_key_init_ipv6(&b, &ip6, IPPROTO_TCP, htons(80));
    ck_assert(flexmap_key_is_ipv4(&b));
    ck_assert(flexmap_key_equal(&a, &b));

    ck_assert(ipv6_parse("2001:db8::1", &ip6));
    flexmap_key_init_ipv6(&b, &ip6, IPPROTO_UDP, 0);
    ck_assert(!flexmap_key_is_ipv4(&b));
    ck_assert_int_eq(flexmap_key_kind(&b), FLEXMAP_KEY_ANY_PORT);

    struct ds s = DS_EMPTY_INITIALIZER;
    flexmap_key_format(&a, &s);
    ck_assert_str_eq(ds_cstr(&s), "tcp,nw_dst=10.0.0.1,tp_dst=80");
    ds_clear(&s);
    flexmap_key_format(&b, &s);
    ck_assert_str_eq(ds_cstr(&s), "udp6,ipv6_dst=2001:db8::1");
    ds_destroy(&s);
}
END_TEST

START_TEST(test_key_check)
{
    struct flexmap_key key;

    flexmap_key_init_ipv4(&key, htonl(0x0a000001), IPPROTO_SCTP, htons(9));
    ck_assert_int_eq(flexmap_key_check(&key), 0);
    flexmap_key_init_ipv4(&key, htonl(0x0a000001), 0, 0);
    ck_assert_int_eq(flexmap_key_check(&key), 0);

    flexmap_key_init_ipv4(&key, htonl(0x0a000001), IPPROTO_ICMP, 0);
    ck_assert_int_eq(flexmap_key_check(&key), OFPERR_NXFMFC_BAD_KEY);
    flexmap_key_init_ipv4(&key, htonl(0x0a000001), 0, htons(80));
    ck_assert_int_eq(flexmap_key_check(&key), OFPERR_NXFMFC_BAD_KEY);
    flexmap_key_init_ipv4(&key, htonl(0x0a000001), IPPROTO_UDP, 0);
    key.pad = 2;
    ck_assert_int_eq(flexmap_key_check(&key), OFPERR_NXFMFC_BAD_KEY);

    /* Addresses that are not unicast. */
    static const ovs_be32 bad4[] = {
        CONSTANT_HTONL(0), CONSTANT_HTONL(0x00010203),
        CONSTANT_HTONL(0x7f000001), CONSTANT_HTONL(0xe0000001),
        CONSTANT_HTONL(0xefffffff), CONSTANT_HTONL(0xf0000000),
        CONSTANT_HTONL(0xffffffff),
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad4); i++) {
        flexmap_key_init_ipv4(&key, bad4[i], IPPROTO_TCP, htons(80));
        ck_assert_int_eq(flexmap_key_check(&key), OFPERR_NXFMFC_BAD_KEY);
    }
    static const char *const bad6[] = { "::", "::1", "ff02::1", "ff0e::5" };
    for (size_t i = 0; i < ARRAY_SIZE(bad6); i++) {
        struct in6_addr ip6;

        ck_assert(ipv6_parse(bad6[i], &ip6));
        flexmap_key_init_ipv6(&key, &ip6, IPPROTO_TCP, htons(80));
        ck_assert_int_eq(flexmap_key_check(&key), OFPERR_NXFMFC_BAD_KEY);
    }
    flexmap_key_init_ipv4(&key, htonl(0xdfffffff), IPPROTO_TCP, htons(80));
    ck_assert_int_eq(flexmap_key_check(&key), 0);
}
END_TEST

START_TEST(test_entry_check)
{
    struct flexmap_entry *e = entry_new();

    make_entry(e, 1, false, IPPROTO_TCP, 80, 3);
    ck_assert_int_eq(flexmap_entry_check(e), 0);

    e->table_id = 255;
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_BAD_TABLE);
    e->table_id = 254;
    ck_assert_int_eq(flexmap_entry_check(e), 0);

    e->key.proto = 47;
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_BAD_KEY);
    e->key.proto = IPPROTO_TCP;

    e->n_backends = 0;
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_NO_BACKENDS);
    e->n_backends = FLEXMAP_MAX_BACKENDS + 1;
    ck_assert_int_eq(flexmap_entry_check(e),
                     OFPERR_NXFMFC_TOO_MANY_BACKENDS);
    e->n_backends = 3;

    e->backends[1].flags = 0x8000;
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_BAD_BACKEND);
    e->backends[1].flags = 0;
    e->backends[1].mac = eth_addr_zero;
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_BAD_BACKEND);
    e->backends[1].mac = eth_addr_broadcast;
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_BAD_BACKEND);
    e->backends[1].mac = (struct eth_addr) ETH_ADDR_C(02, 00, 00, 00, 00, 9);
    ck_assert_int_eq(flexmap_entry_check(e), 0);

    /* Reply-only flag. */
    e->backends[1].flags = FLEXMAP_BACKEND_UNRESOLVED;
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_BAD_BACKEND);
    e->backends[1].flags = 0;

    /* Ports that name no interface. */
    e->backends[1].port = OFPP_CONTROLLER;
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_BAD_PORT);
    e->backends[1].port = u16_to_ofp(0);
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_BAD_PORT);
    e->backends[1].port = OFPP_MAX;
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_BAD_PORT);
    e->backends[1].port = OFPP_LOCAL;
    ck_assert_int_eq(flexmap_entry_check(e), 0);
    e->backends[1].port = u16_to_ofp(0xfeff);
    ck_assert_int_eq(flexmap_entry_check(e), 0);

    /* Tunnel destinations that are not unicast, on a tunnel backend. */
    e->n_backends = 4;
    e->backends[3] = e->backends[2];
    e->backends[3].mac.ea[5] = 3;
    e->backends[3].flags = FLEXMAP_BACKEND_TUNNEL;
    e->backends[3].tun_id = htonll(5001);
    static const char *const bad_tun_dsts[] = {
        "0.0.0.0", "0.255.255.255", "127.0.0.1", "224.0.0.1",
        "239.1.2.3", "240.0.0.0", "255.255.255.255", "::", "::1",
        "ff02::1", "ff0e::1:2",
    };
    static const char *const good_tun_dsts[] = {
        "1.0.0.0", "192.0.2.1", "169.254.1.1", "223.255.255.254",
        "2001:db8::2", "fe80::1", "::2",
    };
    ck_assert(e->backends[3].flags & FLEXMAP_BACKEND_TUNNEL);
    for (size_t i = 0; i < ARRAY_SIZE(bad_tun_dsts); i++) {
        ovs_be32 ip4;

        if (ip_parse(bad_tun_dsts[i], &ip4)) {
            in6_addr_set_mapped_ipv4(&e->backends[3].tun_dst, ip4);
        } else {
            ck_assert(ipv6_parse(bad_tun_dsts[i], &e->backends[3].tun_dst));
        }
        ck_assert_msg(!flexmap_ip_is_unicast(&e->backends[3].tun_dst),
                      "%s", bad_tun_dsts[i]);
        ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_BAD_BACKEND);
    }
    for (size_t i = 0; i < ARRAY_SIZE(good_tun_dsts); i++) {
        ovs_be32 ip4;

        if (ip_parse(good_tun_dsts[i], &ip4)) {
            in6_addr_set_mapped_ipv4(&e->backends[3].tun_dst, ip4);
        } else {
            ck_assert(ipv6_parse(good_tun_dsts[i], &e->backends[3].tun_dst));
        }
        ck_assert_msg(flexmap_ip_is_unicast(&e->backends[3].tun_dst),
                      "%s", good_tun_dsts[i]);
        ck_assert_int_eq(flexmap_entry_check(e), 0);
    }

    for (size_t i = 0; i < e->n_backends; i++) {
        e->backends[i].weight = 0;
    }
    ck_assert_int_eq(flexmap_entry_check(e), OFPERR_NXFMFC_ZERO_WEIGHT);
    ck_assert_uint_eq(flexmap_entry_weight_sum(e), 0);
    free(e);
}
END_TEST

START_TEST(test_entry_equal)
{
    struct flexmap_entry *a = entry_new(), *b = entry_new();

    make_entry(a, 5, true, IPPROTO_UDP, 53, 4);
    make_entry(b, 5, true, IPPROTO_UDP, 53, 4);
    ck_assert(flexmap_entry_equal(a, b));

    b->backends[2].weight++;
    ck_assert(!flexmap_entry_equal(a, b));
    b->backends[2].weight--;
    b->table_id++;
    ck_assert(!flexmap_entry_equal(a, b));
    b->table_id--;
    b->n_backends--;
    ck_assert(!flexmap_entry_equal(a, b));
    b->n_backends++;

    /* Tunnel fields count only with the tunnel flag. */
    b->backends[0].tun_id = htonll(99);
    ck_assert(flexmap_entry_equal(a, b));
    b->backends[3].tun_id = htonll(99);
    ck_assert(!flexmap_entry_equal(a, b));
    free(a);
    free(b);
}
END_TEST

/* Wire round trips. */

/* Encodes 'n' commands with 'version', decodes them and checks that they
 * come back equal. */
static void
assert_wire_round_trip(enum ofp_version version,
                       const struct ofputil_flexmap_cmd *cmds, size_t n)
{
    struct ofputil_flexmap_cmd *out;
    struct ofpbuf *msg;
    size_t n_out;

    msg = ofputil_encode_flexmap_mod(version, cmds, n);
    ck_assert_uint_eq(ntohs(((struct ofp_header *) msg->data)->length),
                      msg->size);
    ck_assert_int_eq(ofputil_decode_flexmap_mod(msg->data, &out, &n_out), 0);
    ck_assert_uint_eq(n_out, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(cmd_equal(&cmds[i], &out[i]), "command %zu differs",
                      i);
    }
    free(out);
    ofpbuf_delete(msg);
}

START_TEST(test_wire_add)
{
    struct ofputil_flexmap_cmd *cmds = xcalloc(4, sizeof *cmds);

    make_cmd(&cmds[0], NXFMC_ADD, 1, 1);
    make_cmd(&cmds[1], NXFMC_ADD, 2, 8);         /* IPv6, tunnels. */
    make_cmd(&cmds[2], NXFMC_ADD, 3, FLEXMAP_MAX_BACKENDS);
    make_cmd(&cmds[3], NXFMC_ADD, 4, 2);
    cmds[3].entry.key.proto = 0;                 /* Any protocol. */
    cmds[3].entry.key.port = 0;
    cmds[3].entry.backends[0].port = OFPP_LOCAL;  /* Reserved port. */

    assert_wire_round_trip(OFP10_VERSION, cmds, 4);
    assert_wire_round_trip(OFP13_VERSION, cmds, 4);
    assert_wire_round_trip(OFP15_VERSION, cmds, 4);

    /* Check the encoding of IPv4 command 1 by hand. */
    struct ofpbuf *msg = ofputil_encode_flexmap_mod(OFP13_VERSION, &cmds[1],
                                                    1);
    struct nx_flexmap_cmd *nfc = msg_cmd(msg);
    ck_assert_uint_eq(ntohs(msg_mod(msg)->n_commands), 1);
    ck_assert_uint_eq(ntohs(nfc->len), 40 + 8 * 40);
    ck_assert_uint_eq(ntohs(nfc->n_backends), 8);
    ck_assert_uint_eq(ntohs(nfc->command), NXFMC_ADD);
    ck_assert_uint_eq(nfc->table_id, 2);
    ck_assert_uint_eq(nfc->family, NXFM_FAMILY_IPV4);
    ck_assert_uint_eq(nfc->ip_proto, IPPROTO_TCP);
    ck_assert_uint_eq(ntohs(nfc->tp_dst), 82);
    ck_assert_uint_eq(nfc->ip[0], 0xcb);
    ck_assert_uint_eq(nfc->ip[3], 0x02);
    ck_assert(is_all_zeros(nfc->ip + 4, 12));
    ck_assert_uint_eq(ntohl(msg_backend(msg, 0)->port), 1);
    ck_assert_uint_eq(ntohs(msg_backend(msg, 0)->flags), 0);
    ck_assert_uint_eq(ntohs(msg_backend(msg, 3)->flags),
                      FLEXMAP_BACKEND_TUNNEL);
    ck_assert_uint_eq(ntohll(msg_backend(msg, 3)->tun_id), 5003);
    ofpbuf_delete(msg);

    /* And the IPv6 address of command 0. */
    msg = ofputil_encode_flexmap_mod(OFP13_VERSION, &cmds[0], 1);
    nfc = msg_cmd(msg);
    ck_assert_uint_eq(nfc->family, NXFM_FAMILY_IPV6);
    ck_assert_mem_eq(nfc->ip, &cmds[0].entry.key.ip, 16);
    ofpbuf_delete(msg);
    free(cmds);
}
END_TEST

START_TEST(test_wire_delete)
{
    struct ofputil_flexmap_cmd *cmds = xcalloc(3, sizeof *cmds);

    make_cmd(&cmds[0], NXFMC_DELETE, 1, 0);
    make_cmd(&cmds[1], NXFMC_DELETE, 2, 0);
    make_cmd(&cmds[2], NXFMC_DELETE, 3, 0);
    cmds[2].entry.key.port = 0;
    assert_wire_round_trip(OFP13_VERSION, cmds, 3);

    /* Backends of a delete are not encoded. */
    cmds[0].entry.n_backends = 2;
    struct ofpbuf *msg = ofputil_encode_flexmap_mod(OFP13_VERSION, cmds, 1);
    ck_assert_uint_eq(ntohs(msg_cmd(msg)->len), 40);
    ck_assert_uint_eq(ntohs(msg_cmd(msg)->n_backends), 0);
    ofpbuf_delete(msg);
    free(cmds);
}
END_TEST

START_TEST(test_wire_delete_table)
{
    struct ofputil_flexmap_cmd *cmds = xcalloc(3, sizeof *cmds);
    struct ofputil_flexmap_cmd *out;
    struct ofpbuf *msg;
    size_t n;

    make_cmd(&cmds[0], NXFMC_DELETE_TABLE, 1, 0);
    cmds[0].entry.table_id = 0;
    make_cmd(&cmds[1], NXFMC_DELETE_TABLE, 1, 0);
    cmds[1].entry.table_id = 254;
    make_cmd(&cmds[2], NXFMC_DELETE_TABLE, 1, 0);
    cmds[2].entry.table_id = FLEXMAP_ALL_TABLES;

    /* A key in the input is not encoded. */
    flexmap_key_init_ipv4(&cmds[0].entry.key, htonl(1), IPPROTO_TCP, 1);
    msg = ofputil_encode_flexmap_mod(OFP13_VERSION, cmds, 3);
    ck_assert_uint_eq(msg_cmd(msg)->family, NXFM_FAMILY_NONE);
    ck_assert_int_eq(ofputil_decode_flexmap_mod(msg->data, &out, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(out[0].command, NXFMC_DELETE_TABLE);
    ck_assert_uint_eq(out[0].entry.table_id, 0);
    ck_assert_uint_eq(out[1].entry.table_id, 254);
    ck_assert_uint_eq(out[2].entry.table_id, FLEXMAP_ALL_TABLES);
    ck_assert_uint_eq(out[2].entry.n_backends, 0);
    free(out);
    ofpbuf_delete(msg);
    free(cmds);
}
END_TEST

START_TEST(test_wire_empty)
{
    struct ofputil_flexmap_cmd *out;
    struct ovs_list msgs;
    struct ofpbuf *msg;
    size_t n = 99;

    msg = ofputil_encode_flexmap_mod(OFP13_VERSION, NULL, 0);
    ck_assert_int_eq(ofputil_decode_flexmap_mod(msg->data, &out, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(out);
    ofpbuf_delete(msg);

    ovs_list_init(&msgs);
    ofputil_encode_flexmap_mods(OFP13_VERSION, NULL, 0, 0, &msgs);
    ck_assert(ovs_list_is_empty(&msgs));
}
END_TEST

/* Splits 'n' commands with 'max_len', checks every message's length and
 * that all commands come back in order.  Returns the number of messages. */
static size_t
split_and_check(const struct ofputil_flexmap_cmd *cmds, size_t n,
                size_t max_len)
{
    size_t limit = max_len ? max_len : UINT16_MAX;
    struct ovs_list msgs;
    struct ofpbuf *msg;
    size_t n_msgs = 0;
    size_t next = 0;

    ovs_list_init(&msgs);
    ofputil_encode_flexmap_mods(OFP13_VERSION, cmds, n, max_len, &msgs);
    LIST_FOR_EACH (msg, list_node, &msgs) {
        const struct ofp_header *oh = msg->data;
        struct ofputil_flexmap_cmd *out;
        size_t n_out;

        n_msgs++;
        ck_assert_uint_le(msg->size, limit);
        ck_assert_uint_eq(ntohs(oh->length), msg->size);
        ck_assert_int_eq(ofputil_decode_flexmap_mod(oh, &out, &n_out), 0);
        ck_assert_uint_gt(n_out, 0);
        for (size_t i = 0; i < n_out; i++) {
            ck_assert_uint_lt(next, n);
            ck_assert_msg(cmd_equal(&cmds[next], &out[i]),
                          "command %zu differs", next);
            next++;
        }
        free(out);
    }
    ck_assert_uint_eq(next, n);
    ofpbuf_list_delete(&msgs);
    return n_msgs;
}

START_TEST(test_wire_split_small)
{
    enum { N = 300 };
    struct ofputil_flexmap_cmd *cmds = xcalloc(N, sizeof *cmds);

    for (size_t i = 0; i < N; i++) {
        make_cmd(&cmds[i], (i % 7 == 6 ? NXFMC_DELETE
                            : i % 50 == 49 ? NXFMC_DELETE_TABLE
                            : NXFMC_ADD),
                 i, i % 5 + 1);
    }
    /* 1000 bytes hold at most 24 bare commands, so at least 13 messages. */
    ck_assert_uint_ge(split_and_check(cmds, N, 1000), 13);
    /* Everything fits in a single default-sized message. */
    ck_assert_uint_eq(split_and_check(cmds, N, 0), 1);
    free(cmds);
}
END_TEST

START_TEST(test_wire_split_default)
{
    enum { N = 60 };
    struct ofputil_flexmap_cmd *cmds = xcalloc(N, sizeof *cmds);

    for (size_t i = 0; i < N; i++) {
        make_cmd(&cmds[i], NXFMC_ADD, i, FLEXMAP_MAX_BACKENDS);
    }
    /* 60 * 2600 bytes need 3 messages of at most 65535 bytes. */
    ck_assert_uint_eq(split_and_check(cmds, N, 0), 3);
    ck_assert_uint_eq(split_and_check(cmds, N, 100000), 3);
    free(cmds);
}
END_TEST

START_TEST(test_wire_split_oversized_command)
{
    struct ofputil_flexmap_cmd *cmds = xcalloc(3, sizeof *cmds);

    make_cmd(&cmds[0], NXFMC_DELETE, 1, 0);
    make_cmd(&cmds[1], NXFMC_ADD, 2, 10);   /* 440 bytes. */
    make_cmd(&cmds[2], NXFMC_DELETE, 3, 0);

    /* A 200-byte limit cannot hold command 1, which travels alone. */
    struct ovs_list msgs;
    struct ofpbuf *msg;
    size_t sizes[3], n = 0;

    ovs_list_init(&msgs);
    ofputil_encode_flexmap_mods(OFP13_VERSION, cmds, 3, 200, &msgs);
    LIST_FOR_EACH (msg, list_node, &msgs) {
        ck_assert_uint_lt(n, 3);
        sizes[n++] = msg->size;
    }
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(sizes[0], 16 + 8 + 40);
    ck_assert_uint_eq(sizes[1], 16 + 8 + 440);
    ck_assert_uint_eq(sizes[2], 16 + 8 + 40);
    ofpbuf_list_delete(&msgs);
    free(cmds);
}
END_TEST

/* Malformed NXT_FLEXMAP_MOD. */

START_TEST(test_bad_len_short_body)
{
    struct ofpbuf *msg = ofpraw_alloc(OFPRAW_NXT_FLEXMAP_MOD,
                                      OFP13_VERSION, 0);

    /* Header only, no struct nx_flexmap_mod: the message does not fit its
     * OpenFlow layout, as the switch's message layer reports it. */
    ofpmsg_update_length(msg);
    assert_decode_error(msg, OFPERR_OFPBRC_BAD_LEN);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_len_trailing)
{
    struct ofpbuf *msg = encode_add(2);

    ofpbuf_put_zeros(msg, 40);
    ofpmsg_update_length(msg);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    ofpbuf_delete(msg);

    /* Not a multiple of 8: does not fit the layout. */
    msg = encode_add(2);
    ofpbuf_put_zeros(msg, 4);
    ofpmsg_update_length(msg);
    assert_decode_error(msg, OFPERR_OFPBRC_BAD_LEN);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_len_cmd_len)
{
    struct ofpbuf *msg = encode_add(2);

    msg_cmd(msg)->len = htons(80);              /* Should be 120. */
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    msg_cmd(msg)->len = htons(160);             /* Beyond the message. */
    msg_cmd(msg)->n_backends = htons(3);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    msg_cmd(msg)->n_backends = htons(2);
    msg_cmd(msg)->len = htons(0);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    msg_cmd(msg)->len = htons(120);
    assert_decode_error(msg, 0);

    /* n_backends disagrees with len and the message. */
    msg_cmd(msg)->n_backends = htons(1);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    msg_cmd(msg)->n_backends = htons(3);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_len_n_commands)
{
    struct ofpbuf *msg = encode_add(1);

    msg_mod(msg)->n_commands = htons(2);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    msg_mod(msg)->n_commands = htons(0);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    msg_mod(msg)->n_commands = htons(UINT16_MAX);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_len_precedes_content)
{
    /* A bad command followed by a length error: lengths are checked
     * first. */
    struct ofpbuf *msg = encode_add(1);

    msg_cmd(msg)->command = htons(9);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_COMMAND);
    ofpbuf_put_zeros(msg, 8);
    ofpmsg_update_length(msg);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_command)
{
    struct ofpbuf *msg = encode_add(1);

    msg_cmd(msg)->command = htons(3);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_COMMAND);
    msg_cmd(msg)->command = htons(0x100);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_COMMAND);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_table)
{
    struct ofpbuf *msg = encode_add(1);

    msg_cmd(msg)->table_id = 255;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_TABLE);
    msg_cmd(msg)->table_id = 254;
    assert_decode_error(msg, 0);
    ofpbuf_delete(msg);

    msg = encode_simple(NXFMC_DELETE, 255);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_TABLE);
    ofpbuf_delete(msg);

    msg = encode_simple(NXFMC_DELETE_TABLE, 255);
    assert_decode_error(msg, 0);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_family)
{
    struct ofpbuf *msg = encode_add(1);

    msg_cmd(msg)->family = 5;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_FAMILY);
    msg_cmd(msg)->family = NXFM_FAMILY_NONE;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_FAMILY);
    /* Bad table takes precedence. */
    msg_cmd(msg)->table_id = 255;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_TABLE);
    ofpbuf_delete(msg);

    msg = encode_simple(NXFMC_DELETE, 1);
    msg_cmd(msg)->family = 0;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_FAMILY);
    ofpbuf_delete(msg);

    msg = encode_simple(NXFMC_DELETE_TABLE, 1);
    msg_cmd(msg)->family = NXFM_FAMILY_IPV4;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_FAMILY);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_key)
{
    struct ofpbuf *msg = encode_add(1);
    struct nx_flexmap_cmd *nfc = msg_cmd(msg);

    nfc->ip_proto = IPPROTO_ICMP;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);
    nfc->ip_proto = 0;                       /* Port without protocol. */
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);
    nfc->tp_dst = 0;
    assert_decode_error(msg, 0);
    nfc->ip_proto = IPPROTO_TCP;

    nfc->pad[4] = 1;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);
    nfc->pad[4] = 0;
    nfc->pad2[7] = 1;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);
    nfc->pad2[7] = 0;
    nfc->ip[15] = 1;                         /* IPv4 with junk. */
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);
    nfc->ip[15] = 0;
    assert_decode_error(msg, 0);

    /* IPv4-mapped address in an IPv6 key. */
    struct in6_addr mapped;
    in6_addr_set_mapped_ipv4(&mapped, htonl(0x0a000001));
    nfc->family = NXFM_FAMILY_IPV6;
    memcpy(nfc->ip, &mapped, sizeof mapped);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);

    /* Addresses that are not unicast. */
    memset(nfc->ip, 0, sizeof nfc->ip);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);             /* :: */
    nfc->ip[0] = 0xff;
    nfc->ip[1] = 0x02;
    nfc->ip[15] = 1;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);             /* ff02::1 */
    nfc->ip[0] = 0x20;
    nfc->ip[1] = 0x01;
    assert_decode_error(msg, 0);                                 /* 2001::1 */
    nfc->family = NXFM_FAMILY_IPV4;
    memset(nfc->ip, 0, sizeof nfc->ip);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);             /* 0.0.0.0 */
    memset(nfc->ip, 0xff, 4);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);     /* 255.255.255.255 */
    nfc->ip[0] = 224;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);     /* 224.255.255.255 */
    nfc->ip[0] = 203;
    assert_decode_error(msg, 0);
    ofpbuf_delete(msg);

    /* Same on a delete. */
    msg = encode_simple(NXFMC_DELETE, 1);
    msg_cmd(msg)->ip_proto = 50;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_key_delete_table)
{
    struct ofpbuf *msg = encode_simple(NXFMC_DELETE_TABLE, 3);
    struct nx_flexmap_cmd *nfc = msg_cmd(msg);

    assert_decode_error(msg, 0);
    nfc->ip[0] = 10;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);
    nfc->ip[0] = 0;
    nfc->tp_dst = htons(80);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);
    nfc->tp_dst = 0;
    nfc->ip_proto = IPPROTO_TCP;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);
    nfc->ip_proto = 0;
    nfc->pad2[0] = 1;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_KEY);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_len_delete_with_backends)
{
    /* Turn a valid add into a delete and a delete-table: both carry
     * backends, which is a length error. */
    struct ofpbuf *msg = encode_add(2);

    msg_cmd(msg)->command = htons(NXFMC_DELETE);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);

    struct nx_flexmap_cmd *nfc = msg_cmd(msg);
    nfc->command = htons(NXFMC_DELETE_TABLE);
    nfc->family = NXFM_FAMILY_NONE;
    nfc->ip_proto = 0;
    nfc->tp_dst = 0;
    memset(nfc->ip, 0, sizeof nfc->ip);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_no_backends)
{
    struct ofpbuf *msg = encode_simple(NXFMC_DELETE, 1);

    msg_cmd(msg)->command = htons(NXFMC_ADD);
    assert_decode_error(msg, OFPERR_NXFMFC_NO_BACKENDS);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_too_many_backends)
{
    struct ofpbuf *msg = encode_add(FLEXMAP_MAX_BACKENDS);

    msg_add_backend(msg);
    ck_assert_uint_eq(ntohs(msg_cmd(msg)->n_backends), 65);
    assert_decode_error(msg, OFPERR_NXFMFC_TOO_MANY_BACKENDS);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_backend)
{
    struct ofpbuf *msg = encode_add(3);
    struct nx_flexmap_backend *nfb = msg_backend(msg, 2);
    struct nx_flexmap_backend orig = *nfb;

    nfb->flags = htons(2);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
    *nfb = orig;
    nfb->pad[1] = 1;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
    *nfb = orig;
    nfb->mac = eth_addr_zero;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
    nfb->mac = (struct eth_addr) ETH_ADDR_C(33, 33, 00, 00, 00, 01);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
    *nfb = orig;
    nfb->tun_id = htonll(1);                 /* Tunnel field, no flag. */
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
    *nfb = orig;
    nfb->tun_dst[3] = 1;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
    nfb->flags = htons(FLEXMAP_BACKEND_TUNNEL);
    assert_decode_error(msg, 0);
    *nfb = orig;
    assert_decode_error(msg, 0);

    /* Only a reply may mark a backend unresolved. */
    nfb->flags = htons(FLEXMAP_BACKEND_UNRESOLVED);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
    *nfb = orig;

    /* Tunnel destinations that are not unicast: unspecified, multicast,
     * broadcast, IPv6 unspecified and multicast. */
    static const char *const bad[] = {
        "::ffff:0.0.0.0", "::ffff:224.0.0.1", "::ffff:255.255.255.255",
        "::ffff:127.0.0.1", "::", "ff02::1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct in6_addr a;

        ck_assert(ipv6_parse(bad[i], &a));
        nfb->flags = htons(FLEXMAP_BACKEND_TUNNEL);
        nfb->tun_id = htonll(5001);
        memcpy(nfb->tun_dst, &a, sizeof a);
        assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
        /* Over a bad port number, too. */
        nfb->port = htonl(0x10000);
        assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
        *nfb = orig;
    }
    assert_decode_error(msg, 0);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_port)
{
    struct ofpbuf *msg = encode_add(1);

    msg_backend(msg, 0)->port = htonl(0x10000);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_PORT);
    msg_backend(msg, 0)->port = htonl(0xfffffffe);   /* OFPP11 LOCAL. */
    assert_decode_error(msg, 0);

    /* Ports that name no interface. */
    msg_backend(msg, 0)->port = htonl(0xfffffffd);   /* CONTROLLER. */
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_PORT);
    msg_backend(msg, 0)->port = htonl(0xfffffff8);   /* IN_PORT. */
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_PORT);
    msg_backend(msg, 0)->port = htonl(0xffffffff);   /* ANY. */
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_PORT);
    msg_backend(msg, 0)->port = htonl(0);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_PORT);
    msg_backend(msg, 0)->port = htonl(0xfeff);
    assert_decode_error(msg, 0);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_zero_weight)
{
    struct ofpbuf *msg = encode_add(3);

    for (size_t i = 0; i < 3; i++) {
        msg_backend(msg, i)->weight = 0;
    }
    assert_decode_error(msg, OFPERR_NXFMFC_ZERO_WEIGHT);
    msg_backend(msg, 1)->weight = htons(1);
    assert_decode_error(msg, 0);
    /* A bad backend takes precedence. */
    msg_backend(msg, 1)->weight = 0;
    msg_backend(msg, 2)->flags = htons(0x10);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_bad_second_command)
{
    struct ofputil_flexmap_cmd *cmds = xcalloc(2, sizeof *cmds);
    struct ofpbuf *msg;

    make_cmd(&cmds[0], NXFMC_ADD, 1, 2);
    make_cmd(&cmds[1], NXFMC_ADD, 2, 2);
    cmds[1].entry.backends[1].mac = eth_addr_broadcast;
    msg = ofputil_encode_flexmap_mod(OFP13_VERSION, cmds, 2);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_BACKEND);
    ofpbuf_delete(msg);
    free(cmds);
}
END_TEST

START_TEST(test_bad_mod_pad)
{
    struct ofpbuf *msg = encode_add(1);

    /* Each byte of the padding of struct nx_flexmap_mod. */
    for (size_t i = 0; i < sizeof msg_mod(msg)->pad; i++) {
        msg_mod(msg)->pad[i] = 0x80;
        assert_decode_error(msg, OFPERR_NXBRC_MUST_BE_ZERO);
        msg_mod(msg)->pad[i] = 0;
        assert_decode_error(msg, 0);
    }

    /* Length errors take precedence over the padding... */
    msg_mod(msg)->pad[5] = 1;
    msg_mod(msg)->n_commands = htons(2);
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_LEN);
    msg_mod(msg)->n_commands = htons(1);

    /* ...and the padding over a command's contents. */
    msg_cmd(msg)->command = htons(9);
    assert_decode_error(msg, OFPERR_NXBRC_MUST_BE_ZERO);
    msg_mod(msg)->pad[5] = 0;
    assert_decode_error(msg, OFPERR_NXFMFC_BAD_COMMAND);
    ofpbuf_delete(msg);

    /* Also with no commands at all. */
    msg = ofputil_encode_flexmap_mod(OFP13_VERSION, NULL, 0);
    msg_mod(msg)->pad[0] = 1;
    assert_decode_error(msg, OFPERR_NXBRC_MUST_BE_ZERO);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_wrong_type)
{
    struct ofpbuf *msg = ofputil_encode_flexmap_stats_request(OFP13_VERSION,
                                                              1);
    struct ofputil_flexmap_cmd *cmds;
    size_t n;

    ck_assert_int_eq(ofputil_decode_flexmap_mod(msg->data, &cmds, &n),
                     OFPERR_OFPBRC_BAD_TYPE);
    ck_assert_ptr_null(cmds);
    ofpbuf_delete(msg);
}
END_TEST

/* Stats. */

START_TEST(test_stats_request)
{
    static const uint8_t tables[] = { 0, 17, 254, FLEXMAP_ALL_TABLES };

    for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
        struct ofpbuf *msg;
        uint8_t table_id = 99;

        msg = ofputil_encode_flexmap_stats_request(OFP13_VERSION, tables[i]);
        ck_assert_int_eq(ofputil_decode_flexmap_stats_request(msg->data,
                                                              &table_id), 0);
        ck_assert_uint_eq(table_id, tables[i]);
        ofpbuf_delete(msg);
    }

    /* Extra bytes, or none: the body must be exactly 8 bytes, an error of
     * the message's layout. */
    struct ofpbuf *msg = ofputil_encode_flexmap_stats_request(OFP10_VERSION,
                                                              1);
    uint8_t table_id;
    ofpbuf_put_zeros(msg, 8);
    ofpmsg_update_length(msg);
    ck_assert_int_eq(ofputil_decode_flexmap_stats_request(msg->data,
                                                          &table_id),
                     OFPERR_OFPBRC_BAD_LEN);
    msg->size -= 16;
    ofpmsg_update_length(msg);
    ck_assert_int_eq(ofputil_decode_flexmap_stats_request(msg->data,
                                                          &table_id),
                     OFPERR_OFPBRC_BAD_LEN);
    ofpbuf_delete(msg);
}
END_TEST

START_TEST(test_stats_request_bad_pad)
{
    struct ds s = DS_EMPTY_INITIALIZER;

    for (size_t i = 0; i < 7; i++) {
        struct ofpbuf *msg;
        struct nx_flexmap_stats_request *nfsr;
        uint8_t table_id = 99;

        msg = ofputil_encode_flexmap_stats_request(OFP13_VERSION, 4);
        nfsr = msg->msg;
        ck_assert_uint_eq(sizeof nfsr->pad, 7);
        nfsr->pad[i] = 0xff;
        ck_assert_int_eq(ofputil_decode_flexmap_stats_request(msg->data,
                                                              &table_id),
                         OFPERR_NXBRC_MUST_BE_ZERO);
        ck_assert_uint_eq(table_id, 99);
        ck_assert_int_eq(ofputil_flexmap_stats_request_format(&s, msg->data),
                         OFPERR_NXBRC_MUST_BE_ZERO);
        ck_assert_str_eq(ds_cstr(&s), "");

        /* A length error takes precedence. */
        ofpbuf_put_zeros(msg, 8);
        ofpmsg_update_length(msg);
        ck_assert_int_eq(ofputil_decode_flexmap_stats_request(msg->data,
                                                              &table_id),
                         OFPERR_OFPBRC_BAD_LEN);
        ofpbuf_delete(msg);
    }
    ds_destroy(&s);
}
END_TEST

START_TEST(test_stats_request_format)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    struct ofpbuf *msg;

    msg = ofputil_encode_flexmap_stats_request(OFP13_VERSION, 3);
    ck_assert_int_eq(ofputil_flexmap_stats_request_format(&s, msg->data), 0);
    ck_assert_str_eq(ds_cstr(&s), " table=3");
    ofpbuf_delete(msg);

    ds_clear(&s);
    msg = ofputil_encode_flexmap_stats_request(OFP13_VERSION,
                                               FLEXMAP_ALL_TABLES);
    ck_assert_int_eq(ofputil_flexmap_stats_request_format(&s, msg->data), 0);
    ck_assert_str_eq(ds_cstr(&s), " table=all");
    ofpbuf_delete(msg);
    ds_destroy(&s);
}
END_TEST

/* Starts NXST_FLEXMAP replies in 'replies' for 'version'. */
/* Sets the OpenFlow length of every reply in 'replies', as sending them
 * would. */
static void
finish_replies(struct ovs_list *replies)
{
    struct ofpbuf *reply;

    LIST_FOR_EACH (reply, list_node, replies) {
        ofpmsg_update_length(reply);
    }
}

static void
start_replies(struct ovs_list *replies, enum ofp_version version)
{
    struct ofpbuf *request;

    request = ofputil_encode_flexmap_stats_request(version,
                                                   FLEXMAP_ALL_TABLES);
    ofpmp_init(replies, request->data);
    ofpbuf_delete(request);
}

START_TEST(test_stats_reply_split)
{
    enum { N = 60 };
    struct ofputil_flexmap_stats *in = xcalloc(N, sizeof *in);
    struct ofputil_flexmap_stats *out = xzalloc(sizeof *out);
    enum ofp_version version = _i ? OFP13_VERSION : OFP10_VERSION;
    struct ovs_list replies;
    struct ofpbuf *reply;
    size_t n_msgs = 0, next = 0;

    start_replies(&replies, version);
    for (size_t i = 0; i < N; i++) {
        make_entry(&in[i].entry, i, i % 3 == 0,
                   i % 5 ? IPPROTO_UDP : 0, i % 5 ? 1000 + i : 0,
                   i % 2 ? FLEXMAP_MAX_BACKENDS : i % 7 + 1);
        in[i].packet_count = UINT64_MAX - i;
        in[i].byte_count = i * 1000;
        for (size_t j = 0; j < in[i].entry.n_backends; j++) {
            struct flexmap_backend_stats *bs = &in[i].backend_stats[j];

            bs->n_packets = UINT64_MAX - i * 100 - j;
            bs->n_bytes = (uint64_t) i << 32 | j;
            bs->n_conns = UINT32_MAX - j * 7 - i;
        }
        ofputil_append_flexmap_stats(&replies, &in[i]);
    }
    finish_replies(&replies);

    LIST_FOR_EACH (reply, list_node, &replies) {
        struct ofpbuf b = ofpbuf_const_initializer(reply->data, reply->size);
        const struct ofp_header *oh = reply->data;
        int retval;

        n_msgs++;
        ck_assert_uint_le(reply->size, UINT16_MAX);
        ck_assert_int_eq(ofpmp_more(oh),
                         reply->list_node.next != &replies);
        while (!(retval = ofputil_decode_flexmap_stats_reply(out, &b))) {
            ck_assert_uint_lt(next, N);
            ck_assert_msg(flexmap_entry_equal(&in[next].entry, &out->entry),
                          "entry %zu differs", next);
            ck_assert_uint_eq(out->packet_count, in[next].packet_count);
            ck_assert_uint_eq(out->byte_count, in[next].byte_count);
            for (size_t j = 0; j < FLEXMAP_MAX_BACKENDS; j++) {
                const struct flexmap_backend_stats *x, *y;

                x = &in[next].backend_stats[j];
                y = &out->backend_stats[j];
                ck_assert_uint_eq(x->n_packets, y->n_packets);
                ck_assert_uint_eq(x->n_bytes, y->n_bytes);
                ck_assert_uint_eq(x->n_conns, y->n_conns);
            }
            next++;
        }
        ck_assert_int_eq(retval, EOF);
    }
    ck_assert_uint_eq(next, N);
    ck_assert_uint_ge(n_msgs, 2);
    ofpbuf_list_delete(&replies);
    free(in);
    free(out);
}
END_TEST

START_TEST(test_stats_reply_empty)
{
    struct ofputil_flexmap_stats *fs = xzalloc(sizeof *fs);
    struct ds s = DS_EMPTY_INITIALIZER;
    struct ovs_list replies;
    struct ofpbuf *reply;

    start_replies(&replies, OFP13_VERSION);
    finish_replies(&replies);
    reply = ofpbuf_from_list(ovs_list_front(&replies));
    ck_assert_int_eq(ofputil_flexmap_stats_reply_format(&s, reply->data,
                                                        NULL), 0);
    ck_assert_str_eq(ds_cstr(&s), "");
    ds_destroy(&s);
    struct ofpbuf b = ofpbuf_const_initializer(reply->data, reply->size);
    ck_assert_int_eq(ofputil_decode_flexmap_stats_reply(fs, &b), EOF);
    ofpbuf_list_delete(&replies);
    free(fs);
}
END_TEST

/* Returns a one-entry NXST_FLEXMAP reply in '*replies' and its entry, which
 * has two backends with counters. */
static struct nx_flexmap_stats *
one_entry_reply(struct ovs_list *replies)
{
    struct ofputil_flexmap_stats *fs = xzalloc(sizeof *fs);
    struct ofpbuf *reply;

    make_entry(&fs->entry, 3, false, IPPROTO_TCP, 80, 2);
    fs->packet_count = 5;
    fs->byte_count = 500;
    fs->backend_stats[0] = two_bstats[0];
    fs->backend_stats[1] = two_bstats[1];
    start_replies(replies, OFP13_VERSION);
    ofputil_append_flexmap_stats(replies, fs);
    finish_replies(replies);
    free(fs);
    reply = ofpbuf_from_list(ovs_list_front(replies));
    return reply->msg;
}

static int
decode_first_reply(struct ovs_list *replies)
{
    struct ofputil_flexmap_stats *fs = xzalloc(sizeof *fs);
    struct ofpbuf *reply = ofpbuf_from_list(ovs_list_front(replies));
    struct ofpbuf b = ofpbuf_const_initializer(reply->data, reply->size);
    int retval = ofputil_decode_flexmap_stats_reply(fs, &b);

    free(fs);
    return retval;
}

START_TEST(test_stats_reply_malformed)
{
    struct ovs_list replies;
    struct nx_flexmap_stats *nfs;

    nfs = one_entry_reply(&replies);
    ck_assert_int_eq(decode_first_reply(&replies), 0);
    nfs->len = htons(48);
    ck_assert_int_eq(decode_first_reply(&replies), OFPERR_NXFMFC_BAD_LEN);
    nfs->len = htons(48 + 40 * 2);     /* Size before per-backend stats. */
    ck_assert_int_eq(decode_first_reply(&replies), OFPERR_NXFMFC_BAD_LEN);
    nfs->len = htons(48 + 64 * 2);
    nfs->n_backends = htons(3);
    ck_assert_int_eq(decode_first_reply(&replies), OFPERR_NXFMFC_BAD_LEN);
    nfs->n_backends = htons(1);
    ck_assert_int_eq(decode_first_reply(&replies), OFPERR_NXFMFC_BAD_LEN);
    nfs->len = htons(48 + 64 * 2);
    nfs->n_backends = htons(2);
    nfs->family = 9;
    ck_assert_int_eq(decode_first_reply(&replies), OFPERR_NXFMFC_BAD_FAMILY);
    nfs->family = NXFM_FAMILY_IPV4;
    nfs->pad = 1;
    ck_assert_int_eq(decode_first_reply(&replies), OFPERR_NXFMFC_BAD_KEY);
    nfs->pad = 0;
    nfs->table_id = 255;
    ck_assert_int_eq(decode_first_reply(&replies), OFPERR_NXFMFC_BAD_TABLE);
    nfs->table_id = 3;
    ck_assert_int_eq(decode_first_reply(&replies), 0);
    ofpbuf_list_delete(&replies);
}
END_TEST

/* The wire layout of a reply entry: the entry, its backends, then their
 * counters. */
START_TEST(test_stats_reply_layout)
{
    struct ovs_list replies;
    struct nx_flexmap_stats *nfs;
    struct nx_flexmap_backend *nfbs;
    struct nx_flexmap_backend_stats *nfbss;
    struct ofpbuf *reply;

    nfs = one_entry_reply(&replies);
    reply = ofpbuf_from_list(ovs_list_front(&replies));
    ck_assert_uint_eq(ofpbuf_msgsize(reply), 48 + 2 * 40 + 2 * 24);
    ck_assert_uint_eq(ntohs(nfs->len), 176);
    ck_assert_uint_eq(ntohs(nfs->n_backends), 2);
    ck_assert_uint_eq(ntohll(nfs->packet_count), 5);
    ck_assert_uint_eq(ntohll(nfs->byte_count), 500);

    nfbs = ALIGNED_CAST(struct nx_flexmap_backend *, nfs + 1);
    ck_assert_uint_eq(nfbs[0].mac.ea[5], 0);
    ck_assert_uint_eq(nfbs[1].mac.ea[5], 1);

    nfbss = ALIGNED_CAST(struct nx_flexmap_backend_stats *, nfbs + 2);
    ck_assert_uint_eq((char *) nfbss - (char *) nfs, 128);
    ck_assert_uint_eq(ntohll(nfbss[0].packet_count), 10);
    ck_assert_uint_eq(ntohll(nfbss[0].byte_count), 1500);
    ck_assert_uint_eq(ntohl(nfbss[0].n_conns), 3);
    ck_assert_uint_eq(ntohll(nfbss[1].packet_count), UINT64_MAX);
    ck_assert_uint_eq(ntohll(nfbss[1].byte_count), 0);
    ck_assert_uint_eq(ntohl(nfbss[1].n_conns), UINT32_MAX);
    ck_assert(is_all_zeros(nfbss[0].pad, sizeof nfbss[0].pad));
    ck_assert(is_all_zeros(nfbss[1].pad, sizeof nfbss[1].pad));
    ofpbuf_list_delete(&replies);
}
END_TEST

/* An entry in the layout from before per-backend counters (48 + 40 * n
 * bytes, lengths consistent throughout) is rejected, as is an entry whose
 * 'len' is off, even with the message length matching it. */
START_TEST(test_stats_reply_old_size)
{
    for (size_t n = 1; n <= 3; n++) {
        struct ofputil_flexmap_stats *fs = xzalloc(sizeof *fs);
        struct ds s = DS_EMPTY_INITIALIZER;
        struct nx_flexmap_stats *nfs;
        struct ovs_list replies;
        struct ofpbuf *reply;

        make_entry(&fs->entry, 4, false, IPPROTO_UDP, 53, n);
        start_replies(&replies, OFP13_VERSION);
        ofputil_append_flexmap_stats(&replies, fs);
        reply = ofpbuf_from_list(ovs_list_front(&replies));
        nfs = reply->msg;

        /* Old layout: drop the counters. */
        reply->size -= n * 24;
        nfs->len = htons(48 + 40 * n);
        finish_replies(&replies);
        ck_assert_int_eq(decode_first_reply(&replies),
                         OFPERR_NXFMFC_BAD_LEN);
        ck_assert_int_eq(ofputil_flexmap_stats_reply_format(&s, reply->data,
                                                            NULL),
                         OFPERR_NXFMFC_BAD_LEN);

        /* New layout, 'len' 8 too long with 8 more bytes of message. */
        ofpbuf_put_zeros(reply, n * 24 + 8);
        nfs = reply->msg;
        nfs->len = htons(48 + 64 * n + 8);
        finish_replies(&replies);
        ck_assert_int_eq(decode_first_reply(&replies),
                         OFPERR_NXFMFC_BAD_LEN);

        /* 'len' right but the message 8 bytes short. */
        nfs->len = htons(48 + 64 * n);
        reply->size -= 16;
        finish_replies(&replies);
        ck_assert_int_eq(decode_first_reply(&replies),
                         OFPERR_NXFMFC_BAD_LEN);

        /* Restored. */
        ofpbuf_put_zeros(reply, 8);
        finish_replies(&replies);
        ck_assert_int_eq(decode_first_reply(&replies), 0);

        ofpbuf_list_delete(&replies);
        ds_destroy(&s);
        free(fs);
    }
}
END_TEST

/* Nonzero padding in a backend's counters. */
START_TEST(test_stats_reply_backend_stats_pad)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    struct nx_flexmap_backend_stats *nfbss;
    struct nx_flexmap_stats *nfs;
    struct ovs_list replies;

    nfs = one_entry_reply(&replies);
    nfbss = ALIGNED_CAST(struct nx_flexmap_backend_stats *,
                         (char *) nfs + 48 + 2 * 40);
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < sizeof nfbss[i].pad; j++) {
            nfbss[i].pad[j] = 0x80;
            ck_assert_int_eq(decode_first_reply(&replies),
                             OFPERR_NXBRC_MUST_BE_ZERO);
            nfbss[i].pad[j] = 0;
        }
    }
    ck_assert_int_eq(decode_first_reply(&replies), 0);

    /* The printer reports it too; the padding check precedes the entry's
     * own checks. */
    nfbss[1].pad[3] = 1;
    nfs->table_id = 255;
    ck_assert_int_eq(ofputil_flexmap_stats_reply_format(
                         &s, ofpbuf_from_list(ovs_list_front(&replies))->data,
                         NULL),
                     OFPERR_NXBRC_MUST_BE_ZERO);
    ofpbuf_list_delete(&replies);
    ds_destroy(&s);
}
END_TEST

/* A backend that the switch marks unresolved: kept through the wire,
 * printed with its port number (never the name another interface holds
 * now) and an "unresolved" mark, which the parser refuses. */
START_TEST(test_stats_reply_unresolved)
{
    struct ofputil_flexmap_stats *fs = xzalloc(sizeof *fs);
    struct ofputil_flexmap_stats *out = xzalloc(sizeof *out);
    struct flexmap_entry *e = entry_new();
    struct ds s = DS_EMPTY_INITIALIZER;
    struct ovs_list replies;
    struct ofpbuf *reply;
    char *error;

    parse_ok(&fs->entry, "table=1,tcp,nw_dst=203.0.113.10,tp_dst=80,"
             "backend(mac=02:00:00:00:01:01,port=web1),"
             "backend(mac=02:00:00:00:01:02,port=web2)");
    fs->entry.backends[1].flags |= FLEXMAP_BACKEND_UNRESOLVED;

    start_replies(&replies, OFP13_VERSION);
    ofputil_append_flexmap_stats(&replies, fs);
    finish_replies(&replies);
    reply = ofpbuf_from_list(ovs_list_front(&replies));
    struct ofpbuf b = ofpbuf_const_initializer(reply->data, reply->size);
    ck_assert_int_eq(ofputil_decode_flexmap_stats_reply(out, &b), 0);
    ck_assert(flexmap_entry_equal(&out->entry, &fs->entry));
    ck_assert_uint_eq(out->entry.backends[1].flags,
                      FLEXMAP_BACKEND_UNRESOLVED);

    ofputil_flexmap_stats_format(out, &port_map, &s);
    ck_assert_str_eq(ds_cstr(&s),
                     "n_packets=0, n_bytes=0, table=1,tcp,"
                     "nw_dst=203.0.113.10,tp_dst=80,"
                     "backend(mac=02:00:00:00:01:01,port=web1,n_packets=0,"
                     "n_bytes=0,n_conns=0),"
                     "backend(mac=02:00:00:00:01:02,port=2,unresolved,"
                     "n_packets=0,n_bytes=0,n_conns=0)");
    error = flexmap_entry_parse(e, ds_cstr(&s), &port_map);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error, "backend: unresolved: "));
    free(error);

    /* An unknown flag in a reply is still refused. */
    struct nx_flexmap_stats *nfs = reply->msg;
    struct nx_flexmap_backend *nfb
        = ALIGNED_CAST(struct nx_flexmap_backend *, nfs + 1);
    nfb[1].flags = htons(FLEXMAP_BACKEND_UNRESOLVED | 0x4);
    ck_assert_int_eq(decode_first_reply(&replies),
                     OFPERR_NXFMFC_BAD_BACKEND);

    ofpbuf_list_delete(&replies);
    ds_destroy(&s);
    free(e);
    free(out);
    free(fs);
}
END_TEST

/* flexmap_get_line(): comments and blank lines as
 * ds_get_preprocessed_line() has them, a NUL byte refused. */
START_TEST(test_get_line)
{
    static const char text[] = "a,b\n# comment\n\n  c # d\nx\0y\n"
                               "\0\ne";
    FILE *file = fmemopen((void *) text, sizeof text - 1, "r");
    struct ds s = DS_EMPTY_INITIALIZER;
    int line = 0;

    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(flexmap_get_line(&s, file, &line), 0);
    ck_assert_str_eq(ds_cstr(&s), "a,b");
    ck_assert_int_eq(line, 1);
    ck_assert_int_eq(flexmap_get_line(&s, file, &line), 0);
    ck_assert_str_eq(ds_cstr(&s), "  c ");
    ck_assert_int_eq(line, 4);
    ck_assert_int_eq(flexmap_get_line(&s, file, &line), EINVAL);
    ck_assert_int_eq(line, 5);
    ck_assert_int_eq(flexmap_get_line(&s, file, &line), EINVAL);
    ck_assert_int_eq(line, 6);
    ck_assert_int_eq(flexmap_get_line(&s, file, &line), 0);
    ck_assert_str_eq(ds_cstr(&s), "e");
    ck_assert_int_eq(line, 7);
    ck_assert_int_eq(flexmap_get_line(&s, file, &line), EOF);
    fclose(file);
    ds_destroy(&s);
}
END_TEST

START_TEST(test_stats_reply_format)
{
    struct ofputil_flexmap_stats *fs = xzalloc(sizeof *fs);
    struct ds s = DS_EMPTY_INITIALIZER;
    struct ovs_list replies;
    struct ofpbuf *reply;

    start_replies(&replies, OFP13_VERSION);
    parse_ok(&fs->entry, example_v4);
    fs->packet_count = 10;
    fs->byte_count = 1500;
    fs->backend_stats[0] = (struct flexmap_backend_stats) { 4, 600, 2 };
    fs->backend_stats[1] = (struct flexmap_backend_stats) { 6, 900, 5 };
    ofputil_append_flexmap_stats(&replies, fs);
    parse_ok(&fs->entry, example_ip);
    fs->packet_count = 0;
    fs->byte_count = 0;
    fs->backend_stats[0] = (struct flexmap_backend_stats) { 0, 0, 9 };
    ofputil_append_flexmap_stats(&replies, fs);
    finish_replies(&replies);

    reply = ofpbuf_from_list(ovs_list_front(&replies));
    ck_assert_int_eq(ofputil_flexmap_stats_reply_format(&s, reply->data,
                                                        &port_map), 0);
    ck_assert_str_eq(ds_cstr(&s),
                     "\n n_packets=10, n_bytes=1500, "
                     "table=1,tcp,nw_dst=203.0.113.10,tp_dst=80,"
                     "backend(mac=02:00:00:00:01:01,port=web1,"
                     "n_packets=4,n_bytes=600,n_conns=2),"
                     "backend(mac=02:00:00:00:01:02,port=web2,weight=2,"
                     "n_packets=6,n_bytes=900,n_conns=5)"
                     "\n n_packets=0, n_bytes=0, "
                     "table=1,ip,nw_dst=203.0.113.11,"
                     "backend(mac=02:00:00:00:01:04,port=db1)");

    /* Each line, as dump-maps prints it, parses back to its entry. */
    struct ofpbuf b = ofpbuf_const_initializer(reply->data, reply->size);
    struct ofputil_flexmap_stats *out = xzalloc(sizeof *out);
    struct flexmap_entry *e = entry_new();
    size_t n = 0;

    while (!ofputil_decode_flexmap_stats_reply(out, &b)) {
        ds_clear(&s);
        ofputil_flexmap_stats_format(out, &port_map, &s);
        parse_ok(e, ds_cstr(&s));
        ck_assert_msg(flexmap_entry_equal(e, &out->entry),
                      "\"%s\" did not round trip", ds_cstr(&s));
        n++;
    }
    ck_assert_uint_eq(n, 2);
    free(e);
    free(out);

    ofpbuf_list_delete(&replies);
    ds_destroy(&s);
    free(fs);
}
END_TEST

/* Printing NXT_FLEXMAP_MOD. */

START_TEST(test_mod_format)
{
    struct ofputil_flexmap_cmd *cmds = xcalloc(4, sizeof *cmds);
    struct ds s = DS_EMPTY_INITIALIZER;
    struct ofpbuf *msg;

    cmds[0].command = NXFMC_ADD;
    parse_ok(&cmds[0].entry, example_v4);
    cmds[1].command = NXFMC_DELETE;
    parse_ok(&cmds[1].entry, example_v6);
    cmds[2].command = NXFMC_DELETE_TABLE;
    cmds[2].entry.table_id = 1;
    cmds[3].command = NXFMC_DELETE_TABLE;
    cmds[3].entry.table_id = FLEXMAP_ALL_TABLES;

    msg = ofputil_encode_flexmap_mod(OFP13_VERSION, cmds, 4);
    ck_assert_int_eq(ofputil_flexmap_mod_format(&s, msg->data, &port_map),
                     0);
    ck_assert_str_eq(ds_cstr(&s),
                     "\n add table=1,tcp,nw_dst=203.0.113.10,tp_dst=80,"
                     "backend(mac=02:00:00:00:01:01,port=web1),"
                     "backend(mac=02:00:00:00:01:02,port=web2,weight=2)"
                     "\n delete table=1,tcp6,ipv6_dst=2001:db8::10,"
                     "tp_dst=443"
                     "\n delete table=1"
                     "\n delete all tables");

    /* Without a port map, numbers. */
    ds_clear(&s);
    ck_assert_int_eq(ofputil_flexmap_mod_format(&s, msg->data, NULL), 0);
    ck_assert_ptr_nonnull(strstr(ds_cstr(&s), "port=1)"));
    ck_assert_ptr_null(strstr(ds_cstr(&s), "web1"));

    /* A malformed message reports its error. */
    ds_clear(&s);
    msg_cmd(msg)->command = htons(7);
    ck_assert_int_eq(ofputil_flexmap_mod_format(&s, msg->data, &port_map),
                     OFPERR_NXFMFC_BAD_COMMAND);
    ofpbuf_delete(msg);
    ds_destroy(&s);
    free(cmds);
}
END_TEST

/* Suites. */

static Suite *
flexmap_text_suite(void)
{
    Suite *s = suite_create("flexmap");
    TCase *tc;

    tc = tcase_create("text-round-trip");
    tcase_add_test(tc, test_text_example_v4);
    tcase_add_test(tc, test_text_quoted_port_names);
    tcase_add_test(tc, test_text_example_v6_tunnel);
    tcase_add_test(tc, test_text_any_proto);
    tcase_add_test(tc, test_text_each_protocol);
    tcase_add_test(tc, test_text_any_port);
    tcase_add_test(tc, test_text_defaults_and_order);
    tcase_add_test(tc, test_text_backend_order_and_weights);
    tcase_add_test(tc, test_text_tunnel_forms);
    tcase_add_test(tc, test_text_port_names);
    tcase_add_test(tc, test_text_max_backends);
    tcase_add_test(tc, test_text_parse_key);
    tcase_add_test(tc, test_text_format_stats);
    tcase_add_test(tc, test_get_line);
    suite_add_tcase(s, tc);

    tc = tcase_create("text-errors");
    tcase_add_loop_test(tc, test_text_parse_error, 0,
                        ARRAY_SIZE(parse_errors));
    suite_add_tcase(s, tc);

    tc = tcase_create("model");
    tcase_add_test(tc, test_key_functions);
    tcase_add_test(tc, test_key_check);
    tcase_add_test(tc, test_entry_check);
    tcase_add_test(tc, test_entry_equal);
    suite_add_tcase(s, tc);

    return s;
}

static Suite *
ofp_flexmap_suite(void)
{
    Suite *s = suite_create("ofp-flexmap");
    TCase *tc;

    tc = tcase_create("mod-round-trip");
    tcase_add_test(tc, test_wire_add);
    tcase_add_test(tc, test_wire_delete);
    tcase_add_test(tc, test_wire_delete_table);
    tcase_add_test(tc, test_wire_empty);
    tcase_add_test(tc, test_wire_split_small);
    tcase_add_test(tc, test_wire_split_default);
    tcase_add_test(tc, test_wire_split_oversized_command);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("mod-malformed");
    tcase_add_test(tc, test_bad_len_short_body);
    tcase_add_test(tc, test_bad_len_trailing);
    tcase_add_test(tc, test_bad_len_cmd_len);
    tcase_add_test(tc, test_bad_len_n_commands);
    tcase_add_test(tc, test_bad_len_precedes_content);
    tcase_add_test(tc, test_bad_command);
    tcase_add_test(tc, test_bad_table);
    tcase_add_test(tc, test_bad_family);
    tcase_add_test(tc, test_bad_key);
    tcase_add_test(tc, test_bad_key_delete_table);
    tcase_add_test(tc, test_bad_len_delete_with_backends);
    tcase_add_test(tc, test_no_backends);
    tcase_add_test(tc, test_too_many_backends);
    tcase_add_test(tc, test_bad_backend);
    tcase_add_test(tc, test_bad_port);
    tcase_add_test(tc, test_zero_weight);
    tcase_add_test(tc, test_bad_second_command);
    tcase_add_test(tc, test_bad_mod_pad);
    tcase_add_test(tc, test_wrong_type);
    suite_add_tcase(s, tc);

    tc = tcase_create("stats");
    tcase_add_test(tc, test_stats_request);
    tcase_add_test(tc, test_stats_request_bad_pad);
    tcase_add_test(tc, test_stats_request_format);
    tcase_add_loop_test(tc, test_stats_reply_split, 0, 2);
    tcase_add_test(tc, test_stats_reply_empty);
    tcase_add_test(tc, test_stats_reply_malformed);
    tcase_add_test(tc, test_stats_reply_layout);
    tcase_add_test(tc, test_stats_reply_old_size);
    tcase_add_test(tc, test_stats_reply_backend_stats_pad);
    tcase_add_test(tc, test_stats_reply_format);
    tcase_add_test(tc, test_stats_reply_unresolved);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("print");
    tcase_add_test(tc, test_mod_format);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    SRunner *sr;
    int n_failed;

    port_map_setup();

    sr = srunner_create(flexmap_text_suite());
    srunner_add_suite(sr, ofp_flexmap_suite());
    srunner_run_all(sr, CK_NORMAL);
    n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    ofputil_port_map_destroy(&port_map);
    return n_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
