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
 * and sends the packet on.
 *
 * This file holds main(), the options, the main loop and the unixctl
 * commands; fc-ctx.h says which file owns which part of the state. */

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
#include "fc-ctx.h"
#include "fc-desired.h"
#include "fc-inputs.h"
#include "fc-status.h"
#include "fc-switch.h"
#include "flexmap.h"
#include "flexmap/controller/flexmap-idl.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-util.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/rconn.h"
#include "openvswitch/vconn.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "socket-util.h"
#include "stream-ssl.h"
#include "stream.h"
#include "svec.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(flexmap_controller);

/* The control socket named by --unixctl, and whether "exit" was asked:
 * only main() and the unixctl commands use these. */
static char *unixctl_path;
static bool exiting;

static void fc_ctx_init(struct fc_ctx *);
static void fc_ctx_destroy(struct fc_ctx *);
static void parse_options(struct fc_ctx *, int argc, char *argv[]);
OVS_NO_RETURN static void usage(void);
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
    /* Columns that the controller neither reads nor writes: not
     * replicated at all, which saves their copies in memory and the
     * processing of changes to them. */
    ovsdb_idl_omit(ctx->idl, &flexrec_global_col_external_ids);
    ovsdb_idl_omit(ctx->idl, &flexrec_tenant_col_external_ids);
    ovsdb_idl_omit(ctx->idl, &flexrec_public_ip_col_external_ids);
    ovsdb_idl_omit(ctx->idl, &flexrec_switch_col_external_ids);
    ovsdb_idl_omit(ctx->idl, &flexrec_switch_col_other_config);
    ovsdb_idl_omit(ctx->idl, &flexrec_container_col_external_ids);
    ovsdb_idl_omit(ctx->idl, &flexrec_mapping_col_external_ids);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_mapping_col_status);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_public_ip_col_status);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_container_col_status);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_switch_col_status);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_global_col_status);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_global_col_cur_cfg);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_switch_col_cur_cfg);
    ovsdb_idl_omit_alert(ctx->idl, &flexrec_switch_col_election_id);
    if (ctx->scope.switch_name) {
        /* Mapping:containers is what the monitor conditions select on; the
         * rest of the columns that only the central controller repairs or
         * reads are left out. */
        ovsdb_idl_omit(ctx->idl, &flexrec_global_col_cur_cfg);
        /* Every election of every switch bumps an election id: no agent
         * needs waking up for another's. */
        ovsdb_idl_omit_alert(ctx->idl, &flexrec_global_col_election_id);
    } else {
        /* Only fc-repair.c's connection reads it. */
        ovsdb_idl_omit(ctx->idl, &flexrec_mapping_col_containers);
    }
    fc_repair_init(ctx);
    fc_scope_init(ctx);
    char *lock = fc_scope_lock_name(ctx);
    ovsdb_idl_set_lock(ctx->idl, lock);
    free(lock);
    seqno = ovsdb_idl_get_seqno(ctx->idl);

    while (!exiting) {
        struct fc_switch *sw;

        ovsdb_idl_run(ctx->idl);
        if (!ovsdb_idl_is_connected(ctx->idl)) {
            /* Until the replica is whole again (after a reconnection, the
             * IDL may reload it under the conditions last acknowledged),
             * no election. */
            was_connected = ctx->db_loaded = false;
        }
        if (seqno != ovsdb_idl_get_seqno(ctx->idl)) {
            seqno = ovsdb_idl_get_seqno(ctx->idl);
            /* After a reconnection the IDL may have reloaded the whole
             * database, so recompute everything once. */
            fc_process_changes(ctx, !was_connected);
            fc_scope_update(ctx);
            was_connected = true;
            ovsdb_idl_track_clear(ctx->idl);
        }
        if (was_connected && fc_scope_settled(ctx)) {
            /* The replica holds everything in scope (in per-host mode,
             * the rows that the latest conditions ask for have come). */
            const struct flexrec_global *g = flexrec_global_first(ctx->idl);

            if (!ctx->db_loaded) {
                fc_scope_log_loaded(ctx);
            }
            ctx->db_loaded = true;
            ctx->target_cfg = g ? g->next_cfg : 0;
        }
        fc_election_run(ctx);

        for (size_t i = 0; i < n_listeners; i++) {
            struct vconn *vconn;
            int error = pvconn_accept(listeners[i], &vconn);

            if (!error) {
                fc_switch_create(ctx, vconn);
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
        fc_repair_run(ctx);
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
        fc_repair_wait(ctx);
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
        OPT_SWITCH,
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
        {"switch", required_argument, NULL, OPT_SWITCH},
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

        case OPT_SWITCH:
            if (!*optarg) {
                ovs_fatal(0, "--switch: a switch name is required");
            }
            ctx->scope.switch_name = optarg;
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
           "  --switch=NAME       per-host mode: program only the switch\n"
           "                      whose Switch row is NAME, and replicate\n"
           "                      only the rows that concern it\n"
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

/* Initializes 'ctx' with the defaults of the options and nothing known. */
static void
fc_ctx_init(struct fc_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->map_table = 1;
    ctx->reactive_idle_timeout = 10;
    ovs_list_init(&ctx->switches);
    fc_mappings_init(&ctx->mappings);
    fc_tenancy_init(&ctx->tenancy);
    fc_status_init(&ctx->status);
}

/* Frees what 'ctx' holds, once its switches are gone. */
static void
fc_ctx_destroy(struct fc_ctx *ctx)
{
    if (ctx->election.txn) {
        ovsdb_idl_txn_destroy(ctx->election.txn);
    }
    fc_status_destroy(&ctx->status);
    fc_repair_destroy(ctx);
    ovsdb_idl_destroy(ctx->idl);
    fc_mappings_destroy(&ctx->mappings);
    fc_tenancy_destroy(&ctx->tenancy);
}

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
    fc_scope_format(ctx, &s);
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
                      n_entries, hmap_count(&sw->flows),
                      !sw->primary ? "secondary"
                      : !sw->dumped ? "syncing"
                      : (sw->need_full || sw->flows_dirty
                         || !ovs_list_is_empty(&sw->dirty)) ? "behind"
                      : (!shash_is_empty(&ctx->status.problems)
                         || sw->n_refused_entries
                         || !hmap_is_empty(&sw->refused_flows))
                      ? "not in sync:"
                      : "in sync");
        if (sw->primary && sw->dumped
            && (!shash_is_empty(&ctx->status.problems)
                || sw->n_refused_entries
                || !hmap_is_empty(&sw->refused_flows))) {
            /* What the database says and the switch cannot hold. */
            if (!shash_is_empty(&ctx->status.problems)) {
                ds_put_format(&s, " %"PRIuSIZE" rows refused or "
                              "unresolved,",
                              shash_count(&ctx->status.problems));
            }
            ds_put_format(&s, " %"PRIuSIZE" map entries and %"PRIuSIZE
                          " rules refused by the switch",
                          sw->n_refused_entries,
                          hmap_count(&sw->refused_flows));
        }
        ds_put_char(&s, '\n');
        ds_put_format(&s, "  %"PRIu64" map entry changes sent, %"PRIu64
                      " rule changes sent, %"PRIu64" full rule recomputes, "
                      "%"PRIu64" packet-ins\n", sw->n_entry_mods,
                      sw->n_flow_mods, sw->n_recomputes, sw->n_packet_ins);
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
