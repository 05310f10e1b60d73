// Reading JSON files into plain structs: the one way tandem loads every file
// it reads (cluster config, measured links, worker config, profile, split
// manifest, plan file). Every error is a kInvalidArgument Status whose
// message names the file and the field path:
//
//   cluster.json: workers[1].endpoint: required: the worker's control endpoint
//
// Usage: parse a JsonDocument, then walk JsonFields from its root. A struct
// reads itself in `Status ReadJson(const JsonField&, T*)`, declared beside it
// (found by argument-dependent lookup), so Get/Require/Read work on it and on
// std::vector of it. nlohmann::json exceptions never leave this file.
//
// Thread safety: a document and its fields are read-only after Parse and may
// be read from several threads.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace tandem {

class JsonField;

// A parsed document and the name it came from (a file path, for errors).
class JsonDocument {
 public:
  // Errors: "<source>: not valid JSON: ..." with the byte offset.
  static Result<JsonDocument> Parse(const std::string& text, const std::string& source);
  // Reads `path` (at most max_bytes) and parses it; `path` names it in errors.
  static Result<JsonDocument> Load(const std::string& path, uint64_t max_bytes);
  JsonField root() const;
  const std::string& source() const { return data_->source; }

 private:
  struct Data {
    nlohmann::json json;
    std::string source;
  };
  std::shared_ptr<const Data> data_;  // fields point into it; moving the document keeps them valid
};

// One value inside a document, and where it is. Cheap to copy; valid while
// its document lives.
class JsonField {
 public:
  JsonField(const nlohmann::json* value, const std::string* source, std::string path)
      : value_(value), source_(source), path_(std::move(path)) {}

  // "workers[1].endpoint"; "(top level)" for the root.
  const std::string& path() const { return path_; }
  const std::string& source() const { return *source_; }
  const nlohmann::json& json() const { return *value_; }
  // kInvalidArgument "<source>: <path>: <what>".
  Status Error(const std::string& what) const;

  bool is_object() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }
  bool is_null() const { return value_->is_null(); }

  // Objects. CheckObject: this is an object whose keys are all in `known`
  // (an unknown key is an error listing the known ones).
  Status CheckObject(std::initializer_list<const char*> known) const;
  bool Has(const char* key) const { return value_->is_object() && value_->contains(key); }
  // A member; call Has first (an absent member reads as null).
  JsonField operator[](const char* key) const;

  // Arrays. CheckArray: this is a list of at most max_size entries.
  Status CheckArray(size_t max_size = size_t{1} << 24) const;
  size_t size() const { return value_->is_array() ? value_->size() : 0; }
  JsonField operator[](size_t index) const;

  // This value, converted by ReadJson for T.
  template <typename T>
  Status Read(T* out) const {
    return ReadJson(*this, out);
  }
  // An optional member: *out is left as it is when the key is absent.
  template <typename T>
  Status Get(const char* key, T* out) const {
    if (!Has(key)) return Status::OK();
    return (*this)[key].Read(out);
  }
  // A required member: "<path>.<key>: required" (then `hint`) when absent.
  template <typename T>
  Status Require(const char* key, T* out, const char* hint = nullptr) const {
    if (!Has(key)) return Missing(key, hint);
    return (*this)[key].Read(out);
  }

 private:
  Status Missing(const char* key, const char* hint) const;
  std::string Child(const std::string& key) const;

  const nlohmann::json* value_;
  const std::string* source_;
  std::string path_;
};

// Conversions of scalars; each refuses another type with "must be a ...".
Status ReadJson(const JsonField& f, std::string* out);
Status ReadJson(const JsonField& f, bool* out);
Status ReadJson(const JsonField& f, double* out);  // finite
Status ReadJson(const JsonField& f, int* out);
Status ReadJson(const JsonField& f, int64_t* out);
Status ReadJson(const JsonField& f, uint32_t* out);
Status ReadJson(const JsonField& f, uint64_t* out);

// A list: each entry read as T, errors naming "<path>[i]".
template <typename T>
Status ReadJson(const JsonField& f, std::vector<T>* out) {
  TANDEM_RETURN_IF_ERROR(f.CheckArray());
  std::vector<T> items(f.size());
  for (size_t i = 0; i < items.size(); ++i) TANDEM_RETURN_IF_ERROR(f[i].Read(&items[i]));
  *out = std::move(items);
  return Status::OK();
}

}  // namespace tandem
