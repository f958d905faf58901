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

#include <config.h>
#include "ofproto-flexmap.h"

#include <errno.h>
#include <stdlib.h>
#include "coverage.h"
#include "dp-packet.h"
#include "dpif.h"
#include "flexmap-cache.h"
#include "flexmap.h"
#include "flow.h"
#include "hash.h"
#include "hmapx.h"
#include "id-pool.h"
#include "netdev.h"
#include "ofp-flexmap.h"
#include "netlink.h"
#include "odp-util.h"
#include "ofproto/ofproto-dpif.h"
#include "ofproto/ofproto-dpif-xlate.h"
#include "ofproto/ofproto-provider.h"
#include "openvswitch/meta-flow.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/list.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-parse.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "ovs-rcu.h"
#include "packets.h"
#include "seq.h"
#include "sset.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(ofproto_flexmap);

/* Ports of a bridge constructed or destructed. */
COVERAGE_DEFINE(flexmap_ports_changed);
/* Port events that had to withdraw backends at once, before the run,
 * because another port took the datapath port number of theirs. */
COVERAGE_DEFINE(flexmap_ports_walk);
/* Map entries given to the datapath again because a port that one of their
 * backends names was added, deleted or changed. */
COVERAGE_DEFINE(flexmap_ports_repush);

BUILD_ASSERT_DECL(FLEXMAP_MAX_TABLE == FLEXMAP_MAX_TABLE_ID);

/* The interface that a backend was written for.
 *
 * A backend follows the interface (by name) that its OpenFlow port number
 * named when the entry was written, not the number: if that interface goes
 * away and another one takes its number, the backend is unresolved (left out
 * of the datapath's copy of the entry, so sent nothing) until an interface
 * with its name comes back, whatever number that one gets, or the entry is
 * written again. */
struct fm_port_ref {
    struct ovs_list node;       /* In 'iface->refs'. */
    struct fm_iface *iface;     /* The interface's name. */
    struct fm_entry *entry;     /* The entry that the backend is in. */
    bool unresolved;            /* As last seen, for logging changes. */
    bool unfit;                 /* Unresolved because the interface with
                                 * its name cannot carry it (a tunnel
                                 * backend on a port that is not a
                                 * flow-based tunnel holding its key). */
};

/* An interface name that backends of a bridge were written for, with
 * every such backend, so that a port event finds the entries it concerns
 * without looking at the others.  The backends share it: each name is
 * stored once per bridge, however many backends name it.  It lives as long
 * as some backend names it. */
struct fm_iface {
    struct hmap_node node;      /* In flexmap_bridge's 'ifaces'. */
    struct ovs_list refs;       /* Contains "struct fm_port_ref"s. */
    char name[];
};

/* One entry of a bridge's master tables, with OpenFlow port numbers: each
 * backend's 'port' is the number that its interface
 * ('ports[i].iface->name') has,
 * or last had if it is gone. */
struct fm_entry {
    struct hmap_node node;      /* In flexmap_bridge's 'entries'. */
    uint8_t table_id;
    struct flexmap_key key;
    size_t n_backends;
    struct fm_port_ref *ports;  /* One per backend. */
    struct flexmap_backend backends[];
};

/* A tunnel next hop: where the bridge's tunnel backends with the same
 * tunnel port, tun_dst and tun_id go.  Its datapath actions are what
 * "set_field:tun_dst,set_field:tun_id,output:port" translates to, so that
 * a tunnel backend's packets leave exactly as that rule's would. */
struct fm_tnl {
    struct hmap_node node;      /* In flexmap_bridge's 'tnls'. */
    ofp_port_t port;            /* The tunnel port (OpenFlow). */
    struct in6_addr tun_dst;
    ovs_be64 tun_id;
    uint32_t id;                /* Datapath id, unique in the process. */
    unsigned int n_refs;        /* Backends of entries that use it. */
    struct ofpbuf actions[FLEXMAP_TNL_N_ECN];   /* By ECN variant, as last
                                                 * given to the datapath. */
    bool pushed;                /* 'actions' are in the datapath. */
};

/* A port of a bridge as the datapath copies of its map entries see it. */
struct fm_port_state {
    ofp_port_t ofp_port;
    odp_port_t odp_port;
    unsigned int tnl_bits;      /* fm_port_flow_tnl_bits(). */
};

struct flexmap_bridge {
    struct ovs_list node;       /* In 'all_bridges'. */
    struct ofproto_dpif *ofproto;
    uint32_t id;                /* Datapath tables are (id << 8) | table. */
    struct hmap entries;        /* Contains "struct fm_entry"s. */
    struct hmap ifaces;         /* Contains "struct fm_iface"s: the names
                                 * that the entries' backends are for. */
    bool need_push;             /* Push every entry at next run. */
    struct flexmap_cache *pushed_cache; /* Cache the entries are in. */

    /* The bridge's ports as the datapath copies of the entries see them:
     * name -> struct fm_port_state, as of the last push of every entry or
     * the last handling of a port event (fm_ports_update()).  Comparing it
     * with the bridge's ports tells in O(ports) which names a port event
     * changed, and 'ifaces' which entries name them. */
    struct shash ports;
    struct sset ports_pending;  /* Names that a port event handled before
                                 * the run, whose backends the run may
                                 * still have to resolve (tunnels). */
    bool ports_dirty;           /* A port event since the last run. */

    struct hmap tnls;           /* Contains "struct fm_tnl"s. */
    uint64_t tnl_seq;           /* tnl_conf_seq at the last refresh. */
    long long int tnl_refresh;  /* Time of the next periodic refresh. */
};

/* How often tunnel next hops are translated again even if no route or
 * neighbour changed, to follow the underlay bridge (its rules and MAC
 * learning) and to retry unresolved ones. */
#define FM_TNL_REFRESH_MS 1000

/* Bridge ids: 24 bits, so that (id << 8) | table fits in 32 bits. */
#define FLEXMAP_MAX_BRIDGES 0xffffff
static struct id_pool *bridge_ids;
static struct id_pool *tnl_ids;     /* Tunnel next hop ids. */
static struct ovs_list all_bridges = OVS_LIST_INITIALIZER(&all_bridges);

static void flexmap_unixctl_init(void);

static uint32_t
fm_hash(uint8_t table_id, const struct flexmap_key *key)
{
    return flexmap_key_hash(key, table_id);
}

static struct fm_entry *
fm_find(const struct flexmap_bridge *fb, uint8_t table_id,
        const struct flexmap_key *key)
{
    struct fm_entry *e;

    HMAP_FOR_EACH_WITH_HASH (e, node, fm_hash(table_id, key), &fb->entries) {
        if (e->table_id == table_id && flexmap_key_equal(&e->key, key)) {
            return e;
        }
    }
    return NULL;
}

/* The datapath's map cache, whether or not flexmap support is on. */
static struct flexmap_cache *
fb_dp_cache(const struct flexmap_bridge *fb)
{
    struct dpif_backer *backer = fb->ofproto->backer;

    return backer ? dpif_flexmap_get_cache(backer->dpif) : NULL;
}

/* The datapath's map cache, or NULL if flexmap support is off (the kernel
 * datapath, or "ovs-appctl dpif/set-dp-features BRIDGE flexmap false"). */
static struct flexmap_cache *
fb_cache(const struct flexmap_bridge *fb)
{
    struct dpif_backer *backer = fb->ofproto->backer;

    return backer && backer->rt_support.flexmap ? fb_dp_cache(fb) : NULL;
}

struct flexmap_bridge *
ofproto_flexmap_bridge_create(struct ofproto_dpif *ofproto)
{
    struct flexmap_bridge *fb;
    uint32_t id;

    flexmap_unixctl_init();
    if (!bridge_ids) {
        bridge_ids = id_pool_create(1, FLEXMAP_MAX_BRIDGES);
    }
    if (!id_pool_alloc_id(bridge_ids, &id)) {
        VLOG_ERR("%s: out of flexmap bridge ids", ofproto->up.name);
        return NULL;
    }

    fb = xzalloc(sizeof *fb);
    fb->ofproto = ofproto;
    fb->id = id;
    hmap_init(&fb->entries);
    hmap_init(&fb->ifaces);
    hmap_init(&fb->tnls);
    shash_init(&fb->ports);
    sset_init(&fb->ports_pending);
    fb->need_push = true;
    ovs_list_push_back(&all_bridges, &fb->node);
    return fb;
}

