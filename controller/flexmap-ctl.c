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

/* flexmap-ctl: the ovs-flexmap database's command-line tool.
 *
 * Built on OVS's db-ctl-base, like ovs-vsctl and vtep-ctl, so the generic
 * database commands (list, get, set, add, remove, clear, create, destroy,
 * find, wait-until) work on every table, and several commands joined with
 * "--" run in one transaction.  The task commands below check what the
 * schema cannot express: a mapping only names containers of the tenant
 * that owns its address, an address is owned by one tenant, a MAC belongs
 * to one container, and addresses, MACs and datapath ids are stored in one
 * canonical spelling. */

#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "command-line.h"
#include "daemon.h"
#include "db-ctl-base.h"
#include "dirs.h"
#include "flexmap.h"
#include "fatal-signal.h"
#include "hash.h"
#include "jsonrpc.h"
#include "flexmap/controller/flexmap-idl.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/json.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovsdb-data.h"
#include "ovsdb-idl.h"
#include "ovsdb-map-op.h"
#include "packets.h"
#include "process.h"
#include "sort.h"
#include "stream-ssl.h"
#include "stream.h"
#include "svec.h"
#include "table.h"
#include "timeval.h"
#include "unicode.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(flexmap_ctl);

/* Most backends a mapping may have (the map table's limit). */
#define MAX_BACKENDS 64

static const char *db;
static bool oneline;
static bool dry_run;
static bool wait_for_switches;  /* --wait: until the switches have it. */
static bool force_wait;         /* "sync": wait even if nothing changes. */
static bool whole_writes;       /* No partial updates: see do_flexmap_ctl(). */
static unsigned int timeout;
static long long int deadline = LLONG_MAX;  /* Of --timeout, in msec. */
static struct table_style table_style = TABLE_STYLE_DEFAULT;
static struct ovsdb_idl *the_idl;
static struct ovsdb_idl_txn *the_idl_txn;

/* Daemon mode: see "Daemon mode" near the end of the file. */
#define DAEMON_ENV "FLEXMAP_CTL_DAEMON"
static const char *unixctl_path;    /* -u, --unixctl. */
static bool serving;                /* The daemon runs a client's command. */
static struct svec forwarded;       /* Options that a client sends along. */
static const char *refused_option;  /* One that a client cannot send. */
static const char *daemon_option;   /* One that needs --detach. */
static struct ds served_out = DS_EMPTY_INITIALIZER;
static struct ds served_err = DS_EMPTY_INITIALIZER;
static int served_status;
OVS_NO_RETURN static void server_main(void);
OVS_NO_RETURN static void client_main(const char *socket, int argc,
                                      char *argv[], struct ctl_command *,
                                      size_t n);

OVS_NO_RETURN static void flexmap_ctl_exit(int status);
OVS_NO_RETURN static void usage(void);
static void parse_options(int argc, char *argv[], struct shash *local);
static void flexmap_ctl_cmd_init(void);
static bool run_prerequisites(struct ctl_command[], size_t n,
                              struct ovsdb_idl *);
static bool do_flexmap_ctl(const char *args, struct ctl_command *, size_t n,
                           struct ovsdb_idl *);
static bool wait_for_cfg(struct ovsdb_idl *, int64_t next_cfg);
static struct ovsdb_idl *idl_open(struct ctl_command[], size_t n, bool wide,
                                  unsigned int *cond_seqno);
static bool reads_update(struct ctl_command[], size_t n, struct ovsdb_idl *);
static unsigned int reads_apply(struct ovsdb_idl *);
/* What the commands read: see "Reading only what the commands need"
 * below. */
struct read_set {
    bool wide;                  /* Read what the server would refuse. */
    bool mappings;              /* Monitor the Mapping table. */
    bool whole[FLEXREC_N_TABLES];
    struct ovsdb_idl_condition cond[FLEXREC_N_TABLES];
};

static struct read_set *reads;  /* NULL: read everything. */
static struct read_set *reads_create(const struct ctl_command[], size_t n,
                                     bool wide);
static void reads_destroy(struct read_set *);
static bool read_wider;         /* Run again, reading wide: see 'reads'. */
struct map_load;
static bool map_load_create(struct ctl_command[], size_t n,
                            const char *input, struct map_load **);
static bool map_load_read(const char *file_name, struct ds *text);
static bool do_map_load(struct map_load *, const char *args,
                        struct ovsdb_idl *);
static void map_load_destroy(struct map_load *);
static void commands_destroy(struct ctl_command *, size_t n);

/* With --wait: a row that the transaction wrote, whose status is read once
 * the switches have the change. */
struct written_row {
    const struct ovsdb_idl_table_class *table;
    struct uuid uuid;           /* Temporary UUID if 'inserted'. */
    bool inserted;
};
static void note_written_rows(struct ovsdb_idl *, struct written_row **,
                              size_t *n);
static bool check_applied(struct ovsdb_idl *, const struct written_row *,
                          size_t n);
OVS_NO_RETURN static void db_connection_fatal(const char *remote,
                                              int retval);

int
main(int argc, char *argv[])
{
    struct ctl_command *commands;
    struct shash local_options;
    struct ovsdb_idl *idl;
    unsigned int seqno;
    size_t n_commands;

    set_program_name(argv[0]);
    fatal_ignore_sigpipe();
    vlog_set_levels(NULL, VLF_CONSOLE, VLL_WARN);
    vlog_set_levels_from_string_assert("reconnect:warn");
    /* A refused transaction is reported below, or run again reading wide
     * (see 'reads'): the IDL's own warning would say it twice. */
    vlog_set_levels_from_string_assert("ovsdb_idl:console:err");

    flexmap_ctl_cmd_init();

    char *args = process_escape_args(argv);
    shash_init(&local_options);
    parse_options(argc, argv, &local_options);
    if (get_detach()) {
        if (optind != argc) {
            ctl_fatal("--detach starts a daemon, which takes no commands "
                      "(send them to it through %s)", DAEMON_ENV);
        }
        free(args);
        server_main();
    }
    if (daemon_option) {
        ctl_fatal("--%s makes sense only with --detach", daemon_option);
    }
    char *error = ctl_parse_commands(argc - optind, argv + optind,
                                     &local_options, &commands, &n_commands);
    if (error) {
        ctl_fatal("%s", error);
    }

    const char *socket = unixctl_path ? unixctl_path : getenv(DAEMON_ENV);
    if (socket && socket[0]) {
        free(args);
        client_main(socket, argc, argv, commands, n_commands);
    }

    VLOG(ctl_might_write_to_db(commands, n_commands) ? VLL_INFO : VLL_DBG,
         "Called as %s", args);
    struct map_load *load;
    map_load_create(commands, n_commands, NULL, &load);

    if (!timeout) {
        const char *env = getenv("OVS_CTL_TIMEOUT");

        if (env && env[0]) {
            str_to_uint(env, 10, &timeout);
        }
    }
    if (timeout) {
        /* With --wait, wait_for_cfg() gives up at 'deadline' and names the
         * switches it waited for; the alarm, a second later, only stops a
         * database that does not answer. */
        deadline = time_msec() + timeout * 1000LL;
        time_alarm(wait_for_switches && timeout < UINT_MAX
                   ? timeout + 1 : timeout);
    }

    unsigned int cond_seqno;
    bool look_again = false;    /* The server has the wider condition. */
    idl = the_idl = idl_open(commands, n_commands, false, &cond_seqno);

    /* Run the commands once per database sequence number: a transaction
     * that failed did so because the database changed, so there is no
     * point in trying again before the next update.  Before that, once
     * the IDL holds the rows that the monitor conditions ask for, ask the
     * commands whether they need more (see 'reads'). */
    seqno = ovsdb_idl_get_seqno(idl);
    for (;;) {
        ovsdb_idl_run(idl);
        if (!ovsdb_idl_is_alive(idl)) {
            db_connection_fatal(db, ovsdb_idl_get_last_error(idl));
        }

        if (ovsdb_idl_get_condition_seqno(idl) == cond_seqno
            && (seqno != ovsdb_idl_get_seqno(idl) || look_again)) {
            seqno = ovsdb_idl_get_seqno(idl);
            look_again = false;
            if (reads && reads_update(commands, n_commands, idl)) {
                cond_seqno = reads_apply(idl);
                look_again = true;
            } else if (load
                       ? do_map_load(load, args, idl)
                       : do_flexmap_ctl(args, commands, n_commands, idl)) {
                map_load_destroy(load);
                commands_destroy(commands, n_commands);
                ovsdb_idl_destroy(idl);
                free(args);
                exit(EXIT_SUCCESS);
            } else if (read_wider) {
                /* The server refused what the commands did not check
                 * without reading wide: run them again, reading it. */
                read_wider = false;
                ovsdb_idl_destroy(idl);
                idl = the_idl = idl_open(commands, n_commands, true,
                                         &cond_seqno);
                seqno = ovsdb_idl_get_seqno(idl);
                continue;
            }
        }

        ovsdb_idl_wait(idl);
        poll_block();
    }
}

/* Asks the server at 'remote' which databases it serves.  Returns them
 * as a comma-separated list (the caller frees it), or NULL if the server
 * does not answer the question; sets '*has_flexmap' to whether the list
 * has the Flexmap database. */
static char *
list_server_dbs(const char *remote, bool *has_flexmap)
{
    struct jsonrpc_msg *request, *reply;
    struct stream *stream;
    struct jsonrpc *rpc;
    char *dbs = NULL;

    *has_flexmap = false;
    if (strchr(remote, ',')
        || stream_open_block(jsonrpc_stream_open(remote, &stream,
                                                 DSCP_DEFAULT),
                             -1, &stream)) {
        return NULL;
    }
    rpc = jsonrpc_open(stream);
    request = jsonrpc_create_request("list_dbs", json_array_create_empty(),
                                     NULL);
    if (!jsonrpc_transact_block(rpc, request, &reply)) {
        if (reply->type == JSONRPC_REPLY
            && reply->result->type == JSON_ARRAY) {
            const struct json_array *names = json_array(reply->result);
            struct ds s = DS_EMPTY_INITIALIZER;

            for (size_t i = 0; i < names->n; i++) {
                const char *name = (names->elems[i]->type == JSON_STRING
                                    ? json_string(names->elems[i]) : NULL);

                if (name && strcmp(name, "_Server")) {
                    ds_put_format(&s, "%s%s", s.length ? ", " : "", name);
                    *has_flexmap |= !strcmp(name, "Flexmap");
                }
            }
            dbs = ds_steal_cstr(&s);
        }
        jsonrpc_msg_destroy(reply);
    }
    jsonrpc_close(rpc);
    return dbs;
}

/* Exits with a message that says why the Flexmap database at 'remote'
 * cannot be used and what to do about it.  'retval' is the connection's
 * last error: nonzero when no server answered at 'remote', zero when a
 * server answered but does not serve the database. */
static void
db_connection_fatal(const char *remote, int retval)
{
    if (retval) {
        ctl_fatal("%s: cannot connect to the database server (%s); is "
                  "ovsdb-server running there?  Start Open vSwitch "
                  "(\"ovs-ctl start\", or \"systemctl start "
                  "ovsdb-server\"), or name another server with --db",
                  remote, ovs_retval_to_string(retval));
    }

    bool has_flexmap;
    char *dbs = list_server_dbs(remote, &has_flexmap);
    if (has_flexmap) {
        /* Served, yet unusable: a clustered database that is not
         * connected, for example.  The server's log says more. */
        ctl_fatal("%s: the server's Flexmap database cannot be used now "
                  "(see ovsdb-server's log)", remote);
    }
    char *file = xasprintf("%s/flexmap.db", ovs_dbdir());
    char *served = dbs ? xasprintf(" (it serves %s)", dbs) : xstrdup("");
    ctl_fatal("%s: ovsdb-server does not serve the Flexmap database%s.  "
              "Create it with \"ovsdb-tool create %s %s/flexmap.ovsschema\", "
              "serve it with \"ovs-appctl -t ovsdb-server "
              "ovsdb-server/add-db %s\", and after every restart with "
              "\"ovs-ctl --extra-dbs=flexmap.db start\" (the "
              "ovs-flexmap-controller package does all three)",
              remote, served, file, ovs_pkgdatadir(), file);
}

/* Creates the IDL for 'commands' (with what they read, 'wide' or not: see
 * 'reads'), and stores in '*cond_seqno' the condition sequence number at
 * which it holds the first rows they need. */
static struct ovsdb_idl *
idl_open(struct ctl_command *commands, size_t n_commands, bool wide,
         unsigned int *cond_seqno)
{
    struct ovsdb_idl *idl = ovsdb_idl_create(db, &flexrec_idl_class, false,
                                             false);

    reads_destroy(reads);
    reads = reads_create(commands, n_commands, wide);
    run_prerequisites(commands, n_commands, idl);
    if (reads) {
        /* Before the IDL connects: its first request carries these
         * conditions, and its first snapshot satisfies them (ovsdb-cs
         * counts no condition change for it). */
        reads_update(commands, n_commands, idl);
        reads_apply(idl);
    }
    *cond_seqno = ovsdb_idl_get_condition_seqno(idl);
    return idl;
}

/* The global options. */
enum {
    OPT_DB = UCHAR_MAX + 1,
    OPT_ONELINE,
    OPT_NO_SYSLOG,
    OPT_DRY_RUN,
    OPT_WAIT,
    OPT_PEER_CA_CERT,
    OPT_LOCAL,
    OPT_DAEMON_INPUT,
    VLOG_OPTION_ENUMS,
    TABLE_OPTION_ENUMS,
    SSL_OPTION_ENUMS,
    DAEMON_OPTION_ENUMS,
};

/* Who handles an option when commands go through the daemon. */
enum option_kind {
    OPTION_SENT,        /* The daemon, for each command line. */
    OPTION_CLIENT,      /* The client itself (logging, help, -u). */
    OPTION_DETACH,      /* The daemon, when it starts (--detach...). */
    OPTION_DIRECT,      /* Nobody: only a one-shot uses it (--db, SSL). */
    OPTION_INPUT,       /* Only the daemon: what a client sends along. */
};

static enum option_kind
option_kind(int c)
{
    switch (c) {
    case OPT_ONELINE: case OPT_DRY_RUN: case OPT_WAIT: case 't':
    case OPT_LOCAL: case 'f': case 'd': case OPT_NO_HEADINGS:
    case OPT_PRETTY: case OPT_BARE: case OPT_MAX_COLUMN_WIDTH:
        return OPTION_SENT;
    case OPT_NO_SYSLOG: case 'h': case 'V': case 'u': case 'v':
    case OPT_LOG_FILE: case OPT_SYSLOG_IMPL: case OPT_SYSLOG_TARGET:
        return OPTION_CLIENT;
    case OPT_DETACH: case OPT_NO_SELF_CONFINEMENT: case OPT_NO_CHDIR:
    case OPT_OVERWRITE_PIDFILE: case OPT_PIDFILE: case OPT_MONITOR:
    case OPT_USER_GROUP:
        return OPTION_DETACH;
    case OPT_DAEMON_INPUT:
        return OPTION_INPUT;
    default:
        return OPTION_DIRECT;
    }
}

static const struct option *
find_option_by_value(const struct option *options, int value)
{
    for (const struct option *o = options; o->name; o++) {
        if (o->val == value) {
            return o;
        }
    }
    return NULL;
}

/* Parses the global options of 'argv' into the globals and
 * 'local_options' (the options of the first command given before it).
 * Notes in 'forwarded' those that a client sends to the daemon, in
 * 'refused_option' the first one that a client cannot send, and in
 * 'daemon_option' one that only a daemon takes.  A one-shot, a client or
 * a daemon that starts exits on a bad option; the daemon parsing what a
 * client sent ('serving') returns an error instead, refuses the options
 * that a client does not send, and stores in '*input' the content of a
 * map-load file that the client read. */
