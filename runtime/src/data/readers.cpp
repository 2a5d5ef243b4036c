// Readers for MNIST-format IDX files (gzip'd or not) and CIFAR-10/100 binary batches.
// Every error names the file and says what is wrong; sizes in headers are never trusted.
#include <catena/dataset.hpp>
#include <catena/error.hpp>
#include <catena/files.hpp>
#include <catena/runtime.hpp>

#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace catena {
namespace datasets {

namespace {

// Something is at `path` (a file there that is not a regular one is refused when read).
bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// A reader over a file that may be gzip'd (zlib reads plain files transparently).
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    InputFile file(path);  // a regular file, opened without waiting
    const int fd = ::dup(file.fd());
    f_ = fd >= 0 ? gzdopen(fd, "rb") : nullptr;
    if (!f_) {
      if (fd >= 0) ::close(fd);
      throw Error(CT_RESOURCE_EXHAUSTED, path + ": cannot be read (" + std::strerror(errno) + ")");
    }
    gzbuffer(f_, 1 << 17);
  }
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; returns how many were read (fewer only at the end of the file).
  size_t read_some(void* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      int got = gzread(f_, static_cast<char*>(dst) + done, chunk);
      if (got < 0) {
        int code;
        const char* msg = gzerror(f_, &code);
        throw Error(CT_DATA_LOSS, path_ + ": corrupt or unreadable (" + std::string(msg ? msg : "zlib error") + ")");
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }
  void read_exact(void* dst, size_t n, const char* what) {
    size_t got = read_some(dst, n);
    if (got != n)
      throw Error(CT_DATA_LOSS, path_ + ": truncated: " + what + " needs " + std::to_string(n) + " bytes, the file has " +
                                    std::to_string(got));
  }
  bool at_end() {
    char c;
    return read_some(&c, 1) == 0;
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

uint32_t big_endian(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Reads `total` bytes in chunks, so a hostile header cannot make us allocate more than
// the file really holds.
std::vector<unsigned char> read_payload(GzFile& f, uint64_t total, const std::string& path) {
  std::vector<unsigned char> data;
  const size_t chunk = size_t(1) << 24;
  while (data.size() < total) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, total - data.size()));
    size_t old = data.size();
    data.resize(old + want);
    size_t got = f.read_some(data.data() + old, want);
    if (got != want)
      throw Error(CT_DATA_LOSS, path + ": truncated: the header promises " + std::to_string(total) +
                                    " bytes of data, the file has " + std::to_string(old + got));
  }
  return data;
}

std::string find_file(const std::string& dir, const std::string& name) {
  for (const std::string& candidate : {dir + "/" + name + ".gz", dir + "/" + name})
    if (exists(candidate)) return candidate;
  return "";
}

std::string env_or(const char* var, const std::string& fallback) {
  const char* v = std::getenv(var);
  return v && *v ? std::string(v) : fallback;
}

Tensor scale_images(const Tensor& u8, const Shape& shape, double scale) {
  int64_t n = u8.numel();
  Tensor out = Tensor::empty(shape, float32, runtime().cpu());
  const unsigned char* src = static_cast<const unsigned char*>(u8.host_data());
  float* dst = static_cast<float*>(out.host_data());
  const float k = static_cast<float>(scale / 255.0);
  for (int64_t i = 0; i < n; ++i) dst[i] = float(src[i]) * k;
  return out;
}

Tensor labels_int32(const Tensor& u8) {
  int64_t n = u8.numel();
  Tensor out = Tensor::empty(Shape{n}, int32, runtime().cpu());
  const unsigned char* src = static_cast<const unsigned char*>(u8.host_data());
  int32_t* dst = static_cast<int32_t*>(out.host_data());
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  return out;
}

DatasetPtr mnist_split(const std::string& dir, const std::string& prefix, const MnistOptions& o) {
  std::string images = find_file(dir, prefix + "-images-idx3-ubyte");
  std::string labels = find_file(dir, prefix + "-labels-idx1-ubyte");
  if (images.empty() || labels.empty())
    throw Error(CT_NOT_FOUND, dir + ": no " + prefix + "-" + (images.empty() ? "images-idx3" : "labels-idx1") +
                                  "-ubyte[.gz] here");
  Tensor x = read_idx(images), t = read_idx(labels);
  if (x.dtype() != uint8 || x.ndim() != 3)
    throw Error(CT_INVALID_ARGUMENT, images + ": expected uint8 images (N, rows, cols), found " + x.dtype().name() +
                                         x.shape().str());
  if (t.dtype() != uint8 || t.ndim() != 1 || t.shape()[0] != x.shape()[0])
    throw Error(CT_INVALID_ARGUMENT, labels + ": expected " + std::to_string(x.shape()[0]) +
                                         " uint8 labels, found " + t.dtype().name() + t.shape().str());
  if (o.ndim != 1 && o.ndim != 3 && o.ndim != 2)
    throw Error(CT_INVALID_ARGUMENT, "get_mnist: ndim must be 1, 2 or 3, got " + std::to_string(o.ndim));
  int64_t n = x.shape()[0], h = x.shape()[1], w = x.shape()[2];
  Shape shape = o.ndim == 1 ? Shape{n, h * w} : o.ndim == 2 ? Shape{n, h, w} : Shape{n, 1, h, w};
  Tensor images_f = scale_images(x, shape, o.scale);
  if (!o.withlabel) return std::make_shared<TupleDataset>(std::vector<Tensor>{images_f});
  return std::make_shared<TupleDataset>(std::vector<Tensor>{images_f, labels_int32(t)});
}

}  // namespace