static struct fm_iface *
fm_iface_find(const struct flexmap_bridge *fb, const char *name)
{
    struct fm_iface *iface;

    HMAP_FOR_EACH_WITH_HASH (iface, node, hash_string(name, 0),
                             &fb->ifaces) {
        if (!strcmp(iface->name, name)) {
            return iface;
        }
    }
    return NULL;
}

/* Makes backend 'i' of 'e' one of interface 'name''s. */
static void
fm_port_ref_init(struct flexmap_bridge *fb, struct fm_entry *e, size_t i,
                 const char *name)
{
    struct fm_port_ref *ref = &e->ports[i];
    struct fm_iface *iface = fm_iface_find(fb, name);

    if (!iface) {
        size_t len = strlen(name);

        iface = xmalloc(sizeof *iface + len + 1);
        memcpy(iface->name, name, len + 1);
        ovs_list_init(&iface->refs);
        hmap_insert(&fb->ifaces, &iface->node, hash_string(name, 0));
    }
    ovs_list_push_back(&iface->refs, &ref->node);
    ref->iface = iface;
    ref->entry = e;
    ref->unresolved = false;
    ref->unfit = false;
}

static void
fm_port_ref_uninit(struct flexmap_bridge *fb, struct fm_port_ref *ref)
{
    struct fm_iface *iface = ref->iface;

    ovs_list_remove(&ref->node);
    if (ovs_list_is_empty(&iface->refs)) {
        hmap_remove(&fb->ifaces, &iface->node);
        free(iface);
    }
}

static void
fm_entry_free(struct flexmap_bridge *fb, struct fm_entry *e)
{
    if (e) {
        for (size_t i = 0; i < e->n_backends; i++) {
            fm_port_ref_uninit(fb, &e->ports[i]);
        }
        free(e->ports);
        free(e);
    }
}

/* Returns the name of the interface that OpenFlow port 'port' of 'fb' is,
 * or NULL if there is none. */
static const char *
fm_port_name(const struct flexmap_bridge *fb, ofp_port_t port)
{
    const struct ofport *ofport = ofproto_get_port(&fb->ofproto->up, port);

    return ofport ? netdev_get_name(ofport->netdev) : NULL;
}

/* Returns how many bits of a tunnel key a tunnel port of type 'type'
 * carries: the rest of a flow's tun_id would be cut off when the header is
 * built, and the packet would reach another tunnel key's network (or, for
 * ERSPAN, whose header has a 10-bit session id where the key goes, be
 * dropped). */
static unsigned int
fm_tnl_key_bits(const char *type)
{
    if (!strcmp(type, "vxlan") || !strcmp(type, "geneve")
        || !strcmp(type, "lisp")) {
        return 24;
    } else if (!strcmp(type, "gre") || !strcmp(type, "ip6gre")
               || !strcmp(type, "gtpu")) {
        return 32;
    } else if (!strcmp(type, "erspan") || !strcmp(type, "ip6erspan")) {
        return 10;
    }
    return 64;
}

/* Returns how many key bits 'port' carries if it is a tunnel whose remote
 * address and key come from the flow (options:remote_ip=flow,
 * options:key=flow), otherwise 0. */
static unsigned int
fm_port_flow_tnl_bits(const struct ofport *port)
{
    const struct netdev_tunnel_config *cfg
        = netdev_get_tunnel_config(port->netdev);

    return (cfg && cfg->ip_dst_flow && cfg->out_key_flow
            ? fm_tnl_key_bits(netdev_get_type(port->netdev))
            : 0);
}

/* Checks that 'port' (possibly NULL) can carry backend 'b': it must exist,
 * and for a tunnel backend be a flow-based tunnel whose key holds the
 * backend's tun_id.  Returns 0 if so, otherwise the error that a command
 * writing 'b' gets.  Used when an entry is written and when a backend's
 * interface comes back, possibly as another type of port. */
static enum ofperr
fm_check_backend_port(const struct ofport *port,
                      const struct flexmap_backend *b)
{
    if (!port) {
        return OFPERR_NXFMFC_BAD_PORT;
    }
    if (b->flags & FLEXMAP_BACKEND_TUNNEL) {
        unsigned int bits = fm_port_flow_tnl_bits(port);

        if (!bits || (bits < 64 && ntohll(b->tun_id) >> bits)) {
            return OFPERR_NXFMFC_TUNNEL_UNSUPPORTED;
        }
    }
    return 0;
}

/* Returns true if backend 'i' of 'e' is resolved: its port number is, right
 * now, the interface it was written for, and that interface can carry it
 * (fm_check_backend_port()). */
static bool
fm_backend_is_resolved(const struct flexmap_bridge *fb,
                       const struct fm_entry *e, size_t i)
{
    const struct flexmap_backend *b = &e->backends[i];
    const struct ofport *port = ofproto_get_port(&fb->ofproto->up, b->port);

    return (port && !strcmp(netdev_get_name(port->netdev),
                                  e->ports[i].iface->name)
            && !fm_check_backend_port(port, b));
}

/* What the port snapshot of a bridge keeps of 'port': its OpenFlow and
 * datapath numbers and, for a flow-based tunnel, how many key bits it
 * carries (a port replaced by one of another type under the same name and
 * number changes what its backends may send). */
static struct fm_port_state
fm_port_state(const struct flexmap_bridge *fb, const struct ofport *port)
{
    return (struct fm_port_state) {
        .ofp_port = port->ofp_port,
        .odp_port = ofproto_dpif_ofp_to_odp_port(fb->ofproto, port->ofp_port),
        .tnl_bits = fm_port_flow_tnl_bits(port),
    };
}

static bool
fm_port_state_equals(const struct fm_port_state *a,
                     const struct fm_port_state *b)
{
    return (a->ofp_port == b->ofp_port && a->odp_port == b->odp_port
            && a->tnl_bits == b->tnl_bits);
}

/* Sets the snapshot of port 'name' of 'fb' to what the bridge has now. */
static void
fm_snap_port(struct flexmap_bridge *fb, const char *name)
{
    const struct ofport *port = shash_find_data(&fb->ofproto->up.port_by_name,
                                                name);

    if (port) {
        struct fm_port_state *state = shash_find_data(&fb->ports, name);

        if (!state) {
            state = xmalloc(sizeof *state);
            shash_add(&fb->ports, name, state);
        }
        *state = fm_port_state(fb, port);
    } else {
        free(shash_find_and_delete(&fb->ports, name));
    }
}

/* Takes a snapshot of every port of 'fb' into 'fb->ports'. */
static void
fm_snap_ports(struct flexmap_bridge *fb)
{
    const struct shash_node *node;

    shash_clear_free_data(&fb->ports);
    SHASH_FOR_EACH (node, &fb->ofproto->up.port_by_name) {
        fm_snap_port(fb, node->name);
    }
}

/* Copies 'e' into 'out', marking unresolved backends with
 * FLEXMAP_BACKEND_UNRESOLVED, as NXST_FLEXMAP reports them. */
static void
fm_entry_to_flexmap_entry(const struct flexmap_bridge *fb,
                          const struct fm_entry *e, struct flexmap_entry *out)
{
    out->table_id = e->table_id;
    out->key = e->key;
    out->n_backends = e->n_backends;
    memcpy(out->backends, e->backends,
           e->n_backends * sizeof *e->backends);
    for (size_t i = 0; i < e->n_backends; i++) {
        if (!fm_backend_is_resolved(fb, e, i)) {
            out->backends[i].flags |= FLEXMAP_BACKEND_UNRESOLVED;
        }
    }
}

/* Tunnel next hops. */

static uint32_t
fm_tnl_hash(ofp_port_t port, const struct in6_addr *tun_dst, ovs_be64 tun_id)
{
    uint32_t hash = hash_bytes(tun_dst, sizeof *tun_dst, ofp_to_u16(port));

    return hash_bytes(&tun_id, sizeof tun_id, hash);
}

static struct fm_tnl *
fm_tnl_find(const struct flexmap_bridge *fb, const struct flexmap_backend *b)
{
    struct fm_tnl *t;

    HMAP_FOR_EACH_WITH_HASH (t, node,
                             fm_tnl_hash(b->port, &b->tun_dst, b->tun_id),
                             &fb->tnls) {
        if (t->port == b->port && t->tun_id == b->tun_id
            && ipv6_addr_equals(&t->tun_dst, &b->tun_dst)) {
            return t;
        }
    }
    return NULL;
}

/* Returns true if the datapath actions 'actions' push a tunnel header and
 * need nothing that only a translation in the datapath's slow path or a
 * recirculation could do. */