static char * OVS_WARN_UNUSED_RESULT
parse_options__(int argc, char *argv[], struct shash *local_options,
                const char **input)
{
    static const struct option global_long_options[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"no-syslog", no_argument, NULL, OPT_NO_SYSLOG},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"oneline", no_argument, NULL, OPT_ONELINE},
        {"timeout", required_argument, NULL, 't'},
        {"unixctl", required_argument, NULL, 'u'},
        {"daemon-input", required_argument, NULL, OPT_DAEMON_INPUT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        VLOG_LONG_OPTIONS,
        TABLE_LONG_OPTIONS,
        STREAM_SSL_LONG_OPTIONS,
        DAEMON_LONG_OPTIONS,
        {"peer-ca-cert", required_argument, NULL, OPT_PEER_CA_CERT},
        {NULL, 0, NULL, 0},
    };
    const int n_global_long_options = ARRAY_SIZE(global_long_options) - 1;
    size_t allocated_options, n_options;
    struct option *options;
    char *tmp, *short_options;
    char *error = NULL;

    tmp = ovs_cmdl_long_options_to_short_options(global_long_options);
    short_options = xasprintf("+%s", tmp);
    free(tmp);

    /* Global options first, then every command's options. */
    options = xmemdup(global_long_options, sizeof global_long_options);
    allocated_options = ARRAY_SIZE(global_long_options);
    n_options = n_global_long_options;
    ctl_add_cmd_options(&options, &n_options, &allocated_options, OPT_LOCAL);

    if (serving) {
        optind = 0;
        opterr = 0;
    }
    for (;;) {
        int idx = -1;
        int c = getopt_long(argc, argv, short_options, options, &idx);

        if (c == -1) {
            break;
        }

        const struct option *o = (c == '?' ? NULL
                                  : idx >= 0 ? &options[idx]
                                  : find_option_by_value(options, c));
        enum option_kind kind = option_kind(c);
        if (o && serving && kind != OPTION_SENT && kind != OPTION_INPUT) {
            error = xasprintf("--%s is not allowed in daemon mode",
                              o->name);
            goto out;
        } else if (o && !serving && kind == OPTION_INPUT) {
            error = xasprintf("--%s is for the daemon only", o->name);
            goto out;
        } else if (o && kind == OPTION_SENT) {
            svec_add_nocopy(&forwarded,
                            optarg ? xasprintf("--%s=%s", o->name, optarg)
                                   : xasprintf("--%s", o->name));
        } else if (o && kind == OPTION_DIRECT && !refused_option) {
            refused_option = o->name;
        } else if (o && kind == OPTION_DETACH && c != OPT_DETACH) {
            daemon_option = o->name;
        }

        switch (c) {
        case OPT_DB:
            db = optarg;
            break;

        case OPT_ONELINE:
            oneline = true;
            break;

        case OPT_NO_SYSLOG:
            vlog_set_levels(&this_module, VLF_SYSLOG, VLL_WARN);
            break;

        case OPT_DRY_RUN:
            dry_run = true;
            break;

        case OPT_WAIT:
            wait_for_switches = true;
            break;

        case OPT_DAEMON_INPUT:
            *input = optarg;
            break;

        case 'u':
            unixctl_path = optarg;
            break;

        case OPT_LOCAL:
            if (shash_find(local_options, options[idx].name)) {
                error = xasprintf("'%s' option specified multiple times",
                                  options[idx].name);
                goto out;
            }
            shash_add_nocopy(local_options,
                             xasprintf("--%s", options[idx].name),
                             nullable_xstrdup(optarg));
            break;

        case 'h':
            usage();

        case 'V':
            ovs_print_version(0, 0);
            printf("DB Schema %s\n", flexrec_get_db_version());
            exit(EXIT_SUCCESS);

        case 't':
            if (!str_to_uint(optarg, 10, &timeout) || !timeout) {
                error = xasprintf("value %s on -t or --timeout is invalid",
                                  optarg);
                goto out;
            }
            break;

        VLOG_OPTION_HANDLERS
        STREAM_SSL_OPTION_HANDLERS
        DAEMON_OPTION_HANDLERS

        case 'f':
        case 'd':
            /* table_parse_format() and _cell_format() exit on a value that
             * they do not know, which the daemon must not. */
            if (serving
                && !(c == 'f'
                     ? (!strcmp(optarg, "table") || !strcmp(optarg, "list")
                        || !strcmp(optarg, "html") || !strcmp(optarg, "csv")
                        || !strcmp(optarg, "json"))
                     : (!strcmp(optarg, "string") || !strcmp(optarg, "bare")
                        || !strcmp(optarg, "json")))) {
                error = xasprintf("unknown %s format \"%s\"",
                                  c == 'f' ? "output" : "data", optarg);
                goto out;
            }
            if (c == 'f') {
                table_parse_format(&table_style, optarg);
            } else {
                table_parse_cell_format(&table_style, optarg);
            }
            break;

        case OPT_NO_HEADINGS:
            table_style.headings = false;
            break;

        case OPT_PRETTY:
            table_style.json_flags |= JSSF_PRETTY;
            break;

        case OPT_BARE:
            table_style.format = TF_LIST;
            table_style.cell_format = CF_BARE;
            table_style.headings = false;
            break;

        case OPT_MAX_COLUMN_WIDTH:
            table_style.max_column_width = atoi(optarg);
            break;

        case OPT_PEER_CA_CERT:
            stream_ssl_set_peer_ca_cert_file(optarg);
            break;

        case '?':
            if (!serving) {
                exit(EXIT_FAILURE);
            }
            error = xasprintf("unrecognized option or missing argument "
                              "'%s'", argv[optind - 1]);
            goto out;

        default:
            abort();
        }
    }

out:
    free(short_options);
    for (size_t i = n_global_long_options; options[i].name; i++) {
        free(CONST_CAST(char *, options[i].name));
    }
    free(options);
    if (error && !serving) {
        ctl_fatal("%s", error);
    }
    return error;
}

static void
parse_options(int argc, char *argv[], struct shash *local_options)
{
    const char *input = NULL;

    free(parse_options__(argc, argv, local_options, &input));
    if (!db) {
        db = ctl_default_db();
    }
}

static void
usage(void)
{
    printf("\
%s: ovs-flexmap database utility\n\
usage: %s [OPTIONS] COMMAND [ARG...]\n\
\n\
Overview:\n\
  show                        print tenants, addresses, mappings, switches\n\
                              and containers\n\
  sync                        nothing; with --wait, wait until every\n\
                              switch in the database holds what it says\n\
\n\
Tenants and addresses:\n\
  tenant-add TENANT           add a tenant\n\
  tenant-del TENANT           delete a tenant that owns nothing any more\n\
  ip-add TENANT IP...         give public IPv4/IPv6 addresses to TENANT\n\
  ip-del IP                   delete an address that no mapping uses\n\
\n\
Switches and containers:\n\
  switch-add NAME DPID [ROLE [TUNNEL_IP]]\n\
                              add a switch (ROLE: host or gateway)\n\
  switch-del NAME             delete a switch without containers\n\
  switch-uplink NAME [PORT ROUTER_MAC]\n\
                              send replies from public addresses out of\n\
                              PORT to ROUTER_MAC (no PORT: no uplink)\n\
  switch-return NAME gateway|direct\n\
                              a host's replies go back through the\n\
                              gateway (default) or out of its own uplink\n\
  container-add TENANT NAME MAC SWITCH IFACE\n\
                              add a container behind SWITCH's IFACE\n\
  container-del NAME          delete a container (--force: also remove it\n\
                              from the mappings it serves)\n\
  container-move NAME SWITCH [IFACE]\n\
                              move a container to another switch or port\n\
\n\
Mappings:\n\
  map-add IP PROTO[:PORT] CONTAINER[:WEIGHT]...\n\
                              map IP, PROTO (tcp, udp, sctp or any) and\n\
                              PORT (default: any) onto the containers\n\
                              (--may-exist: replace the backends)\n\
  map-del IP PROTO[:PORT]     delete a mapping\n\
  map-load FILE               make the mappings exactly those of FILE\n\
                              (\"-\": stdin), one a line as map-add's\n\
                              arguments; writes only the difference\n\
\n\
Command options (each right before the command it applies to):\n\
  --may-exist                 tenant-add, ip-add, switch-add,\n\
                              container-add: no error if it exists\n\
                              already (a container: with the same tenant\n\
                              and MAC); map-add: replace the mapping's\n\
                              backends\n\
  --if-exists                 tenant-del, ip-del, switch-del,\n\
                              container-del, map-del: no error if there\n\
                              is nothing to delete\n\
  --force                     container-del: also remove the container\n\
                              from its mappings (and delete those left\n\
                              without backends)\n\
\n\
%s\
%s\
\n\
Options:\n\
  --db=DATABASE               connect to DATABASE\n\
                              (default: %s)\n\
  -t, --timeout=SECS          wait at most SECS seconds\n\
  --dry-run                   do not commit changes to database\n\
                              (map-load: print the counts only)\n\
  --wait                      after a change, wait until every switch in\n\
                              the database holds it (exit status 2 if the\n\
                              timeout passes first, or if the controller or\n\
                              a switch refused part of it)\n\
  --oneline                   print exactly one line of output per command\n\
\n\
Daemon mode:\n\
  --detach                    start a daemon that keeps a replica of the\n\
                              database and runs the commands sent to it;\n\
                              it prints export %s=SOCKET\n\
  -u, --unixctl=SOCKET        with --detach, where the daemon listens;\n\
                              otherwise, send the commands to the daemon\n\
                              there (default: $%s, if set)\n",
           program_name, program_name, ctl_get_db_cmd_usage(),
           ctl_list_db_tables_usage(), ctl_default_db(), DAEMON_ENV,
           DAEMON_ENV);
    table_usage();
    daemon_usage();
    vlog_usage();
    printf("\
  --no-syslog                 equivalent to --verbose=flexmap_ctl:syslog:warn\n");
    stream_usage("database", true, true, true);
    printf("\n\
Other options:\n\
  -h, --help                  display this help message\n\
  -V, --version               display version information\n");
    exit(EXIT_SUCCESS);
}

/* Frees the transaction and the IDL, then exits with 'status'. */
static void
flexmap_ctl_exit(int status)
{
    if (the_idl_txn) {
        ovsdb_idl_txn_abort(the_idl_txn);
        ovsdb_idl_txn_destroy(the_idl_txn);
    }
    ovsdb_idl_destroy(the_idl);
    exit(status);
}

/* Where a command line's results go.  A one-shot flexmap-ctl writes them
 * to its stdout and stderr and exits with their status; the daemon gathers
 * them (in 'served_out', 'served_err' and 'served_status') and sends them
 * to the flexmap-ctl that asked, which writes them out and exits as a
 * one-shot would have. */

static void
put_stdout(const char *s)
{
    if (serving) {
        ds_put_cstr(&served_out, s);
    } else {
        fputs(s, stdout);
    }
}

static void
put_stderr(const char *s)
{
    if (serving) {
        ds_put_cstr(&served_err, s);
    } else {
        fputs(s, stderr);
    }
}

/* Says something on stderr, as ovs_error(0, ...) does. */
static void OVS_PRINTF_FORMAT(1, 2)
say(const char *format, ...)
{
    va_list args;

    va_start(args, format);
    if (serving) {
        ds_put_format(&served_err, "%s: ", program_name);
        ds_put_format_valist(&served_err, format, args);
        ds_put_char(&served_err, '\n');
    } else {
        ovs_error_valist(0, format, args);
    }
    va_end(args);
}

/* Ends the command line with exit status 'status', whose reasons say()
 * has given.  A one-shot exits; the daemon records 'status' and returns,
 * and the caller unwinds. */
static void
fail_noted(int status)
{
    if (!serving) {
        flexmap_ctl_exit(status);
    }
    if (!served_status) {
        served_status = status;
    }
}

/* Ends the command line with exit status 'status' and a message.  A
 * one-shot exits (through ctl_fatal() for EXIT_FAILURE, which also logs
 * the message); the daemon records them and returns, and the caller
 * unwinds. */
static void OVS_PRINTF_FORMAT(2, 3)
fail(int status, const char *format, ...)
{
    va_list args;
    char *message;

    va_start(args, format);
    message = xvasprintf(format, args);
    va_end(args);
    if (!serving && status == EXIT_FAILURE) {
        ctl_fatal("%s", message);
    }
    say("%s", message);
    free(message);
    fail_noted(status);
}

/* Canonical spellings. */

/* Stores the canonical spelling of IPv4 or IPv6 address 's' in '*out'
 * (owned by the caller), or returns an error. */
static char * OVS_WARN_UNUSED_RESULT
ip_canonical(const char *s, char **out)
{
    struct ds ds = DS_EMPTY_INITIALIZER;
    struct in6_addr ip;

    switch (flexmap_ip_parse(s, &ip, &ds)) {
    case FLEXMAP_IP_OK:
        *out = ds_steal_cstr(&ds);
        return NULL;
    case FLEXMAP_IP_NOT_AN_ADDRESS:
        return xasprintf("%s: not an IPv4 or IPv6 address", s);
    case FLEXMAP_IP_MAPPED:
        return xasprintf("%s: write an IPv4 address as a.b.c.d, not as "
                         "an IPv4-mapped IPv6 address", s);
    case FLEXMAP_IP_NOT_UNICAST:
        return xasprintf("%s: not a unicast address", s);
    }
    OVS_NOT_REACHED();
}

static char * OVS_WARN_UNUSED_RESULT
mac_canonical(const char *s, const char *who, char **out)
{
    struct eth_addr mac;

    if (!eth_addr_from_string(s, &mac)) {
        return xasprintf("%s: not an Ethernet address", s);
    }
    if (eth_addr_is_multicast(mac) || eth_addr_is_zero(mac)) {
        return xasprintf("%s: %s needs a unicast MAC", s, who);
    }
    *out = xasprintf(ETH_ADDR_FMT, ETH_ADDR_ARGS(mac));
    return NULL;
}

/* Datapath ids are stored as 16 lowercase hex digits, as ovs-vsctl's
 * other-config:datapath-id takes them; "0x" and fewer digits are
 * accepted. */
static char * OVS_WARN_UNUSED_RESULT
dpid_canonical(const char *s, char **out)
{
    const char *p = s;
    uint64_t dpid;

    if (!strncmp(p, "0x", 2) || !strncmp(p, "0X", 2)) {
        p += 2;
    }
    if (!*p || strlen(p) > 16 || strspn(p, "0123456789abcdefABCDEF")
                                  != strlen(p)) {
        return xasprintf("%s: a datapath id is 1 to 16 hex digits", s);
    }
    dpid = strtoull(p, NULL, 16);
    *out = xasprintf("%016"PRIx64, dpid);
    return NULL;
}

/* Parses "PROTO[:PORT]" into '*proto' (a string constant) and '*port' (0
 * for any). */
static char * OVS_WARN_UNUSED_RESULT
parse_proto_port(const char *s, const char **proto, int64_t *port)
{
    static const char *const protos[] = {"tcp", "udp", "sctp", "any"};
    const char *colon = strchr(s, ':');
    size_t len = colon ? colon - s : strlen(s);

    *proto = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
        if (strlen(protos[i]) == len && !strncmp(s, protos[i], len)) {
            *proto = protos[i];
        }
    }
    if (!*proto) {
        return xasprintf("%s: protocol must be tcp, udp, sctp or any", s);
    }
    *port = 0;
    if (colon) {
        unsigned int p;

        if (!strcmp(*proto, "any")) {
            return xasprintf("%s: a mapping for any protocol cannot name a "
                             "port", s);
        }
        if (!str_to_uint(colon + 1, 10, &p) || !p || p > 65535) {
            return xasprintf("%s: port must be 1 to 65535", s);
        }
        *port = p;
    }
    return NULL;
}

/* Lookups.  A tenant, address, switch or container is named as the generic
 * commands name it (see 'tables' below: by name, address, datapath id or
 * MAC, or by UUID), through db-ctl-base's ctl_get_row().  Returns NULL if
 * there is no such row. */
static const struct ovsdb_idl_row *
row_find(struct ctl_context *ctx, const struct ovsdb_idl_table_class *table,
         const char *id)
{
    const struct ovsdb_idl_row *row = NULL;
    char *error = ctl_get_row(ctx, table, id, false, &row);

    if (error) {
        free(error);
        return NULL;
    }
    return row;
}

static const struct flexrec_tenant *
tenant_find(struct ctl_context *ctx, const char *id)
{
    const struct ovsdb_idl_row *row = row_find(ctx, &flexrec_table_tenant, id);

    return row ? CONTAINER_OF(row, struct flexrec_tenant, header_) : NULL;
}

/* Parses 's', an IPv4 address as a.b.c.d or an IPv6 address, into '*ip'
 * (IPv4 as IPv4-mapped) and '*family' (AF_INET or AF_INET6, so that
 * "::ffff:192.0.2.7" and "192.0.2.7" stay two addresses, as ip_canonical()
 * keeps them), without judging it: unlike ip_canonical(), it takes
 * multicast, loopback and the like too.  Returns false if 's' is neither. */
static bool
ip_parse_any(const char *s, int *family, struct in6_addr *ip)
{
    ovs_be32 ip4;

    if (ip_parse(s, &ip4)) {
        in6_addr_set_mapped_ipv4(ip, ip4);
        *family = AF_INET;
        return true;
    } else if (ipv6_parse(s, ip)) {
        *family = AF_INET6;
        return true;
    }
    return false;
}

/* Returns the row of public address 'address', however the row spells it,
 * or NULL: the row spelled exactly 'address' if there is one, otherwise
 * one that holds the same address in another spelling (a row that another
 * client wrote, as flexmap-controller would see it).  Neither 'address'
 * nor the row need be an address that ip_canonical() takes: a row that an
 * older flexmap-ctl or another client wrote can be named all the same. */
static const struct flexrec_public_ip *
ip_find(struct ctl_context *ctx, const char *address)
{
    const struct ovsdb_idl_row *row = row_find(ctx, &flexrec_table_public_ip,
                                               address);
    const struct flexrec_public_ip *ip;
    struct in6_addr a, b;
    int fa, fb;

    if (row) {
        return CONTAINER_OF(row, struct flexrec_public_ip, header_);
    }
    if (!ip_parse_any(address, &fa, &a)) {
        return NULL;
    }
    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        if (ip_parse_any(ip->address, &fb, &b) && fa == fb
            && ipv6_addr_equals(&a, &b)) {
            return ip;
        }
    }
    return NULL;
}

/* For the commands that name an address to delete it or what it maps
 * (ip-del, map-del): stores in '*ipp' the row of address 'arg', found as
 * ip_find() finds it, before ip_canonical() judges 'arg', so that an
 * address that it refuses now (127.0.0.5, 224.1.1.1...) but that an older
 * flexmap-ctl or another client wrote can still be deleted.  Stores in
 * '*address' (owned by the caller) the spelling to report: the row's, or
 * without a row the canonical one.  Returns the error of ip_canonical() if
 * there is no row and 'arg' is not an address that ip-add takes. */
static char * OVS_WARN_UNUSED_RESULT
ip_lookup(struct ctl_context *ctx, const char *arg,
          const struct flexrec_public_ip **ipp, char **address)
{
    *ipp = ip_find(ctx, arg);
    if (*ipp) {
        *address = xstrdup((*ipp)->address);
        return NULL;
    }
    *address = NULL;
    return ip_canonical(arg, address);
}

static const struct flexrec_switch *
switch_find(struct ctl_context *ctx, const char *id)
{
    const struct ovsdb_idl_row *row = row_find(ctx, &flexrec_table_switch, id);

    return row ? CONTAINER_OF(row, struct flexrec_switch, header_) : NULL;
}

static const struct flexrec_container *
container_find(struct ctl_context *ctx, const char *id)
{
    const struct ovsdb_idl_row *row = row_find(ctx, &flexrec_table_container, id);

    return row ? CONTAINER_OF(row, struct flexrec_container, header_) : NULL;
}

/* The daemon's index of the mappings by address, protocol and port (see
 * server_main()), which follows the open transaction's writes too; NULL in
 * a one-shot, whose IDL holds few mappings. */
static struct ovsdb_idl_index *mapping_by_key;

/* Returns a key row for 'mapping_by_key' (destroy it with
 * flexrec_mapping_index_destroy_row()). */
