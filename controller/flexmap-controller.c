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

/* flexmap-controller: programs switches from the ovs-flexmap database.
 *
 * It listens for switches (ovs-vsctl set-controller BR tcp:HOST:PORT),
 * identifies each by its datapath id against the Switch table, learns its
 * port names, and keeps on it:
 *
 *   - the pipeline: a rule that sends IPv4 and IPv6 packets to the gateway
 *     MAC through flexmap(table=N), and an ARP responder for every public
 *     IPv4 address that answers with the gateway MAC;
 *
 *   - map table N: one entry per mapping that has a backend behind this
 *     switch, whose port is the container's interface.
 *
 * After every database change it computes what each switch should hold
 * and sends only the difference from what the switch holds, as map
 * entries in batched NXT_FLEXMAP_MOD messages and as single flow mods.
 * When a switch connects, it first dumps the switch's map table and the
 * rules with its cookie, so that what a previous run (or the switch's own
 * memory) left there is corrected by difference too: an entry that is right is not touched, so a mapped
 * destination is never dropped while the controller catches up.
 *
 * Not yet: status written back to the database, IPv6 neighbour
 * advertisements, tunnel backends, the reactive mode, standby controllers.
 */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "command-line.h"
#include "daemon.h"
#include "dirs.h"
#include "fatal-signal.h"
#include "flexmap.h"
#include "flow.h"
#include "flexmap/controller/flexmap-idl.h"
#include "ofp-flexmap.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-parse.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/ofp-print.h"
#include "openvswitch/ofp-switch.h"
#include "openvswitch/ofp-util.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/rconn.h"
#include "openvswitch/shash.h"
#include "openvswitch/vconn.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "packets.h"
#include "socket-util.h"
#include "stream-ssl.h"
#include "stream.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(flexmap_controller);

/* Cookie of every rule the controller installs. */
#define FC_COOKIE UINT64_C(0xf1e0f1e0)

/* Map entries per NXT_FLEXMAP_MOD batch handed to the encoder. */
#define FC_CHUNK 1024

static const char *db;
static int map_table = 1;
static char *unixctl_path;

/* A switch connection. */
struct fc_switch {
    struct ovs_list node;       /* In 'switches'. */
    struct rconn *rconn;
    enum ofp_version version;   /* 0 until connected. */
    bool handshaken;            /* Features and port requests sent. */
    uint64_t dpid;              /* Valid once 'identified'. */
    bool identified;            /* Features reply seen. */
    bool ports_known;           /* Port description reply seen. */
    bool dumped;                /* Map table and rule dumps finished. */
    bool maps_dumped;
    bool flows_dumped;
    ovs_be32 dump_xid;          /* Of the map table dump. */
    ovs_be32 flow_dump_xid;     /* Of the dump of our rules. */
    struct shash ports;         /* Port name -> ofp_port_t (as uintptr). */

    /* What the switch holds, as far as we know. */
    struct shash entries;       /* Key text -> entry text. */
    struct shash flows;         /* Normalized rule text -> NULL. */
    bool dirty;                 /* Needs a sync. */
};

static struct ovs_list switches = OVS_LIST_INITIALIZER(&switches);
static struct ovsdb_idl *idl;
static bool exiting;

static void parse_options(int argc, char *argv[]);
OVS_NO_RETURN static void usage(void);
static void fc_switch_run(struct fc_switch *);
static void fc_switch_destroy(struct fc_switch *);
static void fc_unixctl_exit(struct unixctl_conn *, int argc,
                            const char *argv[], void *);
static void fc_unixctl_show(struct unixctl_conn *, int argc,
                            const char *argv[], void *);

