/*
 * floor.c - what the memory of many keys costs on this machine by itself:
 * bench/scale's cells with every event's work taken away except reaching
 * its key's state, so that a cell's distance from the 1k reference can be
 * split into what keywatch does and what the machine charges for touching
 * KEYS x BYTES of memory at random.
 *
 * usage: kw-floor KEYS PER BYTES [LINES [WORK [HOT]]]
 *
 * KEYS keys of PER events each, in a random order (fixed seed), every key
 * numbered by its first event as keywatch's key table numbers its entries.
 * Entries of BYTES bytes lie in one mapping that asks for transparent huge
 * pages, as the key table's do; an index of 64-byte groups (about ten keys
 * a group, keywatch's load) is read at the key's hash. A key's first event
 * clears its entry; a later one reads the index line and LINES lines of
 * the entry (default 3: the header, the engine's head and one family's
 * state) and writes one of them. Keys are asked for as keywatch asks: the
 * index lines of the events 32 to 48 on and the entries of those 16 to 32
 * on, at every 16th event. WORK (default 0) is that many rounds of
 * arithmetic between events, standing in for the rest of an event's work
 * (about 1,000 rounds take a microsecond here). HOT (default 0: not split)
 * splits a key's BYTES in two mappings: HOT bytes that every event reads,
 * and the rest, cleared by its first event and touched by no other (the
 * state of families most events do not reach, kept apart).
 *
 * Prints the CPU time (user + system) of the events alone, with the
 * clearing of fresh memory in it, and per event.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define BURST 16

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static uint64_t hash(uint32_t k)
{
	uint64_t h = (uint64_t)k * 0x9e3779b97f4a7c15u;

	return h ^ h >> 29;
}

/* n bytes asking for huge pages, or exit. */
static unsigned char *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		perror("kw-floor: mmap");
		exit(1);
	}
	madvise(p, n, MADV_HUGEPAGE);
	return p;
}

struct table {
	unsigned char *index; /* groups 64-byte lines */
	size_t groups;
	unsigned char *ents; /* hot bytes a key */
	size_t hot;
	size_t lines;
};

static unsigned char *group_of(const struct table *t, uint32_t k)
{
	return t->index + (hash(k) & (t->groups - 1)) * 64;
}

/* At event i, as keywatch asks: the index lines of the keys of events
 * i + 32 to i + 48, then the entries of those of i + 16 to i + 32. */
static void ask(const struct table *t, const uint32_t *order, size_t i,
		size_t n)
{
	for (size_t j = i + 2 * BURST; j < i + 3 * BURST && j < n; j++)
		__builtin_prefetch(group_of(t, order[j]));
	for (size_t j = i + BURST; j < i + 2 * BURST && j < n; j++) {
		const unsigned char *e = t->ents + (size_t)order[j] * t->hot;

		for (size_t l = 0; l < t->lines; l++)
			__builtin_prefetch(e + 64 * l);
	}
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 7) {
		fprintf(stderr, "usage: kw-floor KEYS PER BYTES [LINES [WORK "
				"[HOT]]]\n");
		return 2;
	}
	size_t keys = strtoul(argv[1], NULL, 10);
	size_t per = strtoul(argv[2], NULL, 10);
	size_t bytes = strtoul(argv[3], NULL, 10);
	size_t lines = argc > 4 ? strtoul(argv[4], NULL, 10) : 3;
	unsigned long work = argc > 5 ? strtoul(argv[5], NULL, 10) : 0;
	size_t hot = argc > 6 ? strtoul(argv[6], NULL, 10) : 0;
	size_t n = keys * per, groups = 1, cold;

	if (!hot)
		hot = bytes;
	if (!keys || !per || hot < 64 || hot > bytes || lines < 1 ||
	    lines * 64 > hot || n > UINT32_MAX) {
		fprintf(stderr, "kw-floor: KEYS, PER >= 1, 64 <= HOT <= BYTES, "
				"1 <= LINES <= HOT / 64\n");
		return 2;
	}
	cold = (bytes - hot + 15) & ~(size_t)15;
	hot = (hot + 15) & ~(size_t)15; /* entries 16-byte aligned */
	while (groups * 10 < keys)
		groups *= 2;

	/* The order: each key per times, shuffled, then renumbered by
	 * first event. */
	uint32_t *order = malloc(n * sizeof(*order));
	uint32_t *num = malloc(keys * sizeof(*num));

	if (!order || !num) {
		fprintf(stderr, "kw-floor: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)(i % keys);
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = next() % (i + 1);
		uint32_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	memset(num, 0xff, keys * sizeof(*num));
	uint32_t made = 0;

	for (size_t i = 0; i < n; i++) {
		if (num[order[i]] == UINT32_MAX)
			num[order[i]] = made++;
		order[i] = num[order[i]];
	}
	free(num);

	struct table t = {map(groups * 64), groups, map(keys * hot), hot,
			  lines};
	unsigned char *colds = cold ? map(keys * cold) : NULL;

	memset(t.index, 1, groups * 64); /* the index exists before the run */

	double t0 = cpu_seconds();
	uint32_t created = 0;
	uint64_t sum = 0, acc = 1;

	for (size_t i = 0; i < n; i++) {
		if (i % BURST == 0)
			ask(&t, order, i, n);
		uint32_t k = order[i];
		unsigned char *e = t.ents + (size_t)k * hot;

		sum += group_of(&t, k)[k & 63];
		if (k == created) { /* first events come in number order */
			memset(e, 0, hot);
			if (cold)
				memset(colds + (size_t)k * cold, 0, cold);
			e[0] = 1;
			created++;
		} else {
			for (size_t l = 0; l < lines; l++)
				sum += e[64 * l];
			e[64 * (lines - 1)]++;
		}
		for (unsigned long w = 0; w < work; w++)
			acc = acc * 6364136223846793005u + sum;
	}
	double secs = cpu_seconds() - t0;

	free(order);

	printf("kw-floor: %zu keys x %zu, %zu bytes a key (%zu hot), "
	       "%zu lines, work %lu: %.2f s cpu, %.1f ns an event "
	       "(check %llu)\n",
	       keys, per, hot + cold, hot, lines, work, secs,
	       secs * 1e9 / (double)n, (unsigned long long)(sum + acc));
	return 0;
}
