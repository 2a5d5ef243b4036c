// libFuzzer harnesses for Catena's file readers: the bytes of a file are read as npz or
// HDF5 (FUZZ_FORMAT), every array is touched, the keys are loaded into a small model
// (non-strictly), and an architecture found in them is parsed and built. Any crash,
// sanitizer report or exception other than catena::Error is a bug.
#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/models.hpp>
#include <catena/serializers.hpp>

#include <cstdint>
#include <string>

namespace {

catena::KeyStore read(const std::string& bytes) {
#if FUZZ_HDF5
  return catena::read_hdf5_bytes(bytes, "fuzz.h5");
#else
  return catena::read_npz_bytes(bytes, "fuzz.npz");
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    catena::KeyStore keys = read(bytes);
    uint64_t sum = 0;
    for (const std::string& k : keys.keys())
      if (const catena::Tensor* t = keys.find(k)) {
        std::string host(size_t(t->numel()) * t->dtype().size(), '\0');
        if (!host.empty()) t->copy_to_host(&host[0], host.size());
        for (char c : host) sum += uint8_t(c);
      }
    static catena::L::Classifier* model = new catena::L::Classifier(std::make_shared<catena::models::MLP>(4, 2));
    try {
      catena::load(keys, *model, "fuzz", "", /*strict=*/false);
    } catch (const catena::Error&) {
    }
    const std::string arch = catena::architecture_of(keys);
    if (!arch.empty() && arch.size() < 4096) catena::build_model(arch, "fuzz");
    return int(sum & 0);
  } catch (const catena::Error&) {
    return 0;  // a clear error is the right answer to a bad file
  }
}