static struct flexrec_mapping *
mapping_key(const struct flexrec_public_ip *ip, const char *proto,
            const int64_t *port, size_t n_port)
{
    struct flexrec_mapping *key
        = flexrec_mapping_index_init_row(mapping_by_key);

    flexrec_mapping_index_set_ip(key, ip);
    flexrec_mapping_index_set_proto(key, proto);
    flexrec_mapping_index_set_port(key, port, n_port);
    return key;
}

/* Returns a mapping of address 'ip', or NULL if it has none. */
static const struct flexrec_mapping *
mapping_find_any(struct ovsdb_idl *idl, const struct flexrec_public_ip *ip)
{
    const struct flexrec_mapping *m;

    if (mapping_by_key) {
        /* The least key of 'ip': an empty protocol, no port. */
        struct flexrec_mapping *key = mapping_key(ip, "", NULL, 0);
        struct ovsdb_idl_cursor cursor
            = flexrec_mapping_cursor_first_ge(mapping_by_key, key);

        m = flexrec_mapping_cursor_data(&cursor);
        flexrec_mapping_index_destroy_row(key);
        return m && m->ip == ip ? m : NULL;
    }
    FLEXREC_MAPPING_FOR_EACH (m, idl) {
        if (m->ip == ip) {
            return m;
        }
    }
    return NULL;
}

static const struct flexrec_mapping *
mapping_find(struct ovsdb_idl *idl, const struct flexrec_public_ip *ip,
             const char *proto, int64_t port)
{
    const struct flexrec_mapping *m;

    if (mapping_by_key) {
        struct flexrec_mapping *key = mapping_key(ip, proto, &port,
                                                  port ? 1 : 0);

        m = flexrec_mapping_index_find(mapping_by_key, key);
        flexrec_mapping_index_destroy_row(key);
        return m;
    }
    FLEXREC_MAPPING_FOR_EACH (m, idl) {
        if (m->ip == ip && !strcmp(m->proto, proto)
            && (m->n_port ? m->port[0] : 0) == port) {
            return m;
        }
    }
    return NULL;
}

/* Formats mapping 'm''s address, protocol and port as map-add takes them. */
static void
mapping_format_key(const struct flexrec_mapping *m, struct ds *s)
{
    ds_put_format(s, "%s %s", m->ip ? m->ip->address : "?", m->proto);
    if (m->n_port) {
        ds_put_format(s, ":%"PRId64, m->port[0]);
    }
}

/* Adds 'column' to what 'idl' replicates, unless it is a column of the
 * Mapping table and the commands read no mappings (see 'reads'). */
static void
add_column(struct ovsdb_idl *idl, const struct ovsdb_idl_column *column)
{
    if (!reads || reads->mappings
        || column < flexrec_mapping_columns
        || column >= &flexrec_mapping_columns[FLEXREC_MAPPING_N_COLUMNS]) {
        ovsdb_idl_add_column(idl, column);
    }
}

/* Prerequisites: every task command reads these columns. */
static void
pre_flexmap(struct ctl_context *ctx)
{
    static const struct ovsdb_idl_column *columns[] = {
        &flexrec_tenant_col_name,
        &flexrec_public_ip_col_address,
        &flexrec_public_ip_col_tenant,
        &flexrec_public_ip_col_status,
        &flexrec_switch_col_name,
        &flexrec_switch_col_datapath_id,
        &flexrec_switch_col_role,
        &flexrec_switch_col_tunnel_ip,
        &flexrec_switch_col_tunnel_port,
        &flexrec_switch_col_uplink,
        &flexrec_switch_col_router_mac,
        &flexrec_switch_col_return_path,
        &flexrec_switch_col_status,
        &flexrec_container_col_name,
        &flexrec_container_col_tenant,
        &flexrec_container_col_mac,
        &flexrec_container_col_switch_,
        &flexrec_container_col_iface,
        &flexrec_container_col_status,
        &flexrec_mapping_col_ip,
        &flexrec_mapping_col_proto,
        &flexrec_mapping_col_port,
        &flexrec_mapping_col_backends,
        &flexrec_mapping_col_containers,
        &flexrec_mapping_col_status,
        &flexrec_global_col_gateway_mac,
        &flexrec_global_col_status,
    };

    for (size_t i = 0; i < ARRAY_SIZE(columns); i++) {
        add_column(ctx->idl, columns[i]);
    }
}

/* Tenants and addresses. */

static void
cmd_tenant_add(struct ctl_context *ctx)
{
    const char *name = ctx->argv[1];

    if (tenant_find(ctx, name)) {
        if (!shash_find(&ctx->options, "--may-exist")) {
            ctl_error(ctx, "tenant %s already exists", name);
        }
        return;
    }
    struct flexrec_tenant *t = flexrec_tenant_insert(ctx->txn);
    flexrec_tenant_set_name(t, name);
}

static void
cmd_tenant_del(struct ctl_context *ctx)
{
    const char *name = ctx->argv[1];
    const struct flexrec_tenant *t = tenant_find(ctx, name);
    const struct flexrec_public_ip *ip;
    const struct flexrec_container *c;

    if (!t) {
        if (!shash_find(&ctx->options, "--if-exists")) {
            ctl_error(ctx, "no tenant named %s", name);
        }
        return;
    }
    FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
        if (ip->tenant == t) {
            ctl_error(ctx, "tenant %s still owns %s (delete its addresses "
                      "first)", name, ip->address);
            return;
        }
    }
    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        if (c->tenant == t) {
            ctl_error(ctx, "tenant %s still has container %s (delete its "
                      "containers first)", name, c->name);
            return;
        }
    }
    flexrec_tenant_delete(t);
}

static void
cmd_ip_add(struct ctl_context *ctx)
{
    const struct flexrec_tenant *t = tenant_find(ctx, ctx->argv[1]);
    bool may_exist = shash_find(&ctx->options, "--may-exist") != NULL;
    struct svec added = SVEC_EMPTY_INITIALIZER;

    if (!t) {
        ctl_error(ctx, "no tenant named %s", ctx->argv[1]);
        return;
    }
    for (int i = 2; i < ctx->argc; i++) {
        const struct flexrec_public_ip *ip;
        char *address;
        char *error = ip_canonical(ctx->argv[i], &address);

        if (error) {
            ctl_error(ctx, "%s", error);
            free(error);
            break;
        }
        ip = ip_find(ctx, address);
        if (ip || svec_contains_unsorted(&added, address)) {
            if (ip && ip->tenant != t) {
                ctl_error(ctx, "%s is owned by tenant %s", address,
                          ip->tenant ? ip->tenant->name : "?");
            } else if (!may_exist) {
                ctl_error(ctx, "tenant %s already owns %s", t->name,
                          address);
            }
            free(address);
            if (ctx->error) {
                break;
            }
            continue;
        }
        struct flexrec_public_ip *new = flexrec_public_ip_insert(ctx->txn);
        flexrec_public_ip_set_address(new, address);
        flexrec_public_ip_set_tenant(new, t);
        svec_add_nocopy(&added, address);
    }
    svec_destroy(&added);
}

static void
cmd_ip_del(struct ctl_context *ctx)
{
    const struct flexrec_public_ip *ip;
    const struct flexrec_mapping *m;
    char *address;
    char *error = ip_lookup(ctx, ctx->argv[1], &ip, &address);

    if (error) {
        ctl_error(ctx, "%s", error);
        free(error);
        return;
    }
    if (!ip) {
        if (!shash_find(&ctx->options, "--if-exists")) {
            ctl_error(ctx, "nobody owns %s", address);
        }
        free(address);
        return;
    }
    m = mapping_find_any(ctx->idl, ip);
    if (m) {
        struct ds key = DS_EMPTY_INITIALIZER;

        mapping_format_key(m, &key);
        ctl_error(ctx, "%s is still mapped (%s); delete its mappings first",
                  address, ds_cstr(&key));
        ds_destroy(&key);
        free(address);
        return;
    }
    flexrec_public_ip_delete(ip);
    free(address);
}

/* Switches and containers. */

static void
cmd_switch_add(struct ctl_context *ctx)
{
    const char *name = ctx->argv[1];
    const char *role = ctx->argc > 3 ? ctx->argv[3] : "host";
    const struct flexrec_switch *sw;
    char *dpid = NULL, *tunnel_ip = NULL;
    char *error;

    if (strcmp(role, "host") && strcmp(role, "gateway")) {
        ctl_error(ctx, "%s: a switch's role is host or gateway", role);
        return;
    }
    error = dpid_canonical(ctx->argv[2], &dpid);
    if (!error && ctx->argc > 4) {
        error = ip_canonical(ctx->argv[4], &tunnel_ip);
    }
    if (error) {
        ctl_error(ctx, "%s", error);
        free(error);
        free(dpid);
        return;
    }
    if (switch_find(ctx, name)) {
        if (!shash_find(&ctx->options, "--may-exist")) {
            ctl_error(ctx, "switch %s already exists", name);
        }
        goto out;
    }
    FLEXREC_SWITCH_FOR_EACH (sw, ctx->idl) {
        if (!strcmp(sw->datapath_id, dpid)) {
            ctl_error(ctx, "switch %s already has datapath id %s", sw->name,
                      dpid);
            goto out;
        }
    }
    struct flexrec_switch *new = flexrec_switch_insert(ctx->txn);
    flexrec_switch_set_name(new, name);
    flexrec_switch_set_datapath_id(new, dpid);
    flexrec_switch_set_role(new, role);
    if (tunnel_ip) {
        flexrec_switch_set_tunnel_ip(new, tunnel_ip);
    }
out:
    free(dpid);
    free(tunnel_ip);
}

static void
cmd_switch_del(struct ctl_context *ctx)
{
    const struct flexrec_switch *sw = switch_find(ctx, ctx->argv[1]);
    const struct flexrec_container *c;

    if (!sw) {
        if (!shash_find(&ctx->options, "--if-exists")) {
            ctl_error(ctx, "no switch named %s", ctx->argv[1]);
        }
        return;
    }
    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        if (c->switch_ == sw) {
            ctl_error(ctx, "switch %s still has container %s (move or delete "
                      "it first)", sw->name, c->name);
            return;
        }
    }
    flexrec_switch_delete(sw);
}

/* Does nothing: with --wait, waits until the switches hold everything
 * that the database says, even if the transaction changes nothing else. */
static void
pre_sync(struct ctl_context *ctx OVS_UNUSED)
{
    force_wait = true;
}

static void
cmd_sync(struct ctl_context *ctx OVS_UNUSED)
{
}

/* The way out: the port toward the Internet and the router there. */
static void
cmd_switch_uplink(struct ctl_context *ctx)
{
    const struct flexrec_switch *sw = switch_find(ctx, ctx->argv[1]);
    char *mac = NULL, *error;

    if (!sw) {
        ctl_error(ctx, "no switch named %s", ctx->argv[1]);
        return;
    }
    if (ctx->argc < 3) {
        flexrec_switch_set_uplink(sw, NULL);
        flexrec_switch_set_router_mac(sw, NULL);
        return;
    }
    if (ctx->argc < 4) {
        ctl_error(ctx, "switch-uplink needs the router's MAC with the port");
        return;
    }
    error = mac_canonical(ctx->argv[3], "a router", &mac);
    if (error) {
        ctl_error(ctx, "%s", error);
        free(error);
        return;
    }
    const struct flexrec_container *c;
    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        if (c->switch_ == sw && !strcmp(c->iface, ctx->argv[2])) {
            ctl_error(ctx, "%s on switch %s is container %s's, not an "
                      "uplink", ctx->argv[2], sw->name, c->name);
            free(mac);
            return;
        }
    }
    flexrec_switch_set_uplink(sw, ctx->argv[2]);
    flexrec_switch_set_router_mac(sw, mac);
    free(mac);
}

/* Which way a host's containers' replies leave. */
static void
cmd_switch_return(struct ctl_context *ctx)
{
    const struct flexrec_switch *sw = switch_find(ctx, ctx->argv[1]);
    const char *path = ctx->argv[2];

    if (!sw) {
        ctl_error(ctx, "no switch named %s", ctx->argv[1]);
    } else if (strcmp(path, "gateway") && strcmp(path, "direct")) {
        ctl_error(ctx, "%s: the return path is gateway or direct", path);
    } else {
        flexrec_switch_set_return_path(sw, strcmp(path, "gateway")
                                           ? path : NULL);
    }
}

/* Returns NULL if a container of tenant 't' may sit on interface 'iface'
 * of switch 'sw', otherwise why not (malloc()'d): the switch's uplink and
 * tunnel port carry every tenant's traffic, and one interface belongs to
 * one tenant.  'self' is the container being moved, if any. */
static char *
container_port_error(struct ctl_context *ctx,
                     const struct flexrec_switch *sw, const char *iface,
                     const struct flexrec_tenant *t,
                     const struct flexrec_container *self)
{
    const struct flexrec_container *c;

    if (sw->uplink && !strcmp(sw->uplink, iface)) {
        return xasprintf("%s is the uplink of switch %s", iface, sw->name);
    }
    if (sw->tunnel_port && !strcmp(sw->tunnel_port, iface)) {
        return xasprintf("%s is the tunnel port of switch %s", iface,
                         sw->name);
    }
    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        if (c != self && c->switch_ == sw && !strcmp(c->iface, iface)
            && c->tenant != t) {
            return xasprintf("%s on switch %s is container %s's, of tenant "
                             "%s", iface, sw->name, c->name,
                             c->tenant ? c->tenant->name : "?");
        }
    }
    return NULL;
}

static void
cmd_container_add(struct ctl_context *ctx)
{
    const struct flexrec_tenant *t = tenant_find(ctx, ctx->argv[1]);
    const char *name = ctx->argv[2];
    const struct flexrec_switch *sw = switch_find(ctx, ctx->argv[4]);
    const struct flexrec_container *c;
    char *mac = NULL, *error;

    if (!t) {
        ctl_error(ctx, "no tenant named %s", ctx->argv[1]);
        return;
    }
    if (!sw) {
        ctl_error(ctx, "no switch named %s", ctx->argv[4]);
        return;
    }
    error = mac_canonical(ctx->argv[3], "a container", &mac);
    if (error) {
        ctl_error(ctx, "%s", error);
        free(error);
        return;
    }
    c = container_find(ctx, name);
    if (c) {
        if (!shash_find(&ctx->options, "--may-exist")) {
            ctl_error(ctx, "container %s already exists", name);
        } else if (c->tenant != t || strcmp(c->mac, mac)) {
            ctl_error(ctx, "container %s exists with another tenant or MAC",
                      name);
        }
        free(mac);
        return;
    }
    FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
        if (!strcmp(c->mac, mac)) {
            ctl_error(ctx, "MAC %s is already used by container %s", mac,
                      c->name);
            free(mac);
            return;
        }
    }
    error = container_port_error(ctx, sw, ctx->argv[5], t, NULL);
    if (error) {
        ctl_error(ctx, "%s", error);
        free(error);
        free(mac);
        return;
    }
    struct flexrec_container *new = flexrec_container_insert(ctx->txn);
    flexrec_container_set_name(new, name);
    flexrec_container_set_tenant(new, t);
    flexrec_container_set_mac(new, mac);
    flexrec_container_set_switch_(new, sw);
    flexrec_container_set_iface(new, ctx->argv[5]);
    free(mac);
}

/* Sets the backends of mapping 'm' to the 'n' containers in 'backends' with
 * 'weights', and Mapping:containers to the same containers: per-host
 * flexmap-controllers find the mappings of their containers by that
 * column. */
static void
mapping_set_backends(const struct flexrec_mapping *m,
                     struct flexrec_container **backends,
                     const int64_t *weights, size_t n)
{
    flexrec_mapping_set_backends(m, backends, weights, n);
    flexrec_mapping_set_containers(m, backends, n);
}

/* Removes container 'c' from the backends of 'm', deleting 'm' if none is
 * left.  Returns true if 'm' was deleted. */
static bool
mapping_remove_backend(const struct flexrec_mapping *m,
                       const struct flexrec_container *c)
{
    if (m->n_backends == 1) {
        flexrec_mapping_delete(m);
        return true;
    }
    flexrec_mapping_verify_backends(m);
    flexrec_mapping_update_backends_delkey(m, c);
    flexrec_mapping_update_containers_delvalue(m, c);
    return false;
}

static void
cmd_container_del(struct ctl_context *ctx)
{
    const struct flexrec_container *c = container_find(ctx,
                                                       ctx->argv[1]);
    bool force = shash_find(&ctx->options, "--force") != NULL;
    const struct flexrec_mapping *m, *next;

    if (!c) {
        if (!shash_find(&ctx->options, "--if-exists")) {
            ctl_error(ctx, "no container named %s", ctx->argv[1]);
        }
        return;
    }
    FLEXREC_MAPPING_FOR_EACH_SAFE (m, next, ctx->idl) {
        for (size_t i = 0; i < m->n_backends; i++) {
            if (m->key_backends[i] != c) {
                continue;
            }
            if (!force) {
                struct ds key = DS_EMPTY_INITIALIZER;

                mapping_format_key(m, &key);
                ctl_error(ctx, "container %s is a backend of mapping %s "
                          "(--force removes it from its mappings, and "
                          "deletes those left without backends)",
                          c->name, ds_cstr(&key));
                ds_destroy(&key);
                return;
            }
            mapping_remove_backend(m, c);
            break;
        }
    }
    flexrec_container_delete(c);
}

static void
cmd_container_move(struct ctl_context *ctx)
{
    const struct flexrec_container *c = container_find(ctx,
                                                       ctx->argv[1]);
    const struct flexrec_switch *sw = switch_find(ctx, ctx->argv[2]);

    if (!c) {
        ctl_error(ctx, "no container named %s", ctx->argv[1]);
        return;
    }
    if (!sw) {
        ctl_error(ctx, "no switch named %s", ctx->argv[2]);
        return;
    }
    char *error = container_port_error(ctx, sw,
                                       ctx->argc > 3 ? ctx->argv[3] : c->iface,
                                       c->tenant, c);
    if (error) {
        ctl_error(ctx, "%s", error);
        free(error);
        return;
    }
    flexrec_container_set_switch_(c, sw);
    if (ctx->argc > 3) {
        flexrec_container_set_iface(c, ctx->argv[3]);
    }
}

