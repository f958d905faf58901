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

/* Writes the seed corpus of fuzz-flexmap-wire into the directory named on
 * the command line: the bodies (after the OpenFlow and Nicira headers) of a
 * few valid NXT_FLEXMAP_MOD, NXST_FLEXMAP reply and request messages.  The
 * reply entries carry per-backend counters after their backends. */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flexmap.h"
#include "ofp-flexmap.h"
#include "openvswitch/list.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofpbuf.h"
#include "util.h"

static const char *dir;

/* Writes the body of 'msg' to file 'name' in 'dir'. */
static void
write_body(const char *name, const struct ofpbuf *msg)
{
    char *file = xasprintf("%s/%s", dir, name);
    FILE *stream = fopen(file, "wb");

    if (!stream
        || fwrite(msg->msg, 1, ofpbuf_msgsize(msg), stream)
           != ofpbuf_msgsize(msg)
        || fclose(stream)) {
        ovs_fatal(errno, "%s: write failed", file);
    }
    free(file);
}

static void
parse_or_die(struct flexmap_entry *e, const char *s)
{
    char *error = flexmap_entry_parse(e, s, NULL);

    if (error) {
        ovs_fatal(0, "%s: %s", s, error);
    }
}

static void
write_mod(const char *name, const struct ofputil_flexmap_cmd *cmds, size_t n)
{
    struct ofpbuf *msg = ofputil_encode_flexmap_mod(OFP13_VERSION, cmds, n);

    write_body(name, msg);
    ofpbuf_delete(msg);
}

static const char entry_v4[] =
    "table=1,tcp,nw_dst=203.0.113.10,tp_dst=80,"
    "backend(mac=02:00:00:00:01:01,port=1),"
    "backend(mac=02:00:00:00:01:02,port=2,weight=2,"
    "tun_dst=192.0.2.2,tun_id=0x1389)";
static const char entry_v6[] =
    "table=2,udp6,ipv6_dst=2001:db8::10,"
    "backend(mac=02:00:00:00:01:03,port=10,weight=3,"
    "tun_dst=2001:db8::2,tun_id=7)";
static const char entry_ip[] =
    "ip,nw_dst=203.0.113.11,backend(mac=02:00:00:00:01:04,port=LOCAL)";

int
main(int argc, char *argv[])
{
    struct ofputil_flexmap_cmd *cmds = xcalloc(4, sizeof *cmds);

    if (argc != 2) {
        ovs_fatal(0, "usage: %s DIR", argv[0]);
    }
    dir = argv[1];

    /* NXT_FLEXMAP_MOD. */
    write_mod("mod-empty", cmds, 0);

    cmds[0].command = NXFMC_ADD;
    parse_or_die(&cmds[0].entry, entry_v4);
    write_mod("mod-add-v4", cmds, 1);

    cmds[0].command = NXFMC_ADD;
    parse_or_die(&cmds[0].entry, entry_v6);
    cmds[1].command = NXFMC_DELETE;
    parse_or_die(&cmds[1].entry, entry_ip);
    cmds[2].command = NXFMC_DELETE_TABLE;
    memset(&cmds[2].entry, 0, sizeof cmds[2].entry);
    cmds[2].entry.table_id = 3;
    cmds[3].command = NXFMC_DELETE_TABLE;
    memset(&cmds[3].entry, 0, sizeof cmds[3].entry);
    cmds[3].entry.table_id = FLEXMAP_ALL_TABLES;
    write_mod("mod-mixed", cmds, 4);

    /* NXST_FLEXMAP request. */
    struct ofpbuf *msg = ofputil_encode_flexmap_stats_request(OFP13_VERSION,
                                                              3);
    write_body("request-table3", msg);

    /* NXST_FLEXMAP replies. */
    struct ofputil_flexmap_stats *fs = xzalloc(sizeof *fs);
    struct ovs_list replies;

    ofpmp_init(&replies, msg->data);
    write_body("reply-empty", ofpbuf_from_list(ovs_list_front(&replies)));
    parse_or_die(&fs->entry, entry_v4);
    fs->packet_count = 10;
    fs->byte_count = 1500;
    fs->backend_stats[0] = (struct flexmap_backend_stats) { 4, 600, 2 };
    fs->backend_stats[1] = (struct flexmap_backend_stats) { 6, 900, 3 };
    ofputil_append_flexmap_stats(&replies, fs);
    parse_or_die(&fs->entry, entry_v6);
    fs->packet_count = 0;
    fs->byte_count = 0;
    memset(fs->backend_stats, 0, sizeof fs->backend_stats);
    fs->backend_stats[0].n_conns = 1;
    ofputil_append_flexmap_stats(&replies, fs);
    write_body("reply-two", ofpbuf_from_list(ovs_list_front(&replies)));
    ofpbuf_list_delete(&replies);
    ofpbuf_delete(msg);

    free(fs);
    free(cmds);
    return 0;
}
