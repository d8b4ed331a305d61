import Foundation
internal import LSTMCodec
import LSTMCore

/// Small helpers the importers and exporters share.
package enum ConvertSupport {
    /// The current time as RFC 3339 UTC, for `Metadata.created` and Keras's `date_saved`:
    /// `SOURCE_DATE_EPOCH` (seconds since 1970, reproducible-builds.org) when it is set and
    /// valid, so that two conversions of the same input give the same bytes.
    static func now() -> String {
        rfc3339(sourceDateEpoch() ?? Date())
    }

    /// The time `SOURCE_DATE_EPOCH` names; nil when it is unset or not a non-negative integer.
    package static func sourceDateEpoch() -> Date? {
        guard let v = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"] else { return nil }
        return parseSourceDateEpoch(v)
    }

    /// `SOURCE_DATE_EPOCH`'s value as a date: a non-negative decimal integer of seconds.
    package static func parseSourceDateEpoch(_ v: String) -> Date? {
        guard !v.isEmpty, v.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(v) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(n))
    }

    /// `date` as RFC 3339 UTC with seconds (`2026-01-02T03:04:05Z`).
    package static func rfc3339(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    /// What an import records as `Metadata.created`: the one place that decides it. nil when
    /// `options` asks for no stamp (`inspect`, `diff`); else the option's time, else
    /// `SOURCE_DATE_EPOCH`, else now.
    static func created(_ options: ImportOptions) -> String? {
        guard options.stampsCreationTime else { return nil }
        return options.creationTime ?? now()
    }

    /// "a, b, c and 7 more": names for a note, the first 10 and then a count.
    static func nameList(_ names: [String], limit: Int = 10) -> String {
        let shown = names.prefix(limit).map { "'\($0)'" }.joined(separator: ", ")
        return names.count > limit ? shown + " and \(names.count - limit) more" : shown
    }

    /// Which lstmtool made the conversion, kept beside the source's own producer.
    static var convertedBy: (key: String, value: String) { ("converted_by", "lstmtool \(LSTMKitVersion.string)") }

    /// The last path component, recorded as `Metadata.sourceFile` (never the full path,
    /// which would leak the converting machine's directory layout into the model).
    static func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// True when every byte is zero, i.e. every element is +0.0 (−0.0 does not count:
    /// a tensor that is all +0 is the same as an absent one, bit for bit).
    static func isAllPositiveZero(_ t: ModelTensor) -> Bool {
        !t.bytes.contains { $0 != 0 }
    }

    /// A zero tensor of the given dtype and shape.
    static func zeros(_ dtype: DType, _ shape: [Int]) throws -> ModelTensor {
        let n = try checkedProduct(shape + [dtype.size], what: "zero tensor")
        return try ModelTensor(dtype: dtype, shape: shape, bytes: [UInt8](repeating: 0, count: n))
    }
}