/* Mappings. */

/* A mapping as map-add names it, checked against the database. */
struct mapping_spec {
    const struct flexrec_public_ip *ip;
    char *address;              /* Canonical spelling, owned. */
    const char *proto;          /* A string constant. */
    int64_t port;               /* 0: any. */
    size_t n;
    struct flexrec_container *backends[MAX_BACKENDS];
    int64_t weights[MAX_BACKENDS];
};

/* How mapping_parse() finds rows: through db-ctl-base, as every command
 * names them (NULL), or through the hash tables that map-load builds once
 * for the whole file (see load_index_find_ip() and _container()). */
struct load_index;
static const struct flexrec_public_ip *load_index_find_ip(
    struct load_index *, const char *address);
static const struct flexrec_container *load_index_find_container(
    struct load_index *, struct ctl_context *, const char *id);

/* Parses and checks a mapping given as map-add's arguments ('argc'
 * words in 'argv': IP PROTO[:PORT] CONTAINER[:WEIGHT]...) into '*spec',
 * whose 'address' the caller frees with free() whatever the result.
 * Returns an error message (owned by the caller) if it is not one that
 * map-add takes: map-add and map-load apply the same checks. */
static char * OVS_WARN_UNUSED_RESULT
mapping_parse(struct ctl_context *ctx, struct load_index *index,
              int argc, char *argv[], struct mapping_spec *spec)
{
    size_t k;
    char *error;

    spec->address = NULL;
    spec->n = 0;
    if (argc < 3) {
        return xstrdup("a mapping is IP PROTO[:PORT] CONTAINER[:WEIGHT]...");
    }
    error = ip_canonical(argv[0], &spec->address);
    if (!error) {
        error = parse_proto_port(argv[1], &spec->proto, &spec->port);
    }
    if (error) {
        return error;
    }
    spec->ip = (index ? load_index_find_ip(index, spec->address)
                : ip_find(ctx, spec->address));
    if (!spec->ip) {
        return xasprintf("nobody owns %s (give it to a tenant with ip-add "
                         "first)", spec->address);
    }
    if (argc - 2 > MAX_BACKENDS) {
        return xasprintf("a mapping has at most %d backends", MAX_BACKENDS);
    }
    for (int i = 2; i < argc; i++) {
        char *name = xstrdup(argv[i]);
        char *colon = strrchr(name, ':');
        const struct flexrec_container *c;
        unsigned int weight = 1;

        if (colon) {
            *colon = '\0';
            if (!str_to_uint(colon + 1, 10, &weight) || weight > 65535) {
                free(name);
                return xasprintf("%s: weight must be 0 to 65535", argv[i]);
            }
        }
        c = (index ? load_index_find_container(index, ctx, name)
             : container_find(ctx, name));
        if (!c) {
            error = xasprintf("no container named %s", name);
            free(name);
            return error;
        }
        free(name);
        if (c->tenant != spec->ip->tenant) {
            return xasprintf("container %s belongs to tenant %s, but %s "
                             "belongs to tenant %s", c->name,
                             c->tenant ? c->tenant->name : "?",
                             spec->address,
                             spec->ip->tenant ? spec->ip->tenant->name
                                              : "?");
        }
        for (size_t j = 0; j < spec->n; j++) {
            if (spec->backends[j] == c) {
                return xasprintf("container %s is named twice", c->name);
            }
        }
        spec->backends[spec->n] = CONST_CAST(struct flexrec_container *, c);
        spec->weights[spec->n] = weight;
        spec->n++;
    }
    for (k = 0; k < spec->n; k++) {
        if (spec->weights[k]) {
            break;
        }
    }
    if (k == spec->n) {
        return xstrdup("a mapping needs a backend with a nonzero weight "
                       "(weight 0 is never chosen)");
    }
    return NULL;
}

static void
cmd_map_add(struct ctl_context *ctx)
{
    struct mapping_spec spec;
    const struct flexrec_mapping *m;
    char *error;

    error = mapping_parse(ctx, NULL, ctx->argc - 1, ctx->argv + 1, &spec);
    if (error) {
        ctl_error(ctx, "%s", error);
        free(error);
        goto out;
    }

    m = mapping_find(ctx->idl, spec.ip, spec.proto, spec.port);
    if (m) {
        if (!shash_find(&ctx->options, "--may-exist")) {
            struct ds key = DS_EMPTY_INITIALIZER;

            mapping_format_key(m, &key);
            ctl_error(ctx, "mapping %s already exists (--may-exist replaces "
                      "its backends)", ds_cstr(&key));
            ds_destroy(&key);
            goto out;
        }
    } else {
        struct flexrec_mapping *new = flexrec_mapping_insert(ctx->txn);

        flexrec_mapping_set_ip(new, spec.ip);
        flexrec_mapping_set_proto(new, spec.proto);
        flexrec_mapping_set_port(new, &spec.port, spec.port ? 1 : 0);
        m = new;
    }
    mapping_set_backends(m, spec.backends, spec.weights, spec.n);
out:
    free(spec.address);
}

static void
cmd_map_del(struct ctl_context *ctx)
{
    const struct flexrec_public_ip *ip;
    const struct flexrec_mapping *m = NULL;
    const char *proto;
    char *address = NULL;
    int64_t port;
    char *error;

    error = ip_lookup(ctx, ctx->argv[1], &ip, &address);
    if (!error) {
        error = parse_proto_port(ctx->argv[2], &proto, &port);
    }
    if (error) {
        ctl_error(ctx, "%s", error);
        free(error);
        goto out;
    }
    if (ip) {
        m = mapping_find(ctx->idl, ip, proto, port);
    }
    if (!m) {
        if (!shash_find(&ctx->options, "--if-exists")) {
            ctl_error(ctx, "no mapping %s %s", address, ctx->argv[2]);
        }
        goto out;
    }
    flexrec_mapping_delete(m);
out:
    free(address);
}

/* show. */

static int
compare_mapping(const void *a_, const void *b_)
{
    const struct flexrec_mapping *const *a = a_;
    const struct flexrec_mapping *const *b = b_;
    int64_t pa = (*a)->n_port ? (*a)->port[0] : 0;
    int64_t pb = (*b)->n_port ? (*b)->port[0] : 0;
    int cmp = strcmp((*a)->ip->address, (*b)->ip->address);

    if (!cmp) {
        cmp = strcmp((*a)->proto, (*b)->proto);
    }
    return cmp ? cmp : pa < pb ? -1 : pa > pb;
}

static void
show_status(struct ds *s, const struct smap *status)
{
    const char *error = smap_get(status, "error");

    if (error) {
        ds_put_format(s, " (error: %s)", error);
    }
}

/* Prints the backends of 'm' as map-add takes them, sorted by name. */
static void
show_backends(struct ds *s, const struct flexrec_mapping *m)
{
    struct svec backends = SVEC_EMPTY_INITIALIZER;
    const char *b;
    size_t i;

    for (i = 0; i < m->n_backends; i++) {
        if (m->value_backends[i] != 1) {
            svec_add_nocopy(&backends,
                            xasprintf("%s:%"PRId64, m->key_backends[i]->name,
                                      m->value_backends[i]));
        } else {
            svec_add(&backends, m->key_backends[i]->name);
        }
    }
    svec_sort(&backends);
    SVEC_FOR_EACH (i, b, &backends) {
        ds_put_format(s, " %s", b);
    }
    svec_destroy(&backends);
}

/* Prints tenants with their addresses, each address with its mappings,
 * then switches with their containers, all sorted by name. */
static void
cmd_show(struct ctl_context *ctx)
{
    const struct flexrec_global *g = flexrec_global_first(ctx->idl);
    struct svec names = SVEC_EMPTY_INITIALIZER;
    const struct flexrec_mapping **maps;
    const struct flexrec_mapping *m;
    const struct flexrec_tenant *t;
    const struct flexrec_switch *sw;
    const char *name;
    struct ds *s = &ctx->output;
    size_t n_maps = 0;
    size_t i;

    if (g && g->gateway_mac) {
        ds_put_format(s, "gateway_mac: %s", g->gateway_mac);
        show_status(s, &g->status);
        ds_put_char(s, '\n');
    } else if (g && smap_get(&g->status, "error")) {
        ds_put_cstr(s, "global");
        show_status(s, &g->status);
        ds_put_char(s, '\n');
    }

    FLEXREC_MAPPING_FOR_EACH (m, ctx->idl) {
        n_maps++;
    }
    maps = xmalloc(MAX(n_maps, 1) * sizeof *maps);
    n_maps = 0;
    FLEXREC_MAPPING_FOR_EACH (m, ctx->idl) {
        if (m->ip) {
            maps[n_maps++] = m;
        }
    }
    qsort(maps, n_maps, sizeof *maps, compare_mapping);

    FLEXREC_TENANT_FOR_EACH (t, ctx->idl) {
        svec_add(&names, t->name);
    }
    svec_sort(&names);
    SVEC_FOR_EACH (i, name, &names) {
        struct svec ips = SVEC_EMPTY_INITIALIZER;
        const struct flexrec_public_ip *ip;
        const struct flexrec_container *c;
        const char *address;
        size_t j;

        t = tenant_find(ctx, name);
        ds_put_format(s, "tenant %s\n", t->name);
        FLEXREC_PUBLIC_IP_FOR_EACH (ip, ctx->idl) {
            if (ip->tenant == t) {
                svec_add(&ips, ip->address);
            }
        }
        svec_sort(&ips);
        SVEC_FOR_EACH (j, address, &ips) {
            ip = ip_find(ctx, address);
            ds_put_format(s, "    ip %s", address);
            show_status(s, &ip->status);
            ds_put_char(s, '\n');
            for (size_t k = 0; k < n_maps; k++) {
                m = maps[k];
                if (m->ip != ip) {
                    continue;
                }
                ds_put_format(s, "        %s", m->proto);
                if (m->n_port) {
                    ds_put_format(s, ":%"PRId64, m->port[0]);
                }
                ds_put_cstr(s, " ->");
                show_backends(s, m);
                show_status(s, &m->status);
                ds_put_char(s, '\n');
            }
        }
        svec_destroy(&ips);

        struct svec cnames = SVEC_EMPTY_INITIALIZER;
        FLEXREC_CONTAINER_FOR_EACH (c, ctx->idl) {
            if (c->tenant == t) {
                svec_add(&cnames, c->name);
            }
        }
        svec_sort(&cnames);
        SVEC_FOR_EACH (j, address, &cnames) {
            c = container_find(ctx, address);
            ds_put_format(s, "    container %s mac %s on %s:%s", c->name,
                          c->mac, c->switch_ ? c->switch_->name : "?",
                          c->iface);
            show_status(s, &c->status);
            ds_put_char(s, '\n');
        }
        svec_destroy(&cnames);
    }
    svec_clear(&names);

    FLEXREC_SWITCH_FOR_EACH (sw, ctx->idl) {
        svec_add(&names, sw->name);
    }
    svec_sort(&names);
    SVEC_FOR_EACH (i, name, &names) {
        sw = switch_find(ctx, name);
        ds_put_format(s, "switch %s datapath_id %s role %s", sw->name,
                      sw->datapath_id, sw->role);
        if (sw->tunnel_ip) {
            ds_put_format(s, " tunnel_ip %s", sw->tunnel_ip);
        }
        if (sw->tunnel_port) {
            ds_put_format(s, " tunnel_port %s", sw->tunnel_port);
        }
        if (sw->uplink) {
            ds_put_format(s, " uplink %s router_mac %s", sw->uplink,
                          sw->router_mac ? sw->router_mac : "?");
        }
        if (sw->return_path) {
            ds_put_format(s, " return_path %s", sw->return_path);
        }
        show_status(s, &sw->status);
        ds_put_char(s, '\n');
    }
    svec_destroy(&names);
    free(maps);
}

/* Reading only what the commands need.
 *
 * The IDL replicates, for each table, the rows that satisfy its monitor
 * condition.  A command line made only of task commands replicates:
 *
 *   - Global, Tenant and Switch whole: they are small, every command
 *     resolves names in them, and --wait reads Global's and every
 *     Switch's cur_cfg and status;
 *
 *   - of Public_IP and Container, the rows that the commands name (by
 *     name, MAC, address or UUID, as db-ctl-base finds them) and those
 *     that their checks compare against (the containers on an interface,
 *     of a tenant or on a switch, the addresses of a tenant...), found in
 *     rounds: a command says what it needs given what the IDL holds so
 *     far, and once the server has acknowledged the wider condition, the
 *     commands are asked again, until nothing is added;
 *
 *   - the Mapping table only if a command reads mappings.  ovsdb-server
 *     builds the first reply of a monitor from every row of each table
 *     that it monitors, whatever the condition, so monitoring Mapping at
 *     all costs in proportion to its size.  map-add therefore inserts
 *     without looking for an existing mapping of its key, and ip-del and
 *     container-del delete without looking for the mappings that refer to
 *     the row: the server refuses a duplicate key (the index on ip, proto
 *     and port) and a row that a mapping still refers to (strong
 *     references).  If it does, the commands run again on a new
 *     connection that reads the mappings involved ('wide'), so that they
 *     make today's checks, with today's messages, before writing anything.
 *     --dry-run asks the server to check nothing, so it reads wide from
 *     the start; so does --wait for map-add, whose mapping's status the
 *     wait reads.
 *
 * A command line with any other command (show, map-load, the generic
 * database commands) replicates every table whole, as before. */

/* struct read_set is declared at the top of the file. */

/* NULL: read everything. */

/* The tables that 'reads' narrows; the others are read whole. */
static const struct ovsdb_idl_table_class *const narrowed[] = {
    &flexrec_table_public_ip, &flexrec_table_container,
    &flexrec_table_mapping,
};

/* "_uuid", for conditions on a row's UUID (the IDL has no column for
 * it, but ovsdb-server takes it in a condition as in a "where"). */
static const struct ovsdb_idl_column uuid_column = {
    .name = "_uuid",
    .type = {
        .key = OVSDB_BASE_UUID_INIT,
        .value = OVSDB_BASE_VOID_INIT,
        .n_min = 1,
        .n_max = 1,
    },
};

static struct ovsdb_idl_condition *
reads_cond(const struct ovsdb_idl_table_class *table)
{
    return &reads->cond[table - flexrec_table_classes];
}

static void
reads_whole(const struct ovsdb_idl_table_class *table)
{
    reads->whole[table - flexrec_table_classes] = true;
}

/* Adds to 'table''s condition the clause "'column' == 'atom'", taking
 * 'atom' (of 'column''s key type), which must be malloc()'d. */
static void
reads_clause(const struct ovsdb_idl_table_class *table,
             const struct ovsdb_idl_column *column, union ovsdb_atom *atom)
{
    struct ovsdb_datum datum = {
        .n = 1, .keys = atom, .values = NULL, .refcnt = NULL,
    };

    ovsdb_idl_condition_add_clause(reads_cond(table), OVSDB_F_EQ, column,
                                   &datum);
    ovsdb_datum_destroy(&datum, &column->type);
}

static void
reads_uuid(const struct ovsdb_idl_table_class *table,
           const struct uuid *uuid)
{
    union ovsdb_atom *atom = xmalloc(sizeof *atom);

    atom->uuid = *uuid;
    reads_clause(table, &uuid_column, atom);
}

/* Adds to 'table''s condition the rows whose string 'column' is 's'.  A
 * value that the column cannot hold is left out: no row has it, and
 * ovsdb-server refuses the whole condition if a clause breaks the
 * schema's constraints (the IDL's copy of the schema lacks them: these
 * are flexmap.ovsschema's lengths). */
static void
reads_string(const struct ovsdb_idl_table_class *table,
             const struct ovsdb_idl_column *column, const char *s)
{
    char *error = utf8_validate(s, NULL);
    union ovsdb_atom *atom;
    size_t len;

    if (error) {
        free(error);
        return;
    }
    free(utf8_validate(s, &len));   /* Length in characters, as OVSDB's. */
    if (!len
        || (column == &flexrec_container_col_mac && len != 17)
        || (column == &flexrec_public_ip_col_address
            && (len < 2 || len > 45))) {
        return;
    }
    atom = xmalloc(sizeof *atom);
    atom->s = ovsdb_atom_string_create(CONST_CAST(char *, s));
    reads_clause(table, column, atom);
}

/* The rows that ctl_get_row() may find as 'id' in 'table' (Public_IP or
 * Container): by UUID, by each of the table's name columns, and, for an
 * abbreviated UUID or ".", only among every row. */
static void
reads_row_id(const struct ovsdb_idl_table_class *table, const char *id)
{
    struct uuid uuid;

    if (uuid_from_string(&uuid, id)) {
        reads_uuid(table, &uuid);
    }
    if (!strcmp(id, ".") || uuid_is_partial_string(id) >= 4) {
        reads_whole(table);
    }
    if (table == &flexrec_table_public_ip) {
        reads_string(table, &flexrec_public_ip_col_address, id);
    } else {
        ovs_assert(table == &flexrec_table_container);
        reads_string(table, &flexrec_container_col_name, id);
        reads_string(table, &flexrec_container_col_mac, id);
    }
}

/* The rows that ip_find() may return for 'address': the row that spells
 * it so, and the rows that spell the same address otherwise.  An IPv4
 * address has one spelling that ip_parse_any() takes; an IPv6 address has
 * many, which no condition lists, so then every address is read. */
static void
reads_address(const char *address)
{
    struct in6_addr ip;
    int family;

    reads_row_id(&flexrec_table_public_ip, address);
    if (ip_parse_any(address, &family, &ip) && family == AF_INET6) {
        reads_whole(&flexrec_table_public_ip);
    }
}

/* The mappings of the address that 'address' names, once its row is
 * known. */
static void
reads_mappings_of(struct ctl_context *ctx, const char *address)
{
    const struct flexrec_public_ip *ip = ip_find(ctx, address);

    if (ip) {
        flexrec_mapping_add_clause_ip(reads_cond(&flexrec_table_mapping),
                                      OVSDB_F_EQ, &ip->header_.uuid);
    }
}

/* The containers that container_port_error() compares against: those on
 * interface 'iface' (of any switch: a condition cannot say "and"). */
