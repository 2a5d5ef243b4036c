// Helpers shared by the test files.
#pragma once

#include <catena/dataset.hpp>
#include <catena/ops.hpp>
#include <catena/runtime.hpp>
#include <catena/tensor.hpp>

#include <zlib.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace catena_test {

// Whether this test binary is built with AddressSanitizer (its memory figures are larger,
// and other programs cannot load its libraries without preloading the sanitizer).
inline bool under_sanitizer() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#else
  return false;
#endif
}

struct CommandResult {
  int status = -1;  // exit code
  std::string output;  // stdout and stderr together
};

// Run a shell command and capture what it prints.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

struct MeasuredResult {
  int status = -1;          // exit code (128 + signal when killed)
  std::string output;       // stdout and stderr together
  long peak_rss_kb = 0;     // the command's peak resident memory (its waited-for children's too)
  double seconds = 0;
};

// Run a command (through /bin/sh, which execs it) and measure its peak memory and time.
// A process forked from this one starts with this one's resident memory as its peak, and
// exec keeps it: the command is started by a small python3 that reports its child's peak
// instead (when /usr/bin/python3 is there).
inline MeasuredResult run_measured(const std::string& cmd) {
  MeasuredResult r;
  int fds[2];
  if (pipe(fds) != 0) return r;
  char peak_file[] = "/tmp/catena-peak-XXXXXX";
  const int peak_fd = mkstemp(peak_file);
  if (peak_fd >= 0) close(peak_fd);
  const bool helper = peak_fd >= 0 && access("/usr/bin/python3", X_OK) == 0;
  const char* script =
      "import resource, subprocess, sys\n"
      "p = subprocess.run(['/bin/sh', '-c', 'exec ' + sys.argv[1]])\n"
      "open(sys.argv[2], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
      "sys.exit(p.returncode if p.returncode >= 0 else 128 - p.returncode)\n";
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1), dup2(fds[1], 2);
    close(fds[0]), close(fds[1]);
    if (helper) execl("/usr/bin/python3", "python3", "-c", script, cmd.c_str(), peak_file, static_cast<char*>(nullptr));
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.output.append(buf, size_t(n));
  close(fds[0]);
  int st = 0;
  rusage use{};
  if (pid > 0 && wait4(pid, &st, 0, &use) == pid) {
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.peak_rss_kb = use.ru_maxrss;
    if (helper) {
      std::ifstream in(peak_file);
      long kb = 0;
      if (in >> kb) r.peak_rss_kb = kb;
    }
  }
  if (peak_fd >= 0) unlink(peak_file);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Paths of what the build made; the environment overrides the built-in defaults (so the
// test binaries also run directly, outside `meson test`).
inline std::string build_path(const char* name, const char* fallback) {
  std::string v = env(name);
  return v.empty() ? fallback : v;
}
inline std::string catena_tool() { return build_path("CATENA_TOOL", CATENA_TEST_TOOL); }
inline std::string cpu_backend_path() { return build_path("CATENA_CPU_BACKEND", CATENA_TEST_CPU_BACKEND); }

inline std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline std::vector<double> random_doubles(size_t n, uint32_t seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A non-contiguous input: every other element of the last axis of a wider random array
// (a scalar is just a random scalar).
inline catena::Tensor input(const catena::Shape& s, catena::Dtype dt, uint32_t seed, double lo = -1, double hi = 1,
                            catena::Device& d = catena::default_device()) {
  catena::Shape wide = s;
  int last = s.ndim() - 1;
  if (last >= 0) wide[last] = s[last] * 2;
  catena::Tensor w = catena::Tensor::from_vector(random_doubles(static_cast<size_t>(wide.numel()), seed, lo, hi), wide, d)
                         .astype(dt);
  return last >= 0 ? w.slice(last, 0, wide[last], 2) : w;
}

// Whether a device computes in a dtype itself, not through the CPU fallback. The function
// tests run on the default device (CATENA_DEVICE: `opencl:0` in the OpenCL suite) and test
// the dtypes it computes in; the others would only test the CPU again.
inline bool computes_in(catena::Dtype dt, catena::Device& d = catena::default_device()) {
  if (d.is_cpu()) return true;
  catena::Runtime& rt = catena::Runtime::instance();
  catena::FallbackMode mode = rt.fallback_mode();
  rt.set_fallback_mode(catena::FallbackMode::error);
  bool ok = true;
  try {
    catena::Tensor t = catena::Tensor::zeros(catena::Shape{2}, dt, d);
    catena::ops::add(t, t);
    d.synchronize();
  } catch (const catena::Error&) {
    ok = false;
  }
  rt.set_fallback_mode(mode);
  return ok;
}

// The dtypes of `want` that the default device computes in.
inline std::vector<catena::Dtype> device_dtypes(std::initializer_list<catena::Dtype> want) {
  std::vector<catena::Dtype> out;
  for (catena::Dtype dt : want)
    if (computes_in(dt)) out.push_back(dt);
  return out;
}

// A tensor's elements as float64, row-major (for comparisons in tests).
inline std::vector<double> vals(const catena::Tensor& t) { return t.astype(catena::float64).to_vector<double>(); }

// A fresh folder under $TMPDIR, removed with everything in it at the end of the scope.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "catena-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

// Runs Python code with Debian's python3 (numpy and h5py: what the tests' files are made
// with), the folder as sys.argv[1].
inline CommandResult run_python(const TempDir& dir, const std::string& code) {
  const std::string script = dir / "make.py";
  {
    std::ofstream out(script, std::ios::binary);
    out << code;
  }
  return run_command("/usr/bin/python3 " + script + " " + dir.path);
}

// A file a test makes and what the error refusing it says.
struct FileCase {
  const char* file;
  const char* says;
};

// The message of the catena::Error that `f` throws ("" when it throws none).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const catena::Error& e) {
    return e.what();
  }
  return "";
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// An MNIST-format IDX file of uint8 values (the dimensions big-endian, as the format has them).
inline std::string idx_u8(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s{0, 0, 8, char(dims.size())};
  for (uint32_t d : dims) s += std::string{char(d >> 24), char(d >> 16), char(d >> 8), char(d)};
  s.append(data.begin(), data.end());
  return s;
}

// `bytes` gzip'd into `path`; false if it cannot be written.
inline bool write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (!f) return false;
  bool ok = gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size());
  return gzclose(f) == Z_OK && ok;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Two Gaussian blobs in 4-D (labels 0 and 1), a data set small enough for training tests.