int
main(int argc, char *argv[])
{
    struct pvconn **listeners = NULL;
    struct unixctl_server *unixctl;
    size_t n_listeners = 0;
    unsigned int seqno;

    ovs_cmdl_proctitle_init(argc, argv);
    set_program_name(argv[0]);
    service_start(&argc, &argv);
    parse_options(argc, argv);
    fatal_ignore_sigpipe();

    if (argc - optind < 1) {
        ovs_fatal(0, "at least one listening target (e.g. ptcp:6653) is "
                  "required; use --help for usage");
    }
    listeners = xmalloc((argc - optind) * sizeof *listeners);
    for (int i = optind; i < argc; i++) {
        uint32_t versions = (1u << OFP13_VERSION) | (1u << OFP14_VERSION)
                            | (1u << OFP15_VERSION);
        int error = pvconn_open(argv[i], versions, DSCP_DEFAULT,
                                &listeners[n_listeners]);
        if (error) {
            ovs_fatal(error, "%s: listen", argv[i]);
        }
        n_listeners++;
    }

    daemonize_start(false);
    if (unixctl_server_create(unixctl_path, &unixctl)) {
        exit(EXIT_FAILURE);
    }
    unixctl_command_register("exit", "", 0, 0, fc_unixctl_exit, NULL);
    unixctl_command_register("flexmap-controller/show", "", 0, 0,
                             fc_unixctl_show, NULL);
    daemonize_complete();

    idl = ovsdb_idl_create(db, &flexrec_idl_class, true, true);
    seqno = ovsdb_idl_get_seqno(idl);

    while (!exiting) {
        struct fc_switch *sw;

        ovsdb_idl_run(idl);
        if (seqno != ovsdb_idl_get_seqno(idl)) {
            seqno = ovsdb_idl_get_seqno(idl);
            LIST_FOR_EACH (sw, node, &switches) {
                sw->dirty = true;
            }
        }

        for (size_t i = 0; i < n_listeners; i++) {
            struct vconn *vconn;
            int error = pvconn_accept(listeners[i], &vconn);

            if (!error) {
                sw = xzalloc(sizeof *sw);
                sw->rconn = rconn_create(60, 0, DSCP_DEFAULT,
                                         vconn_get_allowed_versions(vconn));
                rconn_connect_unreliably(sw->rconn, vconn, NULL);
                shash_init(&sw->ports);
                shash_init(&sw->entries);
                shash_init(&sw->flows);
                ovs_list_push_back(&switches, &sw->node);
            } else if (error != EAGAIN) {
                static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

                VLOG_WARN_RL(&rl, "accept failed: %s", ovs_strerror(error));
            }
        }

        LIST_FOR_EACH_SAFE (sw, node, &switches) {
            fc_switch_run(sw);
            if (!rconn_is_alive(sw->rconn)) {
                fc_switch_destroy(sw);
            }
        }
        unixctl_server_run(unixctl);
        if (exiting) {
            break;
        }

        for (size_t i = 0; i < n_listeners; i++) {
            pvconn_wait(listeners[i]);
        }
        LIST_FOR_EACH (sw, node, &switches) {
            rconn_run_wait(sw->rconn);
            rconn_recv_wait(sw->rconn);
            if (sw->dirty && sw->dumped) {
                poll_immediate_wake();
            }
        }
        ovsdb_idl_wait(idl);
        unixctl_server_wait(unixctl);
        poll_block();
    }

    struct fc_switch *sw;
    LIST_FOR_EACH_SAFE (sw, node, &switches) {
        fc_switch_destroy(sw);
    }
    for (size_t i = 0; i < n_listeners; i++) {
        pvconn_close(listeners[i]);
    }
    free(listeners);
    unixctl_server_destroy(unixctl);
    ovsdb_idl_destroy(idl);
    return 0;
}

static void
parse_options(int argc, char *argv[])
{
    enum {
        OPT_DB = UCHAR_MAX + 1,
        OPT_TABLE,
        OPT_UNIXCTL,
        OPT_PEER_CA_CERT,
        DAEMON_OPTION_ENUMS,
        VLOG_OPTION_ENUMS,
        SSL_OPTION_ENUMS,
    };
    static const struct option long_options[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"table", required_argument, NULL, OPT_TABLE},
        {"unixctl", required_argument, NULL, OPT_UNIXCTL},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        DAEMON_LONG_OPTIONS,
        VLOG_LONG_OPTIONS,
        STREAM_SSL_LONG_OPTIONS,
        {"peer-ca-cert", required_argument, NULL, OPT_PEER_CA_CERT},
        {NULL, 0, NULL, 0},
    };
    char *short_options = ovs_cmdl_long_options_to_short_options(long_options);

    for (;;) {
        int c = getopt_long(argc, argv, short_options, long_options, NULL);
        unsigned int table;

        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_DB:
            db = optarg;
            break;

        case OPT_TABLE:
            if (!str_to_uint(optarg, 10, &table) || table > 254) {
                ovs_fatal(0, "--table: %s: map tables are 0 to 254", optarg);
            }
            map_table = table;
            break;

        case OPT_UNIXCTL:
            unixctl_path = optarg;
            break;

        case 'h':
            usage();

        case 'V':
            ovs_print_version(OFP13_VERSION, OFP15_VERSION);
            exit(EXIT_SUCCESS);

        DAEMON_OPTION_HANDLERS
        VLOG_OPTION_HANDLERS
        STREAM_SSL_OPTION_HANDLERS

        case OPT_PEER_CA_CERT:
            stream_ssl_set_peer_ca_cert_file(optarg);
            break;

        case '?':
            exit(EXIT_FAILURE);

        default:
            abort();
        }
    }
    free(short_options);
    if (!db) {
        db = xasprintf("unix:%s/db.sock", ovs_rundir());
    }
}

