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

/* libFuzzer target for the flexmap OpenFlow codec (lib/ofp-flexmap.c).
 *
 * The input is the body of an OpenFlow 1.3 message, after the OpenFlow and
 * Nicira headers.  Each input is tried as the body of all three flexmap
 * messages:
 *
 *   - NXT_FLEXMAP_MOD: decoded with ofputil_decode_flexmap_mod() and printed
 *     with ofputil_flexmap_mod_format().  When it decodes, the commands are
 *     encoded again, which must give back the same body byte for byte (the
 *     decoder accepts only canonical encodings) and decode to the same
 *     commands, also when split with ofputil_encode_flexmap_mods().
 *
 *   - NXST_FLEXMAP reply: decoded entry by entry with
 *     ofputil_decode_flexmap_stats_reply() and printed with
 *     ofputil_flexmap_stats_reply_format().  When every entry decodes, they
 *     are appended to new replies, which must again give the same body and
 *     the same entries, counters and per-backend counters.  Each decoded
 *     entry, printed as dump-maps prints it (with its counters), must parse
 *     back with flexmap_entry_parse() to the same entry.
 *
 *   - NXST_FLEXMAP request: decoded and printed.
 *
 * The printers must report the same error as the decoders.  A failed
 * property calls abort().
 *
 * OpenFlow requires these bodies to be a multiple of 8 bytes long, so an
 * input that is not is also tried truncated to a multiple of 8. */

#include <config.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flexmap.h"
#include "flow.h"
#include "ofp-flexmap.h"
#include "openflow/nicira-ext.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-msgs.h"
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
    /* ofpraw_pull() logs every length error; keep the output readable. */
    vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_OFF);

    ofputil_port_map_put(&port_map, u16_to_ofp(1), "web1");
    ofputil_port_map_put(&port_map, u16_to_ofp(2), "web2");
    ofputil_port_map_put(&port_map, u16_to_ofp(10), "vx0");
    return 0;
}

/* Reports a failed property and aborts (ovs_abort() calls abort()). */
static void OVS_NO_RETURN
fail(const char *what, enum ofperr error)
{
    ovs_abort(0, "fuzz-flexmap-wire: %s (%s)", what,
              error ? ofperr_get_name(error) : "no error");
}

/* Returns a new OpenFlow 1.3 message of type 'raw' with body 'body', or NULL
 * if it would be too long for OpenFlow. */
static struct ofpbuf *
make_msg(enum ofpraw raw, const uint8_t *body, size_t size)
{
    struct ofpbuf *msg = ofpraw_alloc(raw, OFP13_VERSION, size);

    if (msg->size + size > UINT16_MAX) {
        ofpbuf_delete(msg);
        return NULL;
    }
    ofpbuf_put(msg, body, size);
    ofpmsg_update_length(msg);
    return msg;
}

/* Returns true if the bodies (after the headers) of 'a' and 'b' are the
 * same. */
static bool
same_body(const struct ofpbuf *a, const struct ofpbuf *b)
{
    return (ofpbuf_msgsize(a) == ofpbuf_msgsize(b)
            && !memcmp(a->msg, b->msg, ofpbuf_msgsize(a)));
}

static bool
cmd_equal(const struct ofputil_flexmap_cmd *a,
          const struct ofputil_flexmap_cmd *b)
{
    return (a->command == b->command
            && flexmap_entry_equal(&a->entry, &b->entry));
}

/* NXT_FLEXMAP_MOD. */

/* Decodes 'msg', which must decode, and checks that its commands are the
 * 'n' in 'cmds'.  Returns the number of commands. */
static size_t
check_mod_decodes_to(const struct ofpbuf *msg,
                     const struct ofputil_flexmap_cmd *cmds, size_t n)
{
    struct ofputil_flexmap_cmd *out;
    enum ofperr error;
    size_t n_out;

    error = ofputil_decode_flexmap_mod(msg->data, &out, &n_out);
    if (error) {
        fail("re-encoded NXT_FLEXMAP_MOD does not decode", error);
    }
    if (n_out > n) {
        fail("re-encoded NXT_FLEXMAP_MOD has too many commands", 0);
    }
    for (size_t i = 0; i < n_out; i++) {
        if (!cmd_equal(&cmds[i], &out[i])) {
            fail("re-encoded NXT_FLEXMAP_MOD decodes differently", 0);
        }
    }
    free(out);
    return n_out;
}

