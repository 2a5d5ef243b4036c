/* An application embedding Catena through its C API: load a model that `catena train`
 * wrote and classify the Fashion-MNIST test set with it.
 *
 *   classify MODEL [DATA_DIR [DEVICE]]
 *
 * DATA_DIR holds t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (default
 * /usr/share/datasets/fashion-mnist); DEVICE is "cpu", "opencl:0", ... (default: the
 * runtime's default device). Prints the accuracy as `catena eval` does. */
#include <catena/catena.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { kBatch = 100, kSide = 28 };

/* The IDX file `name` in `dir`, gunzipped, with its magic and dimensions checked. */
static unsigned char* read_idx(const char* dir, const char* name, unsigned magic, size_t item, size_t* count) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  gzFile f = gzopen(path, "rb");
  if (!f) {
    fprintf(stderr, "classify: cannot open %s\n", path);
    return NULL;
  }
  unsigned char head[16];
  const int head_size = magic == 0x803 ? 16 : 8;
  unsigned char* data = NULL;
  if (gzread(f, head, (unsigned)head_size) == head_size &&
      ((unsigned)head[2] << 8 | head[3]) == magic) {
    *count = (size_t)head[4] << 24 | (size_t)head[5] << 16 | (size_t)head[6] << 8 | head[7];
    if (*count > 0 && *count <= 1000000) {
      data = malloc(*count * item);
      if (data && gzread(f, data, (unsigned)(*count * item)) != (int)(*count * item)) {
        free(data);
        data = NULL;
      }
    }
  }
  gzclose(f);
  if (!data) fprintf(stderr, "classify: %s is not a Fashion-MNIST IDX file\n", path);
  return data;
}

/* Prints and frees a failed status; returns 1 for "failed". */
static int failed(ct_status* s) {
  if (!s) return 0;
  fprintf(stderr, "classify: %s (%s)\n", catena_status_message(s), catena_code_name(catena_status_code(s)));
  catena_status_free(s);
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4 || strcmp(argv[1], "--help") == 0) {
    fprintf(stderr, "usage: classify MODEL [DATA_DIR [DEVICE]]\n");
    return argc < 2 || argc > 4 ? 2 : 0;
  }
  const char* dir = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
  const char* device = argc > 3 ? argv[3] : NULL;
  size_t n = 0, n_labels = 0;
  unsigned char* pixels = read_idx(dir, "t10k-images-idx3-ubyte.gz", 0x803, kSide * kSide, &n);
  unsigned char* labels = read_idx(dir, "t10k-labels-idx1-ubyte.gz", 0x801, 1, &n_labels);
  if (!pixels || !labels || n != n_labels) return 1;

  catena_runtime* rt = NULL;
  catena_model* model = NULL;
  if (failed(catena_runtime_open(NULL, &rt)) || failed(catena_model_load(rt, argv[1], device, &model))) return 1;

  /* Scaled to [0, 1] as Catena's data set does: pixel * float(1 / 255). */
  const float k = (float)(1.0 / 255.0);
  static float batch[kBatch * kSide * kSide];
  size_t correct = 0;
  int rc = 0;
  for (size_t at = 0; at < n && rc == 0; at += kBatch) {
    const size_t m = n - at < kBatch ? n - at : kBatch;
    for (size_t i = 0; i < m * kSide * kSide; ++i) batch[i] = (float)pixels[at * kSide * kSide + i] * k;
    const int64_t shape[4] = {(int64_t)m, 1, kSide, kSide};
    const ct_dtype f32 = {CT_DTYPE_FLOAT, 32, 1};
    catena_tensor *x = NULL, *y = NULL;
    float scores[kBatch * 10];
    int64_t yshape[2] = {0, 0};
    if (failed(catena_tensor_new(rt, catena_model_device(model), f32, shape, 4, batch, m * kSide * kSide * sizeof(float), &x)) ||
        failed(catena_model_forward(model, x, &y)) || failed(catena_tensor_shape(y, yshape, 2))) {
      rc = 1;
    } else if (catena_tensor_ndim(y) != 2 || yshape[0] != (int64_t)m || yshape[1] != 10) {
      fprintf(stderr, "classify: the model gives %d-d scores, not (batch, 10)\n", catena_tensor_ndim(y));
      rc = 1;
    } else if (failed(catena_tensor_read(y, scores, m * 10 * sizeof(float)))) {
      rc = 1;
    } else {
      for (size_t i = 0; i < m; ++i) {
        int best = 0; /* the first of equal scores, as argmax */
        for (int c = 1; c < 10; ++c)
          if (scores[i * 10 + c] > scores[i * 10 + best]) best = c;
        correct += best == labels[at + i];
      }
    }
    catena_tensor_free(x);
    catena_tensor_free(y);
  }
  if (rc == 0) {
    printf("%zu test examples on %s\n", n, catena_model_device(model));
    printf("accuracy: %.4f\n", (double)correct / (double)n);
  }
  catena_model_free(model);
  catena_runtime_close(rt);
  free(pixels);
  free(labels);
  return rc;
}