static void
usage(void)
{
    printf("%s: ovs-flexmap controller\n"
           "usage: %s [OPTIONS] LISTEN...\n"
           "where LISTEN is a passive OpenFlow target for switches, e.g.\n"
           "ptcp:6653, ptcp:6653:127.0.0.1, pssl:6653 or punix:FILE.\n"
           "\nOptions:\n"
           "  --db=DATABASE       the ovs-flexmap database (default:\n"
           "                      unix:%s/db.sock)\n"
           "  --table=N           the map table to program (default 1)\n"
           "  --unixctl=SOCKET    override the default control socket\n",
           program_name, program_name, ovs_rundir());
    daemon_usage();
    vlog_usage();
    stream_usage("DATABASE", true, true, true);
    printf("\nOther options:\n"
           "  -h, --help          display this help message\n"
           "  -V, --version       display version information\n");
    exit(EXIT_SUCCESS);
}

/* What a switch should hold. */

static const struct flexrec_switch *
fc_switch_row(const struct fc_switch *sw)
{
    const struct flexrec_switch *row;
    char dpid[17];

    snprintf(dpid, sizeof dpid, "%016"PRIx64, sw->dpid);
    FLEXREC_SWITCH_FOR_EACH (row, idl) {
        if (!strcmp(row->datapath_id, dpid)) {
            return row;
        }
    }
    return NULL;
}

static const char *
fc_gateway_mac(void)
{
    const struct flexrec_global *g = flexrec_global_first(idl);

    return g && g->gateway_mac ? g->gateway_mac : NULL;
}

/* Adds to 'entries' (key text -> entry text) the map entry of mapping 'm'
 * for switch 'row', whose ports are 'ports', if it has a backend there. */
static void
fc_desired_entry(const struct flexrec_mapping *m,
                 const struct flexrec_switch *row, const struct shash *ports,
                 struct shash *entries)
{
    const struct flexrec_public_ip *ip = m->ip;
    bool ipv6 = ip && strchr(ip->address, ':');
    struct ds s = DS_EMPTY_INITIALIZER;
    size_t n_backends = 0;

    if (!ip) {
        return;
    }
    ds_put_format(&s, "table=%d,", map_table);
    if (!strcmp(m->proto, "any")) {
        ds_put_cstr(&s, ipv6 ? "ipv6" : "ip");
    } else {
        ds_put_format(&s, "%s%s", m->proto, ipv6 ? "6" : "");
    }
    ds_put_format(&s, ",%s=%s", ipv6 ? "ipv6_dst" : "nw_dst", ip->address);
    if (m->n_port) {
        ds_put_format(&s, ",tp_dst=%"PRId64, m->port[0]);
    }
    for (size_t i = 0; i < m->n_backends; i++) {
        const struct flexrec_container *c = m->key_backends[i];
        struct shash_node *port;

        if (c->tenant != ip->tenant) {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

            VLOG_WARN_RL(&rl, "mapping to %s: container %s belongs to "
                         "another tenant, skipped", ip->address, c->name);
            continue;
        }
        if (c->switch_ != row) {
            continue;           /* Remote backends need tunnels: later. */
        }
        port = shash_find(ports, c->iface);
        if (!port) {
            continue;           /* Not plugged in (yet). */
        }
        ds_put_format(&s, ",backend(mac=%s,port=%"PRIuPTR",weight=%"PRId64
                      ")", c->mac, (uintptr_t) port->data,
                      m->value_backends[i]);
        n_backends++;
    }

