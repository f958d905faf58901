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
 *     MAC through flexmap(table=N) (in reactive mode: to the controller), an
 *     ARP responder for every public IPv4 address and a neighbour
 *     advertisement responder for every public IPv6 address, both answering
 *     with the gateway MAC;
 *
 *   - map table N: one entry per mapping that has a backend this switch
 *     can reach: a container behind it, on its interface, or, on a
 *     gateway, a container behind another switch, through a tunnel
 *     backend to that switch's tunnel address;
 *
 *   - on a switch with a tunnel port, rules that deliver what comes out of
 *     it to the container whose MAC it carries;
 *
 *   - where there is a way out for containers' replies, proxy ARP and ND
 *     for the containers, and rules that send what they send from their
 *     tenant's public addresses out of the uplink or, on hosts, through
 *     the tunnel to a gateway, which sends it out of its uplink (see
 *     fc_container_flows()).
 *
 * The database is followed incrementally: the IDL's change tracking says
 * which rows changed, only the mappings they touch are recomputed, and each
 * switch gets only the entries whose value changed, in batched
 * NXT_FLEXMAP_MOD messages.  For every switch the controller keeps, per map
 * key, what the database wants there and what the switch holds.  When a
 * switch connects (and when this controller becomes the primary), it first
 * dumps the switch's map table and the rules with its cookie, so that what
 * a previous run (or another controller) left there is corrected by
 * difference too: an entry that is right is not touched, so a mapped
 * destination is never dropped while the controller catches up.  Nothing
 * else is dumped, changed or deleted: rules with other cookies, other map
 * tables, and everything on a switch that is not in the database.
 *
 * Several controllers may serve the same switches.  The one that holds the
 * database lock "flexmap_controller" is the primary: it bumps
 * Global:election_id and claims the OpenFlow primary role with it as the
 * generation id; the others stay secondary and take over when the lock
 * comes free.
 *
 * With --mode=reactive, the paper's prototype: no map entries; the first
 * packet of each connection to a public IP comes to the controller, which
 * looks the mapping up, installs an exact-match rule with an idle timeout
 * and sends the packet on. */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#if HAVE_DECL_MALLOC_TRIM
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "command-line.h"
#include "daemon.h"
#include "dirs.h"
#include "coverage.h"
#include "dp-packet.h"
#include "fatal-signal.h"
#include "flexmap.h"
#include "flow.h"
#include "flexmap/controller/flexmap-idl.h"
#include "hash.h"
#include "openvswitch/hmap.h"
#include "hmapx.h"
#include "ofp-flexmap.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/meta-flow.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-connection.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-packet.h"
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
#include "sset.h"
#include "svec.h"
#include "stream-ssl.h"
#include "stream.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(flexmap_controller);

COVERAGE_DEFINE(flexmap_controller_rule_recompute);

/* Cookie of every pipeline rule the controller keeps. */
#define FC_COOKIE UINT64_C(0xf1e0f1e0)

/* Cookie of the per-connection rules of the reactive mode, which expire on
 * their own and which resyncs leave alone. */
#define FC_REACTIVE_COOKIE UINT64_C(0xf1e0f1e1)

/* The OpenFlow table where neighbour advertisements are finished. */
#define FC_ND_TABLE 1

/* The OpenFlow table where a container's outgoing packets are checked
 * against its tenant's public addresses and sent on their way out. */
#define FC_EGRESS_TABLE 2

/* Map entry commands per batch handed to the encoder, which packs them
 * into as few NXT_FLEXMAP_MOD messages as fit. */
#define FC_CHUNK 1024

/* The database lock that makes one controller the primary. */
#define FC_LOCK "flexmap_controller"

/* The control socket named by --unixctl, and whether "exit" was asked:
 * only main() and the unixctl commands use these. */
static char *unixctl_path;
static bool exiting;

/* A map entry's backends, as the database wants them on one switch or as
 * the switch holds them. */
struct fc_val {
    size_t n;
    struct flexmap_backend backends[];
};

/* One map key on one switch. */
struct fc_slot {
    struct hmap_node node;      /* In fc_switch's 'slots'. */
    struct flexmap_key key;
    struct fc_val *want;        /* NULL: the switch should not have it. */
    struct fc_val *have;        /* NULL: the switch does not have it. */
    bool listed;                /* In fc_switch's 'dirty'? */
    struct ovs_list dirty_node;
    char *refused;              /* Why the switch refused 'refused_val',
                                 * or NULL. */
    struct fc_val *refused_val; /* Not sent again while it is 'want'. */
    bool stale;                 /* A message with this key was refused:
                                 * the switch may hold anything here. */
    bool solo;                  /* Send alone, to learn if it is refused. */
};

/* A message to a switch that the switch may refuse, and what it carried,
 * kept until the barrier that follows it is answered. */
struct fc_sent {
    struct hmap_node node;      /* In fc_switch's 'sent', by xid. */
    struct ovs_list list_node;  /* In fc_switch's 'sent_order'. */
    ovs_be32 xid;
    bool barrier;               /* A barrier request. */
    char *flow;                 /* A rule's text, or NULL: map commands. */
    size_t n_keys;
    struct flexmap_key keys[];  /* The keys of the map commands. */
};

/* What the controller last made of a Mapping row: its key, so that a
 * change or a delete knows which entry to take away. */
struct fc_mapping {
    struct hmap_node uuid_node;     /* In 'mappings'. */
    struct hmap_node key_node;      /* In 'mappings_by_key'. */
    struct uuid uuid;
    struct flexmap_key key;
};

/* A switch connection. */
struct fc_switch {
    struct ovs_list node;       /* In 'switches'. */
    struct rconn *rconn;
    enum ofp_version version;   /* 0 until connected. */
    bool handshaken;            /* Features and port requests sent. */
    uint64_t dpid;              /* Valid once 'identified'. */
    bool identified;            /* Features reply seen. */
    bool ports_known;           /* Port description reply seen. */
    bool dumping;               /* Dump requests sent, not all answered. */
    bool dumped;                /* Map table and rule dumps finished. */
    bool maps_dumped;
    bool flows_dumped;
    ovs_be32 dump_xid;          /* Of the map table dump. */
    ovs_be32 flow_dump_xid;     /* Of the dump of our rules. */
    bool primary;               /* We claimed the primary role on it. */
    bool role_claimed;          /* A role request went out on it. */
    bool managed;               /* In the database when its dump began:
                                 * what it holds in our map table and
                                 * under our cookie is ours. */
    bool unknown_noted;         /* Logged that it is not in the database. */
    struct shash ports;         /* Port name -> ofp_port_t (as uintptr). */
    const struct flexrec_switch *row;   /* Valid after a full recompute. */

    /* Map entries, wanted and held. */
    struct hmap slots;          /* Contains "struct fc_slot"s. */
    struct ovs_list dirty;      /* Slots whose 'want' and 'have' may
                                 * differ. */
    bool need_full;             /* Recompute every wanted entry. */

    /* Rules: what the switch holds, as far as we know. */
    struct shash flows;         /* Normalized rule text -> NULL. */
    bool flows_dirty;           /* Rules need a recompute. */

    /* What the switch refused, and what it may still refuse. */
    struct shash refused_flows; /* Rule text -> why (malloc()'d). */
    size_t n_refused_entries;   /* Slots with 'refused'. */
    struct hmap sent;           /* Contains "struct fc_sent"s. */
    struct ovs_list sent_order; /* The same, oldest first. */

    /* The way out: while the database names an uplink that the switch
     * lacks, or a router MAC that is no unicast MAC, the switch keeps the
     * last one that worked. */
    char *uplink_name;          /* NULL: no way out of its own. */
    ofp_port_t uplink_port;
    struct eth_addr router_mac;
    bool dumped_uplink;         /* The switch's rules send out of... */
    ofp_port_t dumped_uplink_port;      /* ...this port... */
    struct eth_addr dumped_router_mac;  /* ...to this router. */

    /* flexmap-ctl --wait: Global:next_cfg values covered by the last
     * barrier sent, and by the last barrier answered, on this connection,
     * after the dump: what the primary copies to Switch:cur_cfg. */
    int64_t sent_cfg;
    int64_t acked_cfg;
    ovs_be32 barrier_xid;

    /* Statistics. */
    uint64_t n_entry_mods;      /* Map entry adds and deletes sent. */
    uint64_t n_packet_ins;      /* Packet-ins handled (reactive mode). */
};

/* A row's claim to a value that must have one owner whatever its
 * spelling: a public address (Public_IP) or a container's MAC (Container).
 * The database's unique indexes compare spellings only, so the controller
 * parses every value into one canonical form and lets one row own it:
 *
 *   1. the row that owned it already (in this run of the controller);
 *   2. else the row that spells the value canonically, as flexmap-ctl
 *      writes it (at most one row can: the column is unique);
 *   3. else the row with the lowest UUID.
 *
 * Nothing that any client may write (such as a status) takes part.  The
 * primary rewrites an owner's value in its canonical spelling (see
 * fc_respell()), so that from then on no other row can be canonical and a
 * restart of the controller keeps the choice.  The other rows are
 * refused, and so is a value that makes no sense there (see fc_ip_parse()
 * and fc_mac_parse()). */
struct fc_claim {
    struct hmap_node uuid_node;     /* In fc_claims' 'by_uuid'. */
    struct hmap_node value_node;    /* In fc_claims' 'owners', if owner. */
    struct uuid uuid;
    char *spelling;                 /* The value as the row spells it. */
    struct in6_addr value;          /* An address, IPv4 as IPv4-mapped; a
                                     * MAC in the first 6 bytes. */
    char *text;                     /* Canonical spelling; NULL if the
                                     * value itself is refused... */
    char *parse_error;              /* ...for this reason. */
    bool canonical;                 /* Spelled canonically in the row? */
    bool owner;
    bool was_owner;                 /* Scratch for fc_claims_refresh(). */
    bool seen;                      /* Scratch for fc_claims_refresh(). */
};

struct fc_claims {
    struct hmap by_uuid;            /* All claims. */
    struct hmap owners;             /* Winning claims, by value. */
    char *(*parse)(const char *, struct in6_addr *, char **text);
};

/* Container interfaces.  A switch's uplink and tunnel port carry every
 * tenant's traffic: no container may sit on them.  Any other interface
 * belongs to one tenant: the tenant that had it already (in this run of
 * the controller), else the tenant of the container with the lowest UUID
 * there. */
struct fc_tenancy {
    struct fc_claims ips;       /* Public addresses (Public_IP). */
    struct fc_claims macs;      /* Container MACs (Container). */
    struct shash port_tenants;  /* "<switch UUID> <iface>" -> the owning
                                 * tenant's UUID (malloc()'d). */
    struct sset port_refused;   /* UUIDs of the containers refused for
                                 * their interface. */
    bool respell_needed;        /* Some owner spells its value otherwise
                                 * than canonically: the primary is to
                                 * rewrite it (see fc_respell()). */
};

/* What the controller last made of the Mapping rows, by uuid and by key
 * (struct fc_mapping). */
struct fc_mappings {
    struct hmap by_uuid;
    struct hmap by_key;
};

/* Primary election. */
struct fc_election {
    bool is_primary;
    uint64_t generation;
    struct ovsdb_idl_txn *txn;
};

/* Problems and what the primary writes back into the database. */
struct fc_status {
    /* Rows that the controller refuses or cannot resolve: row UUID -> the
     * row and why (malloc()'d), the why being also their status:error.
     * Switches are "in sync" only while there are none. */
    struct shash problems;

    /* status:error write-back: row uuid -> new "error" value ("" to
     * clear), queued, and in the transaction in flight. */
    struct shash updates;
    struct shash inflight;
    struct ovsdb_idl_txn *txn;
};

/* Everything the controller knows and keeps, passed to every function that
 * needs more than its arguments. */
struct fc_ctx {
    /* Options. */
    const char *db;
    int map_table;              /* The map table to program. */
    bool reactive;              /* --mode=reactive. */
    int reactive_idle_timeout;

    /* The database. */
    struct ovsdb_idl *idl;
    bool db_loaded;             /* The IDL has had the database's contents. */

    /* Global:next_cfg as of the last database change processed.  Once a
     * switch has acknowledged it with a barrier reply, the primary copies
     * it to the switch's Switch:cur_cfg, which is what "flexmap-ctl
     * --wait" waits for, and once every switch in the Switch table has it,
     * to Global:cur_cfg. */
    int64_t target_cfg;

    struct ovs_list switches;   /* Contains "struct fc_switch"s. */
    struct fc_mappings mappings;
    struct fc_tenancy tenancy;
    struct fc_election election;
    struct fc_status status;
};

static char *fc_ip_parse(const char *, struct in6_addr *, char **text);
static char *fc_mac_parse(const char *, struct in6_addr *, char **text);

static void fc_ctx_init(struct fc_ctx *);
static void fc_ctx_destroy(struct fc_ctx *);
static void parse_options(struct fc_ctx *, int argc, char *argv[]);
OVS_NO_RETURN static void usage(void);
static void fc_process_changes(struct fc_ctx *ctx, bool full);
static void fc_switch_run(struct fc_ctx *ctx, struct fc_switch *);
static void fc_switch_destroy(struct fc_ctx *ctx, struct fc_switch *);
static void fc_switch_start_dump(struct fc_ctx *ctx, struct fc_switch *);
static void fc_switch_claim_role(struct fc_ctx *ctx, struct fc_switch *);
static void fc_election_run(struct fc_ctx *ctx);
static void fc_status_run(struct fc_ctx *ctx);
static void fc_recheck_key(struct fc_ctx *ctx, const struct flexmap_key *);
static void fc_problems_sweep(struct fc_ctx *ctx);
static void fc_unixctl_exit(struct unixctl_conn *, int argc,
                            const char *argv[], void *);
static void fc_unixctl_show(struct unixctl_conn *, int argc,
                            const char *argv[], void *);
static void fc_unixctl_resync(struct unixctl_conn *, int argc,
                              const char *argv[], void *);

int
main(int argc, char *argv[])
{
    struct pvconn **listeners = NULL;
    struct unixctl_server *unixctl;
    size_t n_listeners = 0;
    unsigned int seqno;
    bool was_connected = false;
    struct fc_ctx *ctx = xmalloc(sizeof *ctx);

    fc_ctx_init(ctx);

    ovs_cmdl_proctitle_init(argc, argv);
    set_program_name(argv[0]);
    service_start(&argc, &argv);
    parse_options(ctx, argc, argv);
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
                             fc_unixctl_show, ctx);
    unixctl_command_register("flexmap-controller/resync", "[DPID]", 0, 1,
                             fc_unixctl_resync, ctx);
    daemonize_complete();

    ctx->idl = ovsdb_idl_create(ctx->db, &flexrec_idl_class, true, true);
    ovsdb_idl_track_add_all(ctx->idl);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_mapping_col_status);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_public_ip_col_status);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_container_col_status);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_switch_col_status);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_global_col_status);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_global_col_cur_cfg);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_switch_col_cur_cfg);
    ovsdb_idl_set_lock(ctx->idl, FC_LOCK);
    seqno = ovsdb_idl_get_seqno(ctx->idl);

    while (!exiting) {
        struct fc_switch *sw;

        ovsdb_idl_run(ctx->idl);
        if (!ovsdb_idl_is_connected(ctx->idl)) {
            was_connected = false;
        }
        if (seqno != ovsdb_idl_get_seqno(ctx->idl)) {
            seqno = ovsdb_idl_get_seqno(ctx->idl);
            /* After a reconnection the IDL may have reloaded the whole
             * database, so recompute everything once. */
            fc_process_changes(ctx, !was_connected);
            was_connected = ctx->db_loaded = true;

            const struct flexrec_global *g = flexrec_global_first(ctx->idl);
            ctx->target_cfg = g ? g->next_cfg : 0;
            ovsdb_idl_track_clear(ctx->idl);
        }
        fc_election_run(ctx);

        for (size_t i = 0; i < n_listeners; i++) {
            struct vconn *vconn;
            int error = pvconn_accept(listeners[i], &vconn);

            if (!error) {
                sw = xzalloc(sizeof *sw);
                sw->rconn = rconn_create(60, 0, DSCP_DEFAULT,
                                         vconn_get_allowed_versions(vconn));
                rconn_connect_unreliably(sw->rconn, vconn, NULL);
                shash_init(&sw->ports);
                hmap_init(&sw->slots);
                ovs_list_init(&sw->dirty);
                shash_init(&sw->flows);
                shash_init(&sw->refused_flows);
                hmap_init(&sw->sent);
                ovs_list_init(&sw->sent_order);
                ovs_list_push_back(&ctx->switches, &sw->node);
            } else if (error != EAGAIN) {
                static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

                VLOG_WARN_RL(&rl, "accept failed: %s", ovs_strerror(error));
            }
        }

        LIST_FOR_EACH_SAFE (sw, node, &ctx->switches) {
            fc_switch_run(ctx, sw);
            if (!rconn_is_alive(sw->rconn)) {
                fc_switch_destroy(ctx, sw);
            }
        }
        fc_status_run(ctx);
        unixctl_server_run(unixctl);
        if (exiting) {
            break;
        }

        for (size_t i = 0; i < n_listeners; i++) {
            pvconn_wait(listeners[i]);
        }
        LIST_FOR_EACH (sw, node, &ctx->switches) {
            rconn_run_wait(sw->rconn);
            rconn_recv_wait(sw->rconn);
        }
        if (ctx->election.txn) {
            ovsdb_idl_txn_wait(ctx->election.txn);
        }
        if (ctx->status.txn) {
            ovsdb_idl_txn_wait(ctx->status.txn);
        }
        ovsdb_idl_wait(ctx->idl);
        unixctl_server_wait(unixctl);
        poll_block();
    }

    struct fc_switch *sw;
    LIST_FOR_EACH_SAFE (sw, node, &ctx->switches) {
        fc_switch_destroy(ctx, sw);
    }
    for (size_t i = 0; i < n_listeners; i++) {
        pvconn_close(listeners[i]);
    }
    free(listeners);
    unixctl_server_destroy(unixctl);
    fc_ctx_destroy(ctx);
    free(ctx);
    return 0;
}

