// libFuzzer harnesses for Catena's file readers: the bytes of a file are read as npz or
// HDF5 (FUZZ_FORMAT), every array is touched, the keys are loaded into a small model
// (non-strictly; compressed parameters included: masks, int8, signs, codebooks), and an
// architecture found in them is parsed and built. Any crash,
// sanitizer report or exception other than catena::Error is a bug. A file that is
// accepted must also survive a round trip: written back in its format and read again, it
// gives the same keys, dtypes, shapes and bytes (a failed round trip aborts, which the
// fuzzer reports).
#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/models.hpp>
#include <catena/serializers.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

catena::KeyStore read(const std::string& bytes) {
#if FUZZ_HDF5
  return catena::read_hdf5_bytes(bytes, "fuzz.h5");
#else
  return catena::read_npz_bytes(bytes, "fuzz.npz");
#endif
}

// Every key with its value as "dtype shape bytes" (or "None").
std::vector<std::string> contents(const catena::KeyStore& keys) {
  std::vector<std::string> out;
  for (const std::string& k : keys.keys()) {
    const catena::Tensor* t = keys.find(k);
    std::string line = k + " = ";
    if (!t) {
      out.push_back(line + "None");
      continue;
    }
    std::string host(size_t(t->numel()) * t->dtype().size(), '\0');
    if (!host.empty()) t->copy_to_host(&host[0], host.size());
    out.push_back(line + t->dtype().name() + " " + t->shape().str() + " " + host);
  }
  return out;
}

void round_trip(const catena::KeyStore& keys, const std::vector<std::string>& before) {
  static const std::string file = [] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp && *tmp ? tmp : "/tmp") + "/catena-fuzz-" + std::to_string(getpid()) +
           (FUZZ_HDF5 ? ".h5" : ".npz");
  }();
  try {
    catena::write_keys(file, keys);
  } catch (const catena::Error&) {
    return;  // what cannot be written (a key both a group and a dataset in HDF5) is refused
  }
  std::vector<std::string> after = contents(catena::read_keys(file));
  std::remove(file.c_str());
  if (after != before) {
    std::fprintf(stderr, "round trip changed the file's contents (%zu keys before, %zu after)\n", before.size(),
                 after.size());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    catena::KeyStore keys = read(bytes);
    const std::vector<std::string> before = contents(keys);
    round_trip(keys, before);
    // A fresh model for each file: what one file made of it (masks, int8, codebooks) must
    // not change how the next is read.
    catena::L::Classifier model(std::make_shared<catena::models::MLP>(4, 2));
    try {
      catena::load(keys, model, "fuzz", "", /*strict=*/false);
    } catch (const catena::Error&) {
    }
    const std::string arch = catena::architecture_of(keys);
    if (!arch.empty() && arch.size() < 4096) catena::build_model(arch, "fuzz");
    return 0;
  } catch (const catena::Error&) {
    return 0;  // a clear error is the right answer to a bad file
  }
}