inline catena::DatasetPtr blobs(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, 0.3f);
  std::vector<float> x(size_t(n) * 4);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    t[size_t(i)] = i % 2;
    for (int k = 0; k < 4; ++k) x[size_t(i) * 4 + size_t(k)] = (t[size_t(i)] ? 1.0f : -1.0f) + noise(rng);
  }
  return std::make_shared<catena::datasets::TupleDataset>(
      std::vector<catena::Tensor>{catena::Tensor::from_vector(x, catena::Shape{n, 4}, catena::runtime().cpu()),
                                  catena::Tensor::from_vector(t, catena::Shape{n}, catena::runtime().cpu())});
}

// n images and labels in Fashion-MNIST's files (train and t10k alike) in `dir`: pixel k of
// image i is bright when k % 10 is its class, so a model learns it in an epoch or two.
inline void write_tiny_fashion_mnist(const std::string& dir, uint32_t n) {
  std::vector<uint8_t> img(size_t(n) * 784), lab(n);
  for (uint32_t i = 0; i < n; ++i) {
    lab[i] = uint8_t(i % 10);
    for (size_t k = 0; k < 784; ++k) img[i * 784 + k] = uint8_t((k % 10 == lab[i]) ? 250 : 5);
  }
  for (const char* split : {"train", "t10k"}) {
    if (!write_gz(dir + "/" + split + "-images-idx3-ubyte.gz", idx_u8({n, 28, 28}, img)) ||
        !write_gz(dir + "/" + split + "-labels-idx1-ubyte.gz", idx_u8({n}, lab)))
      throw std::runtime_error("cannot write the test data set in " + dir);
  }
}

}  // namespace catena_test
