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
/* Tenancy: the claims of rows to values that must have one owner whatever
 * their spelling (public addresses, container MACs), the choice of one
 * tenant per container interface, and the checks of the Public_IP and
 * Container rows that follow from them.  The primary rewrites the owners'
 * values in their canonical spelling (fc_respell()). */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fc-claims.h"
#include "fc-ctx.h"
#include "fc-status.h"
#include "fc-switch.h"
#include "flexmap.h"
#include "flexmap/controller/flexmap-idl.h"
#include "hash.h"
#include "hmapx.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "util.h"
#include "uuid.h"

/* Logs as "flexmap_controller" (see fc-ctx.h). */
#define this_module FC_VLOG_MODULE

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

/* Returns NULL if 's' is a unicast Ethernet address, storing it in '*mac',
 * otherwise why not (malloc()'d), naming it 'what'. */
char *
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
char *
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

void
fc_tenancy_init(struct fc_tenancy *t)
{
    fc_claims_init(&t->ips, fc_ip_parse);
    fc_claims_init(&t->macs, fc_mac_parse);
    shash_init(&t->port_tenants);
    sset_init(&t->port_refused);
    t->respell_needed = false;
}

void
fc_tenancy_destroy(struct fc_tenancy *t)
{
    fc_claims_destroy(&t->ips);
    fc_claims_destroy(&t->macs);
    shash_destroy_free_data(&t->port_tenants);
    sset_destroy(&t->port_refused);
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
        if (!c->canonical && !ctx->scope.switch_name) {
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
const char *
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
void
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
void
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
void
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
const char *
fc_container_built(struct fc_ctx *ctx, const struct flexrec_container *c,
                   struct eth_addr *mac)
{
    char uuid[UUID_LEN + 1];

    snprintf(uuid, sizeof uuid, UUID_FMT, UUID_ARGS(&c->header_.uuid));
    return (sset_contains(&ctx->tenancy.port_refused, uuid) ? NULL
            : fc_container_mac(ctx, c, mac));
}

/* Checks container 'c': its MAC and, once its switch is connected, its
 * interface there. */
void
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

/* In the open status transaction, rewrites every owned public address and
 * container MAC that is not canonically spelled into its canonical
 * spelling, so that no other row can spell it canonically and win it
 * after a restart. */
void
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
