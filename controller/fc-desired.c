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
/* The desired state of the map tables: for every switch, the entry that
 * each mapping should have there (its backends behind that switch, or, on
 * a gateway, through a tunnel to the switch they are behind), kept per key
 * beside what the switch holds ("struct fc_slot"), so that fc-switch.c
 * sends only what differs.  Also what the controller made of each Mapping
 * row (its key), the Global settings that entries and rules use, and the
 * checks of the Mapping and Global rows. */

#include <config.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fc-claims.h"
#include "fc-ctx.h"
#include "fc-desired.h"
#include "fc-status.h"
#include "fc-switch.h"
#include "flexmap.h"
#include "flexmap/controller/flexmap-idl.h"
#include "flow.h"
#include "hmapx.h"
#include "openvswitch/dynamic-string.h"
#include "ovsdb-data.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "smap.h"
#include "util.h"

/* Logs as "flexmap_controller" (see fc-ctx.h). */
#define this_module FC_VLOG_MODULE

/* Returns the gateway MAC, canonically spelled, or NULL if there is none
 * or if Global:gateway_mac is no unicast MAC (then there is no pipeline:
 * nothing answers from it). */
const char *
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
void
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
bool
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
bool
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
    if (m->ip && !weight && !s.length && !ctx->scope.switch_name) {
        /* (In per-host mode, the backends elsewhere are not seen.) */
        ds_put_cstr(&s, "no backend has a nonzero weight");
    }
    return s.length ? ds_steal_cstr(&s) : NULL;
}

/* The VXLAN key of tunnel backends: Global:other_config:tunnel-key,
 * default 0.  A key out of range is reported in Global's status
 * (fc_global_check()) and tunnels use 0. */
ovs_be64
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

    if (strcmp(gw->role, "gateway") || port == OFPP_NONE || !host
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
struct fc_val *
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
    val->n_refs = 1;
    val->n = e.n_backends;
    memcpy(val->backends, e.backends, e.n_backends * sizeof *val->backends);
    return val;
}