static void
parse_options(struct fc_ctx *ctx, int argc, char *argv[])
{
    enum {
        OPT_DB = UCHAR_MAX + 1,
        OPT_TABLE,
        OPT_MODE,
        OPT_IDLE_TIMEOUT,
        OPT_UNIXCTL,
        OPT_PEER_CA_CERT,
        DAEMON_OPTION_ENUMS,
        VLOG_OPTION_ENUMS,
        SSL_OPTION_ENUMS,
    };
    static const struct option long_options[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"table", required_argument, NULL, OPT_TABLE},
        {"mode", required_argument, NULL, OPT_MODE},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
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
        unsigned int value;

        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_DB:
            ctx->db = optarg;
            break;

        case OPT_TABLE:
            if (!str_to_uint(optarg, 10, &value)
                || value > FLEXMAP_MAX_TABLE) {
                ovs_fatal(0, "--table: %s: map tables are 0 to %d", optarg,
                          FLEXMAP_MAX_TABLE);
            }
            ctx->map_table = value;
            break;

        case OPT_MODE:
            if (!strcmp(optarg, "reactive")) {
                ctx->reactive = true;
            } else if (!strcmp(optarg, "flexmap")) {
                ctx->reactive = false;
            } else {
                ovs_fatal(0, "--mode: %s: the modes are flexmap and reactive",
                          optarg);
            }
            break;

        case OPT_IDLE_TIMEOUT:
            if (!str_to_uint(optarg, 10, &value) || !value
                || value > UINT16_MAX) {
                ovs_fatal(0, "--idle-timeout: %s: must be 1 to 65535 "
                          "seconds", optarg);
            }
            ctx->reactive_idle_timeout = value;
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
    if (!ctx->db) {
        ctx->db = xasprintf("unix:%s/db.sock", ovs_rundir());
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
           "                      unix:%s/db.sock); a comma-separated\n"
           "                      list names the members of a cluster\n"
           "  --table=N           the map table to program (default 1)\n"
           "  --mode=MODE         flexmap (default): map tables in the\n"
           "                      switch; reactive: a rule per connection,\n"
           "                      installed from packet-ins (the paper's\n"
           "                      prototype)\n"
           "  --idle-timeout=SECS idle timeout of reactive rules\n"
           "                      (default 10)\n"
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
fc_switch_row(struct fc_ctx *ctx, const struct fc_switch *sw)
{
    const struct flexrec_switch *row;
    char dpid[17];

    snprintf(dpid, sizeof dpid, "%016"PRIx64, sw->dpid);
    FLEXREC_SWITCH_FOR_EACH (row, ctx->idl) {
        if (!strcmp(row->datapath_id, dpid)) {
            return row;
        }
    }
    return NULL;
}

/* Problems: rows refused or unresolved. */

/* Records that the row with 'uuid', whose status column holds 'status' and
 * which 'what' names in the log, has problem 'problem' (NULL: none; taken
 * over): logs it once, and queues its status:error for writing if the
 * problem changed or the row says otherwise.  (The row may not show yet
 * what was written last, so a change is written even if the row seems
 * right already.) */
static void
fc_problem_set(struct fc_ctx *ctx, const struct uuid *uuid,
               const struct smap *status, const char *what, char *problem)
{
    char key[UUID_LEN + 1];
    struct shash_node *node;
    bool changed = false;
    const char *old;

    snprintf(key, sizeof key, UUID_FMT, UUID_ARGS(uuid));
    node = shash_find(&ctx->status.problems, key);
    if (problem) {
        char *line = xasprintf("%s: %s", what, problem);

        if (!node || strcmp(node->data, line)) {
            VLOG_WARN("%s", line);
            free(shash_replace(&ctx->status.problems, key, line));
            changed = true;
        } else {
            free(line);
        }
    } else if (node) {
        VLOG_INFO("%s: fixed", what);
        free(node->data);
        shash_delete(&ctx->status.problems, node);
        changed = true;
    }

    old = smap_get(status, "error");
    if (changed || (problem ? !old || strcmp(old, problem) : !!old)) {
        free(shash_replace(&ctx->status.updates, key,
                           problem ? problem : xstrdup("")));
    } else {
        free(problem);
    }
}

/* Returns NULL if 's' is a unicast Ethernet address, storing it in '*mac',
 * otherwise why not (malloc()'d), naming it 'what'. */
static char *
fc_unicast_mac(const char *s, const char *what, struct eth_addr *mac)
{
    if (!eth_addr_from_string(s, mac)) {
        return xasprintf("%s %s is not an Ethernet address", what, s);
    } else if (eth_addr_is_multicast(*mac) || eth_addr_is_zero(*mac)) {
        return xasprintf("%s %s is not a unicast MAC", what, s);
    }
    return NULL;
}

/* Parses public or tunnel address 's' into '*addr' (IPv4 as IPv4-mapped)
 * and its canonical spelling '*text' (malloc()'d), as flexmap_ip_parse()
 * does for flexmap-ctl and the switch alike.  Returns NULL, or why 's' is
 * refused (malloc()'d). */
static char *
fc_ip_parse(const char *s, struct in6_addr *addr, char **text)
{
    struct ds ds = DS_EMPTY_INITIALIZER;

    switch (flexmap_ip_parse(s, addr, &ds)) {
    case FLEXMAP_IP_OK:
        *text = ds_steal_cstr(&ds);
        return NULL;
    case FLEXMAP_IP_NOT_AN_ADDRESS:
        return xasprintf("%s is not an IPv4 or IPv6 address", s);
    case FLEXMAP_IP_MAPPED:
        return xasprintf("%s is an IPv4-mapped IPv6 address (write an "
                         "IPv4 address as a.b.c.d)", s);
    case FLEXMAP_IP_NOT_UNICAST:
        return xasprintf("%s is not a unicast address", s);
    }
    OVS_NOT_REACHED();
}

/* Parses container MAC 's' for fc_claims: into the first 6 bytes of
 * '*value' and its canonical spelling '*text'. */
static char *
fc_mac_parse(const char *s, struct in6_addr *value, char **text)
{
    struct eth_addr mac;
    char *error = fc_unicast_mac(s, "MAC", &mac);

    if (!error) {
        memset(value, 0, sizeof *value);
        memcpy(value, &mac, sizeof mac);
        *text = xasprintf(ETH_ADDR_FMT, ETH_ADDR_ARGS(mac));
    }
    return error;
}

/* Claims: see the comment on struct fc_claim. */

static struct fc_claim *
fc_claim_find(const struct fc_claims *claims, const struct uuid *uuid)
{
    struct fc_claim *c;

    HMAP_FOR_EACH_WITH_HASH (c, uuid_node, uuid_hash(uuid),
                             &claims->by_uuid) {
        if (uuid_equals(&c->uuid, uuid)) {
            return c;
        }
    }
    return NULL;
}

static void
fc_claims_init(struct fc_claims *claims,
               char *(*parse)(const char *, struct in6_addr *, char **text))
{
    hmap_init(&claims->by_uuid);
    hmap_init(&claims->owners);
    claims->parse = parse;
}

static void
fc_claim_free(struct fc_claim *c)
{
    free(c->spelling);
    free(c->text);
    free(c->parse_error);
    free(c);
}

static void
fc_claims_destroy(struct fc_claims *claims)
{
    struct fc_claim *c;

    HMAP_FOR_EACH_POP (c, uuid_node, &claims->by_uuid) {
        fc_claim_free(c);
    }
    hmap_destroy(&claims->by_uuid);
    hmap_destroy(&claims->owners);
}

/* Returns the claim that owns 'value', or NULL. */
static const struct fc_claim *
fc_claim_owner(const struct fc_claims *claims, const struct in6_addr *value)
{
    struct fc_claim *c;

    HMAP_FOR_EACH_WITH_HASH (c, value_node, hash_bytes(value, sizeof *value,
                                                       0),
                             &claims->owners) {
        if (ipv6_addr_equals(&c->value, value)) {
            return c;
        }
    }
    return NULL;
}

/* Returns true if 'a' has a better claim than 'b' to their value. */
static bool
fc_claim_better(const struct fc_claim *a, const struct fc_claim *b)
{
    return (a->was_owner != b->was_owner ? a->was_owner
            : a->canonical != b->canonical ? a->canonical
            : uuid_compare_3way(&a->uuid, &b->uuid) < 0);
}

/* One row that claims a value, for fc_claims_refresh(). */
struct fc_claim_row {
    const struct ovsdb_idl_row *row;
    const char *spelling;       /* The value as the row spells it. */
};

/* Brings 'claims' up to date with the 'n' rows in 'rows', every row that
 * claims a value, and adds to 'changed' the rows whose claim is new or
 * whose ownership changed. */
static void
fc_claims_refresh(struct fc_ctx *ctx, struct fc_claims *claims,
                  const struct fc_claim_row *rows, size_t n,
                  struct hmapx *changed)
{
    struct fc_claim *c;

    for (size_t i = 0; i < n; i++) {
        const struct uuid *uuid = &rows[i].row->uuid;

        c = fc_claim_find(claims, uuid);
        if (!c) {
            c = xzalloc(sizeof *c);
            c->uuid = *uuid;
            hmap_insert(&claims->by_uuid, &c->uuid_node, uuid_hash(uuid));
            hmapx_add(changed, CONST_CAST(struct ovsdb_idl_row *,
                                          rows[i].row));
        }
        if (!c->spelling || strcmp(c->spelling, rows[i].spelling)) {
            /* New, or changed (a container's MAC may change, and the
             * primary respells values).  A new spelling of the same value
             * keeps the row's ownership. */
            struct in6_addr old_value = c->value;
            bool same = false;

            free(c->spelling);
            free(c->text);
            free(c->parse_error);
            c->spelling = xstrdup(rows[i].spelling);
            c->text = NULL;
            c->parse_error = claims->parse(rows[i].spelling, &c->value,
                                           &c->text);
            c->canonical = c->text && !strcmp(c->text, rows[i].spelling);
            same = c->owner && c->text && ipv6_addr_equals(&old_value,
                                                           &c->value);
            if (!same) {
                c->owner = false;
                hmapx_add(changed, CONST_CAST(struct ovsdb_idl_row *,
                                              rows[i].row));
            }
        }
        c->seen = true;
    }

    /* Forget the rows that are gone, then pick the owners again. */
    hmap_clear(&claims->owners);
    HMAP_FOR_EACH_SAFE (c, uuid_node, &claims->by_uuid) {
        if (!c->seen) {
            hmap_remove(&claims->by_uuid, &c->uuid_node);
            fc_claim_free(c);
            continue;
        }
        c->seen = false;
        c->was_owner = c->owner;
        c->owner = false;
        if (c->text) {
            uint32_t hash = hash_bytes(&c->value, sizeof c->value, 0);
            struct fc_claim *best = CONST_CAST(struct fc_claim *,
                                               fc_claim_owner(claims,
                                                              &c->value));
            if (!best) {
                hmap_insert(&claims->owners, &c->value_node, hash);
            } else if (fc_claim_better(c, best)) {
                hmap_replace(&claims->owners, &best->value_node,
                             &c->value_node);
            }
        }
    }
    HMAP_FOR_EACH (c, value_node, &claims->owners) {
        c->owner = true;
        if (!c->canonical) {
            ctx->tenancy.respell_needed = true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        c = fc_claim_find(claims, &rows[i].row->uuid);
        if (c->owner != c->was_owner) {
            hmapx_add(changed, CONST_CAST(struct ovsdb_idl_row *,
                                          rows[i].row));
        }
    }
}

/* Returns the canonical spelling of public address 'ip' if its row owns
 * it, storing the address in '*addr', or NULL if the row is refused. */
static const char *
fc_ip_owned(struct fc_ctx *ctx, const struct flexrec_public_ip *ip,
            struct in6_addr *addr)
{
    const struct fc_claim *c = ip ? fc_claim_find(&ctx->tenancy.ips,
                                                  &ip->header_.uuid)
                                  : NULL;

    if (!c || !c->owner) {
        return NULL;
    }
    if (addr) {
        *addr = c->value;
    }
    return c->text;
}

/* Returns the canonical spelling of container 'c''s MAC if it owns it,
 * storing the MAC in '*mac', or NULL if the container is refused. */
static const char *
fc_container_mac(struct fc_ctx *ctx, const struct flexrec_container *c,
                 struct eth_addr *mac)
{
    const struct fc_claim *claim = fc_claim_find(&ctx->tenancy.macs,
                                                 &c->header_.uuid);

    if (!claim || !claim->owner) {
        return NULL;
    }
    if (mac) {
        memcpy(mac, &claim->value, sizeof *mac);
    }
    return claim->text;
}

/* Describes why claim 'c' of the row that spells its value 'spelling' is
 * refused, naming the owner with 'owner_name' (which returns a malloc()'d
 * name of the row with a UUID in 'idl'), or returns NULL. */
static char *
fc_claim_problem(const struct fc_claims *claims, const struct fc_claim *c,
                 const char *spelling, struct ovsdb_idl *idl,
                 char *(*owner_name)(struct ovsdb_idl *, const struct uuid *))
{
    const struct fc_claim *owner;
    char *name, *problem;

    if (!c->text) {
        return xstrdup(c->parse_error);
    } else if (c->owner) {
        return NULL;
    }
    owner = fc_claim_owner(claims, &c->value);
    name = owner_name(idl, &owner->uuid);
    if (c->canonical) {
        problem = xasprintf("%s belongs to %s already", spelling, name);
    } else {
        problem = xasprintf("%s is %s, which belongs to %s already",
                            spelling, c->text, name);
    }
    free(name);
    return problem;
}

static char *
fc_ip_owner_name(struct ovsdb_idl *idl, const struct uuid *uuid)
{
    const struct flexrec_public_ip *ip = flexrec_public_ip_get_for_uuid(
        idl, uuid);

    return xasprintf("tenant %s (as %s)",
                     ip && ip->tenant ? ip->tenant->name : "?",
                     ip ? ip->address : "?");
}

static char *
fc_mac_owner_name(struct ovsdb_idl *idl, const struct uuid *uuid)
{
    const struct flexrec_container *c = flexrec_container_get_for_uuid(
        idl, uuid);

    return xasprintf("container %s", c ? c->name : "?");
}

/* Refreshes the owners of public addresses, checks every Public_IP row,
 * and adds to 'changed' those whose ownership changed. */
static void
fc_ips_refresh(struct fc_ctx *ctx, struct hmapx *changed)
{
    const struct flexrec_public_ip *ip;
    struct fc_claim_row *rows;
    size_t n = 0;

    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        n++;
    }
    rows = xmalloc(MAX(n, 1) * sizeof *rows);
    n = 0;
    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        rows[n++] = (struct fc_claim_row) { &ip->header_, ip->address };
    }
    fc_claims_refresh(ctx, &ctx->tenancy.ips, rows, n, changed);
    free(rows);

    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        const struct fc_claim *c = fc_claim_find(&ctx->tenancy.ips,
                                                 &ip->header_.uuid);
        char *what = xasprintf("public address %s", ip->address);

        fc_problem_set(ctx, &ip->header_.uuid, &ip->status, what,
                       fc_claim_problem(&ctx->tenancy.ips, c, ip->address,
                                        ctx->idl, fc_ip_owner_name));
        free(what);
    }
}

