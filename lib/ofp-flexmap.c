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
#include "ofp-flexmap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "openflow/nicira-ext.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/ofpbuf.h"
#include "packets.h"
#include "util.h"

/* Wire lengths.
 *
 * A message whose length does not fit its OpenFlow layout (the fixed part
 * and the multiple of 8 that ofp-msgs.h declares for it) gets
 * OFPERR_OFPBRC_BAD_LEN, as every OpenFlow message does: the switch's
 * message layer checks that before any flexmap code sees the message, and
 * the decoders here say the same.  Lengths inside the body (a command's or
 * an entry's 'len', 'n_commands', 'n_backends') get OFPERR_NXFMFC_BAD_LEN. */
#define NXFM_CMD_LEN sizeof(struct nx_flexmap_cmd)
#define NXFM_BACKEND_LEN sizeof(struct nx_flexmap_backend)
#define NXFM_STATS_LEN sizeof(struct nx_flexmap_stats)
#define NXFM_BACKEND_STATS_LEN sizeof(struct nx_flexmap_backend_stats)

/* Returns the length of an NXST_FLEXMAP reply entry with 'n_backends'
 * backends: the entry, its backends, then one counter block per backend. */
static size_t
flexmap_stats_len(size_t n_backends)
{
    return NXFM_STATS_LEN + n_backends * (NXFM_BACKEND_LEN
                                          + NXFM_BACKEND_STATS_LEN);
}

/* Pulls the OpenFlow header from 'b' and checks that it is 'expected'.
 * Returns 0 if successful, otherwise an OFPERR_* value, OFPERR_OFPBRC_BAD_LEN
 * if the message's length does not fit its layout. */
static enum ofperr
flexmap_pull_raw(struct ofpbuf *b, enum ofpraw expected)
{
    enum ofpraw raw;
    enum ofperr error;

    error = ofpraw_pull(&raw, b);
    if (error) {
        return error;
    }
    return raw == expected ? 0 : OFPERR_OFPBRC_BAD_TYPE;
}

/* Keys and backends on the wire. */

/* Stores 'key' into the wire fields 'family', 'ip_proto', 'tp_dst' and
 * 'ip'. */
static void
flexmap_key_to_wire(const struct flexmap_key *key, uint8_t *family,
                    uint8_t *ip_proto, ovs_be16 *tp_dst, uint8_t ip[16])
{
    *ip_proto = key->proto;
    *tp_dst = key->port;
    memset(ip, 0, 16);
    if (flexmap_key_is_ipv4(key)) {
        ovs_be32 ip4 = in6_addr_get_mapped_ipv4(&key->ip);

        *family = NXFM_FAMILY_IPV4;
        memcpy(ip, &ip4, sizeof ip4);
    } else {
        *family = NXFM_FAMILY_IPV6;
        memcpy(ip, &key->ip, sizeof key->ip);
    }
}

/* Decodes the wire fields 'family', 'ip_proto', 'tp_dst' and 'ip' into 'key'.
 * 'pad_is_zero' tells whether the padding around them is all-zero.  Returns
 * 0 if successful, otherwise OFPERR_NXFMFC_BAD_FAMILY or
 * OFPERR_NXFMFC_BAD_KEY. */
static enum ofperr
flexmap_key_from_wire(uint8_t family, uint8_t ip_proto, ovs_be16 tp_dst,
                      const uint8_t ip[16], bool pad_is_zero,
                      struct flexmap_key *key)
{
    if (family == NXFM_FAMILY_IPV4) {
        ovs_be32 ip4;

        if (!is_all_zeros(ip + 4, 12)) {
            return OFPERR_NXFMFC_BAD_KEY;
        }
        memcpy(&ip4, ip, sizeof ip4);
        flexmap_key_init_ipv4(key, ip4, ip_proto, tp_dst);
    } else if (family == NXFM_FAMILY_IPV6) {
        struct in6_addr ip6;

        memcpy(&ip6, ip, sizeof ip6);
        if (IN6_IS_ADDR_V4MAPPED(&ip6)) {
            /* Would silently turn into an IPv4 key. */
            return OFPERR_NXFMFC_BAD_KEY;
        }
        flexmap_key_init_ipv6(key, &ip6, ip_proto, tp_dst);
    } else {
        return OFPERR_NXFMFC_BAD_FAMILY;
    }

