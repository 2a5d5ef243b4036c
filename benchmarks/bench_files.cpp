// Catena's side of benchmarks/files: making a large whole model, and timing how it is
// loaded and written. One measurement per process, so that each peak memory is its own.
//
//   catena-bench-files make DIR UNITS      the MLP (784-UNITS-UNITS-10) as DIR/model.npz
//                                          (stored), model_z.npz (deflated), model.h5
//   catena-bench-files load FILE           load_model(FILE): seconds and peak memory
//   catena-bench-files write IN OUT        load IN, then save_model(OUT) (npz): seconds
//
// Each measurement prints one line of JSON.
#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/models.hpp>
#include <catena/random.hpp>
#include <catena/runtime.hpp>
#include <catena/serializers.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

using namespace catena;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

long peak_kb(int who) {
  rusage u{};
  getrusage(who, &u);
  return u.ru_maxrss;
}

uint64_t array_bytes(Link& model) {
  uint64_t n = 0;
  for (auto& [name, p] : model.namedparams())
    if (p->is_initialized()) n += uint64_t(p->array().numel()) * p->array().dtype().size();
  return n;
}

int usage() {
  std::fprintf(stderr,
               "usage: catena-bench-files make DIR UNITS | load FILE | write IN OUT\n"
               "  (benchmarks/files runs it beside numpy and h5py)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) return usage();
    const std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h") {
      usage();
      return 0;
    }
    Device& cpu = runtime().cpu();
    if (cmd == "make" && argc == 4) {
      const std::string dir = argv[2];
      const double units = std::atof(argv[3]);
      seed(0);
      L::Classifier model(std::shared_ptr<Link>(models::create("mlp", {{"n_units", units}, {"n_out", 10}})));
      model.to_device(cpu);
      model.forward(Variable(Tensor::zeros(Shape{1, 784}, float32, cpu), false));  // makes the lazy layer
      double t0 = now();
      save_model(dir + "/model.npz", model);
      double t1 = now();
      save_model(dir + "/model_z.npz", model, "npz", /*compress=*/true);
      double t2 = now();
      save_model(dir + "/model.h5", model, "hdf5", /*compress=*/false);
      double t3 = now();
      std::printf("{\"array_bytes\": %llu, \"npz_s\": %.3f, \"npz_deflated_s\": %.3f, \"hdf5_s\": %.3f}\n",
                  static_cast<unsigned long long>(array_bytes(model)), t1 - t0, t2 - t1, t3 - t2);
      return 0;
    }
    if (cmd == "load" && argc == 3) {
      runtime().cpu();  // the backend loaded before the clock starts, as numpy is imported
      const double t0 = now();
      std::unique_ptr<Link> model = load_model(argv[2], cpu);
      const double t1 = now();
      std::printf("{\"seconds\": %.4f, \"peak_rss_kb\": %ld, \"reader_peak_rss_kb\": %ld, \"array_bytes\": %llu}\n",
                  t1 - t0, peak_kb(RUSAGE_SELF), peak_kb(RUSAGE_CHILDREN),
                  static_cast<unsigned long long>(array_bytes(*model)));
      return 0;
    }
    if (cmd == "write" && argc == 4) {
      std::unique_ptr<Link> model = load_model(argv[2], cpu);
      const double t0 = now();
      save_model(argv[3], *model);
      const double t1 = now();
      std::printf("{\"seconds\": %.4f}\n", t1 - t0);
      return 0;
    }
    return usage();
  } catch (const Error& e) {
    std::fprintf(stderr, "catena-bench-files: %s\n", e.what());
    return 1;
  }
}
