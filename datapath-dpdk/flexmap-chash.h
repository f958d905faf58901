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

#ifndef FLEXMAP_CHASH_H
#define FLEXMAP_CHASH_H 1

/* Consistent hashing for multi-backend map entries.
 *
 * Maps a flow's 32-bit 5-tuple hash to the index of one backend of an
 * entry, by weighted rendezvous (highest random weight) hashing evaluated
 * for the flow itself: each live backend scores the flow, the best score
 * wins.  A table holds only what scoring needs of each live backend (its
 * hashed identity and weight), 8 + 32 * N bytes for N backends, and a
 * lookup costs N hashes (and, with unequal weights, about ln(N) + 1
 * logarithms).  The datapath looks a pool up only for a packet that its
 * connection table does not already place.
 *
 * The mapping depends only on the backends' identities and weights, never on
 * their order, on history or on any table size, so that every node (and
 * every restart) computes the same backend for the same flow and pool, and:
 *
 *   - removing or draining a backend moves only the flows it had;
 *   - adding a backend, or raising its weight, moves flows only to it;
 *   - each live backend gets each flow with probability equal to its share
 *     of the total weight, independently per flow hash: the spread over F
 *     flows is binomial, so it is as even as the flows are many (see
 *     flexmap-chash.c for the figures).
 *
 * Thread-safety: a built table is immutable; any number of threads may look
 * it up at once.  Building is single-threaded and allocates nothing. */

#include <stddef.h>
#include <stdint.h>

/* Most backends a table can index. */
#define FLEXMAP_CHASH_MAX_BACKENDS 64

/* A live (non-zero weight) backend, as scoring needs it. */
struct flexmap_chash_backend {
    uint64_t key;               /* Hash of the identity. */
    uint64_t id;                /* Identity, for breaking ties. */
    double weight;              /* Weight, > 0. */
    uint32_t idx;               /* Index in the caller's arrays. */
    uint32_t pad;
};

struct flexmap_chash {
    uint32_t n_live;            /* 0: every weight zero. */
    uint32_t equal;             /* Nonzero if every live weight is equal. */
    struct flexmap_chash_backend live[];
};

/* Returns the number of bytes to allocate for a table of an entry with
 * 'n_backends' backends (1 <= n_backends <= FLEXMAP_CHASH_MAX_BACKENDS). */
size_t flexmap_chash_size(size_t n_backends);

/* Builds 'table', which must have flexmap_chash_size(n) bytes, for the 'n'
 * backends whose stable identities are 'ids' and weights are 'weights'.
 * A zero weight drains a backend: it is never chosen.  Identities should be
 * distinct; backends with equal identities are ordered by index.  Two
 * builds from the same arrays are byte for byte the same. */
void flexmap_chash_build(struct flexmap_chash *table, const uint64_t ids[],
                         const uint16_t weights[], size_t n);

/* Returns the index of the backend that 'table' chooses for a flow whose
 * 5-tuple hash is 'hash', or -1 if every weight is zero. */
int flexmap_chash_lookup__(const struct flexmap_chash *table, uint32_t hash);

static inline int
flexmap_chash_lookup(const struct flexmap_chash *table, uint32_t hash)
{
    if (table->n_live <= 1) {
        return table->n_live ? (int) table->live[0].idx : -1;
    }
    return flexmap_chash_lookup__(table, hash);
}

#endif /* flexmap-chash.h */
