// Differentiable functions by name: the core ops' differentiable forms ("core.add"),
// and the functions FunctionNode plugins define ("acme.swish"). Function plugins call
// these through ct_host.call; applications through catena::call_function.
#pragma once

#include <catena/ct_op.h>
#include <catena/variable.hpp>

#include <functional>
#include <string>
#include <vector>

namespace catena {

using RegisteredFunction =
    std::function<std::vector<Variable>(const std::vector<Variable>& inputs, const ct_attr* attrs, int num_attrs)>;

// Register (or replace) a function. Thread-safe.
void register_function(const std::string& name, RegisteredFunction fn);
// Every registered name, sorted (loads function plugins first).
std::vector<std::string> registered_functions();
bool has_function(const std::string& name);
// Apply a registered function; throws catena::Error naming the known functions if the
// name is unknown.
std::vector<Variable> call_function(const std::string& name, const std::vector<Variable>& inputs,
                                    const ct_attr* attrs = nullptr, int num_attrs = 0);

}  // namespace catena
