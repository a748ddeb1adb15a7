import CRdKafka
import StrataCore

/// An error from librdkafka: its code (an `rd_kafka_resp_err_t`), the code's name and its text, and
/// what librdkafka says about it (retriable, fatal, abort the transaction).
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var name: String
    public var message: String
    public var retriable = false
    public var fatal = false
    public var txnRequiresAbort = false
    /// What Strata was doing.
    public var context: String

    public init(code: Int32, message: String? = nil, context: String) {
        self.code = code
        let err = rd_kafka_resp_err_t(rawValue: code)
        self.name = String(cString: rd_kafka_err2name(err))
        self.message = message ?? String(cString: rd_kafka_err2str(err))
        self.context = context
    }

    /// Takes ownership of `error` (destroys it).
    init(consuming error: OpaquePointer, context: String) {
        self.init(code: Int32(rd_kafka_error_code(error).rawValue), message: String(cString: rd_kafka_error_string(error)), context: context)
        retriable = rd_kafka_error_is_retriable(error) != 0
        fatal = rd_kafka_error_is_fatal(error) != 0
        txnRequiresAbort = rd_kafka_error_txn_requires_abort(error) != 0
        rd_kafka_error_destroy(error)
    }

    public var description: String {
        var flags: [String] = []
        if retriable { flags.append("retriable") }
        if fatal { flags.append("fatal") }
        if txnRequiresAbort { flags.append("transaction aborted") }
        return "\(context): Kafka \(name) (\(code)): \(message)" + (flags.isEmpty ? "" : " [\(flags.joined(separator: ", "))]")
    }

    /// The error as Strata's callers see it: a timeout is a timeout, everything else a backend error;
    /// the message keeps librdkafka's code and text.
    public var strata: StrataError {
        let timedOut = code == RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue || code == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue
            || code == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue || code == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE.rawValue
        return StrataError(timedOut ? .timeout : .backend, description)
    }

    static func check(_ err: rd_kafka_resp_err_t, _ context: @autoclosure () -> String) throws {
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: Int32(err.rawValue), context: context()) }
    }

    /// Throws the error an `rd_kafka_error_t *`-returning call gave, if any.
    static func check(_ error: OpaquePointer?, _ context: @autoclosure () -> String) throws {
        if let error { throw KafkaError(consuming: error, context: context()) }
    }
}
