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
#ifndef FLEXMAP_CONTROLLER_FC_REPAIR_H
#define FLEXMAP_CONTROLLER_FC_REPAIR_H 1

/* The central primary's repair of Mapping:containers.  See fc-repair.c. */

struct fc_ctx;
struct ovsdb_idl;
struct ovsdb_idl_txn;

struct fc_repair {
    struct ovsdb_idl *idl;      /* The Mapping rows without containers;
                                 * NULL in per-host and reactive modes. */
    struct ovsdb_idl_txn *txn;  /* Repairing them. */
};

void fc_repair_init(struct fc_ctx *);
void fc_repair_destroy(struct fc_ctx *);
void fc_repair_run(struct fc_ctx *);
void fc_repair_wait(struct fc_ctx *);

#endif /* fc-repair.h */
