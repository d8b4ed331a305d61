import Foundation
import LSTMKit

/// Progress of long work on stderr — only when stderr is a terminal, so that CI logs and pipes
/// get nothing extra — on one line that is rewritten in place and cleared at the end.
/// Called from the command's own thread (the writer's progress callback runs on it too).
final class Progress: @unchecked Sendable {
    let enabled: Bool
    private var shown = false
    private var lastPercent = -1

    /// Shows nothing unless `enabled` and stderr is a terminal (`--quiet` passes false).
    init(enabled: Bool) {
        self.enabled = enabled && isatty(2) == 1
    }

    /// Replaces the line with `text` (at most 120 characters, control characters escaped).
    func show(_ text: String) {
        guard enabled else { return }
        FileHandleStderr.write("\r\u{1B}[K" + String(escapingControlCharacters(text).prefix(120)))
        shown = true
    }

    /// `label 42%`, written only when the whole percent changes.
    func fraction(_ done: Int, of total: Int, _ label: String) {
        guard enabled, total > 0 else { return }
        let percent = Int(Double(done) / Double(total) * 100)
        guard percent != lastPercent else { return }
        lastPercent = percent
        show("\(label) \(percent)%")
    }

    /// Clears the line.
    func finish() {
        if shown { FileHandleStderr.write("\r\u{1B}[K") }
        shown = false
    }
}