    return pad_is_zero ? flexmap_key_check(key) : OFPERR_NXFMFC_BAD_KEY;
}

/* Stores backend 'b' into 'nfb'. */
static void
flexmap_backend_to_wire(const struct flexmap_backend *b,
                        struct nx_flexmap_backend *nfb)
{
    memset(nfb, 0, sizeof *nfb);
    nfb->mac = b->mac;
    nfb->weight = htons(b->weight);
    nfb->port = ofputil_port_to_ofp11(b->port);
    nfb->flags = htons(b->flags);
    if (b->flags & FLEXMAP_BACKEND_TUNNEL) {
        nfb->tun_id = b->tun_id;
        memcpy(nfb->tun_dst, &b->tun_dst, sizeof nfb->tun_dst);
    }
}

/* Decodes 'nfb' into 'b', allowing the flags in 'allowed_flags'
 * (FLEXMAP_BACKEND_KNOWN_FLAGS in a mod, FLEXMAP_BACKEND_REPLY_FLAGS in a
 * stats reply).  Returns 0 if successful, otherwise:
 *
 *     OFPERR_NXFMFC_BAD_BACKEND    a flag outside 'allowed_flags', nonzero
 *                                  padding, nonzero tunnel fields without
 *                                  FLEXMAP_BACKEND_TUNNEL, or what
 *                                  flexmap_backend_check() refuses: a zero
 *                                  or multicast MAC address, a tunnel
 *                                  destination that is not unicast.
 *     OFPERR_NXFMFC_BAD_PORT       a port number that OpenFlow 1.0 numbering
 *                                  cannot represent, or that no backend may
 *                                  be on (port 0, a reserved port other
 *                                  than LOCAL). */
static enum ofperr
flexmap_backend_from_wire(const struct nx_flexmap_backend *nfb,
                          uint16_t allowed_flags, struct flexmap_backend *b)
{
    uint16_t flags = ntohs(nfb->flags);
    struct flexmap_backend checked;
    enum ofperr port_error;
    enum ofperr error;

    if (flags & ~allowed_flags
        || !is_all_zeros(nfb->pad, sizeof nfb->pad)) {
        return OFPERR_NXFMFC_BAD_BACKEND;
    }
    if (!(flags & FLEXMAP_BACKEND_TUNNEL)
        && (nfb->tun_id || !is_all_zeros(nfb->tun_dst,
                                         sizeof nfb->tun_dst))) {
        return OFPERR_NXFMFC_BAD_BACKEND;
    }

    memset(b, 0, sizeof *b);
    port_error = ofputil_port_from_ofp11(nfb->port, &b->port);
    b->mac = nfb->mac;
    b->weight = ntohs(nfb->weight);
    b->flags = flags;
    if (flags & FLEXMAP_BACKEND_TUNNEL) {
        b->tun_id = nfb->tun_id;
        memcpy(&b->tun_dst, nfb->tun_dst, sizeof b->tun_dst);
    }

    /* The same checks as on an entry parsed from text; a backend's fields
     * take precedence over its port number. */
    checked = *b;
    checked.flags &= ~FLEXMAP_BACKEND_UNRESOLVED;
    if (port_error) {
        checked.port = OFPP_LOCAL;
    }
    error = flexmap_backend_check(&checked);
    if (error == OFPERR_NXFMFC_BAD_BACKEND) {
        return error;
    }
    return port_error ? OFPERR_NXFMFC_BAD_PORT : error;
}

/* Decodes the 'n' backends in 'nfbs' into 'entry', whose table and key must
 * already be set.  Returns 0 if successful, otherwise
 * OFPERR_NXFMFC_NO_BACKENDS, OFPERR_NXFMFC_TOO_MANY_BACKENDS, an error from
 * flexmap_backend_from_wire(), or OFPERR_NXFMFC_ZERO_WEIGHT, in that order of
 * precedence. */