/* Refreshes the owners of container MACs and adds to 'changed' the
 * containers whose ownership changed. */
static void
fc_macs_refresh(struct fc_ctx *ctx, struct hmapx *changed)
{
    const struct flexrec_container *c;
    struct fc_claim_row *rows;
    size_t n = 0;

    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        n++;
    }
    rows = xmalloc(MAX(n, 1) * sizeof *rows);
    n = 0;
    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        rows[n++] = (struct fc_claim_row) { &c->header_, c->mac };
    }
    fc_claims_refresh(ctx, &ctx->tenancy.macs, rows, n, changed);
    free(rows);
}

/* Returns why switch row 'sw' carries every tenant's traffic on 'iface',
 * or NULL if it does not. */
static const char *
fc_shared_port(const struct flexrec_switch *sw, const char *iface)
{
    if (sw->uplink && !strcmp(sw->uplink, iface)) {
        return "uplink";
    } else if (sw->tunnel_port && !strcmp(sw->tunnel_port, iface)) {
        return "tunnel port";
    }
    return NULL;
}

static char *
fc_port_key(const struct flexrec_container *c)
{
    return xasprintf(UUID_FMT" %s", UUID_ARGS(&c->switch_->header_.uuid),
                     c->iface);
}

/* Returns why container 'c' may not use its interface (malloc()'d), or
 * NULL. */
static char *
fc_container_port_problem(struct fc_ctx *ctx,
                          const struct flexrec_container *c)
{
    const char *shared;
    const struct uuid *owner;
    char *key;

    if (!c->switch_ || !c->tenant) {
        return NULL;
    }
    shared = fc_shared_port(c->switch_, c->iface);
    if (shared) {
        return xasprintf("%s is the %s of switch %s (no container may sit "
                         "on it)", c->iface, shared, c->switch_->name);
    }
    key = fc_port_key(c);
    owner = shash_find_data(&ctx->tenancy.port_tenants, key);
    free(key);
    if (owner && !uuid_equals(owner, &c->tenant->header_.uuid)) {
        const struct flexrec_tenant *t = flexrec_tenant_get_for_uuid(ctx->idl,
                                                                     owner);
        return xasprintf("%s on switch %s belongs to tenant %s already",
                         c->iface, c->switch_->name, t ? t->name : "?");
    }
    return NULL;
}

/* Picks the tenant of every container interface again (see
 * 'port_tenants') and adds to 'changed' the containers refused or
 * accepted anew. */
static void
fc_ports_refresh(struct fc_ctx *ctx, struct hmapx *changed)
{
    struct pick {
        struct uuid tenant;
        struct uuid lowest;     /* Container that picked 'tenant'. */
        bool keep;              /* 'tenant' had it already. */
    };
    struct shash picks = SHASH_INITIALIZER(&picks);
    struct sset refused = SSET_INITIALIZER(&refused);
    const struct flexrec_container *c;
    struct shash_node *node;

    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        if (!c->switch_ || !c->tenant || !fc_container_mac(ctx, c, NULL)
            || fc_shared_port(c->switch_, c->iface)) {
            continue;
        }

        char *key = fc_port_key(c);
        const struct uuid *old = shash_find_data(&ctx->tenancy.port_tenants,
                                                 key);
        const struct uuid *tenant = &c->tenant->header_.uuid;
        struct pick *p = shash_find_data(&picks, key);

        if (!p) {
            p = xmalloc(sizeof *p);
            p->tenant = *tenant;
            p->lowest = c->header_.uuid;
            p->keep = old && uuid_equals(old, tenant);
            shash_add_nocopy(&picks, key, p);
        } else {
            free(key);
            if (p->keep) {
                continue;
            } else if (old && uuid_equals(old, tenant)) {
                p->keep = true;
                p->tenant = *tenant;
            } else if (uuid_compare_3way(&c->header_.uuid, &p->lowest) < 0) {
                p->tenant = *tenant;
                p->lowest = c->header_.uuid;
            }
        }
    }
    shash_clear_free_data(&ctx->tenancy.port_tenants);
    SHASH_FOR_EACH (node, &picks) {
        struct pick *p = node->data;

        shash_add(&ctx->tenancy.port_tenants, node->name,
                  xmemdup(&p->tenant, sizeof p->tenant));
    }
    shash_destroy_free_data(&picks);

    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        char *problem = fc_container_port_problem(ctx, c);
        char uuid[UUID_LEN + 1];

        snprintf(uuid, sizeof uuid, UUID_FMT, UUID_ARGS(&c->header_.uuid));
        if (problem) {
            sset_add(&refused, uuid);
            free(problem);
        }
        if (!!problem != sset_contains(&ctx->tenancy.port_refused, uuid)) {
            hmapx_add(changed, CONST_CAST(struct flexrec_container *, c));
        }
    }
    sset_swap(&refused, &ctx->tenancy.port_refused);
    sset_destroy(&refused);
}

/* Returns the canonical spelling of container 'c''s MAC, storing it in
 * '*mac', if the switch may deliver to 'c': it owns its MAC and its
 * interface.  Otherwise returns NULL. */
static const char *
fc_container_built(struct fc_ctx *ctx, const struct flexrec_container *c,
                   struct eth_addr *mac)
{
    char uuid[UUID_LEN + 1];

    snprintf(uuid, sizeof uuid, UUID_FMT, UUID_ARGS(&c->header_.uuid));
    return (sset_contains(&ctx->tenancy.port_refused, uuid) ? NULL
            : fc_container_mac(ctx, c, mac));
}

/* Returns the gateway MAC, canonically spelled, or NULL if there is none
 * or if Global:gateway_mac is no unicast MAC (then there is no pipeline:
 * nothing answers from it). */
static const char *
fc_gateway_mac(struct fc_ctx *ctx)
{
    const struct flexrec_global *g = flexrec_global_first(ctx->idl);
    static char text[ETH_ADDR_STRLEN + 1];
    struct eth_addr mac;
    char *error;

    if (!g || !g->gateway_mac) {
        return NULL;
    }
    error = fc_unicast_mac(g->gateway_mac, "gateway_mac", &mac);
    if (error) {
        free(error);
        return NULL;
    }
    snprintf(text, sizeof text, ETH_ADDR_FMT, ETH_ADDR_ARGS(mac));
    return text;
}

/* Parses 's', Global:other_config:tunnel-key (NULL if unset), into '*key'
 * (0 if unset).  Returns false if 's' is not a VXLAN key, 0 to
 * 16777215. */
static bool
fc_tunnel_key_parse(const char *s, ovs_be64 *key)
{
    unsigned long long int value = 0;

    if (s && (!str_to_ullong(s, 0, &value) || value > 0xffffff)) {
        return false;
    }
    *key = htonll(value);
    return true;
}

/* Checks the Global row: its gateway MAC and its tunnel key. */
static void
fc_global_check(struct fc_ctx *ctx)
{
    const struct flexrec_global *g = flexrec_global_first(ctx->idl);
    struct ds s = DS_EMPTY_INITIALIZER;
    struct eth_addr mac;
    const char *tunnel_key;
    ovs_be64 key;
    char *error;

    if (!g) {
        return;
    }
    if (g->gateway_mac
        && (error = fc_unicast_mac(g->gateway_mac, "gateway_mac", &mac))) {
        ds_put_cstr(&s, error);
        free(error);
    }
    tunnel_key = smap_get(&g->other_config, "tunnel-key");
    if (!fc_tunnel_key_parse(tunnel_key, &key)) {
        ds_put_format(&s, "%sother_config:tunnel-key=%s is not a VXLAN key "
                      "(0 to 16777215), using 0", s.length ? "; " : "",
                      tunnel_key);
    }
    fc_problem_set(ctx, &g->header_.uuid, &g->status, "Global",
                   s.length ? ds_steal_cstr(&s) : NULL);
    ds_destroy(&s);
}

/* Returns true if switch row 'row' has a usable tunnel address, storing
 * it in '*ip6' (IPv4 as IPv4-mapped) and its spelling in '*text'. */
static bool
fc_tunnel_ip(const struct flexrec_switch *row, struct in6_addr *ip6,
             char **text)
{
    char *error;

    if (!row->tunnel_ip) {
        return false;
    }
    error = fc_ip_parse(row->tunnel_ip, ip6, text);
    free(error);
    return !error;
}

/* Stores the map key of mapping 'm' in 'key'.  Returns false if 'm' has no
 * usable key, for one because its address row is refused. */
static bool
fc_mapping_key(struct fc_ctx *ctx, const struct flexrec_mapping *m,
               struct flexmap_key *key)
{
    ovs_be16 port = htons(m->n_port ? m->port[0] : 0);
    uint8_t proto = (!strcmp(m->proto, "tcp") ? IPPROTO_TCP
                     : !strcmp(m->proto, "udp") ? IPPROTO_UDP
                     : !strcmp(m->proto, "sctp") ? IPPROTO_SCTP
                     : 0);
    struct in6_addr ip6;

    if (!fc_ip_owned(ctx, m->ip, &ip6)) {
        return false;
    }
    flexmap_key_init_ipv6(key, &ip6, proto, port);
    return !flexmap_key_check(key);
}

/* Returns a malloc()'d description of what is wrong with mapping 'm', or
 * NULL if nothing is.  Backends it names are skipped. */
static char *
fc_mapping_problem(struct fc_ctx *ctx, const struct flexrec_mapping *m)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    struct flexmap_key key;
    uint32_t weight = 0;

    if (m->ip && !fc_ip_owned(ctx, m->ip, NULL)) {
        ds_put_format(&s, "address %s is refused (see its status)",
                      m->ip->address);
    } else if (!fc_mapping_key(ctx, m, &key)) {
        ds_put_format(&s, "bad key (%s %s%s%"PRId64")",
                      m->ip ? m->ip->address : "?", m->proto,
                      m->n_port ? ":" : "", m->n_port ? m->port[0] : 0);
    }
    for (size_t i = 0; m->ip && i < m->n_backends; i++) {
        const struct flexrec_container *c = m->key_backends[i];

        if (c->tenant != m->ip->tenant) {
            ds_put_format(&s, "%scontainer %s belongs to tenant %s, not %s",
                          s.length ? "; " : "", c->name, c->tenant->name,
                          m->ip->tenant->name);
        } else {
            weight += m->value_backends[i];
        }
    }
    if (m->ip && !weight && !s.length) {
        ds_put_cstr(&s, "no backend has a nonzero weight");
    }
    return s.length ? ds_steal_cstr(&s) : NULL;
}

/* The VXLAN key of tunnel backends: Global:other_config:tunnel-key,
 * default 0.  A key out of range is reported in Global's status
 * (fc_global_check()) and tunnels use 0. */
static ovs_be64
fc_tunnel_key(struct fc_ctx *ctx)
{
    const struct flexrec_global *g = flexrec_global_first(ctx->idl);
    ovs_be64 key;

    if (!g || !fc_tunnel_key_parse(smap_get(&g->other_config, "tunnel-key"),
                                   &key)) {
        key = 0;
    }
    return key;
}

/* Returns the OpenFlow port number of the port named 'name' on 'sw', or
 * OFPP_NONE if 'name' is null or 'sw' has no such port. */
static ofp_port_t
fc_port(const struct fc_switch *sw, const char *name)
{
    const struct shash_node *node = name ? shash_find(&sw->ports, name)
                                         : NULL;

    return node ? u16_to_ofp((uintptr_t) node->data) : OFPP_NONE;
}

/* Fills 'b' with a tunnel backend through which gateway switch 'sw' reaches
 * container 'c' behind another switch, and returns true; returns false if
 * 'sw' is not a gateway, or one of the two switches lacks its tunnel
 * settings. */
static bool
fc_tunnel_backend(struct fc_ctx *ctx, const struct fc_switch *sw,
                  const struct flexrec_container *c, struct flexmap_backend *b)
{
    const struct flexrec_switch *gw = sw->row;
    const struct flexrec_switch *host = c->switch_;
    ofp_port_t port = fc_port(sw, gw->tunnel_port);
    struct in6_addr ip6;
    char *text;

    if (strcmp(gw->role, "gateway") || port == OFPP_NONE
        || !fc_tunnel_ip(host, &ip6, &text)) {
        return false;
    }
    free(text);
    b->port = port;
    b->flags = FLEXMAP_BACKEND_TUNNEL;
    b->tun_dst = ip6;
    b->tun_id = fc_tunnel_key(ctx);
    return true;
}

static int
fc_backend_cmp(const void *a_, const void *b_)
{
    const struct flexmap_backend *a = a_, *b = b_;
    int cmp = memcmp(&a->mac, &b->mac, sizeof a->mac);

    return cmp ? cmp : (int) ofp_to_u16(a->port) - (int) ofp_to_u16(b->port);
}

/* Returns the backends that mapping 'm', whose key is 'key', has behind
 * switch 'sw', or NULL if it has none there. */
static struct fc_val *
fc_mapping_val(struct fc_ctx *ctx, const struct flexrec_mapping *m,
               const struct flexmap_key *key, const struct fc_switch *sw)
{
    static struct flexmap_entry e;
    struct fc_val *val;
    enum ofperr error;

    if (!sw->row || !m->ip) {
        return NULL;
    }
    e.table_id = ctx->map_table;
    e.key = *key;
    e.n_backends = 0;
    for (size_t i = 0; i < m->n_backends; i++) {
        const struct flexrec_container *c = m->key_backends[i];
        struct flexmap_backend *b;
        struct shash_node *port;
        struct eth_addr mac;

        if (c->tenant != m->ip->tenant || !fc_container_built(ctx, c, &mac)) {
            continue;           /* Refused. */
        }
        b = &e.backends[e.n_backends];
        memset(b, 0, sizeof *b);
        if (c->switch_ == sw->row) {
            port = shash_find(&sw->ports, c->iface);
            if (!port) {
                continue;       /* Not plugged in (yet). */
            }
            b->port = u16_to_ofp((uintptr_t) port->data);
        } else if (!fc_tunnel_backend(ctx, sw, c, b)) {
            continue;           /* Elsewhere, and this is no gateway. */
        }
        b->mac = mac;
        b->weight = m->value_backends[i];
        e.n_backends++;
    }
    if (!e.n_backends) {
        return NULL;
    }
    /* The database orders backends by UUID; order them by MAC, so that an
     * entry reads the same everywhere and across database reloads. */
    qsort(e.backends, e.n_backends, sizeof *e.backends, fc_backend_cmp);
    error = flexmap_entry_check(&e);
    if (error == OFPERR_NXFMFC_ZERO_WEIGHT) {
        /* Every backend here is drained: nothing to choose from here
         * (fc_mapping_problem() reports a mapping with no weight
         * anywhere). */
        return NULL;
    } else if (error) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

        VLOG_WARN_RL(&rl, "mapping to %s: %s", m->ip->address,
                     ofperr_to_string(error));
        return NULL;
    }
    val = xmalloc(sizeof *val + e.n_backends * sizeof *val->backends);
    val->n = e.n_backends;
    memcpy(val->backends, e.backends, e.n_backends * sizeof *val->backends);
    return val;
}

static struct fc_val *
fc_val_from_entry(const struct flexmap_entry *e)
{
    struct fc_val *val = xmalloc(sizeof *val
                                 + e->n_backends * sizeof *val->backends);

    val->n = e->n_backends;
    for (size_t i = 0; i < e->n_backends; i++) {
        const struct flexmap_backend *src = &e->backends[i];
        struct flexmap_backend *dst = &val->backends[i];

        memset(dst, 0, sizeof *dst);
        dst->mac = src->mac;
        dst->weight = src->weight;
        dst->port = src->port;
        dst->flags = src->flags;
        if (src->flags & FLEXMAP_BACKEND_TUNNEL) {
            dst->tun_dst = src->tun_dst;
            dst->tun_id = src->tun_id;
        }
    }
    return val;
}

