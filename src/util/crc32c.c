/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CRC-32C: a hardware path (SSE4.2, chosen at run time) and a portable
 * slicing-by-8 path that must agree bit for bit, plus combination of two
 * CRCs by multiplication in GF(2)[x] mod P. No I/O, no allocation.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "util/crc32c.h"

#define POLY 0x82F63B78u /* reflected Castagnoli polynomial */

static uint32_t table[8][256];
static bool use_hw;
#define LANE 4096u		  /* bytes per lane of the hardware path */
static uint32_t lane_k1, lane_k2; /* x^(8 * LANE), x^(8 * 2 * LANE) mod P */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uint32_t x8n(uint64_t n);

static void init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	use_hw = __builtin_cpu_supports("sse4.2");
#endif
#if defined(__x86_64__)
	lane_k1 = x8n(LANE);
	lane_k2 = x8n(2 * LANE);
#endif
}

/* The register form (no pre/post inversion) of the portable loop. */
static uint32_t sw_raw(uint32_t c, const unsigned char *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
		len--;
	}
	while (len >= 8) {
		uint32_t lo, hi;
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		lo = __builtin_bswap32(lo);
		hi = __builtin_bswap32(hi);
#endif
		lo ^= c;
		c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
		    table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
		    table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__)
/*
 * crc32q has a latency of three cycles and a throughput of one: a single
 * chain of dependent crc32q uses a third of the unit. Large buffers run as
 * three lanes of LANE bytes side by side, joined by multiplying the first
 * two by x^(8 * 2 * LANE) and x^(8 * LANE) mod P (lane_k, set up by init()).
 */
static uint32_t mulmod(uint32_t a, uint32_t b);

__attribute__((target("sse4.2"))) static uint64_t hw_run(uint64_t c, const unsigned char *p,
							 size_t len)
{
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	return c;
}

__attribute__((target("sse4.2"))) static uint32_t hw_raw(uint32_t c, const unsigned char *p,
							 size_t len)
{
	uint64_t c64;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi(c, *p++);
		len--;
	}
	c64 = c;
	for (; len >= 3 * LANE; p += 3 * LANE, len -= 3 * LANE) {
		uint64_t a = c64, b = 0, d = 0;
		for (size_t i = 0; i < LANE; i += 8) {
			uint64_t va, vb, vd;
			memcpy(&va, p + i, 8);
			memcpy(&vb, p + LANE + i, 8);
			memcpy(&vd, p + 2 * LANE + i, 8);
			a = __builtin_ia32_crc32di(a, va);
			b = __builtin_ia32_crc32di(b, vb);
			d = __builtin_ia32_crc32di(d, vd);
		}
		c64 = mulmod((uint32_t)a, lane_k2) ^ mulmod((uint32_t)b, lane_k1) ^ (uint32_t)d;
	}
	c64 = hw_run(c64, p, len);
	p += len & ~(size_t)7;
	len &= 7;
	c = (uint32_t)c64;
	while (len--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&once, init);
	if (!len)
		return crc;
	return ~sw_raw(~crc, data, len);
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&once, init);
	if (!len)
		return crc;
#if defined(__x86_64__)
	if (use_hw)
		return ~hw_raw(~crc, data, len);
#endif
	return ~sw_raw(~crc, data, len);
}

bool crc32c_is_hw(void)
{
	pthread_once(&once, init);
	return use_hw;
}

/* a * b mod P, both reflected (bit 31 is x^0). */
static uint32_t mulmod(uint32_t a, uint32_t b)
{
	uint32_t p = 0;

	for (uint32_t m = 1u << 31; m; m >>= 1) {
		if (a & m)
			p ^= b;
		b = (b & 1) ? (b >> 1) ^ POLY : b >> 1;
	}
	return p;
}

/* x^(8 * n) mod P, by squaring x^8 along the bits of n. */
static uint32_t x8n(uint64_t n)
{
	uint32_t r = 1u << 31;	      /* x^0 */
	uint32_t sq = 1u << (31 - 8); /* x^8 */

	while (n) {
		if (n & 1)
			r = mulmod(r, sq);
		sq = mulmod(sq, sq);
		n >>= 1;
	}
	return r;
}

uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	/*
	 * The CRC is linear: crc(A || B) = crc(A) * x^(8|B|) mod P xor crc(B),
	 * the pre- and post-inversions cancelling out for equal-length B.
	 */
	return mulmod(crc_a, x8n(len_b)) ^ crc_b;
}