static enum ofperr
flexmap_backends_from_wire(const struct nx_flexmap_backend *nfbs, size_t n,
                           uint16_t allowed_flags,
                           struct flexmap_entry *entry)
{
    entry->n_backends = 0;
    if (!n) {
        return OFPERR_NXFMFC_NO_BACKENDS;
    } else if (n > FLEXMAP_MAX_BACKENDS) {
        return OFPERR_NXFMFC_TOO_MANY_BACKENDS;
    }

    for (size_t i = 0; i < n; i++) {
        enum ofperr error;

        error = flexmap_backend_from_wire(&nfbs[i], allowed_flags,
                                          &entry->backends[i]);
        if (error) {
            return error;
        }
    }
    entry->n_backends = n;

    return (flexmap_entry_weight_sum(entry)
            ? 0 : OFPERR_NXFMFC_ZERO_WEIGHT);
}

/* NXT_FLEXMAP_MOD. */

/* Returns the number of backends that 'cmd' carries on the wire. */
static size_t
flexmap_cmd_n_backends(const struct ofputil_flexmap_cmd *cmd)
{
    return cmd->command == NXFMC_ADD ? cmd->entry.n_backends : 0;
}

/* Returns the length of 'cmd' on the wire. */
static size_t
flexmap_cmd_len(const struct ofputil_flexmap_cmd *cmd)
{
    return NXFM_CMD_LEN + flexmap_cmd_n_backends(cmd) * NXFM_BACKEND_LEN;
}

/* Appends 'cmd' to 'b'.  Only NXFMC_ADD carries backends; NXFMC_DELETE_TABLE
 * carries only the table id. */
static void
flexmap_put_cmd(struct ofpbuf *b, const struct ofputil_flexmap_cmd *cmd)
{
    const struct flexmap_entry *entry = &cmd->entry;
    size_t n_backends = flexmap_cmd_n_backends(cmd);
    struct nx_flexmap_cmd *nfc;

    ovs_assert(n_backends <= FLEXMAP_MAX_BACKENDS);

    nfc = ofpbuf_put_zeros(b, sizeof *nfc);
    nfc->len = htons(flexmap_cmd_len(cmd));
    nfc->command = htons(cmd->command);
    nfc->n_backends = htons(n_backends);
    nfc->table_id = entry->table_id;
    if (cmd->command != NXFMC_DELETE_TABLE) {
        flexmap_key_to_wire(&entry->key, &nfc->family, &nfc->ip_proto,
                            &nfc->tp_dst, nfc->ip);
    }

    for (size_t i = 0; i < n_backends; i++) {
        flexmap_backend_to_wire(&entry->backends[i],
                                ofpbuf_put_uninit(b, NXFM_BACKEND_LEN));
    }
}

/* Starts a new NXT_FLEXMAP_MOD for OpenFlow 'version', with room for
 * 'size' bytes of commands. */
static struct ofpbuf *
flexmap_mod_start(enum ofp_version version, size_t size)
{
    struct ofpbuf *msg;

    msg = ofpraw_alloc(OFPRAW_NXT_FLEXMAP_MOD, version,
                       sizeof(struct nx_flexmap_mod) + size);
    ofpbuf_put_zeros(msg, sizeof(struct nx_flexmap_mod));
    return msg;
}

/* Completes 'msg', started with flexmap_mod_start(), which holds
 * 'n_commands' commands. */
static void
flexmap_mod_finish(struct ofpbuf *msg, size_t n_commands)
{
    struct nx_flexmap_mod *nfm = msg->msg;

    ovs_assert(n_commands <= UINT16_MAX);
    ovs_assert(msg->size <= UINT16_MAX);
    nfm->n_commands = htons(n_commands);
    ofpmsg_update_length(msg);
}

/* Returns a new NXT_FLEXMAP_MOD for OpenFlow 'version' that carries the
 * 'n_cmds' commands in 'cmds'.  The commands must fit in one message; use
 * ofputil_encode_flexmap_mods() otherwise. */
struct ofpbuf *
ofputil_encode_flexmap_mod(enum ofp_version version,
                           const struct ofputil_flexmap_cmd *cmds,
                           size_t n_cmds)
{
    struct ofpbuf *msg;
    size_t size = 0;

    for (size_t i = 0; i < n_cmds; i++) {
        size += flexmap_cmd_len(&cmds[i]);
    }

    msg = flexmap_mod_start(version, size);
    for (size_t i = 0; i < n_cmds; i++) {
        flexmap_put_cmd(msg, &cmds[i]);
    }
    flexmap_mod_finish(msg, n_cmds);
    return msg;
}

