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
#ifndef FLEXMAP_CONTROLLER_FC_CLAIMS_H
#define FLEXMAP_CONTROLLER_FC_CLAIMS_H 1

/* Tenancy: one owner for every public address, container MAC and
 * container interface, whatever the rows' spellings, and the checks of the
 * rows that claim them.  See fc-claims.c. */

#include <stdbool.h>
#include "openvswitch/hmap.h"
#include "openvswitch/shash.h"
#include "sset.h"

struct eth_addr;
struct fc_ctx;
struct flexrec_container;
struct flexrec_public_ip;
struct hmapx;
struct in6_addr;

/* The claims of the rows of one table to their values (see the comment on
 * struct fc_claim in fc-claims.c). */
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

void fc_tenancy_init(struct fc_tenancy *);
void fc_tenancy_destroy(struct fc_tenancy *);

/* Parsing values. */
char *fc_unicast_mac(const char *s, const char *what, struct eth_addr *);
char *fc_ip_parse(const char *s, struct in6_addr *, char **text);

/* Change handlers: who owns what, after a change to Public_IP or
 * Container. */
void fc_ips_refresh(struct fc_ctx *, struct hmapx *changed);
void fc_macs_refresh(struct fc_ctx *, struct hmapx *changed);
void fc_ports_refresh(struct fc_ctx *, struct hmapx *changed);

/* Queries. */
const char *fc_ip_owned(struct fc_ctx *, const struct flexrec_public_ip *,
                        struct in6_addr *);
const char *fc_container_built(struct fc_ctx *,
                               const struct flexrec_container *,
                               struct eth_addr *);

void fc_container_check(struct fc_ctx *, const struct flexrec_container *);
void fc_respell(struct fc_ctx *);

#endif /* fc-claims.h */
