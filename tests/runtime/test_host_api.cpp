// The C host API (catena/catena.h): what an embedding application sees. Every bad input
// gives a status that says what is wrong; a model loaded through it answers as the C++
// API does, from many threads at once.
#include "../support.hpp"

#include <catena/catena.h>
#include <catena/config.hpp>
#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/models.hpp>
#include <catena/random.hpp>
#include <catena/serializers.hpp>

#include <cstring>
#include <thread>

#include <doctest/doctest.h>

using namespace catena;
using catena_test::contains;
using catena_test::TempDir;

namespace {

const ct_dtype kF32{CT_DTYPE_FLOAT, 32, 1};

// The status's "CODE: message", "" for success; frees it.
std::string outcome(ct_status* s) {
  if (!s) return "";
  std::string r = std::string(catena_code_name(catena_status_code(s))) + ": " + catena_status_message(s);
  catena_status_free(s);
  return r;
}

struct Handles {
  catena_runtime* rt = nullptr;
  Handles() { REQUIRE(outcome(catena_runtime_open(nullptr, &rt)) == ""); }
  ~Handles() { catena_runtime_close(rt); }
};

// A small trained-shape MLP classifier saved whole, and the C++ API's prediction for x.
std::string save_mlp(const TempDir& dir, const Tensor& x, std::vector<float>* expected) {
  seed(5);
  auto mlp = std::make_shared<models::MLP>(16, 10);
  L::Classifier model(mlp);
  {
    UsingConfig eval(&Config::train, false);
    auto no_graph = no_backprop_mode();
    *expected = model.forward(Variable(x, false)).array().to_vector<float>();
  }
  const std::string path = dir / "mlp.npz";
  save_model(path, model);
  return path;
}

catena_tensor* new_tensor(catena_runtime* rt, const Tensor& x) {
  catena_tensor* t = nullptr;
  std::vector<float> v = x.to_vector<float>();
  REQUIRE(outcome(catena_tensor_new(rt, "cpu", kF32, x.shape().data(), x.ndim(), v.data(), v.size() * 4, &t)) == "");
  return t;
}

std::vector<float> read_all(const catena_tensor* t) {
  std::vector<float> v(size_t(catena_tensor_numel(t)));
  REQUIRE(outcome(catena_tensor_read(t, v.data(), v.size() * 4)) == "");
  return v;
}

}  // namespace

TEST_CASE("C API: versions, statuses and NULL everywhere give a status or a harmless default") {
  CHECK(catena_api_version() == ((uint32_t(CATENA_API_MAJOR) << 16) | CATENA_API_MINOR));
  CHECK(std::string(catena_version()) == catena::version());
  CHECK(catena_status_code(nullptr) == CT_OK);
  CHECK(std::string(catena_status_message(nullptr)).empty());
  CHECK(std::string(catena_code_name(CT_DATA_LOSS)) == "DATA_LOSS");
  catena_status_free(nullptr);
  catena_string_free(nullptr);
  catena_runtime_close(nullptr);
  catena_report_free(nullptr);
  catena_tensor_free(nullptr);
  catena_model_free(nullptr);
  CHECK(catena_tensor_ndim(nullptr) == -1);
  CHECK(catena_tensor_numel(nullptr) == -1);
  CHECK(std::string(catena_tensor_device(nullptr)).empty());
  CHECK(std::string(catena_model_device(nullptr)).empty());

  CHECK(outcome(catena_runtime_open(nullptr, nullptr)) == "INVALID_ARGUMENT: catena_runtime_open: out is NULL");
  catena_runtime* rt = reinterpret_cast<catena_runtime*>(1);
  catena_runtime_options bad{};
  CHECK(outcome(catena_runtime_open(&bad, &rt)) ==
        "INVALID_ARGUMENT: catena_runtime_open: options->struct_size is 0: set it to sizeof(catena_runtime_options)");
  CHECK(rt == nullptr);  // out-parameters are cleared on error
  size_t n = 7;
  CHECK(contains(outcome(catena_device_count(nullptr, &n)), "runtime is NULL"));
  CHECK(n == 0);
  catena_device_info info{};
  info.struct_size = sizeof info;
  CHECK(contains(outcome(catena_device_find(nullptr, "cpu", &info)), "catena_device_find: runtime is NULL"));
  catena_model* m = nullptr;
  CHECK(contains(outcome(catena_model_load(nullptr, "x.npz", nullptr, &m)), "runtime is NULL"));
  catena_tensor* y = nullptr;
  CHECK(contains(outcome(catena_model_forward(nullptr, nullptr, &y)), "model is NULL"));
  CHECK(contains(outcome(catena_tensor_read(nullptr, nullptr, 0)), "tensor is NULL"));
  ct_dtype dt{};
  CHECK(contains(outcome(catena_tensor_dtype(nullptr, &dt)), "tensor is NULL"));
}

