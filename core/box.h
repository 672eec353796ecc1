// A value held on the heap when there is one.
#ifndef SYNCD_CORE_BOX_H_
#define SYNCD_CORE_BOX_H_

#include <memory>
#include <utility>

namespace syncd {

// A T on the heap, or none; an empty box reads as T{}. For the part of a
// struct most of its instances leave empty, so that it costs them a pointer
// instead of sizeof(T). Copies copy the value: a Box is a value, not a share.
// Reading never allocates; Mutable() does, the first time.
template <typename T>
class Box {
 public:
  Box() = default;
  Box(T value)  // NOLINT(google-explicit-constructor): a Box stands for its value
      : value_(std::make_unique<T>(std::move(value))) {}
  Box(const Box& other) { CopyFrom(other); }
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& other) {
    if (this != &other) CopyFrom(other);
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  ~Box() = default;

  const T& operator*() const { return value_ ? *value_ : Empty(); }
  const T* operator->() const { return &**this; }
  // The value to change, made (as T{}) if the box was empty.
  T& Mutable() {
    if (!value_) value_ = std::make_unique<T>();
    return *value_;
  }
  // Whether a value was ever made; an empty box and a box holding T{} read alike.
  bool allocated() const { return value_ != nullptr; }

  friend bool operator==(const Box& a, const Box& b) { return *a == *b; }

 private:
  // A statement, not a conditional expression returning a unique_ptr:
  // clang-analyzer took that for a leak.
  void CopyFrom(const Box& other) {
    if (other.value_) {
      value_ = std::make_unique<T>(*other.value_);
    } else {
      value_.reset();
    }
  }
  static const T& Empty() {
    static const T empty{};
    return empty;
  }

  std::unique_ptr<T> value_;
};

}  // namespace syncd

#endif  // SYNCD_CORE_BOX_H_