static bool
fm_tnl_actions_ok(const struct nlattr *actions, size_t len, bool *pushes)
{
    const struct nlattr *a;
    unsigned int left;

    NL_ATTR_FOR_EACH (a, left, actions, len) {
        switch (nl_attr_type(a)) {
        case OVS_ACTION_ATTR_TUNNEL_PUSH:
            *pushes = true;
            break;
        case OVS_ACTION_ATTR_CLONE:
            if (!fm_tnl_actions_ok(nl_attr_get(a), nl_attr_get_size(a),
                                   pushes)) {
                return false;
            }
            break;
        case OVS_ACTION_ATTR_USERSPACE:
        case OVS_ACTION_ATTR_RECIRC:
        case OVS_ACTION_ATTR_CT:
        case OVS_ACTION_ATTR_FLEXMAP:
            return false;
        default:
            break;
        }
    }
    return true;
}

/* Stores in 'odp_actions' the datapath actions of next hop 't': the
 * translation of "set_field:tun_dst,set_field:tun_id,output:port", which
 * looks up the route and the neighbour (sending an ARP or neighbour
 * solicitation if it is not known), builds the tunnel header and runs the
 * underlay bridge's pipeline.  Leaves 'odp_actions' empty if the next hop
 * cannot be reached (yet). */
static void
fm_tnl_translate(struct flexmap_bridge *fb, const struct fm_tnl *t,
                 uint8_t ecn, struct ofpbuf *odp_actions)
{
    uint64_t ofpacts_stub[256 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(ofpacts_stub);
    struct xlate_out xout;
    struct xlate_in xin;
    struct flow flow;
    bool pushes = false;
    bool ok;

    if (IN6_IS_ADDR_V4MAPPED(&t->tun_dst)) {
        ovs_be32 ip4 = in6_addr_get_mapped_ipv4(&t->tun_dst);

        ofpact_put_set_field(&ofpacts, mf_from_id(MFF_TUN_DST), &ip4, NULL);
    } else {
        ofpact_put_set_field(&ofpacts, mf_from_id(MFF_TUN_IPV6_DST),
                             &t->tun_dst, NULL);
    }
    ofpact_put_set_field(&ofpacts, mf_from_id(MFF_TUN_ID), &t->tun_id, NULL);
    ofpact_put_OUTPUT(&ofpacts)->port = t->port;

    memset(&flow, 0, sizeof flow);
    flow.in_port.ofp_port = OFPP_NONE;
    flow.dl_type = htons(ETH_TYPE_IP);
    flow.nw_ttl = 64;
    flow.nw_tos = ecn;          /* The outer header copies it. */

    ofpbuf_clear(odp_actions);
    xlate_in_init(&xin, fb->ofproto,
                  ofproto_dpif_get_tables_version(fb->ofproto), &flow,
                  OFPP_NONE, NULL, 0, NULL, NULL, odp_actions);
    xin.ofpacts = ofpacts.data;
    xin.ofpacts_len = ofpacts.size;
    ok = (xlate_actions(&xin, &xout) == XLATE_OK && !xout.slow
          && fm_tnl_actions_ok(odp_actions->data, odp_actions->size,
                               &pushes)
          && pushes);
    xlate_out_uninit(&xout);
    ofpbuf_uninit(&ofpacts);
    if (!ok) {
        ofpbuf_clear(odp_actions);
    }
}

/* Translates 't' again, once per ECN variant (the inner packet's ECN bits
 * 0, 1 and 2; CE goes out as 2, ECT(0)), and gives the datapath its actions
 * if they changed (or were never given). */
static void
fm_tnl_refresh(struct flexmap_bridge *fb, struct fm_tnl *t,
               struct flexmap_cache *cache)
{
    struct ofpbuf actions[FLEXMAP_TNL_N_ECN];
    bool changed = !t->pushed;

    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        ofpbuf_init(&actions[i], 256);
        /* An unresolved next hop stays so for every variant: translate
         * (and look the neighbour up, which may send an ARP) only once. */
        if (!i || actions[0].size) {
            fm_tnl_translate(fb, t, i, &actions[i]);
        }
        changed = changed || !ofpbuf_equal(&actions[i], &t->actions[i]);
    }
    if (changed) {
        if (t->pushed && !actions[0].size != !t->actions[0].size) {
            struct ds s = DS_EMPTY_INITIALIZER;

            ipv6_format_mapped(&t->tun_dst, &s);
            VLOG_INFO("%s: tunnel next hop %s key %#"PRIx64" on port %"
                      PRIu16" %s", fb->ofproto->up.name, ds_cstr(&s),
                      ntohll(t->tun_id), ofp_to_u16(t->port),
                      actions[0].size ? "resolved" : "unresolved");
            ds_destroy(&s);
        }
        for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
            ofpbuf_clear(&t->actions[i]);
            ofpbuf_put(&t->actions[i], actions[i].data, actions[i].size);
        }
        flexmap_cache_tnl_set(cache, t->id, t->actions);
        t->pushed = true;
    }
    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        ofpbuf_uninit(&actions[i]);
    }
}

/* Takes a reference to the next hop of tunnel backend 'b', creating it
 * (and giving it to 'cache', if nonnull) if needed. */
static void
fm_tnl_ref(struct flexmap_bridge *fb, const struct flexmap_backend *b,
           struct flexmap_cache *cache)
{
    struct fm_tnl *t = fm_tnl_find(fb, b);

    if (!t) {
        uint32_t id;

        if (!tnl_ids) {
            tnl_ids = id_pool_create(0, FLEXMAP_TNL_MAX_ID + 1);
        }
        if (!id_pool_alloc_id(tnl_ids, &id)) {
            VLOG_ERR("%s: out of tunnel next hop ids", fb->ofproto->up.name);
            return;
        }
        t = xzalloc(sizeof *t);
        t->port = b->port;
        t->tun_dst = b->tun_dst;
        t->tun_id = b->tun_id;
        t->id = id;
        for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
            ofpbuf_init(&t->actions[i], 0);
        }
        hmap_insert(&fb->tnls, &t->node,
                    fm_tnl_hash(b->port, &b->tun_dst, b->tun_id));
        if (cache) {
            fm_tnl_refresh(fb, t, cache);
        }
    }
    t->n_refs++;
}

static void
fm_tnl_unref(struct flexmap_bridge *fb, const struct flexmap_backend *b,
             struct flexmap_cache *cache)
{
    struct fm_tnl *t = fm_tnl_find(fb, b);

    if (t && !--t->n_refs) {
        if (cache && t->pushed) {
            flexmap_cache_tnl_del(cache, t->id);
        }
        id_pool_free_id(tnl_ids, t->id);
        hmap_remove(&fb->tnls, &t->node);
        for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
            ofpbuf_uninit(&t->actions[i]);
        }
        free(t);
    }
}

/* Takes (or, with 'ref' false, drops) references to the next hops of the
 * tunnel backends of 'e'. */
static void
fm_entry_ref_tnls(struct flexmap_bridge *fb, const struct fm_entry *e,
                  struct flexmap_cache *cache, bool ref)
{
    for (size_t i = 0; i < e->n_backends; i++) {
        const struct flexmap_backend *b = &e->backends[i];

        if (b->flags & FLEXMAP_BACKEND_TUNNEL) {
            if (ref) {
                fm_tnl_ref(fb, b, cache);
            } else {
                fm_tnl_unref(fb, b, cache);
            }
        }
    }
}

/* Follows route, neighbour and underlay changes: translates every next hop
 * again when the tunnel configuration changed, and at least every
 * FM_TNL_REFRESH_MS. */
static void
fm_tnl_run(struct flexmap_bridge *fb, struct flexmap_cache *cache,
           bool force)
{
    uint64_t seq = seq_read(tnl_conf_seq);
    long long int now = time_msec();
    struct fm_tnl *t;

    if (hmap_is_empty(&fb->tnls)
        || (!force && seq == fb->tnl_seq && now < fb->tnl_refresh)) {
        return;
    }
    HMAP_FOR_EACH (t, node, &fb->tnls) {
        if (force) {
            t->pushed = false;
        }
        fm_tnl_refresh(fb, t, cache);
    }
    fb->tnl_seq = seq;
    fb->tnl_refresh = now + FM_TNL_REFRESH_MS;
}

/* The datapath port of backend 'i' of 'e': its port's, or for a tunnel
 * backend its next hop's pseudo-port.  ODPP_NONE if there is none, or if the
 * backend is unresolved. */