TEST_CASE("C API: the runtime, its load report and the devices") {
  Handles h;
  catena_report* report = nullptr;
  REQUIRE(outcome(catena_runtime_report(h.rt, 1, &report)) == "");
  REQUIRE(catena_report_count(report) >= 1);
  bool cpu_loaded = false;
  for (size_t i = 0; i < catena_report_count(report); ++i) {
    catena_plugin_record r{};
    r.struct_size = sizeof r;
    REQUIRE(outcome(catena_report_entry(report, i, &r)) == "");
    if (std::string(r.name) == "cpu" && r.loaded) {
      cpu_loaded = true;
      CHECK(std::string(r.result) == "loaded");
      CHECK(std::string(r.kind) == "backend");
      CHECK(r.initialised == 1);
      CHECK(contains(r.path, "libcatena-cpu.so"));
    }
  }
  CHECK(cpu_loaded);
  catena_plugin_record unset{};
  CHECK(outcome(catena_report_entry(report, 0, &unset)) ==
        "INVALID_ARGUMENT: catena_report_entry: out->struct_size is 0: set it to sizeof(catena_plugin_record) before "
        "the call");
  catena_plugin_record past{};
  past.struct_size = sizeof past;
  CHECK(contains(outcome(catena_report_entry(report, 1000, &past)), "OUT_OF_RANGE: catena_report_entry: index 1000"));
  char* text = nullptr;
  REQUIRE(outcome(catena_report_text(report, &text)) == "");
  CHECK(contains(text, "[loaded] cpu"));
  CHECK(contains(text, "plugin files, "));
  catena_string_free(text);
  catena_report_free(report);

  size_t count = 0;
  REQUIRE(outcome(catena_device_count(h.rt, &count)) == "");
  CHECK(count == runtime().devices().size());
  catena_device_info info{};
  info.struct_size = sizeof info;
  REQUIRE(outcome(catena_device_get(h.rt, 0, &info)) == "");
  CHECK(std::string(info.name) == runtime().devices()[0]->name());
  CHECK(contains(outcome(catena_device_get(h.rt, count, &info)), "OUT_OF_RANGE"));
  REQUIRE(outcome(catena_device_find(h.rt, "cpu", &info)) == "");
  CHECK(std::string(info.name) == "cpu");
  CHECK(std::string(info.kind) == "cpu");
  CHECK(std::string(info.backend) == "cpu");
  CHECK(info.host_addressable == 1);
  CHECK(info.compute_units >= 1);
  const std::string missing = outcome(catena_device_find(h.rt, "tpu:3", &info));
  CHECK(contains(missing, "NOT_FOUND: catena_device_find: no device named 'tpu:3'. Devices here: cpu"));

  // A caller compiled with an older, shorter struct gets only the fields it has.
  struct Old {
    size_t struct_size;
    const char* name;
    const char* canary;
  } old{};
  old.struct_size = CT_STRUCT_SIZE(catena_device_info, name);
  old.canary = "untouched";
  REQUIRE(outcome(catena_device_find(h.rt, nullptr, reinterpret_cast<catena_device_info*>(&old))) == "");
  CHECK(std::string(old.name) == default_device().name());
  CHECK(std::string(old.canary) == "untouched");

  // Plugin paths can be given only before the process's runtime started.
  const char* paths[] = {"/nowhere"};
  catena_runtime_options late{};
  late.struct_size = sizeof late;
  late.plugin_paths = paths;
  late.plugin_path_count = 1;
  catena_runtime* rt2 = nullptr;
  CHECK(contains(outcome(catena_runtime_open(&late, &rt2)), "FAILED_PRECONDITION: catena_runtime_open: set_plugin_paths"));
  late.plugin_paths = nullptr;
  CHECK(contains(outcome(catena_runtime_open(&late, &rt2)), "plugin_paths is NULL but plugin_path_count is 1"));
}

