/*
 * bytes.h — big-endian integers in byte buffers (on-disk and on-wire
 * records: layout.c's chunk records, data_cache.c's copy headers).
 */
#ifndef CASSAFS_BYTES_H
#define CASSAFS_BYTES_H

#include <stdint.h>

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

#endif