static void
fuzz_mod(const uint8_t *body, size_t size)
{
    struct ofputil_flexmap_cmd *cmds;
    struct ds s = DS_EMPTY_INITIALIZER;
    enum ofperr error, format_error;
    struct ofpbuf *msg;
    size_t n;

    msg = make_msg(OFPRAW_NXT_FLEXMAP_MOD, body, size);
    if (!msg) {
        return;
    }

    error = ofputil_decode_flexmap_mod(msg->data, &cmds, &n);
    format_error = ofputil_flexmap_mod_format(&s, msg->data, &port_map);
    if (error != format_error) {
        fail("ofputil_flexmap_mod_format() disagrees with the decoder",
             format_error);
    }
    ds_destroy(&s);

    if (error) {
        if (cmds || n) {
            fail("failed decode returned commands", error);
        }
        ofpbuf_delete(msg);
        return;
    }

    /* Encode again: same body, same commands. */
    struct ofpbuf *msg2 = ofputil_encode_flexmap_mod(OFP13_VERSION, cmds, n);
    if (!same_body(msg, msg2)) {
        fail("re-encoded NXT_FLEXMAP_MOD differs", 0);
    }
    if (check_mod_decodes_to(msg2, cmds, n) != n) {
        fail("re-encoded NXT_FLEXMAP_MOD lost commands", 0);
    }
    ofpbuf_delete(msg2);

    /* Split into small messages: same commands, in order. */
    struct ovs_list msgs;
    size_t next = 0;

    ovs_list_init(&msgs);
    ofputil_encode_flexmap_mods(OFP13_VERSION, cmds, n, 512, &msgs);
    LIST_FOR_EACH_POP (msg2, list_node, &msgs) {
        next += check_mod_decodes_to(msg2, &cmds[next], n - next);
        ofpbuf_delete(msg2);
    }
    if (next != n) {
        fail("split NXT_FLEXMAP_MOD lost commands", 0);
    }

    free(cmds);
    ofpbuf_delete(msg);
}

/* NXST_FLEXMAP reply. */

/* Returns true if 'a' and 'b' have the same entry, counters and per-backend
 * counters (all FLEXMAP_MAX_BACKENDS of them: the decoder zeroes those past
 * the entry's backends). */
static bool
stats_equal(const struct ofputil_flexmap_stats *a,
            const struct ofputil_flexmap_stats *b)
{
    if (!flexmap_entry_equal(&a->entry, &b->entry)
        || a->packet_count != b->packet_count
        || a->byte_count != b->byte_count) {
        return false;
    }
    for (size_t i = 0; i < FLEXMAP_MAX_BACKENDS; i++) {
        const struct flexmap_backend_stats *x = &a->backend_stats[i];
        const struct flexmap_backend_stats *y = &b->backend_stats[i];

        if (x->n_packets != y->n_packets || x->n_bytes != y->n_bytes
            || x->n_conns != y->n_conns) {
            fprintf(stderr, "backend %zu counters differ\n", i);
            return false;
        }
    }
    return true;
}

/* Checks that 'fs', printed as dump-maps prints it, parses back to its entry
 * (flexmap_entry_parse() ignores the counters), or, if it has an unresolved
 * backend, that the parser refuses it for that reason. */
static void
check_stats_text(const struct ofputil_flexmap_stats *fs,
                 const struct ofputil_port_map *map)
{
    struct flexmap_entry *e = xmalloc(sizeof *e);
    struct ds s = DS_EMPTY_INITIALIZER;
    bool unresolved = false;
    char *error;

    for (size_t i = 0; i < fs->entry.n_backends; i++) {
        if (fs->entry.backends[i].flags & FLEXMAP_BACKEND_UNRESOLVED) {
            unresolved = true;
        }
    }

    ofputil_flexmap_stats_format(fs, map, &s);
    error = flexmap_entry_parse(e, ds_cstr(&s), &port_map);
    if (unresolved) {
        if (!error || !strstr(error, "backend: unresolved:")) {
            fprintf(stderr, "%s: %s\n", ds_cstr(&s), error ? error : "");
            fail("printed unresolved NXST_FLEXMAP entry not refused", 0);
        }
        free(error);
    } else if (error) {
        fprintf(stderr, "%s: %s\n", ds_cstr(&s), error);
        fail("printed NXST_FLEXMAP entry does not parse", 0);
    } else if (!flexmap_entry_equal(e, &fs->entry)) {
        fprintf(stderr, "%s\n", ds_cstr(&s));
        fail("printed NXST_FLEXMAP entry parses to a different entry", 0);
    }
    ds_destroy(&s);
    free(e);
}

/* Decodes every entry of 'oh' into a malloc()'d array '*fsp' of '*np'
 * entries.  Returns 0 if all decode, otherwise the error. */
