#include "lstm_support.h"
#include <stdlib.h>

// Each block carries its size in front so that free() can give the budget back.
typedef struct { size_t size; max_align_t align; } block_header;

static void *budget_alloc(void *data, size_t size) {
  lstm_budget_allocator *a = (lstm_budget_allocator *)data;
  if (size > a->budget - a->used || size > SIZE_MAX - sizeof(block_header)) {
    a->exhausted = 1;
    return NULL;
  }
  block_header *h = malloc(sizeof(block_header) + size);
  if (h == NULL) { a->exhausted = 1; return NULL; }
  h->size = size;
  a->used += size;
  return (char *)h + sizeof(block_header);
}

static void budget_free(void *data, void *ptr) {
  if (ptr == NULL) return;
  lstm_budget_allocator *a = (lstm_budget_allocator *)data;
  block_header *h = (block_header *)((char *)ptr - sizeof(block_header));
  a->used -= h->size;
  free(h);
}

void lstm_budget_allocator_init(lstm_budget_allocator *a, size_t budget) {
  a->allocator.alloc = budget_alloc;
  a->allocator.free = budget_free;
  a->allocator.allocator_data = a;
  a->budget = budget;
  a->used = 0;
  a->exhausted = 0;
}
