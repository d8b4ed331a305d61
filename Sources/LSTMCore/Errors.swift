/// Every failure lstmtool reports: one line that says what is wrong and where.
public struct LSTMError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case badMagic, unsupportedVersion, truncated, outOfBounds, overlap, checksum
        case sizeMismatch, malformedHeader, invalidModel, shape, missingTensor, extraTensor
        case io, unsupported, invalidInput, conversion
    }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Multiplies sizes with overflow checks; `what` names the quantity in the error.
public func checkedProduct(_ values: [Int], what: String) throws -> Int {
    var result = 1
    for v in values {
        guard v >= 0 else { throw LSTMError(.shape, "\(what): negative dimension \(v)") }
        let (p, overflow) = result.multipliedReportingOverflow(by: v)
        guard !overflow else { throw LSTMError(.shape, "\(what): size overflows") }
        result = p
    }
    return result
}
