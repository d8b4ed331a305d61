// Streams a synthetic "audio feature" signal through the LSTM of Silero VAD (MIT licence;
// bundled as lstmtool's .lstm), 10 frames at a time, the way a voice-activity detector fed by
// an audio callback would: one RecurrentModel, one carried RecurrentState, no reset between
// chunks. At the end it checks that streaming gave exactly what one whole run gives.
import Foundation
import LSTMKit

guard let url = Bundle.module.url(forResource: "silero_vad_lstm", withExtension: "lstm") else {
    FileHandle.standardError.write(Data("stream-vad: the bundled model is missing\n".utf8))
    exit(1)
}
let model = try RecurrentModel(contentsOf: url)
print("model: \(model.metadata.name ?? "?"), \(model.layers.count) layer(s), input \(model.inputSize), output \(model.outputSize)")

// 200 frames of a feature vector whose loudness rises and falls, like speech in silence.
let frames = 200, width = model.inputSize
var signal = [Float](repeating: 0, count: frames * width)
for t in 0..<frames {
    let loudness = Float(max(0, sin(Double(t) / Double(frames) * .pi * 3)))
    for k in 0..<width { signal[t * width + k] = loudness * Float(cos(Double(k * (t + 1)) * 0.05)) }
}
let all = try Tensor<Float>(shape: [frames, 1, width], scalars: signal)

var state = model.initialState(batchSize: 1)
var streamed: [Float] = []
let chunk = 10
for start in stride(from: 0, to: frames, by: chunk) {
    let y = try model.run(try all.slice(steps: start..<min(frames, start + chunk)), state: &state)
    streamed += y.scalars
    // A real detector would feed y to its classifier here; show the mean activation.
    let mean = y.scalars.reduce(0, +) / Float(y.scalars.count)
    print(String(format: "frames %3d-%3d  mean h %+.4f", start, min(frames, start + chunk) - 1, mean))
}

var wholeState = model.initialState(batchSize: 1)
let whole = try model.run(all, state: &wholeState)
let same = whole.scalars == streamed && wholeState == state
print("streamed \(frames / chunk) chunks: identical to one whole run: \(same)")
exit(same ? 0 : 1)
