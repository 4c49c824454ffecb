/*
 * kwmock.c - the Kafka side of keywatch's Kafka tests and benchmarks,
 * through librdkafka: a mock cluster (real brokers speaking the real
 * protocol on 127.0.0.1, inside this process), a producer that writes a log
 * into a topic one request per message keyed by its API key, and a
 * consumer that prints what a topic holds.
 *
 *   kwmock cluster [-b BROKERS] [-t TOPIC:PARTITIONS]...
 *       Prints "bootstrap HOST:PORT,..." and then serves until its standard
 *       input ends. Commands on standard input, one a line, each answered
 *       with one line ("ok" or "error: ..."):
 *         topic NAME PARTITIONS   create a topic (replication 3, or fewer)
 *         down ID | up ID         take broker ID (1..BROKERS) down or up
 *         rtt ID MS               delay broker ID's answers by MS
 *         coord GROUP ID          make broker ID the coordinator of GROUP
 *         slow ID API N MS        delay broker ID's next N answers to
 *                                 requests of type API (SyncGroup: 14) by MS
 *         errors API ERR N [ID]   fail the next N (at most 64) requests of
 *                                 type API (OffsetCommit: 8) with error ERR
 *                                 (UNKNOWN_MEMBER_ID: 25): those to any
 *                                 broker, or with ID only broker ID's
 *         quit
 *
 *   kwmock produce -B BOOTSTRAP -t TOPIC [-r RATE] [-k FIELD] [-n BATCH]
 *                  [-z gzip|zstd|none] [-c CODEC] [-p EVERY] [-s]
 *                  [-P PART] FILE...
 *       One message per line of each FILE (plain, or gzip by zlib), keyed by
 *       the line's JSON string field FIELD (default api_key; a line without
 *       it gets no key), RATE messages a second (default 0: as fast as the
 *       cluster takes them). Batches on the wire are compressed with CODEC
 *       (librdkafka's compression.type: zstd, the default, lz4, gzip,
 *       snappy or none; CODEC:LEVEL sets compression.level too). With
 *       -n, up to BATCH consecutive lines with the same key go into one
 *       message, compressed with -z (default gzip). With -p, "sent N" is
 *       printed every EVERY messages. With -s, message timestamps are one
 *       millisecond apart in the order of the lines, from 2026-01-01 (a
 *       producer writing one line a millisecond), instead of the time of
 *       producing. With -P, every message goes to partition PART (as a
 *       producer with another partitioner would send some). With -k -, no
 *       message has a key. Prints "produced N" at the end, when
 *       every message has been acknowledged.
 *
 *   kwmock consume -B BOOTSTRAP -t TOPIC [-w MS] [-e] [-H HEADER]
 *       Prints every message of every partition, from the start, as
 *       "PARTITION OFFSET KEY\tVALUE" (KEY "-" when none), until no message
 *       came for MS milliseconds (default 2000), or with -e until every
 *       partition was read to its end once (a topic written to all the
 *       time). With -H, VALUE is in hex (a binary value), followed by a tab
 *       and the value of the message's last header HEADER in hex ("-"
 *       when it has none).
 *
 *   kwmock committed -B BOOTSTRAP -t TOPIC -g GROUP
 *       Prints "PARTITION OFFSET" for every partition the group committed.
 *
 * The mock keeps about 5 MB of batches per partition (like retention on a
 * real cluster): producers compress and pace so that consumers keep up.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define LINE_MAX_BYTES (4 << 20)

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "kwmock: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(2);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK)
		die("%s", errstr);
}

/* ------------------------------------------------------------ cluster */

