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
#ifndef FLEXMAP_CONTROLLER_FC_CTX_H
#define FLEXMAP_CONTROLLER_FC_CTX_H 1

/* flexmap-controller's state: one "struct fc_ctx" holds everything the
 * controller knows and keeps, and is passed to every function that needs
 * more than its arguments.  Each part of it belongs to one file:
 *
 *   fc-inputs.c    follows the database's changes (one handler per table)
 *                  into the parts below;
 *   fc-claims.c    tenancy: who owns each public address, container MAC
 *                  and container interface ('tenancy');
 *   fc-desired.c   the Mapping rows and the containers they name, with
 *                  where each container is ('mappings'), and the map
 *                  entries each switch should hold;
 *   fc-flows.c     the pipeline rules each switch should hold, in groups
 *                  by what makes them (fc_switch's 'want_flows');
 *   fc-switch.c    the switch connections ('switches'): roles, dumps, what
 *                  each holds, and the sync of wanted against held;
 *   fc-status.c    the election ('election'), the rows' problems and what
 *                  the primary writes back ('status');
 *   fc-reactive.c  the reactive mode's packet-ins;
 *   fc-scope.c     which switches and rows the controller covers: all, or
 *                  one switch's in per-host mode ('scope');
 *   fc-repair.c    the central primary's repair of Mapping:containers,
 *                  on a connection of its own ('repair');
 *   flexmap-controller.c  main(), options, the main loop, unixctl. */

#include <stdbool.h>
#include <stdint.h>
#include "fc-claims.h"
#include "fc-desired.h"
#include "fc-repair.h"
#include "fc-scope.h"
#include "fc-status.h"
#include "openvswitch/list.h"

struct ovsdb_idl;

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
    struct fc_scope scope;
    struct fc_repair repair;
};

/* Every file of the controller logs under the module that
 * flexmap-controller.c defines, "flexmap_controller", so that the log lines
 * and the levels that users set for it (-vflexmap_controller:dbg) cover the
 * whole controller.  A file other than flexmap-controller.c does
 * "#define this_module FC_VLOG_MODULE" in place of
 * VLOG_DEFINE_THIS_MODULE. */
extern struct vlog_module *VLM_flexmap_controller;
#define FC_VLOG_MODULE (*VLM_flexmap_controller)

#endif /* fc-ctx.h */