static void
reads_iface(const char *iface)
{
    reads_string(&flexrec_table_container, &flexrec_container_col_iface,
                 iface);
}

/* What each task command reads, given what the IDL holds so far.  The
 * first call sees an empty IDL. */

static void
need_ip_add(struct ctl_context *ctx)
{
    for (int i = 2; i < ctx->argc; i++) {
        char *address, *error = ip_canonical(ctx->argv[i], &address);

        if (!error) {
            reads_address(address);
            free(address);
        }
        free(error);
    }
}

static void
need_ip_del(struct ctl_context *ctx)
{
    reads_address(ctx->argv[1]);
    if (reads->wide) {
        reads_mappings_of(ctx, ctx->argv[1]);
    }
}

static void
need_tenant_del(struct ctl_context *ctx)
{
    const struct flexrec_tenant *t = tenant_find(ctx, ctx->argv[1]);

    if (t) {
        flexrec_public_ip_add_clause_tenant(
            reads_cond(&flexrec_table_public_ip), OVSDB_F_EQ,
            &t->header_.uuid);
        flexrec_container_add_clause_tenant(
            reads_cond(&flexrec_table_container), OVSDB_F_EQ,
            &t->header_.uuid);
    }
}

static void
need_switch_del(struct ctl_context *ctx)
{
    const struct flexrec_switch *sw = switch_find(ctx, ctx->argv[1]);

    if (sw) {
        flexrec_container_add_clause_switch_(
            reads_cond(&flexrec_table_container), OVSDB_F_EQ,
            &sw->header_.uuid);
    }
}

static void
need_switch_uplink(struct ctl_context *ctx)
{
    if (ctx->argc > 2) {
        reads_iface(ctx->argv[2]);
    }
}

static void
need_container_add(struct ctl_context *ctx)
{
    char *mac, *error = mac_canonical(ctx->argv[3], "a container", &mac);

    reads_row_id(&flexrec_table_container, ctx->argv[2]);
    if (!error) {
        reads_string(&flexrec_table_container, &flexrec_container_col_mac,
                     mac);
        free(mac);
    }
    free(error);
    reads_iface(ctx->argv[5]);
}

static void
need_container_del(struct ctl_context *ctx)
{
    reads_row_id(&flexrec_table_container, ctx->argv[1]);
    if (reads->wide) {
        /* Every mapping that may name it, their addresses and their other
         * backends, so that --force knows which ones it leaves without
         * any. */
        reads_whole(&flexrec_table_mapping);
        reads_whole(&flexrec_table_container);
        reads_whole(&flexrec_table_public_ip);
    }
}

static void
need_container_move(struct ctl_context *ctx)
{
    const struct flexrec_container *c;

    reads_row_id(&flexrec_table_container, ctx->argv[1]);
    if (ctx->argc > 3) {
        reads_iface(ctx->argv[3]);
    } else if ((c = container_find(ctx, ctx->argv[1])) != NULL) {
        reads_iface(c->iface);
    }
}

/* The backends named in map-add's words 'argv[2]'... ('argc' in all), as
 * mapping_parse() finds them. */
static void
need_backends(int argc, char *argv[])
{
    for (int i = 2; i < argc; i++) {
        char *name = xstrdup(argv[i]);
        char *colon = strrchr(name, ':');

        if (colon) {
            *colon = '\0';
        }
        reads_row_id(&flexrec_table_container, name);
        free(name);
    }
}

static void
need_map_add(struct ctl_context *ctx)
{
    char *address, *error = ip_canonical(ctx->argv[1], &address);

    if (!error) {
        reads_address(address);
        if (reads->wide) {
            reads_mappings_of(ctx, address);
        }
        free(address);
    }
    free(error);
    need_backends(ctx->argc - 1, ctx->argv + 1);
}

static void
need_map_del(struct ctl_context *ctx)
{
    char *address, *error = ip_canonical(ctx->argv[1], &address);

    /* ip_lookup() finds the row as spelled, then as canonically spelled. */
    reads_address(ctx->argv[1]);
    if (!error) {
        reads_address(address);
        free(address);
    }
    free(error);
    reads_mappings_of(ctx, ctx->argv[1]);
}

static void
need_nothing(struct ctl_context *ctx OVS_UNUSED)
{
}

struct command_reads {
    const char *name;
    void (*need)(struct ctl_context *);
    bool mappings;              /* Reads mappings even when not 'wide'. */
    bool wide_mappings;         /* Reads mappings when 'wide'. */
};

static const struct command_reads command_reads[] = {
    {"sync", need_nothing, false, false},
    {"tenant-add", need_nothing, false, false},
    {"tenant-del", need_tenant_del, false, false},
    {"ip-add", need_ip_add, false, false},
    {"ip-del", need_ip_del, false, true},
    {"switch-add", need_nothing, false, false},
    {"switch-del", need_switch_del, false, false},
    {"switch-uplink", need_switch_uplink, false, false},
    {"switch-return", need_nothing, false, false},
    {"container-add", need_container_add, false, false},
    {"container-del", need_container_del, false, true},
    {"container-move", need_container_move, false, false},
    {"map-add", need_map_add, false, true},
    {"map-del", need_map_del, true, true},
};

static const struct command_reads *
command_reads_find(const struct ctl_command *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(command_reads); i++) {
        if (!strcmp(c->syntax->name, command_reads[i].name)) {
            return &command_reads[i];
        }
    }
    return NULL;
}

/* Returns a read set for 'commands', or NULL if one of them reads the
 * whole database.  'wide': see the comment at the top. */
static struct read_set *
reads_create(const struct ctl_command *commands, size_t n_commands,
             bool wide)
{
    struct read_set *r;

    for (size_t i = 0; i < n_commands; i++) {
        if (!command_reads_find(&commands[i])) {
            return NULL;
        }
    }
    r = xzalloc(sizeof *r);
    r->wide = wide || dry_run;
    for (size_t i = 0; i < n_commands; i++) {
        const struct command_reads *cr = command_reads_find(&commands[i]);

        if (cr->mappings || (r->wide && cr->wide_mappings)) {
            r->mappings = true;
        }
        if (wait_for_switches && !strcmp(cr->name, "map-add")) {
            /* --wait reads the status of the mapping it writes. */
            r->wide = r->mappings = true;
        }
    }
    for (size_t i = 0; i < FLEXREC_N_TABLES; i++) {
        ovsdb_idl_condition_init(&r->cond[i]);
    }
    return r;
}

static void
reads_destroy(struct read_set *r)
{
    if (r) {
        for (size_t i = 0; i < FLEXREC_N_TABLES; i++) {
            ovsdb_idl_condition_destroy(&r->cond[i]);
        }
        free(r);
    }
}

/* Returns a number that grows with what 'reads' reads. */
static size_t
reads_size(void)
{
    size_t n = 0;

    for (size_t i = 0; i < FLEXREC_N_TABLES; i++) {
        n += (reads->whole[i] ? SIZE_MAX / 8
              : hmap_count(&reads->cond[i].clauses));
    }
    return n;
}

/* Asks every command what it reads, given what 'idl' holds.  Returns true
 * if that is more than before. */
static bool
reads_update(struct ctl_command *commands, size_t n_commands,
             struct ovsdb_idl *idl)
{
    size_t before = reads_size();

    for (struct ctl_command *c = commands; c < &commands[n_commands]; c++) {
        struct ctl_context ctx;

        ds_init(&c->output);
        c->table = NULL;
        ctl_context_init(&ctx, c, idl, NULL, NULL, NULL);
        command_reads_find(c)->need(&ctx);
        ctl_context_done(&ctx, c);
        ds_destroy(&c->output);
    }
    return reads_size() != before;
}

/* Sets the monitor conditions of 'idl' from 'reads'.  Returns the
 * condition sequence number at which 'idl' holds the rows. */
static unsigned int
reads_apply(struct ovsdb_idl *idl)
{
    unsigned int seqno = 0;

    for (size_t i = 0; i < ARRAY_SIZE(narrowed); i++) {
        const struct ovsdb_idl_table_class *table = narrowed[i];
        struct ovsdb_idl_condition cond;

        if (table == &flexrec_table_mapping && !reads->mappings) {
            continue;
        }
        ovsdb_idl_condition_init(&cond);
        ovsdb_idl_condition_add_clause_true(&cond);
        bool whole = reads->whole[table - flexrec_table_classes];

        seqno = MAX(seqno, ovsdb_idl_set_condition(
                        idl, table, whole ? &cond : reads_cond(table)));
        ovsdb_idl_condition_destroy(&cond);
    }
    return seqno;
}

/* Returns true if 'error', a transaction's, is a refusal that reading wide
 * turns into one of the commands' own checks. */
static bool
reads_server_refusal(const char *error)
{
    return reads && !reads->wide && error
           && (strstr(error, "\"constraint violation\"")
               || strstr(error, "\"referential integrity violation\""));
}

/* The driver, as vtep-ctl's. */

static const struct ctl_table_class tables[FLEXREC_N_TABLES] = {
    [FLEXREC_TABLE_TENANT].row_ids[0] = {&flexrec_tenant_col_name, NULL,
                                         NULL},
    [FLEXREC_TABLE_PUBLIC_IP].row_ids[0] = {&flexrec_public_ip_col_address,
                                            NULL, NULL},
    [FLEXREC_TABLE_SWITCH].row_ids = {
        {&flexrec_switch_col_name, NULL, NULL},
        {&flexrec_switch_col_datapath_id, NULL, NULL},
    },
    [FLEXREC_TABLE_CONTAINER].row_ids = {
        {&flexrec_container_col_name, NULL, NULL},
        {&flexrec_container_col_mac, NULL, NULL},
    },
};

/* Returns false, having said why, if a command's prerequisites fail. */
static bool
run_prerequisites(struct ctl_command *commands, size_t n_commands,
                  struct ovsdb_idl *idl)
{
    ovsdb_idl_add_table(idl, &flexrec_table_global);
    if (ctl_might_write_to_db(commands, n_commands)) {
        /* For check_written(). */
        static const struct ovsdb_idl_column *columns[] = {
            &flexrec_global_col_gateway_mac,
            &flexrec_global_col_other_config,
            &flexrec_switch_col_datapath_id,
            &flexrec_switch_col_router_mac,
            &flexrec_switch_col_tunnel_ip,
            &flexrec_container_col_name,
            &flexrec_container_col_mac,
            &flexrec_public_ip_col_address,
            &flexrec_public_ip_col_tenant,
            &flexrec_tenant_col_name,
        };

        for (size_t i = 0; i < ARRAY_SIZE(columns); i++) {
            ovsdb_idl_add_column(idl, columns[i]);
        }
    }
    if (wait_for_switches) {
        /* The statuses say what the controller or a switch refused. */
        static const struct ovsdb_idl_column *columns[] = {
            &flexrec_global_col_next_cfg,
            &flexrec_global_col_cur_cfg,
            &flexrec_global_col_status,
            &flexrec_switch_col_name,
            &flexrec_switch_col_cur_cfg,
            &flexrec_switch_col_status,
            &flexrec_public_ip_col_address,
            &flexrec_public_ip_col_status,
            &flexrec_container_col_name,
            &flexrec_container_col_status,
            &flexrec_mapping_col_ip,
            &flexrec_mapping_col_proto,
            &flexrec_mapping_col_port,
            &flexrec_mapping_col_status,
        };

        for (size_t i = 0; i < ARRAY_SIZE(columns); i++) {
            add_column(idl, columns[i]);
        }
    }
    for (struct ctl_command *c = commands; c < &commands[n_commands]; c++) {
        if (c->syntax->prerequisites) {
            struct ctl_context ctx;

            ds_init(&c->output);
            c->table = NULL;
            ctl_context_init(&ctx, c, idl, NULL, NULL, NULL);
            (c->syntax->prerequisites)(&ctx);
            if (ctx.error) {
                fail(EXIT_FAILURE, "%s", ctx.error);
                ctl_context_done(&ctx, c);
                return false;
            }
            ctl_context_done(&ctx, c);
            ovs_assert(!c->output.string);
            ovs_assert(!c->table);
        }
    }
    return true;
}

static void
print_output(struct ctl_command *c)
{
    struct ds *ds = &c->output;
    struct ds s = DS_EMPTY_INITIALIZER;

    if (c->table) {
        table_format(c->table, &table_style, &s);
    } else if (oneline) {
        ds_chomp(ds, '\n');
        for (size_t j = 0; j < ds->length; j++) {
            int ch = ds->string[j];

            if (ch == '\n') {
                ds_put_cstr(&s, "\\n");
            } else if (ch == '\\') {
                ds_put_cstr(&s, "\\\\");
            } else {
                ds_put_char(&s, ch);
            }
        }
        ds_put_char(&s, '\n');
    } else {
        ds_put_cstr(&s, ds_cstr(ds));
    }
    put_stdout(ds_cstr(&s));
    ds_destroy(&s);
}

/* Fails unless 'key' (if nonnull) is a VXLAN key, as
 * Global:other_config:tunnel-key must be. */
static bool
check_tunnel_key(const char *key)
{
    unsigned long long int value;

    if (key && (!str_to_ullong(key, 0, &value) || value > 0xffffff)) {
        fail(EXIT_FAILURE, "%s: tunnel-key must be 0 to 16777215", key);
        return false;
    }
    return true;
}

/* Returns true if this transaction writes column 'idx' of 'row'. */
static bool
written(const struct ovsdb_idl_row *row, size_t idx)
{
    return row->written && bitmap_is_set(row->written, idx);
}

/* Returns true if this transaction updates column 'idx' of 'row' partially,
 * as db-ctl-base's "add", or "set" of a map key, does when it is the last
 * command: ovsdb_idl_txn_write_partial_set() and _map() keep the update
 * aside (row->set_op_lists and map_op_lists), and neither row->written
 * nor the row shows it until it is committed. */
static bool
partially_written(const struct ovsdb_idl_row *row, size_t idx)
{
    return ((row->set_op_written && bitmap_is_set(row->set_op_written, idx))
            || (row->map_op_written
                && bitmap_is_set(row->map_op_written, idx)));
}

/* Returns true if this transaction updates partially a column whose value
 * check_written() checks and spells canonically (it checks the updates of
 * Global's other_config, whose keys it only reads, as they are).  Every one
 * of them is a string or a set of at most one string, so a partial update
 * of one is the "add" of a value. */
static bool
checked_column_partially_written(struct ovsdb_idl *idl)
{
    static const struct {
        const struct ovsdb_idl_table_class *table;
        const struct ovsdb_idl_column *column;
    } checked[] = {
        {&flexrec_table_global, &flexrec_global_col_gateway_mac},
        {&flexrec_table_switch, &flexrec_switch_col_datapath_id},
        {&flexrec_table_switch, &flexrec_switch_col_router_mac},
        {&flexrec_table_switch, &flexrec_switch_col_tunnel_ip},
        {&flexrec_table_container, &flexrec_container_col_mac},
        {&flexrec_table_public_ip, &flexrec_public_ip_col_address},
    };

    for (size_t i = 0; i < ARRAY_SIZE(checked); i++) {
        size_t idx = checked[i].column - checked[i].table->columns;
        const struct ovsdb_idl_row *row;

        for (row = ovsdb_idl_first_row(idl, checked[i].table); row;
             row = ovsdb_idl_next_row(row)) {
            if (partially_written(row, idx)) {
                return true;
            }
        }
    }
    return false;
}

/* The generic commands (set, create, add...) write what they are given.
 * Checks what this transaction writes into the columns whose values the
 * task commands check, as they check them (MACs that must be unicast,
 * addresses that must be unicast and unique whatever their spelling,
 * datapath ids), and stores those values canonically spelled.  Relations
 * between rows (whose container a mapping may name) are left to
 * flexmap-controller, which checks every row whoever wrote it.  Returns
 * false, having said why, if a value is refused. */
