#include "strata_rdkafka.h"
#include <stdlib.h>

rd_kafka_error_t *strata_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                       const void *key, size_t key_len, const void *value, size_t value_len,
                                       const char *const *header_names, const void *const *header_values,
                                       const size_t *header_lengths, size_t header_count, int64_t timestamp_ms,
                                       void *msg_opaque) {
    // Headers go in as one application-owned list (VTYPE_HEADERS): librdkafka takes it on success
    // and leaves it to us on failure. Per-header VTYPE_HEADER arguments are freed twice by
    // librdkafka 2.0.x when the partitioner refuses the message (a transaction in an abortable
    // state), which crashes the process.
    rd_kafka_headers_t *headers = rd_kafka_headers_new(header_count);
    for (size_t h = 0; h < header_count; h++) {
        rd_kafka_resp_err_t err = rd_kafka_header_add(headers, header_names[h], -1, header_values[h], (ssize_t)header_lengths[h]);
        if (err) {
            rd_kafka_headers_destroy(headers);
            return rd_kafka_error_new(err, "adding header %s", header_names[h]);
        }
    }
    rd_kafka_vu_t vus[8];
    size_t i = 0;
    vus[i].vtype = RD_KAFKA_VTYPE_TOPIC; vus[i].u.cstr = topic; i++;
    vus[i].vtype = RD_KAFKA_VTYPE_PARTITION; vus[i].u.i32 = partition; i++;
    vus[i].vtype = RD_KAFKA_VTYPE_KEY; vus[i].u.mem.ptr = (void *)key; vus[i].u.mem.size = key_len; i++;
    vus[i].vtype = RD_KAFKA_VTYPE_VALUE; vus[i].u.mem.ptr = (void *)value; vus[i].u.mem.size = value_len; i++;
    vus[i].vtype = RD_KAFKA_VTYPE_MSGFLAGS; vus[i].u.i = RD_KAFKA_MSG_F_COPY; i++;
    vus[i].vtype = RD_KAFKA_VTYPE_TIMESTAMP; vus[i].u.i64 = timestamp_ms; i++;
    vus[i].vtype = RD_KAFKA_VTYPE_OPAQUE; vus[i].u.ptr = msg_opaque; i++;
    vus[i].vtype = RD_KAFKA_VTYPE_HEADERS; vus[i].u.headers = headers; i++;
    rd_kafka_error_t *error = rd_kafka_produceva(rk, vus, i);
    if (error) rd_kafka_headers_destroy(headers);
    return error;
}

rd_kafka_resp_err_t strata_kafka_mock_push_error_rtt(rd_kafka_mock_cluster_t *mcluster, int32_t broker_id,
                                                     int16_t api_key, rd_kafka_resp_err_t err, int rtt_ms) {
    return rd_kafka_mock_broker_push_request_error_rtts(mcluster, broker_id, api_key, 1, err, rtt_ms);
}

extern void strata_kafka_delivery(void *opaque, void *msg_opaque, int32_t partition, int64_t offset, int err);

extern void strata_kafka_log(void *opaque, int level, const char *fac, const char *buf);
extern void strata_kafka_error(void *opaque, int err, const char *reason);

void strata_kafka_conf_set_delivery(rd_kafka_conf_t *conf) {
    rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR);
}

int strata_kafka_serve_events(rd_kafka_t *rk, rd_kafka_queue_t *queue, int timeout_ms) {
    rd_kafka_event_t *event = rd_kafka_queue_poll(queue, timeout_ms);
    if (!event) return 0;
    void *opaque = rd_kafka_opaque(rk);
    switch (rd_kafka_event_type(event)) {
    case RD_KAFKA_EVENT_DR: {
        const rd_kafka_message_t *m;
        while ((m = rd_kafka_event_message_next(event)) != NULL)
            strata_kafka_delivery(opaque, m->_private, m->partition, m->offset, (int)m->err);
        break;
    }
    case RD_KAFKA_EVENT_ERROR:
        strata_kafka_error(opaque, (int)rd_kafka_event_error(event), rd_kafka_event_error_string(event));
        break;
    default:
        break;
    }
    rd_kafka_event_destroy(event);
    return 1;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    strata_kafka_log(rd_kafka_opaque(rk), level, fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)rk;
    strata_kafka_error(opaque, err, reason);
}

void strata_kafka_conf_set_log_and_error(rd_kafka_conf_t *conf) {
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
}
