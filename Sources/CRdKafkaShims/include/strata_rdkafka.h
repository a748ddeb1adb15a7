#ifndef STRATA_RDKAFKA_H
#define STRATA_RDKAFKA_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>
#include <stdint.h>

/// Produces one message with headers through rd_kafka_produceva (whose rd_kafka_vu_t union is awkward
/// from Swift). The payload and headers are copied. Returns NULL or an error the caller destroys.
rd_kafka_error_t *strata_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                       const void *key, size_t key_len, const void *value, size_t value_len,
                                       const char *const *header_names, const void *const *header_values,
                                       const size_t *header_lengths, size_t header_count, int64_t timestamp_ms,
                                       void *msg_opaque);

/// rd_kafka_mock_broker_push_request_error_rtts for one (error, rtt) tuple (the original is variadic).
rd_kafka_resp_err_t strata_kafka_mock_push_error_rtt(rd_kafka_mock_cluster_t *mcluster, int32_t broker_id,
                                                     int16_t api_key, rd_kafka_resp_err_t err, int rtt_ms);

/// Asks for delivery reports (and asynchronous errors) as events on the main queue, served by
/// strata_kafka_serve_events. With event delivery reports, rd_kafka_flush (and so
/// rd_kafka_commit_transaction) waits for the count of outstanding messages to reach zero and
/// returns at once; with a delivery callback served by another thread it re-checks only every 10 ms.
void strata_kafka_conf_set_delivery(rd_kafka_conf_t *conf);

/// Waits up to timeout_ms for one event on the queue and serves it: every message of a delivery
/// report goes to strata_kafka_delivery, an error to strata_kafka_error (both defined in Swift with
/// @_cdecl, with the handle's opaque). Returns whether an event came.
int strata_kafka_serve_events(rd_kafka_t *rk, rd_kafka_queue_t *queue, int timeout_ms);

/// Routes librdkafka's log lines and asynchronous errors to strata_kafka_log / strata_kafka_error.
void strata_kafka_conf_set_log_and_error(rd_kafka_conf_t *conf);

#endif
