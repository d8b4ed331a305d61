// Hand-written C helpers for the codec layer: things that are awkward or unsafe to
// express in Swift (protobuf-c's allocator callbacks). Only LSTMCodec imports this.
#ifndef LSTM_SUPPORT_H
#define LSTM_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

// A protobuf-c allocator that refuses to hand out more than `budget` bytes in total, so
// that a small hostile header cannot make unpack allocate gigabytes (protobuf-c has no
// limit of its own). A refused allocation makes unpack return NULL.
typedef struct {
  ProtobufCAllocator allocator;  // must stay first: protobuf-c gets a pointer to it
  size_t budget;
  size_t used;
  int exhausted;
} lstm_budget_allocator;

void lstm_budget_allocator_init(lstm_budget_allocator *a, size_t budget);

#endif
