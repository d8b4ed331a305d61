import LSTMCore

/// The recurrent state of a whole stack between two runs: for every layer, its hidden state
/// h and, for LSTM layers, its cell state c.
///
/// A run reads the state it is given and leaves the state after its last step, so feeding a
/// sequence in chunks gives the same outputs, bit for bit, as feeding it whole. An app may
/// read, store and set the state (for instance to resume a stream).
public struct RecurrentState<Scalar: RecurrentScalar>: Equatable, Sendable {
    /// The state of one layer.
    public struct LayerState: Equatable, Sendable {
        /// Hidden state, `[D, B, P]` (directions, batch, the layer's output width).
        public var h: Tensor<Scalar>
        /// Cell state `[D, B, H]` of an LSTM layer; nil for RNN and GRU layers.
        public var c: Tensor<Scalar>?

        /// A layer's state from its tensors.
        public init(h: Tensor<Scalar>, c: Tensor<Scalar>? = nil) {
            self.h = h
            self.c = c
        }
    }

    /// One entry per layer, first layer first.
    public var layers: [LayerState]
    /// How many sequences the state holds (B).
    public let batchSize: Int
    /// Steps run since the state was made (``RecurrentModel/initialState(batchSize:)``);
    /// a model that cannot stream (``RecurrentModel/canStream``) accepts only a state at step 0.
    public internal(set) var steps: Int

    /// A state from its layers (shapes are checked when a run uses it).
    public init(layers: [LayerState], batchSize: Int, steps: Int = 0) {
        self.layers = layers
        self.batchSize = batchSize
        self.steps = steps
    }
}