static bool
fc_val_equal(const struct fc_val *a, const struct fc_val *b)
{
    return a->n == b->n && !memcmp(a->backends, b->backends,
                                   a->n * sizeof *a->backends);
}

static struct fc_slot *
fc_slot_find(const struct fc_switch *sw, const struct flexmap_key *key)
{
    struct fc_slot *slot;

    HMAP_FOR_EACH_WITH_HASH (slot, node, flexmap_key_hash(key, 0),
                             &sw->slots) {
        if (flexmap_key_equal(&slot->key, key)) {
            return slot;
        }
    }
    return NULL;
}

static struct fc_slot *
fc_slot_get(struct fc_switch *sw, const struct flexmap_key *key)
{
    struct fc_slot *slot = fc_slot_find(sw, key);

    if (!slot) {
        slot = xzalloc(sizeof *slot);
        slot->key = *key;
        hmap_insert(&sw->slots, &slot->node, flexmap_key_hash(key, 0));
    }
    return slot;
}

static void
fc_slot_list(struct fc_switch *sw, struct fc_slot *slot)
{
    if (!slot->listed) {
        slot->listed = true;
        ovs_list_push_back(&sw->dirty, &slot->dirty_node);
    }
}

/* Sets what 'sw' should hold at 'key' to 'val' (NULL: nothing), taking
 * ownership of 'val'. */
static void
fc_slot_want(struct fc_switch *sw, const struct flexmap_key *key,
             struct fc_val *val)
{
    struct fc_slot *slot = val ? fc_slot_get(sw, key) : fc_slot_find(sw, key);

    if (slot) {
        free(slot->want);
        slot->want = val;
        fc_slot_list(sw, slot);
    }
}

static void
fc_slots_clear(struct fc_ctx *ctx, struct fc_switch *sw)
{
    struct fc_slot *slot;

    HMAP_FOR_EACH_POP (slot, node, &sw->slots) {
        if (slot->refused) {
            free(slot->refused);
            free(slot->refused_val);
            fc_recheck_key(ctx, &slot->key);
        }
        free(slot->want);
        free(slot->have);
        free(slot);
    }
    ovs_list_init(&sw->dirty);
    sw->n_refused_entries = 0;
}

static struct fc_mapping *
fc_mapping_find(struct fc_ctx *ctx, const struct uuid *uuid)
{
    struct fc_mapping *fm;

    HMAP_FOR_EACH_WITH_HASH (fm, uuid_node, uuid_hash(uuid),
                             &ctx->mappings.by_uuid) {
        if (uuid_equals(&fm->uuid, uuid)) {
            return fm;
        }
    }
    return NULL;
}

static void
fc_mapping_forget(struct fc_ctx *ctx, struct fc_mapping *fm)
{
    hmap_remove(&ctx->mappings.by_uuid, &fm->uuid_node);
    hmap_remove(&ctx->mappings.by_key, &fm->key_node);
    free(fm);
}

static void
fc_mapping_remember(struct fc_ctx *ctx, const struct flexrec_mapping *m,
                    const struct flexmap_key *key)
{
    struct fc_mapping *fm = xmalloc(sizeof *fm);

    fm->uuid = m->header_.uuid;
    fm->key = *key;
    hmap_insert(&ctx->mappings.by_uuid, &fm->uuid_node, uuid_hash(&fm->uuid));
    hmap_insert(&ctx->mappings.by_key, &fm->key_node,
                flexmap_key_hash(key, 0));
}

/* Returns the mapping whose key is 'key', or NULL. */
static const struct flexrec_mapping *
fc_mapping_by_key(struct fc_ctx *ctx, const struct flexmap_key *key)
{
    struct fc_mapping *fm;

    HMAP_FOR_EACH_WITH_HASH (fm, key_node, flexmap_key_hash(key, 0),
                             &ctx->mappings.by_key) {
        if (flexmap_key_equal(&fm->key, key)) {
            return flexrec_mapping_get_for_uuid(ctx->idl, &fm->uuid);
        }
    }
    return NULL;
}

/* Checks mapping 'm', including whether a switch refused its entry, and
 * records what is wrong with it (see fc_problem_set()). */
static void
fc_mapping_check(struct fc_ctx *ctx, const struct flexrec_mapping *m)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    char *problem = fc_mapping_problem(ctx, m);
    struct flexmap_key key;

    if (problem) {
        ds_put_cstr(&s, problem);
        free(problem);
    }
    if (fc_mapping_key(ctx, m, &key)) {
        const struct fc_switch *sw;

        LIST_FOR_EACH (sw, node, &ctx->switches) {
            const struct fc_slot *slot = (sw->n_refused_entries
                                          ? fc_slot_find(sw, &key) : NULL);

            if (slot && slot->refused) {
                ds_put_format(&s, "%sswitch %016"PRIx64" refused the entry "
                              "(%s)", s.length ? "; " : "", sw->dpid,
                              slot->refused);
            }
        }
    }
    struct ds what = DS_EMPTY_INITIALIZER;
    ds_put_format(&what, "mapping to %s %s", m->ip ? m->ip->address : "?",
                  m->proto);
    if (m->n_port) {
        ds_put_format(&what, ":%"PRId64, m->port[0]);
    }
    fc_problem_set(ctx, &m->header_.uuid, &m->status, ds_cstr(&what),
                   s.length ? ds_steal_cstr(&s) : NULL);
    ds_destroy(&s);
    ds_destroy(&what);
}

/* Checks again the mapping whose key is 'key', if any, after a switch
 * refused its entry or stopped refusing it. */
static void
fc_recheck_key(struct fc_ctx *ctx, const struct flexmap_key *key)
{
    const struct flexrec_mapping *m = fc_mapping_by_key(ctx, key);

    if (m) {
        fc_mapping_check(ctx, m);
    }
}

/* Recomputes every map entry that 'sw' should hold. */
static void
fc_switch_full(struct fc_ctx *ctx, struct fc_switch *sw)
{
    const struct flexrec_mapping *m;
    struct fc_slot *slot;

    sw->row = fc_switch_row(ctx, sw);
    HMAP_FOR_EACH (slot, node, &sw->slots) {
        free(slot->want);
        slot->want = NULL;
        fc_slot_list(sw, slot);
    }
    if (!ctx->reactive) {
        FLEXREC_MAPPING_FOR_EACH (m, ctx->idl) {
            struct flexmap_key key;

            if (fc_mapping_key(ctx, m, &key)) {
                fc_slot_want(sw, &key, fc_mapping_val(ctx, m, &key, sw));
            }
        }
    }
    sw->need_full = false;
    sw->flows_dirty = true;
}

static bool
fc_switch_ready(const struct fc_switch *sw)
{
    return sw->dumped;
}

/* Returns true if tracked row 'row' is new, deleted, or changed in another
 * column than the 'n_ignored' in 'ignored' (those the controller writes
 * itself, and the bookkeeping of flexmap-ctl --wait). */
static bool
fc_row_changed(const struct ovsdb_idl_row *row,
               const struct ovsdb_idl_column *const ignored[],
               size_t n_ignored)
{
    const struct ovsdb_idl_table_class *tc = row->table->class_;

    if (!ovsdb_idl_row_get_seqno(row, OVSDB_IDL_CHANGE_MODIFY)
        || ovsdb_idl_row_get_seqno(row, OVSDB_IDL_CHANGE_DELETE)) {
        return true;
    }
    for (size_t i = 0; i < tc->n_columns; i++) {
        bool ignore = false;

        for (size_t j = 0; j < n_ignored; j++) {
            if (&tc->columns[i] == ignored[j]) {
                ignore = true;
                break;
            }
        }
        if (!ignore && ovsdb_idl_track_is_updated(row, &tc->columns[i])) {
            return true;
        }
    }
    return false;
}

/* fc_row_changed() of a row of a table whose only column the controller
 * writes is 'status'. */
static bool
fc_row_changed_but_status(const struct ovsdb_idl_row *row,
                          const struct ovsdb_idl_column *status)
{
    const struct ovsdb_idl_column *ignored[] = { status };

    return fc_row_changed(row, ignored, ARRAY_SIZE(ignored));
}

/* Returns true if a row of 'table' came, went or changed in another column
 * than its 'status', which the controller writes itself: only then may an
 * address (Public_IP) or a MAC or port (Container) have changed hands. */
static bool
fc_table_changed(struct fc_ctx *ctx, const struct ovsdb_idl_table_class *table,
                 const struct ovsdb_idl_column *status)
{
    const struct ovsdb_idl_row *row;

    for (row = ovsdb_idl_track_get_first(ctx->idl, table); row;
         row = ovsdb_idl_track_get_next(row)) {
        if (fc_row_changed_but_status(row, status)) {
            return true;
        }
    }
    return false;
}

/* Returns the connected switch of row 'row' whose ports are known, or
 * NULL. */
static struct fc_switch *
fc_switch_for_row(struct fc_ctx *ctx, const struct flexrec_switch *row)
{
    struct fc_switch *sw;

    LIST_FOR_EACH (sw, node, &ctx->switches) {
        if (row && sw->identified && sw->ports_known && sw->row == row
            && rconn_is_connected(sw->rconn)) {
            return sw;
        }
    }
    return NULL;
}

/* Checks container 'c': its MAC and, once its switch is connected, its
 * interface there. */
static void
fc_container_check(struct fc_ctx *ctx, const struct flexrec_container *c)
{
    const struct fc_claim *claim = fc_claim_find(&ctx->tenancy.macs,
                                                 &c->header_.uuid);
    const struct fc_switch *sw = fc_switch_for_row(ctx, c->switch_);
    struct ds s = DS_EMPTY_INITIALIZER;
    char *problem = (claim ? fc_claim_problem(&ctx->tenancy.macs, claim,
                                              c->mac, ctx->idl,
                                              fc_mac_owner_name)
                     : NULL);
    char *what;

    if (problem) {
        ds_put_cstr(&s, problem);
        free(problem);
    }
    if (!s.length) {
        problem = fc_container_port_problem(ctx, c);
        if (problem) {
            ds_put_cstr(&s, problem);
            free(problem);
        }
    }
    if (sw && fc_port(sw, c->iface) == OFPP_NONE) {
        ds_put_format(&s, "%sswitch %s has no interface %s",
                      s.length ? "; " : "", c->switch_->name, c->iface);
    }
    what = xasprintf("container %s", c->name);
    fc_problem_set(ctx, &c->header_.uuid, &c->status, what,
                   s.length ? ds_steal_cstr(&s) : NULL);
    ds_destroy(&s);
    free(what);
}

/* Checks switch row 'row': its router MAC and tunnel address and, once it
 * is connected, its uplink and tunnel ports and the rules it refused. */
static void
fc_switch_row_check(struct fc_ctx *ctx, const struct flexrec_switch *row)
{
    const struct fc_switch *sw = fc_switch_for_row(ctx, row);
    struct ds s = DS_EMPTY_INITIALIZER;
    bool uplink_ok = true;
    struct in6_addr ip6;
    struct eth_addr mac;
    char *error, *text;

    if (row->router_mac
        && (error = fc_unicast_mac(row->router_mac, "router_mac", &mac))) {
        ds_put_format(&s, "%s; ", error);
        free(error);
        uplink_ok = false;
    }
    if (row->uplink && !row->router_mac) {
        ds_put_format(&s, "uplink %s has no router_mac; ", row->uplink);
        uplink_ok = false;
    }
    if (strlen(row->datapath_id) != 16
        || strspn(row->datapath_id, "0123456789abcdef") != 16) {
        ds_put_format(&s, "datapath_id %s is not 16 lowercase hex digits "
                      "(no switch will match it); ", row->datapath_id);
    }
    if (row->tunnel_ip) {
        error = fc_ip_parse(row->tunnel_ip, &ip6, &text);
        if (error) {
            ds_put_format(&s, "tunnel_ip: %s; ", error);
            free(error);
        } else {
            free(text);
        }
    }
    if (sw) {
        if (row->uplink && fc_port(sw, row->uplink) == OFPP_NONE) {
            ds_put_format(&s, "the switch has no port %s (uplink); ",
                          row->uplink);
            uplink_ok = false;
        }
        if (!uplink_ok && sw->uplink_name) {
            ds_put_format(&s, "still sending out of %s; ", sw->uplink_name);
        }
        if (row->tunnel_port && fc_port(sw, row->tunnel_port) == OFPP_NONE) {
            ds_put_format(&s, "the switch has no port %s (tunnel_port); ",
                          row->tunnel_port);
        }
        if (!shash_is_empty(&sw->refused_flows)) {
            const struct shash_node *first = shash_first(&sw->refused_flows);

            ds_put_format(&s, "the switch refused %"PRIuSIZE" rules (%s: "
                          "%s); ", shash_count(&sw->refused_flows),
                          first->name, (char *) first->data);
        }
    }
    ds_chomp(&s, ' ');
    ds_chomp(&s, ';');
    char *what = xasprintf("switch %s", row->name);
    fc_problem_set(ctx, &row->header_.uuid, &row->status, what,
                   s.length ? ds_steal_cstr(&s) : NULL);
    ds_destroy(&s);
    free(what);
}

/* Follows the database's latest changes, as the IDL's change tracking
 * reports them; with 'full', recomputes everything. */