static int cluster(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_t *rk;
	char errstr[512], line[512];
	int brokers = 3, opt;

	while ((opt = getopt(argc, argv, "b:t:")) != -1) {
		if (opt == 'b')
			brokers = atoi(optarg);
		else if (opt != 't')
			die("%s", "usage: kwmock cluster [-b N] [-t T:P]...");
	}
	set(conf, "log_level", "3");
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk)
		die("%s", errstr);
	mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc)
		die("%s", "cannot create the mock cluster");
	optind = 1;
	while ((opt = getopt(argc, argv, "b:t:")) != -1) {
		char *colon;

		if (opt != 't')
			continue;
		colon = strrchr(optarg, ':');
		if (!colon)
			die("-t %s: expected TOPIC:PARTITIONS", optarg);
		*colon = '\0';
		if (rd_kafka_mock_topic_create(mc, optarg, atoi(colon + 1),
					       brokers < 3 ? brokers : 3))
			die("cannot create topic %s", optarg);
	}
	printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		char name[256];
		int a = 0, b = 0, n = 0, ms = 0, id = 0;
		rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

		if (sscanf(line, "topic %255s %d", name, &a) == 2)
			err = rd_kafka_mock_topic_create(
				mc, name, a, brokers < 3 ? brokers : 3);
		else if (sscanf(line, "down %d", &a) == 1)
			err = rd_kafka_mock_broker_set_down(mc, a);
		else if (sscanf(line, "up %d", &a) == 1)
			err = rd_kafka_mock_broker_set_up(mc, a);
		else if (sscanf(line, "rtt %d %d", &a, &b) == 2)
			err = rd_kafka_mock_broker_set_rtt(mc, a, b);
		else if (sscanf(line, "coord %255s %d", name, &a) == 2)
			err = rd_kafka_mock_coordinator_set(mc, "group", name,
							    a);
		else if (sscanf(line, "slow %d %d %d %d", &a, &b, &n, &ms) == 4)
			while (n-- > 0 && !err)
				err = rd_kafka_mock_broker_push_request_error_rtts(
					mc, a, (int16_t)b, 1,
					RD_KAFKA_RESP_ERR_NO_ERROR, ms);
		else if (sscanf(line, "errors %d %d %d %d", &a, &b, &n, &id) ==
			 4)
			/* the next n requests of API a to broker id fail with
			 * error b */
			while (n-- > 0 && !err)
				err = rd_kafka_mock_broker_push_request_error_rtts(
					mc, id, (int16_t)a, 1,
					(rd_kafka_resp_err_t)b, 0);
		else if (sscanf(line, "errors %d %d %d", &a, &b, &n) == 3) {
			/* the next n requests of API a (any broker) fail with
			 * error b */
			rd_kafka_resp_err_t errs[64];

			if (n < 1 || n > 64)
				n = 1;
			for (int i = 0; i < n; i++)
				errs[i] = (rd_kafka_resp_err_t)b;
			rd_kafka_mock_push_request_errors_array(
				mc, (int16_t)a, (size_t)n, errs);
		} else if (!strncmp(line, "quit", 4))
			break;
		else {
			printf("error: unknown command\n");
			fflush(stdout);
			continue;
		}
		if (err)
			printf("error: %s\n", rd_kafka_err2str(err));
		else
			printf("ok\n");
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}

/* ------------------------------------------------------------ produce */

struct producer {
	rd_kafka_t *rk;
	const char *topic;
	uint64_t sent, acked, failed;
	int64_t rate, start;
	long every;
	bool seq;	   /* -s */
	int32_t partition; /* -P, or RD_KAFKA_PARTITION_UA */
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
			void *opaque)
{
	struct producer *p = opaque;

	(void)rk;
	if (m->err) {
		p->failed++;
		fprintf(stderr, "kwmock: delivery failed: %s\n",
			rd_kafka_err2str(m->err));
	} else {
		p->acked++;
	}
}

/* The JSON string value of field in line (a plain scan: the logs tests
 * produce write their fields without escapes in keys). */
