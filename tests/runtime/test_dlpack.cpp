// DLPack both ways: host memory in and out with no copy, the deleter called exactly once,
// read-only and misaligned tensors copied, bad tensors refused; numpy on the other side.
#include "../support.hpp"

#include <catena/catena.h>
#include <catena/ops.hpp>

#include <atomic>
#include <cstring>
#include <thread>

#include <doctest/doctest.h>

using namespace catena;
using catena_test::contains;

namespace {

// A producer's tensor: values it owns, and a count of deleter calls.
struct Producer {
  std::vector<float> values;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
  std::atomic<int> deleted{0};
  catena_dlpack_versioned versioned{};
  catena_dlpack_managed legacy{};

  Producer(std::vector<float> v, std::vector<int64_t> dims, std::vector<int64_t> steps = {}) : values(std::move(v)) {
    std::copy(dims.begin(), dims.end(), shape);
    std::copy(steps.begin(), steps.end(), strides);
    ct_dltensor dl{};
    dl.data = values.data();
    dl.device_type = CT_DL_CPU;
    dl.ndim = int32_t(dims.size());
    dl.dtype = ct_dtype{CT_DTYPE_FLOAT, 32, 1};
    dl.shape = shape;
    dl.strides = steps.empty() ? nullptr : strides;
    versioned.version = {1, 0};
    versioned.manager_ctx = this;
    versioned.deleter = [](catena_dlpack_versioned* self) { ++static_cast<Producer*>(self->manager_ctx)->deleted; };
    versioned.dl_tensor = dl;
    legacy.dl_tensor = dl;
    legacy.manager_ctx = this;
    legacy.deleter = [](catena_dlpack_managed* self) { ++static_cast<Producer*>(self->manager_ctx)->deleted; };
  }
};

}  // namespace

TEST_CASE("DLPack in: host memory becomes a cpu tensor without a copy; the deleter runs once, when the last view goes") {
  Producer p({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor t = Tensor::from_dlpack(&p.versioned);
  CHECK(t.device().name() == "cpu");
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.host_data() == p.values.data());
  p.values[4] = 50;  // the same memory
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 50, 6});
  Tensor view = t.transpose();
  t = Tensor();
  CHECK(p.deleted == 0);  // a view still uses the memory
  CHECK(view.to_vector<float>() == std::vector<float>{1, 4, 2, 50, 3, 6});
  // The last view freed on another thread: the deleter runs there, once.
  std::thread([v = std::move(view)]() mutable { v = Tensor(); }).join();
  CHECK(p.deleted == 1);

  // The older unversioned struct, with strides (a transposed producer view) and an offset.
  Producer q({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 2}, {1, 3});
  q.legacy.dl_tensor.byte_offset = 2 * sizeof(float);
  {
    Tensor s = Tensor::from_dlpack(&q.legacy);
    CHECK(s.shape() == Shape{3, 2});
    CHECK(s.to_vector<float>() == std::vector<float>{2, 5, 3, 6, 4, 7});
    CHECK(static_cast<float*>(s.host_data()) == q.values.data() + 2);
    Tensor doubled = ops::add(s, s);  // kernels read it as any strided view
    CHECK(doubled.to_vector<float>() == std::vector<float>{4, 10, 6, 12, 8, 14});
  }
  CHECK(q.deleted == 1);

  // Negative strides: the view starts at its producer's last element.
  Producer r({0, 1, 2, 3}, {4}, {-1});
  r.versioned.dl_tensor.byte_offset = 3 * sizeof(float);
  CHECK(Tensor::from_dlpack(&r.versioned).to_vector<float>() == std::vector<float>{3, 2, 1, 0});
  CHECK(r.deleted == 1);
}