static void
fc_process_changes(struct fc_ctx *ctx, bool full)
{
    struct hmapx changed = HMAPX_INITIALIZER(&changed);
    struct hmapx containers = HMAPX_INITIALIZER(&containers);
    struct hmapx ips = HMAPX_INITIALIZER(&ips);
    const struct flexrec_public_ip *ip;
    const struct flexrec_container *c;
    const struct flexrec_mapping *m;
    struct hmapx_node *node;
    struct fc_switch *sw;
    bool flows = false;

    const struct flexrec_switch *row;
    FLEXREC_SWITCH_FOR_EACH_TRACKED (row, ctx->idl) {
        static const struct ovsdb_idl_column *const ignored[] = {
            &flexrec_switch_col_status, &flexrec_switch_col_cur_cfg,
        };

        if (fc_row_changed(&row->header_, ignored, ARRAY_SIZE(ignored))) {
            full = true;        /* Switches come and go rarely. */
        }
    }
    if (full) {
        LIST_FOR_EACH (sw, node, &ctx->switches) {
            if (sw->identified) {
                /* The old row may be gone with the tracked changes. */
                sw->row = fc_switch_row(ctx, sw);
            }
        }
    }

    /* Who owns which address and MAC ('ips' and 'containers' get the rows
     * whose ownership changed), and what is wrong with the rows that do
     * not depend on a switch. */
    if (full || fc_table_changed(ctx, &flexrec_table_public_ip,
                                 &flexrec_public_ip_col_status)) {
        fc_ips_refresh(ctx, &ips);
    }
    if (full || fc_table_changed(ctx, &flexrec_table_container,
                                 &flexrec_container_col_status)) {
        fc_macs_refresh(ctx, &containers);
        fc_ports_refresh(ctx, &containers);
    }
    if (full || flexrec_global_track_get_first(ctx->idl)) {
        fc_global_check(ctx);
    }
    if (full) {
        FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
            fc_container_check(ctx, c);
        }
        FLEXREC_SWITCH_FOR_EACH (row, ctx->idl) {
            fc_switch_row_check(ctx, row);
        }
    } else {
        HMAPX_FOR_EACH (node, &containers) {
            fc_container_check(ctx, node->data);
        }
        FLEXREC_CONTAINER_FOR_EACH_TRACKED (c, ctx->idl) {
            if (!flexrec_container_is_deleted(c)) {
                fc_container_check(ctx, c);
            }
        }
    }

    if (full) {
        struct fc_mapping *fm;

        hmapx_destroy(&containers);
        hmapx_destroy(&ips);

        HMAP_FOR_EACH_SAFE (fm, uuid_node, &ctx->mappings.by_uuid) {
            fc_mapping_forget(ctx, fm);
        }
        FLEXREC_MAPPING_FOR_EACH (m, ctx->idl) {
            struct flexmap_key key;

            if (fc_mapping_key(ctx, m, &key)) {
                fc_mapping_remember(ctx, m, &key);
            }
            fc_mapping_check(ctx, m);
        }
#if HAVE_DECL_MALLOC_TRIM
        /* Reading a large database leaves most of the heap free (the JSON
         * of the initial contents); give it back. */
        malloc_trim(0);
#endif
        LIST_FOR_EACH (sw, node, &ctx->switches) {
            sw->need_full = true;
            if (sw->identified) {
                /* The old row may be gone with the tracked changes. */
                sw->row = fc_switch_row(ctx, sw);
            }
        }
        fc_problems_sweep(ctx);
        return;
    }

    /* Every flexmap-ctl --wait bumps next_cfg: that changes no rule. */
    const struct flexrec_global *g;
    FLEXREC_GLOBAL_FOR_EACH_TRACKED (g, ctx->idl) {
        static const struct ovsdb_idl_column *const ignored[] = {
            &flexrec_global_col_next_cfg, &flexrec_global_col_cur_cfg,
            &flexrec_global_col_election_id, &flexrec_global_col_status,
        };

        if (fc_row_changed(&g->header_, ignored, ARRAY_SIZE(ignored))) {
            flows = true;
        }
    }
    FLEXREC_PUBLIC_IP_FOR_EACH_TRACKED (ip, ctx->idl) {
        if (fc_row_changed_but_status(&ip->header_,
                                      &flexrec_public_ip_col_status)) {
            hmapx_add(&ips, CONST_CAST(void *, ip));
        }
    }
    FLEXREC_CONTAINER_FOR_EACH_TRACKED (c, ctx->idl) {
        if (fc_row_changed_but_status(&c->header_,
                                      &flexrec_container_col_status)) {
            hmapx_add(&containers, CONST_CAST(void *, c));
        }
    }
    if (!hmapx_is_empty(&ips) || !hmapx_is_empty(&containers)) {
        flows = true;           /* Responders, delivery, the way out. */
    }
    FLEXREC_MAPPING_FOR_EACH_TRACKED (m, ctx->idl) {
        if (fc_row_changed_but_status(&m->header_,
                                      &flexrec_mapping_col_status)) {
            hmapx_add(&changed, CONST_CAST(void *, m));
        }
    }
    if (!hmapx_is_empty(&ips) || !hmapx_is_empty(&containers)) {
        FLEXREC_MAPPING_FOR_EACH (m, ctx->idl) {
            bool touched = hmapx_contains(&ips, m->ip);

            for (size_t i = 0; !touched && i < m->n_backends; i++) {
                touched = hmapx_contains(&containers, m->key_backends[i]);
            }
            if (touched) {
                hmapx_add(&changed, CONST_CAST(void *, m));
            }
        }
    }

    /* First take every changed mapping away from where it was, then put it
     * where it is now, so that two mappings that trade keys in one
     * transaction end up right. */
    HMAPX_FOR_EACH (node, &changed) {
        struct fc_mapping *fm;

        m = node->data;
        fm = fc_mapping_find(ctx, &m->header_.uuid);
        if (fm) {
            LIST_FOR_EACH (sw, node, &ctx->switches) {
                if (fc_switch_ready(sw) && !sw->need_full) {
                    fc_slot_want(sw, &fm->key, NULL);
                }
            }
            fc_mapping_forget(ctx, fm);
        }
    }
    HMAPX_FOR_EACH (node, &changed) {
        struct flexmap_key key;

        m = node->data;
        if (flexrec_mapping_is_deleted(m)) {
            continue;
        }
        fc_mapping_check(ctx, m);
        if (!fc_mapping_key(ctx, m, &key)) {
            continue;
        }
        fc_mapping_remember(ctx, m, &key);
        if (ctx->reactive) {
            continue;
        }
        LIST_FOR_EACH (sw, node, &ctx->switches) {
            if (fc_switch_ready(sw) && !sw->need_full) {
                fc_slot_want(sw, &key, fc_mapping_val(ctx, m, &key, sw));
            }
        }
    }
    if (flows) {
        LIST_FOR_EACH (sw, node, &ctx->switches) {
            sw->flows_dirty = true;
        }
    }
    hmapx_destroy(&changed);
    hmapx_destroy(&containers);
    hmapx_destroy(&ips);
    fc_problems_sweep(ctx);
}

/* Stores in 's' the text of a rule of ours with 'match', 'priority' and
 * actions 'ofpacts', in one spelling whether it comes from our own text or
 * from a switch's dump, so the two can be compared. */
static void
fc_flow_text(uint8_t table_id, const struct match *match, int priority,
             const struct ofpact *ofpacts, size_t ofpacts_len, struct ds *s)
{
    struct ofpact_format_params fp = { .s = s };

    ds_put_format(s, "cookie=%#"PRIx64",table=%d,", FC_COOKIE,
                  table_id == 0xff ? 0 : table_id);
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
        fc_flow_text(fm.table_id, &match, fm.priority, fm.ofpacts,
                     fm.ofpacts_len, &s);
        shash_replace_nocopy(flows, ds_steal_cstr(&s), NULL);
        minimatch_destroy(&fm.match);
        free(CONST_CAST(struct ofpact *, fm.ofpacts));
    }
    free(text);
}

/* Resolves the uplink of 'sw' from its row: the port and the router MAC,
 * if both are right.  If the row names no uplink, 'sw' has none; if it
 * names a port that the switch lacks or a router MAC that is no unicast
 * MAC, 'sw' keeps the uplink it had, so that a typo does not cut off every
 * reply (fc_switch_row_check() reports it). */
static void
fc_switch_resolve_uplink(struct fc_switch *sw)
{
    const struct flexrec_switch *row = sw->row;
    ofp_port_t port = fc_port(sw, row->uplink);
    struct eth_addr mac;
    char *error;

    if (!row->uplink) {
        free(sw->uplink_name);
        sw->uplink_name = NULL;
        return;
    }
    error = (row->router_mac
             ? fc_unicast_mac(row->router_mac, "router_mac", &mac)
             : xstrdup("no router_mac"));
    if (!error && port != OFPP_NONE) {
        free(sw->uplink_name);
        sw->uplink_name = xstrdup(row->uplink);
        sw->uplink_port = port;
        sw->router_mac = mac;
    } else if (!sw->uplink_name && sw->dumped_uplink) {
        /* This controller has not known a good uplink for 'sw' yet: keep
         * the one that the switch's rules use. */
        const struct shash_node *node;

        sw->uplink_name = xasprintf("port %"PRIu16,
                                    ofp_to_u16(sw->dumped_uplink_port));
        SHASH_FOR_EACH (node, &sw->ports) {
            if ((uintptr_t) node->data
                == ofp_to_u16(sw->dumped_uplink_port)) {
                free(sw->uplink_name);
                sw->uplink_name = xstrdup(node->name);
                break;
            }
        }
        sw->uplink_port = sw->dumped_uplink_port;
        sw->router_mac = sw->dumped_router_mac;
    }
    free(error);
}

/* Returns the actions, malloc()'d, with which switch 'sw' sends a packet
 * from a public address out of its uplink to the router there, or NULL if
 * it has no uplink (see fc_switch_resolve_uplink()). */
static char *
fc_uplink_actions(const struct fc_switch *sw, const char *gw)
{
    if (!sw->uplink_name) {
        return NULL;
    }
    return xasprintf("set_field:%s->eth_src,set_field:"ETH_ADDR_FMT
                     "->eth_dst,output:%"PRIu16, gw,
                     ETH_ADDR_ARGS(sw->router_mac),
                     ofp_to_u16(sw->uplink_port));
}

/* Returns the gateway through which host 'host' sends its containers'
 * replies, one of the gateways that have an uplink, a router and a tunnel
 * address: the one whose name hashes highest with the host's (rendezvous
 * hashing), so that hosts spread over the gateways and a gateway that comes
 * or goes only moves the hosts that pick it. */
static const struct flexrec_switch *
fc_return_gateway(struct fc_ctx *ctx, const struct flexrec_switch *host)
{
    const struct flexrec_switch *row, *best = NULL;
    uint32_t basis = hash_string(host->name, 0);
    uint32_t best_score = 0;

    FLEXREC_SWITCH_FOR_EACH (row, ctx->idl) {
        struct in6_addr ip6;
        struct eth_addr mac;
        char *error = (row->router_mac
                       ? fc_unicast_mac(row->router_mac, "", &mac) : NULL);
        char *text = NULL;

        free(error);
        if (!strcmp(row->role, "gateway") && row->uplink && row->router_mac
            && !error && fc_tunnel_ip(row, &ip6, &text)) {
            uint32_t score = hash_string(row->name, basis);

            if (!best || score > best_score
                || (score == best_score && strcmp(row->name, best->name) < 0)) {
                best = row;
                best_score = score;
            }
        }
        free(text);
    }
    return best;
}

/* Returns the actions, malloc()'d, with which switch 'sw' sends its
 * containers' outgoing packets toward the Internet, or NULL if they have no
 * way out:
 *
 *   - A gateway, and a host whose return_path is "direct", send them out
 *     of their own uplink.
 *
 *   - Other hosts send them through their tunnel port to their return
 *     gateway (fc_return_gateway()), which sends them out of its uplink
 *     (cloud providers drop packets whose source address they did not hand
 *     out). */
static char *
fc_egress_actions(struct fc_ctx *ctx, const struct fc_switch *sw,
                  const char *gw)
{
    const struct flexrec_switch *row = sw->row;

    if (!strcmp(row->role, "gateway")
        || (row->return_path && !strcmp(row->return_path, "direct"))) {
        return fc_uplink_actions(sw, gw);
    }

    const struct flexrec_switch *out = fc_return_gateway(ctx, row);
    ofp_port_t tnl_port = fc_port(sw, row->tunnel_port);
    struct in6_addr ip6;
    char *text, *actions;

    if (!out || tnl_port == OFPP_NONE || !fc_tunnel_ip(out, &ip6, &text)) {
        return NULL;
    }
    actions = xasprintf("set_field:%s->%s,set_field:%#"PRIx64"->tun_id,"
                        "output:%"PRIu16, text,
                        IN6_IS_ADDR_V4MAPPED(&ip6) ? "tun_dst"
                                                   : "tun_ipv6_dst",
                        ntohll(fc_tunnel_key(ctx)), ofp_to_u16(tnl_port));
    free(text);
    return actions;
}

/* Returns the match on packets from public address 'address' (in the
 * canonical form of fc_ip_parse()), for use in rule text as
 * "...,%s=ADDRESS". */
static const char *
fc_src_match(const char *address)
{
    return strchr(address, ':') ? "ipv6,ipv6_src" : "ip,nw_src";
}

/* The OpenFlow metadata that marks a packet from a container of 'tenant',
 * for the address check in FC_EGRESS_TABLE. */
static uint64_t
fc_tenant_metadata(const struct flexrec_tenant *tenant)
{
    const struct uuid *u = &tenant->header_.uuid;

    return ((uint64_t) u->parts[0] << 32) | u->parts[1];
}

/* Adds to 'flows' the rules for the containers behind switch 'sw', where
 * the gateway MAC is 'gw':
 *
 *   - Delivery: packets that a gateway sent through the tunnel arrive with
 *     their container's MAC already in place.
 *
 *   - The way out, where there is one: the switch answers every ARP request
 *     and neighbour solicitation from a container with the gateway MAC (so
 *     that a container's default route may go through any address), and
 *     sends what a container sends to the gateway MAC from one of its
 *     tenant's public addresses on its way out; it drops anything else
 *     that a container sends to the gateway MAC. */
static void
fc_container_flows(struct fc_ctx *ctx, const struct fc_switch *sw,
                   const char *gw, struct shash *flows)
{
    ofp_port_t tnl_port = fc_port(sw, sw->row->tunnel_port);
    char *egress = fc_egress_actions(ctx, sw, gw);
    struct hmapx tenants = HMAPX_INITIALIZER(&tenants);
    const struct flexrec_container *c;

    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        ofp_port_t port = fc_port(sw, c->iface);
        uint16_t p = ofp_to_u16(port);
        const char *mac = fc_container_built(ctx, c, NULL);

        if (c->switch_ != sw->row || port == OFPP_NONE || !mac) {
            continue;
        }
        if (tnl_port != OFPP_NONE) {
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=100,in_port=%"PRIu16","
                "dl_dst=%s,actions=output:%"PRIu16, FC_COOKIE,
                ofp_to_u16(tnl_port), mac, p));
        }
        if (!egress) {
            continue;
        }
        hmapx_add(&tenants, c->tenant);
        for (int i = 0; i < 2; i++) {
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=120,in_port=%"PRIu16",%s,"
                "dl_src=%s,dl_dst=%s,actions=set_field:%#"PRIx64"->metadata,"
                "resubmit(,%d)", FC_COOKIE, p, i ? "ipv6" : "ip", mac, gw,
                fc_tenant_metadata(c->tenant), FC_EGRESS_TABLE));
            /* Another source MAC: not this container's to send. */
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=110,in_port=%"PRIu16",%s,"
                "dl_dst=%s,actions=drop", FC_COOKIE, p, i ? "ipv6" : "ip",
                gw));
        }
        /* Proxy ARP: the reply says the requested address is at the
         * gateway MAC.  Probes (sender 0.0.0.0) get no answer, or the
         * container would think its own address taken. */
        fc_add_flow(flows, xasprintf(
            "cookie=%#"PRIx64",priority=106,in_port=%"PRIu16",arp,"
            "arp_spa=0.0.0.0,actions=drop", FC_COOKIE, p));
        fc_add_flow(flows, xasprintf(
            "cookie=%#"PRIx64",priority=105,in_port=%"PRIu16",arp,arp_op=1,"
            "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
            "set_field:%s->eth_src,set_field:2->arp_op,"
            "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],set_field:%s->arp_sha,"
            "move:NXM_OF_ARP_TPA[]->NXM_NX_REG0[],"
            "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
            "move:NXM_NX_REG0[]->NXM_OF_ARP_SPA[],IN_PORT",
            FC_COOKIE, p, gw, gw));
        /* Proxy neighbour discovery, in two steps as for public addresses
         * (see fc_desired_flows()), above the way out so that unicast
         * solicitations to the gateway MAC are answered too; duplicate
         * address detection (source ::) gets no answer. */
        fc_add_flow(flows, xasprintf(
            "cookie=%#"PRIx64",priority=126,in_port=%"PRIu16",icmp6,"
            "icmp_type=135,ipv6_src=::,actions=drop", FC_COOKIE, p));
        fc_add_flow(flows, xasprintf(
            "cookie=%#"PRIx64",priority=125,in_port=%"PRIu16",icmp6,"
            "icmp_type=135,icmp_code=0,"
            "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
            "set_field:%s->eth_src,"
            "move:NXM_NX_IPV6_SRC[]->NXM_NX_IPV6_DST[],"
            "move:NXM_NX_ND_TARGET[]->NXM_NX_IPV6_SRC[],"
            "set_field:255->nw_ttl,set_field:136->icmpv6_type,"
            "resubmit(,%d)", FC_COOKIE, p, gw, FC_ND_TABLE));
        fc_add_flow(flows, xasprintf(
            "cookie=%#"PRIx64",table=%d,priority=105,in_port=%"PRIu16","
            "icmp6,icmp_type=136,icmp_code=0,"
            "actions=set_field:0x60000000->nd_reserved,"
            "set_field:2->nd_options_type,set_field:%s->nd_tll,IN_PORT",
            FC_COOKIE, FC_ND_TABLE, p, gw));
    }

    /* The address check: only a tenant's own public addresses leave. */
    if (egress && !hmapx_is_empty(&tenants)) {
        const struct flexrec_public_ip *ip;

        FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
            const char *address = fc_ip_owned(ctx, ip, NULL);

            if (address && hmapx_contains(&tenants, ip->tenant)) {
                fc_add_flow(flows, xasprintf(
                    "cookie=%#"PRIx64",table=%d,priority=100,"
                    "metadata=%#"PRIx64",%s=%s,actions=%s", FC_COOKIE,
                    FC_EGRESS_TABLE, fc_tenant_metadata(ip->tenant),
                    fc_src_match(address), address, egress));
            }
        }
    }
    hmapx_destroy(&tenants);
    free(egress);
}

/* Adds to 'flows' the rules with which gateway 'sw' sends out of its uplink
 * what hosts send it through the tunnel from public addresses. */
