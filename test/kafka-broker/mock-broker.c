/*
 * A Kafka-protocol test broker: librdkafka's mock cluster behind a line protocol.
 *
 * Usage: mock-broker [brokers]        (default 3 brokers, ids 1..brokers)
 *
 * On start it prints `BOOTSTRAP <host:port,...>` and then reads one command per line on stdin,
 * answering each with `OK` or `ERR <why>`:
 *
 *   down <brokerId>                     disconnect the broker, refuse new connections
 *   up <brokerId>                       accept connections again
 *   errors <apiKey> <errcode> <count>   the next <count> requests of that API fail with <errcode>
 *   clear [apiKey]                      drop injected errors (of one API, or of every API)
 *   topic <name> <partitions> <replication>   create a topic
 *   leader <topic> <partition> <brokerId>      move a partition's leadership (-1: no leader)
 *   coordinator <group> <brokerId>      make the broker the group's coordinator
 *   delay <brokerId> <apiKey> <ms> <count>     the broker answers its next <count> requests of
 *                                       that API <ms> late (the request itself is carried out)
 *   quit                                exit (EOF on stdin does the same)
 *
 * `clear` drops the cluster-wide errors of `errors`; librdkafka 2.0.2 has no call to drop the
 * per-broker queue `delay` fills, so pending delays are used up by the next requests.
 * `down` does not move partition leadership (the mock never elects a new leader by itself):
 * requests for partitions led by a down broker fail until it is up again or `leader` moves them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Kafka API keys are small; librdkafka 2.0.2 knows fewer than 70. Clearing unknown keys is a no-op. */
#define MAX_API_KEY 100
#define MAX_ERRORS 10000

static int parse_long(const char *s, long min, long max, long *out) {
  char *end;
  if (s == NULL) return 0;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s || v < min || v > max) return 0;
  *out = v;
  return 1;
}

static void reply(rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
    printf("OK\n");
  else
    printf("ERR %s\n", rd_kafka_err2str(err));
}