TEST_CASE("DLPack in: read-only and misaligned tensors are copied, the deleter called at once; bad tensors refused") {
  Producer ro({1, 2, 3}, {3});
  ro.versioned.flags = CATENA_DLPACK_FLAG_READ_ONLY;
  Tensor t = Tensor::from_dlpack(&ro.versioned);
  CHECK(ro.deleted == 1);  // copied: Catena may write its tensors
  CHECK(t.host_data() != ro.values.data());
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2, 3});

  std::vector<char> bytes(64);
  float three[3] = {7, 8, 9};
  std::memcpy(bytes.data() + 1, three, sizeof three);
  Producer odd({}, {3});
  odd.versioned.dl_tensor.data = bytes.data();
  odd.versioned.dl_tensor.byte_offset = 1;
  CHECK(Tensor::from_dlpack(&odd.versioned).to_vector<float>() == std::vector<float>{7, 8, 9});
  CHECK(odd.deleted == 1);

  Producer empty({}, {0, 4});
  CHECK(Tensor::from_dlpack(&empty.versioned).shape() == Shape{0, 4});
  CHECK(empty.deleted == 1);

  // Refused, and then still the caller's: its deleter not called.
  Producer bad({1, 2}, {2});
  bad.versioned.version.major = 2;
  CHECK(contains(catena_test::error_of([&] { Tensor::from_dlpack(&bad.versioned); }),
                 "DLPack version 2.0; Catena reads major version 1"));
  bad.versioned.version.major = 1;
  bad.versioned.dl_tensor.device_type = CT_DL_CUDA;
  CHECK(contains(catena_test::error_of([&] { Tensor::from_dlpack(&bad.versioned); }), "device type 2 cannot be imported"));
  bad.versioned.dl_tensor.device_type = CT_DL_CPU;
  bad.versioned.dl_tensor.dtype = ct_dtype{CT_DTYPE_FLOAT, 32, 4};
  CHECK(contains(catena_test::error_of([&] { Tensor::from_dlpack(&bad.versioned); }), "4 lanes) is not one Catena has"));
  bad.versioned.dl_tensor.dtype = ct_dtype{CT_DTYPE_FLOAT, 32, 1};
  bad.versioned.dl_tensor.ndim = 9;
  CHECK(contains(catena_test::error_of([&] { Tensor::from_dlpack(&bad.versioned); }), "ndim is 9"));
  bad.versioned.dl_tensor.ndim = 1;
  bad.shape[0] = -2;
  CHECK(contains(catena_test::error_of([&] { Tensor::from_dlpack(&bad.versioned); }), "shape[0] is -2"));
  // Strides whose reach overflows: refused before any address is computed.
  bad.versioned.dl_tensor.ndim = 2;
  bad.shape[0] = bad.shape[1] = int64_t(1) << 20;
  bad.strides[0] = bad.strides[1] = int64_t(1) << 50;
  bad.versioned.dl_tensor.strides = bad.strides;
  CHECK(contains(catena_test::error_of([&] { Tensor::from_dlpack(&bad.versioned); }), "the strides reach past 2^62"));
  CHECK(bad.deleted == 0);
  CHECK(contains(catena_test::error_of([] { Tensor::from_dlpack(static_cast<catena_dlpack_managed*>(nullptr)); }),
                 "NULL"));
}

TEST_CASE("DLPack out: the tensor's own memory, kept alive until the consumer's one call of the deleter") {
  std::vector<float> values(12);
  for (int i = 0; i < 12; ++i) values[size_t(i)] = float(i) / 4;
  Tensor t = Tensor::from_vector(values, Shape{3, 4}, runtime().cpu()).transpose();
  const std::vector<float> want = t.to_vector<float>();
  catena_dlpack_versioned* v = t.to_dlpack_versioned();
  CHECK(v->version.major == 1);
  CHECK(v->flags == 0);
  CHECK(v->dl_tensor.device_type == CT_DL_CPU);
  CHECK(v->dl_tensor.ndim == 2);
  CHECK(v->dl_tensor.shape[0] == 4);
  CHECK(v->dl_tensor.strides[0] == 1);
  CHECK(v->dl_tensor.strides[1] == 4);
  CHECK(static_cast<char*>(v->dl_tensor.data) + v->dl_tensor.byte_offset == t.host_data());
  t = Tensor();  // the consumer still holds the memory
  const float* at = reinterpret_cast<const float*>(static_cast<char*>(v->dl_tensor.data) + v->dl_tensor.byte_offset);
  CHECK(at[1 * 1 + 2 * 4] == want[1 * 3 + 2]);
  // And it comes back in with no copy.
  Tensor back = Tensor::from_dlpack(v);
  CHECK(back.to_vector<float>() == want);
  CHECK(back.host_data() == at);
  back = Tensor();  // the deleter ran: the memory is Catena's to free

  catena_dlpack_managed* m = Tensor::from_vector(std::vector<int32_t>{1, 2}, Shape{2}, runtime().cpu()).to_dlpack();
  CHECK(m->dl_tensor.dtype.code == CT_DTYPE_INT);
  CHECK(static_cast<int32_t*>(m->dl_tensor.data)[1] == 2);
  m->deleter(m);
}