static void
fc_gateway_return_flows(struct fc_ctx *ctx, const struct fc_switch *sw,
                        const char *gw, struct shash *flows)
{
    ofp_port_t tnl_port = fc_port(sw, sw->row->tunnel_port);
    const struct flexrec_public_ip *ip;
    char *uplink;

    if (strcmp(sw->row->role, "gateway") || tnl_port == OFPP_NONE
        || !(uplink = fc_uplink_actions(sw, gw))) {
        return;
    }
    uint64_t key = ntohll(fc_tunnel_key(ctx));
    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        const char *address = fc_ip_owned(ctx, ip, NULL);

        if (address) {
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=120,in_port=%"PRIu16","
                "tun_id=%#"PRIx64",dl_dst=%s,%s=%s,actions=%s", FC_COOKIE,
                ofp_to_u16(tnl_port), key, gw, fc_src_match(address),
                address, uplink));
        }
    }
    free(uplink);
}

/* Fills 'flows' (rule text -> NULL) with the pipeline rules that switch
 * 'sw' should hold. */
static void
fc_desired_flows(struct fc_ctx *ctx, const struct fc_switch *sw,
                 struct shash *flows)
{
    const char *gw = fc_gateway_mac(ctx);
    const struct flexrec_public_ip *ip;

    if (!sw->row || !gw) {
        return;
    }
    char *actions = (ctx->reactive
                     ? xstrdup("controller(max_len=65535)")
                     : xasprintf("flexmap(table=%d)", ctx->map_table));
    for (int i = 0; i < 2; i++) {
        fc_add_flow(flows, xasprintf(
                        "cookie=%#"PRIx64",priority=100,%s,dl_dst=%s,"
                        "actions=%s", FC_COOKIE, i ? "ipv6" : "ip", gw,
                        actions));
    }
    free(actions);

    fc_container_flows(ctx, sw, gw, flows);
    fc_gateway_return_flows(ctx, sw, gw, flows);

    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        struct in6_addr ip6;
        const char *address = fc_ip_owned(ctx, ip, &ip6);

        if (!address) {
            continue;           /* Refused: see fc_ips_refresh(). */
        } else if (IN6_IS_ADDR_V4MAPPED(&ip6)) {
            /* ARP reply from the gateway MAC. */
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=110,arp,arp_op=1,arp_tpa=%s,"
                "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
                "set_field:%s->eth_src,set_field:2->arp_op,"
                "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
                "set_field:%s->arp_sha,"
                "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
                "set_field:%s->arp_spa,IN_PORT",
                FC_COOKIE, address, gw, gw, address));
        } else {
            /* Neighbour advertisement from the gateway MAC.  A rule that
             * matches a solicitation may not set the advertisement's
             * target link-layer address, so the reply is built in two
             * steps: turn the solicitation around and make it an
             * advertisement, then, in FC_ND_TABLE, set the flags
             * (solicited, override) and the target link-layer address
             * option in place of the source link-layer option. */
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",priority=110,icmp6,icmp_type=135,"
                "icmp_code=0,nd_target=%s,"
                "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
                "set_field:%s->eth_src,"
                "move:NXM_NX_IPV6_SRC[]->NXM_NX_IPV6_DST[],"
                "set_field:%s->ipv6_src,set_field:255->nw_ttl,"
                "set_field:136->icmpv6_type,resubmit(,%d)",
                FC_COOKIE, address, gw, address, FC_ND_TABLE));
            fc_add_flow(flows, xasprintf(
                "cookie=%#"PRIx64",table=%d,priority=110,icmp6,"
                "icmp_type=136,icmp_code=0,nd_target=%s,"
                "actions=set_field:0x60000000->nd_reserved,"
                "set_field:2->nd_options_type,set_field:%s->nd_tll,"
                "IN_PORT", FC_COOKIE, FC_ND_TABLE, address, gw));
        }
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

/* Remembers that 'msg', about to be sent to 'sw', carries rule 'flow' (if
 * nonnull) or the map commands for the 'n_keys' keys in 'keys', so that a
 * refusal can be tied back to them. */
static void
fc_sent_add(struct fc_switch *sw, const struct ofpbuf *msg, const char *flow,
            const struct flexmap_key *keys, size_t n_keys)
{
    struct fc_sent *sent = xmalloc(sizeof *sent + n_keys * sizeof *keys);

    sent->xid = ((const struct ofp_header *) msg->data)->xid;
    sent->barrier = false;
    sent->flow = nullable_xstrdup(flow);
    sent->n_keys = n_keys;
    nullable_memcpy(sent->keys, keys, n_keys * sizeof *keys);
    hmap_insert(&sw->sent, &sent->node, hash_int(ntohl(sent->xid), 0));
    ovs_list_push_back(&sw->sent_order, &sent->list_node);
}

static struct fc_sent *
fc_sent_find(const struct fc_switch *sw, ovs_be32 xid)
{
    struct fc_sent *sent;

    HMAP_FOR_EACH_WITH_HASH (sent, node, hash_int(ntohl(xid), 0),
                             &sw->sent) {
        if (sent->xid == xid) {
            return sent;
        }
    }
    return NULL;
}

static void
fc_sent_remove(struct fc_switch *sw, struct fc_sent *sent)
{
    hmap_remove(&sw->sent, &sent->node);
    ovs_list_remove(&sent->list_node);
    free(sent->flow);
    free(sent);
}

static void
fc_sent_clear(struct fc_switch *sw)
{
    struct fc_sent *sent;

    LIST_FOR_EACH_SAFE (sent, list_node, &sw->sent_order) {
        fc_sent_remove(sw, sent);
    }
}

/* Follows what 'sw' was sent by a barrier request, whose reply says that
 * the switch refused none of it (see fc_sent_acked()). */
static void
fc_sent_barrier(struct fc_switch *sw)
{
    struct ofpbuf *rq = ofputil_encode_barrier_request(sw->version);

    fc_sent_add(sw, rq, NULL, NULL, 0);
    CONTAINER_OF(ovs_list_back(&sw->sent_order), struct fc_sent,
                 list_node)->barrier = true;
    fc_send(sw, rq);
}

/* Forgets what was sent to 'sw' before the barrier request whose reply
 * 'xid' is: the switch did not refuse it. */
static void
fc_sent_acked(struct fc_switch *sw, ovs_be32 xid)
{
    struct fc_sent *barrier = fc_sent_find(sw, xid);
    struct fc_sent *sent;

    if (barrier && barrier->barrier) {
        LIST_FOR_EACH_SAFE (sent, list_node, &sw->sent_order) {
            bool last = sent == barrier;

            fc_sent_remove(sw, sent);
            if (last) {
                break;
            }
        }
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
        struct ofpbuf *msg;

        protocol = ofputil_protocol_from_ofp_version(sw->version);
        msg = ofputil_encode_flow_mod(&fm, protocol);
        if (command == OFPFC_ADD) {
            fc_sent_add(sw, msg, text, NULL, 0);
        }
        fc_send(sw, msg);
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
    struct flexmap_key *keys;
    struct ovs_list msgs;
    struct ofpbuf *msg;
    size_t i = 0;

    if (!n) {
        return;
    }
    keys = xmalloc(n * sizeof *keys);
    ovs_list_init(&msgs);
    ofputil_encode_flexmap_mods(sw->version, cmds, n, 0, &msgs);
    LIST_FOR_EACH_POP (msg, list_node, &msgs) {
        /* The message's commands are the next 'n_commands' of 'cmds'. */
        struct ofpbuf b = ofpbuf_const_initializer(msg->data, msg->size);
        size_t n_msg;

        ofpraw_pull_assert(&b);
        n_msg = MIN(ntohs(*ALIGNED_CAST(const ovs_be16 *, b.data)), n - i);
        for (size_t j = 0; j < n_msg; j++) {
            keys[j] = cmds[i + j].entry.key;
        }
        fc_sent_add(sw, msg, NULL, keys, n_msg);
        i += n_msg;
        fc_send(sw, msg);
    }
    free(keys);
    sw->n_entry_mods += n;
}

/* Returns the part of normalized rule text 'text' that identifies the rule
 * on a switch (cookie, table, priority and match), malloc()'d. */
static char *
fc_flow_match(const char *text)
{
    const char *actions = strstr(text, ",actions=");

    return actions ? xmemdup0(text, actions - text) : xstrdup(text);
}

/* Sends 'sw' the rules it lacks and deletes those it should not have. */
static size_t
fc_sync_flows(struct fc_ctx *ctx, struct fc_switch *sw, size_t *n_dels)
{
    struct shash flows = SHASH_INITIALIZER(&flows);
    struct sset matches = SSET_INITIALIZER(&matches);
    struct shash_node *node;
    size_t n_adds = 0;

    if (sw->row) {
        fc_switch_resolve_uplink(sw);
    }
    fc_desired_flows(ctx, sw, &flows);
    SHASH_FOR_EACH_SAFE (node, &sw->refused_flows) {
        if (!shash_find(&flows, node->name)) {
            free(node->data);
            shash_delete(&sw->refused_flows, node);
        }
    }
    SHASH_FOR_EACH (node, &flows) {
        sset_add_and_free(&matches, fc_flow_match(node->name));
        /* A refused rule is not sent again until it changes or a resync. */
        if (!shash_find(&sw->flows, node->name)
            && !shash_find(&sw->refused_flows, node->name)) {
            fc_send_flow(sw, node->name, OFPFC_ADD);
            shash_add(&sw->flows, node->name, NULL);
            n_adds++;
        }
    }
    SHASH_FOR_EACH_SAFE (node, &sw->flows) {
        if (!shash_find(&flows, node->name)) {
            /* A rule whose actions changed was replaced by the add; a
             * strict delete would take the new one away. */
            char *match = fc_flow_match(node->name);

            if (!sset_contains(&matches, match)) {
                fc_send_flow(sw, node->name, OFPFC_DELETE_STRICT);
                (*n_dels)++;
            }
            shash_delete(&sw->flows, node);
            free(match);
        }
    }
    sset_destroy(&matches);
    shash_destroy(&flows);
    sw->flows_dirty = false;

    /* The rows whose problems this switch tells: itself, its containers. */
    if (sw->row) {
        const struct flexrec_container *c;

        fc_switch_row_check(ctx, sw->row);
        FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
            if (c->switch_ == sw->row) {
                fc_container_check(ctx, c);
            }
        }
    }
    return n_adds;
}

/* Brings 'sw' to what the database says, sending only the differences. */
static void
fc_switch_sync(struct fc_ctx *ctx, struct fc_switch *sw)
{
    static struct ofputil_flexmap_cmd *cmds;
    size_t n = 0, n_adds = 0, n_dels = 0, n_flow_adds = 0, n_flow_dels = 0;
    struct fc_slot *slot;

    if (!sw->row && !sw->managed) {
        /* Not ours: what it holds was written by someone else. */
        if (!sw->unknown_noted) {
            VLOG_INFO("switch %016"PRIx64" (%s) is not in the database: "
                      "leaving its map tables and rules alone", sw->dpid,
                      rconn_get_name(sw->rconn));
            sw->unknown_noted = true;
        }
        return;
    }
    sw->unknown_noted = false;
    if (!ctx->election.is_primary || !sw->primary) {
        return;
    }
    if (!sw->dumped) {
        if (!sw->dumping && sw->ports_known) {
            /* It has just appeared in the database. */
            fc_switch_start_dump(ctx, sw);
        }
        return;
    }
    if (sw->need_full) {
        fc_switch_full(ctx, sw);
    }
    if (sw->flows_dirty) {
        COVERAGE_INC(flexmap_controller_rule_recompute);
        n_flow_adds = fc_sync_flows(ctx, sw, &n_flow_dels);
    }
    if (!cmds) {
        cmds = xmalloc(FC_CHUNK * sizeof *cmds);
    }

    LIST_FOR_EACH_POP (slot, dirty_node, &sw->dirty) {
        struct ofputil_flexmap_cmd *cmd = &cmds[n];

        slot->listed = false;
        if (slot->refused && (!slot->want
                              || !fc_val_equal(slot->want,
                                               slot->refused_val))) {
            /* What the switch refused is no longer wanted. */
            free(slot->refused);
            free(slot->refused_val);
            slot->refused = NULL;
            slot->refused_val = NULL;
            sw->n_refused_entries--;
            fc_recheck_key(ctx, &slot->key);
        }
        if (slot->refused) {
            /* Not again until it changes or a resync. */
            cmd = NULL;
        } else if (slot->want && (!slot->have || slot->stale
                                  || !fc_val_equal(slot->want,
                                                   slot->have))) {
            /* An add replaces what the switch holds at the key in one
             * step. */
            cmd->command = NXFMC_ADD;
            cmd->entry.n_backends = slot->want->n;
            memcpy(cmd->entry.backends, slot->want->backends,
                   slot->want->n * sizeof *slot->want->backends);
            free(slot->have);
            slot->have = xmemdup(slot->want, sizeof *slot->want
                                 + slot->want->n
                                   * sizeof *slot->want->backends);
            n_adds++;
        } else if (!slot->want && (slot->have || slot->stale)) {
            cmd->command = NXFMC_DELETE;
            cmd->entry.n_backends = 0;
            free(slot->have);
            slot->have = NULL;
            n_dels++;
        } else {
            cmd = NULL;
        }
        if (cmd) {
            cmd->entry.table_id = ctx->map_table;
            cmd->entry.key = slot->key;
            slot->stale = false;
            if (slot->solo) {
                /* In a message of its own, so that a refusal names it
                 * (see fc_handle_refusal()). */
                slot->solo = false;
                fc_send_cmds(sw, cmds, n);
                fc_send_cmds(sw, cmd, 1);
                n = 0;
            } else if (++n == FC_CHUNK) {
                fc_send_cmds(sw, cmds, n);
                n = 0;
            }
        }
        if (!slot->want && !slot->have) {
            hmap_remove(&sw->slots, &slot->node);
            free(slot);
        }
    }
    if (n) {
        fc_send_cmds(sw, cmds, n);
    }
    if (n_adds || n_dels || n_flow_adds || n_flow_dels) {
        fc_sent_barrier(sw);
        VLOG_INFO("%016"PRIx64": %"PRIuSIZE" map entries added or changed, "
                  "%"PRIuSIZE" deleted; %"PRIuSIZE" rules added, %"PRIuSIZE
                  " deleted", sw->dpid, n_adds, n_dels, n_flow_adds,
                  n_flow_dels);
    }
    if (!sw->row) {
        /* Its row is gone: what we wrote is deleted; from now on it is a
         * switch like any other that the database does not list. */
        VLOG_INFO("%016"PRIx64": no longer in the database, its map "
                  "entries and rules deleted", sw->dpid);
        fc_slots_clear(ctx, sw);
        shash_clear(&sw->flows);
        sw->managed = sw->dumped = false;
        return;
    }
    if (sw->sent_cfg < ctx->target_cfg) {
        /* The switch answers the barrier once it has applied everything
         * sent before it. */
        struct ofpbuf *rq = ofputil_encode_barrier_request(sw->version);

        sw->barrier_xid = ((struct ofp_header *) rq->data)->xid;
        sw->sent_cfg = ctx->target_cfg;
        fc_send(sw, rq);
    }
}

/* flexmap-ctl --wait: advances Switch:cur_cfg of every switch that has
 * acknowledged a later Global:next_cfg on this connection, and
 * Global:cur_cfg to the lowest Switch:cur_cfg (or to 'target_cfg' if there
 * is no switch), in the current transaction if 'write' (else only says
 * whether there is something to write).  A switch that is listed but not
 * connected, or not resynced since it connected or since this controller
 * started, holds every value back. */
static bool
fc_cfg_ready(struct fc_ctx *ctx, const struct flexrec_global *g, bool write)
{
    const struct flexrec_switch *row;
    const struct fc_switch *sw;
    int64_t cfg = ctx->target_cfg;
    bool ready = false;

    if (!ctx->election.is_primary || !g) {
        return false;
    }
    LIST_FOR_EACH (sw, node, &ctx->switches) {
        if (sw->identified && sw->row && sw->acked_cfg > sw->row->cur_cfg) {
            if (write) {
                flexrec_switch_set_cur_cfg(sw->row, sw->acked_cfg);
            }
            ready = true;
        }
    }
    if (g->cur_cfg < ctx->target_cfg) {
        FLEXREC_SWITCH_FOR_EACH (row, ctx->idl) {
            cfg = MIN(cfg, row->cur_cfg);
        }
        if (cfg > g->cur_cfg) {
            if (write) {
                flexrec_global_set_cur_cfg(g, cfg);
            }
            ready = true;
        }
    }
    return ready;
}

