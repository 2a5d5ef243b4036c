// FunctionNode plugins: the host services a ct_function calls (ct_host.call and the
// value functions), and the FunctionNode that runs a plugin's forward and backward.
#include <catena/function_node.hpp>
#include <catena/function_registry.hpp>

#include "../internal.hpp"

struct ct_value {
  catena::Variable var;
};
struct ct_call_ctx {
  const char* function;  // for messages
};

namespace catena {

namespace {

ct_status* to_status(const std::exception& e) {
  if (auto* ce = dynamic_cast<const Error*>(&e)) return make_status(ce->code(), ce->what());
  return make_status(CT_INTERNAL, e.what());
}

// Run a plugin callback; turn a status it returns into an exception naming the function.
void check_plugin(ct_status* s, const std::string& fn, const char* phase) {
  if (!s) return;
  ct_code code = static_cast<ct_code>(s->code);
  std::string msg = fn + " (" + phase + "): " + s->message;
  delete s;
  throw Error(code, msg);
}

class PluginFunction : public FunctionNode {
 public:
  PluginFunction(const ct_function* fn, const Attrs& attrs) : fn_(fn), attrs_(attrs) {}
  std::string label() const override { return fn_->name; }
  void check_type_forward(const std::vector<Tensor>& in) override {
    if (static_cast<int32_t>(in.size()) != fn_->num_inputs)
      throw Error(CT_INVALID_ARGUMENT, label() + ": takes " + std::to_string(fn_->num_inputs) + " inputs, got " +
                                           std::to_string(in.size()));
  }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    std::vector<int> all_in, all_out;
    for (int i = 0; i < fn_->num_inputs; ++i) all_in.push_back(i);
    for (int i = 0; i < fn_->num_outputs; ++i) all_out.push_back(i);
    if (fn_->retain & CT_RETAIN_INPUTS) retain_inputs(all_in);
    if (fn_->retain & CT_RETAIN_OUTPUTS) retain_outputs(all_out);
    std::vector<ct_value> vin(in.size());
    std::vector<const ct_value*> pin(in.size());
    for (size_t i = 0; i < in.size(); ++i) vin[i].var = Variable(in[i], false), pin[i] = &vin[i];
    std::vector<ct_value*> outs(static_cast<size_t>(fn_->num_outputs), nullptr);
    ct_call_ctx cx{fn_->name};
    ct_status* s;
    {
      auto guard = no_backprop_mode();  // forward records nothing; apply() records this node
      s = fn_->forward(&cx, pin.data(), attrs_.data(), attrs_.size(), outs.data());
    }
    std::vector<Tensor> result;
    for (ct_value* v : outs) {
      if (v) result.push_back(v->var.array());
      delete v;
    }
    check_plugin(s, label(), "forward");
    if (static_cast<int32_t>(result.size()) != fn_->num_outputs)
      throw Error(CT_INTERNAL, label() + ": forward returned " + std::to_string(result.size()) + " of its " +
                                   std::to_string(fn_->num_outputs) + " outputs");
    return result;
  }
  std::vector<Variable> backward(const std::vector<int>& targets, const std::vector<Variable>& gy) override {
    std::vector<Variable> xs = (fn_->retain & CT_RETAIN_INPUTS) ? get_retained_inputs() : std::vector<Variable>();
    std::vector<Variable> ys = (fn_->retain & CT_RETAIN_OUTPUTS) ? get_retained_outputs() : std::vector<Variable>();
    std::vector<ct_value> vx(xs.size()), vy(ys.size()), vg(gy.size());
    std::vector<const ct_value*> px(static_cast<size_t>(fn_->num_inputs), nullptr);
    std::vector<const ct_value*> py(static_cast<size_t>(fn_->num_outputs), nullptr);
    std::vector<const ct_value*> pg(gy.size(), nullptr);
    for (size_t i = 0; i < xs.size(); ++i) vx[i].var = xs[i], px[i] = &vx[i];
    for (size_t i = 0; i < ys.size(); ++i) vy[i].var = ys[i], py[i] = &vy[i];
    for (size_t i = 0; i < gy.size(); ++i)
      if (gy[i].defined()) vg[i].var = gy[i], pg[i] = &vg[i];
    std::vector<uint8_t> wanted(static_cast<size_t>(fn_->num_inputs), 0);
    for (int t : targets) wanted[t] = 1;
    std::vector<ct_value*> gx(static_cast<size_t>(fn_->num_inputs), nullptr);
    ct_call_ctx cx{fn_->name};
    ct_status* s = fn_->backward(&cx, px.data(), py.data(), pg.data(), wanted.data(), attrs_.data(), attrs_.size(),
                                 gx.data());
    std::vector<Variable> result(gx.size());
    for (size_t i = 0; i < gx.size(); ++i) {
      if (gx[i] && wanted[i]) result[i] = gx[i]->var;
      delete gx[i];
    }
    check_plugin(s, label(), "backward");
    return result;
  }