static odp_port_t
fm_backend_odp_port(const struct flexmap_bridge *fb, const struct fm_entry *e,
                    size_t i)
{
    const struct flexmap_backend *b = &e->backends[i];

    if (!fm_backend_is_resolved(fb, e, i)) {
        return ODPP_NONE;
    }
    if (b->flags & FLEXMAP_BACKEND_TUNNEL) {
        const struct fm_tnl *t = fm_tnl_find(fb, b);

        return t ? FLEXMAP_TNL_PORT(t->id) : ODPP_NONE;
    }
    return ofproto_dpif_ofp_to_odp_port(fb->ofproto, b->port);
}

/* Writes 'e' into 'cache' with the datapath's port numbers.  Unresolved
 * backends (their interface is gone) are left out; an entry with none left
 * is removed from the datapath (its packets then miss). */
static int
fm_push(struct flexmap_bridge *fb, struct flexmap_cache *cache,
        const struct fm_entry *e)
{
    struct flexmap_dp_backend dp[FLEXMAP_MAX_BACKENDS];
    uint32_t dp_table = ofproto_flexmap_dp_table(fb, e->table_id);
    size_t n = 0;

    for (size_t i = 0; i < e->n_backends; i++) {
        const struct flexmap_backend *b = &e->backends[i];
        odp_port_t odp_port = fm_backend_odp_port(fb, e, i);

        if (odp_port == ODPP_NONE) {
            continue;
        }
        memset(&dp[n], 0, sizeof dp[n]);
        dp[n].mac = b->mac;
        dp[n].weight = b->weight;
        dp[n].port = odp_port;
        dp[n].flags = b->flags;
        dp[n].tun_id = b->tun_id;
        dp[n].tun_dst = b->tun_dst;
        n++;
    }
    if (!n) {
        flexmap_cache_del(cache, dp_table, &e->key);
        return 0;
    }
    return flexmap_cache_put(cache, dp_table, &e->key, dp, n);
}

/* Follows the interfaces of the backends of 'e' after the bridge's ports
 * changed: a backend whose interface is back under another OpenFlow port
 * number takes that number (and its tunnel next hop, if it tunnels); one
 * whose interface is gone, or is back as a port that cannot carry it (for
 * a tunnel backend, not a flow-based tunnel whose key holds its tun_id),
 * stays unresolved.  Logs every change of state.
 *
 * With 'may_translate' false (in the middle of a reconfiguration, when a
 * new next hop must not be translated yet), a tunnel backend whose
 * interface is back is left as it is, unresolved, for a later call.
 *
 * Returns true if a backend of 'e' changed port or state, so that the
 * datapath's copy of 'e' may be out of date. */
static bool
fm_resolve(struct flexmap_bridge *fb, struct flexmap_cache *cache,
           struct fm_entry *e, bool may_translate)
{
    bool changed = false;

    for (size_t i = 0; i < e->n_backends; i++) {
        struct flexmap_backend *b = &e->backends[i];
        struct fm_port_ref *ref = &e->ports[i];
        bool unresolved = !fm_backend_is_resolved(fb, e, i);
        bool unfit = false;

        if (unresolved) {
            const struct ofport *ofport
                = shash_find_data(&fb->ofproto->up.port_by_name,
                                  ref->iface->name);

            if (ofport && fm_check_backend_port(ofport, b)) {
                unfit = true;
            } else if (ofport && !may_translate
                       && b->flags & FLEXMAP_BACKEND_TUNNEL) {
                continue;
            } else if (ofport) {
                struct flexmap_backend old = *b;

                b->port = ofport->ofp_port;
                if (b->flags & FLEXMAP_BACKEND_TUNNEL) {
                    fm_tnl_ref(fb, b, cache);
                    fm_tnl_unref(fb, &old, cache);
                }
                unresolved = false;
                changed = true;
            }
        }

        if (unresolved != ref->unresolved || unfit != ref->unfit) {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(10, 10);
            struct ds s = DS_EMPTY_INITIALIZER;

            flexmap_key_format(&e->key, &s);
            if (unfit) {
                VLOG_INFO_RL(&rl, "%s: table %"PRIu8" %s: backend "
                             ETH_ADDR_FMT" on %s unresolved: interface %s "
                             "is not a flow-based tunnel that carries its "
                             "key %#"PRIx64" (OpenFlow port %"PRIu16")",
                             fb->ofproto->up.name, e->table_id, ds_cstr(&s),
                             ETH_ADDR_ARGS(b->mac), ref->iface->name,
                             ref->iface->name,
                             ntohll(b->tun_id), ofp_to_u16(b->port));
            } else {
                VLOG_INFO_RL(&rl, "%s: table %"PRIu8" %s: backend "
                             ETH_ADDR_FMT" on %s %s (OpenFlow port %"PRIu16
                             ")", fb->ofproto->up.name, e->table_id,
                             ds_cstr(&s), ETH_ADDR_ARGS(b->mac),
                             ref->iface->name,
                             unresolved ? "unresolved: interface gone"
                                        : "resolved again",
                             ofp_to_u16(b->port));
            }
            ds_destroy(&s);
            ref->unresolved = unresolved;
            ref->unfit = unfit;
            changed = true;
        }
    }
    return changed;
}

static void
fm_push_all(struct flexmap_bridge *fb, struct flexmap_cache *cache)
{
    struct fm_entry *e;

    HMAP_FOR_EACH (e, node, &fb->entries) {
        int error;

        fm_resolve(fb, cache, e, true);
        error = fm_push(fb, cache, e);
        if (error) {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
            VLOG_WARN_RL(&rl, "%s: could not push map entry to the "
                         "datapath (%s)", fb->ofproto->up.name,
                         ovs_strerror(error));
        }
    }
}

static void
fm_remove(struct flexmap_bridge *fb, struct flexmap_cache *cache,
          struct fm_entry *e)
{
    if (cache) {
        flexmap_cache_del(cache, ofproto_flexmap_dp_table(fb, e->table_id),
                          &e->key);
    }
    fm_entry_ref_tnls(fb, e, cache, false);
    hmap_remove(&fb->entries, &e->node);
    fm_entry_free(fb, e);
}

void
ofproto_flexmap_bridge_destroy(struct flexmap_bridge *fb)
{
    struct flexmap_cache *cache;
    struct fm_entry *e;

    if (!fb) {
        return;
    }
    /* Take the entries out of the datapath even if support was turned off
     * since they were pushed: the bridge id is reused. */
    cache = fb->pushed_cache && fb->pushed_cache == fb_dp_cache(fb)
            ? fb->pushed_cache : NULL;
    HMAP_FOR_EACH_SAFE (e, node, &fb->entries) {
        fm_remove(fb, cache, e);
    }
    hmap_destroy(&fb->entries);
    hmap_destroy(&fb->ifaces);
    hmap_destroy(&fb->tnls);
    shash_destroy_free_data(&fb->ports);
    sset_destroy(&fb->ports_pending);
    ovs_list_remove(&fb->node);
    id_pool_free_id(bridge_ids, fb->id);
    /* Translation threads may still read 'fb->id'. */
    ovsrcu_postpone(free, fb);
}

static void fm_ports_update(struct flexmap_bridge *, struct flexmap_cache *,
                            bool at_run);

void
ofproto_flexmap_run(struct flexmap_bridge *fb)
{
    if (fb) {
        struct flexmap_cache *cache = fb_cache(fb);

        if (cache && (fb->need_push || cache != fb->pushed_cache)) {
            /* The first run, or a new datapath: every entry.  Next hops
             * first: entries name them. */
            fm_tnl_run(fb, cache, cache != fb->pushed_cache);
            fm_push_all(fb, cache);
            fm_snap_ports(fb);
            sset_clear(&fb->ports_pending);
            fb->pushed_cache = cache;
            fb->need_push = false;
            fb->ports_dirty = false;
        } else if (cache) {
            if (fb->ports_dirty) {
                fm_ports_update(fb, cache, true);
                fb->ports_dirty = false;
            }
            fm_tnl_run(fb, cache, false);
        }
    }
}

/* Adds to 'names' the name of every port that the snapshot of 'fb' has
 * otherwise than the bridge has it now: gone, new, renumbered (in OpenFlow
 * or in the datapath) or changed kind.  O(ports). */
static void
fm_ports_diff(const struct flexmap_bridge *fb, struct sset *names)
{
    const struct shash *ports = &fb->ofproto->up.port_by_name;
    const struct shash_node *node;

    SHASH_FOR_EACH (node, &fb->ports) {
        const struct ofport *port = shash_find_data(ports, node->name);

        if (port) {
            struct fm_port_state state = fm_port_state(fb, port);

            if (fm_port_state_equals(&state, node->data)) {
                continue;
            }
        }
        sset_add(names, node->name);
    }
    SHASH_FOR_EACH (node, ports) {
        if (!shash_find(&fb->ports, node->name)) {
            sset_add(names, node->name);
        }
    }
}

