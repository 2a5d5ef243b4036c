// A thread-safe table of entries by name, shared by the registries of links and
// optimizers (private to the in-tree plugins).
#pragma once

#include <catena/error.hpp>

#include <cctype>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace catena {
namespace detail {

// "a, b, c"
inline std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

template <class Entry>
class NamedRegistry {
 public:
  // `kind` names the entries in messages ("link", "optimizer"); `aliases` maps names
  // written without '_' or '-' ("momentumsgd", "batchnormalization") to registered ones.
  NamedRegistry(std::string kind, std::map<std::string, std::string> aliases)
      : kind_(std::move(kind)), aliases_(std::move(aliases)) {}

  // Lower case, '-' as '_', then the alias if there is one: Chainer's class names work.
  std::string canonical(const std::string& name) const {
    std::string lower, squashed;
    for (char c : name) {
      char l = char(std::tolower(static_cast<unsigned char>(c)));
      lower += l == '-' ? '_' : l;
      if (l != '_' && l != '-') squashed += l;
    }
    auto it = aliases_.find(squashed);
    return it != aliases_.end() ? it->second : lower;
  }

  void add(const std::string& name, Entry entry) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!entries_.emplace(canonical(name), std::move(entry)).second)
      throw Error(CT_ALREADY_EXISTS, "register_" + kind_ + ": '" + name + "' is already registered");
  }

  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (auto& e : entries_) out.push_back(e.first);
    return out;
  }

  // A copy of the entry (so it can be used without the lock); unknown names throw,
  // listing the known ones.
  Entry find(const std::string& name) const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = entries_.find(canonical(name));
      if (it != entries_.end()) return it->second;
    }
    throw Error(CT_NOT_FOUND, "unknown " + kind_ + " '" + name + "' (known: " + join(names()) + ")");
  }

 private:
  std::string kind_;
  std::map<std::string, std::string> aliases_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace detail
}  // namespace catena