 private:
  const ct_function* fn_;
  Attrs attrs_;
};

// ---- host services ---------------------------------------------------------------

ct_status* host_call(ct_call_ctx* cx, const char* op, const ct_value* const* inputs, int32_t num_inputs,
                     const ct_attr* attrs, int32_t num_attrs, ct_value** outputs, int32_t num_outputs) {
  for (int32_t i = 0; i < num_outputs; ++i) outputs[i] = nullptr;
  if (!cx) return make_status(CT_FAILED_PRECONDITION, "call: only valid inside a ct_function callback");
  if (!op) return make_status(CT_INVALID_ARGUMENT, std::string(cx->function) + ": call with a NULL op name");
  try {
    std::vector<Variable> in;
    for (int32_t i = 0; i < num_inputs; ++i) {
      if (!inputs[i])
        return make_status(CT_INVALID_ARGUMENT, std::string(cx->function) + ": call('" + op + "'): input " +
                                                    std::to_string(i) + " is NULL");
      in.push_back(inputs[i]->var);
    }
    std::vector<Variable> out = call_function(op, in, attrs, num_attrs);
    if (static_cast<int32_t>(out.size()) != num_outputs)
      return make_status(CT_INVALID_ARGUMENT, std::string("call('") + op + "'): it has " + std::to_string(out.size()) +
                                                  " outputs, " + std::to_string(num_outputs) + " expected");
    for (int32_t i = 0; i < num_outputs; ++i) outputs[i] = new ct_value{out[i]};
    return nullptr;
  } catch (const std::exception& e) {
    return to_status(e);
  }
}

ct_status* host_value_info(const ct_value* v, ct_dtype* dtype, int32_t* ndim, const int64_t** shape) {
  if (!v) return make_status(CT_INVALID_ARGUMENT, "value_info: NULL value");
  const Tensor& t = v->var.array();
  if (dtype) *dtype = t.dtype().raw;
  if (ndim) *ndim = t.ndim();
  if (shape) *shape = t.shape().data();
  return nullptr;
}

ct_status* host_value_from_host(ct_call_ctx* cx, const ct_value* like, ct_dtype dtype, int32_t ndim,
                                const int64_t* shape, const void* data, ct_value** out) {
  *out = nullptr;
  if (!cx || !like) return make_status(CT_FAILED_PRECONDITION, "value_from_host: only inside a callback, with a value");
  try {
    Shape s(shape, ndim);
    Dtype d(dtype);
    Tensor t = Tensor::from_host(data, static_cast<size_t>(s.numel()) * d.size(), s, d, like->var.device());
    *out = new ct_value{Variable(t, false)};
    return nullptr;
  } catch (const std::exception& e) {
    return to_status(e);
  }
}

ct_status* host_value_to_host(ct_call_ctx* cx, const ct_value* v, void* dst, uint64_t size) {
  if (!cx || !v) return make_status(CT_FAILED_PRECONDITION, "value_to_host: only inside a callback, with a value");
  try {
    v->var.array().copy_to_host(dst, size);
    return nullptr;
  } catch (const std::exception& e) {
    return to_status(e);
  }
}

void host_value_release(ct_value* v) { delete v; }

}  // namespace

void fill_function_services(ct_host* host) {
  host->call = host_call;
  host->value_info = host_value_info;
  host->value_from_host = host_value_from_host;
  host->value_to_host = host_value_to_host;
  host->value_release = host_value_release;
}

std::string register_plugin_functions(const std::string& plugin, const ct_function_library* lib) {
  if (lib->struct_size < CT_STRUCT_SIZE(ct_function_library, functions) || lib->num_functions < 0 ||
      (lib->num_functions > 0 && !lib->functions))
    return "its function library table is malformed";
  for (int32_t i = 0; i < lib->num_functions; ++i) {
    const ct_function* fn = lib->functions[i];
    if (!fn || fn->struct_size < CT_STRUCT_SIZE(ct_function, backward) || !fn->name || !fn->forward || !fn->backward)
      return "function " + std::to_string(i) + " lacks a name, forward or backward";
    std::string name = fn->name;
    if (name.rfind("core.", 0) == 0 || name.find('.') == std::string::npos)
      return "function '" + name + "' must be namespaced as vendor.name (core. is reserved)";
    if (fn->num_inputs < 0 || fn->num_outputs < 1)
      return "function '" + name + "' declares " + std::to_string(fn->num_inputs) + " inputs and " +
             std::to_string(fn->num_outputs) + " outputs";
  }
  for (int32_t i = 0; i < lib->num_functions; ++i) {
    const ct_function* fn = lib->functions[i];
    register_function(fn->name, [fn](const std::vector<Variable>& in, const ct_attr* attrs, int n) {
      return std::make_shared<PluginFunction>(fn, Attrs(attrs, n))->apply(in);
    });
  }
  (void)plugin;
  return "";
}

}  // namespace catena