/* Returns true if the datapath port number that interface 'name' had as of
 * the snapshot of 'fb' is now another port's of the bridge: the datapath
 * copies of the entries that name 'name' would send that port their
 * packets.  O(ports); called only for the ports that a port event changed,
 * usually one or two. */
static bool
fm_port_number_taken(const struct flexmap_bridge *fb, const char *name)
{
    const struct fm_port_state *old = shash_find_data(&fb->ports, name);
    const struct shash_node *node;

    if (!old || old->odp_port == ODPP_NONE) {
        return false;
    }
    SHASH_FOR_EACH (node, &fb->ofproto->up.port_by_name) {
        const struct ofport *port = node->data;

        if (strcmp(node->name, name)
            && ofproto_dpif_ofp_to_odp_port(fb->ofproto, port->ofp_port)
               == old->odp_port) {
            return true;
        }
    }
    return false;
}

/* Resolves again the entries of 'fb' that name interface 'name' and are
 * not in 'done' yet, adds them to 'done' and gives the datapath those
 * that changed, or all of them if 'always'.  Returns how many it gave. */
static size_t
fm_ports_repush(struct flexmap_bridge *fb, struct flexmap_cache *cache,
                const char *name, bool may_translate, bool always,
                struct hmapx *done)
{
    struct fm_iface *iface = fm_iface_find(fb, name);
    struct fm_port_ref *ref;
    size_t n = 0;

    if (!iface) {
        return 0;
    }
    LIST_FOR_EACH (ref, node, &iface->refs) {
        struct fm_entry *e = ref->entry;

        if (hmapx_add(done, e)
            && (fm_resolve(fb, cache, e, may_translate) || always)) {
            if (fm_push(fb, cache, e)) {
                static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

                /* No room for the new copy: better a miss than the old
                 * copy, whose ports may be others' now. */
                flexmap_cache_del(cache, ofproto_flexmap_dp_table(
                                      fb, e->table_id), &e->key);
                VLOG_WARN_RL(&rl, "%s: could not push map entry to the "
                             "datapath", fb->ofproto->up.name);
            }
            n++;
        }
    }
    return n;
}

/* Brings the datapath copies of the entries of 'fb' in line with the
 * bridge's ports, looking only at the entries that name a port that
 * changed since the snapshot ('fb->ports'), then updates the snapshot for
 * those ports.  Adding or deleting a port that no backend names costs
 * O(ports).
 *
 * In the run ('at_run'), does it for every such port, and also resolves
 * again the entries of the names that a port event handled before
 * ('fb->ports_pending'), giving the datapath those that changed.
 *
 * On a port event (not 'at_run'), does it only for the ports whose
 * datapath port number another interface holds now (the datapath gives a
 * new port the lowest free number, or one from its name on the dummy
 * datapath): their entries' datapath copies would send it their packets
 * until the run.  Other changes wait for the run: packets to a datapath
 * port that is gone are dropped meanwhile, and a port that is destructed is
 * still in the bridge.  A tunnel backend whose interface is back waits for
 * the run too, which may translate its next hop. */
static void
fm_ports_update(struct flexmap_bridge *fb, struct flexmap_cache *cache,
                bool at_run)
{
    struct sset changed = SSET_INITIALIZER(&changed);
    struct hmapx done = HMAPX_INITIALIZER(&done);
    const char *name;
    bool walked = false;
    size_t n = 0;

    fm_ports_diff(fb, &changed);
    SSET_FOR_EACH (name, &changed) {
        if (at_run) {
            n += fm_ports_repush(fb, cache, name, true, true, &done);
        } else if (fm_port_number_taken(fb, name)) {
            n += fm_ports_repush(fb, cache, name, false, true, &done);
            sset_add(&fb->ports_pending, name);
            walked = true;
        } else {
            continue;
        }
        fm_snap_port(fb, name);
    }
    if (at_run) {
        SSET_FOR_EACH (name, &fb->ports_pending) {
            n += fm_ports_repush(fb, cache, name, true, false, &done);
        }
        sset_clear(&fb->ports_pending);
    }
    if (walked) {
        COVERAGE_INC(flexmap_ports_walk);
    }
    COVERAGE_ADD(flexmap_ports_repush, n);

    hmapx_destroy(&done);
    sset_destroy(&changed);
}

/* Called by ofproto-dpif whenever a port of the bridge is constructed or
 * destructed.  The run gives the datapath again the entries that name a
 * port that changed; the others are left alone (see fm_ports_update()). */
void
ofproto_flexmap_ports_changed(struct flexmap_bridge *fb)
{
    if (fb) {
        struct flexmap_cache *cache = fb_cache(fb);

        COVERAGE_INC(flexmap_ports_changed);
        fb->ports_dirty = true;
        if (cache && cache == fb->pushed_cache) {
            fm_ports_update(fb, cache, false);
        }
    }
}

uint32_t
ofproto_flexmap_dp_table(const struct flexmap_bridge *fb, uint8_t table_id)
{
    return fb ? (fb->id << 8) | table_id : table_id;
}

static struct flexmap_bridge *
flexmap_bridge_from_ofproto(struct ofproto *ofproto)
{
    return (ofproto->ofproto_class == &ofproto_dpif_class
            ? CONTAINER_OF(ofproto, struct ofproto_dpif, up)->flexmap
            : NULL);
}

/* Gives back the bucket array of the bridge's entries once they are down
 * to a quarter of what it was sized for.  hmap_shrink() alone would resize
 * after any delete below its bound, and a table going back and forth
 * across a power of two would be rehashed on every delete; with this
 * margin each rehash is paid for by the deletes since the last one. */
static void
fm_entries_shrink(struct flexmap_bridge *fb)
{
    if (hmap_count(&fb->entries) < (fb->entries.mask + 1) / 2) {
        hmap_shrink(&fb->entries);
    }
}

/* Checks one decoded command against the bridge: ports must exist, and a
 * tunnel backend's must be a flow-based tunnel whose key can hold its
 * tun_id. */
static enum ofperr
fm_check_cmd(const struct flexmap_bridge *fb,
             const struct ofputil_flexmap_cmd *cmd)
{
    if (cmd->command != NXFMC_ADD) {
        return 0;
    }
    for (size_t i = 0; i < cmd->entry.n_backends; i++) {
        const struct flexmap_backend *b = &cmd->entry.backends[i];
        enum ofperr error = fm_check_backend_port(
            ofproto_get_port(&fb->ofproto->up, b->port), b);

        if (error) {
            return error;
        }
        /* A backend is its MAC behind its port: twice in one pool makes no
         * sense and would confuse connection affinity. */
        for (size_t j = 0; j < i; j++) {
            if (eth_addr_equals(b->mac, cmd->entry.backends[j].mac)
                && b->port == cmd->entry.backends[j].port) {
                return OFPERR_NXFMFC_BAD_BACKEND;
            }
        }
    }
    return 0;
}

static void
fm_apply_cmd(struct flexmap_bridge *fb, struct flexmap_cache *cache,
             const struct ofputil_flexmap_cmd *cmd)
{
    const struct flexmap_entry *fe = &cmd->entry;
    struct fm_entry *e, *old;

    switch (cmd->command) {
    case NXFMC_ADD:
        e = xmalloc(sizeof *e + fe->n_backends * sizeof *e->backends);
        e->table_id = fe->table_id;
        e->key = fe->key;
        e->n_backends = fe->n_backends;
        memcpy(e->backends, fe->backends,
               fe->n_backends * sizeof *fe->backends);
        /* Each backend is for the interface its port is now
         * (fm_check_cmd() checked that there is one). */
        e->ports = xmalloc(fe->n_backends * sizeof *e->ports);
        for (size_t i = 0; i < fe->n_backends; i++) {
            const char *name = fm_port_name(fb, fe->backends[i].port);

            fm_port_ref_init(fb, e, i, name ? name : "");
        }
        /* Take the new entry's next hops before dropping the old one's,
         * so that a next hop both use stays as it is. */
        fm_entry_ref_tnls(fb, e, cache, true);
        old = fm_find(fb, fe->table_id, &fe->key);
        if (old) {
            hmap_replace(&fb->entries, &old->node, &e->node);
            fm_entry_ref_tnls(fb, old, cache, false);
            fm_entry_free(fb, old);
        } else {
            hmap_insert(&fb->entries, &e->node,
                        fm_hash(fe->table_id, &fe->key));
        }
        if (fm_push(fb, cache, e)) {
            /* ofproto_flexmap_handle_mod() checked the room first. */
            VLOG_ERR("%s: map entry not pushed to the datapath",
                     fb->ofproto->up.name);
        }
        break;

    case NXFMC_DELETE:
        e = fm_find(fb, fe->table_id, &fe->key);
        if (e) {
            fm_remove(fb, cache, e);
            fm_entries_shrink(fb);
        }
        break;

    case NXFMC_DELETE_TABLE:
        HMAP_FOR_EACH_SAFE (e, node, &fb->entries) {
            if (fe->table_id == FLEXMAP_ALL_TABLES
                || e->table_id == fe->table_id) {
                fm_remove(fb, cache, e);
            }
        }
        fm_entries_shrink(fb);
        break;
    }
}