TEST_CASE("C API: tensors refuse what does not add up, and read back what they were given") {
  Handles h;
  catena_tensor* t = nullptr;
  const int64_t shape[2] = {2, 3};
  const float v[6] = {1, 2, 3, 4, 5, 6};
  CHECK(contains(outcome(catena_tensor_new(h.rt, "cpu", kF32, shape, 9, v, 24, &t)), "ndim is 9: a tensor has 0 to 8"));
  CHECK(contains(outcome(catena_tensor_new(h.rt, "cpu", kF32, nullptr, 2, v, 24, &t)), "shape is NULL"));
  const int64_t negative[2] = {2, -3};
  CHECK(contains(outcome(catena_tensor_new(h.rt, "cpu", kF32, negative, 2, v, 24, &t)), "shape[1] is -3"));
  CHECK(contains(outcome(catena_tensor_new(h.rt, "cpu", kF32, shape, 2, v, 20, &t)),
                 "bytes is 20, but shape (2, 3) of float32 holds 24"));
  CHECK(contains(outcome(catena_tensor_new(h.rt, "cpu", kF32, shape, 2, nullptr, 24, &t)), "data is NULL"));
  const ct_dtype odd{CT_DTYPE_FLOAT, 24, 1};
  CHECK(contains(outcome(catena_tensor_new(h.rt, "cpu", odd, shape, 2, v, 18, &t)), "is not one Catena has"));
  const int64_t huge[3] = {int64_t(1) << 40, int64_t(1) << 40, 16};
  CHECK(contains(outcome(catena_tensor_new(h.rt, "cpu", kF32, huge, 3, v, 24, &t)), "overflows"));
  CHECK(contains(outcome(catena_tensor_new(h.rt, "npu:0", kF32, shape, 2, v, 24, &t)), "NOT_FOUND"));
  CHECK(t == nullptr);

  REQUIRE(outcome(catena_tensor_new(h.rt, nullptr, kF32, shape, 2, v, 24, &t)) == "");
  CHECK(catena_tensor_ndim(t) == 2);
  CHECK(catena_tensor_numel(t) == 6);
  int64_t got_shape[2] = {0, 0};
  REQUIRE(outcome(catena_tensor_shape(t, got_shape, 2)) == "");
  CHECK(got_shape[0] == 2);
  CHECK(got_shape[1] == 3);
  ct_dtype dt{};
  REQUIRE(outcome(catena_tensor_dtype(t, &dt)) == "");
  CHECK(Dtype(dt) == float32);
  CHECK(std::string(catena_tensor_device(t)) == default_device().name());
  float back[6] = {};
  CHECK(contains(outcome(catena_tensor_read(t, back, 12)), "bytes is 12, but the tensor ((2, 3) float32) holds 24"));
  REQUIRE(outcome(catena_tensor_read(t, back, sizeof back)) == "");
  CHECK(std::memcmp(back, v, sizeof v) == 0);
  catena_tensor_free(t);

  catena_tensor* empty = nullptr;
  const int64_t zero[1] = {0};
  REQUIRE(outcome(catena_tensor_new(h.rt, "cpu", kF32, zero, 1, nullptr, 0, &empty)) == "");
  CHECK(catena_tensor_numel(empty) == 0);
  CHECK(outcome(catena_tensor_read(empty, nullptr, 0)) == "");
  catena_tensor_free(empty);
}