    if (n_backends) {
        struct flexmap_entry *e = xmalloc(sizeof *e);
        char *error = flexmap_entry_parse(e, ds_cstr(&s), NULL);

        if (error) {
            VLOG_WARN("mapping %s: %s", ds_cstr(&s), error);
            free(error);
        } else {
            struct ds key = DS_EMPTY_INITIALIZER;
            struct ds text = DS_EMPTY_INITIALIZER;

            ds_put_format(&key, "table=%d,", map_table);
            flexmap_key_format(&e->key, &key);
            flexmap_entry_format(e, NULL, &text);
            shash_replace_nocopy(entries, ds_steal_cstr(&key),
                                 ds_steal_cstr(&text));
            ds_destroy(&key);
        }
        free(e);
    }
    ds_destroy(&s);
}

/* Stores in 's' the text of a rule of ours with 'match', 'priority' and
 * actions 'ofpacts', in one spelling whether it comes from our own text or
 * from a switch's dump, so the two can be compared. */
static void
fc_flow_text(const struct match *match, int priority,
             const struct ofpact *ofpacts, size_t ofpacts_len, struct ds *s)
{
    struct ofpact_format_params fp = { .s = s };

    ds_put_format(s, "cookie=%#"PRIx64",", FC_COOKIE);
    match_format(match, NULL, s, priority);
    ds_put_cstr(s, ",actions=");
    ofpacts_format(ofpacts, ofpacts_len, &fp);
}

/* Adds rule 'text' to 'flows', normalized with fc_flow_text(). */
static void
fc_add_flow(struct shash *flows, char *text)
{
    enum ofputil_protocol usable;
    struct ofputil_flow_mod fm;
    char *error;

    error = parse_ofp_flow_mod_str(&fm, text, NULL, NULL, OFPFC_ADD,
                                   &usable);
    if (error) {
        VLOG_ERR("%s: %s", text, error);
        free(error);
    } else {
        struct ds s = DS_EMPTY_INITIALIZER;
        struct match match;

        minimatch_expand(&fm.match, &match);
        fc_flow_text(&match, fm.priority, fm.ofpacts, fm.ofpacts_len, &s);
        shash_replace_nocopy(flows, ds_steal_cstr(&s), NULL);
        minimatch_destroy(&fm.match);
        free(CONST_CAST(struct ofpact *, fm.ofpacts));
    }
    free(text);
}

/* Fills 'flows' (rule text -> NULL) and 'entries' with what switch 'sw'
 * should hold. */
static void
fc_desired(const struct fc_switch *sw, struct shash *flows,
           struct shash *entries)
{
    const struct flexrec_switch *row = fc_switch_row(sw);
    const char *gw = fc_gateway_mac();
    const struct flexrec_public_ip *ip;
    const struct flexrec_mapping *m;

    if (!row) {
        return;
    }
    if (gw) {
        const char *const types[] = {"ip", "ipv6"};

        for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
            fc_add_flow(flows, xasprintf(
                            "cookie=%#"PRIx64",priority=100,%s,"
                            "dl_dst=%s,actions=flexmap(table=%d)",
                            FC_COOKIE, types[i], gw, map_table));
        }
        FLEXREC_PUBLIC_IP_FOR_EACH (ip, idl) {
            if (strchr(ip->address, ':')) {
                continue;       /* Neighbour advertisements: later. */
            }
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=110,arp,arp_op=1,arp_tpa=%s,"
                "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
                "set_field:%s->eth_src,set_field:2->arp_op,"
                "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
                "set_field:%s->arp_sha,"
                "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
                "set_field:%s->arp_spa,IN_PORT",
                FC_COOKIE, ip->address, gw, gw, ip->address));
        }
    }
    FLEXREC_MAPPING_FOR_EACH (m, idl) {
        fc_desired_entry(m, row, &sw->ports, entries);
    }
}

/* Sending. */

static void
fc_send(struct fc_switch *sw, struct ofpbuf *msg)
{
    int error = rconn_send(sw->rconn, msg, NULL);

    if (error) {
        VLOG_WARN("%016"PRIx64": send failed: %s", sw->dpid,
                  ovs_strerror(error));
        ofpbuf_delete(msg);
    }
}