/* Counter slots the datapath needs for 'fe': one for the entry, plus one
 * per backend of a pool (see flexmap-cache.h). */
static size_t
fm_slots_needed(const struct flexmap_entry *fe)
{
    return 1 + (fe->n_backends > 1 ? fe->n_backends : 0);
}

/* A key that a batch adds and the bridge lacks, for the room check. */
struct fm_new_key {
    struct hmap_node node;
    const struct flexmap_entry *entry;
};

/* Adds 'fe' to 'new_keys' (whose nodes come from 'nodes') unless a key
 * with its table and key is there already. */
static void
fm_new_key_add(struct hmap *new_keys, struct fm_new_key *nodes,
               const struct flexmap_entry *fe)
{
    uint32_t hash = fm_hash(fe->table_id, &fe->key);
    struct fm_new_key *nk;

    HMAP_FOR_EACH_WITH_HASH (nk, node, hash, new_keys) {
        if (nk->entry->table_id == fe->table_id
            && flexmap_key_equal(&nk->entry->key, &fe->key)) {
            return;
        }
    }
    nk = &nodes[hmap_count(new_keys)];
    nk->entry = fe;
    hmap_insert(new_keys, &nk->node, hash);
}

enum ofperr
ofproto_flexmap_handle_mod(struct ofproto *ofproto,
                           const struct ofp_header *oh)
{
    struct flexmap_bridge *fb = flexmap_bridge_from_ofproto(ofproto);
    struct ofputil_flexmap_cmd *cmds;
    struct flexmap_cache *cache;
    struct fm_new_key *new_key_nodes;
    struct hmap new_keys;
    size_t n_cmds;
    enum ofperr error;

    cache = fb ? fb_cache(fb) : NULL;
    if (!cache) {
        return OFPERR_NXFMFC_UNSUPPORTED;
    }
    ofproto_flexmap_run(fb);

    error = ofputil_decode_flexmap_mod(oh, &cmds, &n_cmds);
    if (error) {
        return error;
    }

    /* Check everything first, so that a batch applies all or nothing.  The
     * datapath must have room for every key that is not there yet (counted
     * once, however often the batch adds it; deletes in the batch free room
     * only after an RCU grace period, so they do not count). */
    hmap_init(&new_keys);
    new_key_nodes = xmalloc(n_cmds * sizeof *new_key_nodes);
    size_t slots_needed = 0;
    for (size_t i = 0; i < n_cmds; i++) {
        const struct flexmap_entry *fe = &cmds[i].entry;

        error = fm_check_cmd(fb, &cmds[i]);
        if (error) {
            goto out;
        }
        if (cmds[i].command == NXFMC_ADD) {
            /* Counted for every add, even a replacement (whose new backends
             * need slots while the old ones wait for RCU): an upper bound. */
            slots_needed += fm_slots_needed(fe);
            if (!fm_find(fb, fe->table_id, &fe->key)) {
                fm_new_key_add(&new_keys, new_key_nodes, fe);
            }
        }
    }
    if (hmap_count(&new_keys) > flexmap_cache_room(cache)
        || slots_needed > flexmap_cache_room(cache)) {
        error = OFPERR_NXFMFC_TABLE_FULL;
        goto out;
    }

    for (size_t i = 0; i < n_cmds; i++) {
        fm_apply_cmd(fb, cache, &cmds[i]);
    }

out:
    hmap_destroy(&new_keys);
    free(new_key_nodes);
    free(cmds);
    return error;
}

static int
fm_entry_compare(const void *a_, const void *b_)
{
    const struct fm_entry *const *ap = a_;
    const struct fm_entry *const *bp = b_;
    const struct fm_entry *a = *ap;
    const struct fm_entry *b = *bp;
    int cmp;

    if (a->table_id != b->table_id) {
        return a->table_id < b->table_id ? -1 : 1;
    }
    cmp = memcmp(&a->key.ip, &b->key.ip, sizeof a->key.ip);
    if (cmp) {
        return cmp;
    }
    if (a->key.proto != b->key.proto) {
        return a->key.proto < b->key.proto ? -1 : 1;
    }
    return (ntohs(a->key.port) > ntohs(b->key.port))
           - (ntohs(a->key.port) < ntohs(b->key.port));
}

/* Returns the entries of 'fb' in table 'table_id' (FLEXMAP_ALL_TABLES: all)
 * sorted by table and key, in a malloc()'d array of '*n' pointers. */
static struct fm_entry **
fm_sorted(const struct flexmap_bridge *fb, uint8_t table_id, size_t *n)
{
    struct fm_entry **v = xmalloc((hmap_count(&fb->entries) + 1) * sizeof *v);
    struct fm_entry *e;

    *n = 0;
    HMAP_FOR_EACH (e, node, &fb->entries) {
        if (table_id == FLEXMAP_ALL_TABLES || e->table_id == table_id) {
            v[(*n)++] = e;
        }
    }
    qsort(v, *n, sizeof *v, fm_entry_compare);
    return v;
}

static const struct flexmap_cache_entry *
fm_cache_entry(const struct flexmap_bridge *fb, struct flexmap_cache *cache,
               const struct fm_entry *e)
{
    return (cache
            ? flexmap_cache_find(cache,
                                 ofproto_flexmap_dp_table(fb, e->table_id),
                                 &e->key)
            : NULL);
}

static void
fm_get_stats(const struct flexmap_bridge *fb, struct flexmap_cache *cache,
             const struct fm_entry *e, struct flexmap_cache_stats *stats)
{
    const struct flexmap_cache_entry *ce = fm_cache_entry(fb, cache, e);

    memset(stats, 0, sizeof *stats);
    if (ce) {
        flexmap_cache_entry_get_stats(cache, ce, stats);
    }
}

/* Returns the index in datapath entry 'ce' of backend 'i' of 'e', or -1 (it
 * is unresolved, so the datapath entry left it out). */
static int
fm_dp_backend_index(const struct flexmap_bridge *fb,
                    const struct flexmap_cache_entry *ce,
                    const struct fm_entry *e, size_t i)
{
    const struct flexmap_backend *b = &e->backends[i];
    odp_port_t odp_port = fm_backend_odp_port(fb, e, i);
    size_t n = flexmap_cache_entry_n_backends(ce);

    if (odp_port == ODPP_NONE) {
        return -1;
    }
    for (size_t j = 0; j < n; j++) {
        const struct flexmap_dp_backend *db
            = flexmap_cache_entry_backend(ce, j);

        if (db->port == odp_port && eth_addr_equals(db->mac, b->mac)) {
            return j;
        }
    }
    return -1;
}

/* Fills 'bstats' with the counters and live connections of every backend of
 * 'e' ('conns' from flexmap_cache_count_conns(), or NULL). */
static void
fm_get_backend_stats(const struct flexmap_bridge *fb,
                     struct flexmap_cache *cache, const struct fm_entry *e,
                     const struct flexmap_cache_conns *conns,
                     struct flexmap_backend_stats bstats[])
{
    const struct flexmap_cache_entry *ce = fm_cache_entry(fb, cache, e);

    memset(bstats, 0, e->n_backends * sizeof *bstats);
    for (size_t i = 0; ce && i < e->n_backends; i++) {
        int idx = fm_dp_backend_index(fb, ce, e, i);

        if (idx >= 0) {
            struct flexmap_cache_stats s;

            flexmap_cache_entry_get_backend_stats(cache, ce, idx, &s);
            bstats[i].n_packets = s.n_packets;
            bstats[i].n_bytes = s.n_bytes;
            bstats[i].n_conns = flexmap_cache_conns_get(conns, ce, idx);
        }
    }
}