Tensor read_idx(const std::string& path) {
  if (!exists(path)) throw Error(CT_NOT_FOUND, path + ": no such file");
  GzFile f(path);
  unsigned char magic[4];
  f.read_exact(magic, 4, "the IDX header");
  if (magic[0] != 0 || magic[1] != 0)
    throw Error(CT_INVALID_ARGUMENT, path + ": not an IDX file (bad magic number)");
  Dtype dtype = uint8;
  size_t elem = 1;
  bool widen16 = false;
  switch (magic[2]) {
    case 0x08: dtype = uint8; break;
    case 0x09: dtype = int8; break;
    case 0x0B: dtype = int32, elem = 2, widen16 = true; break;
    case 0x0C: dtype = int32, elem = 4; break;
    case 0x0D: dtype = float32, elem = 4; break;
    case 0x0E: dtype = float64, elem = 8; break;
    default: throw Error(CT_INVALID_ARGUMENT, path + ": unknown IDX element type " + std::to_string(magic[2]));
  }
  int ndim = magic[3];
  if (ndim < 1 || ndim > 8)
    throw Error(CT_INVALID_ARGUMENT, path + ": IDX files with " + std::to_string(ndim) + " dimensions are not supported (1 to 8)");
  Shape shape;
  uint64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    unsigned char b[4];
    f.read_exact(b, 4, "the IDX dimensions");
    uint32_t n = big_endian(b);
    shape.push_back(int64_t(n));
    if (n && count > (uint64_t(1) << 40) / n)
      throw Error(CT_INVALID_ARGUMENT, path + ": the header's shape " + shape.str() + "... is implausibly large");
    count *= n;
  }
  std::vector<unsigned char> data = read_payload(f, count * elem, path);
  if (!f.at_end()) throw Error(CT_INVALID_ARGUMENT, path + ": trailing data after the " + shape.str() + " array");
  // IDX stores multi-byte values big-endian.
  std::vector<unsigned char> host(count * dtype.size());
  for (uint64_t i = 0; i < count; ++i) {
    const unsigned char* s = &data[i * elem];
    unsigned char* d = &host[i * dtype.size()];
    if (widen16) {
      int32_t v = int16_t((uint16_t(s[0]) << 8) | s[1]);
      std::memcpy(d, &v, 4);
    } else {
      for (size_t k = 0; k < elem; ++k) d[k] = s[elem - 1 - k];
    }
  }
  return Tensor::from_host(host.data(), host.size(), shape, dtype, runtime().cpu());
}

std::string default_fashion_mnist_dir() { return env_or("CATENA_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"); }

std::pair<DatasetPtr, DatasetPtr> get_mnist_format(const std::string& dir, const MnistOptions& o) {
  return {mnist_split(dir, "train", o), mnist_split(dir, "t10k", o)};
}

