// swift-tools-version:6.0
// An app that depends on lstmtool's library by path, as an app would from a release.
import PackageDescription

let package = Package(
    name: "StreamingVAD",
    dependencies: [
        .package(name: "lstmtool", path: "../.."),
    ],
    targets: [
        // The library issue's acceptance program, verbatim: load any format, run whole and in
        // two chunks, compare.
        .executableTarget(name: "acceptance", dependencies: [.product(name: "LSTMKit", package: "lstmtool")]),
        // Streams the bundled Silero VAD LSTM chunk by chunk, as a voice-activity detector
        // fed by an audio callback would.
        .executableTarget(name: "stream-vad", dependencies: [.product(name: "LSTMKit", package: "lstmtool")],
                          resources: [.copy("Resources/silero_vad_lstm.lstm")]),
    ],
    swiftLanguageModes: [.v6]
)
