/*
 * checkpoint.c - the watch checkpoint and its alert journal (see
 * checkpoint.h for the file layout). The one idea: the checkpoint is only
 * ever replaced whole by rename(2) after an fsync, so after a crash it is
 * the old one or the new one; the journal is append-only, and a torn last
 * line (the process died inside a write) is ignored on load.
 */
#include "state/checkpoint.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/time.h"

#define MAGIC "keywatch-checkpoint 1"
/* A journal holds at most what the alert ring keeps between checkpoints
 * many times over; past this it is not read (the ring could not hold it
 * anyway). */
#define JOURNAL_MAX ((uint64_t)64 << 20)

enum kw_status kw_checkpoint_add_file(struct kw_checkpoint *c,
				      const struct kw_checkpoint_file *f)
{
	if (c->nfiles == KW_CHECKPOINT_FILES_MAX)
		return KW_ETOOBIG;
	if (c->nfiles == c->capfiles) {
		size_t cap = c->capfiles ? c->capfiles * 2 : 16;
		struct kw_checkpoint_file *p =
			realloc(c->files, cap * sizeof(*p));

		if (!p)
			return KW_ENOMEM;
		c->files = p;
		c->capfiles = cap;
	}
	c->files[c->nfiles++] = *f;
	return KW_OK;
}

bool kw_checkpoint_add_alert(struct kw_checkpoint *c, const char *id,
			     int64_t time)
{
	struct kw_checkpoint_alert *a;

	if (!c->alerts) {
		c->alerts =
			calloc(KW_CHECKPOINT_ALERTS_MAX, sizeof(*c->alerts));
		if (!c->alerts)
			return false;
	}
	a = &c->alerts[c->next];
	snprintf(a->id, sizeof(a->id), "%s", id);
	a->time = time;
	c->next = (c->next + 1) % KW_CHECKPOINT_ALERTS_MAX;
	if (c->nalerts < KW_CHECKPOINT_ALERTS_MAX)
		c->nalerts++;
	return true;
}

bool kw_checkpoint_has_alert(const struct kw_checkpoint *c, const char *id,
			     int64_t time)
{
	for (size_t i = 0; i < c->nalerts; i++) {
		if (c->alerts[i].time == time && !strcmp(c->alerts[i].id, id))
			return true;
	}
	return false;
}

void kw_checkpoint_clear_files(struct kw_checkpoint *c)
{
	c->nfiles = 0;
}

void kw_checkpoint_free(struct kw_checkpoint *c)
{
	if (!c)
		return;
	free(c->files);
	free(c->alerts);
	memset(c, 0, sizeof(*c));
}

/* The alerts oldest first, so that a reload keeps the ring's order. */
static void write_alerts(FILE *f, const struct kw_checkpoint *c)
{
	size_t start = c->nalerts < KW_CHECKPOINT_ALERTS_MAX ? 0 : c->next;

	for (size_t i = 0; i < c->nalerts; i++) {
		const struct kw_checkpoint_alert *a =
			&c->alerts[(start + i) % KW_CHECKPOINT_ALERTS_MAX];

		fprintf(f, "alert %s %" PRId64 "\n", a->id, a->time);
	}
}

enum kw_status kw_checkpoint_save(const char *path,
				  const struct kw_checkpoint *c,
				  struct kw_error *err)
{
	struct kw_file_replace out;
	enum kw_status st;
	FILE *f;

	st = kw_file_replace_begin(path, &out, err);
	if (st != KW_OK)
		return st;
	f = kw_file_replace_stream(&out);
	if (!f) {
		kw_file_replace_abort(&out);
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	}
	fprintf(f, MAGIC "\n");
	for (size_t i = 0; i < c->nfiles; i++) {
		const struct kw_checkpoint_file *r = &c->files[i];

		if (strchr(r->path, '\n'))
			continue; /* cannot be written on one line */
		fprintf(f,
			"file %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu32
			" %016" PRIx64 " %s\n",
			r->dev, r->ino, r->offset, r->fplen, r->fphash,
			r->path);
	}
	write_alerts(f, c);
	fprintf(f, "end\n");
	if (ferror(f)) {
		st = kw_error_set(err, KW_EIO, "%s: write failed: %s", out.tmp,
				  strerror(errno));
		kw_file_replace_abort(&out);
		return st;
	}
	return kw_file_replace_commit(&out, err);
}

