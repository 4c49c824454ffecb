/*
 * test_kafka.c - the lines a Kafka input hands the engine for a run of
 * messages (ingest/kafka.h, struct kw_kafka_lines), without a broker: a
 * plain message as it is with a newline added, a gzip batch decoded, and
 * a damaged compressed message logged with where it is and what is wrong,
 * counted, its good lines kept, and the messages after it still read;
 * a rebalance's end on a client that is in no group, and the partition
 * lists of the rebalance messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "core/kafka.h"
#include "core/log.h"
#include "gzip_fixture.h"
#include "ingest/kafka.h"
#include "stderr_capture.h"

/* n bytes of lines "line 000001 of the batch\n", ... */
static char *batch_text(size_t lines, size_t *n)
{
	char *t = malloc(lines * 32);
	size_t k = 0;

	assert_non_null(t);
	for (size_t i = 0; i < lines; i++)
		k += (size_t)sprintf(t + k, "line %06zu of the batch\n", i);
	*n = k;
	return t;
}

static rd_kafka_message_t msg(const void *p, size_t len, int64_t offset)
{
	rd_kafka_message_t m;

	memset(&m, 0, sizeof(m));
	m.payload = (void *)p;
	m.len = len;
	m.partition = 3;
	m.offset = offset;
	return m;
}

/* Everything the reader hands out, cap bytes a call. */
static char *read_all(struct kw_reader *r, size_t cap, size_t *n)
{
	size_t have = 0, size = 1 << 16, got;
	char *out = malloc(size);
	struct kw_error err;

	assert_non_null(out);
	for (;;) {
		if (size - have < cap) {
			size *= 2;
			out = realloc(out, size);
			assert_non_null(out);
		}
		kw_error_clear(&err);
		assert_int_equal(kw_reader_read(r, out + have, cap, &got, &err),
				 KW_OK);
		if (!got)
			break;
		have += got;
	}
	*n = have;
	return out;
}

static void test_lines(void **state)
{
	size_t tn, bn, gz_n, cut_n, tail_n;
	char *t = batch_text(20000, &tn);
	char *b = batch_text(2, &bn);
	unsigned char *gz = gzip_fixture(t, tn, &gz_n);
	/* the batch with no newline at its end */
	unsigned char *tail = gzip_fixture(b, bn - 1, &tail_n);
	static const char crc_text[] = "crc 1\ncrc 2\n";
	size_t crc_n;
	unsigned char *crc = gzip_fixture(crc_text, 12, &crc_n);
	rd_kafka_message_t m[5];
	rd_kafka_message_t *run[5];
	struct kw_kafka_lines l = {.m = run, .n = 5, .name = "kafka:api"};
	struct kw_reader r;
	struct capture cap;
	char log[2048], want[2048];
	size_t n, at;
	char *out;

	(void)state;
	cut_n = gz_n / 2;
	m[0] = msg("{\"n\":1}", 7, 10);
	m[1] = msg(gz, cut_n, 11); /* cut in the middle */
	crc[crc_n - 8] ^= 0x55;
	m[2] = msg(crc, crc_n, 12); /* its lines, then a wrong CRC */
	m[3] = msg(tail, tail_n, 13);
	m[4] = msg("last\n", 5, 14);
	for (int i = 0; i < 5; i++)
		run[i] = &m[i];
	kw_log_set_colour(false);
	capture_begin(&cap);
	kw_kafka_lines_reader(&l, &r);
	/* A small buffer: a message's newline falls on the next call. */
	out = read_all(&r, 7, &n);
	kw_kafka_lines_end(&l);
	capture_end(&cap, log, sizeof(log));

	snprintf(want, sizeof(want),
		 "keywatch: warning: kafka: kafka:api/3@11: byte offset %zu: "
		 "unexpected end of gzip stream (truncated)\n"
		 "keywatch: warning: kafka: kafka:api/3@12: byte offset %zu: "
		 "gzip CRC or data error (incorrect data check)\n",
		 cut_n, crc_n - 4);
	assert_string_equal(log, want);
	assert_int_equal(l.compressed, 3);
	assert_int_equal(l.damaged, 2);
	assert_int_equal(l.bytes, n);

	/* The plain message with its newline. */
	assert_true(n > 8);
	assert_memory_equal(out, "{\"n\":1}\n", 8);
	at = 8;
	/* The cut batch's lines up to the damage (a good prefix), then a
	 * newline for the line it cut. The next "line 000000" is the tail
	 * batch's first line. */
	{
		const char *next = memmem(out + at, n - at, "line 000000", 11);
		size_t good;

		assert_non_null(next);
		assert_ptr_equal(next, out + at);
		next = memmem(out + at + 1, n - at - 1, "line 000000", 11);
		assert_non_null(next);
		good = (size_t)(next - out) - at - 12; /* less crc's */
		assert_true(good > tn / 4 && good < tn);
		assert_memory_equal(out + at, t, good - 1);
		assert_int_equal(out[at + good - 1], '\n');
		at += good;
	}
	/* The lines of the batch whose CRC is wrong (decoded before the
	 * check), the tail batch with its newline added, then the last
	 * message. */
	assert_int_equal(n - at, 12 + bn + 5);
	assert_memory_equal(out + at, crc_text, 12);
	assert_memory_equal(out + at + 12, b, bn);
	assert_memory_equal(out + at + 12 + bn, "last\n", 5);

	free(out);
	free(gz);
	free(crc);
	free(tail);
	free(t);
	free(b);
}

/* A revocation's end on a client whose group protocol is not known (a
 * consumer that the broker dropped from its group as it closed; here a
 * producer, which is in no group): the incremental call, then the eager
 * one, not a crash on the unknown protocol's NULL. */
static void test_rebalance_no_group(void **state)
{
	char errstr[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);

	(void)state;
	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	assert_non_null(rk);
	assert_null(rd_kafka_rebalance_protocol(rk));
	rd_kafka_topic_partition_list_add(l, "reqs", 3);
	kw_kafka_rebalance_apply(rk, RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, l,
				 "reqs");
	kw_kafka_rebalance_apply(rk, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, l,
				 "reqs");
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
}

/* "7,6,5" in the list's order; a list too long for the buffer ends in
 * ",..." within it. */
static void test_partitions_text(void **state)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(100);
	char buf[32], big[512];

	(void)state;
	kw_kafka_partitions_text(l, buf, sizeof(buf));
	assert_string_equal(buf, "");
	for (int32_t q = 7; q >= 5; q--)
		rd_kafka_topic_partition_list_add(l, "reqs", q);
	kw_kafka_partitions_text(l, buf, sizeof(buf));
	assert_string_equal(buf, "7,6,5");
	for (int32_t q = 10; q < 100; q++)
		rd_kafka_topic_partition_list_add(l, "reqs", q);
	kw_kafka_partitions_text(l, buf, sizeof(buf));
	assert_string_equal(buf, "7,6,5,10,11,12,13,14,15,16,...");
	kw_kafka_partitions_text(l, big, sizeof(big));
	assert_int_equal(strlen(big), 3 * 2 - 1 + 90 * 3);
	assert_string_equal(big + strlen(big) - 6, ",98,99");
	rd_kafka_topic_partition_list_destroy(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_rebalance_no_group),
		cmocka_unit_test(test_partitions_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
