/*
 * ring_fuzz — libFuzzer target for the ring-file and builder-file parsers
 * (built and run for a bounded time by tests/t_ring_fuzz.sh with clang
 * -fsanitize=fuzzer,address,undefined).  Byte 0 picks the parser; what
 * parses is then used (lookups, metrics, validation, a small rebalance), so
 * a parser that accepts inconsistent data shows up as a crash here.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ring_builder.h"

static void use_ring(struct ring *r)
{
	uint32_t ids[64];
	struct ring_tiers tt;

	ring_update_bookkeeping(r);
	for (uint32_t p = 0; p < 4 && p < r->row_len[0]; p++) {
		int n = ring_part_nodes(r, p, ids, 32);
		ring_more_nodes(r, p, ids + n, 64 - n);
	}
	(void)ring_balance(r);
	if (r->nrows <= 64 && ring_tiers_build(r, &tt) == 0) {
		(void)ring_dispersion(r, &tt, NULL);
		ring_tiers_free(&tt);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[RING_ERRLEN];

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		struct ring_builder *b = NULL;
		if (ring_builder_parse(data + 1, size - 1, &b, err,
				       sizeof(err)) == 0) {
			struct ring_rebalance_result res;
			ring_builder_validate(b, err, sizeof(err));
			if (b->r->nrows)
				use_ring(b->r);
			if (b->r->part_power <= 8 && b->r->replicas <= 6 &&
			    b->r->ndevs <= 64)
				ring_builder_rebalance(b, 1, &res, err, sizeof(err));
			ring_builder_free(b);
		}
	} else {
		struct ring *r = NULL;
		if (ring_load_mem(data + 1, size - 1, &r, err, sizeof(err)) == 0) {
			use_ring(r);
			ring_free(r);
		}
	}
	return 0;
}