TEST_CASE("DLPack with numpy: a Catena tensor into numpy.from_dlpack and numpy's array into Catena, same address") {
  if (catena_test::under_sanitizer()) {
    MESSAGE("skipped: Python cannot load an AddressSanitizer build of libcatena (the normal build runs this)");
    return;
  }
  catena_test::TempDir dir;
  auto r = catena_test::run_python(dir, std::string("LIB = '") + CATENA_TEST_LIBCATENA + "'\n" + R"(
import ctypes, numpy as np
lib = ctypes.CDLL(LIB)
P = ctypes.c_void_p
class DLTensor(ctypes.Structure):
    _fields_ = [('data', P), ('device_type', ctypes.c_int32), ('device_id', ctypes.c_int32),
                ('ndim', ctypes.c_int32), ('code', ctypes.c_uint8), ('bits', ctypes.c_uint8),
                ('lanes', ctypes.c_uint16), ('shape', ctypes.POINTER(ctypes.c_int64)),
                ('strides', ctypes.POINTER(ctypes.c_int64)), ('byte_offset', ctypes.c_uint64)]
class Managed(ctypes.Structure):
    _fields_ = [('dl_tensor', DLTensor), ('manager_ctx', P), ('deleter', P)]
class Dtype(ctypes.Structure):
    _fields_ = [('code', ctypes.c_uint8), ('bits', ctypes.c_uint8), ('lanes', ctypes.c_uint16)]
for name in ['catena_runtime_open', 'catena_tensor_new', 'catena_tensor_to_dlpack', 'catena_tensor_from_dlpack',
             'catena_tensor_read', 'catena_status_message']:
    getattr(lib, name).restype = P
lib.catena_status_message.restype = ctypes.c_char_p
lib.catena_tensor_new.argtypes = [P, ctypes.c_char_p, Dtype, P, ctypes.c_int32, P, ctypes.c_size_t, P]
lib.catena_tensor_read.argtypes = [P, P, ctypes.c_size_t]
def ok(s):
    assert not s, lib.catena_status_message(ctypes.c_void_p(s)).decode()
rt = P()
ok(lib.catena_runtime_open(None, ctypes.byref(rt)))

# Catena -> numpy: a capsule named "dltensor" around Catena's managed tensor.
vals = np.arange(12, dtype=np.float32).reshape(3, 4)
shape = (ctypes.c_int64 * 2)(3, 4)
t = P()
ok(lib.catena_tensor_new(rt, b'cpu', Dtype(2, 32, 1), shape, 2, vals.ctypes.data, vals.nbytes, ctypes.byref(t)))
m = P()
ok(lib.catena_tensor_to_dlpack(t, ctypes.byref(m)))
lib.catena_tensor_free.argtypes = [P]
lib.catena_tensor_free(t)  # the managed tensor keeps the memory
new_capsule = ctypes.pythonapi.PyCapsule_New
new_capsule.restype = ctypes.py_object
new_capsule.argtypes = [P, ctypes.c_char_p, P]
class Exported:
    def __init__(self, ptr): self.ptr = ptr
    def __dlpack__(self, stream=None): return new_capsule(self.ptr, b'dltensor', None)
    def __dlpack_device__(self): return (1, 0)
managed = Managed.from_address(m.value)
address = managed.dl_tensor.data + managed.dl_tensor.byte_offset
a = np.from_dlpack(Exported(m.value))
assert a.ctypes.data == address, (hex(a.ctypes.data), hex(address))
assert a.shape == (3, 4) and a.dtype == np.float32 and (a == vals).all()
print('catena->numpy same address', a.ctypes.data == address)
del a  # numpy calls Catena's deleter

# numpy -> Catena: numpy's capsule, renamed "used_dltensor" once Catena owns it.
x = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)[:, 1:4]  # a strided view
get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
get_pointer.restype = P
get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
set_name = ctypes.pythonapi.PyCapsule_SetName
set_name.argtypes = [ctypes.py_object, ctypes.c_char_p]
cap = x.__dlpack__()
ptr = get_pointer(cap, b'dltensor')
c = P()
ok(lib.catena_tensor_from_dlpack(rt, ctypes.c_void_p(ptr), ctypes.byref(c)))
set_name(cap, b'used_dltensor')
back = P()
ok(lib.catena_tensor_to_dlpack(c, ctypes.byref(back)))
bm = Managed.from_address(back.value)
assert bm.dl_tensor.data + bm.dl_tensor.byte_offset == x.ctypes.data, 'numpy->catena copied'
assert [bm.dl_tensor.strides[i] for i in range(2)] == [5, 1]
got = np.empty((4, 3), dtype=np.float32)
ok(lib.catena_tensor_read(c, got.ctypes.data, got.nbytes))
assert (got == x).all()
x[0, 0] = 42  # the same memory
ok(lib.catena_tensor_read(c, got.ctypes.data, got.nbytes))
assert got[0, 0] == 42
ctypes.CFUNCTYPE(None, P)(bm.deleter)(back)
lib.catena_tensor_free(c)  # Catena calls numpy's deleter
print('numpy->catena same address True')
)");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "catena->numpy same address True"));
  CHECK(contains(r.output, "numpy->catena same address True"));
}