/* Appends to 'msgs' NXT_FLEXMAP_MOD messages for OpenFlow 'version' that
 * carry the 'n_cmds' commands in 'cmds', in order, each message at most
 * 'max_len' bytes long (0 means UINT16_MAX; so do larger values).  A command
 * too big to fit in 'max_len' along with the message headers goes alone into
 * a message that is longer than 'max_len'.  With no commands, appends
 * nothing. */
void
ofputil_encode_flexmap_mods(enum ofp_version version,
                            const struct ofputil_flexmap_cmd *cmds,
                            size_t n_cmds, size_t max_len,
                            struct ovs_list *msgs)
{
    struct ofpbuf *msg = NULL;
    size_t n_in_msg = 0;

    if (!max_len || max_len > UINT16_MAX) {
        max_len = UINT16_MAX;
    }

    for (size_t i = 0; i < n_cmds; i++) {
        size_t len = flexmap_cmd_len(&cmds[i]);

        if (msg && (msg->size + len > max_len || n_in_msg >= UINT16_MAX)) {
            flexmap_mod_finish(msg, n_in_msg);
            ovs_list_push_back(msgs, &msg->list_node);
            msg = NULL;
        }
        if (!msg) {
            msg = flexmap_mod_start(version, len);
            n_in_msg = 0;
        }
        flexmap_put_cmd(msg, &cmds[i]);
        n_in_msg++;
    }
    if (msg) {
        flexmap_mod_finish(msg, n_in_msg);
        ovs_list_push_back(msgs, &msg->list_node);
    }
}

/* Checks the lengths of the 'n' commands in 'msg', which must fill it
 * exactly.  Returns 0 if they are consistent, otherwise
 * OFPERR_NXFMFC_BAD_LEN. */
static enum ofperr
flexmap_mod_check_lengths(const struct ofpbuf *msg, size_t n)
{
    struct ofpbuf b = ofpbuf_const_initializer(msg->data, msg->size);

    for (size_t i = 0; i < n; i++) {
        const struct nx_flexmap_cmd *nfc = b.data;
        size_t len;

        if (b.size < NXFM_CMD_LEN) {
            return OFPERR_NXFMFC_BAD_LEN;
        }
        len = ntohs(nfc->len);
        if (len != NXFM_CMD_LEN + ntohs(nfc->n_backends) * NXFM_BACKEND_LEN
            || !ofpbuf_try_pull(&b, len)) {
            return OFPERR_NXFMFC_BAD_LEN;
        }
    }
    return b.size ? OFPERR_NXFMFC_BAD_LEN : 0;
}

/* Decodes one command, whose length has already been checked, from 'b' into
 * 'cmd'.  Returns 0 if successful, otherwise an OFPERR_NXFMFC_* value. */