static bool
check_written(struct ovsdb_idl *idl)
{
    const struct flexrec_global *g;
    const struct flexrec_switch *sw;
    const struct flexrec_container *c, *c2;
    const struct flexrec_public_ip *ip, *ip2;
    char *canonical, *error;

    FLEXREC_GLOBAL_FOR_EACH (g, idl) {
        if (written(&g->header_, FLEXREC_GLOBAL_COL_GATEWAY_MAC)
            && g->gateway_mac) {
            error = mac_canonical(g->gateway_mac, "the gateway",
                                  &canonical);
            if (error) {
                fail(EXIT_FAILURE, "%s", error);
                free(error);
                return false;
            }
            if (strcmp(canonical, g->gateway_mac)) {
                flexrec_global_set_gateway_mac(g, canonical);
            }
            free(canonical);
        }
        if (written(&g->header_, FLEXREC_GLOBAL_COL_OTHER_CONFIG)) {
            if (!check_tunnel_key(smap_get(&g->other_config,
                                           "tunnel-key"))) {
                return false;
            }
        }
        if (g->header_.map_op_written
            && bitmap_is_set(g->header_.map_op_written,
                             FLEXREC_GLOBAL_COL_OTHER_CONFIG)) {
            /* "set Global . other_config:tunnel-key=..." updates one key,
             * which the row shows only once committed. */
            struct map_op_list *ops
                = g->header_.map_op_lists[FLEXREC_GLOBAL_COL_OTHER_CONFIG];

            for (struct map_op *op = map_op_list_first(ops); op;
                 op = map_op_list_next(ops, op)) {
                const struct ovsdb_datum *d = map_op_datum(op);

                for (size_t i = 0; i < d->n; i++) {
                    if (map_op_type(op) != MAP_OP_DELETE && d->values
                        && !strcmp(json_string(d->keys[i].s),
                                   "tunnel-key")) {
                        if (!check_tunnel_key(json_string(d->values[i].s))) {
                            return false;
                        }
                    }
                }
            }
        }
    }
    FLEXREC_SWITCH_FOR_EACH (sw, idl) {
        if (written(&sw->header_, FLEXREC_SWITCH_COL_DATAPATH_ID)) {
            error = dpid_canonical(sw->datapath_id, &canonical);
            if (error) {
                fail(EXIT_FAILURE, "%s", error);
                free(error);
                return false;
            }
            if (strcmp(canonical, sw->datapath_id)) {
                flexrec_switch_set_datapath_id(sw, canonical);
            }
            free(canonical);
        }
        if (written(&sw->header_, FLEXREC_SWITCH_COL_ROUTER_MAC)
            && sw->router_mac) {
            error = mac_canonical(sw->router_mac, "a router", &canonical);
            if (error) {
                fail(EXIT_FAILURE, "%s", error);
                free(error);
                return false;
            }
            if (strcmp(canonical, sw->router_mac)) {
                flexrec_switch_set_router_mac(sw, canonical);
            }
            free(canonical);
        }
        if (written(&sw->header_, FLEXREC_SWITCH_COL_TUNNEL_IP)
            && sw->tunnel_ip) {
            error = ip_canonical(sw->tunnel_ip, &canonical);
            if (error) {
                fail(EXIT_FAILURE, "%s", error);
                free(error);
                return false;
            }
            if (strcmp(canonical, sw->tunnel_ip)) {
                flexrec_switch_set_tunnel_ip(sw, canonical);
            }
            free(canonical);
        }
    }
    FLEXREC_CONTAINER_FOR_EACH (c, idl) {
        if (!written(&c->header_, FLEXREC_CONTAINER_COL_MAC)) {
            continue;
        }
        error = mac_canonical(c->mac, "a container", &canonical);
        if (error) {
            fail(EXIT_FAILURE, "%s", error);
            free(error);
            return false;
        }
        FLEXREC_CONTAINER_FOR_EACH (c2, idl) {
            struct eth_addr a, b;

            if (c2 != c && eth_addr_from_string(c2->mac, &a)
                && eth_addr_from_string(canonical, &b)
                && eth_addr_equals(a, b)) {
                fail(EXIT_FAILURE, "MAC %s is already used by container %s",
                     canonical, c2->name ? c2->name : "?");
                free(canonical);
                return false;
            }
        }
        if (strcmp(canonical, c->mac)) {
            flexrec_container_set_mac(c, canonical);
        }
        free(canonical);
    }
    FLEXREC_PUBLIC_IP_FOR_EACH (ip, idl) {
        if (!written(&ip->header_, FLEXREC_PUBLIC_IP_COL_ADDRESS)) {
            continue;
        }
        error = ip_canonical(ip->address, &canonical);
        if (error) {
            fail(EXIT_FAILURE, "%s", error);
            free(error);
            return false;
        }
        FLEXREC_PUBLIC_IP_FOR_EACH (ip2, idl) {
            char *other;

            error = ip2 != ip ? ip_canonical(ip2->address, &other) : NULL;
            if (ip2 != ip && !error) {
                bool same = !strcmp(canonical, other);

                free(other);
                if (same) {
                    fail(EXIT_FAILURE, "%s is owned by tenant %s (as %s)",
                         canonical, ip2->tenant ? ip2->tenant->name : "?",
                         ip2->address);
                    free(canonical);
                    return false;
                }
            }
            free(error);
        }
        if (strcmp(canonical, ip->address)) {
            flexrec_public_ip_set_address(ip, canonical);
        }
        free(canonical);
    }
    return true;
}

/* Frees what the commands of one run wrote for output. */
static void
commands_clear_output(struct ctl_command *commands, size_t n_commands)
{
    for (struct ctl_command *c = commands; c < &commands[n_commands]; c++) {
        ds_destroy(&c->output);
        table_destroy(c->table);
        free(c->table);
        c->table = NULL;
    }
}

/* Drops a run of do_flexmap_ctl() that wrote nothing: its transaction, if
 * any, its symbols, its output, its written rows and its error. */
static void
discard_run(struct ovsdb_idl_txn *txn, struct ovsdb_symbol_table *symtab,
            struct ctl_command *commands, size_t n_commands,
            struct written_row *written_rows, char *error)
{
    if (txn) {
        ovsdb_idl_txn_abort(txn);
        ovsdb_idl_txn_destroy(txn);
        the_idl_txn = NULL;
    }
    ovsdb_symbol_table_destroy(symtab);
    commands_clear_output(commands, n_commands);
    free(written_rows);
    free(error);
}

static bool
do_flexmap_ctl(const char *args, struct ctl_command *commands,
               size_t n_commands, struct ovsdb_idl *idl)
{
    enum ovsdb_idl_txn_status status;
    struct ovsdb_symbol_table *symtab;
    struct ovsdb_idl_txn *txn;
    struct ctl_context ctx;
    struct ctl_command *c;
    struct shash_node *node;
    char *error = NULL;
    struct written_row *written_rows = NULL;
    size_t n_written_rows = 0;
    bool rerun = false;

    txn = the_idl_txn = ovsdb_idl_txn_create(idl);
    if (dry_run) {
        ovsdb_idl_txn_set_dry_run(txn);
    }
    ovsdb_idl_txn_add_comment(txn, "flexmap-ctl: %s", args);

    const struct flexrec_global *global = flexrec_global_first(idl);
    if (!global) {
        global = flexrec_global_insert(txn);
    }
    if (wait_for_switches) {
        /* flexmap-controller sets each switch's cur_cfg to next_cfg once
         * the switch holds what this transaction asks for. */
        ovsdb_idl_txn_increment(txn, &global->header_,
                                &flexrec_global_col_next_cfg, force_wait);
    }

    symtab = ovsdb_symbol_table_create();
    for (c = commands; c < &commands[n_commands]; c++) {
        ds_init(&c->output);
        c->table = NULL;
    }
    ctl_context_init(&ctx, NULL, idl, txn, symtab, NULL);
    for (c = commands; c < &commands[n_commands]; c++) {
        ctl_context_init_command(&ctx, c, (c == &commands[n_commands - 1]
                                           && !whole_writes));
        if (c->syntax->run) {
            (c->syntax->run)(&ctx);
        }
        if (ctx.error) {
            fail(EXIT_FAILURE, "%s", ctx.error);
            ctl_context_done_command(&ctx, c);
            ctl_context_done(&ctx, NULL);
            goto failed;
        }
        ctl_context_done_command(&ctx, c);
        if (ctx.try_again) {
            ctl_context_done(&ctx, NULL);
            goto try_again;
        }
    }
    ctl_context_done(&ctx, NULL);
    if (!whole_writes && checked_column_partially_written(idl)) {
        /* The last command, "add" to a column that check_written() checks,
         * updates it partially, which check_written() cannot see or spell
         * canonically.  Run the commands again, the last one writing whole
         * columns as the others do: the value is checked, and an "add" to
         * a column that holds its one value already fails as it would
         * elsewhere in the transaction. */
        whole_writes = rerun = true;
        goto try_again;
    }
    if (!check_written(idl)) {
        goto failed;
    }

    SHASH_FOR_EACH (node, &symtab->sh) {
        struct ovsdb_symbol *symbol = node->data;

        if (!symbol->created) {
            fail(EXIT_FAILURE, "row id \"%s\" is referenced but never "
                 "created (e.g. with \"-- --id=%s create ...\")",
                 node->name, node->name);
            goto failed;
        }
    }

    if (wait_for_switches) {
        note_written_rows(idl, &written_rows, &n_written_rows);
    }

    status = ovsdb_idl_txn_commit_block(txn);
    for (size_t i = 0; i < n_written_rows; i++) {
        struct written_row *w = &written_rows[i];
        const struct uuid *real;

        if (w->inserted && status == TXN_SUCCESS
            && (real = ovsdb_idl_txn_get_insert_uuid(txn, &w->uuid))) {
            w->uuid = *real;
        }
    }
    if (status == TXN_UNCHANGED || status == TXN_SUCCESS) {
        for (c = commands; c < &commands[n_commands]; c++) {
            if (c->syntax->postprocess) {
                ctl_context_init(&ctx, c, idl, txn, symtab, NULL);
                (c->syntax->postprocess)(&ctx);
                if (ctx.error) {
                    fail(EXIT_FAILURE, "%s", ctx.error);
                    ctl_context_done(&ctx, c);
                    goto failed;
                }
                ctl_context_done(&ctx, c);
            }
        }
    }
    error = xstrdup(ovsdb_idl_txn_get_error(txn));
    int64_t next_cfg = (wait_for_switches && status == TXN_SUCCESS
                        ? ovsdb_idl_txn_get_increment_new_value(txn) : 0);
    ovsdb_idl_txn_destroy(txn);
    txn = the_idl_txn = NULL;

    switch (status) {
    case TXN_UNCOMMITTED:
    case TXN_INCOMPLETE:
        OVS_NOT_REACHED();

    case TXN_ABORTED:
        fail(EXIT_FAILURE, "transaction aborted");
        goto failed;

    case TXN_UNCHANGED:
    case TXN_SUCCESS:
        break;

    case TXN_TRY_AGAIN:
        goto try_again;

    case TXN_ERROR:
        if (reads_server_refusal(error)) {
            read_wider = true;
            goto try_again;
        }
        fail(EXIT_FAILURE, "transaction error: %s", error);
        goto failed;

    case TXN_NOT_LOCKED:
        fail(EXIT_FAILURE, "database not locked");
        goto failed;

    default:
        OVS_NOT_REACHED();
    }
    free(error);
    ovsdb_symbol_table_destroy(symtab);

    bool applied = (!next_cfg
                    || (wait_for_cfg(idl, next_cfg)
                        && check_applied(idl, written_rows,
                                         n_written_rows)));
    free(written_rows);

    for (c = commands; c < &commands[n_commands]; c++) {
        if (applied) {
            print_output(c);
        }
    }
    commands_clear_output(commands, n_commands);
    return true;

failed:
    /* Only the daemon gets here: fail() has recorded why, and a one-shot
     * has exited. */
    discard_run(txn, symtab, commands, n_commands, written_rows, error);
    return true;

try_again:
    /* The transaction must be rerun once the database changes (or at once,
     * if 'rerun', with whole-column writes). */
    discard_run(txn, symtab, commands, n_commands, written_rows, error);
    if (rerun) {
        return do_flexmap_ctl(args, commands, n_commands, idl);
    }
    return false;
}

/* With --wait: returns once every switch listed in the Switch table has
 * 'next_cfg' (or more) in its cur_cfg, which flexmap-controller writes
 * after the switch has acknowledged, with a barrier, everything the
 * database said at 'next_cfg'.  Gives up at the --timeout with exit status
 * 2, as when the database goes away meanwhile: the change itself is
 * committed.  Without a timeout, it says once, after a few seconds, which
 * switches it is still waiting for.  Returns false, having said why, if
 * it gives up. */
static bool
wait_for_cfg(struct ovsdb_idl *idl, int64_t next_cfg)
{
    long long int note = time_msec() + 5000;
    struct svec late = SVEC_EMPTY_INITIALIZER;

    for (;;) {
        const struct flexrec_switch *sw;

        ovsdb_idl_run(idl);
        /* The daemon's connection retries: it fails as soon as it drops. */
        if (serving ? !ovsdb_idl_is_connected(idl)
                    : !ovsdb_idl_is_alive(idl)) {
            fail(2, "%s: database connection failed while waiting for the "
                 "switches (%s); the change is committed", db,
                 ovs_retval_to_string(ovsdb_idl_get_last_error(idl)));
            svec_destroy(&late);
            return false;
        }
        svec_clear(&late);
        FLEXREC_SWITCH_FOR_EACH (sw, idl) {
            if (sw->cur_cfg < next_cfg) {
                svec_add(&late, sw->name);
            }
        }
        if (!late.n) {
            break;
        }

        long long int now = time_msec();
        if (now >= deadline || (!timeout && now >= note)) {
            struct ds what = DS_EMPTY_INITIALIZER;

            svec_sort(&late);
            ds_put_format(&what, "switch%s ", late.n > 1 ? "es" : "");
            for (size_t i = 0; i < late.n; i++) {
                ds_put_format(&what, "%s%s", i ? ", " : "", late.names[i]);
            }
            ds_put_format(&what, " to apply the change (is "
                          "flexmap-controller running, and %s connected "
                          "to it?)", late.n > 1 ? "are the switches"
                                                : "is the switch");
            if (now >= deadline) {
                fail(2, "timed out after %u s waiting for %s", timeout,
                     ds_cstr(&what));
                ds_destroy(&what);
                svec_destroy(&late);
                return false;
            }
            say("still waiting for %s; --timeout limits the wait",
                 ds_cstr(&what));
            ds_destroy(&what);
            note = LLONG_MAX;
        }
        ovsdb_idl_wait(idl);
        poll_timer_wait_until(timeout ? deadline : note);
        poll_block();
    }
    svec_destroy(&late);
    return true;
}

/* Adds to '*rows' the rows of the tables with a status column that the
 * open transaction inserts or changes. */
static void
note_written_rows(struct ovsdb_idl *idl, struct written_row **rows,
                  size_t *n)
{
    static const struct ovsdb_idl_table_class *classes[] = {
        &flexrec_table_global, &flexrec_table_switch,
        &flexrec_table_public_ip, &flexrec_table_container,
        &flexrec_table_mapping,
    };
    size_t allocated = *n;

    for (size_t i = 0; i < ARRAY_SIZE(classes); i++) {
        const struct ovsdb_idl_row *row;

        for (row = ovsdb_idl_first_row(idl, classes[i]); row;
             row = ovsdb_idl_next_row(row)) {
            if ((!row->written && !row->set_op_written
                 && !row->map_op_written) || !row->new_datum) {
                /* Unchanged, or deleted.  A row that only partial updates
                 * change (the last "add", or "set" of a map key, as "set
                 * Mapping M backends:C=0") counts too. */
                continue;
            }
            if (*n >= allocated) {
                *rows = x2nrealloc(*rows, &allocated, sizeof **rows);
            }
            (*rows)[(*n)++] = (struct written_row) {
                .table = classes[i],
                .uuid = row->uuid,
                .inserted = !row->old_datum,
            };
        }
    }
}

/* Appends to 's' the status:error in 'status' of the row that 'what'
 * names, if there is one, and returns true if there is. */
static bool
applied_error(struct ds *s, const char *what, const struct smap *status)
{
    const char *error = smap_get(status, "error");

    if (error) {
        ds_put_format(s, "  %s: %s\n", what, error);
    }
    return error != NULL;
}

/* With --wait, once the switches have the change: exits with status 2,
 * listing them, if any of the 'n' rows in 'rows' that the transaction
 * wrote, or any Switch row, carries an error in its status (the
 * controller refused the row, or a switch refused what it asks for).
 * Returns true if none does. */
static bool
check_applied(struct ovsdb_idl *idl, const struct written_row *rows,
              size_t n)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    const struct flexrec_switch *sw;
    char *what;

    for (size_t i = 0; i < n; i++) {
        const struct uuid *uuid = &rows[i].uuid;

        if (rows[i].table == &flexrec_table_global) {
            const struct flexrec_global *g
                = flexrec_global_get_for_uuid(idl, uuid);

            if (g) {
                applied_error(&s, "Global", &g->status);
            }
        } else if (rows[i].table == &flexrec_table_public_ip) {
            const struct flexrec_public_ip *ip
                = flexrec_public_ip_get_for_uuid(idl, uuid);

            if (ip) {
                what = xasprintf("public address %s", ip->address);
                applied_error(&s, what, &ip->status);
                free(what);
            }
        } else if (rows[i].table == &flexrec_table_container) {
            const struct flexrec_container *c
                = flexrec_container_get_for_uuid(idl, uuid);

            if (c) {
                what = xasprintf("container %s", c->name);
                applied_error(&s, what, &c->status);
                free(what);
            }
        } else if (rows[i].table == &flexrec_table_mapping) {
            const struct flexrec_mapping *m
                = flexrec_mapping_get_for_uuid(idl, uuid);

            if (m) {
                struct ds key = DS_EMPTY_INITIALIZER;

                ds_put_cstr(&key, "mapping ");
                mapping_format_key(m, &key);
                applied_error(&s, ds_cstr(&key), &m->status);
                ds_destroy(&key);
            }
        }
    }
    FLEXREC_SWITCH_FOR_EACH (sw, idl) {
        what = xasprintf("switch %s", sw->name);
        applied_error(&s, what, &sw->status);
        free(what);
    }
    if (s.length) {
        say("the change is committed, but not applied everywhere:");
        put_stderr(ds_cstr(&s));
        ds_destroy(&s);
        fail_noted(2);
        return false;
    }
    ds_destroy(&s);
    return true;
}

/* map-load: replaces every mapping with those of a file.
 *
 * db-ctl-base runs the commands of one call in one transaction, which does
 * not scale to a million mappings.  map-load runs alone instead (main()
 * calls do_map_load() rather than do_flexmap_ctl()): it reads the file
 * once, checks every line as map-add checks its arguments (mapping_parse(),
 * with hash tables in place of db-ctl-base's linear lookups), compares the
 * result with the Mapping table that the IDL holds, and writes only the
 * difference, at most LOAD_BATCH operations per transaction, the last one
 * also incrementing next_cfg for --wait.
 *
 * Between transactions the difference names rows by UUID, not by pointer,
 * since the IDL may drop a row that another client deletes meanwhile.  If
 * one is gone, or a transaction must be tried again, the file is checked
 * and compared again with the database as it is then: replacing is
 * idempotent, so what was written already is simply not written again.  A
 * concurrent client that inserts a mapping that the file also has makes
 * the transaction fail on the index, as two map-add would. */

/* Most operations (inserts, updates, deletes) per transaction.  ovsdb-server
 * handles one transaction at a time: 50,000 keeps each under a second or
 * so, and 1M mappings in about 20 transactions. */
#define LOAD_BATCH 50000

struct load_index {
    struct shash ips;           /* Address, canonical or as spelled. */
    struct shash containers;    /* Name, or other id: Container or NULL. */
};

/* A mapping of the file, its rows named by UUID. */
struct load_mapping {
    struct hmap_node node;      /* In map_load's 'desired'. */
    struct uuid ip;
    const char *proto;          /* A string constant. */
    int64_t port;
    int line;
    bool matched;               /* A Mapping row has its key. */
    size_t n;
    struct load_backend {
        struct uuid container;
        int64_t weight;
    } *backends;
};

enum load_op_type { LOAD_DELETE, LOAD_UPDATE, LOAD_INSERT };