static void
fc_send_flow(struct fc_switch *sw, const char *text, int command)
{
    enum ofputil_protocol usable, protocol;
    struct ofputil_flow_mod fm;
    char *copy = NULL;
    char *error;

    if (command == OFPFC_DELETE_STRICT) {
        /* A delete matches on the cookie, which needs a mask, and takes no
         * actions. */
        const char *comma = strchr(text, ',');
        const char *actions = strstr(text, ",actions=");

        text = copy = xasprintf("cookie=%#"PRIx64"/-1%.*s", FC_COOKIE,
                                comma && actions ? (int) (actions - comma)
                                                 : 0,
                                comma ? comma : "");
    }
    error = parse_ofp_flow_mod_str(&fm, text, NULL, NULL, command, &usable);
    if (error) {
        VLOG_ERR("%s: %s", text, error);
        free(error);
    } else {
        protocol = ofputil_protocol_from_ofp_version(sw->version);
        fc_send(sw, ofputil_encode_flow_mod(&fm, protocol));
        minimatch_destroy(&fm.match);
        free(CONST_CAST(struct ofpact *, fm.ofpacts));
    }
    free(copy);
}

/* Encodes and sends the 'n' commands in 'cmds'. */
static void
fc_send_cmds(struct fc_switch *sw, struct ofputil_flexmap_cmd *cmds,
             size_t n)
{
    struct ovs_list msgs;
    struct ofpbuf *msg;

    ovs_list_init(&msgs);
    ofputil_encode_flexmap_mods(sw->version, cmds, n, 0, &msgs);
    LIST_FOR_EACH_POP (msg, list_node, &msgs) {
        fc_send(sw, msg);
    }
}

/* Brings 'sw' to what the database says, sending only the differences. */
static void
fc_switch_sync(struct fc_switch *sw)
{
    struct shash flows = SHASH_INITIALIZER(&flows);
    struct shash entries = SHASH_INITIALIZER(&entries);
    struct ofputil_flexmap_cmd *cmds = xmalloc(FC_CHUNK * sizeof *cmds);
    struct shash_node *node;
    size_t n = 0, n_adds = 0, n_dels = 0, n_flow_adds = 0, n_flow_dels = 0;

    fc_desired(sw, &flows, &entries);

    /* Flows: add the new ones, then delete the old ones. */
    SHASH_FOR_EACH (node, &flows) {
        if (!shash_find(&sw->flows, node->name)) {
            fc_send_flow(sw, node->name, OFPFC_ADD);
            shash_add(&sw->flows, node->name, NULL);
            n_flow_adds++;
        }
    }
    SHASH_FOR_EACH_SAFE (node, &sw->flows) {
        if (!shash_find(&flows, node->name)) {
            fc_send_flow(sw, node->name, OFPFC_DELETE_STRICT);
            shash_delete(&sw->flows, node);
            n_flow_dels++;
        }
    }

    /* Map entries: adds (which replace) for what is new or changed, then
     * deletes for what is gone. */
    SHASH_FOR_EACH (node, &entries) {
        const char *have = shash_find_data(&sw->entries, node->name);
        char *error;

        if (have && !strcmp(have, node->data)) {
            continue;
        }
        cmds[n].command = NXFMC_ADD;
        error = flexmap_entry_parse(&cmds[n].entry, node->data, NULL);
        ovs_assert(!error);
        n++;
        n_adds++;
        free(shash_replace(&sw->entries, node->name, xstrdup(node->data)));
        if (n == FC_CHUNK) {
            fc_send_cmds(sw, cmds, n);
            n = 0;
        }
    }
    SHASH_FOR_EACH_SAFE (node, &sw->entries) {
        char *error;
        bool key_given;

        if (shash_find(&entries, node->name)) {
            continue;
        }
        cmds[n].command = NXFMC_DELETE;
        error = flexmap_entry_parse_key(&cmds[n].entry, node->name, NULL,
                                        &key_given);
        ovs_assert(!error);
        n++;
        n_dels++;
        free(node->data);
        shash_delete(&sw->entries, node);
        if (n == FC_CHUNK) {
            fc_send_cmds(sw, cmds, n);
            n = 0;
        }
    }
    if (n) {
        fc_send_cmds(sw, cmds, n);
    }
    if (n_adds || n_dels || n_flow_adds || n_flow_dels) {
        VLOG_INFO("%016"PRIx64": %"PRIuSIZE" map entries added or changed, "
                  "%"PRIuSIZE" deleted; %"PRIuSIZE" rules added, %"PRIuSIZE
                  " deleted", sw->dpid, n_adds, n_dels, n_flow_adds,
                  n_flow_dels);
    }
    free(cmds);
    shash_destroy(&flows);
    shash_destroy_free_data(&entries);
    sw->dirty = false;
}

