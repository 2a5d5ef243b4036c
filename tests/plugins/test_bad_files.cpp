// Bad files: truncated, corrupted, a wrong dtype or shape, hostile sizes, a zip bomb, keys
// that do not match the model. Each gives a catena::Error naming the file (and the key
// where there is one), never a crash or another exception, and never a half-loaded model.
// CI runs this suite under AddressSanitizer and UndefinedBehaviorSanitizer too.
#include "../support.hpp"

#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/models.hpp>
#include <catena/random.hpp>
#include <catena/serializers.hpp>

#include <doctest/doctest.h>

using namespace catena;
using catena_test::contains;
using catena_test::TempDir;

namespace {

struct Model {
  std::shared_ptr<models::MLP> mlp = std::make_shared<models::MLP>(5, 3);
  L::Classifier c{mlp};
  Model() { mlp->forward(Variable(catena_test::input(Shape{2, 4}, float32, 9), false)); }
  std::vector<std::vector<float>> values() {
    std::vector<std::vector<float>> v;
    for (auto& [name, p] : c.namedparams()) v.push_back(p->array().to_vector<float>());
    return v;
  }
};

// Loading `file` into a fresh model either works or throws catena::Error; on an error the
// model is unchanged. Returns the error's text ("" when it loaded).
std::string try_load(const std::string& file) {
  seed(1);
  Model m;
  auto before = m.values();
  try {
    load(file, m.c);
    return "";
  } catch (const Error& e) {
    CHECK(m.values() == before);
    return e.what();
  }
}

std::string flip(const std::string& s, size_t at) {
  std::string out = s;
  out[at] = char(out[at] ^ (0x5a + at % 7));
  return out;
}

}  // namespace

TEST_CASE("bad files: truncated and corrupted npz and hdf5 give errors naming the file, never a half-loaded model") {
  TempDir dir;
  seed(2);
  Model good;
  save(dir / "good.npz", good.c);
  save(dir / "good_z.npz", good.c, "npz", /*compress=*/true);
  save(dir / "good.h5", good.c);
  for (const char* name : {"good.npz", "good_z.npz", "good.h5"}) {
    CAPTURE(name);
    const std::string bytes = catena_test::read_file(dir / name);
    const std::string ext = std::string(name).substr(std::string(name).find('.'));
    // Truncated at 24 places.
    for (int k = 0; k < 24; ++k) {
      const size_t cut = bytes.size() * size_t(k) / 24;
      const std::string f = dir / ("cut" + std::to_string(k) + ext);
      catena_test::write_file(f, bytes.substr(0, cut));
      std::string err = try_load(f);
      CAPTURE(cut);
      CHECK(contains(err, f));  // an error, naming the file
    }
    // Bytes flipped at 64 places: either it still loads (a flip in padding), or an error.
    int errors = 0;
    for (int k = 0; k < 64; ++k) {
      const size_t at = (bytes.size() * size_t(k)) / 64 + size_t(k % 5);
      const std::string f = dir / ("flip" + std::to_string(k) + ext);
      catena_test::write_file(f, flip(bytes, std::min(at, bytes.size() - 1)));
      std::string err = try_load(f);
      if (!err.empty()) {
        ++errors;
        CHECK(contains(err, f));
      }
    }
    CHECK(errors > 0);
  }
}

TEST_CASE("bad files: wrong dtype, wrong shape, hostile sizes, a zip bomb, keys that do not match") {
  TempDir dir;
  auto r = catena_test::run_python(dir, R"(
import sys, io, zipfile, struct, zlib, numpy as np, h5py
d = sys.argv[1]
W = np.zeros((5, 4), np.float32)
def npy(a):
    b = io.BytesIO(); np.save(b, a); return b.getvalue()
def npz(path, entries, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, 'w', method) as z:
        for k, v in entries.items(): z.writestr(k + '.npy', v if isinstance(v, bytes) else npy(v))
base = {'predictor/l1/b': np.zeros(5, np.float32), 'predictor/l2/W': np.zeros((5, 5), np.float32),
        'predictor/l2/b': np.zeros(5, np.float32), 'predictor/l3/W': np.zeros((3, 5), np.float32),
        'predictor/l3/b': np.zeros(3, np.float32)}
npz(d + '/int_weights.npz', dict(base, **{'predictor/l1/W': np.zeros((5, 4), np.int32)}))
npz(d + '/wrong_shape.npz', dict(base, **{'predictor/l1/W': np.zeros((4, 5), np.float32)}))
# A header claiming 10^18 elements over 80 bytes of data.
hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000), }"
hdr += b' ' * (64 - (10 + len(hdr) + 1) % 64) + b'\n'
huge = b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr + bytes(80)
npz(d + '/huge_shape.npz', dict(base, **{'predictor/l1/W': huge}))
npz(d + '/bad_header.npz', dict(base, **{'predictor/l1/W': b'\x93NUMPY\x01\x00\x10\x00{garbage!!}    \n' + bytes(80)}))
npz(d + '/bad_dtype.npz', dict(base, **{'predictor/l1/W': np.zeros((5, 4), 'complex64')}))
# A zip bomb: 64 MB of zeros deflated (about 64 KB) whose entry declares 80 bytes.
npz(d + '/bomb.npz', dict(base, **{'predictor/l1/W': npy(W) + bytes(64 << 20)}), zipfile.ZIP_DEFLATED)
b = bytearray(open(d + '/bomb.npz', 'rb').read())
name = b'predictor/l1/W.npy'
for sig in (b'PK\x03\x04', b'PK\x01\x02'):
    at = 0
    while True:
        at = b.find(sig, at)
        if at < 0: break
        off = 22 if sig == b'PK\x03\x04' else 24
        nameat = 30 if sig == b'PK\x03\x04' else 46
        if b[at + nameat: at + nameat + len(name)] == name: b[at + off: at + off + 4] = struct.pack('<I', 208)
        at += 4