static enum ofperr
flexmap_decode_cmd(struct ofpbuf *b, struct ofputil_flexmap_cmd *cmd)
{
    const struct nx_flexmap_cmd *nfc = ofpbuf_pull(b, NXFM_CMD_LEN);
    size_t n_backends = ntohs(nfc->n_backends);
    const struct nx_flexmap_backend *nfbs;
    struct flexmap_entry *entry = &cmd->entry;
    uint16_t command = ntohs(nfc->command);
    bool pad_is_zero;
    enum ofperr error;

    nfbs = ofpbuf_pull(b, n_backends * NXFM_BACKEND_LEN);

    if (command != NXFMC_ADD && command != NXFMC_DELETE
        && command != NXFMC_DELETE_TABLE) {
        return OFPERR_NXFMFC_BAD_COMMAND;
    }
    cmd->command = command;

    memset(&entry->key, 0, sizeof entry->key);
    entry->n_backends = 0;
    entry->table_id = nfc->table_id;
    pad_is_zero = (is_all_zeros(nfc->pad, sizeof nfc->pad)
                   && is_all_zeros(nfc->pad2, sizeof nfc->pad2));

    if (cmd->command == NXFMC_DELETE_TABLE) {
        if (entry->table_id > FLEXMAP_MAX_TABLE
            && entry->table_id != FLEXMAP_ALL_TABLES) {
            return OFPERR_NXFMFC_BAD_TABLE;
        } else if (nfc->family != NXFM_FAMILY_NONE) {
            return OFPERR_NXFMFC_BAD_FAMILY;
        } else if (nfc->ip_proto || nfc->tp_dst || !pad_is_zero
                   || !is_all_zeros(nfc->ip, sizeof nfc->ip)) {
            return OFPERR_NXFMFC_BAD_KEY;
        }
        return n_backends ? OFPERR_NXFMFC_BAD_LEN : 0;
    }

    if (entry->table_id > FLEXMAP_MAX_TABLE) {
        return OFPERR_NXFMFC_BAD_TABLE;
    }
    error = flexmap_key_from_wire(nfc->family, nfc->ip_proto, nfc->tp_dst,
                                  nfc->ip, pad_is_zero, &entry->key);
    if (error) {
        return error;
    }

    if (cmd->command == NXFMC_DELETE) {
        return n_backends ? OFPERR_NXFMFC_BAD_LEN : 0;
    }
    return flexmap_backends_from_wire(nfbs, n_backends,
                                      FLEXMAP_BACKEND_KNOWN_FLAGS, entry);
}

/* Decodes NXT_FLEXMAP_MOD 'oh' into a malloc()'d array '*cmdsp' of
 * '*n_cmdsp' commands.  Returns 0 if successful, otherwise an OFPERR_*
 * value, with '*cmdsp' NULL and '*n_cmdsp' 0.
 *
 * The whole message's lengths are checked before any command's contents, so
 * that a length error always yields a length error: OFPERR_OFPBRC_BAD_LEN if
 * the message does not fit its layout (body shorter than struct
 * nx_flexmap_mod or not a multiple of 8 bytes), otherwise
 * OFPERR_NXFMFC_BAD_LEN if the commands do not fill it exactly.  Then,
 * command by command, errors take this precedence:
 *
 *     OFPERR_NXFMFC_BAD_COMMAND          unknown command.
 *     OFPERR_NXFMFC_BAD_TABLE            table above 254 (255 is allowed
 *                                        only for NXFMC_DELETE_TABLE).
 *     OFPERR_NXFMFC_BAD_FAMILY           family not IPv4 or IPv6 (not NONE
 *                                        for NXFMC_DELETE_TABLE).
 *     OFPERR_NXFMFC_BAD_KEY              bad protocol, port without protocol,
 *                                        nonzero padding, IPv4 address with
 *                                        nonzero bytes 4 to 15, IPv6 address
 *                                        that is IPv4-mapped; for
 *                                        NXFMC_DELETE_TABLE, any nonzero key
 *                                        byte.
 *     OFPERR_NXFMFC_BAD_LEN              NXFMC_DELETE or NXFMC_DELETE_TABLE
 *                                        with backends.
 *     OFPERR_NXFMFC_NO_BACKENDS          NXFMC_ADD without backends.
 *     OFPERR_NXFMFC_TOO_MANY_BACKENDS    more than 64 backends.
 *     OFPERR_NXFMFC_BAD_BACKEND or       backend by backend, see
 *     OFPERR_NXFMFC_BAD_PORT             flexmap_backend_from_wire().
 *     OFPERR_NXFMFC_ZERO_WEIGHT          weights sum to zero.
 *
 * Nonzero padding in struct nx_flexmap_mod yields OFPERR_NXBRC_MUST_BE_ZERO,
 * after the length checks and before any command's contents are checked. */