enum ofperr
ofproto_flexmap_handle_stats_request(struct ofproto *ofproto,
                                     const struct ofp_header *oh,
                                     struct ovs_list *replies)
{
    struct flexmap_bridge *fb = flexmap_bridge_from_ofproto(ofproto);
    struct flexmap_cache *cache;
    struct fm_entry **entries;
    uint8_t table_id;
    enum ofperr error;
    size_t n;

    cache = fb ? fb_cache(fb) : NULL;
    if (!cache) {
        return OFPERR_NXFMFC_UNSUPPORTED;
    }
    error = ofputil_decode_flexmap_stats_request(oh, &table_id);
    if (error) {
        return error;
    }

    struct flexmap_cache_conns *conns = flexmap_cache_count_conns(cache);
    struct ofputil_flexmap_stats *fs = xmalloc(sizeof *fs);

    entries = fm_sorted(fb, table_id, &n);
    for (size_t i = 0; i < n; i++) {
        struct flexmap_cache_stats stats;

        fm_entry_to_flexmap_entry(fb, entries[i], &fs->entry);
        fm_get_stats(fb, cache, entries[i], &stats);
        fs->packet_count = stats.n_packets;
        fs->byte_count = stats.n_bytes;
        fm_get_backend_stats(fb, cache, entries[i], conns, fs->backend_stats);
        ofputil_append_flexmap_stats(replies, fs);
    }
    free(entries);
    free(fs);
    flexmap_cache_conns_destroy(conns);
    return 0;
}

/* ovs-appctl commands. */

static struct flexmap_bridge *
flexmap_bridge_find(const char *name)
{
    struct flexmap_bridge *fb;

    LIST_FOR_EACH (fb, node, &all_bridges) {
        if (!strcmp(fb->ofproto->up.name, name)) {
            return fb;
        }
    }
    return NULL;
}

static void
fb_port_map(const struct flexmap_bridge *fb, struct ofputil_port_map *map)
{
    struct ofport *ofport;

    ofputil_port_map_init(map);
    HMAP_FOR_EACH (ofport, hmap_node, &fb->ofproto->up.ports) {
        ofputil_port_map_put(map, ofport->ofp_port,
                             netdev_get_name(ofport->netdev));
    }
}

struct fm_table_summary {
    size_t n_entries;
    size_t n_backends;
    size_t n_unresolved;        /* Backends whose interface is gone. */
    uint64_t n_packets;
    uint64_t n_bytes;
};

static void
flexmap_show_bridge(const struct flexmap_bridge *fb, struct ds *ds)
{
    struct fm_table_summary tables[FLEXMAP_MAX_TABLE + 1];
    struct flexmap_cache *cache = fb_cache(fb);
    size_t n_unresolved = 0;
    struct fm_entry *e;

    memset(tables, 0, sizeof tables);
    HMAP_FOR_EACH (e, node, &fb->entries) {
        struct fm_table_summary *t = &tables[e->table_id];
        struct flexmap_cache_stats stats;

        fm_get_stats(fb, cache, e, &stats);
        t->n_entries++;
        t->n_backends += e->n_backends;
        t->n_packets += stats.n_packets;
        t->n_bytes += stats.n_bytes;
        for (size_t i = 0; i < e->n_backends; i++) {
            if (!fm_backend_is_resolved(fb, e, i)) {
                t->n_unresolved++;
                n_unresolved++;
            }
        }
    }

    ds_put_format(ds, "%s: %"PRIuSIZE" map entries, datapath %s%s\n",
                  fb->ofproto->up.name, hmap_count(&fb->entries),
                  fb->ofproto->backer ? dpif_name(fb->ofproto->backer->dpif)
                                      : "(none)",
                  cache ? "" : " (no flexmap support)");
    for (size_t i = 0; i <= FLEXMAP_MAX_TABLE; i++) {
        const struct fm_table_summary *t = &tables[i];

        if (t->n_entries) {
            ds_put_format(ds, "  table %"PRIuSIZE" (datapath table %#"PRIx32
                          "): %"PRIuSIZE" entries, %"PRIuSIZE" backends",
                          i, ofproto_flexmap_dp_table(fb, i), t->n_entries,
                          t->n_backends);
            if (t->n_unresolved) {
                ds_put_format(ds, " (%"PRIuSIZE" unresolved)",
                              t->n_unresolved);
            }
            ds_put_format(ds, ", hits: %"PRIu64" packets, %"PRIu64" bytes\n",
                          t->n_packets, t->n_bytes);
        }
    }
    if (n_unresolved) {
        /* Sorted, so that the list reads the same every time. */
        size_t n;
        struct fm_entry **entries = fm_sorted(fb, FLEXMAP_ALL_TABLES, &n);

        ds_put_format(ds, "  unresolved backends (interface gone, sent "
                      "nothing): %"PRIuSIZE"\n", n_unresolved);
        for (size_t i = 0; i < n; i++) {
            e = entries[i];
            for (size_t j = 0; j < e->n_backends; j++) {
                if (!fm_backend_is_resolved(fb, e, j)) {
                    ds_put_format(ds, "    table=%"PRIu8",", e->table_id);
                    flexmap_key_format(&e->key, ds);
                    ds_put_format(ds, " mac="ETH_ADDR_FMT" interface %s "
                                  "(was OpenFlow port %"PRIu16")\n",
                                  ETH_ADDR_ARGS(e->backends[j].mac),
                                  e->ports[j].iface->name,
                                  ofp_to_u16(e->backends[j].port));
                }
            }
        }
        free(entries);
    }
    if (cache) {
        ds_put_format(ds, "  datapath map cache (all bridges): %"PRIuSIZE
                      " entries, %"PRIuSIZE" bytes; misses are counted per "
                      "PMD in dpif-netdev/pmd-stats-show\n",
                      flexmap_cache_count(cache),
                      flexmap_cache_memory(cache));
        flexmap_cache_conn_info_format(cache, ds);
    }
}

static void
flexmap_unixctl_show(struct unixctl_conn *conn, int argc, const char *argv[],
                     void *aux OVS_UNUSED)
{
    struct ds ds = DS_EMPTY_INITIALIZER;
    struct flexmap_bridge *fb;

    if (argc > 1) {
        fb = flexmap_bridge_find(argv[1]);
        if (!fb) {
            unixctl_command_reply_error(conn, "no such bridge");
            return;
        }
        flexmap_show_bridge(fb, &ds);
    } else {
        LIST_FOR_EACH (fb, node, &all_bridges) {
            flexmap_show_bridge(fb, &ds);
        }
    }
    unixctl_command_reply(conn, ds_cstr(&ds));
    ds_destroy(&ds);
}

/* Parses FLOW for flexmap/lookup into 'flow' as ofproto/trace does, and
 * also takes "tp_src" and "tp_dst" for UDP and SCTP as ovs-ofctl matches
 * do: OVS names those two after the TCP fields, whose prerequisites the
 * exact-flow parser checks.  Returns NULL or a malloc()'d error. */
static char *
fm_lookup_parse_flow(const char *s, struct flow *flow)
{
    char *copy = xstrdup(s), *pos = copy, *key, *value;
    const char *tp[2] = { NULL, NULL };     /* tp_src, tp_dst. */
    bool named[2] = { false, false };       /* tcp_src, udp_dst... given. */
    struct ds rest = DS_EMPTY_INITIALIZER;
    char *error = NULL;

    while (ofputil_parse_key_value(&pos, &key, &value)) {
        int i = !strcmp(key, "tp_src") ? 0 : !strcmp(key, "tp_dst") ? 1 : -1;

        if (i < 0) {
            static const char *const protos[] = { "tcp_", "udp_", "sctp_" };

            for (size_t k = 0; k < ARRAY_SIZE(protos); k++) {
                size_t len = strlen(protos[k]);

                if (!strncmp(key, protos[k], len)) {
                    named[0] |= !strcmp(key + len, "src");
                    named[1] |= !strcmp(key + len, "dst");
                }
            }
            ds_put_format(&rest, "%s%s%s%s", rest.length ? "," : "", key,
                          *value ? "=" : "", value);
        } else if (tp[i]) {
            error = xasprintf("%s: field %s set multiple times", s, key);
            goto out;
        } else {
            tp[i] = value;
        }
    }
    error = parse_ofp_exact_flow(flow, NULL, NULL, ds_cstr(&rest), NULL);
    for (int i = 0; !error && i < 2; i++) {
        const char *name = i ? "tp_dst" : "tp_src";
        ovs_be16 *field = i ? &flow->tp_dst : &flow->tp_src;
        union mf_value v;
        char *err;

        if (!tp[i]) {
            continue;
        }
        if (!is_ip_any(flow) || (flow->nw_proto != IPPROTO_TCP
                                 && flow->nw_proto != IPPROTO_UDP
                                 && flow->nw_proto != IPPROTO_SCTP)) {
            error = xasprintf("%s: prerequisites not met for setting %s "
                              "(tcp, udp or sctp first)", s, name);
        } else if (named[i]) {
            /* Given twice, also where its other name set it to 0. */
            error = xasprintf("%s: field %s set multiple times", s, name);
        } else {
            err = mf_parse_value(mf_from_id(i ? MFF_TCP_DST : MFF_TCP_SRC),
                                 tp[i], NULL, &v);
            if (err) {
                error = xasprintf("%s: bad value for %s (%s)", s, name, err);
                free(err);
            } else {
                *field = v.be16;
            }
        }
    }
out:
    ds_destroy(&rest);
    free(copy);
    return error;
}

