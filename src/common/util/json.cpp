#include "common/util/json.h"

#include <cmath>
#include <limits>

#include "common/util/files.h"

namespace tandem {

using nlohmann::json;

Result<JsonDocument> JsonDocument::Parse(const std::string& text, const std::string& source) {
  auto data = std::make_shared<Data>();
  data->source = source;
  try {
    data->json = json::parse(text);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(source + ": not valid JSON: " + e.what());
  }
  JsonDocument d;
  d.data_ = std::move(data);
  return d;
}

Result<JsonDocument> JsonDocument::Load(const std::string& path, uint64_t max_bytes) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, max_bytes));
  return Parse(text, path);
}

JsonField JsonDocument::root() const { return JsonField(&data_->json, &data_->source, ""); }

Status JsonField::Error(const std::string& what) const {
  return Status::InvalidArgument(*source_ + ": " + (path_.empty() ? "(top level)" : path_) + ": " + what);
}

std::string JsonField::Child(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

Status JsonField::Missing(const char* key, const char* hint) const {
  return JsonField(value_, source_, Child(key)).Error(std::string("required") + (hint ? std::string(": ") + hint : ""));
}

Status JsonField::CheckObject(std::initializer_list<const char*> known) const {
  if (!value_->is_object()) return Error("must be a JSON object");
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok |= it.key() == k;
    if (ok) continue;
    std::string list;
    for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return JsonField(&*it, source_, Child(it.key())).Error("unknown field (known: " + list + ")");
  }
  return Status::OK();
}

JsonField JsonField::operator[](const char* key) const {
  static const nlohmann::json kNull;
  if (!Has(key)) return JsonField(&kNull, source_, Child(key));
  return JsonField(&(*value_)[key], source_, Child(key));
}

Status JsonField::CheckArray(size_t max_size) const {
  if (!value_->is_array()) return Error("must be a list");
  if (value_->size() > max_size) return Error("more than " + std::to_string(max_size) + " entries");
  return Status::OK();
}

JsonField JsonField::operator[](size_t index) const {
  static const nlohmann::json kNull;
  const std::string path = path_ + "[" + std::to_string(index) + "]";
  if (!value_->is_array() || index >= value_->size()) return JsonField(&kNull, source_, path);
  return JsonField(&(*value_)[index], source_, path);
}

Status ReadJson(const JsonField& f, std::string* out) {
  if (!f.json().is_string()) return f.Error("must be a string");
  *out = f.json().get<std::string>();
  return Status::OK();
}

Status ReadJson(const JsonField& f, bool* out) {
  if (!f.json().is_boolean()) return f.Error("must be true or false");
  *out = f.json().get<bool>();
  return Status::OK();
}

Status ReadJson(const JsonField& f, double* out) {
  if (!f.json().is_number()) return f.Error("must be a number");
  const double v = f.json().get<double>();
  if (!std::isfinite(v)) return f.Error("must be a finite number");
  *out = v;
  return Status::OK();
}

namespace {
// Integers: a JSON integer (not 1.5, not "1") within [lo, hi].
template <typename T>
Status ReadInteger(const JsonField& f, T* out, const char* what) {
  const json& j = f.json();
  constexpr auto lo = std::numeric_limits<T>::min();
  constexpr auto hi = std::numeric_limits<T>::max();
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(hi)) return f.Error(std::string("must be ") + what + " up to " + std::to_string(hi));
    *out = static_cast<T>(v);
    return Status::OK();
  }
  if (j.is_number_integer()) {
    const int64_t v = j.get<int64_t>();
    if (v < static_cast<int64_t>(lo) || (v > 0 && static_cast<uint64_t>(v) > static_cast<uint64_t>(hi)))
      return f.Error(std::string("must be ") + what);
    *out = static_cast<T>(v);
    return Status::OK();
  }
  return f.Error(std::string("must be ") + what);
}
}  // namespace

Status ReadJson(const JsonField& f, int* out) { return ReadInteger(f, out, "an integer"); }
Status ReadJson(const JsonField& f, int64_t* out) { return ReadInteger(f, out, "an integer"); }
Status ReadJson(const JsonField& f, uint32_t* out) { return ReadInteger(f, out, "a non-negative integer"); }
Status ReadJson(const JsonField& f, uint64_t* out) { return ReadInteger(f, out, "a non-negative integer"); }

}  // namespace tandem
