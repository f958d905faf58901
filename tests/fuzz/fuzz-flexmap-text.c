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

/* libFuzzer target for the flexmap text syntax (lib/flexmap.c).
 *
 * The input, as a NUL-terminated string, goes to flexmap_entry_parse() and
 * flexmap_entry_parse_key().  For every successful parse, checks these
 * properties, calling abort() if one fails:
 *
 *   - A parsed entry passes flexmap_entry_check().
 *   - Formatting (with and without the port map) and parsing again gives an
 *     equal entry, and formatting that gives the same text again.
 *   - The same with counters, as dump-maps prints them: entry counters in
 *     front and, with several backends, per-backend counters (values taken
 *     from the input), which the parser ignores.
 *   - A parsed entry survives an NXT_FLEXMAP_MOD encode/decode round trip.
 *   - The same for keys alone, through flexmap_entry_parse_key(). */

#include <config.h>

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flexmap.h"
#include "flow.h"
#include "hash.h"
#include "ofp-flexmap.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vlog.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_MAX_INPUT 65536

static struct ofputil_port_map port_map
    = OFPUTIL_PORT_MAP_INITIALIZER(&port_map);

int
LLVMFuzzerInitialize(int *argc OVS_UNUSED, char ***argv OVS_UNUSED)
{
    /* Parse errors log through VLOG; keep the fuzzer's output readable. */
    vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_OFF);

    ofputil_port_map_put(&port_map, u16_to_ofp(1), "web1");
    ofputil_port_map_put(&port_map, u16_to_ofp(2), "web2");
    ofputil_port_map_put(&port_map, u16_to_ofp(3), "db1");
    ofputil_port_map_put(&port_map, u16_to_ofp(10), "vx0");
    return 0;
}

/* Reports a failed property and aborts (ovs_abort() calls abort()). */
static void OVS_NO_RETURN
fail(const char *what, const char *input, const char *text)
{
    ovs_abort(0, "fuzz-flexmap-text: %s\n"
              "  input: \"%s\"\n"
              "  text:  \"%s\"", what, input, text ? text : "");
}

/* Returns a malloc()'d string: 'e' formatted through 'map'. */
static char *
format_entry(const struct flexmap_entry *e,
             const struct ofputil_port_map *map)
{
    struct ds s = DS_EMPTY_INITIALIZER;

    flexmap_entry_format(e, map, &s);
    return ds_steal_cstr(&s);
}

/* Checks that 'e' formats through 'map' to text that parses back to an equal
 * entry and formats to the same text again. */
static void
check_entry_text(const struct flexmap_entry *e,
                 const struct ofputil_port_map *map, const char *input)
{
    struct flexmap_entry *e2 = xmalloc(sizeof *e2);
    char *text = format_entry(e, map);
    char *error = flexmap_entry_parse(e2, text, &port_map);

    if (error) {
        fprintf(stderr, "error: %s\n", error);
        fail("formatted entry does not parse", input, text);
    }
    if (!flexmap_entry_equal(e, e2)) {
        fail("formatted entry parses to a different entry", input, text);
    }

    char *text2 = format_entry(e2, map);
    if (strcmp(text, text2)) {
        fail("formatting is not stable", input, text2);
    }
    free(text2);
    free(text);
    free(e2);
}

/* Checks that 'e', printed as "ovs-ofctl dump-maps" prints it, with counters
 * derived from 'input', parses back to an equal entry and that the printed
 * text is stable. */
static void
check_entry_stats_text(const struct flexmap_entry *e,
                       const struct ofputil_port_map *map, const char *input)
{
    struct ofputil_flexmap_stats *fs = xzalloc(sizeof *fs);
    struct flexmap_entry *e2 = xmalloc(sizeof *e2);
    struct ds s = DS_EMPTY_INITIALIZER;
    struct ds s2 = DS_EMPTY_INITIALIZER;
    uint32_t h = hash_string(input, 0);
    char *error;

    fs->entry = *e;
    fs->packet_count = (uint64_t) h << 32 | hash_int(h, 1);
    fs->byte_count = h & 1 ? UINT64_MAX : 0;
    for (size_t i = 0; i < e->n_backends; i++) {
        struct flexmap_backend_stats *bs = &fs->backend_stats[i];

        h = hash_int(h, i);
        bs->n_packets = h & 2 ? UINT64_MAX - h : h;
        bs->n_bytes = (uint64_t) h << 16;
        bs->n_conns = h & 4 ? UINT32_MAX : h >> 3;
    }

    ofputil_flexmap_stats_format(fs, map, &s);
    if (e->n_backends > 1 && !strstr(ds_cstr(&s), ",n_conns=")) {
        fail("per-backend counters missing", input, ds_cstr(&s));
    } else if (e->n_backends == 1 && strstr(ds_cstr(&s), "n_conns")) {
        fail("per-backend counters with one backend", input, ds_cstr(&s));
    }
    error = flexmap_entry_parse(e2, ds_cstr(&s), &port_map);
    if (error) {
        fprintf(stderr, "error: %s\n", error);
        fail("entry with counters does not parse", input, ds_cstr(&s));
    }
    if (!flexmap_entry_equal(e, e2)) {
        fail("entry with counters parses to a different entry", input,
             ds_cstr(&s));
    }

    fs->entry = *e2;
    ofputil_flexmap_stats_format(fs, map, &s2);
    if (strcmp(ds_cstr(&s), ds_cstr(&s2))) {
        fail("formatting with counters is not stable", input, ds_cstr(&s2));
    }

    ds_destroy(&s2);
    ds_destroy(&s);
    free(e2);
    free(fs);
}

