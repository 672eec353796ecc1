#include "syncd/rendered_creates.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/log.h"
#include "syncd/output.h"

namespace syncd {
namespace {

// Written in pieces of about this size: one write for hundreds of creates.
constexpr size_t kFlushAt = 1 << 16;

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

Result<std::unique_ptr<RenderedCreates>> RenderedCreates::Begin(bool render,
                                                                const std::string& directory) {
  int fd = -1;
  if (render) {
    std::string dir = directory;
    if (dir.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    std::string path = dir + "/syncd-plan-XXXXXX";
    fd = mkstemp(path.data());
    if (fd < 0) {
      return Status::Unavailable("cannot make a temporary file in " + dir +
                                 " for the plan's creates: " + ErrnoText());
    }
    unlink(path.c_str());  // gone when closed, whatever ends the run
  }
  return std::unique_ptr<RenderedCreates>(new RenderedCreates(render, fd));
}

RenderedCreates::RenderedCreates(bool render, int fd) : render_(render), fd_(fd) {}

RenderedCreates::~RenderedCreates() {
  if (fd_ >= 0) close(fd_);
}

ObjectRef RenderedCreates::Keep(ObjectRef object) {
  if (!writing_) return object;
  ObjectRef twin = TwinOf(*object);
  ++twins_;
  if (!render_) return twin;
  const std::string text = OperationJsonText({OpType::kCreate, object->kind, object, {}, nullptr});
  spans_.push_back({twin, written_ + buffer_.size(), static_cast<uint32_t>(text.size())});
  buffer_ += text;
  if (buffer_.size() >= kFlushAt) Flush();
  return twin;
}

void RenderedCreates::Flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // What is buffered stays here, readable; what comes next is kept whole.
      Log(LogLevel::kWarning, "cannot write the plan's creates to a temporary file (" +
                                  ErrnoText() + "): the rest of the read is held in memory");
      // written_ stays where a whole flush ended, at the end of a create:
      // none is split between the file and the buffer.
      writing_ = false;
      return;
    }
    done += static_cast<size_t>(n);
  }
  written_ += buffer_.size();
  buffer_.clear();
}

void RenderedCreates::Finish() {
  if (render_ && writing_ && !buffer_.empty()) Flush();
  if (writing_) buffer_ = std::string();
  writing_ = false;
  std::sort(spans_.begin(), spans_.end(),
            [](const Span& a, const Span& b) { return a.twin.get() < b.twin.get(); });
}

Result<std::optional<std::string>> RenderedCreates::Rendered(const SyncObject* object) const {
  auto at = std::lower_bound(spans_.begin(), spans_.end(), object,
                             [](const Span& s, const SyncObject* o) { return s.twin.get() < o; });
  if (at == spans_.end() || at->twin.get() != object) return std::optional<std::string>();
  if (at->offset >= written_) {  // never written: still buffered
    return std::optional<std::string>(buffer_.substr(at->offset - written_, at->size));
  }
  std::string text(at->size, '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n =
        pread(fd_, text.data() + done, text.size() - done, static_cast<off_t>(at->offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status::Unavailable(
          "cannot read the plan's creates back from their temporary file: " +
          (n == 0 ? std::string("it is shorter than written") : ErrnoText()));
    }
    done += static_cast<size_t>(n);
  }
  return std::optional<std::string>(std::move(text));
}

}  // namespace syncd