/* Handles one command line (already stripped of its newline). Returns 0 when told to quit. */
static int handle(rd_kafka_mock_cluster_t *mcluster, int brokers, char *line) {
  char *args[5] = {0};
  int argc = 0;
  for (char *tok = strtok(line, " \t\r"); tok != NULL && argc < 5; tok = strtok(NULL, " \t\r"))
    args[argc++] = tok;
  if (argc == 0) {
    printf("ERR empty command\n");
    return 1;
  }
  const char *cmd = args[0];
  long a, b, c;

  if (strcmp(cmd, "quit") == 0) {
    printf("OK\n");
    return 0;
  }
  if (strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0) {
    if (argc != 2 || !parse_long(args[1], -1, brokers, &a)) {
      printf("ERR usage: %s <brokerId 1..%d, or -1 for all>\n", cmd, brokers);
      return 1;
    }
    reply(strcmp(cmd, "down") == 0 ? rd_kafka_mock_broker_set_down(mcluster, (int32_t)a)
                                   : rd_kafka_mock_broker_set_up(mcluster, (int32_t)a));
    return 1;
  }
  if (strcmp(cmd, "errors") == 0) {
    if (argc != 4 || !parse_long(args[1], 0, MAX_API_KEY - 1, &a) ||
        !parse_long(args[2], INT_MIN, INT_MAX, &b) || !parse_long(args[3], 1, MAX_ERRORS, &c)) {
      printf("ERR usage: errors <apiKey 0..%d> <errcode> <count 1..%d>\n", MAX_API_KEY - 1,
             MAX_ERRORS);
      return 1;
    }
    rd_kafka_resp_err_t *errs = malloc(sizeof(*errs) * (size_t)c);
    if (errs == NULL) {
      printf("ERR out of memory\n");
      return 1;
    }
    for (long i = 0; i < c; i++) errs[i] = (rd_kafka_resp_err_t)b;
    rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)a, (size_t)c, errs);
    free(errs);
    printf("OK\n");
    return 1;
  }
  if (strcmp(cmd, "clear") == 0) {
    if (argc == 2) {
      if (!parse_long(args[1], 0, MAX_API_KEY - 1, &a)) {
        printf("ERR usage: clear [apiKey 0..%d]\n", MAX_API_KEY - 1);
        return 1;
      }
      rd_kafka_mock_clear_request_errors(mcluster, (int16_t)a);
    } else if (argc == 1) {
      for (int16_t k = 0; k < MAX_API_KEY; k++) rd_kafka_mock_clear_request_errors(mcluster, k);
    } else {
      printf("ERR usage: clear [apiKey]\n");
      return 1;
    }
    printf("OK\n");
    return 1;
  }
  if (strcmp(cmd, "topic") == 0) {
    if (argc != 4 || !parse_long(args[2], 1, 10000, &a) || !parse_long(args[3], 1, brokers, &b)) {
      printf("ERR usage: topic <name> <partitions 1..10000> <replication 1..%d>\n", brokers);
      return 1;
    }
    reply(rd_kafka_mock_topic_create(mcluster, args[1], (int)a, (int)b));
    return 1;
  }
  if (strcmp(cmd, "leader") == 0) {
    if (argc != 4 || !parse_long(args[2], 0, INT_MAX, &a) || !parse_long(args[3], -1, brokers, &b)) {
      printf("ERR usage: leader <topic> <partition> <brokerId 1..%d, or -1>\n", brokers);
      return 1;
    }
    reply(rd_kafka_mock_partition_set_leader(mcluster, args[1], (int32_t)a, (int32_t)b));
    return 1;
  }
  if (strcmp(cmd, "coordinator") == 0) {
    if (argc != 3 || !parse_long(args[2], 1, brokers, &a)) {
      printf("ERR usage: coordinator <group> <brokerId 1..%d>\n", brokers);
      return 1;
    }
    reply(rd_kafka_mock_coordinator_set(mcluster, "group", args[1], (int32_t)a));
    return 1;
  }
  if (strcmp(cmd, "delay") == 0) {
    long count;
    if (argc != 5 || !parse_long(args[1], 1, brokers, &a) ||
        !parse_long(args[2], 0, MAX_API_KEY - 1, &b) || !parse_long(args[3], 0, 600000, &c) ||
        !parse_long(args[4], 1, MAX_ERRORS, &count)) {
      printf("ERR usage: delay <brokerId 1..%d> <apiKey> <ms 0..600000> <count 1..%d>\n", brokers,
             MAX_ERRORS);
      return 1;
    }
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (long i = 0; i < count && !err; i++)
      err = rd_kafka_mock_broker_push_request_error_rtts(mcluster, (int32_t)a, (int16_t)b, 1,
                                                         RD_KAFKA_RESP_ERR_NO_ERROR, (int)c);
    reply(err);
    return 1;
  }
  printf("ERR unknown command '%s' (down, up, errors, clear, topic, leader, coordinator, delay, quit)\n", cmd);
  return 1;
}

int main(int argc, char **argv) {
  long brokers = 3;
  if (argc > 2 || (argc == 2 && !parse_long(argv[1], 1, 32, &brokers))) {
    fprintf(stderr, "usage: %s [brokers 1..32]\n", argv[0]);
    return 2;
  }

  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The handle only hosts the mock cluster; it never connects anywhere. */
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "config: %s\n", errstr);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == NULL) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, (int)brokers);
  if (mcluster == NULL) {
    fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    rd_kafka_destroy(rk);
    return 1;
  }

  printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
  fflush(stdout);

  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int running = 1;
  while (running && (len = getline(&line, &cap, stdin)) != -1) {
    if (len > 0 && line[len - 1] == '\n') line[len - 1] = '\0';
    running = handle(mcluster, (int)brokers, line);
    fflush(stdout);
  }
  free(line);

  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  return 0;
}