/* A number at *s in base 10 or 16 (after spaces; no sign), at most max;
 * *s moves past it. false when there is none or it is larger. strtoull,
 * not sscanf: a number out of range is undefined behaviour in sscanf. */
static bool take_u64(const char **s, int base, uint64_t max, uint64_t *out)
{
	const char *p = *s;
	unsigned long long v;
	char *end;

	while (*p == ' ')
		p++;
	if (!(base == 16 ? isxdigit((unsigned char)*p)
			 : isdigit((unsigned char)*p)))
		return false;
	errno = 0;
	v = strtoull(p, &end, base);
	if (errno == ERANGE || v > max)
		return false;
	*out = v;
	*s = end;
	return true;
}

/* One "file DEV INO OFFSET FPLEN FPHASH PATH" line; false when malformed
 * or out of range. */
static bool parse_file(const char *line, struct kw_checkpoint_file *r)
{
	const char *p = line + 4;
	uint64_t fplen;
	size_t n;

	memset(r, 0, sizeof(*r));
	/* An offset is a position in a file (off_t); a fingerprint covers
	 * at most the tailer's first bytes. */
	if (strncmp(line, "file", 4) != 0 ||
	    !take_u64(&p, 10, UINT64_MAX, &r->dev) ||
	    !take_u64(&p, 10, UINT64_MAX, &r->ino) ||
	    !take_u64(&p, 10, INT64_MAX, &r->offset) ||
	    !take_u64(&p, 10, KW_CHECKPOINT_FP_MAX, &fplen) ||
	    !take_u64(&p, 16, UINT64_MAX, &r->fphash) || *p != ' ')
		return false;
	r->fplen = (uint32_t)fplen;
	while (*p == ' ')
		p++;
	n = strlen(p);
	if (!n || n >= sizeof(r->path))
		return false;
	memcpy(r->path, p, n + 1);
	return true;
}

/* "kwa_" and 16 lowercase hex digits. */
static bool alert_id_ok(const char *id)
{
	if (strlen(id) != KW_ALERT_ID_LEN || strncmp(id, "kwa_", 4) != 0)
		return false;
	for (const char *p = id + 4; *p; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	}
	return true;
}

/* One "alert ID TIME" line into c; false when malformed. */
static bool parse_alert(const char *line, struct kw_checkpoint *c)
{
	char id[KW_ALERT_ID_LEN + 1];
	const char *p = line + 6;
	uint64_t t;

	if (strncmp(line, "alert ", 6) != 0 ||
	    strcspn(p, " ") != KW_ALERT_ID_LEN)
		return false;
	memcpy(id, p, KW_ALERT_ID_LEN);
	id[KW_ALERT_ID_LEN] = '\0';
	p += KW_ALERT_ID_LEN;
	if (!alert_id_ok(id) || *p != ' ' ||
	    !take_u64(&p, 10, (uint64_t)KW_TIME_MAX, &t) || (*p && *p != '\n'))
		return false;
	return kw_checkpoint_add_alert(c, id, (int64_t)t);
}

enum kw_status kw_checkpoint_read(FILE *f, const char *path,
				  struct kw_checkpoint *c, struct kw_error *err)
{
	char line[KW_CHECKPOINT_PATH_MAX + 256];
	struct kw_checkpoint_file r;
	enum kw_status st = KW_OK;
	unsigned long lineno = 0;
	bool ended = false;

