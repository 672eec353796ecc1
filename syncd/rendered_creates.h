// Creates kept out of memory during a full read. In a full read, an object
// that neither the store nor the cache holds can only be created
// (OnlyCreatable). Its image is then needed once more only to print the
// plan: a dry run of a first sync, or a run printing JSON, would otherwise
// hold every mapped image until the end. The scope keeps a twin (TwinOf)
// instead, and, when the plan is printed as JSON, the create is rendered as
// it arrives (the very text PrintPlanJson prints for it) into an unlinked
// temporary file. The text plan names a create by its identity alone, so
// without JSON nothing is rendered. An early apply's twins come from here
// too (EarlyApply's `keep`), so that a run printing JSON does not keep its
// images either.
#ifndef SYNCD_SYNCD_RENDERED_CREATES_H_
#define SYNCD_SYNCD_RENDERED_CREATES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"

namespace syncd {

class RenderedCreates {
 public:
  // `render`: the plan is printed as JSON. `directory`: where the file is
  // made (and unlinked at once); "" is $TMPDIR, else /tmp. An error when
  // the file cannot be made.
  static Result<std::unique_ptr<RenderedCreates>> Begin(bool render,
                                                        const std::string& directory = "");
  RenderedCreates(const RenderedCreates&) = delete;
  RenderedCreates& operator=(const RenderedCreates&) = delete;
  ~RenderedCreates();

  // From one thread, the read's, for an object only a create can follow
  // (the caller's OnlyCreatable): its twin, its create rendered first when
  // rendering. Once writing the file failed (a warning is logged), what was
  // rendered stays in memory and every object after it is kept whole (the
  // object itself is returned).
  ObjectRef Keep(ObjectRef object);
  // After the last Keep: writes what is buffered.
  void Finish();

  // After Finish: the JSON of the create of `object`, when Keep rendered
  // it (`object` is its twin); nullopt otherwise (print the object itself).
  // An error when the file cannot be read back.
  Result<std::optional<std::string>> Rendered(const SyncObject* object) const;
  // The objects Keep kept a twin of.
  size_t twins() const { return twins_; }

 private:
  RenderedCreates(bool render, int fd);
  void Flush();

  struct Span {
    ObjectRef twin;  // held, so that no other object can take its address
    uint64_t offset = 0;
    uint32_t size = 0;
  };
  const bool render_;
  const int fd_;
  bool writing_ = true;      // until Finish, or a failed write
  std::string buffer_;       // rendered and not written: offsets from written_ on
  uint64_t written_ = 0;     // bytes in the file
  std::vector<Span> spans_;  // by twin address after Finish
  size_t twins_ = 0;
};

}  // namespace syncd

#endif  // SYNCD_SYNCD_RENDERED_CREATES_H_
