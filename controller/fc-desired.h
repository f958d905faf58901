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
#ifndef FLEXMAP_CONTROLLER_FC_DESIRED_H
#define FLEXMAP_CONTROLLER_FC_DESIRED_H 1

/* The desired state: the map entries that each switch should hold, made
 * from the Mapping rows, and, per switch and per map key, what the switch
 * should hold ('want') beside what it holds ('have'), which fc-switch.c
 * syncs.  Also the Global settings that entries and rules use (gateway
 * MAC, tunnel key) and the checks of the Mapping and Global rows.  See
 * fc-desired.c. */

#include <stdbool.h>
#include <stddef.h>
#include "flexmap.h"
#include "openvswitch/hmap.h"
#include "openvswitch/list.h"
#include "openvswitch/types.h"
#include "uuid.h"

struct fc_ctx;
struct fc_switch;
struct flexrec_mapping;
struct flexrec_switch;
struct in6_addr;

/* A map entry's backends, as the database wants them on one switch or as
 * the switch holds them.  Shared: once a switch holds what it should, its
 * slot's 'want' and 'have' are one value (so are 'refused_val' and the
 * 'want' it was), counted in 'n_refs'.  Never modified once made. */
struct fc_val {
    unsigned int n_refs;
    unsigned int n;
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

/* What the controller last made of a Mapping row: its key, so that a
 * change or a delete knows which entry to take away. */
struct fc_mapping {
    struct hmap_node uuid_node;     /* In fc_mappings' 'by_uuid'. */
    struct hmap_node key_node;      /* In fc_mappings' 'by_key'. */
    struct uuid uuid;
    struct flexmap_key key;
};

/* What the controller knows of a container: the switch row it is behind,
 * so that when it moves or goes, the switch it leaves is known (its entries
 * and rules are recomputed, no other's), and the Mapping rows that name it,
 * so that a change to it recomputes those and no others.  'mappings' may
 * also list rows that no longer name it or are gone, or list a row twice:
 * fc_container_mappings() verifies them and drops those. */
struct fc_container {
    struct hmap_node node;          /* In fc_mappings' 'containers'. */
    struct uuid uuid;
    struct uuid sw;                 /* The switch row it is behind... */
    bool placed;                    /* ...if this is true. */
    struct uuid *mappings;          /* Mapping rows that may name it. */
    size_t n_mappings, allocated_mappings;
    size_t n_verified;              /* 'n_mappings' when last verified. */
};

/* The Mapping rows that have a usable key ("struct fc_mapping"s), and the
 * containers they name ("struct fc_container"s). */
struct fc_mappings {
    struct hmap by_uuid;
    struct hmap by_key;
    struct hmap containers;
    ovs_be64 tunnel_key;        /* fc_tunnel_key() that the wanted entries'
                                 * tunnel backends carry. */
};

void fc_mappings_init(struct fc_mappings *);
void fc_mappings_destroy(struct fc_mappings *);

struct fc_container *fc_container_find(const struct fc_mappings *,
                                       const struct uuid *);
void fc_container_place(struct fc_mappings *, const struct uuid *container,
                        const struct uuid *sw);
void fc_containers_clear(struct fc_mappings *);
void fc_containers_sweep(struct fc_ctx *);
void fc_container_add_mapping(struct fc_ctx *, const struct flexrec_mapping *,
                              bool fresh);
struct hmapx;
struct flexrec_container;
void fc_container_mappings(struct fc_ctx *, const struct flexrec_container *,
                           struct hmapx *);

/* The Global row. */
const char *fc_gateway_mac(struct fc_ctx *);
ovs_be64 fc_tunnel_key(struct fc_ctx *);
void fc_global_check(struct fc_ctx *);
bool fc_tunnel_ip(const struct flexrec_switch *, struct in6_addr *,
                  char **text);

/* Mappings. */
bool fc_mapping_key(struct fc_ctx *, const struct flexrec_mapping *,
                    struct flexmap_key *);
struct fc_val *fc_mapping_val(struct fc_ctx *, const struct flexrec_mapping *,
                              const struct flexmap_key *,
                              const struct fc_switch *);
struct fc_mapping *fc_mapping_find(struct fc_ctx *, const struct uuid *);
void fc_mapping_forget(struct fc_ctx *, struct fc_mapping *);
void fc_mapping_remember(struct fc_ctx *, const struct flexrec_mapping *,
                         const struct flexmap_key *);
const struct flexrec_mapping *fc_mapping_by_key(struct fc_ctx *,
                                                const struct flexmap_key *);
void fc_mapping_check(struct fc_ctx *, const struct flexrec_mapping *);
void fc_recheck_key(struct fc_ctx *, const struct flexmap_key *);

/* Values and slots. */
struct fc_val *fc_val_from_entry(const struct flexmap_entry *);
struct fc_val *fc_val_ref(struct fc_val *);
void fc_val_unref(struct fc_val *);
bool fc_val_equal(const struct fc_val *, const struct fc_val *);
struct fc_slot *fc_slot_find(const struct fc_switch *,
                             const struct flexmap_key *);
struct fc_slot *fc_slot_get(struct fc_switch *, const struct flexmap_key *);
void fc_slot_list(struct fc_switch *, struct fc_slot *);
void fc_slot_want(struct fc_switch *, const struct flexmap_key *,
                  struct fc_val *);
void fc_slots_clear(struct fc_ctx *, struct fc_switch *);
void fc_switch_full(struct fc_ctx *, struct fc_switch *);

#endif /* fc-desired.h */