	while (!ended && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		lineno++;
		if (n == 0 || line[n - 1] != '\n') {
			st = kw_error_set(err, KW_ECORRUPT,
					  "%s:%lu: line cut short or too long",
					  path, lineno);
			goto cleanup;
		}
		line[n - 1] = '\0';
		if (lineno == 1) {
			if (strcmp(line, MAGIC) != 0) {
				st = kw_error_set(err, KW_ECORRUPT,
						  "%s: not a keywatch "
						  "checkpoint",
						  path);
				goto cleanup;
			}
			continue;
		}
		if (!strcmp(line, "end")) {
			ended = true;
		} else if (!strncmp(line, "file ", 5)) {
			if (c->nfiles == KW_CHECKPOINT_FILES_MAX) {
				st = kw_error_set(
					err, KW_ECORRUPT,
					"%s:%lu: more than %d files (the most "
					"keywatch follows and remembers)",
					path, lineno, KW_CHECKPOINT_FILES_MAX);
				goto cleanup;
			}
			st = parse_file(line, &r)
				     ? kw_checkpoint_add_file(c, &r)
				     : KW_EINVAL;
		} else if (!strncmp(line, "alert ", 6)) {
			if (!parse_alert(line, c))
				st = KW_EINVAL;
		} else {
			st = KW_EINVAL;
		}
		if (st == KW_ENOMEM) {
			st = kw_error_set(err, KW_ENOMEM, "%s: out of memory",
					  path);
			goto cleanup;
		}
		if (st != KW_OK) {
			st = kw_error_set(err, KW_ECORRUPT,
					  "%s:%lu: unreadable record", path,
					  lineno);
			goto cleanup;
		}
	}
	if (ferror(f))
		st = kw_error_set(err, KW_EIO, "%s: read error", path);
	else if (!ended)
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: cut short (no end line)", path);
cleanup:
	return st;
}

enum kw_status kw_checkpoint_load(const char *path, struct kw_checkpoint *c,
				  bool *found, struct kw_error *err)
{
	enum kw_status st;
	uint64_t size;
	FILE *f;

	*found = false;
	st = kw_file_fopen_read(path, 0, &f, &size, err);
	if (st == KW_ENOTFOUND)
		return KW_OK;
	if (st != KW_OK)
		return st;
	*found = true;
	st = kw_checkpoint_read(f, path, c, err);
	fclose(f);
	return st;
}

int kw_checkpoint_journal_open(const char *path, struct kw_error *err)
{
	return kw_file_open_append(path, 0, err);
}

void kw_checkpoint_journal_append(int fd, const char *id, int64_t time)
{
	char line[96];
	int n;

	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "alert %s %" PRId64 "\n", id, time);
	if (n > 0 && n < (int)sizeof(line) && write(fd, line, (size_t)n) < 0)
		return; /* a lost line may mean a repeat, never a loss */
}

enum kw_status kw_checkpoint_journal_load(const char *path,
					  struct kw_checkpoint *c,
					  struct kw_error *err)
{
	char line[128];
	enum kw_status st;
	unsigned long lineno = 0;
	uint64_t size;
	FILE *f;

	st = kw_file_fopen_read(path, JOURNAL_MAX, &f, &size, err);
	if (st == KW_ENOTFOUND)
		return KW_OK;
	if (st != KW_OK)
		return st;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		lineno++;
		/* A torn last line (the process died inside its write) is
		 * no damage: that alert was not journalled. Anything else
		 * that does not read is. */
		if (n && line[n - 1] != '\n' && feof(f))
			break;
		if (n == 0 || line[n - 1] != '\n' || !parse_alert(line, c)) {
			st = kw_error_set(err, KW_ECORRUPT,
					  "%s:%lu: unreadable record", path,
					  lineno);
			break;
		}
	}
	if (st == KW_OK && ferror(f))
		st = kw_error_set(err, KW_EIO, "%s: read error", path);
	fclose(f);
	return st;
}

void kw_checkpoint_journal_reset(int fd)
{
	if (fd >= 0 && ftruncate(fd, 0) != 0)
		return; /* the old lines only repeat what the checkpoint has */
}