struct load_op {
    enum load_op_type type;
    struct uuid row;                    /* LOAD_DELETE, LOAD_UPDATE. */
    const struct load_mapping *mapping; /* LOAD_UPDATE, LOAD_INSERT. */
};

struct map_load {
    const char *file_name;      /* As given: "-" is stdin. */
    const char *where;          /* For messages: file name or "stdin". */
    struct ds text;             /* The whole file. */
    struct hmap desired;        /* struct load_mapping. */
    struct load_op *ops;        /* The difference. */
    size_t n_ops, allocated_ops;
    size_t n[3];                /* Committed, by enum load_op_type. */
    struct written_row *written_rows;   /* With --wait. */
    size_t n_written_rows;
};

static const struct flexrec_public_ip *
load_index_find_ip(struct load_index *index, const char *address)
{
    return shash_find_data(&index->ips, address);
}

/* Finds container 'id' as container_find() does, by name first from the
 * hash table, otherwise (a MAC, a UUID, or no such container) through
 * db-ctl-base once per distinct 'id'. */
static const struct flexrec_container *
load_index_find_container(struct load_index *index, struct ctl_context *ctx,
                          const char *id)
{
    struct shash_node *node = shash_find(&index->containers, id);
    const struct flexrec_container *c;

    if (node) {
        return node->data;
    }
    c = container_find(ctx, id);
    shash_add(&index->containers, id, c);
    return c;
}

/* An address is found, as ip_find() finds it, by its row's spelling first,
 * then by its canonical spelling, which is the one that mapping_parse()
 * looks up. */
static void
load_index_init(struct load_index *index, struct ovsdb_idl *idl)
{
    const struct flexrec_public_ip *ip;
    const struct flexrec_container *c;

    shash_init(&index->ips);
    shash_init(&index->containers);
    FLEXREC_PUBLIC_IP_FOR_EACH (ip, idl) {
        shash_add_once(&index->ips, ip->address, ip);
    }
    FLEXREC_PUBLIC_IP_FOR_EACH (ip, idl) {
        char *canonical, *error = ip_canonical(ip->address, &canonical);

        if (!error) {
            shash_add_once(&index->ips, canonical, ip);
            free(canonical);
        }
        free(error);
    }
    FLEXREC_CONTAINER_FOR_EACH (c, idl) {
        shash_add_once(&index->containers, c->name, c);
    }
}

static void
load_index_destroy(struct load_index *index)
{
    shash_destroy(&index->ips);
    shash_destroy(&index->containers);
}

static uint32_t
load_mapping_hash(const struct uuid *ip, const char *proto, int64_t port)
{
    return hash_string(proto, hash_int(port, uuid_hash(ip)));
}

static struct load_mapping *
load_mapping_find(const struct hmap *desired, const struct uuid *ip,
                  const char *proto, int64_t port)
{
    struct load_mapping *m;

    HMAP_FOR_EACH_WITH_HASH (m, node, load_mapping_hash(ip, proto, port),
                             desired) {
        if (uuid_equals(&m->ip, ip) && !strcmp(m->proto, proto)
            && m->port == port) {
            return m;
        }
    }
    return NULL;
}

/* Returns true if Mapping 'row' has exactly the backends and weights of
 * 'm', and Mapping:containers lists the same containers (a row that an
 * older flexmap-ctl or another client wrote may lack them). */
static bool
load_mapping_same_backends(const struct flexrec_mapping *row,
                           const struct load_mapping *m)
{
    if (row->n_backends != m->n || row->n_containers != m->n) {
        return false;
    }
    for (size_t i = 0; i < row->n_containers; i++) {
        size_t j;

        for (j = 0; j < row->n_backends; j++) {
            if (row->key_backends[j] == row->containers[i]) {
                break;
            }
        }
        if (j == row->n_backends) {
            return false;
        }
    }
    for (size_t i = 0; i < m->n; i++) {
        size_t j;

        for (j = 0; j < row->n_backends; j++) {
            if (row->key_backends[j]
                && uuid_equals(&row->key_backends[j]->header_.uuid,
                               &m->backends[i].container)) {
                break;
            }
        }
        if (j == row->n_backends
            || row->value_backends[j] != m->backends[i].weight) {
            return false;
        }
    }
    return true;
}

static void
map_load_clear(struct map_load *load)
{
    struct load_mapping *m;

    HMAP_FOR_EACH_POP (m, node, &load->desired) {
        free(m->backends);
        free(m);
    }
    load->n_ops = 0;
}

static void
map_load_destroy(struct map_load *load)
{
    if (load) {
        map_load_clear(load);
        hmap_destroy(&load->desired);
        free(load->ops);
        free(load->written_rows);
        ds_destroy(&load->text);
        free(load);
    }
}

static void
map_load_add_op(struct map_load *load, enum load_op_type type,
                const struct uuid *row, const struct load_mapping *m)
{
    if (load->n_ops >= load->allocated_ops) {
        load->ops = x2nrealloc(load->ops, &load->allocated_ops,
                               sizeof *load->ops);
    }
    load->ops[load->n_ops++] = (struct load_op) {
        .type = type,
        .row = row ? *row : UUID_ZERO,
        .mapping = m,
    };
}

/* Most words on a line that mapping_parse() gets: one more than a mapping
 * may have, so that it says that there are too many backends. */
#define LOAD_MAX_WORDS (MAX_BACKENDS + 3)

/* Says what earlier transactions of 'load' have committed, if anything,
 * before a failure ends the command: a load stops between transactions,
 * and running it again writes the rest. */
static void
map_load_report_partial(const struct map_load *load)
{
    if (load->n[LOAD_INSERT] || load->n[LOAD_UPDATE] || load->n[LOAD_DELETE]) {
        say("%s: already written: %"PRIuSIZE" added, %"PRIuSIZE
             " changed, %"PRIuSIZE" deleted; map-load again writes the "
             "rest", load->where, load->n[LOAD_INSERT],
             load->n[LOAD_UPDATE], load->n[LOAD_DELETE]);
    }
}

/* Checks every line of 'load''s file against the database that 'idl'
 * holds, as map-add checks its arguments, and stores in 'load' the
 * mappings that the file names and the operations that make the Mapping
 * table hold exactly those.  Fails, naming every bad line (up to a
 * limit), if there is one, and then returns false. */
static bool
map_load_diff(struct map_load *load, struct ovsdb_idl *idl)
{
    struct svec errors = SVEC_EMPTY_INITIALIZER;
    const struct flexrec_mapping *row;
    struct load_index index;
    struct ctl_context ctx;
    struct load_mapping *m;
    char *p = ds_cstr(&load->text);
    char *end = p + load->text.length;
    int line = 0;

    map_load_clear(load);
    memset(&ctx, 0, sizeof ctx);
    ctl_context_init(&ctx, NULL, idl, NULL, NULL, NULL);
    load_index_init(&index, idl);
    for (; p < end; p++) {
        char *eol = memchr(p, '\n', end - p);
        char *copy = xmemdup0(p, (eol ? eol : end) - p);
        char *words[LOAD_MAX_WORDS];
        char *save_ptr = NULL;
        struct mapping_spec spec;
        int n_words = 0;
        char *error;

        line++;
        p = eol ? eol : end;
        for (char *w = strtok_r(copy, " \t\r\v\f", &save_ptr);
             w && w[0] != '#'; w = strtok_r(NULL, " \t\r\v\f", &save_ptr)) {
            if (n_words < LOAD_MAX_WORDS) {
                words[n_words++] = w;
            }
        }
        if (!n_words) {
            free(copy);
            continue;
        }

        error = mapping_parse(&ctx, &index, n_words, words, &spec);
        if (!error) {
            const struct uuid *ip = &spec.ip->header_.uuid;
            struct load_mapping *dup = load_mapping_find(&load->desired, ip,
                                                         spec.proto,
                                                         spec.port);
            if (dup) {
                error = xasprintf("%s %s is also on line %d",
                                  spec.address, words[1], dup->line);
            } else {
                m = xmalloc(sizeof *m);
                *m = (struct load_mapping) {
                    .ip = *ip,
                    .proto = spec.proto,
                    .port = spec.port,
                    .line = line,
                    .n = spec.n,
                    .backends = xmalloc(spec.n * sizeof *m->backends),
                };
                for (size_t i = 0; i < spec.n; i++) {
                    m->backends[i].container = spec.backends[i]->header_.uuid;
                    m->backends[i].weight = spec.weights[i];
                }
                hmap_insert(&load->desired, &m->node,
                            load_mapping_hash(ip, spec.proto, spec.port));
            }
        }
        if (error) {
            svec_add_nocopy(&errors, xasprintf("%s:%d: %s", load->where,
                                               line, error));
            free(error);
        }
        free(spec.address);
        free(copy);
    }
    load_index_destroy(&index);
    ctl_context_done(&ctx, NULL);

    if (errors.n) {
        enum { MAX_ERRORS = 20 };

        for (size_t i = 0; i < errors.n && i < MAX_ERRORS; i++) {
            say("%s", errors.names[i]);
        }
        if (errors.n > MAX_ERRORS) {
            say("%s: %"PRIuSIZE" more bad lines", load->where,
                 errors.n - MAX_ERRORS);
        }
        if (load->n[LOAD_INSERT] || load->n[LOAD_UPDATE]
            || load->n[LOAD_DELETE]) {
            /* The database changed between two transactions of this load
             * and made a line bad. */
            say("%s: nothing more written", load->where);
            map_load_report_partial(load);
        } else {
            say("%s: nothing written", load->where);
        }
        svec_destroy(&errors);
        fail_noted(EXIT_FAILURE);
        return false;
    }
    svec_destroy(&errors);

    FLEXREC_MAPPING_FOR_EACH (row, idl) {
        int64_t port = row->n_port ? row->port[0] : 0;

        m = (row->ip
             ? load_mapping_find(&load->desired, &row->ip->header_.uuid,
                                 row->proto, port)
             : NULL);
        if (!m) {
            map_load_add_op(load, LOAD_DELETE, &row->header_.uuid, NULL);
        } else {
            m->matched = true;
            if (!load_mapping_same_backends(row, m)) {
                map_load_add_op(load, LOAD_UPDATE, &row->header_.uuid, m);
            }
        }
    }
    HMAP_FOR_EACH (m, node, &load->desired) {
        if (!m->matched) {
            map_load_add_op(load, LOAD_INSERT, NULL, m);
        }
    }
    return true;
}

/* Writes 'op' into 'txn'.  Returns false if a row that it names is no
 * longer in the database. */
static bool
map_load_apply(const struct load_op *op, struct ovsdb_idl *idl,
               struct ovsdb_idl_txn *txn)
{
    struct flexrec_container *backends[MAX_BACKENDS];
    int64_t weights[MAX_BACKENDS];
    const struct load_mapping *m = op->mapping;
    const struct flexrec_mapping *row = NULL;
    const struct flexrec_public_ip *ip = NULL;

    if (op->type != LOAD_INSERT) {
        row = flexrec_mapping_get_for_uuid(idl, &op->row);
        if (!row) {
            return false;
        }
    }
    if (op->type == LOAD_DELETE) {
        flexrec_mapping_delete(row);
        return true;
    }
    for (size_t i = 0; i < m->n; i++) {
        const struct flexrec_container *c
            = flexrec_container_get_for_uuid(idl, &m->backends[i].container);

        if (!c) {
            return false;
        }
        backends[i] = CONST_CAST(struct flexrec_container *, c);
        weights[i] = m->backends[i].weight;
    }
    if (op->type == LOAD_INSERT) {
        struct flexrec_mapping *new;

        ip = flexrec_public_ip_get_for_uuid(idl, &m->ip);
        if (!ip) {
            return false;
        }
        new = flexrec_mapping_insert(txn);
        flexrec_mapping_set_ip(new, ip);
        flexrec_mapping_set_proto(new, m->proto);
        flexrec_mapping_set_port(new, &m->port, m->port ? 1 : 0);
        row = new;
    }
    mapping_set_backends(row, backends, weights, m->n);
    return true;
}

/* Runs map-load against the database that 'idl' holds, as do_flexmap_ctl()
 * runs other commands.  Returns false if it must run again once the
 * database changes, true once done. */
static bool
do_map_load(struct map_load *load, const char *args, struct ovsdb_idl *idl)
{
    int64_t next_cfg = 0;
    char *s;

    if (!map_load_diff(load, idl)) {
        return true;
    }
    if (dry_run) {
        size_t n[3] = {0, 0, 0};

        for (size_t i = 0; i < load->n_ops; i++) {
            n[load->ops[i].type]++;
        }
        s = xasprintf("%"PRIuSIZE" added, %"PRIuSIZE" changed, %"PRIuSIZE
                      " deleted (dry run: nothing written)\n",
                      n[LOAD_INSERT], n[LOAD_UPDATE], n[LOAD_DELETE]);
        put_stdout(s);
        free(s);
        return true;
    }

    for (size_t i = 0; i < load->n_ops; ) {
        size_t end = MIN(i + LOAD_BATCH, load->n_ops);
        bool last = end == load->n_ops;
        enum ovsdb_idl_txn_status status;
        struct ovsdb_idl_txn *txn;
        size_t n[3] = {0, 0, 0};
        size_t first_written = load->n_written_rows;

        txn = the_idl_txn = ovsdb_idl_txn_create(idl);
        ovsdb_idl_txn_add_comment(txn, "flexmap-ctl: %s (operations %"
                                  PRIuSIZE" to %"PRIuSIZE" of %"PRIuSIZE")",
                                  args, i + 1, end, load->n_ops);
        if (last && wait_for_switches) {
            const struct flexrec_global *global = flexrec_global_first(idl);

            if (!global) {
                global = flexrec_global_insert(txn);
            }
            ovsdb_idl_txn_increment(txn, &global->header_,
                                    &flexrec_global_col_next_cfg, false);
        }
        for (size_t j = i; j < end; j++) {
            if (!map_load_apply(&load->ops[j], idl, txn)) {
                /* Gone meanwhile: compare again. */
                goto try_again;
            }
            n[load->ops[j].type]++;
        }
        if (wait_for_switches) {
            note_written_rows(idl, &load->written_rows,
                              &load->n_written_rows);
        }

        status = ovsdb_idl_txn_commit_block(txn);
        switch (status) {
        case TXN_UNCOMMITTED:
        case TXN_INCOMPLETE:
            OVS_NOT_REACHED();

        case TXN_UNCHANGED:
        case TXN_SUCCESS:
            break;

        case TXN_TRY_AGAIN:
            goto try_again;

        case TXN_ABORTED:
            map_load_report_partial(load);
            fail(EXIT_FAILURE, "transaction aborted");
            goto failed;

        case TXN_ERROR:
            map_load_report_partial(load);
            fail(EXIT_FAILURE, "transaction error: %s",
                 ovsdb_idl_txn_get_error(txn));
            goto failed;

        case TXN_NOT_LOCKED:
            map_load_report_partial(load);
            fail(EXIT_FAILURE, "database not locked");
            goto failed;

        default:
            OVS_NOT_REACHED();
        }
        for (size_t j = first_written; j < load->n_written_rows; j++) {
            struct written_row *w = &load->written_rows[j];
            const struct uuid *real;

            if (w->inserted
                && (real = ovsdb_idl_txn_get_insert_uuid(txn, &w->uuid))) {
                w->uuid = *real;
                w->inserted = false;
            }
        }
        if (last && wait_for_switches && status == TXN_SUCCESS) {
            next_cfg = ovsdb_idl_txn_get_increment_new_value(txn);
        }
        ovsdb_idl_txn_destroy(txn);
        the_idl_txn = NULL;
        for (size_t k = 0; k < ARRAY_SIZE(n); k++) {
            load->n[k] += n[k];
        }
        i = end;
        continue;

    try_again:
        ovsdb_idl_txn_abort(txn);
        ovsdb_idl_txn_destroy(txn);
        the_idl_txn = NULL;
        load->n_written_rows = first_written;
        return false;

    failed:
        /* Only the daemon gets here: a one-shot has exited. */
        ovsdb_idl_txn_destroy(txn);
        the_idl_txn = NULL;
        return true;
    }

    if (next_cfg
        && (!wait_for_cfg(idl, next_cfg)
            || !check_applied(idl, load->written_rows,
                              load->n_written_rows))) {
        return true;
    }
    s = xasprintf("%"PRIuSIZE" added, %"PRIuSIZE" changed, %"PRIuSIZE
                  " deleted\n", load->n[LOAD_INSERT], load->n[LOAD_UPDATE],
                  load->n[LOAD_DELETE]);
    put_stdout(s);
    free(s);
    return true;
}

/* Reads the whole of 'file_name' ("-": stdin) into 'text'.  Returns false,
 * having said why, if it cannot. */
static bool
map_load_read(const char *file_name, struct ds *text)
{
    bool is_stdin = !strcmp(file_name, "-");
    FILE *stream = is_stdin ? stdin : fopen(file_name, "r");

    if (!stream) {
        fail(EXIT_FAILURE, "%s: open failed (%s)", file_name,
             ovs_strerror(errno));
        return false;
    }
    for (;;) {
        size_t n;

        ds_reserve(text, text->length + 65536);
        n = fread(&text->string[text->length], 1,
                  text->allocated - text->length, stream);
        text->length += n;
        if (!n) {
            break;
        }
    }
    bool ok = !ferror(stream);
    if (!ok) {
        fail(EXIT_FAILURE, "%s: read failed (%s)",
             is_stdin ? "stdin" : file_name, ovs_strerror(errno));
    }
    if (!is_stdin) {
        fclose(stream);
    }
    text->string[text->length] = '\0';
    return ok;
}

/* If 'commands' is a map-load, stores in '*loadp' what do_map_load()
 * needs, with the file's content: 'input' if nonnull (the daemon gets it
 * from the client, which read the file), otherwise read from the file.
 * Otherwise stores NULL.  Returns false, having said why, if the command
 * line or the file cannot be used. */
