/*
 * ring_oracle_dump — our side of the Swift oracle comparison
 * (tests/t_ring_swift.sh): prints lines in swift_oracle.py's format.
 *
 *   ring_oracle_dump parts RING PARTLIST     (partition numbers, one a line)
 *   ring_oracle_dump keys RING PREFIX SUFFIX KEYFILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

static void print_nodes(const struct ring *r, const char *key, uint32_t part)
{
	uint32_t *ids = malloc((r->ndevs + r->nrows + 1) * sizeof(*ids));
	int n, m;

	if (!ids)
		exit(2);
	n = ring_part_nodes(r, part, ids, (int)r->nrows);
	m = ring_more_nodes(r, part, ids + n, (int)r->ndevs);
	printf("%s|%u|", key, part);
	for (int i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", ids[i]);
	printf("|");
	for (int i = 0; i < m; i++)
		printf("%s%u", i ? "," : "", ids[n + i]);
	printf("\n");
	free(ids);
}

int main(int argc, char **argv)
{
	struct ring *r;
	char err[RING_ERRLEN], line[8192];
	FILE *f;

	if (argc < 4 || ring_load(argv[2], &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "ring_oracle_dump: %s\n",
			argc < 4 ? "usage: parts RING LIST | keys RING P S FILE"
				 : err);
		return 2;
	}
	f = fopen(argv[!strcmp(argv[1], "keys") ? 5 : 3], "r");
	if (!f)
		return 2;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!*line)
			continue;
		if (!strcmp(argv[1], "parts")) {
			print_nodes(r, line, (uint32_t)strtoul(line, NULL, 10));
			continue;
		}
		/* "/account[/container[/object-with-slashes]]" */
		char *a = line + 1, *c = strchr(a, '/'), *o = NULL;
		if (c) {
			*c++ = 0;
			o = strchr(c, '/');
			if (o)
				*o++ = 0;
		}
		uint32_t part;
		if (ring_get_part(r, argv[3], argv[4], a, c, o, &part) < 0)
			return 2;
		if (c)
			c[-1] = '/';
		if (o)
			o[-1] = '/';
		print_nodes(r, line, part);
	}
	fclose(f);
	ring_free(r);
	return 0;
}
