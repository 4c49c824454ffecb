/*
 * siphash.c - SipHash-2-4 with a 64-bit result.
 *
 * Written from the description in the paper: the state v0..v3 starts as the
 * key xor "somepseudorandomlygeneratedbytes", each 8-byte little-endian
 * message word m is absorbed as v3 ^= m, two SipRounds, v0 ^= m; the last
 * word holds the remaining bytes and the message length (mod 256) in its top
 * byte; finalisation is v2 ^= 0xff and four SipRounds. Words are read byte
 * by byte so the code is independent of host endianness and alignment.
 */
#include "state/siphash.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

static inline uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	       (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

struct sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = rotl64(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl64(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl64(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl64(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl64(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl64(s->v2, 32);
}

static inline void sip_absorb(struct sip_state *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

uint64_t kw_siphash(const void *data, size_t n, const uint8_t key[16])
{
	const uint8_t *p = data;
	size_t words = n / 8;
	uint64_t k0 = load_le64(key);
	uint64_t k1 = load_le64(key + 8);
	struct sip_state s = {
		.v0 = k0 ^ UINT64_C(0x736f6d6570736575),
		.v1 = k1 ^ UINT64_C(0x646f72616e646f6d),
		.v2 = k0 ^ UINT64_C(0x6c7967656e657261),
		.v3 = k1 ^ UINT64_C(0x7465646279746573),
	};
	uint64_t last = (uint64_t)(n & 0xff) << 56;

	for (size_t w = 0; w < words; w++)
		sip_absorb(&s, load_le64(p + 8 * w));
	for (size_t i = 0; i < n % 8; i++)
		last |= (uint64_t)p[8 * words + i] << (8 * i);
	sip_absorb(&s, last);
	s.v2 ^= 0xff;
	sip_round(&s);
	sip_round(&s);
	sip_round(&s);
	sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* ---- random keys ---- */

static enum kw_status read_urandom(uint8_t *buf, size_t n)
{
	enum kw_status st = KW_EIO;
	size_t got = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		goto cleanup;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto cleanup;
		got += (size_t)r;
	}
	st = KW_OK;
cleanup:
	if (fd >= 0)
		close(fd);
	return st;
}

enum kw_status kw_siphash_random_key(uint8_t seed[KW_SIPHASH_KEY_LEN])
{
	size_t got = 0;

	while (got < KW_SIPHASH_KEY_LEN) {
		ssize_t r = getrandom(seed + got, KW_SIPHASH_KEY_LEN - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return read_urandom(seed, KW_SIPHASH_KEY_LEN);
		got += (size_t)r;
	}
	return KW_OK;
}
