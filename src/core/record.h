/*
 * record.h - one record as cut from a byte stream by the splitter: a line of
 * JSONL, or one element of a JSON document's array. The bytes are borrowed
 * from the splitter's buffer and valid until its next call.
 */
#ifndef KW_CORE_RECORD_H
#define KW_CORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct kw_record {
	const char
		*p; /* record bytes, no trailing newline; not NUL-terminated */
	size_t n;
	uint64_t line; /* 1-based line number where the record starts */
};

#endif
