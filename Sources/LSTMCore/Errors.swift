/// Every failure lstmtool reports: one line that says what is wrong and where.
///
/// `path` names the file the error is about, when there is one; `description` builds the
/// line from it (`path: message`), so that code which reads a file adds its path in one
/// place (`withPath`) instead of formatting it into every message.
public struct LSTMError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of failure this is; tests and callers match on it rather than on text.
    public enum Kind: String, Sendable {
        case badMagic, unsupportedVersion, truncated, outOfBounds, overlap, checksum
        case sizeMismatch, malformedHeader, invalidModel, shape, missingTensor, extraTensor
        case io, unsupported, invalidInput, conversion
    }
    /// What kind of failure this is.
    public let kind: Kind
    /// What is wrong, without the file's path.
    public let message: String
    /// The file the error is about, if any.
    public let path: String?

    /// An error of `kind`; `path` names the file it is about, if any.
    public init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    /// The one line shown to a user: `path: message`, or the message alone.
    public var description: String { path.map { "\($0): \(message)" } ?? message }

    /// This error about `path`, unless it already names a file (the innermost path is the
    /// most precise: a golden case's model file rather than the golden.json).
    public func withPath(_ path: String) -> LSTMError {
        self.path == nil ? LSTMError(kind, message, path: path) : self
    }
}

extension LSTMError {
    /// Runs `body`; an `LSTMError` it throws gets `path` attached (see `withPath`).
    public static func about<R>(_ path: String, _ body: () throws -> R) throws -> R {
        do { return try body() } catch let e as LSTMError { throw e.withPath(path) }
    }
}

/// Multiplies sizes with overflow checks; `what` names the quantity in the error.
package func checkedProduct(_ values: [Int], what: String) throws -> Int {
    var result = 1
    for v in values {
        guard v >= 0 else { throw LSTMError(.shape, "\(what): negative dimension \(v)") }
        let (p, overflow) = result.multipliedReportingOverflow(by: v)
        guard !overflow else { throw LSTMError(.shape, "\(what): size overflows") }
        result = p
    }
    return result
}