static int
decode_reply(const struct ofp_header *oh, struct ofputil_flexmap_stats **fsp,
             size_t *np)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_flexmap_stats *fs = NULL;
    size_t n = 0, allocated = 0;
    int retval;

    for (;;) {
        if (n >= allocated) {
            fs = x2nrealloc(fs, &allocated, sizeof *fs);
        }
        retval = ofputil_decode_flexmap_stats_reply(&fs[n], &b);
        if (retval) {
            break;
        }
        /* A reply may mark backends unresolved; nothing else differs from
         * what an add may carry. */
        struct flexmap_entry *checked = xmemdup(&fs[n].entry,
                                                sizeof fs[n].entry);
        for (size_t i = 0; i < checked->n_backends; i++) {
            checked->backends[i].flags &= ~FLEXMAP_BACKEND_UNRESOLVED;
        }
        if (flexmap_entry_check(checked)) {
            fail("decoded NXST_FLEXMAP entry fails flexmap_entry_check()",
                 flexmap_entry_check(checked));
        }
        free(checked);
        for (size_t i = fs[n].entry.n_backends; i < FLEXMAP_MAX_BACKENDS;
             i++) {
            const struct flexmap_backend_stats *bs = &fs[n].backend_stats[i];

            if (bs->n_packets || bs->n_bytes || bs->n_conns) {
                fail("decoded NXST_FLEXMAP entry has counters for "
                     "backends it does not have", 0);
            }
        }
        n++;
    }
    *fsp = fs;
    *np = n;
    return retval == EOF ? 0 : retval;
}

static void
fuzz_reply(const uint8_t *body, size_t size)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    struct ofputil_flexmap_stats *fs;
    enum ofperr format_error;
    struct ofpbuf *msg;
    size_t n;
    int error;

    msg = make_msg(OFPRAW_NXST_FLEXMAP_REPLY, body, size);
    if (!msg) {
        return;
    }

    error = decode_reply(msg->data, &fs, &n);
    format_error = ofputil_flexmap_stats_reply_format(&s, msg->data,
                                                      &port_map);
    if (error != format_error) {
        fail("ofputil_flexmap_stats_reply_format() disagrees with the "
             "decoder", format_error);
    }
    ds_destroy(&s);

    if (!error) {
        struct ofpbuf *request, *reply;
        struct ovs_list replies;
        size_t next = 0;

        for (size_t i = 0; i < n; i++) {
            check_stats_text(&fs[i], &port_map);
            check_stats_text(&fs[i], NULL);
        }

        request = ofputil_encode_flexmap_stats_request(OFP13_VERSION,
                                                       FLEXMAP_ALL_TABLES);
        ofpmp_init(&replies, request->data);
        ofpbuf_delete(request);
        for (size_t i = 0; i < n; i++) {
            ofputil_append_flexmap_stats(&replies, &fs[i]);
        }

        LIST_FOR_EACH (reply, list_node, &replies) {
            struct ofputil_flexmap_stats *fs2;
            size_t n2;

            ofpmsg_update_length(reply);
            if (ovs_list_is_singleton(&replies) && !same_body(msg, reply)) {
                fail("re-encoded NXST_FLEXMAP reply differs", 0);
            }
            error = decode_reply(reply->data, &fs2, &n2);
            if (error) {
                fail("re-encoded NXST_FLEXMAP reply does not decode", error);
            }
            for (size_t i = 0; i < n2; i++, next++) {
                if (next >= n || !stats_equal(&fs[next], &fs2[i])) {
                    fail("re-encoded NXST_FLEXMAP reply decodes "
                         "differently", 0);
                }
            }
            free(fs2);
        }
        if (next != n) {
            fail("re-encoded NXST_FLEXMAP reply lost entries", 0);
        }
        ofpbuf_list_delete(&replies);
    }
    free(fs);
    ofpbuf_delete(msg);
}

/* NXST_FLEXMAP request. */

static void
fuzz_request(const uint8_t *body, size_t size)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    enum ofperr error, format_error;
    struct ofpbuf *msg;
    uint8_t table_id;

    msg = make_msg(OFPRAW_NXST_FLEXMAP_REQUEST, body, size);
    if (!msg) {
        return;
    }

    error = ofputil_decode_flexmap_stats_request(msg->data, &table_id);
    format_error = ofputil_flexmap_stats_request_format(&s, msg->data);
    if (error != format_error) {
        fail("ofputil_flexmap_stats_request_format() disagrees with the "
             "decoder", format_error);
    }
    if (!error) {
        struct ofpbuf *msg2;

        msg2 = ofputil_encode_flexmap_stats_request(OFP13_VERSION, table_id);
        if (!same_body(msg, msg2)) {
            fail("re-encoded NXST_FLEXMAP request differs", 0);
        }
        ofpbuf_delete(msg2);
    }
    ds_destroy(&s);
    ofpbuf_delete(msg);
}

static void
fuzz_body(const uint8_t *body, size_t size)
{
    fuzz_mod(body, size);
    fuzz_reply(body, size);
    fuzz_request(body, size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }

    fuzz_body(data, size);
    if (size % 8) {
        fuzz_body(data, size - size % 8);
    }
    return 0;
}
