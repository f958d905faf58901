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

#include "flexmap-chash.h"

#include <math.h>
#include <string.h>

#include "util.h"

/* Consistent hashing: weighted rendezvous hashing, per flow.
 *
 * Algorithm
 * =========
 *
 * Rendezvous or "highest random weight" (HRW) hashing (Thaler and
 * Ravishankar, "Using name-based mappings to increase hit rates", IEEE/ACM
 * Trans. Networking 6(1), 1998) sends a key to the backend that scores
 * highest for it, each backend's score being a hash of (key, backend).
 * Here the key is the flow's 32-bit 5-tuple hash h.  For live backend i
 * with weight w_i > 0:
 *
 *     u_i(h) = (x_i(h) + 0.5) / 2^52,    x_i(h) = top 52 bits of
 *              splitmix64(splitmix64(id_i + G) ^ splitmix64(h * G + S))
 *
 *     winner(h) = argmax_i  w_i / -ln(u_i(h))  =  argmin_i -ln(u_i(h)) / w_i
 *
 * -ln(u) of a uniform u is exponential with mean 1, so -ln(u_i) / w_i is
 * exponential with rate w_i, and the smallest of independent exponentials
 * is backend i's with probability w_i / sum(w): each flow hash goes to i
 * with exactly its share of the weight.  This is the weighted form of HRW
 * (Schindelhauer and Schomaker, "Weighted distributed hash tables", SPAA
 * 2005; also known as "weighted rendezvous hashing").  u is built from 52
 * bits, rather than 64, so that u and 1 - u are exact in a double and never
 * 0 or 1.  Ties of scores are broken by the larger x, then the smaller
 * identity, then the smaller index; ties of x have a 2^-52 chance per pair.
 *
 * Because a flow's winner depends only on the scores of the live backends
 * for that flow, and a backend's score depends only on its identity, its
 * weight and the flow hash:
 *
 *   - removing or draining backend r changes exactly the flows r won;
 *   - adding backend a changes exactly the flows a now wins;
 *   - raising w_a only lowers a's scores, so flows move only to a;
 *   - the order of the backends in the caller's arrays does not matter.
 *
 * Why rendezvous rather than Maglev
 * =================================
 *
 * Maglev (Eisenbud et al., "Maglev: A fast and reliable software network
 * load balancer", NSDI 2016) fills a table by letting backends take turns
 * claiming slots from their own permutations.  That balances the table to
 * within one slot per backend, but whether a slot is still free when a
 * backend's turn comes depends on every other backend, so removing one
 * backend also moves a small share of the other backends' flows.  With
 * rendezvous hashing that share is exactly zero, which is what pools need:
 * connections to the backends that stay must not break.
 *
 * Why per flow rather than a slot table
 * =====================================
 *
 * Scores could be tabulated for M slots (a flow using slot (h * M) >> 32),
 * making a lookup one byte load, and this product did so with M = 262139.
 * But then each backend's share is a binomial draw over the M slots, so an
 * even spread needs a large M (about N / e^2 slots for a relative error e:
 * 3% at N = 16 needs some 160,000 slots once the worst of the N is counted),
 * and every pool paid 256 kB and 5 to 140 ms to build; M can also not
 * depend on N, since another M moves almost every flow.  Scoring the flow
 * itself has none of that: the spread is that of the flows, a table is
 * 8 + 32 * N bytes (136 bytes for 4 backends, 2 kB for 64), it builds in
 * nanoseconds, and pools with the same backends simply score the same.
 * The cost moves to lookups: N splitmix64 rounds, independent of each other
 * so the CPU overlaps them (a few cycles each), plus, with unequal weights,
 * the logarithms of the backends that pass the pruning test below, about
 * ln(N) + 1 of them.  The datapath pays it only for packets that its
 * connection table does not place: the first packet of each connection, and
 * every packet when the table is full.
 *
 * Determinism: the choice depends only on the identities, the weights, the
 * flow hash and the constants below.  With unequal weights, it also depends
 * on log() ordering scores correctly; two libms can disagree on a flow only
 * where two scores are within a rounding error of each other. */

/* Odd 64-bit constants: 2^64 / golden ratio, and an arbitrary one.  Part of
 * the mapping: changing them moves every flow. */
#define CHASH_GOLDEN 0x9e3779b97f4a7c15ULL
#define CHASH_SLOT_SEED 0x5bd1e9955bd1e995ULL

/* 2^-52 and 1 + 2^-32 (see chash_build_slots()). */
#define CHASH_2M52 (1.0 / 4503599627370496.0)
#define CHASH_PRUNE_MARGIN (1.0 + 1.0 / 4294967296.0)

/* The splitmix64 finalizer (Steele, Lea & Flood, "Fast splittable
 * pseudorandom number generators", OOPSLA 2014): a bijection of 64-bit
 * values in which every input bit affects every output bit. */
static inline uint64_t
chash_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

size_t
flexmap_chash_size(size_t n_backends)
{
    ovs_assert(n_backends >= 1 && n_backends <= FLEXMAP_CHASH_MAX_BACKENDS);
    return (sizeof(struct flexmap_chash)
            + n_backends * sizeof(struct flexmap_chash_backend));
}

/* Returns true if a candidate with 'score', 'x' (52-bit hash), 'id' and
 * 'idx' beats the best one so far.  Lower score wins; then the higher hash
 * (so that equal weights order by hash alone, whatever rounding does to the
 * scores); then the lower identity; then the lower index. */