/* Checks that 'e' survives an NXT_FLEXMAP_MOD encode/decode round trip as an
 * add command. */
static void
check_entry_wire(const struct flexmap_entry *e, const char *input)
{
    struct ofputil_flexmap_cmd *cmd = xzalloc(sizeof *cmd);
    struct ofputil_flexmap_cmd *out;
    struct ofpbuf *msg;
    enum ofperr error;
    size_t n;

    cmd->command = NXFMC_ADD;
    cmd->entry = *e;
    msg = ofputil_encode_flexmap_mod(OFP13_VERSION, cmd, 1);
    error = ofputil_decode_flexmap_mod(msg->data, &out, &n);
    if (error) {
        fprintf(stderr, "error: %s\n", ofperr_get_name(error));
        fail("parsed entry does not decode from the wire", input, NULL);
    }
    if (n != 1 || out[0].command != NXFMC_ADD
        || !flexmap_entry_equal(&out[0].entry, e)) {
        fail("parsed entry changes on the wire", input, NULL);
    }
    free(out);
    ofpbuf_delete(msg);
    free(cmd);
}

static void
fuzz_entry(const char *input)
{
    struct flexmap_entry *e = xmalloc(sizeof *e);
    char *error = flexmap_entry_parse(e, input, &port_map);

    if (!error) {
        if (flexmap_entry_check(e)) {
            fail("parsed entry fails flexmap_entry_check()", input, NULL);
        }
        check_entry_text(e, &port_map, input);
        check_entry_text(e, NULL, input);
        check_entry_stats_text(e, &port_map, input);
        check_entry_stats_text(e, NULL, input);
        check_entry_wire(e, input);
    }
    free(error);
    free(e);
}

/* Appends the table and key of 'e' to 's' in the syntax of
 * flexmap_entry_parse_key(). */
static void
format_key_only(const struct flexmap_entry *e, bool key_given, struct ds *s)
{
    if (key_given) {
        ds_put_format(s, "table=%"PRIu8",", e->table_id);
        flexmap_key_format(&e->key, s);
    } else if (e->table_id != FLEXMAP_ALL_TABLES) {
        ds_put_format(s, "table=%"PRIu8, e->table_id);
    }
}

static void
fuzz_key(const char *input)
{
    struct flexmap_entry *e = xmalloc(sizeof *e);
    struct flexmap_entry *e2 = xmalloc(sizeof *e2);
    bool key_given, key_given2;
    char *error;

    error = flexmap_entry_parse_key(e, input, &port_map, &key_given);
    if (!error) {
        struct ds s = DS_EMPTY_INITIALIZER;

        if (e->n_backends) {
            fail("parsed key has backends", input, NULL);
        }
        if (key_given && (e->table_id > FLEXMAP_MAX_TABLE
                          || flexmap_key_check(&e->key))) {
            fail("parsed key is invalid", input, NULL);
        }

        format_key_only(e, key_given, &s);
        error = flexmap_entry_parse_key(e2, ds_cstr(&s), &port_map,
                                        &key_given2);
        if (error) {
            fprintf(stderr, "error: %s\n", error);
            fail("formatted key does not parse", input, ds_cstr(&s));
        }
        if (key_given != key_given2
            || e->table_id != e2->table_id
            || (key_given && !flexmap_key_equal(&e->key, &e2->key))) {
            fail("formatted key parses to a different key", input,
                 ds_cstr(&s));
        }
        ds_destroy(&s);
    }
    free(error);
    free(e2);
    free(e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }

    char *input = xmemdup0((const char *) data, size);
    fuzz_entry(input);
    fuzz_key(input);
    free(input);
    return 0;
}
