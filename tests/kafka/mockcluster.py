"""mockcluster.py - what the Kafka tests share: a kwmock cluster (librdkafka's
mock brokers on 127.0.0.1, in a process of its own) and its producer and
consumer (a free loopback port is receiver.free_port)."""
import subprocess
import time

from harness import check


CHANGELOG = ".keywatch-changelog"
BYIP = ".keywatch-byip"


class Cluster:
    """A kwmock cluster of 3 brokers with the given TOPIC:PARTITIONS, and
    for each its changelog and repartition topics (watch's default names;
    the mock cannot create topics through the admin API), unless
    changelogs is False."""

    def __init__(self, mock, *topics, changelogs=True):
        self.mock = mock
        args = [mock, "cluster", "-b", "3"]
        for t in topics:
            args += ["-t", t]
            if changelogs:
                name, parts = t.rsplit(":", 1)
                args += ["-t", name + CHANGELOG + ":" + parts,
                         "-t", name + BYIP + ":" + parts]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().split()
        check(line and line[0] == "bootstrap", "no bootstrap from kwmock")
        self.bootstrap = line[1]

    def cmd(self, c):
        """A command to the cluster ("down 2", "up 2"), answered "ok"."""
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().strip()
        check(answer == "ok", "kwmock %s: %s" % (c, answer))

    def produce(self, topic, log, *args):
        """log's lines into topic, one a message keyed by its api_key, one
        millisecond apart (-s); kwmock's stdout."""
        r = subprocess.run([self.mock, "produce", "-B", self.bootstrap,
                            "-t", topic, "-s"] + list(args) + [log],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "produce: " + r.stderr)
        return r.stdout

    def consume_offsets(self, topic):
        """[(partition, offset, key, value)] of every message of topic, up
        to each partition's end."""
        r = subprocess.run([self.mock, "consume", "-B", self.bootstrap,
                            "-t", topic, "-w", "1500", "-e"],
                           capture_output=True,
                           text=True, timeout=120, check=True)
        out = []
        for line in r.stdout.split("\n"):
            if line:
                head, value = line.split("\t", 1)
                part, offset, key = head.split(" ", 2)
                out.append((int(part), int(offset), key, value))
        return out

    def consume_header(self, topic, header):
        """[(partition, key, value, header)] of every message of topic,
        up to each partition's end: value as bytes, header (the value of
        the message's last header of that name) as bytes or None."""
        r = subprocess.run([self.mock, "consume", "-B", self.bootstrap,
                            "-t", topic, "-w", "1500", "-e", "-H", header],
                           capture_output=True,
                           text=True, timeout=120, check=True)
        out = []
        for line in r.stdout.split("\n"):
            if line:
                head, value, h = line.split("\t")
                part, _, key = head.split(" ", 2)
                out.append((int(part), key, bytes.fromhex(value),
                            None if h == "-" else bytes.fromhex(h)))
        return out

    def consume(self, topic):
        """[(partition, key, value)] of every message of topic."""
        return [(p, k, v) for p, _, k, v in self.consume_offsets(topic)]

    def committed_by_partition(self, topic, group):
        """{partition: offset} that group committed in topic."""
        r = subprocess.run([self.mock, "committed", "-B", self.bootstrap,
                            "-t", topic, "-g", group], capture_output=True,
                           text=True, timeout=60, check=True)
        return {int(x.split()[0]): int(x.split()[1])
                for x in r.stdout.split("\n") if x}

    def committed(self, topic, group):
        """The sum of group's committed offsets in topic."""
        return sum(self.committed_by_partition(topic, group).values())

    def committed_at(self, topic, group, partition):
        """group's committed offset of topic's partition; -1: none."""
        return self.committed_by_partition(topic, group).get(partition, -1)

    def wait_committed(self, topic, group, n, timeout=60):
        """Until group's committed offsets in topic sum to n (watch commits
        after each checkpoint)."""
        deadline = time.time() + timeout
        got = self.committed(topic, group)
        while got < n and time.time() < deadline:
            time.sleep(0.3)
            got = self.committed(topic, group)
        check(got == n, "%s: %d offsets committed, want %d" % (group, got, n))

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except OSError:
            pass
        self.p.wait(timeout=30)
