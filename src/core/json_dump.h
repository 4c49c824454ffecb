/*
 * json_dump.h - JSON text out of jansson values, all or nothing.
 *
 * jansson 2.14's json_dumps() can return a malformed text when an
 * allocation fails while it writes an object's key: do_dump() in its
 * src/dump.c ignores what dump_string() returns for keys, and the writes
 * after it go on. An alert or a chat message would go out garbled instead
 * of not at all. kw_json_dump writes through a buffer of its own whose
 * first failure is sticky, so every later write fails and the whole dump
 * with it.
 */
#ifndef KW_CORE_JSON_DUMP_H
#define KW_CORE_JSON_DUMP_H

#include <jansson.h>

/* json_dumps(v, flags), malloc'ed (the caller frees); NULL when v cannot be
 * written (as json_dumps) or memory ran out at any point. */
char *kw_json_dump(const json_t *v, size_t flags);

#endif
