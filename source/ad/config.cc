#include "source/ad/config.h"

namespace syncd {

const char* ChangeFeedName(ChangeFeed feed) {
  switch (feed) {
    case ChangeFeed::kAuto:
      return "auto";
    case ChangeFeed::kDirSync:
      return "dirsync";
    case ChangeFeed::kUsn:
      return "usn";
  }
  return "auto";
}

}  // namespace syncd