open(d + '/bomb.npz', 'wb').write(bytes(b))
# A declared size beyond anything deflate can produce.
b = bytearray(open(d + '/bomb.npz', 'rb').read())
for sig, off, nameat in ((b'PK\x03\x04', 22, 30), (b'PK\x01\x02', 24, 46)):
    at = 0
    while True:
        at = b.find(sig, at)
        if at < 0: break
        if b[at + nameat: at + nameat + len(name)] == name: b[at + off: at + off + 4] = struct.pack('<I', 0xfffffff0)
        at += 4
open(d + '/claims.npz', 'wb').write(bytes(b))
with h5py.File(d + '/huge.h5', 'w') as f:
    f.create_dataset('predictor/l1/W', shape=(1 << 30, 1 << 20), dtype='f4', chunks=(1, 16))
with h5py.File(d + '/strings.h5', 'w') as f:
    f['predictor/l1/W'] = 'not an array'
)");
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (catena_test::FileCase c : std::initializer_list<catena_test::FileCase>{
           {"int_weights.npz", "'predictor/l1/W' is int32, not floating point"},
           {"wrong_shape.npz", "'predictor/l1/W' has shape (4, 5), but the parameter is (5, 4)"},
           {"huge_shape.npz", "predictor/l1/W: implausible shape"},
           {"bad_header.npz", "predictor/l1/W"},
           {"bad_dtype.npz", "dtype '<c8' is not supported"},
           {"bomb.npz", "predictor/l1/W: corrupt compressed data (larger than its declared size: a zip bomb?)"},
           {"claims.npz", "more than deflate can produce"},
           {"huge.h5", "'predictor/l1/W' claims"},
           {"strings.h5", "'predictor/l1/W' has an HDF5 type Catena does not read"},
       }) {
    const std::string file = c.file;
    CAPTURE(file);
    std::string err = try_load(dir / c.file);
    CAPTURE(err);
    CHECK(contains(err, dir / c.file));
    CHECK(contains(err, c.says));
  }
  // Keys that do not match the model: strict names the missing key; non-strict loads the rest.
  seed(4);
  models::MLP other(7, 3);
  other.forward(Variable(catena_test::input(Shape{1, 4}, float32, 1), false));
  save(dir / "other.npz", other);
  std::string err = try_load(dir / "other.npz");
  CHECK(contains(err, "no key 'predictor/l1/W'"));
  Model m;
  auto before = m.values();
  CHECK_THROWS_WITH_AS(load(dir / "other.npz", *m.mlp, "", /*strict=*/false),
                       doctest::Contains("'l1/W' has shape (7, 4), but the parameter is (5, 4)"), Error);
  CHECK(m.values() == before);
  struct Part : Chain {
    L::Linear l1{4, 5};
    Part() { register_link("l1", l1); }
  } part;
  save(dir / "part.npz", part);
  CHECK_THROWS_AS(load(dir / "part.npz", *m.mlp), Error);  // strict: l2, l3 missing
  CHECK(m.values() == before);
  load(dir / "part.npz", *m.mlp, "", /*strict=*/false);
  CHECK(m.mlp->l1.W.array().to_vector<float>() == part.l1.W.array().to_vector<float>());
  CHECK(m.mlp->l2.W.array().to_vector<float>() == before[2]);
}

TEST_CASE("bad files: HDF5 files the fuzzer found (libhdf5 loops or reads out of bounds on them) give errors") {
  // Found by tests/fuzz: one makes libhdf5 loop forever, one made it read outside the
  // file's image, one describes data outside the file, one names two groups alike. Catena reads HDF5 in a separate
  // process with a time budget, and checks every dataset's storage first.
  setenv("CATENA_HDF5_TIMEOUT", "3", 1);
  const std::string dir = std::string(CATENA_TEST_DATA_DIR) + "/bad_hdf5/";
  for (const char* name : {"loops.h5", "data_outside.h5"}) {
    CAPTURE(name);
    std::string err = try_load(dir + name);
    CHECK(contains(err, dir + name));
  }
  CHECK(contains(try_load(dir + "loops.h5"), "CATENA_HDF5_TIMEOUT"));
  // Catena's own check says so; under AddressSanitizer libhdf5's reader process may die
  // first, on the damaged header, which is reported as such.
  std::string outside = try_load(dir + "data_outside.h5");
  CHECK((contains(outside, "its data lies outside the file") || contains(outside, "libhdf5 crashed")));
  // Loads or an error, depending on what the damaged bytes happen to say; never a crash.
  std::string err = try_load(dir + "overflow_read.h5");
  CHECK((err.empty() || contains(err, "overflow_read.h5")));
  // Two links of one name in a group (one of "predictor"'s children renamed): refused, not
  // read as one array replacing the other.
  CHECK(contains(try_load(dir + "duplicate_name.h5"), "two arrays named 'predictor/l3/W.codebook'"));
  unsetenv("CATENA_HDF5_TIMEOUT");
}