static bool key_of(const char *line, size_t n, const char *field,
		   const char **k, size_t *kn)
{
	char pat[128];
	const char *p, *end = line + n, *q;
	size_t pn;

	snprintf(pat, sizeof(pat), "\"%s\"", field);
	pn = strlen(pat);
	for (p = line; p + pn < end; p++) {
		if (memcmp(p, pat, pn) != 0)
			continue;
		q = p + pn;
		while (q < end && (*q == ' ' || *q == ':'))
			q++;
		if (q >= end || *q != '"')
			return false;
		q++;
		*k = q;
		while (q < end && *q != '"')
			q++;
		*kn = (size_t)(q - *k);
		return q < end;
	}
	return false;
}

static void send_one(struct producer *p, const char *key, size_t kn,
		     const void *val, size_t vn)
{
	rd_kafka_resp_err_t err;

	if (p->rate > 0) {
		int64_t due = p->start + (int64_t)(p->sent * 1000000 / p->rate);
		int64_t t = now_us();

		if (due > t) {
			rd_kafka_poll(p->rk, 0);
			usleep((useconds_t)(due - t));
		}
	}
	for (;;) {
		err = rd_kafka_producev(
			p->rk, RD_KAFKA_V_TOPIC(p->topic),
			RD_KAFKA_V_KEY(key, kn),
			RD_KAFKA_V_PARTITION(p->partition),
			RD_KAFKA_V_VALUE((void *)val, vn),
			RD_KAFKA_V_TIMESTAMP(p->seq ? INT64_C(1767225600000) +
							      (int64_t)p->sent
						    : 0),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(p->rk, 10);
	}
	if (err)
		die("produce: %s", rd_kafka_err2str(err));
	p->sent++;
	if (p->every && p->sent % (uint64_t)p->every == 0) {
		printf("sent %" PRIu64 "\n", p->sent);
		fflush(stdout);
	}
	rd_kafka_poll(p->rk, 0);
}

/* A batch of lines of one key: compressed with z ("gzip", "zstd",
 * "none"). */
struct batch {
	char key[512];
	size_t kn;
	char *buf;
	size_t len, cap;
	int lines;
};

static void batch_send(struct producer *p, struct batch *b, const char *z)
{
	static unsigned char out[LINE_MAX_BYTES * 2];
	size_t on = 0;

	if (!b->lines)
		return;
	if (!strcmp(z, "zstd")) {
		on = ZSTD_compress(out, sizeof(out), b->buf, b->len, 3);
		if (ZSTD_isError(on))
			die("%s", "zstd failed");
	} else if (!strcmp(z, "gzip")) {
		z_stream zs;

		memset(&zs, 0, sizeof(zs));
		if (deflateInit2(&zs, 6, Z_DEFLATED, 31, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			die("%s", "deflateInit2 failed");
		zs.next_in = (unsigned char *)b->buf;
		zs.avail_in = (uInt)b->len;
		zs.next_out = out;
		zs.avail_out = sizeof(out);
		if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
			die("%s", "deflate failed");
		on = zs.total_out;
		deflateEnd(&zs);
	} else {
		memcpy(out, b->buf, b->len);
		on = b->len;
	}
	send_one(p, b->kn ? b->key : NULL, b->kn, out, on);
	b->len = 0;
	b->lines = 0;
}

static int produce(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	struct producer p = {.partition = RD_KAFKA_PARTITION_UA};
	struct batch b = {0};
	const char *bootstrap = NULL, *field = "api_key", *z = "gzip";
	const char *codec = "zstd";
	char errstr[512];
	char *line = malloc(LINE_MAX_BYTES);
	long batch = 0;
	int opt;

	while ((opt = getopt(argc, argv, "B:t:r:k:n:z:c:p:sP:")) != -1) {
		switch (opt) {
		case 'B':
			bootstrap = optarg;
			break;
		case 't':
			p.topic = optarg;
			break;
		case 'r':
			p.rate = atoll(optarg);
			break;
		case 'k':
			field = optarg;
			break;
		case 'n':
			batch = atol(optarg);
			break;
		case 'z':
			z = optarg;
			break;
		case 'c':
			codec = optarg;
			break;
		case 'p':
			p.every = atol(optarg);
			break;
		case 's':
			p.seq = true;
			break;
		case 'P':
			p.partition = atoi(optarg);
			break;
		default:
			die("%s", "usage: kwmock produce -B B -t T FILE...");
		}
	}
	if (!bootstrap || !p.topic || optind >= argc || !line)
		die("%s", "usage: kwmock produce -B B -t T FILE...");
	b.cap = LINE_MAX_BYTES;
	b.buf = malloc(b.cap);
	if (!b.buf)
		die("%s", "out of memory");
	set(conf, "bootstrap.servers", bootstrap);
	{
		char type[32];
		const char *level = strchr(codec, ':');
		size_t n = level ? (size_t)(level - codec) : strlen(codec);

		snprintf(type, sizeof(type), "%.*s", (int)n, codec);
		set(conf, "compression.type", type);
		if (level)
			set(conf, "compression.level", level + 1);
	}
	set(conf, "linger.ms", "20");
	set(conf, "batch.num.messages", "10000");
	set(conf, "batch.size", "1000000");
	set(conf, "queue.buffering.max.messages", "200000");
	set(conf, "enable.idempotence", "true");
	set(conf, "log_level", "3");
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, &p);
	p.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!p.rk)
		die("%s", errstr);
	p.start = now_us();
	for (int i = optind; i < argc; i++) {
		gzFile f = gzopen(argv[i], "rb");

		if (!f)
			die("cannot open %s", argv[i]);
		gzbuffer(f, 1 << 20);
		while (gzgets(f, line, LINE_MAX_BYTES)) {
			size_t n = strlen(line), kn = 0;
			const char *k = NULL;

			while (n &&
			       (line[n - 1] == '\n' || line[n - 1] == '\r'))
				n--;
			if (!n)
				continue;
			if (!strcmp(field, "-") ||
			    !key_of(line, n, field, &k, &kn))
				kn = 0;
			if (kn >= sizeof(b.key))
				kn = 0;
			if (!batch) {
				send_one(&p, kn ? k : NULL, kn, line, n);
				continue;
			}
			if (b.lines && (b.lines >= batch || b.kn != kn ||
					memcmp(b.key, k, kn) != 0 ||
					b.len + n + 1 > b.cap))
				batch_send(&p, &b, z);
			if (!b.lines) {
				memcpy(b.key, k, kn);
				b.kn = kn;
			}
			memcpy(b.buf + b.len, line, n);
			b.len += n;
			b.buf[b.len++] = '\n';
			b.lines++;
		}
		gzclose(f);
	}
	batch_send(&p, &b, z);
	while (rd_kafka_flush(p.rk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
		;
	printf("produced %" PRIu64 "\n", p.acked);
	fflush(stdout);
	rd_kafka_destroy(p.rk);
	free(line);
	free(b.buf);
	return p.failed ? 1 : 0;
}

/* ------------------------------------------------------------ consume */

static rd_kafka_t *consumer(const char *bootstrap, const char *group)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];
	rd_kafka_t *rk;

	set(conf, "bootstrap.servers", bootstrap);
	set(conf, "group.id", group);
	set(conf, "enable.auto.commit", "false");
	set(conf, "enable.partition.eof", "true");
	set(conf, "log_level", "3");
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk)
		die("%s", errstr);
	return rk;
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
	int n = -1;

	if (rd_kafka_metadata(rk, 0, t, &md, 10000) == 0 &&
	    md->topic_cnt == 1 && !md->topics[0].err)
		n = md->topics[0].partition_cnt;
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
	if (n < 0)
		die("no topic %s", topic);
	return n;
}