/* Receiving. */

static void
fc_port_update(struct fc_switch *sw, const struct ofputil_phy_port *pp,
               bool deleted)
{
    if (deleted) {
        shash_find_and_delete(&sw->ports, pp->name);
    } else {
        shash_replace(&sw->ports, pp->name,
                      (void *) (uintptr_t) ofp_to_u16(pp->port_no));
    }
    sw->dirty = true;
}

static void
fc_handle_dump_reply(struct fc_switch *sw, const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_flexmap_stats *fs = xmalloc(sizeof *fs);

    for (;;) {
        int retval = ofputil_decode_flexmap_stats_reply(fs, &b);
        struct ds key = DS_EMPTY_INITIALIZER;
        struct ds text = DS_EMPTY_INITIALIZER;

        if (retval) {
            if (retval != EOF) {
                VLOG_WARN("%016"PRIx64": bad map table dump (%s)", sw->dpid,
                          ofperr_to_string(retval));
            }
            break;
        }
        ds_put_format(&key, "table=%d,", fs->entry.table_id);
        flexmap_key_format(&fs->entry.key, &key);
        flexmap_entry_format(&fs->entry, NULL, &text);
        free(shash_replace(&sw->entries, ds_cstr(&key),
                           ds_steal_cstr(&text)));
        ds_destroy(&key);
    }
    free(fs);
    if (!ofpmp_more(oh)) {
        sw->maps_dumped = true;
    }
}

static void
fc_handle_flow_dump_reply(struct fc_switch *sw, const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    uint64_t ofpacts_stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(ofpacts_stub);

    for (;;) {
        struct ofputil_flow_stats fs;
        struct ds s = DS_EMPTY_INITIALIZER;
        int retval = ofputil_decode_flow_stats_reply(&fs, &b, false,
                                                     &ofpacts);

        if (retval) {
            if (retval != EOF) {
                VLOG_WARN("%016"PRIx64": bad rule dump (%s)", sw->dpid,
                          ofperr_to_string(retval));
            }
            break;
        }
        fc_flow_text(&fs.match, fs.priority, fs.ofpacts, fs.ofpacts_len,
                     &s);
        shash_replace_nocopy(&sw->flows, ds_steal_cstr(&s), NULL);
    }
    ofpbuf_uninit(&ofpacts);
    if (!ofpmp_more(oh)) {
        sw->flows_dumped = true;
    }
}

/* Called after each dump reply: once both dumps are complete, the switch
 * can be synced. */
static void
fc_check_dumped(struct fc_switch *sw)
{
    if (!sw->dumped && sw->maps_dumped && sw->flows_dumped) {
        sw->dumped = true;
        sw->dirty = true;
        VLOG_INFO("%016"PRIx64": switch holds %"PRIuSIZE" map entries",
                  sw->dpid, shash_count(&sw->entries));
    }
}