static inline bool
chash_beats(double score, uint64_t x, const struct flexmap_chash_backend *b,
            double best_score, uint64_t best_x,
            const struct flexmap_chash_backend *best)
{
    if (score != best_score) {
        return score < best_score;
    } else if (x != best_x) {
        return x > best_x;
    } else if (b->id != best->id) {
        return b->id < best->id;
    } else {
        return b->idx < best->idx;
    }
}

/* Returns the key of flow hash 'h'. */
static inline uint64_t
chash_flow_key(uint32_t h)
{
    return chash_mix64(h * CHASH_GOLDEN + CHASH_SLOT_SEED);
}

/* Returns the 52-bit hash 'x' of 'b' for the flow with 'flow_key'.  The
 * backend's u is then (x + 0.5) / 2^52. */
static inline uint64_t
chash_x(const struct flexmap_chash_backend *b, uint64_t flow_key)
{
    return chash_mix64(b->key ^ flow_key) >> 12;
}

/* Returns -ln(u) / weight, the score of 'b' with hash 'x' (lower wins). */
static inline double
chash_score(const struct flexmap_chash_backend *b, uint64_t x)
{
    return -log(((double) (int64_t) x + 0.5) * CHASH_2M52) / b->weight;
}

/* Equal weights: w / -ln(u) is then largest for the largest u, that is, the
 * largest 'x', so no logarithm is needed.  This picks exactly what
 * chash_choose_weighted() would: that orders equal-weight backends by the
 * same keys (x, identity, index), since -ln(u) / w is non-increasing in
 * 'x'. */
static int
chash_choose_equal(const struct flexmap_chash *t, uint64_t key)
{
    const struct flexmap_chash_backend *bs = t->live;
    uint64_t xs[FLEXMAP_CHASH_MAX_BACKENDS];
    uint64_t best_x;
    uint32_t best = 0;
    bool tie = false;

    /* The hashes first, independent of each other, so that they overlap. */
    for (uint32_t i = 0; i < t->n_live; i++) {
        xs[i] = chash_x(&bs[i], key);
    }
    best_x = xs[0];
    for (uint32_t i = 1; i < t->n_live; i++) {
        /* Branch-free: which backend wins is unpredictable. */
        tie |= xs[i] == best_x;
        best = xs[i] > best_x ? i : best;
        best_x = xs[i] > best_x ? xs[i] : best_x;
    }

    if (OVS_UNLIKELY(tie)) {
        /* Two equal 'x' (a 2^-52 chance per pair): order equal 'x' by
         * identity, then index. */
        best = 0;
        for (uint32_t i = 1; i < t->n_live; i++) {
            const struct flexmap_chash_backend *b = &bs[i];
            const struct flexmap_chash_backend *c = &bs[best];

            if (xs[i] > xs[best]
                || (xs[i] == xs[best]
                    && (b->id < c->id
                        || (b->id == c->id && b->idx < c->idx)))) {
                best = i;
            }
        }
    }
    return bs[best].idx;
}

/* Any weights. */
static int
chash_choose_weighted(const struct flexmap_chash *t, uint64_t key)
{
    const struct flexmap_chash_backend *bs = t->live;
    uint64_t xs[FLEXMAP_CHASH_MAX_BACKENDS];
    double best_score;
    uint64_t best_x;
    uint32_t best = 0;

    for (uint32_t i = 0; i < t->n_live; i++) {
        xs[i] = chash_x(&bs[i], key);
    }
    best_x = xs[0];
    best_score = chash_score(&bs[0], best_x);
    for (uint32_t i = 1; i < t->n_live; i++) {
        const struct flexmap_chash_backend *b = &bs[i];
        uint64_t x = xs[i];

        /* Pruning.  With u = (x + 0.5) / 2^52 and v = 1 - u (both exact in
         * a double), -ln(u) >= v, so a backend with v > best_score * weight
         * cannot win.  The margin (1 + 2^-32; weight times it is exact)
         * covers the rounding of log(), of the division and of the product,
         * so that the pruned scan picks exactly what a full scan would.
         * Only about ln(n) backends per flow get past this test. */
        double v = (((double) (int64_t) ((1ULL << 52) - 1 - x) + 0.5)
                    * CHASH_2M52);
        if (v > best_score * (b->weight * CHASH_PRUNE_MARGIN)) {
            continue;
        }

        double score = chash_score(b, x);
        if (chash_beats(score, x, b, best_score, best_x, &bs[best])) {
            best = i;
            best_x = x;
            best_score = score;
        }
    }
    return bs[best].idx;
}

int
flexmap_chash_lookup__(const struct flexmap_chash *t, uint32_t hash)
{
    uint64_t key = chash_flow_key(hash);

    return (t->equal
            ? chash_choose_equal(t, key)
            : chash_choose_weighted(t, key));
}

void
flexmap_chash_build(struct flexmap_chash *table, const uint64_t ids[],
                    const uint16_t weights[], size_t n)
{
    uint32_t n_live = 0;
    bool equal = true;

    ovs_assert(n >= 1 && n <= FLEXMAP_CHASH_MAX_BACKENDS);
    memset(table, 0, flexmap_chash_size(n));
    for (size_t i = 0; i < n; i++) {
        if (weights[i]) {
            struct flexmap_chash_backend *b = &table->live[n_live++];

            b->key = chash_mix64(ids[i] + CHASH_GOLDEN);
            b->id = ids[i];
            b->weight = weights[i];
            b->idx = i;
            equal = equal && b->weight == table->live[0].weight;
        }
    }
    table->n_live = n_live;
    table->equal = equal;
}