enum ofperr
ofputil_decode_flexmap_mod(const struct ofp_header *oh,
                           struct ofputil_flexmap_cmd **cmdsp,
                           size_t *n_cmdsp)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    const struct nx_flexmap_mod *nfm;
    struct ofputil_flexmap_cmd *cmds;
    enum ofperr error;
    size_t n;

    *cmdsp = NULL;
    *n_cmdsp = 0;

    error = flexmap_pull_raw(&b, OFPRAW_NXT_FLEXMAP_MOD);
    if (error) {
        return error;
    }
    nfm = ofpbuf_try_pull(&b, sizeof *nfm);
    if (!nfm) {
        return OFPERR_OFPBRC_BAD_LEN;
    }
    n = ntohs(nfm->n_commands);

    error = flexmap_mod_check_lengths(&b, n);
    if (error) {
        return error;
    }
    if (!is_all_zeros(nfm->pad, sizeof nfm->pad)) {
        return OFPERR_NXBRC_MUST_BE_ZERO;
    }

    cmds = xmalloc(n * sizeof *cmds);
    for (size_t i = 0; i < n; i++) {
        error = flexmap_decode_cmd(&b, &cmds[i]);
        if (error) {
            free(cmds);
            return error;
        }
    }

    *cmdsp = cmds;
    *n_cmdsp = n;
    return 0;
}

/* Appends a description of NXT_FLEXMAP_MOD 'oh' to 's', one line per
 * command, naming ports through 'port_map' (which may be NULL).  Returns 0 if
 * successful, otherwise an OFPERR_* value from decoding 'oh'. */
enum ofperr
ofputil_flexmap_mod_format(struct ds *s, const struct ofp_header *oh,
                           const struct ofputil_port_map *port_map)
{
    struct ofputil_flexmap_cmd *cmds;
    enum ofperr error;
    size_t n;

    error = ofputil_decode_flexmap_mod(oh, &cmds, &n);
    if (error) {
        return error;
    }

    for (size_t i = 0; i < n; i++) {
        const struct flexmap_entry *entry = &cmds[i].entry;

        ds_put_cstr(s, "\n ");
        switch (cmds[i].command) {
        case NXFMC_ADD:
            ds_put_cstr(s, "add ");
            flexmap_entry_format(entry, port_map, s);
            break;

        case NXFMC_DELETE:
            ds_put_format(s, "delete table=%"PRIu8",", entry->table_id);
            flexmap_key_format(&entry->key, s);
            break;

        case NXFMC_DELETE_TABLE:
            if (entry->table_id == FLEXMAP_ALL_TABLES) {
                ds_put_cstr(s, "delete all tables");
            } else {
                ds_put_format(s, "delete table=%"PRIu8, entry->table_id);
            }
            break;
        }
    }
    free(cmds);
    return 0;
}

/* NXST_FLEXMAP request. */

/* Returns a new NXST_FLEXMAP request for OpenFlow 'version' for map table
 * 'table_id', or for all tables if 'table_id' is FLEXMAP_ALL_TABLES. */
struct ofpbuf *
ofputil_encode_flexmap_stats_request(enum ofp_version version,
                                     uint8_t table_id)
{
    struct nx_flexmap_stats_request *nfsr;
    struct ofpbuf *msg;

    msg = ofpraw_alloc(OFPRAW_NXST_FLEXMAP_REQUEST, version, 0);
    nfsr = ofpbuf_put_zeros(msg, sizeof *nfsr);
    nfsr->table_id = table_id;
    ofpmsg_update_length(msg);
    return msg;
}

/* Decodes NXST_FLEXMAP request 'oh' into '*table_id', which may be
 * FLEXMAP_ALL_TABLES.  Returns 0 if successful, otherwise an OFPERR_* value:
 * OFPERR_OFPBRC_BAD_LEN for a body other than 8 bytes,
 * OFPERR_NXBRC_MUST_BE_ZERO for nonzero padding. */
enum ofperr
ofputil_decode_flexmap_stats_request(const struct ofp_header *oh,
                                     uint8_t *table_id)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    const struct nx_flexmap_stats_request *nfsr;
    enum ofperr error;

    error = flexmap_pull_raw(&b, OFPRAW_NXST_FLEXMAP_REQUEST);
    if (error) {
        return error;
    }
    nfsr = ofpbuf_try_pull(&b, sizeof *nfsr);
    if (!nfsr || b.size) {
        return OFPERR_OFPBRC_BAD_LEN;
    }
    if (!is_all_zeros(nfsr->pad, sizeof nfsr->pad)) {
        return OFPERR_NXBRC_MUST_BE_ZERO;
    }
    *table_id = nfsr->table_id;
    return 0;
}

/* Appends a description of NXST_FLEXMAP request 'oh' to 's'.  Returns 0 if
 * successful, otherwise an OFPERR_* value. */