/* Roles. */

static void
fc_send_role(struct fc_switch *sw, enum ofp12_controller_role role,
             uint64_t generation_id)
{
    struct ofpbuf *msg = ofpraw_alloc(OFPRAW_OFPT12_ROLE_REQUEST,
                                      sw->version, 0);
    struct ofp12_role_request *rr = ofpbuf_put_zeros(msg, sizeof *rr);

    rr->role = htonl(role);
    rr->generation_id = htonll(generation_id);
    fc_send(sw, msg);
}

/* Claims the primary role on 'sw' if this controller is the primary,
 * otherwise the secondary role, so that the switch neither takes
 * modifications from nor sends packet-ins to a standby.  A switch that is
 * not identified yet, or not in the database, gets no role request: a
 * primary claim would demote the controller that does program it. */
static void
fc_switch_claim_role(struct fc_ctx *ctx, struct fc_switch *sw)
{
    if (!sw->identified || !sw->row) {
        return;
    }
    if (ctx->election.is_primary) {
        fc_send_role(sw, OFPCR12_ROLE_PRIMARY, ctx->election.generation);
        sw->role_claimed = true;
    } else {
        const struct flexrec_global *g = flexrec_global_first(ctx->idl);

        if (g) {
            fc_send_role(sw, OFPCR12_ROLE_SECONDARY, g->election_id);
            sw->role_claimed = true;
        }
    }
}

/* Forgets what 'sw' holds and asks it again: its map table and our
 * rules.  A switch that is not in the database is not ours: it is not
 * asked, and left alone. */
static void
fc_switch_start_dump(struct fc_ctx *ctx, struct fc_switch *sw)
{
    struct ofputil_flow_stats_request fsr = {
        .aggregate = false,
        .cookie = htonll(FC_COOKIE),
        .cookie_mask = OVS_BE64_MAX,
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
        .table_id = 0xff,
    };
    struct ofpbuf *rq;

    fc_slots_clear(ctx, sw);
    shash_clear(&sw->flows);
    shash_clear_free_data(&sw->refused_flows);   /* Try them again. */
    fc_sent_clear(sw);
    sw->dumped_uplink = false;
    sw->dumping = sw->managed = sw->row != NULL;
    sw->dumped = sw->maps_dumped = sw->flows_dumped = false;
    sw->sent_cfg = sw->acked_cfg = 0;   /* Earned again after the dump. */
    if (!sw->managed) {
        return;                 /* Not ours to look at or to change. */
    }

    rq = ofputil_encode_flexmap_stats_request(sw->version, ctx->map_table);
    sw->dump_xid = ((struct ofp_header *) rq->data)->xid;
    fc_send(sw, rq);

    match_init_catchall(&fsr.match);
    rq = ofputil_encode_flow_stats_request(
        &fsr, ofputil_protocol_from_ofp_version(sw->version));
    sw->flow_dump_xid = ((struct ofp_header *) rq->data)->xid;
    fc_send(sw, rq);
}

static void
fc_become_primary(struct fc_ctx *ctx, uint64_t generation_id)
{
    struct fc_switch *sw;

    ctx->election.is_primary = true;
    ctx->election.generation = generation_id;
    VLOG_INFO("primary controller (generation %"PRIu64")",
              ctx->election.generation);
    LIST_FOR_EACH (sw, node, &ctx->switches) {
        if (sw->handshaken && rconn_is_connected(sw->rconn)) {
            fc_switch_claim_role(ctx, sw);
            if (sw->ports_known) {
                fc_switch_start_dump(ctx, sw);
            }
        }
    }
}

/* Becomes the primary when the database lock is ours, after bumping
 * Global:election_id, whose new value is the OpenFlow generation id. */
static void
fc_election_run(struct fc_ctx *ctx)
{
    enum ovsdb_idl_txn_status status;

    if (!ovsdb_idl_has_lock(ctx->idl)) {
        if (ctx->election.is_primary) {
            struct fc_switch *sw;

            VLOG_WARN("lost the database lock, standing by");
            ctx->election.is_primary = false;
            LIST_FOR_EACH (sw, node, &ctx->switches) {
                sw->primary = false;
            }
        }
        if (ctx->election.txn) {
            ovsdb_idl_txn_destroy(ctx->election.txn);
            ctx->election.txn = NULL;
        }
        return;
    }
    if (ctx->election.is_primary || ctx->status.txn || !ctx->db_loaded) {
        return;
    }
    if (!ctx->election.txn) {
        const struct flexrec_global *g = flexrec_global_first(ctx->idl);

        if (!g) {
            fc_become_primary(ctx, 0);
            return;
        }
        ctx->election.txn = ovsdb_idl_txn_create(ctx->idl);
        ovsdb_idl_txn_add_comment(ctx->election.txn,
                                  "flexmap-controller: becoming primary");
        ovsdb_idl_txn_increment(ctx->election.txn, &g->header_,
                                &flexrec_global_col_election_id, true);
    }
    status = ovsdb_idl_txn_commit(ctx->election.txn);
    if (status == TXN_INCOMPLETE) {
        return;
    }
    if (status == TXN_SUCCESS) {
        fc_become_primary(ctx, 
            ovsdb_idl_txn_get_increment_new_value(ctx->election.txn));
    } else if (status == TXN_TRY_AGAIN) {
        VLOG_INFO("claiming the primary role: database changed, trying "
                  "again");
    } else {
        VLOG_WARN("claiming the primary role: %s",
                  ovsdb_idl_txn_status_to_string(status));
    }
    ovsdb_idl_txn_destroy(ctx->election.txn);
    ctx->election.txn = NULL;
}

/* Sets status:error of the row with 'uuid', whichever table it is in, to
 * 'error', or deletes it if 'error' is NULL.  The whole column is written,
 * so that the last write wins whatever the row shows now. */
static void
fc_status_write(struct fc_ctx *ctx, const struct uuid *uuid, const char *error)
{
#define FC_STATUS_TABLES                        \
    FC_STATUS_TABLE(mapping)                    \
    FC_STATUS_TABLE(public_ip)                  \
    FC_STATUS_TABLE(container)                  \
    FC_STATUS_TABLE(switch)                     \
    FC_STATUS_TABLE(global)
#define FC_STATUS_TABLE(TABLE)                                          \
    {                                                                   \
        const struct flexrec_##TABLE *row                               \
            = flexrec_##TABLE##_get_for_uuid(ctx->idl, uuid);                \
        if (row) {                                                      \
            struct smap status;                                         \
                                                                        \
            smap_clone(&status, &row->status);                          \
            if (error) {                                                \
                smap_replace(&status, "error", error);                  \
            } else {                                                    \
                smap_remove(&status, "error");                          \
            }                                                           \
            flexrec_##TABLE##_set_status(row, &status);                 \
            smap_destroy(&status);                                      \
            return;                                                     \
        }                                                               \
    }
    FC_STATUS_TABLES
#undef FC_STATUS_TABLE
}

/* Returns true if a row with 'uuid' exists in a table with a status
 * column. */
static bool
fc_status_row_exists(struct fc_ctx *ctx, const struct uuid *uuid)
{
#define FC_STATUS_TABLE(TABLE)                                  \
    if (flexrec_##TABLE##_get_for_uuid(ctx->idl, uuid)) {            \
        return true;                                            \
    }
    FC_STATUS_TABLES
#undef FC_STATUS_TABLE
    return false;
}

/* Forgets the problems of rows that are gone. */
static void
fc_problems_sweep(struct fc_ctx *ctx)
{
    struct shash_node *node;

    SHASH_FOR_EACH_SAFE (node, &ctx->status.problems) {
        struct uuid uuid;

        if (!uuid_from_string(&uuid, node->name)
            || !fc_status_row_exists(ctx, &uuid)) {
            free(node->data);
            shash_delete(&ctx->status.problems, node);
        }
    }
}

/* In the open status transaction, rewrites every owned public address and
 * container MAC that is not canonically spelled into its canonical
 * spelling, so that no other row can spell it canonically and win it
 * after a restart. */
static void
fc_respell(struct fc_ctx *ctx)
{
    const struct fc_claim *c;

    HMAP_FOR_EACH (c, value_node, &ctx->tenancy.ips.owners) {
        const struct flexrec_public_ip *ip;

        if (c->canonical
            || !(ip = flexrec_public_ip_get_for_uuid(ctx->idl, &c->uuid))
            || strcmp(ip->address, c->spelling)) {
            continue;
        }
        VLOG_INFO("public address %s: respelled %s", ip->address, c->text);
        flexrec_public_ip_verify_address(ip);
        flexrec_public_ip_set_address(ip, c->text);
    }
    HMAP_FOR_EACH (c, value_node, &ctx->tenancy.macs.owners) {
        const struct flexrec_container *ct;

        if (c->canonical
            || !(ct = flexrec_container_get_for_uuid(ctx->idl, &c->uuid))
            || strcmp(ct->mac, c->spelling)) {
            continue;
        }
        VLOG_INFO("container %s: MAC %s respelled %s", ct->name, ct->mac,
                  c->text);
        flexrec_container_verify_mac(ct);
        flexrec_container_set_mac(ct, c->text);
    }
}

/* Writes the queued status:error changes, the canonical spelling of owned
 * values, and, when the switches have caught up, Global:cur_cfg. */
static void
fc_status_run(struct fc_ctx *ctx)
{
    struct shash *inflight = &ctx->status.inflight;
    struct shash_node *node;

    if (ctx->status.txn) {
        enum ovsdb_idl_txn_status status
            = ovsdb_idl_txn_commit(ctx->status.txn);

        if (status == TXN_INCOMPLETE) {
            return;
        }
        if (status != TXN_SUCCESS && status != TXN_UNCHANGED) {
            /* Keep what did not make it, unless something newer came. */
            SHASH_FOR_EACH_SAFE (node, inflight) {
                if (!shash_find(&ctx->status.updates, node->name)) {
                    shash_add(&ctx->status.updates, node->name, node->data);
                    node->data = NULL;
                }
            }
        }
        shash_clear_free_data(inflight);
        ovsdb_idl_txn_destroy(ctx->status.txn);
        ctx->status.txn = NULL;
    }
    const struct flexrec_global *g = flexrec_global_first(ctx->idl);
    bool cfg_ready = fc_cfg_ready(ctx, g, false);
    if (!ctx->election.is_primary || ctx->election.txn
        || (shash_is_empty(&ctx->status.updates) && !cfg_ready
            && !ctx->tenancy.respell_needed)) {
        return;
    }

    ctx->status.txn = ovsdb_idl_txn_create(ctx->idl);
    ovsdb_idl_txn_add_comment(ctx->status.txn,
                              "flexmap-controller: status");
    if (ctx->tenancy.respell_needed) {
        /* If this fails (a client changed the value meanwhile), the
         * change brings another try. */
        fc_respell(ctx);
        ctx->tenancy.respell_needed = false;
    }
    if (cfg_ready) {
        fc_cfg_ready(ctx, g, true);
    }
    SHASH_FOR_EACH (node, &ctx->status.updates) {
        const char *error = node->data;
        struct uuid uuid;

        if (uuid_from_string(&uuid, node->name)) {
            fc_status_write(ctx, &uuid, *error ? error : NULL);
        }
    }
    shash_swap(inflight, &ctx->status.updates);
    ovsdb_idl_txn_commit(ctx->status.txn);
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
    if (sw->ports_known) {
        sw->need_full = true;
    }
}

static void
fc_handle_dump_reply(struct fc_ctx *ctx, struct fc_switch *sw,
                     const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_flexmap_stats *fs = xmalloc(sizeof *fs);

    for (;;) {
        int retval = ofputil_decode_flexmap_stats_reply(fs, &b);
        struct fc_slot *slot;

        if (retval) {
            if (retval != EOF) {
                VLOG_WARN("%016"PRIx64": bad map table dump (%s)", sw->dpid,
                          ofperr_to_string(retval));
            }
            break;
        }
        if (fs->entry.table_id == ctx->map_table) {
            slot = fc_slot_get(sw, &fs->entry.key);
            free(slot->have);
            slot->have = fc_val_from_entry(&fs->entry);
        }
    }
    free(fs);
    if (!ofpmp_more(oh)) {
        sw->maps_dumped = true;
    }
}

/* Learns from the actions 'ofpacts' of one of our rules that 'sw' dumped,
 * if they send out of an uplink (set the Ethernet destination to a
 * router, then output), which port and router that is, so that a
 * controller that starts while the database names an uplink the switch
 * lacks keeps the one the switch has (see fc_switch_resolve_uplink()). */
static void
fc_learn_uplink(struct fc_switch *sw, const struct ofpact *ofpacts,
                size_t ofpacts_len)
{
    const struct ofpact *a;
    struct eth_addr dst;
    bool has_dst = false;

    OFPACT_FOR_EACH (a, ofpacts, ofpacts_len) {
        if (a->type == OFPACT_SET_ETH_DST) {
            dst = ofpact_get_SET_ETH_DST(a)->mac;
            has_dst = true;
        } else if (a->type == OFPACT_SET_FIELD
                   && ofpact_get_SET_FIELD(a)->field->id == MFF_ETH_DST) {
            dst = ofpact_get_SET_FIELD(a)->value->mac;
            has_dst = true;
        } else if (a->type == OFPACT_SET_FIELD
                   && (ofpact_get_SET_FIELD(a)->field->id == MFF_TUN_DST
                       || ofpact_get_SET_FIELD(a)->field->id
                          == MFF_TUN_IPV6_DST)) {
            return;             /* Through the tunnel, not the uplink. */
        } else if (a->type == OFPACT_OUTPUT && has_dst) {
            sw->dumped_uplink = true;
            sw->dumped_uplink_port = ofpact_get_OUTPUT(a)->port;
            sw->dumped_router_mac = dst;
            return;
        }
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
        fc_flow_text(fs.table_id, &fs.match, fs.priority, fs.ofpacts,
                     fs.ofpacts_len, &s);
        shash_replace_nocopy(&sw->flows, ds_steal_cstr(&s), NULL);
        fc_learn_uplink(sw, fs.ofpacts, fs.ofpacts_len);
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
    if (sw->dumping && sw->maps_dumped && sw->flows_dumped) {
        sw->dumping = false;
        sw->dumped = true;
        sw->need_full = true;
        VLOG_INFO("%016"PRIx64": switch holds %"PRIuSIZE" map entries",
                  sw->dpid, hmap_count(&sw->slots));
    }
}

/* Reactive mode: looks up the mapping for the packet in 'oh', installs an
 * exact-match rule for its connection and sends the packet on. */
static void
fc_handle_packet_in(struct fc_ctx *ctx, struct fc_switch *sw,
                    const struct ofp_header *oh)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    enum ofputil_protocol protocol, usable;
    const struct flexrec_mapping *m = NULL;
    struct ofputil_packet_in pin;
    struct ofputil_flow_mod fm;
    struct dp_packet packet;
    struct fc_val *val = NULL;
    struct flexmap_key key;
    struct flow flow;
    bool ipv4;
    char *error;

    sw->n_packet_ins++;
    if (!ctx->reactive || !ctx->election.is_primary || !sw->primary || !sw->row
        || ofputil_decode_packet_in(oh, true, NULL, NULL, &pin, NULL, NULL,
                                    NULL)) {
        return;
    }
    dp_packet_use_const(&packet, pin.packet, pin.packet_len);
    flow_extract(&packet, &flow);
    flow.in_port = pin.flow_metadata.flow.in_port;
    ipv4 = flow.dl_type == htons(ETH_TYPE_IP);
    if (!ipv4 && flow.dl_type != htons(ETH_TYPE_IPV6)) {
        return;
    }

    /* Exact (IP, protocol, port), then any port, then any protocol, as the
     * map tables do it. */
    bool l4 = (flow.nw_proto == IPPROTO_TCP || flow.nw_proto == IPPROTO_UDP
               || flow.nw_proto == IPPROTO_SCTP);
    for (int i = l4 ? 0 : 2; !m && i < 3; i++) {
        uint8_t proto = i < 2 ? flow.nw_proto : 0;
        ovs_be16 port = i == 0 ? flow.tp_dst : 0;

        if (ipv4) {
            flexmap_key_init_ipv4(&key, flow.nw_dst, proto, port);
        } else {
            flexmap_key_init_ipv6(&key, &flow.ipv6_dst, proto, port);
        }
        m = fc_mapping_by_key(ctx, &key);
    }
    val = m ? fc_mapping_val(ctx, m, &key, sw) : NULL;
    if (!val) {
        VLOG_DBG_RL(&rl, "%016"PRIx64": no mapping here for a packet to "
                    "the gateway, dropped", sw->dpid);
        return;
    }

    /* Weighted choice by the connection's hash. */
    uint32_t total = 0, pick;
    size_t b;
    for (b = 0; b < val->n; b++) {
        total += val->backends[b].weight;
    }
    pick = total ? flow_hash_5tuple(&flow, 0) % total : 0;
    for (b = 0; b < val->n - 1; b++) {
        if (pick < val->backends[b].weight) {
            break;
        }
        pick -= val->backends[b].weight;
    }

    struct ds s = DS_EMPTY_INITIALIZER;
    ds_put_format(&s, "cookie=%#"PRIx64",priority=200,idle_timeout=%d,"
                  "in_port=%"PRIu32",dl_dst="ETH_ADDR_FMT",",
                  FC_REACTIVE_COOKIE, ctx->reactive_idle_timeout,
                  ofp_to_u16(flow.in_port.ofp_port),
                  ETH_ADDR_ARGS(flow.dl_dst));
    if (ipv4) {
        ds_put_format(&s, "ip,nw_src="IP_FMT",nw_dst="IP_FMT,
                      IP_ARGS(flow.nw_src), IP_ARGS(flow.nw_dst));
    } else {
        ds_put_cstr(&s, "ipv6,ipv6_src=");
        ipv6_format_addr(&flow.ipv6_src, &s);
        ds_put_cstr(&s, ",ipv6_dst=");
        ipv6_format_addr(&flow.ipv6_dst, &s);
    }
    ds_put_format(&s, ",nw_proto=%"PRIu8, flow.nw_proto);
    if (l4) {
        ds_put_format(&s, ",tp_src=%"PRIu16",tp_dst=%"PRIu16,
                      ntohs(flow.tp_src), ntohs(flow.tp_dst));
    }
    ds_put_format(&s, ",actions=set_field:"ETH_ADDR_FMT"->eth_dst,"
                  "output:%"PRIu16, ETH_ADDR_ARGS(val->backends[b].mac),
                  ofp_to_u16(val->backends[b].port));
    free(val);

    error = parse_ofp_flow_mod_str(&fm, ds_cstr(&s), NULL, NULL, OFPFC_ADD,
                                   &usable);
    if (error) {
        VLOG_WARN_RL(&rl, "%s: %s", ds_cstr(&s), error);
        free(error);
    } else {
        struct ofputil_packet_out po = {
            .packet = pin.packet,
            .packet_len = pin.packet_len,
            .buffer_id = UINT32_MAX,
            .flow_metadata = pin.flow_metadata,
            .ofpacts = CONST_CAST(struct ofpact *, fm.ofpacts),
            .ofpacts_len = fm.ofpacts_len,
        };

        protocol = ofputil_protocol_from_ofp_version(sw->version);
        fc_send(sw, ofputil_encode_flow_mod(&fm, protocol));
        fc_send(sw, ofputil_encode_packet_out(&po, protocol));
        minimatch_destroy(&fm.match);
        free(CONST_CAST(struct ofpact *, fm.ofpacts));
    }
    ds_destroy(&s);
}

