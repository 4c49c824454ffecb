/*
 * skips.h - what was skipped and why. Every record that is not turned into
 * an event, and every stream that ended in damage, is counted here by
 * reason. The first few of each reason are logged at once as warnings
 * ("file:line: message"); the rest are only counted, and the summary at the
 * end prints the counts. Nothing is silently dropped.
 */
#ifndef KW_CORE_SKIPS_H
#define KW_CORE_SKIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kw_skip_reason {
	KW_SKIP_TOO_LONG = 0, /* line or record over the length limit */
	KW_SKIP_BAD_JSON,     /* not valid JSON, or not an object */
	KW_SKIP_NO_KEY,	      /* no API key (CloudTrail: no access key) */
	KW_SKIP_NO_TIME,      /* no timestamp */
	KW_SKIP_BAD_FIELD,  /* a field of the wrong type or an impossible value
			     */
	KW_SKIP_CORRUPT,    /* a damaged or cut compressed stream (per file) */
	KW_SKIP_UNREADABLE, /* a file that could not be opened or read */
	KW_SKIP_KEYLESS,    /* a record that no API key made (CloudTrail: an
			       AWS service acting on its own): expected, so
			       logged at debug level and not a problem */
	KW_SKIP_NOT_DATA,   /* a record that carries no request (a CloudWatch
			       Logs control message): not a problem either */
	KW_SKIP_NO_MEMORY,  /* a record that could not be decoded, or judged by
			       the model's rules, because memory ran out */
	KW_SKIP_REASON_MAX
};

#define KW_SKIPS_SAMPLES 5

struct kw_skips_notes;

struct kw_skips {
	uint64_t count[KW_SKIP_REASON_MAX];
	uint64_t total;
	/* NULL: the samples are logged at once. Otherwise they are kept
	 * there, to be told in their place later (kw_skips_absorb): a batch
	 * decoded on another thread says what it skipped when its turn
	 * comes, so messages keep the order of the input. */
	struct kw_skips_notes *later;
};

/* The messages of one kw_skips kept for later: the first samples of each
 * reason and a few errors, in the order they came. */
#define KW_SKIPS_NOTE_MAX 1100
#define KW_SKIPS_NOTES ((size_t)KW_SKIP_REASON_MAX * KW_SKIPS_SAMPLES + 4)
struct kw_skips_notes {
	size_t n;
	uint64_t dropped; /* errors past the room */
	struct {
		int reason; /* enum kw_skip_reason; -1: an error, always told */
		char text[KW_SKIPS_NOTE_MAX];
	} note[KW_SKIPS_NOTES];
};

/* Stable machine name: "too_long", "bad_json", ... */
const char *kw_skip_reason_name(enum kw_skip_reason r);

/* Whether skips of this reason mean the input had a problem (exit 3). */
bool kw_skip_is_problem(enum kw_skip_reason r);

/* Skips that are problems (every reason but KW_SKIP_KEYLESS and
 * KW_SKIP_NOT_DATA). */
uint64_t kw_skips_problems(const struct kw_skips *s);

/* Count one skip. file may be NULL; line 0 means "no line" (the message
 * then usually carries a byte offset). The first KW_SKIPS_SAMPLES of each
 * reason are logged as "keywatch: warning: FILE:LINE: MESSAGE". */
void kw_skips_add(struct kw_skips *s, enum kw_skip_reason r, const char *file,
		  uint64_t line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* An error to tell in its place (s->later) or at once (logged as
 * kw_log_error's "%s"). Not counted. */
void kw_skips_error(struct kw_skips *s, const char *msg);

/* Add src's counts to dst and tell src's kept messages there, as if each
 * skip had been added to dst in turn (the first KW_SKIPS_SAMPLES of each
 * reason over dst's and src's together are logged). Then empty src (its
 * notes too). */
void kw_skips_absorb(struct kw_skips *dst, struct kw_skips *src);

#endif