std::pair<DatasetPtr, DatasetPtr> get_fashion_mnist(const std::string& dir_in, const MnistOptions& o) {
  std::string dir = dir_in.empty() ? default_fashion_mnist_dir() : dir_in;
  if (find_file(dir, "train-images-idx3-ubyte").empty())
    throw Error(CT_NOT_FOUND, "Fashion-MNIST is not in " + dir +
                                  ": install it with `apt-get install dataset-fashion-mnist`, or point "
                                  "CATENA_FASHION_MNIST (or --data) at a folder of its IDX files");
  return get_mnist_format(dir, o);
}

std::pair<DatasetPtr, DatasetPtr> get_mnist(const std::string& dir_in, const MnistOptions& o) {
  std::string dir = dir_in.empty() ? env_or("CATENA_MNIST", "") : dir_in;
  if (dir.empty() || find_file(dir, "train-images-idx3-ubyte").empty())
    throw Error(CT_NOT_FOUND, "MNIST is not available" + (dir.empty() ? std::string() : " in " + dir) +
                                  ": put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                                  "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in a folder and point "
                                  "CATENA_MNIST (or --data) at it (no Debian package ships MNIST)");
  return get_mnist_format(dir, o);
}

namespace {

DatasetPtr cifar_files(const std::vector<std::string>& files, int label_bytes, double scale) {
  const size_t image = 3 * 32 * 32, record = size_t(label_bytes) + image;
  std::vector<unsigned char> pixels;
  std::vector<int32_t> labels;
  for (const std::string& path : files) {
    InputFile in(path);
    const uint64_t size = in.size();
    if (size == 0 || size % record != 0)
      throw Error(CT_DATA_LOSS, path + ": " + std::to_string(size) + " bytes is not a whole number of " +
                                    std::to_string(record) + "-byte CIFAR records (truncated or not a CIFAR batch)");
    std::vector<unsigned char> buf(static_cast<size_t>(size));
    in.read_at(0, buf.data(), buf.size());
    for (size_t off = 0; off < buf.size(); off += record) {
      labels.push_back(buf[off + size_t(label_bytes) - 1]);  // CIFAR-100: the fine label
      pixels.insert(pixels.end(), buf.begin() + std::ptrdiff_t(off) + label_bytes,
                    buf.begin() + std::ptrdiff_t(off + record));
    }
  }
  int64_t n = int64_t(labels.size());
  Tensor u8 = Tensor::from_host(pixels.data(), pixels.size(), Shape{n, 3, 32, 32}, uint8, runtime().cpu());
  return std::make_shared<TupleDataset>(std::vector<Tensor>{
      scale_images(u8, Shape{n, 3, 32, 32}, scale), Tensor::from_vector(labels, Shape{n}, runtime().cpu())});
}

}  // namespace

std::pair<DatasetPtr, DatasetPtr> get_cifar10(const std::string& dir_in, double scale) {
  std::string dir = dir_in.empty() ? env_or("CATENA_CIFAR10", "") : dir_in;
  if (dir.empty() || !exists(dir + "/data_batch_1.bin"))
    throw Error(CT_NOT_FOUND, "CIFAR-10 is not available" + (dir.empty() ? std::string() : " in " + dir) +
                                  ": point CATENA_CIFAR10 (or --data) at the folder of its binary version "
                                  "(data_batch_1.bin ... data_batch_5.bin, test_batch.bin)");
  std::vector<std::string> train;
  for (int i = 1; i <= 5; ++i) train.push_back(dir + "/data_batch_" + std::to_string(i) + ".bin");
  return {cifar_files(train, 1, scale), cifar_files({dir + "/test_batch.bin"}, 1, scale)};
}

std::pair<DatasetPtr, DatasetPtr> get_cifar100(const std::string& dir_in, double scale) {
  std::string dir = dir_in.empty() ? env_or("CATENA_CIFAR100", "") : dir_in;
  if (dir.empty() || !exists(dir + "/train.bin"))
    throw Error(CT_NOT_FOUND, "CIFAR-100 is not available" + (dir.empty() ? std::string() : " in " + dir) +
                                  ": point CATENA_CIFAR100 (or --data) at the folder of its binary version "
                                  "(train.bin, test.bin)");
  return {cifar_files({dir + "/train.bin"}, 2, scale), cifar_files({dir + "/test.bin"}, 2, scale)};
}

}  // namespace datasets
}  // namespace catena
