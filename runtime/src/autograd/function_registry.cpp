// The registry of differentiable functions by name, and the adapter that turns a
// FunctionNode plugin's ct_function into a FunctionNode.
#include <catena/function_node.hpp>
#include <catena/function_registry.hpp>
#include <catena/functions.hpp>

#include "../internal.hpp"

#include <algorithm>
#include <cstring>
#include <map>

namespace catena {

namespace {

const ct_attr* find(const ct_attr* attrs, int n, const char* name) {
  for (int i = 0; i < n; ++i)
    if (std::strcmp(attrs[i].name, name) == 0) return &attrs[i];
  return nullptr;
}
bool flag(const ct_attr* attrs, int n, const char* name) {
  const ct_attr* a = find(attrs, n, name);
  return a && a->v.i != 0;
}
std::vector<int> int_list(const ct_attr* attrs, int n, const char* name) {
  const ct_attr* a = find(attrs, n, name);
  std::vector<int> out;
  if (a && a->type == CT_ATTR_INTS)
    for (int i = 0; i < a->count; ++i) out.push_back(static_cast<int>(a->v.ints[i]));
  if (a && a->type == CT_ATTR_INT) out.push_back(static_cast<int>(a->v.i));
  return out;
}

void need_inputs(const std::string& name, const std::vector<Variable>& in, size_t n) {
  if (in.size() != n)
    throw Error(CT_INVALID_ARGUMENT, name + ": takes " + std::to_string(n) + " inputs, got " + std::to_string(in.size()));
}

using Unary = Variable (*)(const Variable&);
using Binary = Variable (*)(const Variable&, const Variable&);

struct Registry {
  std::mutex mutex;
  std::map<std::string, RegisteredFunction> fns;

  Registry() {
    auto unary = [&](const char* name, Unary f) {
      fns[name] = [name, f](const std::vector<Variable>& in, const ct_attr*, int) {
        need_inputs(name, in, 1);
        return std::vector<Variable>{f(in[0])};
      };
    };
    auto binary = [&](const char* name, Binary f) {
      fns[name] = [name, f](const std::vector<Variable>& in, const ct_attr*, int) {
        need_inputs(name, in, 2);
        return std::vector<Variable>{f(in[0], in[1])};
      };
    };
    unary("core.neg", F::neg);
    unary("core.abs", F::absolute);
    unary("core.square", F::square);
    unary("core.sqrt", F::sqrt);
    unary("core.exp", F::exp);
    unary("core.log", F::log);
    unary("core.sin", F::sin);
    unary("core.cos", F::cos);
    unary("core.tanh", F::tanh);
    unary("core.sigmoid", F::sigmoid);
    unary("core.relu", F::relu);
    binary("core.add", F::add);
    binary("core.sub", F::sub);
    binary("core.mul", F::mul);
    binary("core.div", F::div);
    binary("core.maximum", F::maximum);
    binary("core.minimum", F::minimum);
    binary("core.pow", F::pow);
    fns["core.sum"] = [](const std::vector<Variable>& in, const ct_attr* a, int n) {
      need_inputs("core.sum", in, 1);
      return std::vector<Variable>{F::sum(in[0], int_list(a, n, "axes"), flag(a, n, "keepdims"))};
    };
    fns["core.mean"] = [](const std::vector<Variable>& in, const ct_attr* a, int n) {
      need_inputs("core.mean", in, 1);
      return std::vector<Variable>{F::mean(in[0], int_list(a, n, "axes"), flag(a, n, "keepdims"))};
    };
    fns["core.gemm"] = [](const std::vector<Variable>& in, const ct_attr* a, int n) {
      need_inputs("core.gemm", in, 2);
      return std::vector<Variable>{F::matmul(in[0], in[1], flag(a, n, "trans_a"), flag(a, n, "trans_b"))};
    };
    fns["core.broadcast_to"] = [](const std::vector<Variable>& in, const ct_attr* a, int n) {
      need_inputs("core.broadcast_to", in, 1);
      std::vector<int> s = int_list(a, n, "shape");
      return std::vector<Variable>{F::broadcast_to(in[0], Shape(std::vector<int64_t>(s.begin(), s.end())))};
    };
    fns["core.reshape"] = [](const std::vector<Variable>& in, const ct_attr* a, int n) {
      need_inputs("core.reshape", in, 1);
      std::vector<int> s = int_list(a, n, "shape");
      return std::vector<Variable>{F::reshape(in[0], Shape(std::vector<int64_t>(s.begin(), s.end())))};
    };
  }
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: plugins refer to it until exit
  return *r;
}

}  // namespace

void register_function(const std::string& name, RegisteredFunction fn) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.fns[name] = std::move(fn);
}

bool has_function(const std::string& name) {
  Runtime::instance();  // function plugins register when the runtime starts
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.fns.count(name) != 0;
}

std::vector<std::string> registered_functions() {
  Runtime::instance();
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& [name, fn] : r.fns) names.push_back(name);
  return names;
}

std::vector<Variable> call_function(const std::string& name, const std::vector<Variable>& inputs, const ct_attr* attrs,
                                    int num_attrs) {
  Runtime::instance();
  RegisteredFunction fn;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.fns.find(name);
    if (it == r.fns.end()) {
      std::string known;
      for (const auto& [n, f] : r.fns)
        if (n.rfind("core.", 0) != 0) known += (known.empty() ? "" : ", ") + n;
      throw Error(CT_NOT_FOUND, "no function named '" + name + "'" +
                                    (known.empty() ? std::string(" (no function plugin is loaded)")
                                                   : "; plugin functions: " + known) +
                                    ". Core functions are named core.<op>, e.g. core.add");
    }
    fn = it->second;
  }
  return fn(inputs, attrs, num_attrs);
}

}  // namespace catena