static bool
map_load_create(struct ctl_command *commands, size_t n_commands,
                const char *input, struct map_load **loadp)
{
    struct map_load *load;

    *loadp = NULL;
    for (size_t i = 0; i < n_commands; i++) {
        if (!strcmp(commands[i].syntax->name, "map-load") && n_commands > 1) {
            fail(EXIT_FAILURE, "map-load writes in several transactions, so "
                 "it cannot be joined with other commands");
            return false;
        }
    }
    if (n_commands != 1 || strcmp(commands[0].syntax->name, "map-load")) {
        return true;
    }
    if (serving && !input) {
        fail(EXIT_FAILURE, "%s: the daemon reads no files: flexmap-ctl "
             "sends a map-load file's content to it",
             commands[0].argv[1]);
        return false;
    }

    load = xzalloc(sizeof *load);
    load->file_name = commands[0].argv[1];
    load->where = strcmp(load->file_name, "-") ? load->file_name : "stdin";
    ds_init(&load->text);
    hmap_init(&load->desired);
    if (input) {
        ds_put_cstr(&load->text, input);
    } else if (!map_load_read(load->file_name, &load->text)) {
        map_load_destroy(load);
        return false;
    }
    *loadp = load;
    return true;
}

/* Prerequisites of map-load: only what mapping_parse() and the comparison
 * read, so that a million Mapping rows cost little. */
static void
pre_map_load(struct ctl_context *ctx)
{
    static const struct ovsdb_idl_column *columns[] = {
        &flexrec_tenant_col_name,
        &flexrec_public_ip_col_address,
        &flexrec_public_ip_col_tenant,
        &flexrec_container_col_name,
        &flexrec_container_col_tenant,
        &flexrec_container_col_mac,
        &flexrec_mapping_col_ip,
        &flexrec_mapping_col_proto,
        &flexrec_mapping_col_port,
        &flexrec_mapping_col_backends,
        &flexrec_mapping_col_containers,
    };

    for (size_t i = 0; i < ARRAY_SIZE(columns); i++) {
        ovsdb_idl_add_column(ctx->idl, columns[i]);
    }
}

/* Never called: main() runs map-load through do_map_load(). */
static void
cmd_map_load(struct ctl_context *ctx OVS_UNUSED)
{
    OVS_NOT_REACHED();
}

static const struct ctl_command_syntax flexmap_commands[] = {
    {"show", 0, 0, "", pre_flexmap, cmd_show, NULL, "", RO},
    {"sync", 0, 0, "", pre_sync, cmd_sync, NULL, "", RO},

    {"tenant-add", 1, 1, "TENANT", pre_flexmap, cmd_tenant_add, NULL,
     "--may-exist", RW},
    {"tenant-del", 1, 1, "TENANT", pre_flexmap, cmd_tenant_del, NULL,
     "--if-exists", RW},
    {"ip-add", 2, INT_MAX, "TENANT IP...", pre_flexmap, cmd_ip_add, NULL,
     "--may-exist", RW},
    {"ip-del", 1, 1, "IP", pre_flexmap, cmd_ip_del, NULL, "--if-exists", RW},

    {"switch-add", 2, 4, "NAME DPID [ROLE [TUNNEL_IP]]", pre_flexmap,
     cmd_switch_add, NULL, "--may-exist", RW},
    {"switch-del", 1, 1, "NAME", pre_flexmap, cmd_switch_del, NULL,
     "--if-exists", RW},
    {"switch-uplink", 1, 3, "NAME [PORT ROUTER_MAC]", pre_flexmap,
     cmd_switch_uplink, NULL, "", RW},
    {"switch-return", 2, 2, "NAME gateway|direct", pre_flexmap,
     cmd_switch_return, NULL, "", RW},
    {"container-add", 5, 5, "TENANT NAME MAC SWITCH IFACE", pre_flexmap,
     cmd_container_add, NULL, "--may-exist", RW},
    {"container-del", 1, 1, "NAME", pre_flexmap, cmd_container_del, NULL,
     "--if-exists,--force", RW},
    {"container-move", 2, 3, "NAME SWITCH [IFACE]", pre_flexmap,
     cmd_container_move, NULL, "", RW},

    {"map-add", 3, INT_MAX, "IP PROTO[:PORT] CONTAINER[:WEIGHT]...",
     pre_flexmap, cmd_map_add, NULL, "--may-exist", RW},
    {"map-del", 2, 2, "IP PROTO[:PORT]", pre_flexmap, cmd_map_del, NULL,
     "--if-exists", RW},
    {"map-load", 1, 1, "FILE", pre_map_load, cmd_map_load, NULL, "", RW},

    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, RO},
};

static void
flexmap_ctl_cmd_init(void)
{
    /* No generic "show": it follows references from parents to children,
     * and ours point the other way. */
    ctl_init(&flexrec_idl_class, flexrec_table_classes, tables, NULL,
             flexmap_ctl_exit);
    ctl_register_commands(flexmap_commands);
}

/* Daemon mode.
 *
 * A one-shot flexmap-ctl reads from the database what its commands need,
 * then writes.  Reading costs little for commands that name a few rows
 * (see "Reading only what the commands need"), but some must read what a
 * monitor condition cannot narrow (map-del reads every mapping of its
 * address), and map-load, show and the generic commands read whole
 * tables.  "flexmap-ctl --detach" instead starts a daemon that keeps a
 * replica of the whole database, kept current by the server's updates, and
 * runs command lines that clients send over its unixctl socket: a command
 * line then costs only its own transaction.  It works as ovn-nbctl's
 * daemon does.
 *
 * The client, a flexmap-ctl run with FLEXMAP_CTL_DAEMON (or --unixctl)
 * naming the daemon's socket, parses its command line as a one-shot does,
 * so that a bad one fails the same way without reaching the daemon, and
 * sends it with unixctl command "run": the options that shape what a
 * command line does or prints (--oneline, --dry-run, --wait, --timeout,
 * the table formats, each command's options), "--", then the commands.
 * For map-load the client reads the file (or stdin), as a one-shot would
 * from where it runs, and sends its content along in --daemon-input: the
 * daemon opens no file.  Options that choose a database or how to reach it
 * (--db, the SSL options) belong to the daemon, so a client refuses them.
 *
 * The daemon runs each command line as a one-shot would, with the same
 * checks and messages, except that it replicates every table whole,
 * reading nothing more per command.  It gathers what a one-shot would
 * print and its exit status (see put_stdout(), say() and fail()) and
 * replies with a JSON object, {"status": N, "stdout": "...", "stderr":
 * "..."}, as the reply's text; the client prints both and exits with that
 * status.
 *
 * The daemon runs one command line at a time, so a --wait holds back the
 * others until the switches have the change or its --timeout passes.  If
 * its database connection drops, it refuses command lines, saying so,
 * until it has reconnected, which it keeps trying. */

static void
commands_destroy(struct ctl_command *commands, size_t n_commands)
{
    for (size_t i = 0; i < n_commands; i++) {
        shash_destroy_free_data(&commands[i].options);
    }
    free(commands);
}

/* Fails unless the daemon's connection to the database is up. */
static bool
server_check_connected(struct ovsdb_idl *idl)
{
    if (ovsdb_idl_is_connected(idl)) {
        return true;
    }

    int retval = ovsdb_idl_get_last_error(idl);
    if (retval) {
        fail(EXIT_FAILURE, "%s: the flexmap-ctl daemon has lost its "
             "database connection (%s); it keeps trying to reconnect", db,
             ovs_retval_to_string(retval));
    } else {
        fail(EXIT_FAILURE, "%s: the flexmap-ctl daemon is not connected to "
             "the database; it keeps trying to connect", db);
    }
    return false;
}

/* Runs 'commands' (or 'load') against the replica in 'idl', as main() runs
 * them in a one-shot: again each time the database changes, until they
 * are done, or --timeout passes. */
static void
server_run_commands(const char *args, struct ctl_command *commands,
                    size_t n_commands, struct map_load *load,
                    struct ovsdb_idl *idl)
{
    unsigned int seqno = ovsdb_idl_get_seqno(idl);
    bool now = true;            /* The replica is current. */

    for (;;) {
        ovsdb_idl_run(idl);
        if (!server_check_connected(idl)) {
            return;
        }
        if (now || seqno != ovsdb_idl_get_seqno(idl)) {
            now = false;
            seqno = ovsdb_idl_get_seqno(idl);
            if (load
                ? do_map_load(load, args, idl)
                : do_flexmap_ctl(args, commands, n_commands, idl)) {
                return;
            }
        }
        if (time_msec() >= deadline) {
            /* A one-shot would have been stopped by its alarm, as the
             * client has been. */
            fail(EXIT_FAILURE, "timed out after %u s", timeout);
            return;
        }
        ovsdb_idl_wait(idl);
        if (deadline != LLONG_MAX) {
            poll_timer_wait_until(deadline);
        }
        poll_block();
    }
}

static void
server_cmd_exit(struct unixctl_conn *conn, int argc OVS_UNUSED,
                const char *argv[] OVS_UNUSED, void *exiting_)
{
    bool *exiting = exiting_;

    *exiting = true;
    unixctl_command_reply(conn, NULL);
}

/* unixctl "run OPTION... -- COMMAND...": see "Daemon mode" above. */
static void
server_cmd_run(struct unixctl_conn *conn, int argc, const char *argv_[],
               void *idl_)
{
    struct ovsdb_idl *idl = idl_;
    struct ctl_command *commands = NULL;
    size_t n_commands = 0;
    struct shash local_options;
    struct map_load *load = NULL;
    const char *input = NULL;
    struct svec logged = SVEC_EMPTY_INITIALIZER;
    char *args = NULL;
    char *error;

    /* Copies, since getopt() permutes them; argv[0] is "run". */
    char **argv = xcalloc(argc + 1, sizeof *argv);
    for (int i = 0; i < argc; i++) {
        argv[i] = xstrdup(argv_[i]);
    }

    /* Every command line starts from the defaults, as a one-shot does. */
    serving = true;
    ds_clear(&served_out);
    ds_clear(&served_err);
    served_status = 0;
    oneline = dry_run = wait_for_switches = force_wait = false;
    whole_writes = read_wider = false;
    timeout = 0;
    deadline = LLONG_MAX;
    table_style = (struct table_style) TABLE_STYLE_DEFAULT;
    svec_clear(&forwarded);

    shash_init(&local_options);
    error = parse_options__(argc, argv, &local_options, &input);
    if (!error) {
        error = ctl_parse_commands(argc - optind, argv + optind,
                                   &local_options, &commands, &n_commands);
    }
    shash_destroy_free_data(&local_options);
    if (error) {
        fail(EXIT_FAILURE, "%s", error);
        free(error);
        goto out;
    }

    /* Logged and in the transaction's comment as a one-shot's command
     * line, without a map-load file's content. */
    svec_add(&logged, program_name);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv_[i], "--daemon-input=", 15)) {
            svec_add(&logged, argv_[i]);
        }
    }
    svec_terminate(&logged);
    args = process_escape_args(logged.names);
    VLOG(ctl_might_write_to_db(commands, n_commands) ? VLL_INFO : VLL_DBG,
         "Running %s", args);

    if (timeout) {
        deadline = time_msec() + timeout * 1000LL;
    }
    if (server_check_connected(idl)
        && map_load_create(commands, n_commands, input, &load)
        && run_prerequisites(commands, n_commands, idl)) {
        server_run_commands(args, commands, n_commands, load, idl);
    }

out:;
    struct json *reply = json_object_create();
    json_object_put(reply, "status", json_integer_create(served_status));
    json_object_put_string(reply, "stdout", ds_cstr(&served_out));
    json_object_put_string(reply, "stderr", ds_cstr(&served_err));
    char *reply_s = json_to_string(reply, 0);
    unixctl_command_reply(conn, reply_s);
    free(reply_s);
    json_destroy(reply);

    serving = false;
    ds_clear(&served_out);
    ds_clear(&served_err);
    map_load_destroy(load);
    commands_destroy(commands, n_commands);
    svec_destroy(&logged);
    free(args);
    for (int i = 0; i < argc; i++) {
        free(argv[i]);
    }
    free(argv);
}

/* Before the daemon detaches: exits, saying why, if the Flexmap database
 * cannot be reached at 'db' (a one-shot would say the same), since the
 * daemon would otherwise retry forever before it is ready. */
static void
server_check_db(void)
{
    struct stream *stream;
    bool has_flexmap;
    char *dbs;
    int error;

    if (strchr(db, ',')) {
        return;
    }
    error = stream_open_block(jsonrpc_stream_open(db, &stream, DSCP_DEFAULT),
                              -1, &stream);
    if (error) {
        db_connection_fatal(db, error);
    }
    stream_close(stream);
    dbs = list_server_dbs(db, &has_flexmap);
    free(dbs);
    if (!has_flexmap) {
        db_connection_fatal(db, 0);
    }
}

/* Prints 's' for a shell, quoted if it must be. */
static void
print_shell_word(const char *s)
{
    if (s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789_-+=./,:@%") == strlen(s)) {
        fputs(s, stdout);
        return;
    }
    putchar('\'');
    for (; *s; s++) {
        if (*s == '\'') {
            fputs("'\\''", stdout);
        } else {
            putchar(*s);
        }
    }
    putchar('\'');
}

/* "flexmap-ctl --detach": starts the daemon, prints the line that points
 * clients at it, and returns to the shell once the replica is complete. */
static void
server_main(void)
{
    struct unixctl_server *server;
    bool exiting = false;
    bool ready = false;
    int error;

    server_check_db();
    daemonize_start(false);
    error = unixctl_server_create(unixctl_path, &server);
    if (error) {
        ctl_fatal("failed to create unixctl server (%s)",
                  ovs_retval_to_string(error));
    }
    printf("export %s=", DAEMON_ENV);
    print_shell_word(unixctl_server_get_path(server));
    putchar('\n');
    fflush(stdout);

    struct ovsdb_idl *idl = the_idl = ovsdb_idl_create(db, &flexrec_idl_class,
                                                       true, true);
    ovsdb_idl_set_db_change_aware(idl, true);
    static const struct ovsdb_idl_index_column key_columns[] = {
        {.column = &flexrec_mapping_col_ip},
        {.column = &flexrec_mapping_col_proto},
        {.column = &flexrec_mapping_col_port},
    };
    mapping_by_key = ovsdb_idl_index_create(idl, key_columns,
                                            ARRAY_SIZE(key_columns));
    unixctl_command_register("run", "[OPTION...] -- COMMAND [ARG...]", 0,
                             INT_MAX, server_cmd_run, idl);
    unixctl_command_register("exit", "", 0, 0, server_cmd_exit, &exiting);

    while (!exiting) {
        ovsdb_idl_run(idl);
        if (!ready && ovsdb_idl_has_ever_connected(idl)) {
            VLOG_INFO("%s: holding a replica of the database", db);
            daemonize_complete();
            ready = true;
        }
        unixctl_server_run(server);

        ovsdb_idl_wait(idl);
        unixctl_server_wait(server);
        if (exiting) {
            /* "exit" came in just now: nothing else would wake us. */
            poll_immediate_wake();
        }
        poll_block();
    }
    unixctl_server_destroy(server);
    ovsdb_idl_destroy(idl);
    exit(EXIT_SUCCESS);
}

/* Sends the command line in 'argv' (its commands parsed into 'commands')
 * to the daemon at 'socket', prints what it replies and exits with its
 * exit status. */
static void
client_main(const char *socket, int argc, char *argv[],
            struct ctl_command *commands, size_t n_commands)
{
    struct svec args = SVEC_EMPTY_INITIALIZER;
    struct map_load *load;

    if (refused_option) {
        ctl_fatal("--%s cannot be used with the flexmap-ctl daemon at %s, "
                  "which has its own database connection (unset %s to run "
                  "without it)", refused_option, socket, DAEMON_ENV);
    }
    if (!timeout) {
        const char *env = getenv("OVS_CTL_TIMEOUT");

        if (env && env[0] && str_to_uint(env, 10, &timeout) && timeout) {
            svec_add_nocopy(&forwarded, xasprintf("--timeout=%u", timeout));
        }
    }
    if (timeout) {
        /* As a one-shot's: the daemon gives up at the same time. */
        time_alarm(wait_for_switches && timeout < UINT_MAX
                   ? timeout + 1 : timeout);
    }

    svec_append(&args, &forwarded);
    map_load_create(commands, n_commands, NULL, &load);
    if (load) {
        svec_add_nocopy(&args, xasprintf("--daemon-input=%s",
                                         ds_cstr(&load->text)));
        map_load_destroy(load);
    }
    svec_add(&args, "--");
    for (int i = optind; i < argc; i++) {
        svec_add(&args, argv[i]);
    }
    commands_destroy(commands, n_commands);

    struct jsonrpc *client;
    char *result = NULL, *error = NULL;
    int retval = unixctl_client_create(socket, &client);
    if (retval) {
        ctl_fatal("%s: cannot reach the flexmap-ctl daemon (%s); start one "
                  "with \"flexmap-ctl --detach\", or unset %s to run "
                  "without it", socket, ovs_strerror(retval), DAEMON_ENV);
    }
    retval = unixctl_client_transact(client, "run", args.n, args.names,
                                     &result, &error);
    if (retval) {
        ctl_fatal("%s: the flexmap-ctl daemon did not answer (%s)", socket,
                  ovs_retval_to_string(retval));
    }
    if (error) {
        ctl_fatal("%s: the flexmap-ctl daemon refused the command line: %s",
                  socket, error);
    }

    struct json *reply = json_from_string(result ? result : "");
    const struct json *status = (reply->type == JSON_OBJECT
                                 ? shash_find_data(json_object(reply),
                                                   "status") : NULL);
    const struct json *out = (status ? shash_find_data(json_object(reply),
                                                       "stdout") : NULL);
    const struct json *err = (status ? shash_find_data(json_object(reply),
                                                       "stderr") : NULL);
    if (!status || status->type != JSON_INTEGER
        || !out || out->type != JSON_STRING
        || !err || err->type != JSON_STRING) {
        ctl_fatal("%s: unexpected reply from the flexmap-ctl daemon: %s",
                  socket, result ? result : "");
    }
    fputs(json_string(out), stdout);
    fputs(json_string(err), stderr);
    int exit_status = json_integer(status);

    json_destroy(reply);
    free(result);
    jsonrpc_close(client);
    svec_destroy(&args);
    exit(exit_status);
}