static void
fc_handle_msg(struct fc_switch *sw, const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    enum ofptype type;

    if (ofptype_decode(&type, oh)) {
        return;
    }
    if (type == OFPTYPE_ECHO_REQUEST) {
        fc_send(sw, ofputil_encode_echo_reply(oh));
    } else if (type == OFPTYPE_FEATURES_REPLY) {
        struct ofputil_switch_features features;

        if (!ofputil_pull_switch_features(&b, &features)) {
            sw->dpid = features.datapath_id;
            sw->identified = true;
            VLOG_INFO("switch %016"PRIx64" connected (%s)", sw->dpid,
                      rconn_get_name(sw->rconn));
        }
    } else if (type == OFPTYPE_PORT_DESC_STATS_REPLY) {
        struct ofputil_phy_port pp;

        ofpraw_pull_assert(&b);
        while (!ofputil_pull_phy_port(oh->version, &b, &pp)) {
            fc_port_update(sw, &pp, false);
        }
        if (!ofpmp_more(oh) && !sw->ports_known) {
            struct ofpbuf *rq = ofputil_encode_flexmap_stats_request(
                sw->version, map_table);

            struct ofputil_flow_stats_request fsr = {
                .aggregate = false,
                .cookie = htonll(FC_COOKIE),
                .cookie_mask = OVS_BE64_MAX,
                .out_port = OFPP_ANY,
                .out_group = OFPG_ANY,
                .table_id = 0xff,
            };

            sw->ports_known = true;
            sw->dump_xid = ((struct ofp_header *) rq->data)->xid;
            fc_send(sw, rq);

            match_init_catchall(&fsr.match);
            rq = ofputil_encode_flow_stats_request(
                &fsr, ofputil_protocol_from_ofp_version(sw->version));
            sw->flow_dump_xid = ((struct ofp_header *) rq->data)->xid;
            fc_send(sw, rq);
        }
    } else if (type == OFPTYPE_PORT_STATUS) {
        struct ofputil_port_status ps;

        if (!ofputil_decode_port_status(oh, &ps)) {
            fc_port_update(sw, &ps.desc, ps.reason == OFPPR_DELETE);
        }
    } else if (type == OFPTYPE_FLEXMAP_STATS_REPLY) {
        if (oh->xid == sw->dump_xid) {
            fc_handle_dump_reply(sw, oh);
            fc_check_dumped(sw);
        }
    } else if (type == OFPTYPE_FLOW_STATS_REPLY) {
        if (oh->xid == sw->flow_dump_xid) {
            fc_handle_flow_dump_reply(sw, oh);
            fc_check_dumped(sw);
        }
    } else if (type == OFPTYPE_ERROR) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
        char *s = ofp_to_string(oh, ntohs(oh->length), NULL, NULL, 2);

        VLOG_WARN_RL(&rl, "%016"PRIx64": %s", sw->dpid, s);
        free(s);
    }
}

static void
fc_switch_run(struct fc_switch *sw)
{
    rconn_run(sw->rconn);
    if (!rconn_is_connected(sw->rconn)) {
        return;
    }
    if (!sw->handshaken) {
        sw->version = rconn_get_version(sw->rconn);
        fc_send(sw, ofpraw_alloc(OFPRAW_OFPT_FEATURES_REQUEST,
                                 sw->version, 0));
        fc_send(sw, ofputil_encode_port_desc_stats_request(sw->version,
                                                           OFPP_ANY));
        sw->handshaken = true;
    }
    for (int i = 0; i < 50; i++) {
        struct ofpbuf *msg = rconn_recv(sw->rconn);

        if (!msg) {
            break;
        }
        fc_handle_msg(sw, msg->data);
        ofpbuf_delete(msg);
    }
    if (sw->identified && sw->dumped && sw->dirty) {
        fc_switch_sync(sw);
    }
}

static void
fc_switch_destroy(struct fc_switch *sw)
{
    if (sw->identified) {
        VLOG_INFO("switch %016"PRIx64" disconnected", sw->dpid);
    }
    ovs_list_remove(&sw->node);
    rconn_destroy(sw->rconn);
    shash_destroy(&sw->ports);
    shash_destroy_free_data(&sw->entries);
    shash_destroy(&sw->flows);
    free(sw);
}

/* unixctl. */

static void
fc_unixctl_exit(struct unixctl_conn *conn, int argc OVS_UNUSED,
                const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    exiting = true;
    unixctl_command_reply(conn, NULL);
}

static void
fc_unixctl_show(struct unixctl_conn *conn, int argc OVS_UNUSED,
                const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    const struct fc_switch *sw;

    ds_put_format(&s, "database %s: %s\n", db,
                  ovsdb_idl_is_connected(idl) ? "connected"
                                              : "not connected");
    LIST_FOR_EACH (sw, node, &switches) {
        const struct flexrec_switch *row = (sw->identified
                                            ? fc_switch_row(sw) : NULL);

        if (sw->identified) {
            ds_put_format(&s, "switch %016"PRIx64, sw->dpid);
        } else {
            ds_put_cstr(&s, "switch (not identified yet)");
        }
        ds_put_format(&s, " %s: %s, %"PRIuSIZE" ports, %"PRIuSIZE
                      " map entries, %"PRIuSIZE" rules, %s\n",
                      row ? row->name : "(not in the database)",
                      rconn_get_name(sw->rconn), shash_count(&sw->ports),
                      shash_count(&sw->entries), shash_count(&sw->flows),
                      !sw->dumped ? "syncing" : sw->dirty ? "behind"
                                                          : "in sync");
    }
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}