static void print_hex(const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", ((const unsigned char *)p)[i]);
}

/* m's value in hex, a tab, and its header name's value in hex ("-":
 * none). */
static void print_hex_header(const rd_kafka_message_t *m, const char *name)
{
	rd_kafka_headers_t *h = NULL;
	const void *v = NULL;
	size_t n = 0;

	print_hex(m->payload, m->payload ? m->len : 0);
	fputc('\t', stdout);
	if (!rd_kafka_message_headers(m, &h) &&
	    !rd_kafka_header_get_last(h, name, &v, &n))
		print_hex(v, v ? n : 0);
	else
		fputc('-', stdout);
}

static int consume(int argc, char **argv)
{
	const char *bootstrap = NULL, *topic = NULL;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_t *rk;
	int wait = 2000, opt, n, ends = 0;
	bool to_end = false;
	char *at_end = NULL;
	const char *header = NULL;

	while ((opt = getopt(argc, argv, "B:t:w:eH:")) != -1) {
		if (opt == 'B')
			bootstrap = optarg;
		else if (opt == 't')
			topic = optarg;
		else if (opt == 'w')
			wait = atoi(optarg);
		else if (opt == 'e')
			to_end = true;
		else if (opt == 'H')
			header = optarg;
		else
			die("%s", "usage: kwmock consume -B B -t T [-w MS] "
				  "[-e] [-H HEADER]");
	}
	if (!bootstrap || !topic)
		die("%s", "usage: kwmock consume -B B -t T [-w MS] [-e] "
			  "[-H HEADER]");
	rk = consumer(bootstrap, "kwmock-consume");
	n = partitions_of(rk, topic);
	l = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, topic, i)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	if (rd_kafka_assign(rk, l))
		die("%s", "assign failed");
	rd_kafka_topic_partition_list_destroy(l);
	at_end = calloc((size_t)n, 1);
	if (!at_end)
		die("%s", "out of memory");
	while (!to_end || ends < n) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, wait);

		if (!m)
			break;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				fprintf(stderr, "kwmock: %s\n",
					rd_kafka_message_errstr(m));
			else if (m->partition >= 0 && m->partition < n &&
				 !at_end[m->partition]++)
				ends++;
		} else if (m->partition >= 0 && m->partition < n &&
			   at_end[m->partition]) {
			/* Past the end it was read to: not printed. */
		} else {
			printf("%d %" PRId64 " ", (int)m->partition, m->offset);
			if (m->key_len)
				fwrite(m->key, 1, m->key_len, stdout);
			else
				fputc('-', stdout);
			fputc('\t', stdout);
			if (header)
				print_hex_header(m, header);
			else
				fwrite(m->payload, 1, m->len, stdout);
			fputc('\n', stdout);
		}
		rd_kafka_message_destroy(m);
	}
	free(at_end);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return 0;
}