/* Ties the error reply 'oh' from 'sw' back to what the refused message
 * carried: a rule is marked refused on the switch (and reported in the
 * switch's status) until it changes; a map command alone in its message
 * is marked refused (and reported in its mapping's status) until the
 * mapping changes; the commands of a refused batch, of which the switch
 * applied none, are sent again one per message to find which one it
 * refuses. */
static void
fc_handle_refusal(struct fc_ctx *ctx, struct fc_switch *sw,
                  const struct ofp_header *oh)
{
    struct fc_sent *sent = fc_sent_find(sw, oh->xid);
    enum ofperr error = ofperr_decode_msg(oh, NULL);
    const char *why = error ? ofperr_to_string(error) : "error";

    if (sw->dumping && (oh->xid == sw->dump_xid
                        || oh->xid == sw->flow_dump_xid)) {
        /* A switch that cannot dump (a datapath without flexmap refuses
         * NXST_FLEXMAP) holds nothing that we could know of: sync it from
         * nothing, and let its refusals tell the rest. */
        if (oh->xid == sw->dump_xid) {
            sw->maps_dumped = true;
        } else {
            sw->flows_dumped = true;
        }
        fc_check_dumped(sw);
        return;
    }
    if (!sent || sent->barrier) {
        return;
    }
    if (sent->flow) {
        shash_find_and_delete(&sw->flows, sent->flow);
        free(shash_replace(&sw->refused_flows, sent->flow, xstrdup(why)));
        if (sw->row) {
            fc_switch_row_check(ctx, sw->row);
        }
    } else if (sent->n_keys == 1) {
        struct fc_slot *slot = fc_slot_find(sw, &sent->keys[0]);

        if (slot && slot->want && !slot->refused) {
            /* The switch kept what it had there, if anything. */
            free(slot->have);
            slot->have = NULL;
            slot->stale = true;
            slot->refused = xstrdup(why);
            slot->refused_val = xmemdup(slot->want,
                                        sizeof *slot->want
                                        + slot->want->n
                                          * sizeof *slot->want->backends);
            sw->n_refused_entries++;
            fc_recheck_key(ctx, &slot->key);
        }
    } else {
        /* The switch applied none of the batch: send every command again,
         * each in a message of its own.  A key whose delete was in the
         * batch has no slot any more: it comes back as a stale slot with
         * nothing wanted, which sends the delete again. */
        for (size_t i = 0; i < sent->n_keys; i++) {
            struct fc_slot *slot = fc_slot_get(sw, &sent->keys[i]);

            slot->stale = slot->solo = true;
            fc_slot_list(sw, slot);
        }
        /* The barrier that follows the batch no longer says that the
         * switch holds what the database says: another one follows the
         * commands sent again. */
        if (sw->sent_cfg > sw->acked_cfg) {
            sw->sent_cfg = sw->acked_cfg;
            sw->barrier_xid = htonl(0);
        }
    }
    fc_sent_remove(sw, sent);
}

static void
fc_handle_msg(struct fc_ctx *ctx, struct fc_switch *sw,
              const struct ofp_header *oh)
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
            sw->row = fc_switch_row(ctx, sw);
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
            sw->ports_known = true;
            if (ctx->election.is_primary) {
                fc_switch_start_dump(ctx, sw);
            }
        }
    } else if (type == OFPTYPE_PORT_STATUS) {
        struct ofputil_port_status ps;

        if (!ofputil_decode_port_status(oh, &ps)) {
            fc_port_update(sw, &ps.desc, ps.reason == OFPPR_DELETE);
        }
    } else if (type == OFPTYPE_ROLE_REPLY) {
        struct ofputil_role_request rr;

        if (!ofputil_decode_role_message(oh, &rr)) {
            sw->primary = (ctx->election.is_primary
                           && rr.role == OFPCR12_ROLE_PRIMARY);
            VLOG_INFO("%016"PRIx64": %s role", sw->dpid,
                      rr.role == OFPCR12_ROLE_PRIMARY ? "primary"
                      : rr.role == OFPCR12_ROLE_SECONDARY ? "secondary"
                      : "equal");
        }
    } else if (type == OFPTYPE_FLEXMAP_STATS_REPLY) {
        if (oh->xid == sw->dump_xid) {
            fc_handle_dump_reply(ctx, sw, oh);
            fc_check_dumped(sw);
        }
    } else if (type == OFPTYPE_FLOW_STATS_REPLY) {
        if (oh->xid == sw->flow_dump_xid) {
            fc_handle_flow_dump_reply(sw, oh);
            fc_check_dumped(sw);
        }
    } else if (type == OFPTYPE_BARRIER_REPLY) {
        if (oh->xid == sw->barrier_xid) {
            sw->acked_cfg = sw->sent_cfg;
        }
        fc_sent_acked(sw, oh->xid);
    } else if (type == OFPTYPE_PACKET_IN) {
        fc_handle_packet_in(ctx, sw, oh);
    } else if (type == OFPTYPE_ERROR) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
        char *s = ofp_to_string(oh, ntohs(oh->length), NULL, NULL, 2);

        VLOG_WARN_RL(&rl, "%016"PRIx64": %s", sw->dpid, s);
        free(s);
        fc_handle_refusal(ctx, sw, oh);
    }
}

static void
fc_switch_run(struct fc_ctx *ctx, struct fc_switch *sw)
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
        fc_handle_msg(ctx, sw, msg->data);
        ofpbuf_delete(msg);
    }
    if (!sw->role_claimed) {
        /* Once identified and in the database. */
        fc_switch_claim_role(ctx, sw);
    }
    if (sw->identified) {
        fc_switch_sync(ctx, sw);
    }
}

static void
fc_switch_destroy(struct fc_ctx *ctx, struct fc_switch *sw)
{
    if (sw->identified) {
        VLOG_INFO("switch %016"PRIx64" disconnected", sw->dpid);
    }
    ovs_list_remove(&sw->node);
    rconn_destroy(sw->rconn);
    shash_destroy(&sw->ports);
    fc_slots_clear(ctx, sw);
    hmap_destroy(&sw->slots);
    shash_destroy(&sw->flows);
    shash_destroy_free_data(&sw->refused_flows);
    fc_sent_clear(sw);
    hmap_destroy(&sw->sent);
    free(sw->uplink_name);
    free(sw);
}

/* Initializes 'ctx' with the defaults of the options and nothing known. */
static void
fc_ctx_init(struct fc_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->map_table = 1;
    ctx->reactive_idle_timeout = 10;
    ovs_list_init(&ctx->switches);
    hmap_init(&ctx->mappings.by_uuid);
    hmap_init(&ctx->mappings.by_key);
    fc_claims_init(&ctx->tenancy.ips, fc_ip_parse);
    fc_claims_init(&ctx->tenancy.macs, fc_mac_parse);
    shash_init(&ctx->tenancy.port_tenants);
    sset_init(&ctx->tenancy.port_refused);
    shash_init(&ctx->status.problems);
    shash_init(&ctx->status.updates);
    shash_init(&ctx->status.inflight);
}

/* Frees what 'ctx' holds, once its switches are gone. */
static void
fc_ctx_destroy(struct fc_ctx *ctx)
{
    struct fc_mapping *fm;

    if (ctx->election.txn) {
        ovsdb_idl_txn_destroy(ctx->election.txn);
    }
    if (ctx->status.txn) {
        ovsdb_idl_txn_destroy(ctx->status.txn);
    }
    ovsdb_idl_destroy(ctx->idl);
    HMAP_FOR_EACH_SAFE (fm, uuid_node, &ctx->mappings.by_uuid) {
        fc_mapping_forget(ctx, fm);
    }
    hmap_destroy(&ctx->mappings.by_uuid);
    hmap_destroy(&ctx->mappings.by_key);
    fc_claims_destroy(&ctx->tenancy.ips);
    fc_claims_destroy(&ctx->tenancy.macs);
    shash_destroy_free_data(&ctx->tenancy.port_tenants);
    sset_destroy(&ctx->tenancy.port_refused);
    shash_destroy_free_data(&ctx->status.problems);
    shash_destroy_free_data(&ctx->status.updates);
    shash_destroy_free_data(&ctx->status.inflight);
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
                const char *argv[] OVS_UNUSED, void *ctx_)
{
    struct fc_ctx *ctx = ctx_;
    struct ds s = DS_EMPTY_INITIALIZER;
    const struct fc_switch *sw;

    ds_put_format(&s, "database %s: %s\n", ctx->db,
                  ovsdb_idl_is_connected(ctx->idl) ? "connected"
                                              : "not connected");
    if (ctx->election.is_primary) {
        ds_put_format(&s, "role: primary (generation %"PRIu64")\n",
                      ctx->election.generation);
    } else {
        ds_put_format(&s, "role: standby%s\n",
                      ovsdb_idl_is_lock_contended(ctx->idl)
                      ? " (another controller is primary)" : "");
    }
    ds_put_format(&s, "mode: %s, map table %d, %"PRIuSIZE" mappings\n",
                  ctx->reactive ? "reactive" : "flexmap", ctx->map_table,
                  hmap_count(&ctx->mappings.by_uuid));
    LIST_FOR_EACH (sw, node, &ctx->switches) {
        const struct flexrec_switch *row = sw->identified ? sw->row : NULL;
        size_t n_entries = 0;
        const struct fc_slot *slot;

        HMAP_FOR_EACH (slot, node, &sw->slots) {
            n_entries += slot->have != NULL;
        }
        if (sw->identified) {
            ds_put_format(&s, "switch %016"PRIx64, sw->dpid);
        } else {
            ds_put_cstr(&s, "switch (not identified yet)");
        }
        if (sw->identified && !row && !sw->managed) {
            ds_put_format(&s, " (not in the database): %s, %"PRIuSIZE
                          " ports, left alone\n", rconn_get_name(sw->rconn),
                          shash_count(&sw->ports));
            continue;
        }
        ds_put_format(&s, " %s: %s, %"PRIuSIZE" ports, %"PRIuSIZE
                      " map entries, %"PRIuSIZE" rules, %s",
                      row ? row->name : "(not in the database)",
                      rconn_get_name(sw->rconn), shash_count(&sw->ports),
                      n_entries, shash_count(&sw->flows),
                      !sw->primary ? "secondary"
                      : !sw->dumped ? "syncing"
                      : (sw->need_full || sw->flows_dirty
                         || !ovs_list_is_empty(&sw->dirty)) ? "behind"
                      : (!shash_is_empty(&ctx->status.problems)
                         || sw->n_refused_entries
                         || !shash_is_empty(&sw->refused_flows))
                      ? "not in sync:"
                      : "in sync");
        if (sw->primary && sw->dumped
            && (!shash_is_empty(&ctx->status.problems)
                || sw->n_refused_entries
                || !shash_is_empty(&sw->refused_flows))) {
            /* What the database says and the switch cannot hold. */
            if (!shash_is_empty(&ctx->status.problems)) {
                ds_put_format(&s, " %"PRIuSIZE" rows refused or "
                              "unresolved,",
                              shash_count(&ctx->status.problems));
            }
            ds_put_format(&s, " %"PRIuSIZE" map entries and %"PRIuSIZE
                          " rules refused by the switch",
                          sw->n_refused_entries,
                          shash_count(&sw->refused_flows));
        }
        ds_put_char(&s, '\n');
        ds_put_format(&s, "  %"PRIu64" map entry changes sent, %"PRIu64
                      " packet-ins\n", sw->n_entry_mods, sw->n_packet_ins);
    }
    if (!shash_is_empty(&ctx->status.problems)) {
        struct svec lines = SVEC_EMPTY_INITIALIZER;
        const struct shash_node *node;
        const char *line;
        size_t i;

        ds_put_format(&s, "%"PRIuSIZE" rows refused or unresolved (see "
                      "their status):\n", shash_count(&ctx->status.problems));
        SHASH_FOR_EACH (node, &ctx->status.problems) {
            svec_add(&lines, node->data);
        }
        svec_sort(&lines);
        SVEC_FOR_EACH (i, line, &lines) {
            ds_put_format(&s, "  %s\n", line);
        }
        svec_destroy(&lines);
    }
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

static void
fc_unixctl_resync(struct unixctl_conn *conn, int argc, const char *argv[],
                  void *ctx_)
{
    struct fc_ctx *ctx = ctx_;
    uint64_t dpid = 0;
    struct fc_switch *sw;
    size_t n = 0;

    if (argc > 1 && !dpid_from_string(argv[1], &dpid)) {
        unixctl_command_reply_error(conn, "bad datapath id");
        return;
    }
    if (!ctx->election.is_primary) {
        unixctl_command_reply_error(conn, "not the primary controller");
        return;
    }
    LIST_FOR_EACH (sw, node, &ctx->switches) {
        if (sw->identified && sw->ports_known
            && (argc < 2 || sw->dpid == dpid)) {
            fc_switch_start_dump(ctx, sw);
            n++;
        }
    }
    if (argc > 1 && !n) {
        unixctl_command_reply_error(conn, "no such switch");
        return;
    }
    unixctl_command_reply(conn, NULL);
}
