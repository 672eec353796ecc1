// A dry run's creates, out of memory. In a full read, an object that
// neither the store nor the cache holds can only be created (OnlyCreatable,
// as for an early apply). A dry run of a first sync would otherwise hold
// every mapped image until it prints the plan; here the scope keeps a twin
// (TwinOf) of each such object, and, when the plan is printed as JSON, the
// create is rendered as it arrives (the very text PrintPlanJson prints for
// it) into an unlinked temporary file. The text plan names a create by its
// identity alone, so without JSON nothing is rendered.
#ifndef SYNCD_SYNCD_DRY_RUN_CREATES_H_
#define SYNCD_SYNCD_DRY_RUN_CREATES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apply/early_apply.h"
#include "core/model.h"
#include "core/status.h"

namespace syncd {

class DryRunCreates {
 public:
  // `render`: the plan is printed as JSON. `directory`: where the file is
  // made (and unlinked at once); "" is $TMPDIR, else /tmp. An error when
  // the file cannot be made.
  static Result<std::unique_ptr<DryRunCreates>> Begin(OnlyCreatable only_creatable, bool render,
                                                      const std::string& directory = "");
  DryRunCreates(const DryRunCreates&) = delete;
  DryRunCreates& operator=(const DryRunCreates&) = delete;
  ~DryRunCreates();

  // From the read's thread, as the scope knows each object in scope: a
  // twin when only a create can follow (its create rendered first, when
  // rendering), else the object itself. Once writing the file failed (a
  // warning is logged), what was rendered stays in memory and every object
  // after it is kept whole.
  ObjectRef Offer(ObjectRef object);
  // After the last Offer: writes what is buffered.
  void Finish();

  // After Finish: the JSON of the create of `object`, when Offer rendered
  // it (`object` is its twin); nullopt otherwise (print the object itself).
  Result<std::optional<std::string>> Rendered(const SyncObject* object) const;
  // After Finish: the objects Offer kept a twin of.
  size_t twins() const { return twins_; }

 private:
  DryRunCreates(OnlyCreatable only_creatable, bool render, int fd);
  void Flush();

  struct Span {
    ObjectRef twin;  // held, so that no other object can take its address
    uint64_t offset = 0;
    uint32_t size = 0;
  };
  const OnlyCreatable only_creatable_;
  const bool render_;
  const int fd_;
  bool writing_ = true;      // until Finish, or a failed write
  std::string buffer_;       // rendered and not written: offsets from written_ on
  uint64_t written_ = 0;     // bytes in the file
  std::vector<Span> spans_;  // by twin address after Finish
  size_t twins_ = 0;
};

}  // namespace syncd

#endif  // SYNCD_SYNCD_DRY_RUN_CREATES_H_
