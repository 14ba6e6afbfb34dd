/*
 * u64vec.h — a growable array of u64 (inode numbers, block indices) for
 * the places that collect them during a scan and act after it.
 */
#ifndef CASSAFS_U64VEC_H
#define CASSAFS_U64VEC_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

struct u64vec {
	uint64_t *v;
	size_t n, cap;
};

static inline int u64vec_push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		uint64_t *p = realloc(a->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		a->v = p;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

static inline void u64vec_free(struct u64vec *a)
{
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

#endif