/* Formats tunnel backend 'b' (a datapath backend whose port is a next hop's
 * pseudo-port) of 'fb' for flexmap/lookup: the tunnel port, tun_dst and
 * tun_id, then on a line of its own the next hop's datapath actions as the
 * datapath holds them.  Returns true if the next hop is resolved. */
static bool
fm_lookup_format_tnl(const struct flexmap_bridge *fb,
                     const struct flexmap_cache *cache,
                     const struct flexmap_dp_backend *b,
                     const struct ofputil_port_map *map, struct ds *ds)
{
    const struct flexmap_tnl_actions *ta = flexmap_cache_tnl_get(cache,
                                                                 b->port);
    uint32_t id = odp_to_u32(b->port) - FLEXMAP_TNL_PORT_BASE;
    ofp_port_t tnl_port = OFPP_NONE;
    const struct fm_tnl *t;
    bool resolved = ta && ta->len[0];

    HMAP_FOR_EACH (t, node, &fb->tnls) {
        if (t->id == id) {
            tnl_port = t->port;
        }
    }
    ds_put_format(ds, "backend: mac="ETH_ADDR_FMT",port=",
                  ETH_ADDR_ARGS(b->mac));
    ofputil_format_port(tnl_port, map, ds);
    ds_put_cstr(ds, ",tun_dst=");
    ipv6_format_mapped(&b->tun_dst, ds);
    ds_put_format(ds, ",tun_id=%#"PRIx64" (tunnel next hop %"PRIu32", %s)\n",
                  ntohll(b->tun_id), id,
                  resolved ? "resolved" : "unresolved");
    ds_put_cstr(ds, "next hop: ");
    if (resolved) {
        format_odp_actions(ds, flexmap_tnl_actions_variant(ta, 0),
                           ta->len[0], NULL);
    } else {
        ds_put_cstr(ds, "unresolved (no route to tun_dst, or its "
                    "neighbour's MAC not known yet: ARP or ND sent)");
    }
    ds_put_char(ds, '\n');
    return resolved;
}

/* "flexmap/lookup BRIDGE TABLE FLOW": runs the datapath's own lookup on a
 * packet built from FLOW and shows the entry and backend it gets. */
static void
flexmap_unixctl_lookup(struct unixctl_conn *conn, int argc OVS_UNUSED,
                       const char *argv[], void *aux OVS_UNUSED)
{
    const struct flexmap_cache_entry *ce;
    const struct flexmap_dp_backend *b;
    struct ofputil_port_map map;
    struct ds ds = DS_EMPTY_INITIALIZER;
    struct flexmap_bridge *fb;
    struct flexmap_cache *cache;
    struct flexmap_key key;
    struct dp_packet packet;
    struct flow flow;
    unsigned int table;
    uint32_t hash;
    char *error;

    fb = flexmap_bridge_find(argv[1]);
    if (!fb) {
        unixctl_command_reply_error(conn, "no such bridge");
        return;
    }
    cache = fb_cache(fb);
    if (!cache) {
        unixctl_command_reply_error(conn, "datapath has no map tables");
        return;
    }
    if (!str_to_uint(argv[2], 10, &table) || table > FLEXMAP_MAX_TABLE) {
        error = xasprintf("table %s out of range (0 to %d)", argv[2],
                          FLEXMAP_MAX_TABLE);
    } else {
        error = fm_lookup_parse_flow(argv[3], &flow);
    }
    if (error) {
        unixctl_command_reply_error(conn, error);
        free(error);
        return;
    }

    dp_packet_init(&packet, 0);
    flow_compose(&packet, &flow, NULL, 64);
    flow_extract(&packet, &flow);
    if (!flexmap_packet_extract(&packet, &key, &hash)) {
        ds_put_cstr(&ds, "not a packet flexmap can map (not IPv4/IPv6, or a "
                    "later fragment): miss\n");
        goto out;
    }

    ds_put_cstr(&ds, "destination: ");
    flexmap_key_format(&key, &ds);
    ds_put_format(&ds, "\nhash: %#"PRIx32"\n", hash);

    bool from_affinity;
    int idx = flexmap_cache_explain(cache,
                                    ofproto_flexmap_dp_table(fb, table),
                                    &packet, &ce, &from_affinity);
    if (!ce) {
        ds_put_cstr(&ds, "result: miss (the actions after flexmap run)\n");
        goto out;
    }

    const struct fm_entry *e = fm_find(fb, table,
                                       flexmap_cache_entry_key(ce));
    fb_port_map(fb, &map);
    if (e) {
        struct flexmap_entry fe;

        fm_entry_to_flexmap_entry(fb, e, &fe);
        ds_put_cstr(&ds, "entry: ");
        flexmap_entry_format(&fe, &map, &ds);
        ds_put_char(&ds, '\n');
    }
    b = idx >= 0 ? flexmap_cache_entry_backend(ce, idx) : NULL;
    bool tnl_resolved = true;
    if (b && flexmap_port_is_tnl(b->port)) {
        tnl_resolved = fm_lookup_format_tnl(fb, cache, b, &map, &ds);
    } else if (b) {
        ofp_port_t ofp_port = OFPP_NONE;
        struct ofport *ofport;

        HMAP_FOR_EACH (ofport, hmap_node, &fb->ofproto->up.ports) {
            if (ofproto_dpif_ofp_to_odp_port(fb->ofproto, ofport->ofp_port)
                == b->port) {
                ofp_port = ofport->ofp_port;
            }
        }
        ds_put_format(&ds, "backend: mac="ETH_ADDR_FMT",port=",
                      ETH_ADDR_ARGS(b->mac));
        ofputil_format_port(ofp_port, &map, &ds);
        ds_put_format(&ds, " (datapath port %"PRIu32")\n",
                      odp_to_u32(b->port));
    }
    if (b) {
        if (flexmap_cache_entry_n_backends(ce) > 1) {
            struct flexmap_cache_conns *conns
                = flexmap_cache_count_conns(cache);
            struct flexmap_cache_stats bs;

            flexmap_cache_entry_get_backend_stats(cache, ce, idx, &bs);
            ds_put_format(&ds, "chosen by: %s\n"
                          "backend counters: n_packets=%"PRIu64", "
                          "n_bytes=%"PRIu64", n_conns=%"PRIuSIZE"\n",
                          from_affinity
                          ? "connection affinity (a known connection)"
                          : "consistent hash (a new connection)",
                          bs.n_packets, bs.n_bytes,
                          flexmap_cache_conns_get(conns, ce, idx));
            flexmap_cache_conns_destroy(conns);
        }
        if (!flexmap_port_is_tnl(b->port)) {
            ds_put_cstr(&ds, "result: hit (eth_dst rewritten, output to the "
                        "backend's port)\n");
        } else if (tnl_resolved) {
            ds_put_cstr(&ds, "result: hit (eth_dst rewritten, encapsulated "
                        "to tun_dst by the next hop's actions)\n");
        } else {
            ds_put_cstr(&ds, "result: hit, tunnel next hop unresolved: "
                        "drop\n");
        }
    } else {
        ds_put_cstr(&ds, "result: hit, every backend drained: drop\n");
    }
    ofputil_port_map_destroy(&map);

out:
    dp_packet_uninit(&packet);
    unixctl_command_reply(conn, ds_cstr(&ds));
    ds_destroy(&ds);
}

static void
flexmap_unixctl_init(void)
{
    static bool registered;

    if (!registered) {
        registered = true;
        unixctl_command_register("flexmap/show", "[bridge]", 0, 1,
                                 flexmap_unixctl_show, NULL);
        unixctl_command_register("flexmap/lookup", "bridge table flow", 3, 3,
                                 flexmap_unixctl_lookup, NULL);
    }
}