enum ofperr
ofputil_flexmap_stats_request_format(struct ds *s,
                                     const struct ofp_header *oh)
{
    enum ofperr error;
    uint8_t table_id;

    error = ofputil_decode_flexmap_stats_request(oh, &table_id);
    if (error) {
        return error;
    }
    if (table_id == FLEXMAP_ALL_TABLES) {
        ds_put_cstr(s, " table=all");
    } else {
        ds_put_format(s, " table=%"PRIu8, table_id);
    }
    return 0;
}

/* NXST_FLEXMAP reply. */

/* Appends 'fs' to the NXST_FLEXMAP replies in 'replies', which must have been
 * started with ofpmp_init(), beginning a new reply if the last one is
 * full. */
void
ofputil_append_flexmap_stats(struct ovs_list *replies,
                             const struct ofputil_flexmap_stats *fs)
{
    const struct flexmap_entry *entry = &fs->entry;
    struct nx_flexmap_backend_stats *nfbss;
    struct nx_flexmap_backend *nfbs;
    struct nx_flexmap_stats *nfs;
    size_t len;

    ovs_assert(entry->n_backends <= FLEXMAP_MAX_BACKENDS);
    len = flexmap_stats_len(entry->n_backends);

    nfs = ofpmp_append(replies, len);
    memset(nfs, 0, sizeof *nfs);
    nfs->len = htons(len);
    nfs->n_backends = htons(entry->n_backends);
    nfs->table_id = entry->table_id;
    flexmap_key_to_wire(&entry->key, &nfs->family, &nfs->ip_proto,
                        &nfs->tp_dst, nfs->ip);
    nfs->packet_count = htonll(fs->packet_count);
    nfs->byte_count = htonll(fs->byte_count);

    nfbs = ALIGNED_CAST(struct nx_flexmap_backend *, nfs + 1);
    for (size_t i = 0; i < entry->n_backends; i++) {
        flexmap_backend_to_wire(&entry->backends[i], &nfbs[i]);
    }

    nfbss = ALIGNED_CAST(struct nx_flexmap_backend_stats *,
                         nfbs + entry->n_backends);
    for (size_t i = 0; i < entry->n_backends; i++) {
        const struct flexmap_backend_stats *bs = &fs->backend_stats[i];

        memset(&nfbss[i], 0, sizeof nfbss[i]);
        nfbss[i].packet_count = htonll(bs->n_packets);
        nfbss[i].byte_count = htonll(bs->n_bytes);
        nfbss[i].n_conns = htonl(bs->n_conns);
    }
}

/* Pulls the next entry of an NXST_FLEXMAP reply from 'msg' into 'fs'.  On the
 * first call, 'msg' must hold the whole reply (its 'header' NULL); later
 * calls continue from where the previous left off.
 *
 * Returns 0 if successful, EOF if no entries were left, otherwise an
 * OFPERR_* value, with this precedence:
 *
 *     OFPERR_OFPBRC_BAD_LEN        the message's body is not a multiple of
 *                                  8 bytes.
 *     OFPERR_NXFMFC_BAD_LEN        the entry is truncated, or its 'len' is
 *                                  not 48 + 64 * n_backends.
 *     OFPERR_NXBRC_MUST_BE_ZERO    nonzero padding in a backend's counters.
 *     OFPERR_NXFMFC_*              otherwise, an error that
 *                                  flexmap_entry_check() would report (or
 *                                  that decoding NXT_FLEXMAP_MOD would, for
 *                                  the key and backends), except that a
 *                                  backend may carry
 *                                  FLEXMAP_BACKEND_UNRESOLVED.
 *
 * On success, 'fs->backend_stats' holds the counters of the entry's backends
 * and is zero beyond them. */
int
ofputil_decode_flexmap_stats_reply(struct ofputil_flexmap_stats *fs,
                                   struct ofpbuf *msg)
{
    const struct nx_flexmap_backend_stats *nfbss;
    const struct nx_flexmap_backend *nfbs;
    const struct nx_flexmap_stats *nfs;
    struct flexmap_entry *entry = &fs->entry;
    size_t len, n_backends;
    enum ofperr error;