TEST_CASE("C API: a whole model (npz, HDF5) loads, predicts as the C++ API does, and refuses wrong files and inputs") {
  TempDir dir;
  Handles h;
  const Tensor x = catena_test::input(Shape{4, 1, 28, 28}, float32, 9);
  std::vector<float> expected;
  const std::string path = save_mlp(dir, x, &expected);

  catena_model* m = nullptr;
  REQUIRE(outcome(catena_model_load(h.rt, path.c_str(), "cpu", &m)) == "");
  CHECK(std::string(catena_model_device(m)) == "cpu");
  char* text = nullptr;
  REQUIRE(outcome(catena_model_describe(m, &text)) == "");
  CHECK(contains(text, "classifier"));
  CHECK(contains(text, "mlp"));
  catena_string_free(text);

  catena_tensor* in = new_tensor(h.rt, x);
  catena_tensor* out = nullptr;
  REQUIRE(outcome(catena_model_forward(m, in, &out)) == "");
  int64_t shape[2] = {};
  REQUIRE(outcome(catena_tensor_shape(out, shape, 2)) == "");
  CHECK(shape[0] == 4);
  CHECK(shape[1] == 10);
  CHECK(read_all(out) == expected);
  catena_tensor_free(out);

  // The same model written as HDF5 loads and answers the same.
  const std::string h5 = dir / "mlp.h5";
  save_model(h5, *load_model(path));
  catena_model* m5 = nullptr;
  REQUIRE(outcome(catena_model_load(h.rt, h5.c_str(), nullptr, &m5)) == "");
  REQUIRE(outcome(catena_model_forward(m5, in, &out)) == "");
  CHECK(read_all(out) == expected);
  catena_tensor_free(out);
  catena_model_free(m5);
  catena_tensor_free(in);

  // Wrong inputs: the shape the first layer cannot take, integers, NULL.
  const Tensor wrong = catena_test::input(Shape{4, 5}, float32, 2);
  catena_tensor* w = new_tensor(h.rt, wrong);
  const std::string shape_error = outcome(catena_model_forward(m, w, &out));
  CHECK(contains(shape_error, "INVALID_ARGUMENT: catena_model_forward: input (4, 5) float32: "));
  CHECK(out == nullptr);
  catena_tensor_free(w);
  catena_tensor* ints = nullptr;
  const int64_t ishape[2] = {2, 784};
  std::vector<int32_t> iv(2 * 784, 1);
  const ct_dtype i32{CT_DTYPE_INT, 32, 1};
  REQUIRE(outcome(catena_tensor_new(h.rt, "cpu", i32, ishape, 2, iv.data(), iv.size() * 4, &ints)) == "");
  CHECK(contains(outcome(catena_model_forward(m, ints, &out)),
                 "INVALID_ARGUMENT: catena_model_forward: the input is (2, 784) int32: the model takes floating-point"));
  catena_tensor_free(ints);
  CHECK(contains(outcome(catena_model_forward(m, nullptr, &out)), "input is NULL"));
  catena_model_free(m);

  // Files that are not whole models, devices that do not exist.
  catena_test::write_file(dir / "notes.txt", "not a model");
  CHECK(contains(outcome(catena_model_load(h.rt, (dir / "notes.txt").c_str(), nullptr, &m)),
                 "catena_model_load: " + dir / "notes.txt" + ": not a file of a known format"));
  CHECK(contains(outcome(catena_model_load(h.rt, (dir / "absent.npz").c_str(), nullptr, &m)), dir / "absent.npz"));
  CHECK(contains(outcome(catena_model_load(h.rt, dir.path.c_str(), nullptr, &m)), "is a directory, not a file"));
  save_npz(dir / "params.npz", {{"W", Tensor::zeros(Shape{2, 2}, float32, runtime().cpu())}});
  CHECK(contains(outcome(catena_model_load(h.rt, (dir / "params.npz").c_str(), nullptr, &m)), "catena_model_load: "));
  CHECK(contains(outcome(catena_model_load(h.rt, path.c_str(), "gpu:7", &m)),
                 "NOT_FOUND: catena_model_load: no device named 'gpu:7'"));
  CHECK(contains(outcome(catena_model_load(h.rt, "", nullptr, &m)), "path is empty"));
  CHECK(contains(outcome(catena_model_load(h.rt, nullptr, nullptr, &m)), "path is NULL"));
  CHECK(m == nullptr);
  std::string damaged = catena_test::read_file(path);
  damaged[damaged.size() / 2] ^= 0x10;
  catena_test::write_file(dir / "damaged.npz", damaged);
  CHECK(contains(outcome(catena_model_load(h.rt, (dir / "damaged.npz").c_str(), nullptr, &m)), "DATA_LOSS"));
}

TEST_CASE("C API: eight threads run one loaded model at once, each getting one thread's answer") {
  TempDir dir;
  Handles h;
  const Tensor x = catena_test::input(Shape{8, 1, 28, 28}, float32, 4);
  std::vector<float> expected;
  const std::string path = save_mlp(dir, x, &expected);
  catena_model* m = nullptr;
  REQUIRE(outcome(catena_model_load(h.rt, path.c_str(), nullptr, &m)) == "");
  catena_tensor* in = new_tensor(h.rt, x);
  std::vector<int> wrong(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        catena_tensor* out = nullptr;
        ct_status* s = catena_model_forward(m, in, &out);  // one input shared by all: reads only
        std::vector<float> got(expected.size());
        if (s || catena_tensor_read(out, got.data(), got.size() * 4) || got != expected) ++wrong[t];
        catena_status_free(s);
        catena_tensor_free(out);
      }
    });
  for (auto& t : threads) t.join();
  CHECK(wrong == std::vector<int>(8, 0));
  catena_tensor_free(in);
  catena_model_free(m);

  // The C program CI also runs under ThreadSanitizer, on the same kind of model.
  auto r = catena_test::run_command(std::string(CATENA_TEST_CAPI_THREADS) + " " + path + " 8 6");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "8 threads x 6 batches on the default device: every answer matched one thread's"));
}