struct fc_val *
fc_val_from_entry(const struct flexmap_entry *e)
{
    struct fc_val *val = xmalloc(sizeof *val
                                 + e->n_backends * sizeof *val->backends);

    val->n_refs = 1;
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

/* Returns another reference to 'val' (which may be NULL). */
struct fc_val *
fc_val_ref(struct fc_val *val)
{
    if (val) {
        val->n_refs++;
    }
    return val;
}

/* Lets go of one reference to 'val' (which may be NULL). */
void
fc_val_unref(struct fc_val *val)
{
    if (val && !--val->n_refs) {
        free(val);
    }
}

bool
fc_val_equal(const struct fc_val *a, const struct fc_val *b)
{
    return a == b || (a->n == b->n
                      && !memcmp(a->backends, b->backends,
                                 a->n * sizeof *a->backends));
}

struct fc_slot *
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

struct fc_slot *
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

void
fc_slot_list(struct fc_switch *sw, struct fc_slot *slot)
{
    if (!slot->listed) {
        slot->listed = true;
        ovs_list_push_back(&sw->dirty, &slot->dirty_node);
    }
}

/* Sets what 'sw' should hold at 'key' to 'val' (NULL: nothing), taking
 * ownership of 'val'. */
void
fc_slot_want(struct fc_switch *sw, const struct flexmap_key *key,
             struct fc_val *val)
{
    struct fc_slot *slot = val ? fc_slot_get(sw, key) : fc_slot_find(sw, key);

    if (slot && !slot->stale
        && (val ? slot->want && fc_val_equal(val, slot->want) : !slot->want)) {
        fc_val_unref(val);      /* No change. */
    } else if (slot) {
        fc_val_unref(slot->want);
        slot->want = val;
        fc_slot_list(sw, slot);
    }
}

void
fc_slots_clear(struct fc_ctx *ctx, struct fc_switch *sw)
{
    struct fc_slot *slot;

    HMAP_FOR_EACH_POP (slot, node, &sw->slots) {
        if (slot->refused) {
            free(slot->refused);
            fc_val_unref(slot->refused_val);
            fc_recheck_key(ctx, &slot->key);
        }
        fc_val_unref(slot->want);
        fc_val_unref(slot->have);
        free(slot);
    }
    ovs_list_init(&sw->dirty);
    sw->n_refused_entries = 0;
}

void
fc_mappings_init(struct fc_mappings *mappings)
{
    hmap_init(&mappings->by_uuid);
    hmap_init(&mappings->by_key);
    hmap_init(&mappings->containers);
}

struct fc_container *
fc_container_find(const struct fc_mappings *mappings, const struct uuid *uuid)
{
    struct fc_container *fc;

    HMAP_FOR_EACH_WITH_HASH (fc, node, uuid_hash(uuid),
                             &mappings->containers) {
        if (uuid_equals(&fc->uuid, uuid)) {
            return fc;
        }
    }
    return NULL;
}

static struct fc_container *
fc_container_get(struct fc_mappings *mappings, const struct uuid *uuid)
{
    struct fc_container *fc = fc_container_find(mappings, uuid);

    if (!fc) {
        fc = xzalloc(sizeof *fc);
        fc->uuid = *uuid;
        hmap_insert(&mappings->containers, &fc->node, uuid_hash(uuid));
    }
    return fc;
}

static void
fc_container_free(struct fc_mappings *mappings, struct fc_container *fc)
{
    hmap_remove(&mappings->containers, &fc->node);
    free(fc->mappings);
    free(fc);
}

/* Records that the container with UUID 'container' is behind the switch
 * row with UUID 'sw', or, if 'sw' is NULL, that the replica no longer
 * holds it.  (A deleted container is named by no mapping, the references
 * being strong; in per-host mode, a container that moved away may still be
 * named by mappings that the replica keeps for other containers, and may
 * come back: its list of mappings is kept.) */
void
fc_container_place(struct fc_mappings *mappings,
                   const struct uuid *container, const struct uuid *sw)
{
    if (sw) {
        struct fc_container *fc = fc_container_get(mappings, container);

        fc->sw = *sw;
        fc->placed = true;
    } else {
        struct fc_container *fc = fc_container_find(mappings, container);

        if (fc) {
            fc->placed = false;
            if (!fc->n_mappings) {
                fc_container_free(mappings, fc);
            }
        }
    }
}

/* Forgets every container and its list of mappings. */
void
fc_containers_clear(struct fc_mappings *mappings)
{
    struct fc_container *fc;

    HMAP_FOR_EACH_SAFE (fc, node, &mappings->containers) {
        fc_container_free(mappings, fc);
    }
}

/* Returns the backends of mapping 'm' as the database has them: their
 * keys are the containers' UUIDs, including those of containers that the
 * replica does not hold (m->key_backends leaves those out). */
static const struct ovsdb_datum *
fc_mapping_backends(const struct flexrec_mapping *m)
{
    return flexrec_mapping_get_backends(m, OVSDB_TYPE_UUID,
                                        OVSDB_TYPE_INTEGER);
}

/* Returns true if mapping 'm' names the container with 'uuid'. */
static bool
fc_mapping_names(const struct flexrec_mapping *m, const struct uuid *uuid)
{
    union ovsdb_atom atom = { .uuid = *uuid };

    return ovsdb_datum_find_key(fc_mapping_backends(m), &atom,
                                OVSDB_TYPE_UUID, NULL);
}

/* Drops from 'fc''s list of mappings those that are gone or no longer name
 * it, and the duplicates, and, if 'out' is nonnull, adds the others' rows
 * to 'out'. */
static void
fc_container_verify(struct fc_ctx *ctx, struct fc_container *fc,
                    struct hmapx *out)
{
    struct hmapx seen = HMAPX_INITIALIZER(&seen);
    size_t n = 0;

    for (size_t i = 0; i < fc->n_mappings; i++) {
        const struct flexrec_mapping *m
            = flexrec_mapping_get_for_uuid(ctx->idl, &fc->mappings[i]);

        if (m && fc_mapping_names(m, &fc->uuid)
            && hmapx_add(&seen, CONST_CAST(struct flexrec_mapping *, m))) {
            fc->mappings[n++] = fc->mappings[i];
            if (out) {
                hmapx_add(out, CONST_CAST(struct flexrec_mapping *, m));
            }
        }
    }
    hmapx_destroy(&seen);
    fc->n_mappings = fc->n_verified = n;
}

/* Lists mapping 'm' with each container it names.  A mapping that changes
 * is listed again, without a search for where it is listed already: the
 * lists are verified (their duplicates and stale rows dropped) whenever
 * they have doubled since they last were, so that they stay in proportion
 * to the mappings that name each container and an update costs the same
 * whatever their length.  'fresh': the lists are being built afresh from
 * every row, and hold only what is listed since. */
void
fc_container_add_mapping(struct fc_ctx *ctx, const struct flexrec_mapping *m,
                         bool fresh)
{
    const struct ovsdb_datum *backends = fc_mapping_backends(m);

    /* Every container that 'm' names, also those that the replica does
     * not hold (yet). */
    for (size_t i = 0; i < backends->n; i++) {
        struct fc_container *fc
            = fc_container_get(&ctx->mappings, &backends->keys[i].uuid);

        if (!fresh && fc->n_mappings >= 2 * fc->n_verified + 16) {
            fc_container_verify(ctx, fc, NULL);
        }
        if (fc->n_mappings >= fc->allocated_mappings) {
            fc->mappings = x2nrealloc(fc->mappings, &fc->allocated_mappings,
                                      sizeof *fc->mappings);
        }
        fc->mappings[fc->n_mappings++] = m->header_.uuid;
        if (fresh) {
            fc->n_verified = fc->n_mappings;
        }
    }
}

/* Per-host mode: frees the entries of containers that the replica does not
 * hold and that no mapping it holds names any more (containers that moved
 * away, and other hosts' containers named by mappings that left with
 * them), once they outnumber the others, so that what an agent keeps
 * follows what its switch holds over a long run. */
void
fc_containers_sweep(struct fc_ctx *ctx)
{
    struct fc_container *fc;
    size_t n_placed = 0;

    HMAP_FOR_EACH (fc, node, &ctx->mappings.containers) {
        n_placed += fc->placed;
    }
    if (hmap_count(&ctx->mappings.containers) <= 2 * n_placed + 64) {
        return;
    }
    HMAP_FOR_EACH_SAFE (fc, node, &ctx->mappings.containers) {
        if (!fc->placed) {
            fc_container_verify(ctx, fc, NULL);
            if (!fc->n_mappings) {
                fc_container_free(&ctx->mappings, fc);
            }
        }
    }
}

/* Adds to 'out' the Mapping rows that name container 'c'. */
void
fc_container_mappings(struct fc_ctx *ctx, const struct flexrec_container *c,
                      struct hmapx *out)
{
    struct fc_container *fc = fc_container_find(&ctx->mappings,
                                                &c->header_.uuid);

    if (fc) {
        fc_container_verify(ctx, fc, out);
    }
}

void
fc_mappings_destroy(struct fc_mappings *mappings)
{
    struct fc_mapping *fm;

    struct fc_container *fc;

    HMAP_FOR_EACH_POP (fm, uuid_node, &mappings->by_uuid) {
        free(fm);
    }
    HMAP_FOR_EACH_POP (fc, node, &mappings->containers) {
        free(fc->mappings);
        free(fc);
    }
    hmap_destroy(&mappings->by_uuid);
    hmap_destroy(&mappings->by_key);
    hmap_destroy(&mappings->containers);
}

struct fc_mapping *
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

void
fc_mapping_forget(struct fc_ctx *ctx, struct fc_mapping *fm)
{
    hmap_remove(&ctx->mappings.by_uuid, &fm->uuid_node);
    hmap_remove(&ctx->mappings.by_key, &fm->key_node);
    free(fm);
}

void
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
const struct flexrec_mapping *
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
void
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
void
fc_recheck_key(struct fc_ctx *ctx, const struct flexmap_key *key)
{
    const struct flexrec_mapping *m = fc_mapping_by_key(ctx, key);

    if (m) {
        fc_mapping_check(ctx, m);
    }
}

/* Recomputes every map entry that 'sw' should hold. */
void
fc_switch_full(struct fc_ctx *ctx, struct fc_switch *sw)
{
    const struct flexrec_mapping *m;
    struct fc_slot *slot;

    sw->row = fc_switch_row(ctx, sw);
    HMAP_FOR_EACH (slot, node, &sw->slots) {
        fc_val_unref(slot->want);
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
