/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum S3
 * stores as x-amz-checksum-crc32c. Uses the SSE4.2 crc32 instruction when
 * the CPU has it, else a table-driven slicing-by-8 loop. Pure functions,
 * no locks; the CPU check runs once, on first use.
 */
#ifndef obsmount_CRC32C_H
#define obsmount_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The CRC-32C of @crc's message followed by @len bytes at @data (borrowed;
 * may be NULL when @len is 0). Start with 0: crc32c(0, "123456789", 9) is
 * 0xE3069283.
 */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* The same with the portable loop only (for tests and the benchmark). */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len);

/* Is crc32c() using the CPU's instruction? */
bool crc32c_is_hw(void);

/*
 * The CRC-32C of A followed by B from @crc_a = crc32c(0, A), @crc_b =
 * crc32c(0, B) and B's length @len_b, without the bytes: what a multipart
 * upload's whole-object checksum is made of.
 */
uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

#endif
