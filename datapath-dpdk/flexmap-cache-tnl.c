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

#include "flexmap-cache.h"
#include "flexmap-cache-private.h"

#include "cmap.h"
#include "hash.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/util.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "util.h"

/* Tunnel next hops of the map cache: the actions that a tunnel backend's
 * packets run after their Ethernet rewrite (see flexmap-cache.h).  They
 * live in the cache's 'tnls' cmap, read lock-free by the datapath and
 * written under the cache's 'mutex'. */

/* A tunnel next hop. */
struct fc_tnl {
    struct cmap_node node;          /* In 'tnls', by hash of 'id'. */
    uint32_t id;
    OVSRCU_TYPE(struct flexmap_tnl_actions *) actions;
};

/* Tunnel next hops. */

static struct fc_tnl *
fc_tnl_find(const struct flexmap_cache *cache, uint32_t id)
{
    struct fc_tnl *t;

    CMAP_FOR_EACH_WITH_HASH (t, node, hash_int(id, 0), &cache->tnls) {
        if (t->id == id) {
            return t;
        }
    }
    return NULL;
}

static void
fc_tnl_actions_free(struct flexmap_tnl_actions *a)
{
    free(a);
}

/* Sets the actions of tunnel next hop 'id' to the netlink attributes in
 * 'variants', FLEXMAP_TNL_N_ECN of them, one per ECN variant (see
 * flexmap_tnl_ecn_variant()); an empty one makes the next hop unresolved:
 * its packets are dropped. */
void
flexmap_cache_tnl_set(struct flexmap_cache *cache, uint32_t id,
                      const struct ofpbuf *variants)
{
    struct flexmap_tnl_actions *a;
    bool resolved = true;
    size_t n = 0;
    struct fc_tnl *t;

    ovs_assert(id <= FLEXMAP_TNL_MAX_ID);
    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        n += ROUND_UP(variants[i].size, 8) / 8;
        resolved = resolved && variants[i].size;
    }
    a = xmalloc(sizeof *a + n * 8);
    n = 0;
    for (int i = 0; i < FLEXMAP_TNL_N_ECN; i++) {
        a->len[i] = resolved ? variants[i].size : 0;
        a->ofs[i] = n;
        /* An empty variant's data may be NULL. */
        nullable_memcpy(&a->actions[n], variants[i].data, a->len[i]);
        n += ROUND_UP(a->len[i], 8) / 8;
    }

    ovs_mutex_lock(&cache->mutex);
    t = fc_tnl_find(cache, id);
    if (!t) {
        t = xmalloc(sizeof *t);
        t->id = id;
        ovsrcu_init(&t->actions, a);
        cmap_insert(&cache->tnls, &t->node, hash_int(id, 0));
    } else {
        ovsrcu_postpone(fc_tnl_actions_free,
                        ovsrcu_get_protected(struct flexmap_tnl_actions *,
                                             &t->actions));
        ovsrcu_set(&t->actions, a);
    }
    ovs_mutex_unlock(&cache->mutex);
}

static void
fc_tnl_free(struct fc_tnl *t)
{
    free(ovsrcu_get_protected(struct flexmap_tnl_actions *, &t->actions));
    free(t);
}

/* Forgets tunnel next hop 'id'.  Entries should not refer to it any more;
 * packets of those that still do are dropped. */
void
flexmap_cache_tnl_del(struct flexmap_cache *cache, uint32_t id)
{
    struct fc_tnl *t;

    ovs_mutex_lock(&cache->mutex);
    t = fc_tnl_find(cache, id);
    if (t) {
        cmap_remove(&cache->tnls, &t->node, hash_int(id, 0));
        ovsrcu_postpone(fc_tnl_free, t);
    }
    ovs_mutex_unlock(&cache->mutex);
}

/* Returns the actions of the tunnel next hop that 'port' names, or NULL if
 * there is none.  RCU-protected: valid until the caller quiesces. */
const struct flexmap_tnl_actions *
flexmap_cache_tnl_get(const struct flexmap_cache *cache, odp_port_t port)
{
    const struct fc_tnl *t;

    if (!flexmap_port_is_tnl(port)) {
        return NULL;
    }
    t = fc_tnl_find(cache, odp_to_u32(port) - FLEXMAP_TNL_PORT_BASE);
    return t ? ovsrcu_get(struct flexmap_tnl_actions *, &t->actions) : NULL;
}

void
fc_tnl_destroy_all(struct flexmap_cache *cache)
    OVS_REQUIRES(cache->mutex)
{
    struct fc_tnl *t;

    CMAP_FOR_EACH (t, node, &cache->tnls) {
        cmap_remove(&cache->tnls, &t->node, hash_int(t->id, 0));
        ovsrcu_postpone(fc_tnl_free, t);
    }
}