    if (msg->header) {
        enum ofpraw raw;

        error = ofpraw_decode(&raw, msg->header);
        if (!error && raw != OFPRAW_NXST_FLEXMAP_REPLY) {
            error = OFPERR_OFPBRC_BAD_TYPE;
        }
    } else {
        error = flexmap_pull_raw(msg, OFPRAW_NXST_FLEXMAP_REPLY);
    }
    if (error) {
        return error;
    }

    if (!msg->size) {
        return EOF;
    }

    nfs = ofpbuf_try_pull(msg, sizeof *nfs);
    if (!nfs) {
        return OFPERR_NXFMFC_BAD_LEN;
    }
    len = ntohs(nfs->len);
    n_backends = ntohs(nfs->n_backends);
    if (len != flexmap_stats_len(n_backends)) {
        return OFPERR_NXFMFC_BAD_LEN;
    }
    nfbs = ofpbuf_try_pull(msg, n_backends * NXFM_BACKEND_LEN);
    nfbss = nfbs ? ofpbuf_try_pull(msg, n_backends * NXFM_BACKEND_STATS_LEN)
                 : NULL;
    if (!nfbss) {
        return OFPERR_NXFMFC_BAD_LEN;
    }
    for (size_t i = 0; i < n_backends; i++) {
        if (!is_all_zeros(nfbss[i].pad, sizeof nfbss[i].pad)) {
            return OFPERR_NXBRC_MUST_BE_ZERO;
        }
    }

    entry->table_id = nfs->table_id;
    entry->n_backends = 0;
    if (entry->table_id > FLEXMAP_MAX_TABLE) {
        return OFPERR_NXFMFC_BAD_TABLE;
    }
    error = flexmap_key_from_wire(nfs->family, nfs->ip_proto, nfs->tp_dst,
                                  nfs->ip,
                                  (!nfs->pad
                                   && is_all_zeros(nfs->pad2,
                                                   sizeof nfs->pad2)),
                                  &entry->key);
    if (error) {
        return error;
    }
    error = flexmap_backends_from_wire(nfbs, n_backends,
                                       FLEXMAP_BACKEND_REPLY_FLAGS, entry);
    if (error) {
        return error;
    }

    fs->packet_count = ntohll(nfs->packet_count);
    fs->byte_count = ntohll(nfs->byte_count);
    memset(fs->backend_stats, 0, sizeof fs->backend_stats);
    for (size_t i = 0; i < n_backends; i++) {
        struct flexmap_backend_stats *bs = &fs->backend_stats[i];

        bs->n_packets = ntohll(nfbss[i].packet_count);
        bs->n_bytes = ntohll(nfbss[i].byte_count);
        bs->n_conns = ntohl(nfbss[i].n_conns);
    }
    return 0;
}

/* Appends 'fs' to 's' as "n_packets=N, n_bytes=M, ENTRY", naming ports
 * through 'port_map' (which may be NULL).  ENTRY includes per-backend
 * counters if it has more than one backend (see
 * flexmap_entry_format_stats()).  flexmap_entry_parse() ignores all the
 * counters, so the output parses back to 'fs->entry'. */
void
ofputil_flexmap_stats_format(const struct ofputil_flexmap_stats *fs,
                             const struct ofputil_port_map *port_map,
                             struct ds *s)
{
    ds_put_format(s, "n_packets=%"PRIu64", n_bytes=%"PRIu64", ",
                  fs->packet_count, fs->byte_count);
    flexmap_entry_format_stats(&fs->entry, fs->backend_stats, port_map, s);
}

/* Appends a description of NXST_FLEXMAP reply 'oh' to 's', one line per
 * entry.  Returns 0 if successful, otherwise an OFPERR_* value. */
enum ofperr
ofputil_flexmap_stats_reply_format(struct ds *s, const struct ofp_header *oh,
                                   const struct ofputil_port_map *port_map)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_flexmap_stats *fs = xmalloc(sizeof *fs);
    int retval;

    for (;;) {
        retval = ofputil_decode_flexmap_stats_reply(fs, &b);
        if (retval) {
            break;
        }
        ds_put_cstr(s, "\n ");
        ofputil_flexmap_stats_format(fs, port_map, s);
    }
    free(fs);

    return retval != EOF ? retval : 0;
}
