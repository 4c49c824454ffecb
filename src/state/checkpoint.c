/*
 * checkpoint.c - the watch checkpoint and its alert journal (see
 * checkpoint.h for the file layout). The one idea: the checkpoint is only
 * ever replaced whole by rename(2) after an fsync, so after a crash it is
 * the old one or the new one; the journal is append-only, and a torn last
 * line (the process died inside a write) is ignored on load.
 */
#include "state/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "keywatch-checkpoint 1"

enum kw_status kw_checkpoint_add_file(struct kw_checkpoint *c,
				      const struct kw_checkpoint_file *f)
{
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

static void fsync_dir(const char *path)
{
	char dir[KW_CHECKPOINT_PATH_MAX + 16];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

enum kw_status kw_checkpoint_save(const char *path,
				  const struct kw_checkpoint *c,
				  struct kw_error *err)
{
	char tmp[KW_CHECKPOINT_PATH_MAX + 16];
	enum kw_status st = KW_OK;
	FILE *f = NULL;
	int fd = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return kw_error_set(err, KW_ETOOBIG, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		st = kw_error_set(err, KW_EIO, "%s: cannot write: %s", tmp,
				  strerror(errno));
		goto cleanup;
	}
	f = fdopen(fd, "w");
	if (!f) {
		st = kw_error_set(err, KW_ENOMEM, "%s: out of memory", tmp);
		goto cleanup;
	}
	fd = -1;
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
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		st = kw_error_set(err, KW_EIO, "%s: write failed: %s", tmp,
				  strerror(errno));
		goto cleanup;
	}
	if (fclose(f) != 0) {
		f = NULL;
		st = kw_error_set(err, KW_EIO, "%s: write failed: %s", tmp,
				  strerror(errno));
		goto cleanup;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		st = kw_error_set(err, KW_EIO, "%s: cannot rename: %s", path,
				  strerror(errno));
		goto cleanup;
	}
	fsync_dir(path);
cleanup:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (st != KW_OK)
		unlink(tmp);
	return st;
}

/* One "file ..." line; false when malformed. */
static bool parse_file(const char *line, struct kw_checkpoint_file *r)
{
	int used = 0;

	memset(r, 0, sizeof(*r));
	if (sscanf(line,
		   "file %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu32
		   " %" SCNx64 " %n",
		   &r->dev, &r->ino, &r->offset, &r->fplen, &r->fphash,
		   &used) != 5 ||
	    !used || !line[used])
		return false;
	snprintf(r->path, sizeof(r->path), "%s", line + used);
	return true;
}

static bool parse_alert(const char *line, struct kw_checkpoint *c)
{
	char id[KW_ALERT_ID_LEN + 1];
	int64_t t;

	if (sscanf(line, "alert %20s %" SCNd64, id, &t) != 2)
		return false;
	return kw_checkpoint_add_alert(c, id, t);
}

enum kw_status kw_checkpoint_load(const char *path, struct kw_checkpoint *c,
				  bool *found, struct kw_error *err)
{
	char line[KW_CHECKPOINT_PATH_MAX + 256];
	struct kw_checkpoint_file r;
	enum kw_status st = KW_OK;
	unsigned long lineno = 0;
	bool ended = false;
	FILE *f;

	*found = false;
	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return KW_OK;
		return kw_error_set(err, KW_EIO, "%s: cannot read: %s", path,
				    strerror(errno));
	}
	*found = true;
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
		} else if (!strncmp(line, "file ", 5) && parse_file(line, &r)) {
			st = kw_checkpoint_add_file(c, &r);
		} else if (!strncmp(line, "alert ", 6)) {
			if (!parse_alert(line, c))
				st = KW_EINVAL;
		} else {
			st = KW_EINVAL;
		}
		if (st != KW_OK) {
			st = kw_error_set(err, KW_ECORRUPT,
					  "%s:%lu: unreadable record", path,
					  lineno);
			goto cleanup;
		}
	}
	if (!ended)
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: cut short (no end line)", path);
cleanup:
	fclose(f);
	return st;
}

int kw_checkpoint_journal_open(const char *path, struct kw_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0)
		kw_error_set(err, KW_EIO, "%s: cannot write: %s", path,
			     strerror(errno));
	return fd;
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
	FILE *f = fopen(path, "r");

	if (!f) {
		if (errno == ENOENT)
			return KW_OK;
		return kw_error_set(err, KW_EIO, "%s: cannot read: %s", path,
				    strerror(errno));
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			parse_alert(line, c);
	}
	fclose(f);
	return KW_OK;
}

void kw_checkpoint_journal_reset(int fd)
{
	if (fd >= 0 && ftruncate(fd, 0) != 0)
		return; /* the old lines only repeat what the checkpoint has */
}