static int committed(int argc, char **argv)
{
	const char *bootstrap = NULL, *topic = NULL, *group = NULL;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;
	rd_kafka_t *rk;
	int opt, n;

	while ((opt = getopt(argc, argv, "B:t:g:")) != -1) {
		if (opt == 'B')
			bootstrap = optarg;
		else if (opt == 't')
			topic = optarg;
		else if (opt == 'g')
			group = optarg;
		else
			die("%s", "usage: kwmock committed -B B -t T -g G");
	}
	if (!bootstrap || !topic || !group)
		die("%s", "usage: kwmock committed -B B -t T -g G");
	rk = consumer(bootstrap, group);
	n = partitions_of(rk, topic);
	l = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, topic, i);
	err = rd_kafka_committed(rk, l, 10000);
	if (err)
		die("committed: %s", rd_kafka_err2str(err));
	for (int i = 0; i < l->cnt; i++) {
		if (l->elems[i].offset >= 0)
			printf("%d %" PRId64 "\n", (int)l->elems[i].partition,
			       l->elems[i].offset);
	}
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		die("%s",
		    "usage: kwmock cluster|produce|consume|committed ...");
	if (!strcmp(argv[1], "cluster"))
		return cluster(argc - 1, argv + 1);
	if (!strcmp(argv[1], "produce"))
		return produce(argc - 1, argv + 1);
	if (!strcmp(argv[1], "consume"))
		return consume(argc - 1, argv + 1);
	if (!strcmp(argv[1], "committed"))
		return committed(argc - 1, argv + 1);
	die("unknown mode %s", argv[1]);
	return 2;
}
