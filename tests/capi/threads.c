/* One loaded model, inference from many threads at once through the C API: every thread
 * must get, bit for bit, the answer one thread got alone. Run under ThreadSanitizer in CI.
 *
 *   capi-threads MODEL [THREADS [ROUNDS [DEVICE]]]
 *
 * Inputs are (8, 1, 28, 28) float32 batches from a fixed generator, a different batch per
 * round; exit status 0 when every answer matched. */
#include <catena/catena.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kBatch = 8, kPixels = 28 * 28, kMaxRounds = 64, kMaxOut = kBatch * 64 };

static catena_runtime* g_rt;
static catena_model* g_model;
static int g_rounds;
static float g_inputs[kMaxRounds][kBatch * kPixels];
static float g_expected[kMaxRounds][kMaxOut];
static size_t g_out_count;

static int report(ct_status* s, const char* where) {
  if (!s) return 0;
  fprintf(stderr, "capi-threads: %s: %s\n", where, catena_status_message(s));
  catena_status_free(s);
  return 1;
}

/* The model's scores for round r's batch into out (g_out_count floats). */
static int predict(int r, float* out) {
  const int64_t shape[4] = {kBatch, 1, 28, 28};
  const ct_dtype f32 = {CT_DTYPE_FLOAT, 32, 1};
  catena_tensor *x = NULL, *y = NULL;
  int bad = report(catena_tensor_new(g_rt, NULL, f32, shape, 4, g_inputs[r], sizeof g_inputs[r], &x), "tensor") ||
            report(catena_model_forward(g_model, x, &y), "forward");
  if (!bad && out == NULL) {
    const int64_t n = catena_tensor_numel(y);
    if (n <= 0 || n > kMaxOut) {
      fprintf(stderr, "capi-threads: the model gives %lld values per batch (at most %d here)\n", (long long)n, kMaxOut);
      bad = 1;
    } else {
      g_out_count = (size_t)n;
    }
  }
  if (!bad && out) bad = report(catena_tensor_read(y, out, g_out_count * sizeof(float)), "read");
  catena_tensor_free(x);
  catena_tensor_free(y);
  return bad;
}

static void* worker(void* arg) {
  const int id = (int)(size_t)arg;
  float got[kMaxOut];
  size_t wrong = 0;
  for (int i = 0; i < g_rounds; ++i) {
    const int r = (i + id) % g_rounds; /* threads walk the batches out of step */
    if (predict(r, got)) return (void*)1;
    if (memcmp(got, g_expected[r], g_out_count * sizeof(float)) != 0) ++wrong;
  }
  if (wrong) fprintf(stderr, "capi-threads: thread %d: %zu of %d answers differ from one thread's\n", id, wrong, g_rounds);
  return (void*)(size_t)(wrong != 0);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: capi-threads MODEL [THREADS [ROUNDS [DEVICE]]]\n");
    return 2;
  }
  const int threads = argc > 2 ? atoi(argv[2]) : 8;
  g_rounds = argc > 3 ? atoi(argv[3]) : 4;
  const char* device = argc > 4 ? argv[4] : NULL;
  if (threads < 1 || threads > 256 || g_rounds < 1 || g_rounds > kMaxRounds) {
    fprintf(stderr, "capi-threads: THREADS is 1 to 256, ROUNDS 1 to %d\n", kMaxRounds);
    return 2;
  }
  unsigned state = 12345u;
  for (int r = 0; r < g_rounds; ++r)
    for (int i = 0; i < kBatch * kPixels; ++i) {
      state = state * 1664525u + 1013904223u;
      g_inputs[r][i] = (float)(state >> 8) / 16777216.0f;
    }
  if (report(catena_runtime_open(NULL, &g_rt), "open") || report(catena_model_load(g_rt, argv[1], device, &g_model), "load"))
    return 1;
  if (predict(0, NULL)) return 1;
  for (int r = 0; r < g_rounds; ++r)
    if (predict(r, g_expected[r])) return 1;

  pthread_t tid[256];
  for (int t = 0; t < threads; ++t)
    if (pthread_create(&tid[t], NULL, worker, (void*)(size_t)t) != 0) {
      fprintf(stderr, "capi-threads: cannot start thread %d\n", t);
      return 1;
    }
  int failures = 0;
  for (int t = 0; t < threads; ++t) {
    void* rc = NULL;
    pthread_join(tid[t], &rc);
    failures += rc != NULL;
  }
  catena_model_free(g_model);
  catena_runtime_close(g_rt);
  printf("%d threads x %d batches on %s: %s\n", threads, g_rounds, device && *device ? device : "the default device",
         failures ? "answers differ" : "every answer matched one thread's");
  return failures ? 1 : 0;
}
