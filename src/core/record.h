/*
 * record.h - one record as cut from a byte stream by the splitter: a line of
 * JSONL, one of several JSON objects, or one element of a JSON document's
 * array. The bytes are borrowed from the splitter's buffer and valid until
 * its next call.
 *
 * The kind says where the record was found, which is all the splitter knows
 * about it: the decoding stage unwraps and recognises each record on its own
 * (ingest/dispatch.h), never deciding for a whole input from its first one.
 */
#ifndef KW_CORE_RECORD_H
#define KW_CORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

enum kw_record_kind {
	KW_REC_OBJECT = 0, /* a JSON object at the top level: a JSONL line, a
			      pretty-printed object, one of several objects
			      written one after another */
	KW_REC_TEXT,	   /* a line that does not start with '{' or '[':
			      "<timestamp> {json}" of a CloudWatch Logs
			      export, or damage */
	KW_REC_ELEMENT,	   /* an element of a top-level JSON array */
	KW_REC_RECORDS,	   /* an element of a top-level object's "Records"
			      array (CloudTrail's delivery document) */
	KW_REC_LOGEVENTS,  /* an element of a top-level object's "logEvents"
			      array (a CloudWatch Logs subscription payload) */
};

struct kw_record {
	const char
		*p; /* record bytes, no trailing newline; not NUL-terminated */
	size_t n;
	uint64_t line; /* 1-based line number where the record starts */
	enum kw_record_kind kind;
};

#endif
