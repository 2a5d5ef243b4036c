// The snapshot extension and resume(): the whole trainer to and from one file.
#include <catena/serializer.hpp>
#include <catena/training.hpp>

#include <algorithm>
#include <filesystem>
#include <cctype>
#include <optional>

namespace catena {
namespace training {

namespace {

// "{iteration}" / "{epoch}" (and Chainer's "{.updater.iteration}" / "{.updater.epoch}").
const char* const kPlaceholders[][2] = {{"{.updater.iteration}", "i"}, {"{.updater.epoch}", "e"},
                                        {"{iteration}", "i"},          {"{epoch}", "e"}};

std::string substitute(const std::string& pattern, int64_t iteration, int64_t epoch) {
  std::string out = pattern;
  for (auto& p : kPlaceholders) {
    const std::string key = p[0], value = std::to_string(*p[1] == 'i' ? iteration : epoch);
    for (size_t at; (at = out.find(key)) != std::string::npos;) out.replace(at, key.size(), value);
  }
  return out;
}

}  // namespace

Snapshot::Snapshot(std::string filename, int n_retains, bool autoload)
    : pattern_(std::move(filename)), n_retains_(n_retains), autoload_(autoload) {
  if (pattern_.empty()) throw Error(CT_INVALID_ARGUMENT, "snapshot: give a file name");
  if (pattern_.find('/') != std::string::npos)
    throw Error(CT_INVALID_ARGUMENT, "snapshot: the file name '" + pattern_ + "' is inside the trainer's out folder; "
                                     "give a name, not a path");
  if (n_retains == 0) throw Error(CT_INVALID_ARGUMENT, "snapshot: n_retains must be positive, or -1 to keep every snapshot");
}

std::string Snapshot::file_name(Trainer& t) const {
  return substitute(pattern_, t.updater.iteration, t.updater.epoch());
}

namespace {

// The numbers in `name` where `pattern` has placeholders, if the name fits the pattern
// (each placeholder takes one or more digits).
std::optional<std::vector<int64_t>> fit(const std::string& name, const std::string& pattern) {
  std::vector<int64_t> numbers;
  size_t n = 0, p = 0;
  while (p < pattern.size()) {
    bool placeholder = false;
    for (auto& ph : kPlaceholders) {
      const std::string key = ph[0];
      if (pattern.compare(p, key.size(), key) != 0) continue;
      size_t end = n;
      while (end < name.size() && end - n < 18 && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
      if (end == n) return std::nullopt;
      numbers.push_back(std::stoll(name.substr(n, end - n)));
      n = end;
      p += key.size();
      placeholder = true;
      break;
    }
    if (placeholder) continue;
    if (n >= name.size() || name[n] != pattern[p]) return std::nullopt;
    ++n, ++p;
  }
  if (n != name.size()) return std::nullopt;
  return numbers;
}

}  // namespace

std::vector<std::string> Snapshot::existing(const std::string& dir) const {
  std::vector<std::pair<std::vector<int64_t>, std::string>> found;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (auto numbers = fit(it->path().filename().string(), pattern_)) found.push_back({*numbers, it->path().string()});
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

void Snapshot::initialize(Trainer& t) {
  if (!autoload_) return;
  std::vector<std::string> files = existing(t.out);
  if (!files.empty()) resume(t, files.back());
}

void Snapshot::operator()(Trainer& t) {
  const std::string path = t.out + "/" + file_name(t);
  save(path, t);
  if (n_retains_ < 0) return;
  std::vector<std::string> files = existing(t.out);
  for (size_t i = 0; i + size_t(n_retains_) < files.size(); ++i)
    if (files[i] != path) std::filesystem::remove(files[i]);
}

void resume(Trainer& trainer, const std::string& file) { load(file, trainer); }

}  // namespace training
}  // namespace catena
